"""The publish task: thin. It finds this process's Publisher, lets it publish the task's posts
(one, or several handed out together), and tells Celery (and so Flower) how they ended.

The ledger has already recorded each outcome when the task ends, and the store's schedule owns
every retry, so the task's Celery state is a report, never a request to Celery:

    SUCCESS  every post sent; or nothing to do (skip, busy, stale) or deferred by our own rules
             (paused, throttled): the result names what happened to each
    FAILURE  a post ended failed, unknown or missed: a person must look (PostNotPublished
             names the posts)
    RETRY    an attempt did not publish and the store hands the post out again (retry,
             rate-limited, timeout, store-error); the next attempt is a new task

A FAILURE is an expected exception (`throws`): the worker logs one INFO line, no traceback,
and acknowledges the message (acks_late acks on failure). A RETRY is raised as Celery's Retry
without `Task.retry()`, so nothing is sent to the broker again; the worker acknowledges it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery.exceptions import Retry, SoftTimeLimitExceeded

from campaign.errors import CampaignError, StoreError
from workers import middleware
from workers.publish import Publisher
from workers.store import State, open_store

if TYPE_CHECKING:
    from workers.app import DeliveryApp

log = logging.getLogger(__name__)

# What Publisher.publish (and this task) return besides the states and claim verdicts.
STORE_ERROR = "store-error"
TIMEOUT = "timeout"
# Final states a person must look at.
NOT_PUBLISHED = frozenset({State.FAILED, State.UNKNOWN, State.MISSED})
# The attempt did not publish; the store schedules the post again.
AGAIN = frozenset({"retry", "rate-limited", TIMEOUT, STORE_ERROR})


class PostNotPublished(CampaignError):
    """Raised by the publish task when a post ended failed, unknown or missed, so that Celery
    marks the task FAILURE; the ledger holds the reason (`campaign status --post ID`)."""


class PublishDeferred(CampaignError):
    """Raised (inside Celery's Retry) when an attempt did not publish and the store will hand
    the post out again; Celery marks the task RETRY without sending it again."""


def report(results: Sequence[tuple[str, str]]) -> str:
    """Return what happened to each post when the task succeeded in Celery's terms, else raise
    what marks it.

    Raises:
        PostNotPublished: a post ended failed, unknown or missed.
        Retry: an attempt did not publish and the store schedules its post again (carries a
            PublishDeferred; never sent to the broker).
    """
    troubled = [(post_id, result) for post_id, result in results if result in NOT_PUBLISHED]
    if troubled:
        posts = ", ".join(f"{post_id} is {result}" for post_id, result in troubled)
        first = troubled[0][0]
        raise PostNotPublished(f"post {posts}: see `campaign status --post {first}`")
    again = [post_id for post_id, result in results if result in AGAIN]
    if again:
        reason = PublishDeferred(f"post {', '.join(again)} not published this time")
        raise Retry(message=f"{reason}; the schedule hands it out again", exc=reason)
    return ", ".join(result for _, result in results)


def publisher_for(app: DeliveryApp) -> Publisher:
    """This process's Publisher, built on first use (after the pool forked)."""
    publisher: Publisher | None = getattr(app, "_publisher", None)
    if publisher is None:
        settings = app.settings
        publisher = Publisher(settings, open_store(settings), middleware.load(settings.middleware))
        app._publisher = publisher
    return publisher


def publish_all(app: DeliveryApp, post_ids: list[str]) -> list[tuple[str, str]]:
    """Publish the posts one after another, stopping in time for the soft limit (the rest goes
    back to the queue as a new task at once); what happened to each, as words."""
    from workers.app import send_publish

    deadline = time.monotonic() + app.settings.task_soft_time_limit
    try:
        done, rest = publisher_for(app).publish_many(post_ids, deadline=deadline)
    except StoreError as exc:
        # The posts stay queued or sending; the scheduler hands them out again.
        log.error("post=%s not published now: %s", ",".join(post_ids), exc)
        return [(post_id, STORE_ERROR) for post_id in post_ids]
    except SoftTimeLimitExceeded:
        # The lease outlives the hard limit: a later delivery resends or marks it unknown.
        log.error("post=%s publish ran past the soft time limit", ",".join(post_ids))
        return [(post_id, TIMEOUT) for post_id in post_ids]
    if rest:
        send_publish(app, rest)
    return done


def register(app: DeliveryApp) -> None:
    from workers.app import PUBLISH_TASK

    # `throws`: a post that ended failed is an expected FAILURE, logged without a traceback.
    @app.task(name=PUBLISH_TASK, bind=True, throws=(PostNotPublished,))  # type: ignore[untyped-decorator]
    def publish(self: Any, post_id: str | list[str]) -> str:
        ids = [post_id] if isinstance(post_id, str) else list(post_id)
        return report(publish_all(self.app, ids))
