"""Delivery logs: one line per state change, JSON on request, secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from workers.logging import JsonFormatter, RedactingFormatter, redact, state_change


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
