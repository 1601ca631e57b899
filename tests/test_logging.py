"""Delivery logs: one line per state change, JSON on request, secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

import workers.logging
from workers.logging import (
    FRAGMENT,
    JsonFormatter,
    RedactingFormatter,
    configure,
    redact,
    state_change,
)


@pytest.fixture(autouse=True)
def _no_secrets_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secret: those of other tests (a test token such as
    "mastodon-token") would mask words here."""
    monkeypatch.setattr(workers.logging, "_secrets", set())
    monkeypatch.setattr(workers.logging, "_fragments", frozenset())


@pytest.fixture
def lines() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("campaign.delivery")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream, handler
    logger.removeHandler(handler)


def test_a_state_change_is_one_json_line_with_post_channel_and_state(
    lines: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = lines
    handler.setFormatter(JsonFormatter())

    state_change("abc123", "mastodon-main", "sent", attempt=1, url="https://m.example/@c/1")

    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["post"] == "abc123"
    assert entry["channel"] == "mastodon-main"
    assert entry["state"] == "sent"
    assert entry["url"] == "https://m.example/@c/1"


def test_secrets_are_masked_in_plain_and_json_lines(
    lines: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = lines
    redact("resolved-secret-value")
    for formatter in (RedactingFormatter("%(message)s"), JsonFormatter()):
        handler.setFormatter(formatter)
        state_change(
            "abc123",
            "telegram",
            "failed",
            error="refused resolved-secret-value at /bot123456:ABC-def_ghi/sendMessage "
            "with Authorization: Bearer tok.en-value",
        )

    text = stream.getvalue()
    assert "resolved-secret-value" not in text
    assert "123456:ABC-def_ghi" not in text
    assert "tok.en-value" not in text
    assert "Bearer [redacted]" in text


TOKEN = "Zk3v9QpL2mXw8RtY6bNc4HdJ7sFg1AeU"  # shaped like a real access token


@pytest.fixture
def configured() -> Iterator[None]:
    """Logging set up as a worker sets it up; the process's logging restored afterwards."""
    factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure(json_lines=False)
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_cut_off_token_is_masked_by_what_is_left_of_it(
    lines: tuple[io.StringIO, logging.Handler],
) -> None:
    # Given a worker's token, and an error body truncated in the middle of it
    stream, handler = lines
    handler.setFormatter(RedactingFormatter("%(message)s"))
    redact(TOKEN)
    cut = f"server said: invalid token {TOKEN[:13]}"

    # When it is logged
    state_change("abc123", "mastodon", "failed", error=cut)

    # Then no run of the token long enough to matter is left
    text = stream.getvalue()
    assert TOKEN[:FRAGMENT] not in text
    assert "invalid token [redacted]" in text


def test_every_logger_writes_redacted_records_through_any_handler(configured: None) -> None:
    # Given the token, and a library's logger with a handler and formatter of its own
    redact(TOKEN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    library = logging.getLogger("urllib3.connectionpool")
    library.addHandler(handler)
    library.propagate = False
    try:
        # When it logs the token as an argument, in an exception, and in a URL
        library.warning("Retrying %s", f"https://api.example/?access_token={TOKEN}")
        try:
            raise ValueError(f"refused {TOKEN[5:30]}")
        except ValueError:
            library.exception("request failed")
        library.warning("GET https://bot:hunter2secret@api.example/x")
    finally:
        library.removeHandler(handler)
        library.propagate = True

    # Then none of it reaches the line
    text = stream.getvalue()
    assert TOKEN[5 : 5 + FRAGMENT] not in text
    assert TOKEN[:FRAGMENT] not in text
    assert "hunter2secret" not in text
    assert text.count("[redacted]") >= 3


def test_ordinary_text_is_left_alone(configured: None) -> None:
    redact(TOKEN)
    record = logging.getLogger("celery").makeRecord(
        "celery", logging.INFO, __file__, 1, "post %s sent to %s", ("abc", "mastodon-main"), None
    )
    assert record.getMessage() == "post abc sent to mastodon-main"


def test_what_a_server_answers_is_logged_escaped_never_obeyed(configured: None) -> None:
    # Given a library's logger with a plain handler, and an error body of a hostile server
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("urllib3.connectionpool")
    library.addHandler(handler)
    library.propagate = False
    hostile = "bad \x1b]0;PWNED\x07\x1b[2J thing\u009b31m\nINFO forged line"
    try:
        # When it logs the body as a message, an argument and in an exception
        library.warning("answered: %s", hostile)
        try:
            raise ValueError(hostile)
        except ValueError:
            library.exception("request failed")
    finally:
        library.removeHandler(handler)
        library.propagate = True

    # Then no control character reaches the log, and the message stays one line
    text = stream.getvalue()
    assert not [
        char for char in text if char != "\n" and (ord(char) < 32 or 127 <= ord(char) < 160)
    ]
    assert "\\x1b]0;PWNED" in text
    assert "\nINFO forged line" not in text.split("Traceback")[0]
