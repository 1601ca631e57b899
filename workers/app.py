"""The Celery app, built from Settings by a factory; nothing here reads the environment.

`celery -A workers worker` finds the app in `workers/celery.py`, the one module that builds
`Settings()` from the environment (Celery looks for `workers.app`, then `workers.celery`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from workers.settings import Settings

PUBLISH_TASK = "campaign.publish"


class DeliveryApp(Celery):  # type: ignore[misc]
    """A Celery app that carries the Settings it was built from."""

    settings: Settings


def create_app(settings: Settings) -> DeliveryApp:
    """A Celery app for publishing: late acks, one message at a time, limits below visibility."""
    from workers import tasks

    app = DeliveryApp("campaign", broker=settings.broker, set_as_current=False)
    app.settings = settings
    app.conf.update(
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        # A message is acknowledged after the task returns; a worker killed mid-task gives it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A post that ended failed is a FAILURE (workers/tasks.py), already in the ledger:
        # acknowledge it, never hand the message back for Celery to run again.
        task_acks_on_failure_or_timeout=True,
        # The ack of a task cannot reach a lost broker; the ledger decides what a redelivery does.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        task_default_queue=settings.queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        # Events for Flower.
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
    )
    tasks.register(app)
    return app


def send_publish(app: Celery, post_id: str | list[str], **options: Any) -> None:
    """Hand one post, or a few published one after another, to the queue (never with an ETA:
    the store holds the schedule)."""
    app.send_task(PUBLISH_TASK, args=[post_id], queue=app.conf.task_default_queue, **options)
