"""The difference between a campaign's plan and what the store holds, and applying it.

Posts are matched by their deterministic id. Only posts nobody has touched (`scheduled`) change;
only posts not yet claimed (`scheduled`, `queued`) are cancelled; a post in flight or done is
never touched (workers.transitions says which). A post cancelled earlier comes back when the
file still has it and its time is still ahead. Applying is one store step, all or nothing; if
the store moved between reading and writing, the difference is computed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from campaign.definition import Campaign, Channel
from campaign.errors import ConfigurationError, StoreError, StoreTimeout
from campaign.post import Post
from workers import transitions
from workers.logging import state_change
from workers.platforms.base import Resend, available_platforms, client_class
from workers.ratelimit import route_for
from workers.store import NewPost, PlanChange, State, Store, StoredPost

Progress = Callable[[int, int], None]
_CHUNK = 1000
_ATTEMPTS = 3
REMOVED = "removed from the campaign file"
DEFAULT_OUTBOX = "outbox"  # an outbox channel without `directory`: next to the campaign file


@dataclass(frozen=True)
class Change:
    """One line of a plan: what happens to one post, and why."""

    post_id: str
    channel: str
    locale: str
    scheduled_at: datetime  # UTC
    zone: str  # the audience's time zone, to show people the local time
    what: str  # "add", "change", "cancel", "keep"
    detail: str = ""
    old_text: str | None = None  # set when the text changes
    new_text: str | None = None


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


def compute(
    store: Store,
    campaign: Campaign,
    posts: Sequence[Post],
    *,
    now: float | None = None,
    progress: Progress | None = None,
    base: Path | None = None,
) -> PlanDiff:
    """What `apply` would do, without doing it. `base` is the campaign file's folder, which
    relative paths in channels (an outbox's directory) are relative to.

    Raises:
        ConfigurationError: a post goes to a platform this version cannot publish to.
        StoreError: the store failed.
    """
    now = time.time() if now is None else now
    slug = campaign.campaign
    _check_publishable(campaign, posts)
    channels = delivered_channels(campaign, base)
    record = store.campaign(slug)
    zones = dict(record.zones) if record else {}
    zones.update((name, campaign.audience_timezone(name)) for name in campaign.audiences)
    diff = PlanDiff(
        slug, settings_changed=_settings_changed(store, campaign, channels, bool(posts))
    )
    # The plan's posts that are stored, a chunk at a time (so a million posts are compared
    # without holding a million stored rows), then the stored posts a change could touch that
    # the plan no longer has.
    for start in range(0, len(posts), _CHUNK):
        chunk = posts[start : start + _CHUNK]
        stored = store.lookup([post.id for post in chunk], text=True)
        for post in chunk:
            _compare(diff, post, stored.get(post.id), now)
        if progress:
            progress(min(start + _CHUNK, len(posts)), len(posts))
    planned = {post.id for post in posts}
    active = (State.SCHEDULED, State.QUEUED, State.SENDING)
    for old in store.posts(slug, states=active, besides=planned):
        zone = zones.get(old.audience, "UTC")
        if transitions.can_cancel(old.state):
            diff.cancel.append(
                Change(old.id, old.channel, old.locale, old.scheduled_at, zone, "cancel", REMOVED)
            )
        elif old.state is State.SENDING:
            diff.kept.append(
                Change(
                    old.id, old.channel, old.locale, old.scheduled_at, zone, "keep",
                    "sending: removed",
                )
            )  # fmt: skip
    return diff


def _compare(diff: PlanDiff, post: Post, old: StoredPost | None, now: float) -> None:
    """Add to `diff` what applying `post` over `old` (its stored entry) does."""
    if old is None or old.state is State.CANCELLED:
        if old is not None and post.scheduled_at.timestamp() <= now:
            diff.kept.append(_line(post, "keep", "cancelled: its time has passed"))
        else:
            diff.add.append(_line(post, "add"))
        return
    differences = _differences(old, old.text, post)
    if not differences:
        return
    detail = ", ".join(differences)
    text = (old.text, post.text) if "text" in differences else (None, None)
    if transitions.can_change(old.state):
        diff.change.append(_line(post, "change", detail, *text))
    else:
        diff.kept.append(_line(post, "keep", f"{old.state}: {detail}", *text))


def apply(
    store: Store,
    campaign: Campaign,
    posts: Sequence[Post],
    progress: Progress | None = None,
    *,
    launched: float | None = None,
    base: Path | None = None,
    accept_claim_loss: bool = False,
) -> PlanDiff:
    """Make the store match the plan, all or nothing; applying the same plan again is a no-op.

    `launched` is the launch the plan's `after:` times were computed from (now, when the
    campaign was not stored yet); a stored campaign keeps its first launch.

    Raises:
        StoreError: the store kept changing under us, or failed.
    """
    _check_publishable(campaign, posts)
    _check_durable(store, posts, accept=accept_claim_loss)
    by_id = {post.id: post for post in posts}
    conflict = None
    for _ in range(_ATTEMPTS):
        now = time.time()
        diff = compute(store, campaign, posts, now=now, progress=progress, base=base)
        if diff.empty:
            return diff
        record = store.campaign(campaign.campaign)
        change = PlanChange(
            campaign=campaign.campaign,
            title=campaign.title,
            max_lateness=campaign.max_lateness.total_seconds(),
            launched_at=record.launched_at.timestamp() if record else launched or now,
            zones={name: campaign.audience_timezone(name) for name in campaign.audiences},
            channels={
                name: route_for(channel)
                for name, channel in delivered_channels(campaign, base).items()
            },
            add=[_new(by_id[c.post_id]) for c in diff.add],
            change=[_new(by_id[c.post_id]) for c in diff.change],
            cancel=[c.post_id for c in diff.cancel],
            reason=REMOVED,
        )
        try:
            conflict = store.apply(change, now)
        except StoreTimeout:
            # The store may have applied it: if so, the difference is empty now.
            if compute(store, campaign, posts, now=now, base=base).empty:
                _log(diff)
                return diff
            raise
        if conflict is None:
            _log(diff)
            return diff
    assert conflict is not None
    raise StoreError(
        f"campaign {campaign.campaign!r} kept changing while applying (post "
        f"{conflict.post_id} is {conflict.state}); run apply again"
    )


def _log(diff: PlanDiff) -> None:
    for line in diff.add + diff.change:
        state_change(line.post_id, line.channel, State.SCHEDULED)
    for line in diff.cancel:
        state_change(line.post_id, line.channel, State.CANCELLED, reason=REMOVED)


def delivered_channels(campaign: Campaign, base: Path | None) -> dict[str, Channel]:
    """The campaign's channels as delivery stores them: an outbox's directory made absolute,
    relative to the campaign file's folder, so every worker writes to the same place."""
    channels = dict(campaign.channels)
    for name, channel in channels.items():
        if channel.platform == "outbox":
            directory = Path(channel.directory or DEFAULT_OUTBOX)
            if not directory.is_absolute():
                directory = (base or Path.cwd()) / directory
            channels[name] = channel.model_copy(update={"directory": str(directory.resolve())})
    return channels


def _settings_changed(
    store: Store, campaign: Campaign, channels: dict[str, Channel], has_posts: bool
) -> list[str]:
    record = store.campaign(campaign.campaign)
    if record is None:
        return ["new campaign"] if has_posts else []
    changed = []
    lateness = campaign.max_lateness.total_seconds()
    if record.title != campaign.title:
        changed.append(f"title: {record.title} -> {campaign.title}")
    if record.max_lateness != lateness:
        changed.append(f"max_lateness: {record.max_lateness:g} s -> {lateness:g} s")
    if store.channels(campaign.campaign) != channels:
        changed.append("channels")
    if record.cancelled is not None:
        changed.append(f"cancelled ({record.cancelled}) -> applied again")
    return changed


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


def _check_durable(store: Store, posts: Sequence[Post], *, accept: bool) -> None:
    """Refuse posts that cannot be resent safely on a store that can lose a claim in a crash:
    the claim is what keeps a second attempt from sending them again.

    Raises:
        ConfigurationError: unless the operator accepted the risk.
    """
    unsafe = sorted(
        {
            f"{post.channel} ({post.platform})"
            for post in posts
            if client_class(post.platform).resend is Resend.UNSAFE
        }
    )
    loss = store.claim_loss() if unsafe else None
    if loss and not accept:
        raise ConfigurationError(
            f"{loss}, and {', '.join(unsafe)} cannot resend a post safely, so such a crash could "
            "post twice: set appendfsync always (docs/delivery.md), or "
            "CAMPAIGN_ACCEPT_CLAIM_LOSS=true to accept that"
        )


def _differences(old: StoredPost, text: str | None, post: Post) -> list[str]:
    found = []
    if text != post.text:
        found.append("text")
    if abs(old.scheduled_at.timestamp() - post.scheduled_at.timestamp()) >= 0.001:
        found.append("time")
    if old.channel != post.channel:
        found.append("channel")
    if old.locale != post.locale:
        found.append("locale")
    return found


def _line(
    post: Post,
    what: str,
    detail: str = "",
    old_text: str | None = None,
    new_text: str | None = None,
) -> Change:
    return Change(
        post.id, post.channel, post.locale, post.scheduled_at, post.timezone, what, detail,
        old_text, new_text,
    )  # fmt: skip


def _new(post: Post) -> NewPost:
    return NewPost(
        id=post.id,
        message=post.message,
        audience=post.audience,
        channel=post.channel,
        locale=post.locale,
        scheduled_at=post.scheduled_at.timestamp(),
        text=post.text,
    )
