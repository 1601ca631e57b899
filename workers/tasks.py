"""The publish task: thin. It finds this process's Publisher and lets it do the work."""

from __future__ import annotations

import logging
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
    from workers.app import PUBLISH_TASK

    @app.task(name=PUBLISH_TASK, bind=True)  # type: ignore[untyped-decorator]
    def publish(self: Any, post_id: str) -> str:
        try:
            return publisher_for(self.app).publish(post_id)
        except StoreError as exc:
            # The post stays queued or sending; the scheduler hands it out again.
            log.error("post=%s not published now: %s", post_id, exc)
            return "store-error"
        except SoftTimeLimitExceeded:
            # The lease outlives the hard limit: a later delivery resends or marks it unknown.
            log.error("post=%s publish ran past the soft time limit", post_id)
            return "timeout"
