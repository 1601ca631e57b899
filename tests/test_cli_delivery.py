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
from workers.store import Failed, Sent, State, Store, Unknown, open_store

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "cli:"
COMMANDS = (
    "plan", "apply", "run", "status", "pause", "resume", "cancel", "restore", "retry",
    "scheduler",
)  # fmt: skip


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
            timezone: Asia/Bishkek
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
    assert out.count("  + 2030-06-01 10:00 +06:00  social  ") == 2
    assert env.campaigns() == []


def test_apply_refuses_posts_for_a_platform_it_cannot_publish_to_yet(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a campaign whose channel is on a platform without a client in this version
    monkeypatch.setattr(diff, "available_platforms", lambda: ["mastodon", "outbox", "webhook"])
    path = write_campaign(tmp_path, ["2030-06-01 10:00"])
    telegram = 'platform: telegram\n    account: "@SafeMigrationKG"'
    path.write_text(path.read_text().replace("platform: mastodon", telegram))

    assert cli(["apply", str(path)]) == 2
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


def test_plan_after_editing_shows_the_text_changes_and_removed_posts(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00", "2030-06-02 10:00"]))])
    edited = write_campaign(tmp_path, ["2030-06-01 10:00"], ky="Саламатсызбы {{ n }}")
    capsys.readouterr()

    cli(["plan", str(edited)])

    out = capsys.readouterr().out
    assert "0 to add, 1 to change, 2 to cancel" in out
    assert "      -Салам 1\n      +Саламатсызбы 1\n" in out
    assert out.count("(removed from the campaign file)") == 2


def test_plan_and_apply_of_a_big_campaign_print_a_summary(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times = [f"2030-06-{day:02d} 10:00" for day in range(1, 29)]
    path = write_campaign(tmp_path, times)

    assert cli(["apply", str(path)]) == 0
    out = capsys.readouterr().out
    assert cli(["plan", str(path), "--verbose", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)

    assert "56 to add" in out
    assert "... and 36 more (--verbose shows every one)" in out
    assert len(out.splitlines()) < 25
    assert plan["add"] == []
    assert plan["applied"] is False


def test_status_lists_counts_failures_and_urls_in_local_time(
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
    report = json.loads(capsys.readouterr().out)

    assert table.startswith(f"store: {env.describe()}\n")
    assert "sent 1" in table
    assert "failed 1" in table
    assert "2030-06-01 10:00 +06:00" in table
    assert "https://mastodon.example/@c/1" in table
    assert "401 the access token is invalid" in table
    (campaign,) = report["campaigns"]
    assert campaign["counts"]["sent"] == 1
    assert campaign["sent"][0]["url"] == "https://mastodon.example/@c/1"
    assert campaign["sent"][0]["scheduled_at"] == "2030-06-01T04:00:00.000Z"
    assert campaign["sent"][0]["local_time"] == "2030-06-01T10:00:00+06:00"
    assert campaign["problems"][0]["error"] == "401 the access token is invalid"


def test_a_channel_whose_account_was_refused_needs_reconnecting(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00"]))])
    first, second = (p.id for p in env.posts("spring"))
    _record(env, first, "failed", "mastodon: 401 token revoked", kind="auth")
    _record(env, second, "sent", "2", "https://mastodon.example/@c/2")
    capsys.readouterr()

    cli(["status", "spring"])

    assert (
        "  ! social: reconnect the account (1 post(s) failed): mastodon: 401 token revoked"
        in capsys.readouterr().out
    )


def test_status_of_one_post_tells_its_whole_story(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00"]))])
    post = next(p for p in env.posts("spring") if p.locale == "ky")
    # a server's answer may hold anything, terminal escapes included
    _record(env, post.id, "failed", "bad gateway\x1b]0;pwned\x07")
    capsys.readouterr()

    assert cli(["status", "--post", post.id]) == 0
    story = capsys.readouterr().out
    assert cli(["status", "--post", post.id, "--format", "json"]) == 0
    detail = json.loads(capsys.readouterr().out)

    assert "scheduled 2030-06-01 10:00 +06:00 (2030-06-01T04:00:00.000Z)" in story
    assert "queued" in story
    assert "sending" in story
    assert "bad gateway\\x1b]0;pwned\\x07" in story  # escaped, never raw on a terminal
    assert "\x1b" not in story
    assert "Салам 1" in story
    assert [event["state"] for event in detail["history"]] == ["queued", "sending", "failed"]
    assert detail["error"] == "bad gateway\x1b]0;pwned\x07"


def test_pause_and_resume_a_part_of_a_campaign(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00"]))])
    capsys.readouterr()

    assert cli(["pause", "spring", "--locale", "ky"]) == 0
    assert capsys.readouterr().out == "paused spring (locale ky)\n"
    assert cli(["status", "spring", "--format", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["campaigns"]
    assert (report["paused"], report["paused_parts"]) == (False, ["locale ky"])
    assert cli(["resume", "spring"]) == 2
    assert "spring was not paused (paused: locale ky)" in capsys.readouterr().err
    assert cli(["resume", "spring", "--locale", "ky"]) == 0


def test_cancel_asks_says_how_many_and_can_be_undone(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(tmp_path, ["2030-06-01 10:00"])
    cli(["apply", str(path)])
    capsys.readouterr()

    # Not on a terminal and without --yes, nothing is cancelled
    assert cli(["cancel", "spring"]) == 2
    assert "Cancel 2 post(s) of spring? " in capsys.readouterr().err
    assert cli(["cancel", "spring", "--message", "withdrawn", "--yes"]) == 0
    assert "cancelled 2 posts of spring; undo with `campaign restore spring`" in (
        capsys.readouterr().out
    )
    assert {p.state for p in env.posts("spring")} == {State.CANCELLED}

    # Resume is not the way back; restore and apply are
    assert cli(["resume", "spring"]) == 2
    assert "was cancelled (withdrawn), not paused" in capsys.readouterr().err
    assert cli(["restore", "spring", "--locale", "ky"]) == 0
    assert "restored 1 posts of spring (locale ky)" in capsys.readouterr().out
    assert cli(["apply", str(path)]) == 0
    assert "1 to add" in capsys.readouterr().out
    assert {p.state for p in env.posts("spring")} == {State.SCHEDULED}


def test_retry_sends_failed_posts_again_and_unknown_ones_only_once_confirmed(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["apply", str(write_campaign(tmp_path, ["2030-06-01 10:00"]))])
    failed, unsure = (p.id for p in env.posts("spring"))
    _record(env, failed, "failed", "MASTODON_TOKEN is not set", kind="config")
    _record(env, unsure, "unknown", "the server closed the connection")
    capsys.readouterr()

    # status, which shows them, says the way out
    assert cli(["status", "spring"]) == 0
    assert "once fixed, send them again: campaign retry spring" in capsys.readouterr().out
    assert cli(["retry", "spring", "--yes"]) == 0
    assert "retried 1 post(s)" in capsys.readouterr().out
    assert cli(["retry", "spring", "--state", "unknown", "--yes"]) == 0
    assert "may be on their platform already" in capsys.readouterr().out
    assert env.post(unsure).state is State.UNKNOWN  # type: ignore[union-attr]
    assert cli(["retry", "spring", "--state", "unknown", "--confirmed-not-on-platform",
                "--yes", "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == {"reconciled": [], "retried": [unsure]}
    assert {p.state for p in env.posts("spring")} == {State.SCHEDULED}
    assert cli(["retry", "spring", "--yes"]) == 0
    assert capsys.readouterr().out == "nothing to retry: no failed or missed posts\n"


def test_an_unknown_campaign_is_one_clear_error(
    env: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["pause", "nope"]) == 2
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


def _record(store: Store, post_id: str, outcome: str, *args: str, kind: str | None = None) -> None:
    """Drive one post to `outcome` as the scheduler and a worker would, at its time."""
    stored = store.post(post_id)
    assert stored is not None
    at = stored.scheduled_at.timestamp()
    store.hand_out_due(at, batch=100, requeue_after=60, hold=1)
    claim = store.claim(post_id, at, owner="test", lease=60, resend={})
    if outcome == "sent":
        store.finish(post_id, claim.attempt, at, Sent(args[0], args[1]))
    elif outcome == "unknown":
        store.finish(post_id, claim.attempt, at, Unknown(args[0]))
    else:
        store.finish(post_id, claim.attempt, at, Failed(args[0], kind=kind))


def test_an_invalid_setting_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGN_MAX_ATTEMPTS", "zero")

    assert cli(["status"]) == 2

    assert capsys.readouterr().err.startswith("error: invalid settings: CAMPAIGN_MAX_ATTEMPTS:")


def test_a_misspelt_setting_is_rejected_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CAMPAIGN_REDIS_ULR=redis://x\nMASTODON_TOKEN=t\n")

    assert cli(["status"]) == 2

    assert capsys.readouterr().err == (
        "error: unknown settings: CAMPAIGN_REDIS_ULR (did you mean CAMPAIGN_REDIS_URL?)\n"
    )


def test_templates_allowed_outside_the_project_are_allowed_by_every_command_that_renders(
    env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a campaign whose templates are shared from a folder outside its project
    config = tmp_path / "project" / "config"
    config.mkdir(parents=True)
    path = write_campaign(config, ["2030-06-01 10:00"])
    shared = tmp_path / "shared"
    (config / "templates").rename(shared)
    path.write_text(path.read_text().replace("templates: templates", f"templates: {shared}"))

    # Then each command refuses it unless told, and takes it when told, as validate does
    for command in ("plan", "apply"):
        assert cli([command, str(path)]) == 1
        assert "--allow-templates-in" in capsys.readouterr().err
        assert cli([command, str(path), "--allow-templates-in", str(shared)]) == 0
    assert len(env.posts("spring")) == 2
