"""What a campaign manager asks of the store: counts per state, what is next, what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campaign.post import utc_iso
from workers.store import State, Store, StoredPost

NEXT = 5
TROUBLE = (State.FAILED, State.UNKNOWN, State.MISSED)


@dataclass(frozen=True)
class CampaignStatus:
    campaign: str
    title: str
    paused: bool
    cancelled: str | None
    counts: dict[str, int]
    next_due: list[StoredPost]
    problems: list[StoredPost]
    sent: list[StoredPost]

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "title": self.title,
            "paused": self.paused,
            "cancelled": self.cancelled,
            "counts": self.counts,
            "next_due": [_post(p) for p in self.next_due],
            "problems": [_post(p) for p in self.problems],
            "sent": [_post(p) for p in self.sent],
        }


def lateness(post: StoredPost) -> float:
    """Seconds between a sent post's scheduled time and the platform's acceptance."""
    assert post.sent_at is not None
    return (post.sent_at - post.scheduled_at).total_seconds()


def _post(post: StoredPost) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": post.id,
        "channel": post.channel,
        "locale": post.locale,
        "scheduled_at": utc_iso(post.scheduled_at),
        "state": str(post.state),
        "attempts": post.attempts,
    }
    if post.url or post.remote_id:
        entry.update(url=post.url, remote_id=post.remote_id)
    if post.sent_at:
        entry["sent_at"] = post.sent_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry["late_seconds"] = round(lateness(post), 3)
    if post.error and post.state is not State.SENT:
        entry["error"] = post.error
    return entry


def campaign_status(store: Store, campaign: str) -> CampaignStatus | None:
    """The state of one stored campaign, or None when it is not stored."""
    record = store.campaign(campaign)
    if record is None:
        return None
    counts = store.counts(campaign)
    return CampaignStatus(
        campaign=campaign,
        title=record.title,
        paused=any(scope.whole for scope in record.paused) or store.paused_everywhere(),
        cancelled=record.cancelled,
        counts={str(state): counts[state] for state in State},
        next_due=store.posts(campaign, states=(State.SCHEDULED, State.QUEUED), limit=NEXT),
        problems=store.posts(campaign, states=TROUBLE),
        sent=store.posts(campaign, states=(State.SENT,)),
    )
