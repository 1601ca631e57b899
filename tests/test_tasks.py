"""The publish task as Celery and Flower see it: a failed post is a failed task, a retried one a
RETRY, and neither is retried or redelivered by Celery (the store's schedule owns retries)."""

from __future__ import annotations

import ast
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.exceptions import Retry

from tests.fakes.mastodon import FakeMastodon
from tests.fakes.webhook import DEFAULT_SECRET, FakeWebhook
from tests.fixtures.celery import (
    RunningScheduler,
    StartWorker,
    delivery_settings,
    eventually,
)
from tests.fixtures.plans import make_campaign, posts_at
from tests.fixtures.redis import BROKER_DB, RedisServer
from workers import diff
from workers.app import create_app
from workers.settings import Settings
from workers.store import State, Store, Verdict
from workers.tasks import STORE_ERROR, TIMEOUT, PostNotPublished, PublishDeferred, report

# What Flower shows for every word the publish task can end with.
SHOWN_AS = {
    State.SENT: "SUCCESS",
    State.FAILED: "FAILURE",
    State.UNKNOWN: "FAILURE",
    State.MISSED: "FAILURE",
    # claim verdicts that do not publish: nothing to do, or deferred by our own rules
    Verdict.SKIP: "SUCCESS",
    Verdict.BUSY: "SUCCESS",
    Verdict.PAUSED: "SUCCESS",
    Verdict.THROTTLED: "SUCCESS",
    "stale": "SUCCESS",
    # the attempt did not publish; the store's schedule hands the post out again
    "retry": "RETRY",
    "rate-limited": "RETRY",
    TIMEOUT: "RETRY",
    STORE_ERROR: "RETRY",
}


def shown_as(result: str) -> str:
    try:
        report([("p1", result)])
    except PostNotPublished:
        return "FAILURE"
    except Retry as retry:
        return "RETRY" if isinstance(retry.exc, PublishDeferred) else "RETRY without a reason"
    return "SUCCESS"


@pytest.mark.parametrize(("result", "state"), SHOWN_AS.items())
def test_each_outcome_maps_to_the_celery_state_flower_shows(result: str, state: str) -> None:
    assert shown_as(result) == state


def test_every_state_and_verdict_has_a_celery_state() -> None:
    # Verdicts that publish (claimed, resend) end in a state; the rest end the task themselves.
    words = {*State, *(v for v in Verdict if v not in (Verdict.CLAIMED, Verdict.RESEND))}
    unlisted = {str(w) for w in words} - {str(w) for w in SHOWN_AS}
    # Scheduled, queued, sending and cancelled are never the end of a publish.
    assert unlisted == {"scheduled", "queued", "sending", "cancelled"}


def test_a_failed_post_names_the_command_that_shows_why() -> None:
    with pytest.raises(
        PostNotPublished, match=r"post p1 is failed: see `campaign status --post p1`"
    ):
        report([("p1", "failed")])


def test_a_task_of_several_posts_fails_when_one_of_them_failed() -> None:
    # Given a task whose second post ended unknown and whose third is to be retried
    results = [("p1", "sent"), ("p2", "unknown"), ("p3", "retry")]

    # Then Flower shows it failed, naming the post a person must look at
    with pytest.raises(PostNotPublished, match=r"post p2 is unknown: see"):
        report(results)
    assert report([("p1", "sent"), ("p2", "busy")]) == "sent, busy"


class FlowerView:
    """What Flower sees: every event on the broker, folded into Celery's own event State."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.state = self.app.events.State()
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.connection = self.app.connection_for_read()
        self.receiver = self.app.events.Receiver(self.connection, handlers={"*": self._on_event})
        self.thread = threading.Thread(target=self.receiver.capture, daemon=True)
        self.thread.start()

    def _on_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.state.event(event)
            self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["type"] == kind]

    def tasks_of(self, post_id: str) -> list[Any]:
        """The tasks that carried `post_id`, in the order workers received them."""
        with self.lock:
            tasks = [
                task
                for task in self.state.tasks.values()
                if task.args and ast.literal_eval(task.args) == [post_id] and task.received
            ]
        return sorted(tasks, key=lambda task: task.received)

    def states_of(self, post_id: str) -> list[str]:
        return [task.state for task in self.tasks_of(post_id)]

    def close(self) -> None:
        self.receiver.should_stop = True
        self.thread.join(timeout=10)
        self.connection.release()
        self.app.close()


@pytest.fixture
def flower_view() -> Iterator[Callable[[Settings], FlowerView]]:
    opened: list[FlowerView] = []

    def create(settings: Settings) -> FlowerView:
        view = FlowerView(settings)
        opened.append(view)
        return view

    yield create
    for view in opened:
        view.close()


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=0.5)


@pytest.mark.slow
def test_flower_sees_failed_and_unknown_posts_as_failed_tasks_and_celery_never_resends_them(
    redis_server: RedisServer,
    delivery_store: Store,
    make_mastodon_server: Callable[..., FakeMastodon],
    webhook_server: FakeWebhook,
    start_worker: StartWorker,
    start_scheduler: Callable[[Settings], RunningScheduler],
    flower_view: Callable[[Settings], FlowerView],
) -> None:
    # Given a documented worker, and Flower's view of the events it sends
    settings = delivery_settings(redis_server, queue="flower")
    worker = start_worker(settings, WEBHOOK_SECRET=DEFAULT_SECRET)
    view = flower_view(settings)
    eventually(lambda: bool(view.of_type("worker-heartbeat")), 10, "the worker's heartbeat seen")
    start_scheduler(settings)

    # And four posts: one that goes out, one the platform refuses, one whose answer is lost on
    # a receiver that cannot take a resend, one that meets a passing 503 first
    fine, refusing, flaky = (make_mastodon_server() for _ in range(3))
    refusing.fail_next(422, {"error": "Validation failed: Text character limit exceeded"})
    flaky.fail_next(503)
    webhook_server.drop_after_create()
    campaigns = {
        "sent": make_campaign("fine", api_url=fine.url),
        "failed": make_campaign("refusing", api_url=refusing.url),
        "retried": make_campaign("flaky", api_url=flaky.url),
        "unknown": make_campaign(
            "hook",
            api_url=f"{webhook_server.url}/hook",
            credentials="WEBHOOK_SECRET",
            platform="webhook",
        ),
    }
    posts = {}
    for outcome, campaign in campaigns.items():
        (posts[outcome],) = posts_at(campaign, soon(), 1, 1)
        diff.apply(delivery_store, campaign, [posts[outcome]])

    # When the worker has published them
    expected = {
        "sent": ["SUCCESS"],
        "failed": ["FAILURE"],
        "unknown": ["FAILURE"],
        "retried": ["RETRY", "SUCCESS"],
    }
    eventually(
        lambda: {o: view.states_of(p.id) for o, p in posts.items()} == expected,
        20,
        f"tasks in these states: {expected}",
    )

    # Then the ledger agrees with what Flower shows
    ledger = {o: delivery_store.post(p.id).state for o, p in posts.items()}  # type: ignore[union-attr]
    assert ledger == {
        "sent": State.SENT,
        "failed": State.FAILED,
        "unknown": State.UNKNOWN,
        "retried": State.SENT,
    }
    # And a failed task says why in Flower, and what to run
    (failed,) = view.tasks_of(posts["failed"].id)
    assert "PostNotPublished" in failed.exception
    assert f"campaign status --post {posts['failed'].id}" in failed.exception
    (retried, _) = view.tasks_of(posts["retried"].id)
    assert "PublishDeferred" in retried.exception
    # And Celery redelivered nothing: each task received once, every message acknowledged
    received = Counter(e["uuid"] for e in view.of_type("task-received"))
    assert set(received.values()) == {1}
    assert len(received) == 5
    assert view.of_type("task-rejected") == []
    broker = redis_server.client(BROKER_DB)
    eventually(lambda: broker.hlen("unacked") == 0, 5, "every message acknowledged")
    assert broker.llen("flower") == 0
    # And the expected failures are one INFO line each in the worker's log, no traceback
    log = worker.output()
    assert "Traceback" not in log
    assert "raised unexpected" not in log
    assert log.count("raised expected: PostNotPublished") == 2
