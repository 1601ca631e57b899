"""The publish task: thin. It finds this process's Publisher and lets it do the work."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded

from campaign.errors import StoreError
from workers import middleware
from workers.publish import Publisher
from workers.store import open_store

if TYPE_CHECKING:
    from workers.app import DeliveryApp

log = logging.getLogger(__name__)


def publisher_for(app: DeliveryApp) -> Publisher:
    """This process's Publisher, built on first use (after the pool forked)."""
    publisher: Publisher | None = getattr(app, "_publisher", None)
    if publisher is None:
        settings = app.settings
        publisher = Publisher(settings, open_store(settings), middleware.load(settings.middleware))
        app._publisher = publisher
    return publisher


def register(app: DeliveryApp) -> None:
    from workers.app import PUBLISH_TASK, send_publish

    @app.task(name=PUBLISH_TASK, bind=True)  # type: ignore[untyped-decorator]
    def publish(self: Any, post_id: str | list[str]) -> str:
        # One post, or several handed out together (published one after another, stopping in
        # time for the soft limit; the rest goes back to the queue as a new task at once).
        ids = [post_id] if isinstance(post_id, str) else list(post_id)
        deadline = time.monotonic() + self.app.settings.task_soft_time_limit
        try:
            done, rest = publisher_for(self.app).publish_many(ids, deadline=deadline)
        except StoreError as exc:
            # The posts stay queued or sending; the scheduler hands them out again.
            log.error("post=%s not published now: %s", ",".join(ids), exc)
            return "store-error"
        except SoftTimeLimitExceeded:
            # The lease outlives the hard limit: a later delivery resends or marks it unknown.
            log.error("post=%s publish ran past the soft time limit", ",".join(ids))
            return "timeout"
        if rest:
            send_publish(self.app, rest)
        return ", ".join(result for _, result in done)
