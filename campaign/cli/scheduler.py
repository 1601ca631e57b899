"""`campaign scheduler`: the scheduler process of the Celery + Redis deployment."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from campaign.cli.common import STORE_NOTE, add_command, settings_of

if TYPE_CHECKING:
    from campaign.cli.common import Commands

log = logging.getLogger("campaign.scheduler")

SCHEDULER_HELP = f"""\
Run the scheduler of the Celery deployment: hand posts to the Celery queue when they are due,
mark posts later than their campaign's max_lateness as missed, and hand out again posts whose
worker was lost. Run one or more next to `celery -A workers worker`; several schedulers never
hand a post out twice. Needs CAMPAIGN_REDIS_URL (for one machine, `campaign run` does it all).
Stops on Ctrl-C or SIGTERM.

example:
  CAMPAIGN_REDIS_URL=redis://localhost:6379/0 campaign scheduler
{STORE_NOTE}"""


def register(commands: Commands) -> None:
    scheduler = add_command(commands, "scheduler", "run the scheduler process", SCHEDULER_HELP)
    scheduler.set_defaults(handler=run_scheduler)


def run_scheduler(args: argparse.Namespace) -> int:
    from workers.app import create_app, send_publish
    from workers.logging import configure
    from workers.scheduler import Scheduler
    from workers.store import open_store

    settings = settings_of(args)
    configure(json_lines=settings.log_json, level=settings.log_level)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    app = create_app(settings)  # needs Redis: says so before anything else is opened
    store = open_store(settings)
    log.info("scheduler started: store %s, queue %s", store.describe(), settings.queue)
    Scheduler(
        store,
        lambda post_id: send_publish(app, post_id),
        settings,
        send_many=lambda post_ids: send_publish(app, post_ids),
    ).run(stop)
    log.info("scheduler stopped")
    store.close()
    return 0
