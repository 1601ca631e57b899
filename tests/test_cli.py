"""The `campaign` command end to end, as a person runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
GOOD = "tests/campaigns/good.yaml"


def campaign(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_preview_prints_a_timeline_by_local_day() -> None:
    result = campaign("preview", GOOD)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Test campaign: 10 posts from 2026-12-18 to 2027-01-05")
    assert "Fri 18 Dec 2026" in lines
    assert any("10:00 +06:00  migrants-kg" in line and "telegram-kg" in line for line in lines)


def test_preview_json_filters_by_audience_locale_and_dates() -> None:
    result = campaign(
        "preview",
        GOOD,
        "--format",
        "json",
        "--audience",
        "kosovo",
        "--locale",
        "sq",
        "--from",
        "2026-12-20",
        "--to",
        "2026-12-31",
    )
    assert result.returncode == 0, result.stderr
    posts = json.loads(result.stdout)
    assert [(p["message"], p["local_time"]) for p in posts] == [
        ("weekly", "2026-12-22T19:00:00+01:00"),
        ("weekly", "2026-12-29T19:00:00+01:00"),
    ]


def test_preview_html_writes_one_file(tmp_path: Path) -> None:
    output = tmp_path / "preview.html"
    result = campaign("preview", GOOD, "--format", "html", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "wrote 10 posts" in result.stderr


def test_a_filter_naming_nothing_in_the_campaign_is_an_error() -> None:
    result = campaign("preview", GOOD, "--audience", "migrnts-kg")
    assert result.returncode == 1
    assert "--audience 'migrnts-kg' is not in this campaign (known: kosovo, migrants-kg)" in (
        result.stderr
    )
    assert result.stdout == ""


def test_preview_of_a_bad_campaign_prints_problems_and_nothing_else() -> None:
    result = campaign("preview", "tests/campaigns/bad/undefined-audience.yaml")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "undefined-audience.yaml:35: audience 'kosvo' is not defined" in result.stderr


def test_schema_is_a_json_schema_of_campaign_files() -> None:
    result = campaign("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"campaign", "audiences", "channels", "messages"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("command", ["validate", "preview", "schema"])
def test_every_command_explains_itself_with_an_example(command: str) -> None:
    result = campaign(command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout
    assert f"campaign {command}" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert campaign("preview").returncode == 2
    assert campaign("preview", GOOD, "--from", "18.12.2026").returncode == 2
