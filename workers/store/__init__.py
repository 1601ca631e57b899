"""The store of record: the plan, the ledger of every post, and what workers share.

One interface, two backends, chosen by `open_store(settings)`:

    sqlite.py   the embedded store: one file in the data directory; the default, no server
    redis.py    Redis (+ lua/*.lua): for Celery workers on many machines

Callers (the plan diff, the scheduler, the publisher, the CLI) speak only the `Store` protocol
below, in the domain's words. Every step that moves a post is atomic and decided by the pure
functions of `workers.transitions`: SQLite calls them inside one transaction, Redis mirrors them
in one Lua script each. Nothing outside the backend modules knows a key, a column or a script.

Times passed in are UTC epoch seconds from the caller's clock (`now`), never read inside, so
tests control time and every process agrees on one clock discipline.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from campaign.definition import Channel
from workers.store.records import (
    FINAL_STATES,
    NEVER_RESEND,
    CampaignRecord,
    ChannelRoute,
    Claim,
    Conflict,
    Defer,
    Event,
    Failed,
    Finish,
    Moved,
    Need,
    NewPost,
    Outcome,
    PlanChange,
    ResendRule,
    Retry,
    Scope,
    Sent,
    State,
    StoredPost,
    Unknown,
    Verdict,
    Versioned,
)

if TYPE_CHECKING:
    from workers.settings import Settings

__all__ = [
    "FINAL_STATES",
    "NEVER_RESEND",
    "CampaignRecord",
    "ChannelRoute",
    "Claim",
    "Conflict",
    "Defer",
    "Event",
    "Failed",
    "Finish",
    "Moved",
    "Need",
    "NewPost",
    "Outcome",
    "PlanChange",
    "ResendPolicy",
    "ResendRule",
    "Retry",
    "Scope",
    "Sent",
    "StagedApply",
    "State",
    "Store",
    "StoredPost",
    "Unknown",
    "Verdict",
    "Versioned",
    "open_store",
    "run_staged",
]

# How each platform may resend a post whose earlier attempt may have reached it, by platform
# name; a platform missing from the map is never resent.
ResendPolicy = Mapping[str, ResendRule]


class StagedApply(Protocol):
    """One apply of a change larger than a chunk, in steps; `run_staged` runs them all.

        begin()          hold the campaign for this apply: nothing of it is handed out,
                         claimed, cancelled or restored until the apply completes (or the hold
                         expires, when the applier died before its commit)
        stage(n)         check chunk n against the store and keep it aside; a Conflict ends the
                         apply with nothing written
        commit()         from here the change happens whole, whoever rolls it forward
        roll_forward()   write the next chunk; True once every chunk is written and the
                         campaign released

    Every step holds the store for one chunk at most. A scheduler pass rolls forward an apply
    whose applier died after its commit, and drops one that died before.
    """

    @property
    def chunks(self) -> int: ...

    def begin(self) -> None:
        """Hold the campaign.

        Raises:
            StoreError: another process is applying the same campaign.
        """
        ...

    def stage(self, number: int) -> Conflict | None: ...

    def commit(self) -> Conflict | None: ...

    def roll_forward(self) -> bool: ...


def run_staged(steps: StagedApply) -> Conflict | None:
    """Every step of an apply in steps: a Conflict (nothing written), or None (all written).

    Raises:
        StoreError: another process is applying the same campaign, or the store failed.
    """
    steps.begin()
    for number in range(steps.chunks):
        conflict = steps.stage(number)
        if conflict is not None:
            return conflict
    conflict = steps.commit()
    if conflict is not None:
        return conflict
    while not steps.roll_forward():
        pass
    return None


class Store(Protocol):
    """Everything the product keeps: one implementation per backend, one contract."""

    # --- the store itself -----------------------------------------------------------------

    def describe(self) -> str:
        """Which store this is and where, for people: "SQLite /path/campaign.db"."""
        ...

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...

    def claim_loss(self) -> str | None:
        """What a crash of the store's machine can lose of a claim that just returned, or None
        when nothing (the claim is on disk before its post can be sent)."""
        ...

    # --- catalog: what is stored ----------------------------------------------------------

    def campaigns(self) -> list[CampaignRecord]:
        """Every stored campaign, by slug."""
        ...

    def campaign(self, slug: str) -> CampaignRecord | None:
        """One stored campaign, or None."""
        ...

    def channels(self, campaign: str) -> dict[str, Channel]:
        """The channels of a stored campaign, as its last apply wrote them."""
        ...

    def route(self, campaign: str, channel: str) -> ChannelRoute | None:
        """One channel of a stored campaign with its delivery facts, or None."""
        ...

    def posts(
        self,
        campaign: str,
        *,
        states: Collection[State] | None = None,
        scope: Scope | None = None,
        limit: int | None = None,
        besides: Collection[str] = (),
    ) -> list[StoredPost]:
        """Ledger entries of a campaign, by scheduled time (then id), optionally filtered;
        `besides` leaves those posts out (without reading them).

        Posts that are scheduled, queued, sending, failed, unknown or missed are found in time
        proportional to their number; listing sent or cancelled ones (or all) may read every
        stored post.
        """
        ...

    def post(self, post_id: str) -> StoredPost | None:
        """One ledger entry, or None."""
        ...

    def lookup(self, post_ids: Sequence[str], *, text: bool = False) -> dict[str, StoredPost]:
        """The ledger entries of the posts among `post_ids` that exist (each with its exact
        text when `text`): what a plan is compared with, in time proportional to `post_ids`."""
        ...

    def texts(self, post_ids: Sequence[str]) -> dict[str, str]:
        """The exact stored text of each post that exists."""
        ...

    def recent(self, campaign: str, limit: int) -> list[StoredPost]:
        """The posts of a campaign sent last (at most `limit`, at most 100), newest first."""
        ...

    def needs(self, campaign: str) -> list[Need]:
        """Channels whose posts failed until a person acts (reconnect, fix a setting)."""
        ...

    def counts(self, campaign: str) -> dict[State, int]:
        """How many posts of a campaign are in each state (every state present, maybe 0)."""
        ...

    def history(self, post_id: str) -> list[Event]:
        """Every state change of a post since it was last (re)created, oldest first."""
        ...

    # --- plans and people -------------------------------------------------------------------

    def apply(self, change: PlanChange, now: float) -> Conflict | None:
        """Write a plan change all or nothing; a Conflict (nothing written) when a post is not
        in the state the change expects (see PlanChange). A change larger than one chunk is
        applied in steps (`apply_in_steps`), none of which holds the store for long.

        Raises:
            StoreError: another process is applying the same campaign, or the store failed.
        """
        ...

    def apply_in_steps(self, change: PlanChange, now: float) -> StagedApply:
        """The steps `apply` takes for a change larger than one chunk (see StagedApply)."""
        ...

    def cancel(self, campaign: str, scope: Scope, reason: str, now: float) -> list[Moved]:
        """Cancel every post of the scope not yet claimed (scheduled or queued).

        Raises:
            StoreError: the campaign is not stored.
        """
        ...

    def restore(self, campaign: str, scope: Scope, now: float) -> list[Moved]:
        """Bring back the cancelled posts of the scope whose time is still ahead.

        Raises:
            StoreError: the campaign is not stored.
        """
        ...

    def pause(self, campaign: str | None, scope: Scope, now: float) -> None:
        """Hand out nothing of the scope of `campaign` (every campaign when None) until resumed.

        Raises:
            StoreError: the campaign is not stored.
        """
        ...

    def resume(self, campaign: str | None, scope: Scope, now: float) -> bool:
        """Lift the pause of exactly that scope; False when there was none.

        Raises:
            StoreError: the campaign is not stored.
        """
        ...

    def paused_everywhere(self) -> bool:
        """Whether every campaign is paused (`pause(None, ...)`)."""
        ...

    def retry(self, post_ids: Sequence[str], now: float, *, confirmed_not_out: bool) -> list[Moved]:
        """Schedule failed, missed (and, when a person confirmed it is not on the platform,
        unknown) posts again, due now; returns those moved. Others are left alone."""
        ...

    # --- the scheduler ---------------------------------------------------------------------

    def hand_out_due(
        self, now: float, *, batch: int, requeue_after: float, hold: float
    ) -> list[Moved]:
        """Move up to `batch` due posts to queued (or missed/unknown when too late); the caller
        sends a publish task for each queued one. Paused posts are looked at again after
        `hold` seconds."""
        ...

    def reclaim(self, now: float, *, batch: int, requeue_after: float) -> list[Moved]:
        """Posts whose hand-off may be lost (queued past `requeue_after`, sending past the
        lease): the caller sends their task again; the claim decides what happens."""
        ...

    def next_wakeup(self) -> float | None:
        """When the scheduler has something to do next (a due time or a deadline), or None."""
        ...

    def wake(self) -> None:
        """Tell sleeping schedulers that the schedule changed."""
        ...

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, less when `wake()` is called (by any process)."""
        ...

    # --- the workers -------------------------------------------------------------------------

    def claim(
        self, post_id: str, now: float, *, owner: str, lease: float, resend: ResendPolicy
    ) -> Claim:
        """Take a post for publishing, and a token from its account's rate-limit bucket.

        `owner` identifies this call (a retried call with the same owner gets its own claim
        back); the claim lasts `lease` seconds. Verdicts: see `Verdict`.
        """
        ...

    def finish(self, post_id: str, attempt: int, now: float, outcome: Outcome) -> Finish:
        """Record what one attempt came to (see workers.transitions.finish)."""
        ...

    def finish_and_claim(
        self,
        post_id: str,
        attempt: int,
        now: float,
        outcome: Outcome,
        next_id: str,
        *,
        owner: str,
        lease: float,
        resend: ResendPolicy,
    ) -> tuple[Finish, Claim]:
        """`finish` one post's attempt, then `claim` the next post, in one step: what a worker
        with more posts to publish does between two of them (one round trip, one commit)."""
        ...

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        """Take one token from a shared bucket: 0.0, or the seconds until one is available."""
        ...

    def credential(self, account: str) -> Versioned | None:
        """A credential shared by every worker (a session, a refresh token), or None."""
        ...

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        """Replace a credential if its version is still `expected_version` (None: absent).

        True when written (the version goes up by one); False when another process swapped it
        first: re-read it and use theirs.
        """
        ...


def open_store(settings: Settings) -> Store:
    """The store the settings name: Redis when `redis_url` is set, else the embedded SQLite.

    Raises:
        StoreError: the store cannot be opened or reached.
        UnsafeStoreError: Redis could evict or lose the ledger.
    """
    if settings.redis_url is not None:
        from workers.store.redis import RedisStore

        return RedisStore.connect(settings)
    from workers.store.sqlite import SqliteStore

    return SqliteStore.open(settings.database_path)
