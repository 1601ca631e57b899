"""Entry point of `celery -A workers worker`: the one place the app is built from the environment.

Celery resolves `-A workers` by importing the package, then `workers.celery`, and takes its `app`.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from workers.app import create_app
from workers.logging import configure
from workers.settings import load_settings

settings = load_settings()
app = create_app(settings)


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _logging(**_: Any) -> None:
    configure(json_lines=settings.log_json, level=settings.log_level)
