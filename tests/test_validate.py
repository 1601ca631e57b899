"""Bad input gets a clear error naming the file and line, and nothing happens.

Each file under tests/campaigns/bad/ is a valid campaign with one kind of mistake; the `.expected`
file beside it holds the exact lines `campaign validate` must print.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from campaign.cli import main

CAMPAIGNS = Path(__file__).parent / "campaigns"
BAD = sorted((CAMPAIGNS / "bad").glob("*.yaml"))


def test_the_corpus_covers_at_least_twenty_mistakes() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_a_bad_campaign_is_reported_with_file_line_and_remedy(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a campaign file with a mistake, run from the repository root as a person would
    monkeypatch.chdir(CAMPAIGNS.parent.parent)
    relative = path.relative_to(Path.cwd())
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()

    # When it is validated
    status = main(["validate", str(relative)])

    # Then every problem is printed exactly, the run fails, and nothing is reported as done
    output = capsys.readouterr()
    problems = output.err.splitlines()[:-1]
    assert problems == expected
    assert output.err.splitlines()[-1] == f"{relative}: {len(expected)} error(s)"
    assert output.out == ""
    assert status == 1


def test_the_good_campaign_validates_cleanly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CAMPAIGNS.parent.parent)
    assert main(["validate", "tests/campaigns/good.yaml"]) == 0
    assert capsys.readouterr().out == "tests/campaigns/good.yaml: ok, 10 posts, 0 warning(s)\n"


def test_inline_secrets_are_never_echoed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CAMPAIGNS.parent.parent)
    main(["validate", "tests/campaigns/bad/inline-credentials.yaml"])
    output = capsys.readouterr()
    assert "Zk3v9-secret-token-value" not in output.err + output.out


def test_a_missing_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["validate", str(missing)]) == 1
    assert f"{missing}: file not found" in capsys.readouterr().err


def test_an_empty_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main(["validate", str(empty)]) == 1
    assert f"{empty}: the file is empty" in capsys.readouterr().err


def test_every_file_is_checked_even_after_a_bad_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CAMPAIGNS.parent.parent)
    status = main(
        ["validate", "tests/campaigns/bad/bad-timezone.yaml", "tests/campaigns/good.yaml"]
    )
    assert status == 1
    assert "tests/campaigns/good.yaml: ok" in capsys.readouterr().out


def test_validate_warns_of_every_move_preview_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a post at 23:15 for an audience with quiet hours 22:00-08:00, every day for a week
    shutil.copytree(CAMPAIGNS / "templates", tmp_path / "templates")
    text = (CAMPAIGNS / "good.yaml").read_text(encoding="utf-8")
    text = text.replace(
        '      - at: "2026-12-18 10:00"',
        '      - rrule: "FREQ=DAILY;BYHOUR=23;BYMINUTE=15;COUNT=7"',
    )
    path = tmp_path / "late.yaml"
    path.write_text(text, encoding="utf-8")

    # When it is validated
    status = main(["validate", str(path)])

    # Then it passes, with the warning preview puts on each moved post, once, at its entry
    output = capsys.readouterr()
    assert status == 0
    line = text[: text.index("FREQ=DAILY")].count("\n") + 1
    assert output.err.splitlines() == [
        f"{path}:{line}: warning: message 'launch', audience 'migrants-kg': 23:15 is in quiet "
        "hours 22:00-08:00; moved to the next day 08:00 (7 times)"
    ]
    assert output.out == f"{path}: ok, 34 posts, 1 warning(s)\n"


def test_validate_shows_the_warnings_of_a_campaign_with_errors_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a post moved out of quiet hours, and a template that names an undefined variable
    shutil.copytree(CAMPAIGNS / "templates", tmp_path / "templates")
    text = (CAMPAIGNS / "good.yaml").read_text(encoding="utf-8")
    text = text.replace('      - at: "2026-12-18 10:00"', '      - at: "2026-12-18 23:15"')
    path = tmp_path / "late.yaml"
    path.write_text(text, encoding="utf-8")
    template = tmp_path / "templates" / "launch" / "ky.j2"
    template.write_text(template.read_text(encoding="utf-8") + "{{ hotline }}\n", encoding="utf-8")

    # When it is validated
    status = main(["validate", str(path)])

    # Then both are reported in the one run, as preview shows them, and the run fails
    problems = capsys.readouterr().err.splitlines()
    assert status == 1
    assert any("'hotline' is undefined" in line for line in problems), problems
    assert any("warning: " in line and "is in quiet hours" in line for line in problems), problems
    assert problems[-1] == f"{path}: 1 error(s)"
