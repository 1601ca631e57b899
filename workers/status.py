"""What a campaign manager asks of the store: counts per state, what is next, what went wrong,
which channels need a person (an account to reconnect, a setting to fix)."""

from __future__ import annotations

from dataclasses import dataclass

from workers.store import CampaignRecord, State, Store, StoredPost

NEXT = 5  # posts due next
RECENT = 10  # posts sent last
PROBLEMS = 50  # failed, unknown and missed posts listed (counts say how many in all)
TROUBLE = (State.FAILED, State.UNKNOWN, State.MISSED)
# What a failure's kind asks of a person, by Failed.kind.
NEEDS = {"auth": "reconnect the account", "config": "fix its settings"}


@dataclass(frozen=True)
class Attention:
    """A channel whose posts fail until a person acts."""

    channel: str
    needs: str  # what to do: NEEDS
    posts: int
    error: str  # the last error, which says how


@dataclass(frozen=True)
class CampaignStatus:
    record: CampaignRecord
    paused_everywhere: bool
    counts: dict[State, int]
    next_due: list[StoredPost]
    problems: list[StoredPost]
    sent: list[StoredPost]  # the last sent, or every post with `every`
    attention: list[Attention]

    @property
    def paused(self) -> bool:
        return self.paused_everywhere or any(scope.whole for scope in self.record.paused)

    def zone(self, post: StoredPost) -> str:
        """The post's audience's time zone (UTC for an audience no longer in the file)."""
        return self.record.zones.get(post.audience, "UTC")


def lateness(post: StoredPost) -> float:
    """Seconds between a sent post's scheduled time and the platform's acceptance."""
    assert post.sent_at is not None
    return (post.sent_at - post.scheduled_at).total_seconds()


def campaign_status(store: Store, campaign: str, *, every: bool = False) -> CampaignStatus | None:
    """The state of one stored campaign, or None when it is not stored.

    Reads a bounded number of posts whatever the campaign's size (counts are kept, the next
    posts, the problems and the last posts sent are indexed), except with `every`, when `sent`
    holds every post of the campaign (for a full listing).
    """
    record = store.campaign(campaign)
    if record is None:
        return None
    sent = store.posts(campaign) if every else store.recent(campaign, RECENT)[::-1]
    return CampaignStatus(
        record=record,
        paused_everywhere=store.paused_everywhere(),
        counts=store.counts(campaign),
        next_due=store.posts(campaign, states=(State.SCHEDULED, State.QUEUED), limit=NEXT),
        problems=store.posts(campaign, states=TROUBLE, limit=PROBLEMS),
        sent=sent,
        attention=[
            Attention(need.channel, NEEDS[need.kind], need.posts, need.error)
            for need in store.needs(campaign)
            if need.kind in NEEDS
        ],
    )
