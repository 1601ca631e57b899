"""Publishing one post: claim it, call its platform, record what happened.

The ledger's conditional claim is the gate, never the broker: a task that is delivered twice, or
runs after its lease ran out, finds the post claimed or done and does nothing.

    transient error (refused, 5xx before sending)  -> scheduled again, exponential backoff + jitter
    rate limited (429)                              -> scheduled at the platform's reset, no attempt
                                                       counted; the shared bucket empty -> the same
    permanent error (401, 403, 422)                 -> failed, with the platform's reason
    outcome unknown (timeout, dropped after send)   -> idempotent client: retried with the same key
                                                       inside its window; else unknown
    max_attempts reached                            -> failed
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dotenv import dotenv_values

from campaign.definition import Channel
from campaign.errors import (
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    RateLimited,
    TransientPublishError,
)
from workers import ratelimit
from workers.logging import redact
from workers.middleware import Middleware
from workers.platforms.base import Outgoing, PlatformClient, Timeouts, client_for
from workers.settings import Settings
from workers.store import Claim, Store

log = logging.getLogger(__name__)

ClientFactory = Callable[[Channel, str | None, Timeouts], PlatformClient]


def environment() -> Mapping[str, str]:
    """The process environment over `.env` in the working directory, read at publish time."""
    return {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}


def _default_factory(channel: Channel, secret: str | None, timeouts: Timeouts) -> PlatformClient:
    return client_for(channel, secret, timeouts=timeouts)


@dataclass
class Publisher:
    """Everything one worker process needs to publish posts; build one per process."""

    settings: Settings
    store: Store
    middleware: Sequence[Middleware] = ()
    environ: Callable[[], Mapping[str, str]] = environment
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    client_factory: ClientFactory = _default_factory

    def publish(self, post_id: str) -> str:
        """Publish `post_id` if this call wins its claim; returns what happened, for the logs."""
        located = self.store.locate(post_id)
        if located is None:
            return "absent"
        campaign, channel_name = located
        channel = self.store.channel(campaign, channel_name)
        settings = self.settings
        try:
            client = self.client_factory(channel, self._secret(channel), self._timeouts())
        except ConfigurationError as exc:
            claim = self.store.claim(
                post_id, self.clock(), lease=settings.lease, idempotent=False, window=0
            )
            if claim.publish:
                self.store.record_failed(post_id, claim, self.clock(), str(exc))
                return "failed"
            return claim.verdict
        with client:
            claim = self.store.claim(
                post_id,
                self.clock(),
                lease=settings.lease,
                idempotent=client.idempotent,
                window=settings.idempotency_window,
            )
            if not claim.publish:
                return claim.verdict
            wait = ratelimit.take(self.store, channel, self.clock())
            if wait > 0:
                due = self.clock() + wait + self.rng.uniform(0, min(1.0, wait / 10))
                self.store.defer(post_id, claim, self.clock(), due, "rate limit bucket empty")
                return "deferred"
            return self._send(client, post_id, claim)

    def _send(self, client: PlatformClient, post_id: str, claim: Claim) -> str:
        assert claim.scheduled_at is not None
        post = Outgoing(
            post_id=post_id,
            campaign=claim.campaign,
            channel_name=claim.channel,
            text=claim.text,
            locale=claim.locale,
            scheduled_at=claim.scheduled_at,
        )
        for middleware in self.middleware:
            middleware.before_publish(post)
        try:
            published = client.publish(post)
        except RateLimited as exc:
            due = self._retry_due(claim.attempt, exc.retry_at, rate_limited=True)
            self.store.defer(post_id, claim, self.clock(), due, str(exc))
            return "rate-limited"
        except TransientPublishError as exc:
            return self._retry(post_id, claim, str(exc), exc.retry_at, maybe_sent=False)
        except OutcomeUnknown as exc:
            if client.idempotent:
                return self._retry(post_id, claim, str(exc), None, maybe_sent=True)
            self.store.record_unknown(post_id, claim, self.clock(), str(exc))
            return "unknown"
        except PermanentPublishError as exc:
            self.store.record_failed(post_id, claim, self.clock(), str(exc))
            return "failed"
        for middleware in reversed(self.middleware):
            middleware.after_publish(post, published)
        self.store.record_sent(post_id, claim, self.clock(), published.remote_id, published.url)
        return "sent"

    def _retry(
        self, post_id: str, claim: Claim, error: str, retry_at: datetime | None, *, maybe_sent: bool
    ) -> str:
        if claim.attempt >= self.settings.max_attempts:
            message = f"gave up after {claim.attempt} attempts: {error}"
            if maybe_sent:
                self.store.record_unknown(post_id, claim, self.clock(), message)
                return "unknown"
            self.store.record_failed(post_id, claim, self.clock(), message)
            return "failed"
        due = self._retry_due(claim.attempt, retry_at, rate_limited=False)
        self.store.reschedule(post_id, claim, self.clock(), error, due, maybe_sent=maybe_sent)
        return "retry"

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

    def _secret(self, channel: Channel) -> str | None:
        if channel.credentials is None:
            return None
        secret = self.environ().get(channel.credentials)
        if not secret:
            raise ConfigurationError(
                f"the environment variable {channel.credentials} (the channel's credentials) "
                "is not set in the worker's environment or .env"
            )
        redact(secret)
        return secret

    def _timeouts(self) -> Timeouts:
        return Timeouts(connect=self.settings.connect_timeout, read=self.settings.read_timeout)
