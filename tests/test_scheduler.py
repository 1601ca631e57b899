"""The scheduler loop against each store, with a recording queue and a controlled clock."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaign.errors import StoreError
from tests.fixtures.plans import make_campaign, make_post, posts_at
from workers import diff
from workers.scheduler import Scheduler, batches
from workers.settings import Settings
from workers.store import State, Store
from workers.store.redis import RedisStore

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = Settings.model_validate(
    {"scheduler_tick": 1.0, "scheduler_batch": 3, "requeue_after": 30}
)


class Queue:
    """Records hand-offs; can be told to fail like a broker that is down."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False

    def __call__(self, post_id: str) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append(post_id)


def scheduler(store: Store, queue: Queue, at: datetime, settings: Settings = SETTINGS) -> Scheduler:
    return Scheduler(store, queue, settings, clock=lambda: at.timestamp())


def test_after_downtime_it_catches_up_and_marks_posts_past_max_lateness_missed(
    store: Store,
) -> None:
    # Given a scheduler that was down for two hours
    campaign = make_campaign(max_lateness=timedelta(hours=1))
    too_late = make_post(campaign, NOW - timedelta(hours=2))
    late = make_post(campaign, NOW - timedelta(minutes=10))
    future = make_post(campaign, NOW + timedelta(minutes=10))
    diff.apply(store, campaign, [too_late, late, future])
    queue = Queue()

    # When it runs again
    scheduler(store, queue, NOW).run_once()

    # Then the late post is handed out, the one past max_lateness is missed, the future one waits
    assert queue.sent == [late.id]
    states = {p.id: p.state for p in store.posts("spring")}
    assert states == {too_late.id: State.MISSED, late.id: State.QUEUED, future.id: State.SCHEDULED}


def test_it_sleeps_until_the_next_post_is_due_but_never_longer_than_a_tick(store: Store) -> None:
    campaign = make_campaign()
    diff.apply(store, campaign, [make_post(campaign, NOW + timedelta(seconds=30))])

    assert scheduler(store, Queue(), NOW).run_once() == SETTINGS.scheduler_tick
    soon = NOW + timedelta(seconds=29.7)
    assert scheduler(store, Queue(), soon).run_once() == pytest.approx(0.3)


def test_a_full_batch_makes_it_run_again_at_once(store: Store) -> None:
    campaign = make_campaign()
    diff.apply(store, campaign, posts_at(campaign, NOW - timedelta(seconds=10), 5, 1))
    queue = Queue()
    loop = scheduler(store, queue, NOW)

    assert loop.run_once() == 0.0
    loop.run_once()

    assert len(queue.sent) == 5


def test_a_hand_off_lost_by_the_broker_is_sent_again_after_requeue_after(store: Store) -> None:
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(store, campaign, [post])
    queue = Queue()
    queue.down = True

    scheduler(store, queue, NOW).run_once()
    queue.down = False
    scheduler(store, queue, NOW + timedelta(seconds=10)).run_once()
    assert queue.sent == []
    scheduler(store, queue, NOW + timedelta(seconds=31)).run_once()

    assert queue.sent == [post.id]
    assert store.post(post.id).state is State.QUEUED  # type: ignore[union-attr]


def test_a_post_sending_past_its_lease_is_handed_out_again(store: Store) -> None:
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(store, campaign, [post])
    queue = Queue()
    scheduler(store, queue, NOW).run_once()
    store.claim(post.id, NOW.timestamp(), owner="w1", lease=60, resend={})

    scheduler(store, queue, NOW + timedelta(seconds=59)).run_once()
    scheduler(store, queue, NOW + timedelta(seconds=61)).run_once()

    assert queue.sent == [post.id, post.id]


def test_the_loop_outlives_a_redis_that_is_down() -> None:
    client = redis.Redis(port=1, socket_connect_timeout=0.1, retry=Retry(NoBackoff(), 0))
    dead = RedisStore(client, "x:")
    stop = threading.Event()
    loop = Scheduler(dead, Queue(), Settings.model_validate({"scheduler_tick": 0.05}))
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)

    assert not thread.is_alive()


class OnePassStore:
    """A store with nothing due that stops the loop after one pass; `down` fails that pass."""

    def __init__(self, stop: threading.Event, *, down: bool = False) -> None:
        self.stop = stop
        self.down = down

    def hand_out_due(self, now: float, **_: object) -> list[object]:
        if self.down:
            self.stop.set()
            raise StoreError("Redis is unreachable")
        return []

    def reclaim(self, now: float, **_: object) -> list[object]:
        return []

    def next_wakeup(self) -> float | None:
        return None

    def wait(self, seconds: float) -> None:
        self.stop.set()


def run_one_pass(heartbeat: Path, *, down: bool = False) -> None:
    stop = threading.Event()
    store = OnePassStore(stop, down=down)
    settings = Settings.model_validate({"scheduler_heartbeat": heartbeat})
    Scheduler(store, Queue(), settings).run(stop)  # type: ignore[arg-type]


def test_each_pass_touches_the_heartbeat_file(tmp_path: Path) -> None:
    # Given a heartbeat file last touched long ago
    heartbeat = tmp_path / "scheduler.alive"
    heartbeat.touch()
    os.utime(heartbeat, (0, 0))

    # When the scheduler makes a pass
    run_one_pass(heartbeat)

    # Then the file is new again, for a healthcheck reading its age
    assert heartbeat.stat().st_mtime > 0


def test_a_pass_that_cannot_reach_the_store_leaves_the_heartbeat_to_age(tmp_path: Path) -> None:
    heartbeat = tmp_path / "scheduler.alive"
    heartbeat.touch()
    os.utime(heartbeat, (0, 0))

    run_one_pass(heartbeat, down=True)

    assert heartbeat.stat().st_mtime == 0


def test_a_heartbeat_that_cannot_be_written_is_a_warning_not_a_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_one_pass(tmp_path / "missing" / "scheduler.alive")

    assert "cannot touch the heartbeat file" in caplog.text


def test_posts_due_together_are_handed_out_a_few_per_task_over_several_tasks(
    store: Store,
) -> None:
    # Given twenty posts due, and a queue that takes several posts per task
    campaign = make_campaign()
    posts = posts_at(campaign, NOW - timedelta(seconds=30), 20, 1.0)
    diff.apply(store, campaign, posts)
    groups: list[list[str]] = []
    settings = SETTINGS.model_copy(update={"scheduler_batch": 100, "publish_batch": 3})

    # When a scheduler passes
    Scheduler(store, Queue(), settings, clock=NOW.timestamp, send_many=groups.append).run_once()

    # Then each post is handed out once, at most three per task, over at least eight tasks
    assert sorted(i for group in groups for i in group) == sorted(p.id for p in posts)
    assert max(len(group) for group in groups) <= 3
    assert len(groups) >= 8


def test_batches_spread_a_few_posts_over_one_task_each() -> None:
    assert batches(["a", "b", "c"], 10) == [["a"], ["b"], ["c"]]
    assert [len(group) for group in batches([str(n) for n in range(100)], 10)] == [10] * 10
