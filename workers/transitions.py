"""The state machine of a post, as pure functions: the specification both stores follow.

    apply ──► scheduled ──hand_out──► queued ──claim──► sending ──finish──► sent
                 ▲  │ │                 │                │ │
                 │  │ └─► missed        └─► scheduled    │ ├──► failed   (nothing can be out)
                 │  │     (or unknown     (paused,       │ └──► unknown  (something may be out)
                 │  │      if an earlier   throttled)    │
                 │  └─► cancelled          retry, defer ◄┘
                 └─── retry/restore (a person decides)

Each function reads a `Row` (what the ledger holds about one post) and the facts of the moment,
and returns a `Step`: the verdict and the row as it must be written, or None when nothing
changes. The SQLite store calls these functions inside one transaction; the Redis store's Lua
scripts mirror them, and tests/test_store_redis.py proves they agree case by case.

Invariants:
- One attempt owns a post while it is `sending`: its number (`attempt`) is the fencing token
  every outcome carries, and an outcome of any other attempt changes nothing...
- ...except `sent`: the platform's word that the post exists wins over any other record.
- Once any attempt may have reached the platform (`maybe_sent`), the post never ends `failed`:
  giving up, a lost worker and running past max_lateness all end `unknown` (or `sent`).
- A retried call recognises its own earlier success: a claim by the same owner, an outcome of
  the attempt whose outcome was recorded last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from workers.store.records import (
    Defer,
    Failed,
    Outcome,
    ResendRule,
    Retry,
    Scope,
    Sent,
    State,
    Unknown,
    Verdict,
)

MAYBE_OUT = "an earlier attempt may have been published"
LOST_WORKER = "the worker was lost while sending; check the platform before resending"
NO_SAFE_RESEND = f"{MAYBE_OUT} and resending is no longer safe; check the platform"


@dataclass(frozen=True, slots=True)
class Row:
    """What a decision reads of one ledger entry."""

    state: State
    scheduled_at: float = 0.0
    retried_at: float | None = None  # a person's retry: lateness counts from it, not before
    due: float = 0.0  # when a scheduled post is handed out next
    deadline: float | None = None  # queued or sending: when to hand the post out again
    lease_until: float | None = None  # sending: the current attempt owns the post until then
    attempt: int = 0  # attempts started; the fencing token
    tries: int = 0  # attempts that count towards max_attempts
    first_try: float | None = None  # when the first attempt started (resend windows count from it)
    maybe_sent: bool = False
    owner: str | None = None  # who holds the current attempt (a claim call's token)
    finished: int = 0  # the attempt whose outcome was recorded last
    error: str | None = None
    error_kind: str | None = None  # what a person must do about a failed post (Failed.kind)
    remote_id: str | None = None
    url: str | None = None
    sent_at: float | None = None
    updated_at: float | None = None


class HandOut(StrEnum):
    QUEUE = "queue"  # scheduled -> queued: send the publish task
    HOLD = "hold"  # paused: look again after a tick
    MISS = "miss"  # too late: -> missed, or -> unknown when an earlier attempt may be out
    DROP = "drop"  # not scheduled any more: a stale index entry


@dataclass(frozen=True, slots=True)
class Step:
    """A decision: what to answer, and the row to write (None: write nothing)."""

    verdict: str
    row: Row | None = None


# --- the scheduler ------------------------------------------------------------------------------


def hand_out(
    row: Row, now: float, *, max_lateness: float, paused: bool, hold: float, requeue_after: float
) -> Step:
    """A due post: queue it, hold it while paused, or give it up when it is too late."""
    if row.state is not State.SCHEDULED:
        return Step(HandOut.DROP)
    if paused:
        # Look again after `hold`; lateness still applies once it is resumed.
        return Step(HandOut.HOLD, replace(row, due=now + hold))
    if now - max(row.scheduled_at, row.retried_at or 0.0) > max_lateness:
        if row.maybe_sent:
            reason = f"{MAYBE_OUT}; retries ran past max_lateness ({max_lateness:g} s)"
            final = State.UNKNOWN
        else:
            reason = f"later than max_lateness ({max_lateness:g} s) when it became due"
            final = State.MISSED
        return Step(HandOut.MISS, _moved(row, final, now, error=reason))
    return Step(HandOut.QUEUE, _moved(row, State.QUEUED, now, deadline=now + requeue_after))


def reclaim(row: Row, now: float, *, requeue_after: float) -> Step:
    """A post past its deadline: hand it out again (queued or sending), else drop the entry.

    Only the caller that moves the deadline hands it out, so two schedulers do it once.
    """
    if row.state not in (State.QUEUED, State.SENDING):
        return Step(HandOut.DROP)
    return Step(HandOut.QUEUE, replace(row, deadline=now + requeue_after))


def is_paused(pauses: Iterable[Scope], *, audience: str, channel: str, locale: str) -> bool:
    """Whether a post of this audience, channel and locale falls under any of the pauses."""
    return any(
        (scope.audience is None or scope.audience == audience)
        and (scope.channel is None or scope.channel == channel)
        and (scope.locale is None or scope.locale == locale)
        for scope in pauses
    )


# --- the worker ---------------------------------------------------------------------------------


def claim(
    row: Row | None,
    now: float,
    *,
    owner: str,
    lease: float,
    paused: bool,
    resend: ResendRule,
) -> Step:
    """The gate of publishing: at most one attempt publishes a post at a time.

    Verdicts (workers.store.records.Verdict): CLAIMED or RESEND (publish now, under a lease),
    PAUSED (back to scheduled), UNKNOWN (resending is not safe), BUSY, SKIP.
    """
    if row is None:
        return Step(Verdict.SKIP)
    if row.state is State.SENDING and row.owner == owner and (row.lease_until or 0) > now:
        return Step(Verdict.CLAIMED)  # this owner's own claim, asked again: nothing changes
    if row.state is State.QUEUED:
        if paused:
            return Step(Verdict.PAUSED, _moved(row, State.SCHEDULED, now, due=now))
        if row.maybe_sent and not may_resend(row, now, resend):
            return Step(Verdict.UNKNOWN, _moved(row, State.UNKNOWN, now, error=NO_SAFE_RESEND))
        return Step(Verdict.CLAIMED, _take(row, now, owner, lease))
    if row.state is State.SENDING:
        if (row.lease_until or 0) > now:
            return Step(Verdict.BUSY)
        # The lease ran out: the worker died somewhere between its claim and its outcome, so
        # its request may have reached the platform.
        lost = replace(row, maybe_sent=True, owner=None)
        if may_resend(lost, now, resend):
            return Step(Verdict.RESEND, _take(lost, now, owner, lease))
        return Step(Verdict.UNKNOWN, _moved(lost, State.UNKNOWN, now, error=LOST_WORKER))
    return Step(Verdict.SKIP)


def throttle(row: Row, now: float, *, retry_at: float) -> Step:
    """A claimed post whose account has no rate-limit token: back to scheduled, uncounted.

    `row` is the row the claim would have written; the attempt it started is given back.
    """
    back = _moved(row, State.SCHEDULED, now, due=retry_at, tries=row.tries - 1, owner=None)
    return Step(Verdict.THROTTLED, back)


def may_resend(row: Row, now: float, rule: ResendRule) -> bool:
    """Whether sending again is safe now, after an attempt that may have reached the platform."""
    if not rule.allowed:
        return False
    if rule.window is None or row.first_try is None:
        return True
    return now - row.first_try < rule.window


def finish(row: Row | None, now: float, *, attempt: int, outcome: Outcome) -> Step:
    """Record the outcome of one attempt.

    Verdicts: "recorded", "repeated" (this attempt's outcome was recorded before: a retried
    call), "stale" (the attempt no longer owns the post; nothing written).
    """
    if row is None:
        return Step("stale")
    if isinstance(outcome, Sent):
        if row.state is State.SENT:
            return Step("repeated" if row.finished == attempt else "stale")
        sent = _moved(
            row,
            State.SENT,
            now,
            error=None,
            sent_at=now,
            finished=attempt,
            owner=None,
            remote_id=outcome.remote_id,
            url=outcome.url,
            maybe_sent=False,
        )
        return Step("recorded", sent)
    if row.finished == attempt and row.state is not State.SENDING:
        return Step("repeated")
    if row.state is not State.SENDING or row.attempt != attempt:
        return Step("stale")
    done = replace(row, owner=None, finished=attempt)
    if isinstance(outcome, Failed):
        if row.maybe_sent:
            error = f"{outcome.error}; {MAYBE_OUT}: check the platform before retrying"
            return Step("recorded", _moved(done, State.UNKNOWN, now, error=error))
        failed = _moved(done, State.FAILED, now, error=outcome.error, error_kind=outcome.kind)
        return Step("recorded", failed)
    if isinstance(outcome, Unknown):
        return Step(
            "recorded", _moved(done, State.UNKNOWN, now, error=outcome.error, maybe_sent=True)
        )
    if isinstance(outcome, Retry):
        maybe_sent = row.maybe_sent or outcome.maybe_sent
        again = _moved(
            done, State.SCHEDULED, now, due=outcome.due, error=outcome.error, maybe_sent=maybe_sent
        )
        return Step("recorded", again)
    if isinstance(outcome, Defer):
        return Step(
            "recorded", _moved(done, State.SCHEDULED, now, due=outcome.due, tries=row.tries - 1)
        )
    raise TypeError(f"not an outcome: {outcome!r}")


# --- plan changes and people ----------------------------------------------------------------


def can_add(state: State | None) -> bool:
    """A post may be (re)created when absent, or when it was cancelled."""
    return state is None or state is State.CANCELLED


def can_change(state: State | None) -> bool:
    """Only a post nobody has touched yet may get a new text or time."""
    return state is State.SCHEDULED


def can_cancel(state: State | None) -> bool:
    """A post may be cancelled until a worker claims it."""
    return state in (State.SCHEDULED, State.QUEUED)


def can_restore(state: State | None, scheduled_at: float, now: float) -> bool:
    """A cancelled post comes back when its time is still ahead."""
    return state is State.CANCELLED and scheduled_at > now


def restored(row: Row, now: float) -> Row:
    """The row of a cancelled post scheduled again at its own time."""
    return _moved(row, State.SCHEDULED, now, due=row.scheduled_at, error=None)


def can_retry(state: State | None, *, confirmed_not_out: bool) -> bool:
    """failed and missed posts may be sent again; unknown ones only once a person confirmed
    the platform does not have them."""
    if state is State.UNKNOWN:
        return confirmed_not_out
    return state in (State.FAILED, State.MISSED)


def retried(row: Row, now: float, *, due: float) -> Row:
    """The row of a post a person sends again: scheduled at `due` with a fresh count of tries,
    and late only when it is max_lateness past this retry (a person asked for it late)."""
    return _moved(
        row,
        State.SCHEDULED,
        now,
        due=due,
        error=None,
        tries=0,
        first_try=None,
        maybe_sent=False,
        retried_at=now,
    )


# --- helpers ------------------------------------------------------------------------------------


def _take(row: Row, now: float, owner: str, lease: float) -> Row:
    return _moved(
        row,
        State.SENDING,
        now,
        deadline=now + lease,
        lease_until=now + lease,
        attempt=row.attempt + 1,
        tries=row.tries + 1,
        first_try=row.first_try if row.first_try is not None else now,
        owner=owner,
    )


def _moved(row: Row, state: State, now: float, **changes: Any) -> Row:
    """`row` in `state` as of `now`; deadline and lease are cleared unless `changes` set them,
    and so is the error's kind whenever the error changes."""
    if "error" in changes:
        changes.setdefault("error_kind", None)
    return replace(
        row, state=state, updated_at=now, **{"deadline": None, "lease_until": None, **changes}
    )
