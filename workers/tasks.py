"""The publish task: thin. It finds this process's Publisher, lets it do the work, and tells
Celery (and so Flower) how the attempt ended.

The ledger has already recorded the outcome when the task ends, and the store's schedule owns
every retry, so the task's Celery state is a report, never a request to Celery:

    SUCCESS  sent; or nothing to do (skip, busy, stale) or deferred by our own rules (paused,
             throttled): the result names which
    FAILURE  the post ended failed, unknown or missed: a person must look (PostNotPublished)
    RETRY    this attempt did not publish and the store hands the post out again (retry,
             rate-limited, timeout, store-error); the next attempt is a new task

A FAILURE is an expected exception (`throws`): the worker logs one INFO line, no traceback,
and acknowledges the message (acks_late acks on failure). A RETRY is raised as Celery's Retry
without `Task.retry()`, so nothing is sent to the broker again; the worker acknowledges it too.
"""

from __future__ import annotations

import logging
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
    """Raised by the publish task when its post ended failed, unknown or missed, so that Celery
    marks the task FAILURE; the ledger holds the reason (`campaign status --post ID`)."""


class PublishDeferred(CampaignError):
    """Raised (inside Celery's Retry) when an attempt did not publish and the store will hand
    the post out again; Celery marks the task RETRY without sending it again."""


def report(post_id: str, result: str) -> str:
    """Return `result` when the task succeeded in Celery's terms, else raise what marks it.

    Raises:
        PostNotPublished: the post ended failed, unknown or missed.
        Retry: the attempt did not publish and the store schedules the post again (carries a
            PublishDeferred; never sent to the broker).
    """
    if result in NOT_PUBLISHED:
        raise PostNotPublished(
            f"post {post_id} is {result}: see `campaign status --post {post_id}`"
        )
    if result in AGAIN:
        reason = PublishDeferred(f"post {post_id} not published this time ({result})")
        raise Retry(message=f"{reason}; the schedule hands it out again", exc=reason)
    return result


def publisher_for(app: DeliveryApp) -> Publisher:
    """This process's Publisher, built on first use (after the pool forked)."""
    publisher: Publisher | None = getattr(app, "_publisher", None)
    if publisher is None:
        settings = app.settings
        publisher = Publisher(settings, open_store(settings), middleware.load(settings.middleware))
        app._publisher = publisher
    return publisher


def publish_once(app: DeliveryApp, post_id: str) -> str:
    """Publish one post through this process's Publisher; what happened, as a word."""
    try:
        return publisher_for(app).publish(post_id)
    except StoreError as exc:
        # The post stays queued or sending; the scheduler hands it out again.
        log.error("post=%s not published now: %s", post_id, exc)
        return STORE_ERROR
    except SoftTimeLimitExceeded:
        # The lease outlives the hard limit: a later delivery resends or marks it unknown.
        log.error("post=%s publish ran past the soft time limit", post_id)
        return TIMEOUT


def register(app: DeliveryApp) -> None:
    from workers.app import PUBLISH_TASK

    # `throws`: a post that ended failed is an expected FAILURE, logged without a traceback.
    @app.task(name=PUBLISH_TASK, bind=True, throws=(PostNotPublished,))  # type: ignore[untyped-decorator]
    def publish(self: Any, post_id: str) -> str:
        return report(post_id, publish_once(self.app, post_id))
