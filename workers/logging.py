"""Delivery logs: one line per state change (post id, channel, state), plain or JSON, redacted.

Secrets never reach a log line: every value registered with `redact()` (the credentials a worker
resolved) and anything that looks like a bearer token or a Telegram bot token is masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("campaign.delivery")

MASK = "[redacted]"
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"),
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(secret: str | None) -> None:
    """Mask `secret` in every log line this process writes from now on."""
    if secret and len(secret) >= 4:
        with _secrets_lock:
            _secrets.add(secret)


def scrub(text: str) -> str:
    """`text` with every known secret and token-shaped value masked."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Plain text lines, with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, ensure_ascii=False, default=str))


def configure(*, json_lines: bool, level: str = "INFO", path: Path | None = None) -> None:
    """Send the delivery logs to stderr (or append them to `path`), as JSON lines or text."""
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in [
        h for h in root.handlers if isinstance(h.formatter, JsonFormatter | RedactingFormatter)
    ]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def state_change(post_id: str, channel: str, state: str, **fields: Any) -> None:
    """Log that a post moved to `state`; `fields` add detail (attempt, url, error, ...)."""
    extra = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    message = f"post={post_id} channel={channel} state={state}" + (f" {extra}" if extra else "")
    log.info(
        message,
        extra={"fields": {"post": post_id, "channel": channel, "state": state, **fields}},
    )
