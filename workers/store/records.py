"""The store's vocabulary: what goes in (plan changes, outcomes) and what comes back (records).

Times are UTC epoch seconds (floats) on the way in, as the callers' clocks give them, and aware
UTC datetimes on the way out, where people read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from campaign.definition import Channel


class State(StrEnum):
    """Where a post is in its life; see workers/transitions.py for every move between them."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    MISSED = "missed"


FINAL_STATES = frozenset({State.SENT, State.FAILED, State.UNKNOWN, State.CANCELLED, State.MISSED})


def instant(epoch: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(epoch, UTC)


def moment(epoch: float | None) -> datetime | None:
    """An aware UTC datetime from epoch seconds, or None."""
    return None if epoch is None else instant(epoch)


# --- what a plan change writes ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRoute:
    """A channel as delivery needs it: its settings, and the rate-limit bucket of its account.

    `bucket` is None for channels without a limit (webhook, outbox); every channel that posts as
    the same account shares one bucket, across campaigns.
    """

    settings: Channel
    bucket: str | None = None
    capacity: int = 0
    per_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class NewPost:
    """One post as `apply` stores it: its identity, where it goes, when, and its exact text."""

    id: str
    message: str
    audience: str
    channel: str
    locale: str
    scheduled_at: float
    text: str


@dataclass(frozen=True, slots=True)
class PlanChange:
    """Everything one `apply` writes for one campaign, all or nothing.

    `add` may hold posts that exist as `cancelled` (they start afresh); `change` only posts that
    are `scheduled`; `cancel` only posts that are `scheduled` or `queued`. Any other state found
    when applying is a `Conflict` and nothing is written.
    """

    campaign: str
    title: str
    max_lateness: float  # seconds; a post later than this when due is missed
    launched_at: float  # the anchor of `after:` schedules; kept from the first apply
    channels: dict[str, ChannelRoute]
    zones: dict[str, str]  # audience -> IANA time zone, to show people local times
    add: list[NewPost] = field(default_factory=list)
    change: list[NewPost] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    reason: str = "removed from the campaign file"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Why an apply wrote nothing: a post was not in the state the plan change expected."""

    post_id: str
    state: str  # a State, or "absent"


# --- what the scheduler and the workers get back ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Moved:
    """A post the scheduler moved (or found lost), and the state it is in now."""

    id: str
    campaign: str
    channel: str
    state: State
    reason: str | None = None


class Verdict(StrEnum):
    """What a claim decided; only CLAIMED and RESEND mean "publish now"."""

    CLAIMED = "claimed"  # queued -> sending under a lease: publish
    RESEND = "resend"  # sending past its lease, resending is safe: publish again
    THROTTLED = "throttled"  # the account's rate-limit bucket is empty: back to scheduled
    PAUSED = "paused"  # the post's campaign (or part of it) is paused: back to scheduled
    UNKNOWN = "unknown"  # resending is not safe: -> unknown, a person checks the platform
    BUSY = "busy"  # another attempt holds a live lease
    SKIP = "skip"  # nothing to do: sent, cancelled, absent, ...


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim's verdict; the post's content is set when the worker must publish."""

    verdict: Verdict
    post_id: str
    attempt: int  # the fencing token: every outcome names the attempt it belongs to
    tries: int = 0  # attempts that count towards max_attempts (rate-limit deferrals do not)
    campaign: str = ""
    channel: str = ""
    locale: str = ""
    scheduled_at: datetime | None = None
    text: str = ""
    maybe_sent: bool = False  # an earlier attempt may have reached the platform
    retry_at: float | None = None  # THROTTLED: when the bucket has a token again
    state: str = ""  # SKIP: the state found
    reason: str | None = None  # UNKNOWN: why
    # The version of the channel's stored settings: a worker keeps its client for the channel
    # while it stays the same (empty: unknown, read the channel).
    channel_version: str = ""

    @property
    def publish(self) -> bool:
        return self.verdict in (Verdict.CLAIMED, Verdict.RESEND)


@dataclass(frozen=True, slots=True)
class ResendRule:
    """Whether a post whose earlier attempt may have reached the platform may be sent again.

    `window` is how long after the first attempt a resend stays safe (None: for ever), already
    shortened by whatever margin the caller needs; `allowed=False` means never.
    """

    allowed: bool
    window: float | None = None


NEVER_RESEND = ResendRule(allowed=False)


# --- outcomes of one attempt -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform accepted the post (or showed it already holds it)."""

    remote_id: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt failed and a person must act; `unknown` instead if any attempt may be out.

    `kind` says what a person must do: "auth" (reconnect the account: the platform refused the
    credentials), "config" (fix a setting or an environment variable), or None (read the error).
    """

    error: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """The attempt may have reached the platform and resending is not safe."""

    error: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The attempt failed; try again at `due`. It counts towards max_attempts."""

    error: str
    due: float
    maybe_sent: bool = False  # this attempt may have reached the platform


@dataclass(frozen=True, slots=True)
class Defer:
    """Not attempted after all (the platform's rate limit); try again at `due`, uncounted."""

    reason: str
    due: float


Outcome = Sent | Failed | Unknown | Retry | Defer


@dataclass(frozen=True, slots=True)
class Finish:
    """What recording an outcome did: the state written, or why nothing was."""

    recorded: bool  # False: the attempt no longer owns the post; nothing was written
    state: State | None = None  # the state the post is in after this call
    repeated: bool = False  # this attempt's outcome was already recorded (a retried call)
    reason: str | None = None  # the error as recorded (it may say more than the outcome's)


# --- what people read back -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Part of a campaign: every criterion that is set must match (none set: the whole)."""

    audience: str | None = None
    channel: str | None = None
    locale: str | None = None

    @property
    def whole(self) -> bool:
        return self.audience is None and self.channel is None and self.locale is None

    def __str__(self) -> str:
        parts = [
            f"{kind} {value}"
            for kind, value in (
                ("audience", self.audience),
                ("channel", self.channel),
                ("locale", self.locale),
            )
            if value is not None
        ]
        return ", ".join(parts) or "every post"


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A stored campaign: its settings and what operators did to it."""

    slug: str
    title: str
    max_lateness: float
    launched_at: datetime  # its first apply: schedules written `after:` count from it
    zones: dict[str, str] = field(default_factory=dict)  # audience -> IANA time zone
    paused: tuple[Scope, ...] = ()  # whole-campaign and part pauses
    cancelled: str | None = None  # the reason of the last `cancel` of the whole campaign
    applying: bool = False  # an apply in steps holds it: nothing is handed out until complete


class StoredPost(NamedTuple):
    """One ledger entry, as read back (a named tuple: a plan reads a million of them)."""

    id: str
    campaign: str
    message: str
    audience: str
    channel: str
    locale: str
    scheduled_at: datetime
    state: State
    attempts: int  # attempts that counted towards max_attempts (rate-limit waits do not)
    updated_at: datetime | None
    sent_at: datetime | None
    remote_id: str | None
    url: str | None
    error: str | None
    due: datetime | None = None  # the next hand-out of a scheduled post (a retry may move it)
    maybe_sent: bool = False
    error_kind: str | None = None  # failed posts: "auth" (reconnect), "config", or None
    text: str | None = None  # the exact text, when asked for (Store.lookup(..., text=True))


@dataclass(frozen=True, slots=True)
class Need:
    """A channel whose posts failed until a person acts: `kind` says how (Failed.kind)."""

    channel: str
    kind: str
    posts: int
    error: str  # the last such failure


@dataclass(frozen=True, slots=True)
class Event:
    """One state change in a post's history."""

    at: datetime
    state: State
    attempt: int
    detail: str | None


@dataclass(frozen=True, slots=True)
class Versioned:
    """A shared credential (a session, a rotating refresh token) and its version."""

    value: str
    version: int

    def __repr__(self) -> str:
        return f"Versioned(value=[redacted], version={self.version})"
