"""The delivery commands: plan, apply, status, pause, resume, cancel and scheduler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from campaign.cli import main
from campaign.plan import load_plan
from tests.fixtures.redis import RedisServer
from tests.fixtures.stores import BACKENDS
from workers import diff
from workers.settings import load_settings
from workers.store import Failed, Sent, State, Store, open_store

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "cli:"
COMMANDS = ("plan", "apply", "status", "pause", "resume", "cancel", "scheduler")


def cli(argv: Sequence[str]) -> int:
    """The delivery commands as the `campaign` entry point runs them."""
    return main(list(argv))


def write_campaign(directory: Path, times: Sequence[str], ky: str = "Салам {{ n }}") -> Path:
    (directory / "templates" / "hello").mkdir(parents=True, exist_ok=True)
    (directory / "templates" / "hello" / "ky.j2").write_text(ky, encoding="utf-8")
    (directory / "templates" / "hello" / "ru.j2").write_text("Привет {{ n }}", encoding="utf-8")
    schedule = "\n".join(f'      - at: "{at}"' for at in times)
    path = directory / "spring.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            campaign: spring
            title: Spring
            timezone: UTC
            start: 2030-01-01
            end: 2030-12-31
            templates: templates
            audiences:
              all:
                locales: [ky, ru]
                channels: [social]
            channels:
              social:
                platform: mastodon
                api_url: https://mastodon.example
                credentials: MASTODON_TOKEN
            messages:
              hello:
                template: hello
                vars: {n: 1}
                schedule:
            """
        )
        + schedule
        + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The CLI's environment for one backend, and the store it names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path / "data"))
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis_client")  # flushed around the test
        monkeypatch.setenv("CAMPAIGN_REDIS_URL", server.url())
        monkeypatch.setenv("CAMPAIGN_KEY_PREFIX", PREFIX)
    store = open_store(load_settings())
    yield store
    store.close()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli([command, "--help"])
    assert "example" in capsys.readouterr().out


def test_plan_shows_the_posts_to_add_and_changes_nothing(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(tmp_path, ["2030-06-01 10:00"])

    assert cli(["plan", str(path)]) == 0

    out = capsys.readouterr().out
    assert "2 to add, 0 to change, 0 to cancel" in out
    assert out.count("  + 2030-06-01T10:00:00Z  social  ") == 2
    assert env.campaigns() == []


def test_apply_refuses_posts_for_a_platform_it_cannot_publish_to_yet(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a campaign whose channel is on a platform without a client in this version
    monkeypatch.setattr(diff, "available_platforms", lambda: ["mastodon", "outbox", "webhook"])
    path = write_campaign(tmp_path, ["2030-06-01 10:00"])
    telegram = 'platform: telegram\n    account: "@SafeMigrationKG"'
    path.write_text(path.read_text().replace("platform: mastodon", telegram))

    # When it is applied, Then nothing is stored and the error says what can be published
    assert cli(["apply", str(path)]) == 1
    assert "cannot publish to yet: social (telegram)" in capsys.readouterr().err
    assert env.campaigns() == []


def test_applying_the_same_file_twice_is_a_no_op(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(tmp_path, ["2030-06-01 10:00", "2030-06-02 10:00"])
    assert cli(["apply", str(path)]) == 0
    before = env.posts("spring")
    capsys.readouterr()

    assert cli(["apply", str(path)]) == 0

    assert "no changes" in capsys.readouterr().out
    assert env.posts("spring") == before
    assert len(before) == 4


def test_the_stored_text_is_exactly_what_the_preview_shows(env: Store, tmp_path: Path) -> None:
    path = write_campaign(tmp_path, ["2030-06-01 10:00"], ky="Салам 🇰🇬 {{ n }}\n#Жаз")
    planned = load_plan(path).posts

    cli(["apply", str(path)])

    assert env.texts([p.id for p in planned]) == {p.id: p.text for p in planned}
    assert {(p.id, p.locale) for p in env.posts("spring")} == {(p.id, p.locale) for p in planned}


def test_plan_after_editing_shows_changed_text_and_removed_posts(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00", "2030-06-02 10:00"]))])
    edited = write_campaign(tmp_path, ["2030-06-01 10:00"], ky="Саламатсызбы {{ n }}")
    capsys.readouterr()

    cli(["plan", str(edited)])

    out = capsys.readouterr().out
    assert "0 to add, 1 to change, 2 to cancel" in out
    assert "(text)" in out
    assert "(removed from the campaign file)" in out


def test_status_lists_counts_next_posts_failures_and_urls(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00"]))])
    sent, failed = (p.id for p in env.posts("spring"))
    _record(env, sent, "sent", "1", "https://mastodon.example/@c/1")
    _record(env, failed, "failed", "401 the access token is invalid")
    capsys.readouterr()

    assert cli(["status"]) == 0
    table = capsys.readouterr().out
    assert cli(["status", "spring", "--format", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)

    assert "sent 1" in table
    assert "failed 1" in table
    assert "https://mastodon.example/@c/1" in table
    assert "401 the access token is invalid" in table
    assert report["counts"]["sent"] == 1
    assert report["sent"][0]["url"] == "https://mastodon.example/@c/1"
    assert report["problems"][0]["error"] == "401 the access token is invalid"


def test_pause_resume_and_cancel(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(tmp_path, ["2030-06-01 10:00"])
    cli(["apply", str(path)])
    capsys.readouterr()

    assert cli(["pause", "spring"]) == 0
    assert capsys.readouterr().out == "paused spring\n"
    assert cli(["status", "spring", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["paused"] is True
    assert cli(["resume", "spring"]) == 0
    assert cli(["cancel", "spring", "--message", "withdrawn"]) == 0

    assert "cancelled 2 posts of spring" in capsys.readouterr().out
    assert {p.state for p in env.posts("spring")} == {State.CANCELLED}
    # Applying the file again brings back what is still ahead
    assert cli(["apply", str(path)]) == 0
    assert "2 to add" in capsys.readouterr().out
    assert {p.state for p in env.posts("spring")} == {State.SCHEDULED}


def test_an_unknown_campaign_is_one_clear_error(
    env: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["pause", "nope"]) == 1
    assert capsys.readouterr().err == (
        "error: no campaign 'nope' is stored (apply its file first)\n"
    )


@pytest.mark.slow
def test_the_scheduler_command_runs_until_sigterm(redis_server: RedisServer) -> None:
    environ = {
        **os.environ,
        "CAMPAIGN_REDIS_URL": redis_server.url(),
        "CAMPAIGN_KEY_PREFIX": PREFIX,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys, tests.test_cli_delivery as t; "
         "sys.exit(t.cli(['scheduler']))"],
        env=environ,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    started = process.stderr.readline().decode()
    assert "scheduler started: store Redis redis://127.0.0.1:" in started
    assert process.poll() is None, "the scheduler keeps running"

    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=10)

    assert process.returncode == 0, errors.decode(errors="replace")
    assert "scheduler stopped" in errors.decode()


def _record(store: Store, post_id: str, outcome: str, *args: str) -> None:
    """Drive one post to `outcome` as the scheduler and a worker would, at its time."""
    stored = store.post(post_id)
    assert stored is not None
    at = stored.scheduled_at.timestamp()
    store.hand_out_due(at, batch=100, requeue_after=60, hold=1)
    claim = store.claim(post_id, at, owner="test", lease=60, resend={})
    if outcome == "sent":
        store.finish(post_id, claim.attempt, at, Sent(args[0], args[1]))
    else:
        store.finish(post_id, claim.attempt, at, Failed(args[0]))


def test_an_invalid_setting_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGN_MAX_ATTEMPTS", "zero")

    assert cli(["status"]) == 1

    assert capsys.readouterr().err.startswith("error: invalid settings: CAMPAIGN_MAX_ATTEMPTS:")


def test_a_misspelt_setting_is_rejected_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CAMPAIGN_REDIS_ULR=redis://x\nMASTODON_TOKEN=t\n")

    assert cli(["status"]) == 1

    assert capsys.readouterr().err == (
        "error: unknown settings: CAMPAIGN_REDIS_ULR (did you mean CAMPAIGN_REDIS_URL?)\n"
    )
