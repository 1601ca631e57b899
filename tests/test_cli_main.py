"""The `campaign` command as a whole: help, version, exit statuses, settings files, and what it
costs to ask for help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.cli import main

ROOT = Path(__file__).resolve().parents[1]


def campaign(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_campaign_alone_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: campaign" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("campaign ")


def test_the_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "exit status: 0 ok; 1 the campaign has problems" in capsys.readouterr().out


def test_a_bad_log_level_is_a_configuration_error(tmp_path: Path) -> None:
    answer = campaign("status", cwd=tmp_path, CAMPAIGN_LOG_LEVEL="LOUD")

    assert answer.returncode == 2
    assert answer.stderr.startswith("error: invalid settings: CAMPAIGN_LOG_LEVEL:")
    assert "Traceback" not in answer.stderr


def test_the_env_file_is_found_from_a_subfolder(tmp_path: Path) -> None:
    # Given a project whose .env names its data folder, and a terminal in a subfolder
    (tmp_path / ".env").write_text(f"CAMPAIGN_DATA_DIR={tmp_path / 'data'}\n")
    (tmp_path / "config").mkdir()

    answer = campaign("status", cwd=tmp_path / "config")

    assert answer.returncode == 0, answer.stderr
    assert f"store: SQLite {tmp_path / 'data' / 'campaign.db'}" in answer.stdout


def test_an_explicit_env_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    answer = campaign("--env-file", str(tmp_path / "nope.env"), "status", cwd=tmp_path)

    assert answer.returncode == 2
    assert answer.stderr == f"error: the settings file {tmp_path / 'nope.env'} does not exist\n"


def test_asking_for_help_loads_no_delivery_code() -> None:
    # `campaign --help` answers at once: it imports none of the store, Celery, HTTP or counting
    probe = (
        "import sys, campaign.cli as c\n"
        "try: c.main(['--help'])\n"
        "except SystemExit: pass\n"
        "heavy = ['redis', 'celery', 'requests', 'workers.store', 'workers.platforms',\n"
        "         'campaign.twitter_text']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert answer.stdout.strip().splitlines()[-1] == "[]"


def test_an_unreachable_redis_names_the_setting_and_the_way_out(tmp_path: Path) -> None:
    answer = campaign("status", cwd=tmp_path, CAMPAIGN_REDIS_URL="redis://127.0.0.1:1/0")

    assert answer.returncode == 2
    assert answer.stderr.startswith(
        "error: cannot reach Redis at redis://127.0.0.1:1/0 (CAMPAIGN_REDIS_URL): "
    )
    assert "or unset it to use the embedded store" in answer.stderr


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    answer = campaign(
        "preview", "config/demo.yaml", "--format", "html", "--output", "/nonexistent/x.html"
    )

    assert answer.returncode == 2
    assert answer.stderr.strip().splitlines()[-1] == (
        "error: No such file or directory: /nonexistent/x.html"
    )
