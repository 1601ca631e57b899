"""The `campaign` command end to end, as a person runs it: a real subprocess."""

from __future__ import annotations

import json
import re
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


def test_preview_of_a_bad_campaign_shows_the_sound_parts_and_the_problems() -> None:
    result = campaign("preview", "tests/campaigns/bad/undefined-audience.yaml")
    assert result.returncode == 1
    assert "Test campaign: 4 posts" in result.stdout
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


OVER_LIMIT = "tests/campaigns/bad/over-platform-limit.yaml"
NO_TEMPLATE = "tests/campaigns/bad/no-template-for-locale.yaml"


def test_preview_shows_posts_over_their_limit_marked_and_exits_1() -> None:
    # Given a campaign whose Kosovo posts are too long for Mastodon
    # When it is previewed as a table
    result = campaign("preview", OVER_LIMIT)

    # Then every post is shown, those too long marked with why, and the errors end the output
    assert result.returncode == 1
    marked = [line for line in result.stdout.splitlines() if re.search(r"/500 +✗ ", line)]
    assert len(marked) == 6
    assert "6 would be refused (✗)" in result.stdout.splitlines()[0]
    assert "      ✗ 659/500 graphemes on Mastodon; shorten the text or add" in result.stdout
    assert "migrants-kg" in result.stdout  # the posts that fit are there too
    assert "6 error(s)" in result.stderr
    assert "refuses it until they are fixed" in result.stderr


def test_preview_json_carries_each_posts_errors_and_template() -> None:
    result = campaign("preview", OVER_LIMIT, "--format", "json")
    assert result.returncode == 1
    posts = json.loads(result.stdout)
    refused = [p for p in posts if p["errors"]]
    assert len(refused) == 6
    assert {p["template"] for p in refused} == {"long/sq.j2", "long/sr.j2"}
    assert all(p["length"] > p["limit"] for p in refused)
    assert len(posts) > len(refused)


def test_preview_html_is_written_even_when_posts_are_over_the_limit(tmp_path: Path) -> None:
    # Given the campaign with posts too long, previewed as a page
    output = tmp_path / "preview.html"
    result = campaign("preview", OVER_LIMIT, "--format", "html", "--output", str(output))

    # Then the page is written, with the errors on top, and the command still fails
    assert result.returncode == 1
    document = output.read_text(encoding="utf-8")
    assert '<section class="problems"' in document
    assert "6 errors" in document
    assert 'Over the limit</span><span class="tile-note">will be refused' in document


def test_a_missing_template_hides_only_its_own_posts_from_the_preview() -> None:
    # Given a campaign without English templates for an audience that reads English
    result = campaign("preview", NO_TEMPLATE, "--format", "json")

    # Then the other posts are shown, the gap is an error, and the command fails
    assert result.returncode == 1
    posts = json.loads(result.stdout)
    assert posts
    assert "en" not in {p["locale"] for p in posts}
    assert "no template for message template 'launch' in locale 'en'" in result.stderr


def test_matrix_shows_each_message_by_audience_and_language() -> None:
    # Given the campaign missing its English templates
    # When the matrix is printed
    result = campaign("preview", NO_TEMPLATE, "--format", "matrix")

    # Then each message and audience is a row, each language a column, the gap marked
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("✓ own language")
    header = lines[3].split()
    assert header[:2] == ["message", "audience"]
    assert {"ky", "ru", "sq", "sr", "en"} <= set(header)
    rows = [line for line in lines[4:] if not line.lstrip().startswith(("✗", "→", "!"))]
    kosovo = [line for line in rows if " kosovo " in line]
    assert len(kosovo) == 2
    assert all("✗" in line for line in kosovo)
    assert all(line.endswith("  en") for line in kosovo)  # the language it will not get
    assert any(
        line.startswith("  ✗ launch / kosovo / en on") and "no template" in line for line in lines
    )


def test_matrix_json_has_cells_with_channels_and_gaps() -> None:
    result = campaign("preview", NO_TEMPLATE, "--format", "matrix-json", "--audience", "kosovo")
    assert result.returncode == 1
    matrix = json.loads(result.stdout)
    assert matrix["campaign"] == "test-campaign"
    assert {c["audience"] for c in matrix["cells"]} == {"kosovo"}
    english = [c for c in matrix["cells"] if c["locale"] == "en"]
    assert {c["status"] for c in english} == {"missing"}
    assert english[0]["channels"][0]["template"] is None
    present = next(c for c in matrix["cells"] if c["locale"] == "sq")
    assert present["status"] == "present"
    assert present["channels"][0]["template"].endswith("sq.j2")
    assert {(g["message"], tuple(g["locales"])) for g in matrix["gaps"]} == {
        ("launch", ("en",)),
        ("weekly", ("en",)),
    }


def test_matrix_of_a_complete_campaign_exits_0() -> None:
    result = campaign("preview", GOOD, "--format", "matrix")
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("\n", 2)[2]  # past the title and the legend
    assert "✗" not in table
    assert "→" not in table
    assert "✓" in table


def test_validate_reports_in_json_for_scripts() -> None:
    result = campaign(
        "validate", "config/demo.yaml", "tests/campaigns/bad/undefined-audience.yaml",
        "--format", "json",
    )  # fmt: skip

    assert result.returncode == 1
    demo, bad = json.loads(result.stdout)
    assert (demo["ok"], demo["posts"]) == (True, 6)
    assert bad["ok"] is False
    assert {"file": "tests/campaigns/bad/undefined-audience.yaml", "line": 35} in [
        {"file": p["file"], "line": p["line"]} for p in bad["problems"]
    ]
