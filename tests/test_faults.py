"""Faults: workers killed with SIGKILL at each point of a publish, two schedulers, a Redis crash,
a 429 storm and a dropped connection. Nothing is posted twice and nothing is lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from campaign.post import Post
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.webhook import DEFAULT_SECRET, FakeWebhook
from tests.fixtures.celery import (
    RunningScheduler,
    StartWorker,
    Worker,
    delivery_settings,
    eventually,
)
from tests.fixtures.plans import make_campaign, posts_at
from tests.fixtures.redis import RedisServer
from workers import diff
from workers.settings import Settings
from workers.store import State, Store

pytestmark = pytest.mark.slow

StartScheduler = Callable[[Settings], RunningScheduler]
KILLED = -9


def soon(seconds: float = 0.5) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def sent(store: Store, posts: list[Post]) -> Callable[[], bool]:
    return lambda: all(p.state is State.SENT for p in store.posts(posts[0].campaign))


def assert_on_server_once(server: FakeMastodon, store: Store, posts: list[Post]) -> None:
    keys = [s.idempotency_key for s in server.statuses]
    assert sorted(keys) == sorted(p.id for p in posts), "each post exactly once on the server"
    by_key = {s.idempotency_key: s for s in server.statuses}
    for post in posts:
        stored = store.post(post.id)
        assert stored is not None
        assert (stored.state, stored.url) == (State.SENT, by_key[post.id].url)


def apply_soon(store: Store, server: FakeMastodon, count: int = 2) -> list[Post]:
    campaign = make_campaign(api_url=server.url)
    posts = posts_at(campaign, soon(), count, 0.4)
    diff.apply(store, campaign, posts)
    return posts


@pytest.mark.parametrize(
    ("killer", "statuses_left_behind"),
    [
        pytest.param("tests.fixtures.killers:KillBeforePublish", 0, id="before-the-request"),
        pytest.param("tests.fixtures.killers:KillAfterPublish", 1, id="after-answer-before-ledger"),
    ],
)
def test_a_worker_killed_mid_publish_is_finished_by_another_without_a_duplicate(
    killer: str,
    statuses_left_behind: int,
    redis_server: RedisServer,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_worker: StartWorker,
    start_scheduler: StartScheduler,
) -> None:
    # Given a worker that SIGKILLs itself at an exact point of publishing
    settings = delivery_settings(redis_server, queue=f"kill-{statuses_left_behind}")
    doomed = start_worker(settings.model_copy(update={"middleware": [killer]}))
    start_scheduler(settings)

    # When posts fall due, the worker dies with the first one claimed
    posts = apply_soon(delivery_store, mastodon_server)
    assert doomed.wait_exit() == KILLED
    assert len(mastodon_server.statuses) == statuses_left_behind
    assert delivery_store.post(posts[0].id).state is State.SENDING  # type: ignore[union-attr]

    # Then a new worker finishes: each post once on the server, none lost
    start_worker(settings)
    eventually(sent(delivery_store, posts), 20, "every post sent by the new worker")
    assert_on_server_once(mastodon_server, delivery_store, posts)


def test_a_worker_killed_while_the_server_holds_its_request(
    redis_server: RedisServer,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_worker: StartWorker,
    start_scheduler: StartScheduler,
) -> None:
    # Given a server that creates the status but holds back its answer
    settings = delivery_settings(redis_server, queue="kill-held")
    doomed = start_worker(settings)
    start_scheduler(settings)
    mastodon_server.hold()

    # When the worker is SIGKILLed while its request is held
    posts = apply_soon(delivery_store, mastodon_server, count=1)
    assert mastodon_server.held.wait(10), "the request reached the server"
    doomed.kill()
    mastodon_server.release()

    # Then a new worker resends with the same Idempotency-Key: still one status
    start_worker(settings)
    eventually(sent(delivery_store, posts), 20, "the post recorded as sent")
    assert_on_server_once(mastodon_server, delivery_store, posts)
    assert len(mastodon_server.requests) == 2


def test_a_worker_killed_after_a_webhook_answered_leaves_the_post_unknown_not_resent(
    redis_server: RedisServer,
    delivery_store: Store,
    webhook_server: FakeWebhook,
    start_worker: StartWorker,
    start_scheduler: StartScheduler,
) -> None:
    # Given a webhook receiver, which does not deduplicate, and a worker that dies after its answer
    settings = delivery_settings(redis_server, queue="kill-webhook")
    killer = settings.model_copy(update={"middleware": ["tests.fixtures.killers:KillAfterPublish"]})
    doomed = start_worker(killer, WEBHOOK_SECRET=DEFAULT_SECRET)
    start_scheduler(settings)
    campaign = make_campaign(
        api_url=f"{webhook_server.url}/hook", credentials="WEBHOOK_SECRET", platform="webhook"
    )
    (post,) = posts_at(campaign, soon(), 1, 1)
    diff.apply(delivery_store, campaign, [post])
    assert doomed.wait_exit() == KILLED

    # When a new worker gets the post after the lease ran out
    start_worker(settings, WEBHOOK_SECRET=DEFAULT_SECRET)
    eventually(
        lambda: delivery_store.post(post.id).state is State.UNKNOWN,  # type: ignore[union-attr]
        20,
        "the post marked unknown",
    )

    # Then it was not sent again: a person checks the receiver
    assert len(webhook_server.deliveries) == 1
    assert "check the platform" in (delivery_store.post(post.id).error or "")  # type: ignore[union-attr]


def test_two_schedulers_hand_each_post_out_once(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: StartScheduler,
) -> None:
    first, second = start_scheduler(shared_settings), start_scheduler(shared_settings)

    posts = apply_soon(delivery_store, mastodon_server, count=10)
    eventually(sent(delivery_store, posts), 20, "every post sent")

    assert sorted(first.handed + second.handed) == sorted(p.id for p in posts)
    assert_on_server_once(mastodon_server, delivery_store, posts)


def test_redis_killed_and_restarted_with_aof_loses_nothing(
    redis_server: RedisServer,
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: StartScheduler,
) -> None:
    # Given posts falling due over the next seconds
    start_scheduler(shared_settings)
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, soon(1.0), 8, 0.4)
    diff.apply(delivery_store, campaign, posts)

    # When Redis is SIGKILLed while some are sent, some queued and some still due
    eventually(lambda: len(mastodon_server.statuses) >= 2, 10, "the first posts sent")
    down_at = time.time()
    redis_server.kill()
    time.sleep(1.0)
    redis_server.start()
    up_at = time.time()

    # Then every post goes out exactly once, including those due while Redis was down
    assert any(down_at <= p.scheduled_at.timestamp() <= up_at for p in posts)
    eventually(sent(delivery_store, posts), 40, "every post sent after the restart")
    assert_on_server_once(mastodon_server, delivery_store, posts)
    assert any(s.created_at.timestamp() > up_at for s in mastodon_server.statuses)


def test_a_429_storm_with_an_iso_reset_waits_then_posts_once(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: StartScheduler,
) -> None:
    reset = mastodon_server.storm(requests=50, reset_in=2.5)
    start_scheduler(shared_settings)

    posts = apply_soon(delivery_store, mastodon_server, count=1)
    eventually(sent(delivery_store, posts), 15, "the post sent after the reset")

    assert_on_server_once(mastodon_server, delivery_store, posts)
    assert mastodon_server.statuses[0].created_at >= reset
    assert len(mastodon_server.requests) == 2, "one 429, then one request after the reset"


def test_a_connection_dropped_after_the_status_was_created_leaves_one_status(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: StartScheduler,
) -> None:
    mastodon_server.drop_after_create(1)
    start_scheduler(shared_settings)

    posts = apply_soon(delivery_store, mastodon_server, count=1)
    eventually(sent(delivery_store, posts), 15, "the post recorded as sent")

    assert_on_server_once(mastodon_server, delivery_store, posts)
    assert len(mastodon_server.requests) == 2
    assert delivery_store.post(posts[0].id).attempts == 2  # type: ignore[union-attr]
