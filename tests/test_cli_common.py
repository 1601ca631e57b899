"""Helpers every command shares: how a moment is shown to a person."""

from __future__ import annotations

from datetime import UTC, datetime

from campaign.cli.common import local


def test_a_local_time_shows_its_seconds_only_when_it_has_some() -> None:
    assert local(datetime(2026, 12, 18, 4, 0, tzinfo=UTC), "Asia/Bishkek") == (
        "2026-12-18 10:00 +06:00"
    )
    assert local(datetime(2026, 12, 18, 4, 0, 7, tzinfo=UTC), "Asia/Bishkek") == (
        "2026-12-18 10:00:07 +06:00"
    )
