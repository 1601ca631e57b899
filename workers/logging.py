"""Delivery logs: one line per state change (post id, channel, state), plain or JSON, redacted.

Secrets never reach a log line, whichever logger writes it (ours, Celery's, urllib3's): every
value registered with `redact()` (the credentials a worker resolved) is masked, and so is any run
of at least `FRAGMENT` of its characters (a token cut at the end of a truncated error body still
leaks its start otherwise), as well as anything shaped like a bearer token, a Telegram bot token
or a password in a URL. `configure()` redacts each log record when it is made, before any
handler or formatter sees it; the formatters redact again, in case a record was made elsewhere.

What a server answers reaches the logs too (an error's body): control characters and terminal
escapes in a record are written as visible escapes, so that `tail -f` of a log cannot retitle
or clear a terminal, and a newline in a message cannot pass for a log line of its own.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campaign.terminal import printable

log = logging.getLogger("campaign.delivery")

MASK = "[redacted]"
# A run of this many characters of a secret is masked wherever it appears: long enough that
# ordinary words do not match a random token, short enough that what is left is worthless.
FRAGMENT = 8
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"),
    re.compile(r"(://[^/\s:@]+:)[^@\s/]+(?=@)"),  # https://user:password@host
    re.compile(r"(?i)([?&](?:access_token|token|api_key|apikey|password|secret)=)[^&\s\"']+"),
)
_secrets: set[str] = set()
_short: tuple[str, ...] = ()  # secrets shorter than FRAGMENT, longest first
_fragments: frozenset[str] = frozenset()
_secrets_lock = threading.Lock()
# Set on a record once redacted: the filter and the formatters do not redo the work.
_REDACTED = "_campaign_redacted"


def redact(secret: str | None) -> None:
    """Mask `secret`, and any long enough run of its characters, in every log line from now on."""
    global _fragments, _short
    if not secret or len(secret) < 4:
        return
    with _secrets_lock:
        if secret in _secrets:
            return
        _secrets.add(secret)
        if len(secret) < FRAGMENT:
            _short = tuple(sorted((*_short, secret), key=len, reverse=True))
            return
        parts = {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
        _fragments = _fragments | parts


def scrub(text: str) -> str:
    """`text` with every known secret, every fragment of one, and token-shaped values masked.

    A secret of FRAGMENT characters or more is covered by its fragments (the whole of it is one
    run of them), so only shorter ones are looked for whole: the cost of a line does not grow
    with the number of secrets a worker resolved.
    """
    for secret in _short:
        text = text.replace(secret, MASK)
    fragments = _fragments
    if fragments and len(text) >= FRAGMENT:
        text = _mask_fragments(text, fragments)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def _mask_fragments(text: str, fragments: frozenset[str]) -> str:
    """Mask every stretch of `text` covered by windows of FRAGMENT characters from a secret."""
    covered_until = -1
    spans: list[list[int]] = []
    for start in range(len(text) - FRAGMENT + 1):
        if text[start : start + FRAGMENT] in fragments:
            end = start + FRAGMENT
            if spans and start <= covered_until:
                spans[-1][1] = end
            else:
                spans.append([start, end])
            covered_until = end
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in spans:
        pieces += [text[position:start], MASK]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite `record` so that nothing in it holds a secret: message, arguments, exception
    (once: a record already redacted is left as it is)."""
    if getattr(record, _REDACTED, False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # bad arguments: keep what can be shown, without formatting it
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = _shown(message), None
    if record.exc_info:
        exception = logging.Formatter().formatException(record.exc_info)
        record.exc_text = _shown(exception, lines=True)
        record.exc_info = None  # no handler may format the raw exception again
    elif record.exc_text:
        record.exc_text = _shown(record.exc_text, lines=True)
    if record.stack_info:
        record.stack_info = _shown(record.stack_info, lines=True)
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        record.fields = {key: _scrubbed(value) for key, value in fields.items()}
    setattr(record, _REDACTED, True)
    return record


def _shown(text: str, *, lines: bool = False) -> str:
    """`text` as a log may show it: secrets masked, then control characters and escapes made
    visible (newlines too, unless the text is made of `lines`, as a traceback is)."""
    return printable(scrub(text), keep_newlines=lines)


def _scrubbed(value: Any) -> Any:
    """A field's value as a log line may show it: numbers as they are, anything else as
    redacted text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return _shown(value if isinstance(value, str) else str(value))


class RedactingFilter(logging.Filter):
    """Redacts every record that passes (see `redact_record`); attach it to any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class RedactingFormatter(logging.Formatter):
    """Plain text lines, with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # A record redacted when it was made holds no secret; any other is redacted here.
        if getattr(record, _REDACTED, False):
            return line
        return _shown(line, lines=True)


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
        elif record.exc_text:
            entry["exception"] = record.exc_text
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return line if getattr(record, _REDACTED, False) else scrub(line)


def configure(*, json_lines: bool, level: str = "INFO", path: Path | None = None) -> None:
    """Send the delivery logs to stderr (or append them to `path`), as JSON lines or text;
    redact every record."""
    _redact_every_record()
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(RedactingFilter())
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


def _redact_every_record() -> None:
    """Make every logger's records redacted as they are made (once per process)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacting", False):
        return

    def make_redacted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make(*args, **kwargs))

    redacting: Callable[..., logging.LogRecord] = make_redacted
    redacting.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)


def state_change(post_id: str, channel: str, state: str, **fields: Any) -> None:
    """Log that a post moved to `state`; `fields` add detail (attempt, url, error, ...)."""
    extra = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    message = f"post={post_id} channel={channel} state={state}" + (f" {extra}" if extra else "")
    log.info(
        message,
        extra={"fields": {"post": post_id, "channel": channel, "state": state, **fields}},
    )
