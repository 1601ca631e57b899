"""Entry point of `celery -A workers worker`: the one place the app is built from the environment.

Celery resolves `-A workers` by importing the package, then `workers.celery`, and takes its `app`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from campaign.errors import ConfigurationError, StoreError
from workers.app import create_app
from workers.logging import configure
from workers.platforms.base import load_all
from workers.settings import load_settings
from workers.store import open_store

log = logging.getLogger("campaign.worker")

try:
    settings = load_settings()
    app = create_app(settings)
except ConfigurationError as exc:  # e.g. no CAMPAIGN_REDIS_URL: say so, not a traceback
    raise SystemExit(f"error: {exc}") from None
load_all()  # here, in the parent: every pool process forks with the clients' modules loaded


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _logging(**_: Any) -> None:
    configure(json_lines=settings.log_json, level=settings.log_level)


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_an_unsafe_store(**_: Any) -> None:
    """Stop the worker at start-up when Redis could evict the ledger or cannot be reached."""
    try:
        store = open_store(settings)
    except StoreError as exc:
        # Celery logs and ignores exceptions from signal handlers; SystemExit gets through.
        raise SystemExit(f"error: the worker refuses to start: {exc}") from exc
    store.close()


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _ready_to_publish(**_: Any) -> None:
    """Build this pool process's Publisher (its store connection, the middleware) before the pool
    hands it a task, not inside its first task's time limit."""
    from workers.tasks import publisher_for

    try:
        publisher_for(app)
    except StoreError as exc:  # the first task tries again, and says so in its own log line
        log.warning("pool process not ready to publish: %s", exc)


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _started(**_: Any) -> None:
    # Once logging is set up (worker_init comes before it).
    store = open_store(settings)
    log.info("worker started: store %s, queue %s", store.describe(), settings.queue)
    store.close()


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stopped(**_: Any) -> None:
    log.info("worker stopped")
