"""Faults: workers killed with SIGKILL at each point of a publish, two schedulers, a Redis crash,
a 429 storm and a dropped connection. Nothing is posted twice and nothing is lost."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from campaign.post import Post
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.webhook import DEFAULT_SECRET, FakeWebhook
from tests.fixtures.celery import (
    DOCUMENTED_WORKER,
    ROOT,
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


def worker_commands(document: str) -> list[str]:
    """Every `celery -A workers worker` command with options in a document, spaces normalised
    (up to a shell redirection or `&` that follows it: those are not the worker's options)."""
    path = ROOT / document
    if path.suffix == ".yml":
        return [" ".join(yaml.safe_load(path.read_text())["services"]["worker"]["command"].split())]
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"celery -A workers worker --[^`\n<>&|;]*", text)
    return [" ".join(command.split()) for command in found]


@pytest.mark.parametrize("document", ["README.md", "docs/delivery.md", "docker-compose.yml"])
def test_the_workers_of_these_tests_run_the_command_users_are_told_to_run(document: str) -> None:
    commands = worker_commands(document)

    assert commands, f"{document} shows no worker command"
    assert set(commands) == {DOCUMENTED_WORKER}, f"{document} and tests/fixtures/celery.py differ"


def soon(seconds: float = 0.5) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def sent(store: Store, posts: list[Post]) -> Callable[[], bool]:
    return lambda: all(p.state is State.SENT for p in store.posts(posts[0].campaign))


def assert_on_server_once(server: FakeMastodon, store: Store, posts: list[Post]) -> None:
    keys = [s.idempotency_key or "" for s in server.statuses]
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
    # Given a worker that SIGKILLs itself at an exact point of publishing (solo: the whole
    # worker dies, not one pool process that its parent would replace)
    settings = delivery_settings(redis_server, queue=f"kill-{statuses_left_behind}")
    doomed = start_worker(settings.model_copy(update={"middleware": [killer]}), pool="solo")
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
    doomed = start_worker(killer, pool="solo", WEBHOOK_SECRET=DEFAULT_SECRET)
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


def test_redis_killed_under_two_workers_with_tasks_in_flight_loses_nothing_and_no_worker(
    redis_server: RedisServer,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_worker: StartWorker,
    start_scheduler: StartScheduler,
) -> None:
    # Given two workers run as the README says, and posts falling due over the next seconds
    # to a server that holds its answers, so tasks are in flight and unacknowledged
    settings = delivery_settings(redis_server, queue="redis-restart")
    workers = [start_worker(settings), start_worker(settings)]
    start_scheduler(settings)
    mastodon_server.hold()
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, soon(1.0), 8, 0.4)
    diff.apply(delivery_store, campaign, posts)

    # When Redis is SIGKILLed with more tasks in flight than one worker's pool can hold
    # (so both workers have some), some posts still due, and restarted from its AOF
    eventually(lambda: len(mastodon_server.requests) >= 3, 10, "three publishes in flight")
    down_at = time.time()
    redis_server.kill()
    time.sleep(1.0)
    redis_server.start()
    up_at = time.time()
    mastodon_server.release()

    # Then both workers live on, and every post goes out exactly once, also those due while
    # Redis was down
    def sent_with_both_workers_alive() -> bool:
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited:\n{worker.output()[-3000:]}"
        return sent(delivery_store, posts)()

    assert any(down_at <= p.scheduled_at.timestamp() <= up_at for p in posts)
    eventually(sent_with_both_workers_alive, 40, "every post sent after the restart")
    assert_on_server_once(mastodon_server, delivery_store, posts)
    assert any(s.created_at.timestamp() > up_at for s in mastodon_server.statuses)
    assert sent_with_both_workers_alive()


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


def test_a_post_that_may_be_out_and_then_meets_only_server_errors_ends_unknown(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: StartScheduler,
) -> None:
    # Given a server that creates the status but drops the answer, then fails every retry
    mastodon_server.drop_after_create(1)
    start_scheduler(shared_settings)
    (post,) = apply_soon(delivery_store, mastodon_server, count=1)
    eventually(lambda: len(mastodon_server.statuses) == 1, 15, "the status created")
    for _ in range(shared_settings.max_attempts):
        mastodon_server.fail_next(502)

    # When the post is retried until the publisher gives up
    eventually(
        lambda: delivery_store.post(post.id).state is State.UNKNOWN,  # type: ignore[union-attr]
        30,
        "the post given up",
    )

    # Then it is unknown, never failed "worth retrying": the status is on the server
    assert len(mastodon_server.statuses) == 1
    stored = delivery_store.post(post.id)
    assert stored is not None
    assert stored.attempts == shared_settings.max_attempts
    assert "check the platform" in (stored.error or "")


def test_a_worker_killed_in_the_middle_of_a_group_of_posts_loses_none(
    redis_server: RedisServer,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_worker: StartWorker,
    start_scheduler: StartScheduler,
) -> None:
    # Given twenty posts due (a moment ago) when the scheduler starts, handed out a few per
    # task as `campaign scheduler` does, and a worker that dies after the platform answered
    # its first one
    settings = delivery_settings(redis_server, queue="kill-group", publish_batch=5)
    doomed = start_worker(
        settings.model_copy(update={"middleware": ["tests.fixtures.killers:KillAfterPublish"]}),
        pool="solo",
    )
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, soon(-25.0), 20, 1.0)
    diff.apply(delivery_store, campaign, posts)
    scheduler = start_scheduler(settings)
    assert doomed.wait_exit() == KILLED
    assert any(len(group) > 1 for group in scheduler.batches)

    # When a new worker takes over
    start_worker(settings)

    # Then every post is on the server once: the one whose answer died with the worker was
    # resent under its Idempotency-Key, the rest of its group was handed out again
    eventually(sent(delivery_store, posts), 30, "every post sent")
    assert_on_server_once(mastodon_server, delivery_store, posts)
