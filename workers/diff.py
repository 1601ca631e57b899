"""The difference between a campaign's plan and what the store holds, and applying it.

Posts are matched by their deterministic id. A stored post that is already in flight or final
(sent, failed, unknown, missed) is never touched; only `scheduled` posts change and only
`scheduled` or `queued` posts are cancelled. Applying is one Lua script, all or nothing; if the
store moved between reading and writing, the diff is computed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from campaign.definition import Campaign
from campaign.errors import ConfigurationError, StoreError
from campaign.post import Post
from workers.platforms.base import available_platforms
from workers.store import State, Store

Progress = Callable[[int, int], None]
_CHUNK = 500
_ATTEMPTS = 3
REMOVED = "removed from the campaign file"


@dataclass(frozen=True)
class Change:
    """One line of a plan: what happens to one post, and why."""

    post_id: str
    channel: str
    locale: str
    scheduled_at: datetime
    what: str  # "add", "change", "cancel", "keep"
    detail: str = ""


@dataclass
class PlanDiff:
    campaign: str
    add: list[Change] = field(default_factory=list)
    change: list[Change] = field(default_factory=list)
    cancel: list[Change] = field(default_factory=list)
    # Differences that will not be applied because the post is in flight or done.
    kept: list[Change] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.cancel or self.settings_changed)


@dataclass(frozen=True)
class _Stored:
    state: State
    channel: str
    locale: str
    at: float
    text: str | None


def _meta(campaign: Campaign) -> dict[str, str]:
    return {"title": campaign.title, "late": str(int(campaign.max_lateness.total_seconds()))}


def _channels(campaign: Campaign) -> dict[str, str]:
    return {name: ch.model_dump_json(exclude_none=True) for name, ch in campaign.channels.items()}


def _snapshot(store: Store, campaign: str, progress: Progress | None) -> dict[str, _Stored]:
    ids = store.post_ids(campaign)
    stored: dict[str, _Stored] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        pipe = store.redis.pipeline(transaction=False)
        for post_id in chunk:
            pipe.hmget(store.key("post", post_id), ["st", "ch", "loc", "at"])
        rows = pipe.execute()
        texts = store.texts(chunk)
        for post_id, (st, ch, loc, at) in zip(chunk, rows, strict=True):
            if st is not None:
                stored[post_id] = _Stored(State(st), ch, loc, float(at), texts.get(post_id))
        if progress:
            progress(min(start + _CHUNK, len(ids)), len(ids))
    return stored


def compute(
    store: Store, campaign: Campaign, posts: Sequence[Post], progress: Progress | None = None
) -> PlanDiff:
    """What `apply` would do, without doing it.

    Raises:
        ConfigurationError: a post goes to a platform this version cannot publish to.
        StoreError: the campaign was cancelled, or Redis failed.
    """
    slug = campaign.campaign
    _check_publishable(campaign, posts)
    stored = _snapshot(store, slug, progress)
    info = store.campaign_info(slug)
    diff = PlanDiff(slug)
    if "cancelled" in info:
        raise StoreError(
            f"campaign {slug!r} was cancelled ({info['cancelled'] or 'no message'}); it cannot be "
            "applied again: give the campaign a new name to start over"
        )
    if not info:
        diff.settings_changed = [] if posts else ["new campaign"]
    else:
        for key, value in _meta(campaign).items():
            if info.get(key) != value:
                diff.settings_changed.append(f"{key}: {info.get(key, '-')} -> {value}")
        if store.channels(slug) != dict(campaign.channels):
            diff.settings_changed.append("channels")

    planned = {post.id: post for post in posts}
    for post in posts:
        old = stored.get(post.id)
        row = Change(post.id, post.channel, post.locale, post.scheduled_at, "add")
        if old is None or old.state is State.CANCELLED:
            diff.add.append(row)
            continue
        differences = _differences(old, post)
        if not differences:
            continue
        detail = ", ".join(differences)
        if old.state is State.SCHEDULED:
            diff.change.append(
                Change(post.id, post.channel, post.locale, post.scheduled_at, "change", detail)
            )
        else:
            diff.kept.append(
                Change(
                    post.id,
                    post.channel,
                    post.locale,
                    post.scheduled_at,
                    "keep",
                    f"{old.state}: {detail}",
                )
            )
    for post_id, old in sorted(stored.items(), key=lambda item: (item[1].at, item[0])):
        if post_id in planned:
            continue
        at = datetime.fromtimestamp(old.at, UTC)
        if old.state in (State.SCHEDULED, State.QUEUED):
            diff.cancel.append(Change(post_id, old.channel, old.locale, at, "cancel", REMOVED))
        elif old.state is State.SENDING:
            diff.kept.append(
                Change(post_id, old.channel, old.locale, at, "keep", "sending: removed")
            )
    return diff


def _check_publishable(campaign: Campaign, posts: Sequence[Post]) -> None:
    """Refuse a plan with posts no worker could publish: they would all fail at their time."""
    available = set(available_platforms())
    missing = sorted({f"{p.channel} ({p.platform})" for p in posts if p.platform not in available})
    if missing:
        raise ConfigurationError(
            f"campaign {campaign.campaign!r} has posts for channels this version cannot publish "
            f"to yet: {', '.join(missing)}. Publishing supports {', '.join(sorted(available))}; "
            "preview and validate support every platform"
        )


def _differences(old: _Stored, post: Post) -> list[str]:
    found = []
    if old.text != post.text:
        found.append("text")
    if abs(old.at - post.scheduled_at.timestamp()) >= 0.001:  # stored to the millisecond
        found.append("time")
    if old.channel != post.channel:
        found.append("channel")
    if old.locale != post.locale:
        found.append("locale")
    return found


def apply(
    store: Store, campaign: Campaign, posts: Sequence[Post], progress: Progress | None = None
) -> PlanDiff:
    """Make the store match the plan, all or nothing; applying the same plan again is a no-op.

    Raises:
        StoreError: the store kept changing under us, or the campaign was cancelled.
    """
    by_id = {post.id: post for post in posts}
    for _ in range(_ATTEMPTS):
        diff = compute(store, campaign, posts, progress)
        if diff.empty:
            return diff
        payload = {
            "campaign": campaign.campaign,
            "meta": _meta(campaign),
            "channels": _channels(campaign),
            "add": [_row(by_id[c.post_id]) for c in diff.add],
            "change": [_row(by_id[c.post_id]) for c in diff.change],
            "cancel": [[c.post_id, c.channel] for c in diff.cancel],
            "message": REMOVED,
        }
        result = store.apply(payload, time.time())
        if result[0] == "ok":
            return diff
    raise StoreError(
        f"campaign {campaign.campaign!r} kept changing while applying (post {result[1]} is "
        f"{result[2]}); run apply again"
    )


def _row(post: Post) -> list[object]:
    return [post.id, post.channel, post.locale, post.scheduled_at.timestamp(), post.text]
