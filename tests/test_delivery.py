"""End to end: the store, a scheduler and real Celery workers posting to a local Mastodon."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

from campaign.post import Post
from tests.fakes.mastodon import FakeMastodon
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
from workers.store import Scope, State, Store

pytestmark = pytest.mark.slow


def all_in(store: Store, posts: list[Post], *states: State) -> Callable[[], bool]:
    return lambda: all(p.state in states for p in store.posts(posts[0].campaign))


def test_posts_due_in_seconds_arrive_exactly_once_in_their_language_on_time(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: Callable[[Settings], RunningScheduler],
) -> None:
    # Given six posts in three languages, due from two seconds from now, half a second apart
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, datetime.now(UTC) + timedelta(seconds=2), 6, 0.5)
    start_scheduler(shared_settings)

    # When the campaign is applied
    diff.apply(delivery_store, campaign, posts)
    eventually(all_in(delivery_store, posts, State.SENT), 20, "every post sent")

    # Then each post is on the server once, with its exact text and language, on time
    statuses = {s.idempotency_key: s for s in mastodon_server.statuses}
    assert len(mastodon_server.statuses) == len(posts)
    assert statuses.keys() == {p.id for p in posts}
    for post in posts:
        status = statuses[post.id]
        assert (status.text, status.language) == (post.text, post.locale)
        assert delivery_store.post(post.id).url == status.url  # type: ignore[union-attr]
    lateness = [(statuses[p.id].created_at - p.scheduled_at).total_seconds() for p in posts]
    print(
        f"\nlateness over {len(posts)} posts: p50 {statistics.median(lateness):.3f} s, "
        f"max {max(lateness):.3f} s, min {min(lateness):.3f} s"
    )
    assert max(lateness) < 1.0
    assert min(lateness) >= 0.0


def test_posts_due_together_go_a_few_per_task_and_out_once_each(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: Callable[..., RunningScheduler],
) -> None:
    # Given 30 posts all due when applied, and a scheduler that hands out up to 5 per task
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, datetime.now(UTC) - timedelta(seconds=40), 30, 1.0)
    scheduler = start_scheduler(shared_settings.model_copy(update={"publish_batch": 5}),
                                batched=True)  # fmt: skip

    # When the campaign is applied
    diff.apply(delivery_store, campaign, posts)
    eventually(all_in(delivery_store, posts, State.SENT), 30, "every post sent")

    # Then they went to the worker in tasks of several posts, and each is on the server once
    assert sorted(scheduler.handed) == sorted(p.id for p in posts)
    assert max(len(batch) for batch in scheduler.batches) > 1
    assert all(len(batch) <= 5 for batch in scheduler.batches)
    assert sorted(s.idempotency_key or "" for s in mastodon_server.statuses) == sorted(
        p.id for p in posts
    )


def test_pause_stops_posting_within_one_tick_and_resume_sends_the_rest(
    shared_worker: Worker,
    shared_settings: Settings,
    delivery_store: Store,
    mastodon_server: FakeMastodon,
    start_scheduler: Callable[[Settings], RunningScheduler],
) -> None:
    # Given a running campaign whose posts fall due over the next seconds
    campaign = make_campaign(api_url=mastodon_server.url)
    posts = posts_at(campaign, datetime.now(UTC) + timedelta(seconds=1), 3, 2.0)
    start_scheduler(shared_settings)
    diff.apply(delivery_store, campaign, posts)
    eventually(lambda: len(mastodon_server.statuses) == 1, 10, "the first post sent")

    # When it is paused
    delivery_store.pause("spring", Scope(), time.time())
    paused_at = time.time()
    time.sleep(max(0.0, posts[-1].scheduled_at.timestamp() - time.time()) + 1.5)

    # Then nothing more goes out, and the rest waits in the schedule
    assert len(mastodon_server.statuses) == 1
    late = [s for s in mastodon_server.statuses if s.created_at.timestamp() > paused_at]
    assert late == []
    assert [p.state for p in delivery_store.posts("spring")][1:] == [State.SCHEDULED] * 2

    # And after resuming, the rest goes out once each
    delivery_store.resume("spring", Scope(), time.time())
    eventually(all_in(delivery_store, posts, State.SENT), 10, "the rest sent after resume")
    assert sorted(s.idempotency_key or "" for s in mastodon_server.statuses) == sorted(
        p.id for p in posts
    )


def test_a_worker_says_which_store_and_queue_it_serves(
    shared_worker: Worker, shared_settings: Settings
) -> None:
    assert (
        f"worker started: store Redis {shared_settings.redis_url}, keys under "
        f"{shared_settings.key_prefix!r}, queue {shared_settings.queue}" in shared_worker.output()
    )


def test_a_worker_refuses_to_start_against_a_redis_that_can_evict(
    redis_server: RedisServer, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        worker = start_worker(delivery_settings(redis_server, queue="unsafe"), ready=False)
        assert worker.wait_exit() == 1
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")

    assert "refuses to start: Redis has maxmemory-policy 'allkeys-lru'" in worker.output()
