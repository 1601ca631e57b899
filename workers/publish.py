"""Publishing one post: claim it, call its platform, record what happened.

The store's conditional claim is the gate, never the broker: a task that is delivered twice,
or runs after its lease ran out, finds the post claimed or done and does nothing.

    transient error (refused, 5xx before sending)  -> scheduled again, exponential backoff + jitter
    rate limited (429)                              -> scheduled at the platform's reset; the
                                                       attempt does not count
    permanent error (401, 403, 422)                 -> failed, with the platform's reason
    outcome unknown (timeout, dropped after send)   -> scheduled again when the platform lets
                                                       us resend safely (the claim checks),
                                                       else unknown
    max_attempts reached                            -> failed (unknown if any try may be out)

Whether a post whose earlier attempt may be out ends `unknown` rather than `failed` is decided
by workers.transitions, for every path.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import FrameType

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from workers.clients import Clients
from workers.logging import scrub, state_change
from workers.middleware import Middleware
from workers.platforms.base import (
    ClientContext,
    ClientFactory,
    Outgoing,
    PlatformClient,
    Published,
    Timeouts,
    client_class,
    client_for,
    resend_policy,
)
from workers.secrets import Environment, secrets_for
from workers.settings import Settings
from workers.store import (
    Claim,
    Defer,
    Failed,
    Finish,
    Outcome,
    ResendPolicy,
    Retry,
    Sent,
    State,
    Store,
    StoredPost,
    Unknown,
    Verdict,
)

log = logging.getLogger(__name__)

ALREADY_OUT = "the platform already has this post (URL not known): check the platform"


@dataclass
class Publisher:
    """Everything one worker process needs to publish posts; build one per process."""

    settings: Settings
    store: Store
    middleware: Sequence[Middleware] = ()
    environ: Callable[[], Mapping[str, str]] | None = None  # default: Environment(env_file)
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    client_factory: ClientFactory = client_for

    def __post_init__(self) -> None:
        if self.environ is None:
            self.environ = Environment(self.settings.env_file)
        timeouts = Timeouts(self.settings.connect_timeout, self.settings.read_timeout)
        self._clients = Clients(self.store, self.environ, self.client_factory, timeouts, self.clock)

    @cached_property
    def resend(self) -> ResendPolicy:
        """How each platform may resend: its clients' windows, ending one lease early, since
        an attempt claimed inside the window may run for a whole lease."""
        return resend_policy(margin=self.settings.lease, cap=self.settings.idempotency_window)

    def publish(self, post_id: str, owner: str | None = None) -> str:
        """Publish `post_id` if this call wins its claim; returns what happened, for the logs.

        `owner` names this one execution (the store recognises a claim it repeats after a
        timeout); a fresh one is made when not given. Never reuse one across executions: a
        redelivered task must not inherit a claim whose request may already be out.
        """
        done, _ = self.publish_many([post_id], owner=owner)
        return done[0][1]

    def publish_many(
        self,
        post_ids: Iterable[str],
        *,
        owner: str | None = None,
        deadline: float | None = None,
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """Publish posts one after another: (post id, what happened) for each one started, and
        the ids not started because `deadline` (time.monotonic) was too near for one more.

        Between two posts, the outcome of one and the claim of the next are one store step.
        Each claim has its own owner (`owner`, when given, is the first one's).
        """
        done: list[tuple[str, str]] = []
        pending: tuple[Claim, Outcome] | None = None
        worst = self.settings.connect_timeout + self.settings.read_timeout + 1.0
        ids = iter(post_ids)
        for post_id in ids:
            started = bool(done) or pending is not None
            if deadline is not None and started and time.monotonic() + worst > deadline:
                rest = [post_id, *ids]
                if pending is not None:
                    done.append(self._finish(*pending))
                return done, rest
            token, owner = owner or uuid.uuid4().hex, None
            with _uninterrupted():
                if pending is None:
                    claim = self.store.claim(
                        post_id, self.clock(), owner=token, lease=self.settings.lease,
                        resend=self.resend,
                    )  # fmt: skip
                else:
                    previous, outcome = pending
                    finished, claim = self.store.finish_and_claim(
                        previous.post_id, previous.attempt, self.clock(), outcome, post_id,
                        owner=token, lease=self.settings.lease, resend=self.resend,
                    )  # fmt: skip
                    done.append((previous.post_id, _finished(previous, outcome, finished)))
                _log_claim(claim)
            pending = None
            if not claim.publish:
                done.append((post_id, str(claim.verdict)))
                continue
            pending = (claim, self._attempt(claim))
        if pending is not None:
            done.append(self._finish(*pending))
        return done, []

    def close(self) -> None:
        """Close every cached client."""
        self._clients.close()

    def _attempt(self, claim: Claim) -> Outcome:
        """Publish a claimed post through its channel's client: the attempt's outcome."""
        try:
            client = self._clients.for_claim(claim)
        except ConfigurationError as exc:
            return Failed(str(exc), kind="config")
        assert claim.scheduled_at is not None
        post = Outgoing(
            post_id=claim.post_id,
            campaign=claim.campaign,
            channel_name=claim.channel,
            text=claim.text,
            locale=claim.locale,
            scheduled_at=claim.scheduled_at,
            maybe_sent=claim.maybe_sent,
        )
        for middleware in self.middleware:
            middleware.before_publish(post)
        try:
            published = client.publish(post)
        except AlreadyPublished as exc:
            return self._reconcile(client, post, claim, str(exc))
        except RateLimited as exc:
            return Defer(str(exc), self._retry_due(claim.tries, exc.retry_at, rate_limited=True))
        except TransientPublishError as exc:
            return self._again(claim, str(exc), exc.retry_at, maybe_sent=False)
        except OutcomeUnknown as exc:
            if self.resend.get(client.channel.platform) is None:
                return Unknown(str(exc))
            return self._again(claim, str(exc), None, maybe_sent=True)
        except AuthRejected as exc:
            return Failed(str(exc), kind="auth")
        except PermanentPublishError as exc:
            return Failed(str(exc))
        for middleware in reversed(self.middleware):
            middleware.after_publish(post, published)
        url = scrub(published.url) if published.url else None
        return Sent(published.remote_id, url)

    def _reconcile(
        self, client: PlatformClient, post: Outgoing, claim: Claim, error: str
    ) -> Outcome:
        """The platform refused the post as a duplicate. After an attempt that may have reached
        it, that duplicate is our post: record it sent where the platform can say where, else
        unknown (never failed, never sent again).

        Before any such attempt, the duplicate is usually an earlier post with the same text: the
        post failed. Unless the platform finds the text posted since this post's own time: then
        it is this post, sent by an attempt whose claim the store lost (a Redis crash between
        fsyncs), and it is recorded sent, not failed."""
        try:
            found = client.find(post)
        except PublishError as exc:
            if claim.maybe_sent:
                return Unknown(f"{ALREADY_OUT}; looking it up failed: {exc}")
            found = None
        if found is None and not claim.maybe_sent:
            return Failed(f"{error}; an identical post is already there: change the text")
        if found is None:
            return Unknown(ALREADY_OUT)
        return Sent(found.remote_id, scrub(found.url) if found.url else None)

    def _finish(self, claim: Claim, outcome: Outcome) -> tuple[str, str]:
        with _uninterrupted():
            finished = self.store.finish(claim.post_id, claim.attempt, self.clock(), outcome)
            return claim.post_id, _finished(claim, outcome, finished)

    def _again(
        self, claim: Claim, error: str, retry_at: datetime | None, *, maybe_sent: bool
    ) -> Outcome:
        """Retry later, or give up after max_attempts (unknown if this try may be out)."""
        if claim.tries >= self.settings.max_attempts:
            message = f"gave up after {claim.tries} attempts: {error}"
            if maybe_sent:
                return Unknown(f"{message}; check the platform before sending it again")
            return Failed(message)
        due = self._retry_due(claim.tries, retry_at, rate_limited=False)
        return Retry(error, due, maybe_sent=maybe_sent)

    def _retry_due(self, attempt: int, retry_at: datetime | None, *, rate_limited: bool) -> float:
        """Exponential backoff with jitter; a time the platform named wins when it is later."""
        now = self.clock()
        delay = min(
            self.settings.backoff_max, self.settings.backoff_base * 2.0 ** max(0, attempt - 1)
        )
        backoff = now + delay / 2 + self.rng.uniform(0, delay / 2)
        if retry_at is None:
            return backoff
        # Spread workers that were told the same instant over a short moment after it.
        named = retry_at.timestamp() + self.rng.uniform(0, 0.5)
        return max(named, now) if rate_limited else max(named, backoff)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold back Celery's soft time limit (SIGUSR1 in a prefork child) while a ledger step and
    its log line happen, so a state change is never written without its line.

    The handler is swapped for one that only notes the signal, and the real one runs after the
    step. (Blocking the signal would not do: Python runs handlers in the main thread whichever
    thread the kernel delivers to, and another thread may not block it.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.getsignal(signal.SIGUSR1)
    if not callable(handler):  # no Python handler (not a prefork child): nothing to hold back
        yield
        return
    held: list[tuple[int, FrameType | None]] = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, handler)
        for signum, frame in held:
            handler(signum, frame)


def _finished(claim: Claim, outcome: Outcome, done: Finish) -> str:
    """Log what recording an outcome did; what happened, for the logs."""
    if done.recorded and not done.repeated and done.state is not None:
        _log_finish(claim, done.state, outcome, done.reason)
    if not done.recorded:
        return "stale"
    if isinstance(outcome, Defer):
        return "rate-limited"
    if isinstance(outcome, Retry):
        return "retry"
    return str(done.state)


def _log_claim(claim: Claim) -> None:
    verdict = claim.verdict
    if claim.publish:
        state_change(claim.post_id, claim.channel, State.SENDING, attempt=claim.attempt,
                     verdict=str(verdict))  # fmt: skip
    elif verdict is Verdict.PAUSED:
        state_change(claim.post_id, claim.channel, State.SCHEDULED, reason="paused")
    elif verdict is Verdict.THROTTLED:
        due = _iso(claim.retry_at or 0)
        state_change(claim.post_id, claim.channel, State.SCHEDULED, reason="rate limit", due=due)
    elif verdict is Verdict.UNKNOWN:
        state_change(claim.post_id, claim.channel, State.UNKNOWN, reason=claim.reason)


def _log_finish(claim: Claim, state: State, outcome: Outcome, reason: str | None) -> None:
    detail: dict[str, object] = {"attempt": claim.attempt}
    match outcome:
        case Sent(url=url):
            detail["url"] = url
        case Retry(error=error, due=due):
            detail.update(error=error, due=_iso(due))
        case Defer(reason=why, due=due):
            detail.update(reason=why, due=_iso(due))
        case _:
            detail["error"] = reason
    state_change(claim.post_id, claim.channel, state, **detail)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def reconcile(
    store: Store, post: StoredPost, environ: Mapping[str, str] | None = None
) -> Published | None:
    """Look an unknown post up on its platform; when the platform has it, record it sent.

    None when the platform does not have it, or its client cannot say.

    Raises:
        ConfigurationError: the channel's secrets are not set.
        PublishError: the platform could not be asked.
    """
    route = store.route(post.campaign, post.channel)
    if route is None or not client_class(route.settings.platform).can_find():
        return None
    secrets = secrets_for(route.settings, environ if environ is not None else Environment()())
    context = ClientContext(route.settings, secrets, store)
    with client_for(context) as client:
        found = client.find(
            Outgoing(
                post_id=post.id,
                campaign=post.campaign,
                channel_name=post.channel,
                text=store.texts([post.id]).get(post.id, ""),
                locale=post.locale,
                scheduled_at=post.scheduled_at,
            )
        )
    if found is not None:
        url = scrub(found.url) if found.url else None
        store.finish(post.id, 0, time.time(), Sent(found.remote_id, url))
    return found
