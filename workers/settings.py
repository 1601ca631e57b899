"""Delivery settings: one typed object, read from `CAMPAIGN_*` variables and `.env`, built once.

Nothing in `workers` reads the environment at import time; a process builds `Settings()` at its
entry point (the Celery app module, the CLI) and passes it down.
"""

from __future__ import annotations

import os
from difflib import get_close_matches
from pathlib import Path
from typing import Literal, Self

from dotenv import dotenv_values
from pydantic import Field, RedisDsn, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign.errors import ConfigurationError

PREFIX = "CAMPAIGN_"
DATABASE_FILE = "campaign.db"
ENV_FILE = ".env"


def default_data_dir() -> Path:
    """Where the embedded store lives by default: the user's data folder (XDG), so every
    terminal of the same user finds the same store wherever it runs."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "campaign-scheduler"


class Settings(BaseSettings):
    """Everything the store, the scheduler and the workers need to agree on."""

    model_config = SettingsConfigDict(
        # .env also holds the credentials campaign files name; unknown CAMPAIGN_* names are
        # rejected by load_settings() instead.
        env_prefix=PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    # The store of record (plan and ledger): the embedded SQLite file in `data_dir`, unless a
    # Redis is named (then Celery workers publish, and the broker defaults to the same server).
    data_dir: Path = Field(default_factory=default_data_dir)
    redis_url: RedisDsn | None = None
    broker_url: RedisDsn | None = None
    # Every key of the store starts with this, so one Redis can hold several installations.
    key_prefix: str = Field(default="campaign:", min_length=1)
    queue: str = "campaign.publish"

    # Broker redelivery of an unacknowledged task (kombu's visibility_timeout), in seconds.
    visibility_timeout: int = Field(default=3600, gt=0)
    # A publish task is warned at the soft limit and killed at the hard limit.
    task_soft_time_limit: float = Field(default=60.0, gt=0)
    task_time_limit: float = Field(default=90.0, gt=0)
    # Platform client timeouts; a read timeout makes the outcome unknown.
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    # How long a claimed post belongs to its worker; after that the scheduler hands it out again.
    lease_seconds: float | None = Field(default=None, gt=0)
    # A post queued but not claimed for this long is handed to the queue again.
    requeue_after: float = Field(default=60.0, gt=0)

    max_attempts: int = Field(default=5, gt=0)
    backoff_base: float = Field(default=2.0, gt=0)
    backoff_max: float = Field(default=600.0, gt=0)
    # How long after a first attempt a post may be resent with the same idempotency key, when a
    # server keeps keys for less than its platform documents (Mastodon: one hour); unset, each
    # platform's own window is used.
    idempotency_window: float | None = Field(default=None, gt=0)

    # The scheduler sleeps until the next due post, but never longer than this.
    scheduler_tick: float = Field(default=1.0, gt=0)
    scheduler_batch: int = Field(default=100, gt=0)
    # A file the scheduler touches after every pass, for a healthcheck to read its age.
    scheduler_heartbeat: Path | None = None
    # Posts a scheduler hands to one publish task when many are due at once: a worker
    # publishes them one after another, paying Celery's own cost per task once for all of them
    # (1: one task per post).
    publish_batch: int = Field(default=10, gt=0)

    # Let channels that cannot resend safely (webhook, Telegram) post through a store whose
    # machine can lose the last claims in a crash (Redis without appendfsync always): such a
    # crash may then send those posts twice.
    accept_claim_loss: bool = False

    log_json: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # The .env file read (found by load_settings: this folder or the nearest one above).
    env_file: Path | None = None
    # Dotted paths ("package.module:Class") of publish middleware, run in order.
    middleware: list[str] = Field(default_factory=list)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _limits_fit(self) -> Self:
        if not self.task_soft_time_limit < self.task_time_limit < self.visibility_timeout:
            raise ValueError(
                "expected task_soft_time_limit < task_time_limit < visibility_timeout, got "
                f"{self.task_soft_time_limit} / {self.task_time_limit} / {self.visibility_timeout}"
            )
        if self.connect_timeout + self.read_timeout >= self.task_soft_time_limit:
            raise ValueError(
                "connect_timeout + read_timeout must stay below task_soft_time_limit so a slow "
                "platform ends in a recorded outcome, not a killed task"
            )
        if self.lease_seconds is not None and self.lease_seconds <= self.task_time_limit:
            raise ValueError("lease_seconds must be longer than task_time_limit")
        return self

    @property
    def lease(self) -> float:
        """Seconds a claim lasts: past the hard time limit, so a live task never loses its post."""
        if self.lease_seconds is not None:
            return self.lease_seconds
        return self.task_time_limit + 30.0

    @property
    def broker(self) -> str:
        """Celery's broker: `broker_url`, else the store's Redis.

        Raises:
            ConfigurationError: neither is set (Celery needs Redis; `campaign run` does not).
        """
        url = self.broker_url or self.redis_url
        if url is None:
            raise ConfigurationError(
                "Celery workers and `campaign scheduler` need Redis: set CAMPAIGN_REDIS_URL "
                "(e.g. redis://localhost:6379/0), or use `campaign run` with the embedded store"
            )
        return str(url)

    @property
    def database_path(self) -> Path:
        """The embedded store's file."""
        return self.data_dir / DATABASE_FILE


def find_env_file(start: Path | None = None) -> Path | None:
    """The `.env` of this folder or of the nearest folder above it, as tools like docker
    compose and python-dotenv find it; None when there is none."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / ENV_FILE
        if path.is_file():
            return path
    return None


def load_settings(env_file: Path | str | None = None) -> Settings:
    """Settings from the environment and a `.env` file; an unknown `CAMPAIGN_*` name is an error.

    The file is `env_file` when given, else CAMPAIGN_ENV_FILE, else the first `.env` found from
    the working folder upwards.

    Raises:
        ConfigurationError: the named file is missing, or a `CAMPAIGN_*` name is unknown, or a
            value is invalid.
    """
    named = env_file or os.environ.get(f"{PREFIX}ENV_FILE")
    path = Path(named) if named else find_env_file()
    if named and not Path(named).is_file():
        raise ConfigurationError(f"the settings file {named} does not exist")
    names = set(os.environ)
    if path is not None:
        names |= set(dotenv_values(path))
    known = {f"{PREFIX}{field.upper()}" for field in Settings.model_fields}
    unknown = sorted(n for n in names if n.upper().startswith(PREFIX) and n.upper() not in known)
    if unknown:
        hints = [
            f"{name} (did you mean {', '.join(close)}?)" if close else name
            for name in unknown
            for close in [get_close_matches(name.upper(), sorted(known), n=1)]
        ]
        raise ConfigurationError(f"unknown settings: {'; '.join(hints)}")
    try:
        return Settings(_env_file=path, env_file=path)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            if error["loc"]
            else error["msg"]
            for error in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from exc
