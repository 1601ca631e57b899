"""The publish logic without Celery: each platform outcome becomes the right ledger state."""

from __future__ import annotations

import os
import random
import signal
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    OutcomeUnknown,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from tests.fixtures.plans import make_campaign, make_post
from workers import diff
from workers.platforms.base import ClientContext, Outgoing, PlatformClient, Published, Resend
from workers.publish import Publisher
from workers.settings import Settings
from workers.store import State, Store

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = Settings.model_validate({"max_attempts": 3, "backoff_base": 10, "backoff_max": 100})


class Scripted(PlatformClient):
    """A client that answers from a script: a Published, or an error to raise. It does not
    register itself as any platform's client: publishers get it through their factory."""

    resend: ClassVar[Resend] = Resend.BY_KEY
    script: ClassVar[list[Published | PublishError]] = []
    sent: ClassVar[list[Outgoing]] = []
    built: ClassVar[list[ClientContext]] = []
    found: ClassVar[Published | None] = None

    def __init__(self, context: ClientContext) -> None:
        self.context = context
        self.channel = context.channel
        Scripted.built.append(context)

    def publish(self, post: Outgoing) -> Published:
        Scripted.sent.append(post)
        outcome = Scripted.script.pop(0)
        if isinstance(outcome, PublishError):
            raise outcome
        return outcome

    def find(self, post: Outgoing) -> Published | None:
        return Scripted.found


def publisher(store: Store, env: dict[str, str] | None = None) -> Publisher:
    return Publisher(
        SETTINGS,
        store,
        environ=lambda: env if env is not None else {"MASTODON_TOKEN": "s3cret-token"},
        clock=NOW.timestamp,
        rng=random.Random(7),
        client_factory=Scripted,
    )


def queue(store: Store, platform: str = "mastodon") -> str:
    """Given one post of a campaign on `platform`, handed out at its time."""
    campaign = make_campaign(platform=platform)
    post = make_post(campaign, NOW, locale="ru")
    diff.apply(store, campaign, [post])
    store.hand_out_due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)
    Scripted.script.clear()
    Scripted.sent.clear()
    Scripted.built.clear()
    Scripted.found = None
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


def _again(store: Store, post_id: str) -> None:
    """The scheduler hands the post out again at its next due time."""
    due = store.next_wakeup()
    assert due is not None
    store.hand_out_due(due, batch=10, requeue_after=60, hold=1)


def test_a_post_that_may_be_out_ends_unknown_when_retries_give_up(
    store: Store, queued: str
) -> None:
    # Given an attempt whose answer was lost, then server errors on every retry
    Scripted.script.append(OutcomeUnknown("the server closed the connection"))
    Scripted.script.extend([TransientPublishError("503 unavailable")] * 2)

    results = []
    for _ in range(3):
        results.append(publisher(store).publish(queued))
        if results[-1] == "retry":
            _again(store, queued)

    # Then it is never failed "worth retrying": it may be on the platform already
    assert results == ["retry", "retry", "unknown"]
    stored = store.post(queued)
    assert stored is not None
    assert stored.state is State.UNKNOWN
    assert "check the platform" in (stored.error or "")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("s3cret-token\n", "whitespace"), ("s3crét-token", "non-ASCII"), ("tok\x1ben", "control")],
)
def test_a_secret_that_cannot_be_sent_fails_before_any_request(
    store: Store, queued: str, value: str, problem: str
) -> None:
    assert publisher(store, env={"MASTODON_TOKEN": value}).publish(queued) == "failed"

    error = store.post(queued).error or ""  # type: ignore[union-attr]
    assert "MASTODON_TOKEN" in error
    assert problem in error
    assert value.strip() not in error
    assert Scripted.sent == []


def test_one_client_serves_every_post_of_a_channel(store: Store) -> None:
    campaign = make_campaign()
    posts = [make_post(campaign, NOW, locale=locale) for locale in ("ky", "ru", "en")]
    diff.apply(store, campaign, posts)
    store.hand_out_due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)
    Scripted.built.clear()
    Scripted.script[:] = [Published(str(n), None) for n in range(3)]
    worker = publisher(store)

    assert [worker.publish(post.id) for post in posts] == ["sent"] * 3

    (context,) = Scripted.built
    assert context.secrets == {"token": "s3cret-token"}
    assert context.credentials is store


def test_a_duplicate_after_a_lost_answer_is_the_post_itself(store: Store, queued: str) -> None:
    # Given an attempt whose answer was lost, and a platform that refuses the resend as a
    # duplicate and can find the first one
    Scripted.script[:] = [
        OutcomeUnknown("dropped"),
        AlreadyPublished("duplicate content"),
    ]
    Scripted.found = Published("77", "https://x.example/s/77")
    assert publisher(store).publish(queued) == "retry"
    _again(store, queued)

    # When it is resent
    assert publisher(store).publish(queued) == "sent"

    # Then the post is recorded where the platform holds it
    stored = store.post(queued)
    assert stored is not None
    assert (stored.state, stored.url) == (State.SENT, "https://x.example/s/77")


def test_a_duplicate_that_cannot_be_found_is_unknown_not_failed(store: Store, queued: str) -> None:
    Scripted.script[:] = [OutcomeUnknown("dropped"), AlreadyPublished("duplicate content")]
    publisher(store).publish(queued)
    _again(store, queued)

    assert publisher(store).publish(queued) == "unknown"
    assert "already has this post" in (store.post(queued).error or "")  # type: ignore[union-attr]


def test_a_duplicate_on_a_first_attempt_is_someone_elses_post(store: Store, queued: str) -> None:
    Scripted.script[:] = [AlreadyPublished("duplicate content")]

    assert publisher(store).publish(queued) == "failed"
    assert "change the text" in (store.post(queued).error or "")  # type: ignore[union-attr]


def test_a_duplicate_on_a_first_attempt_found_since_its_time_is_the_post_itself(
    store: Store, queued: str
) -> None:
    # Given a first attempt refused as a duplicate, and the platform holding the same text since
    # the post's time: this post, sent by an attempt whose claim a store crash lost
    Scripted.script[:] = [AlreadyPublished("duplicate content")]
    Scripted.found = Published("78", "https://x.example/s/78")

    # Then it is recorded sent where the platform holds it, never failed
    assert publisher(store).publish(queued) == "sent"
    assert store.post(queued).url == "https://x.example/s/78"  # type: ignore[union-attr]


def test_a_url_holding_a_secret_is_redacted_before_it_is_stored(store: Store, queued: str) -> None:
    Scripted.script.append(Published("9", "https://m.example/9?access_token=s3cret-token"))

    publisher(store).publish(queued)

    assert "s3cret-token" not in (store.post(queued).url or "")  # type: ignore[union-attr]


class SoftTimeLimit(Exception):
    """What Celery's soft time limit raises in a prefork child, on SIGUSR1."""


def test_a_soft_time_limit_right_after_the_ledger_write_still_gets_its_log_line(
    store: Store, queued: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a soft time limit that lands right after the ledger recorded the post as sent
    def soft_limit(signum: int, frame: object) -> None:
        raise SoftTimeLimit

    previous = signal.signal(signal.SIGUSR1, soft_limit)
    finish = store.finish

    def finish_then_time_out(*args: Any, **kwargs: Any) -> Any:
        done = finish(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGUSR1)
        return done

    monkeypatch.setattr(store, "finish", finish_then_time_out)
    Scripted.script.append(Published("5", "https://m.example/5"))

    # When the post is published
    try:
        with caplog.at_level("INFO", "campaign.delivery"), pytest.raises(SoftTimeLimit):
            publisher(store).publish(queued)
    finally:
        signal.signal(signal.SIGUSR1, previous)

    # Then the state change has its log line, written before the limit took effect
    assert store.post(queued).state is State.SENT  # type: ignore[union-attr]
    assert any("state=sent" in record.getMessage() for record in caplog.records)
