"""The publish logic without Celery: each platform outcome becomes the right ledger state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from campaign.definition import Channel
from campaign.errors import (
    AuthRejected,
    OutcomeUnknown,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from tests.fixtures.plans import make_campaign, make_post
from workers import diff
from workers.platforms.base import Outgoing, PlatformClient, Published, Timeouts
from workers.publish import Publisher
from workers.settings import Settings
from workers.store import State, Store

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = Settings(_env_file=None, max_attempts=3, backoff_base=10, backoff_max=100)


class Scripted(PlatformClient):
    """A client that answers from a script: a Published, or an error to raise."""

    platform: ClassVar[str] = "mastodon-scripted"
    idempotent: ClassVar[bool] = True
    script: ClassVar[list[Published | PublishError]] = []
    sent: ClassVar[list[Outgoing]] = []

    def __init__(self, channel: Channel, secret: str | None, *, timeouts: Timeouts) -> None:
        self.channel = channel
        self.secret = secret

    def publish(self, post: Outgoing) -> Published:
        Scripted.sent.append(post)
        outcome = Scripted.script.pop(0)
        if isinstance(outcome, PublishError):
            raise outcome
        return outcome


def publisher(
    store: Store, client: type[Scripted] = Scripted, env: dict[str, str] | None = None
) -> Publisher:
    def factory(channel: Channel, secret: str | None, timeouts: Timeouts) -> PlatformClient:
        return client(channel, secret, timeouts=timeouts)

    return Publisher(
        SETTINGS,
        store,
        environ=lambda: env if env is not None else {"MASTODON_TOKEN": "s3cret-token"},
        clock=NOW.timestamp,
        rng=random.Random(7),
        client_factory=factory,
    )


def queue(store: Store, platform: str = "mastodon") -> str:
    """Given one post of a campaign on `platform`, handed out at its time."""
    campaign = make_campaign(platform=platform)
    post = make_post(campaign, NOW, locale="ru")
    diff.apply(store, campaign, [post])
    store.hand_out_due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)
    Scripted.script.clear()
    Scripted.sent.clear()
    return post.id


@pytest.fixture
def queued(store: Store) -> str:
    return queue(store)


def test_a_published_post_is_sent_with_its_exact_text_and_locale(store: Store, queued: str) -> None:
    Scripted.script.append(Published("99", "https://m.example/@c/99"))

    assert publisher(store).publish(queued) == "sent"

    (outgoing,) = Scripted.sent
    assert (outgoing.post_id, outgoing.locale) == (queued, "ru")
    assert outgoing.text == store.texts([queued])[queued]
    stored = store.post(queued)
    assert stored is not None
    assert (stored.state, stored.remote_id, stored.url) == (
        State.SENT,
        "99",
        "https://m.example/@c/99",
    )


def test_a_second_delivery_of_the_same_task_publishes_nothing(store: Store, queued: str) -> None:
    Scripted.script.append(Published("99", None))
    publisher(store).publish(queued)

    assert publisher(store).publish(queued) == "skip"
    assert len(Scripted.sent) == 1


def test_a_permanent_error_fails_at_once_with_the_reason(store: Store, queued: str) -> None:
    Scripted.script.append(AuthRejected("mastodon: 401 The access token is invalid"))

    assert publisher(store).publish(queued) == "failed"

    stored = store.post(queued)
    assert stored is not None
    assert stored.state is State.FAILED
    assert stored.error == "mastodon: 401 The access token is invalid"


def test_a_transient_error_is_retried_with_backoff_then_fails(store: Store, queued: str) -> None:
    for _ in range(3):
        Scripted.script.append(TransientPublishError("connection refused"))
    delays = []
    for _ in range(3):
        assert publisher(store).publish(queued) in ("retry", "failed")
        due = store.next_wakeup()
        if due is not None:
            delays.append(due - NOW.timestamp())
            store.hand_out_due(due, batch=10, requeue_after=60, hold=1)

    assert 5 <= delays[0] <= 10  # base 10 s, half of it fixed, half jitter
    assert 10 <= delays[1] <= 20
    stored = store.post(queued)
    assert stored is not None
    assert stored.state is State.FAILED
    assert stored.error == "gave up after 3 attempts: connection refused"


def test_a_rate_limit_waits_for_the_named_reset_without_using_an_attempt(
    store: Store, queued: str
) -> None:
    reset = NOW + timedelta(seconds=42)
    Scripted.script.append(RateLimited("429 Too many requests", retry_at=reset))

    assert publisher(store).publish(queued) == "rate-limited"

    assert reset.timestamp() <= (store.next_wakeup() or 0) <= reset.timestamp() + 0.5
    assert store.post(queued).attempts == 0  # type: ignore[union-attr]


def test_an_unknown_outcome_is_retried_by_an_idempotent_client(store: Store, queued: str) -> None:
    Scripted.script.append(OutcomeUnknown("read timeout"))

    assert publisher(store).publish(queued) == "retry"
    assert store.post(queued).state is State.SCHEDULED  # type: ignore[union-attr]


def test_an_unknown_outcome_is_left_for_a_person_when_resending_is_unsafe(store: Store) -> None:
    webhook_post = queue(store, platform="webhook")
    Scripted.script.append(OutcomeUnknown("connection dropped after sending"))

    assert publisher(store).publish(webhook_post) == "unknown"
    assert store.post(webhook_post).state is State.UNKNOWN  # type: ignore[union-attr]


def test_missing_credentials_fail_the_post_and_name_the_variable(store: Store, queued: str) -> None:
    assert publisher(store, env={}).publish(queued) == "failed"

    error = store.post(queued).error or ""  # type: ignore[union-attr]
    assert "MASTODON_TOKEN" in error
    assert Scripted.sent == []


def test_an_empty_rate_bucket_defers_the_post(store: Store) -> None:
    campaign = make_campaign(rate_limit={"requests": 1, "per_seconds": 60})
    first, second = make_post(campaign, NOW), make_post(campaign, NOW, locale="en")
    diff.apply(store, campaign, [first, second])
    store.hand_out_due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)
    Scripted.script[:] = [Published("1", None)]

    assert publisher(store).publish(first.id) == "sent"
    assert publisher(store).publish(second.id) == "throttled"

    assert (store.next_wakeup() or 0) - NOW.timestamp() == pytest.approx(60, abs=7)
