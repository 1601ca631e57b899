"""`campaign channels check FILE`: per channel, ok with what it is or exactly what is wrong;
exit 1 when any channel cannot post; nothing is ever posted."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from campaign.cli import main
from campaign.cli.channels import format_checks
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fixtures.platforms import FACEBOOK_TOKEN, TELEGRAM_TOKEN
from workers.channels import FAILED, OK, ChannelCheck

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def servers(
    telegram_server: FakeTelegram, facebook_server: FakeFacebook
) -> tuple[FakeTelegram, FakeFacebook]:
    return telegram_server, facebook_server


@pytest.fixture
def campaign_file(
    tmp_path: Path,
    servers: tuple[FakeTelegram, FakeFacebook],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A campaign with a Telegram channel, a Facebook page and an outbox, every secret set, run
    from a folder without .env and with no store configured."""
    telegram, facebook = servers
    page = facebook.page("SafeMigrationKG")
    assert page is not None
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("CAMPAIGN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TG_TOKEN", TELEGRAM_TOKEN)
    monkeypatch.setenv("FB_TOKEN", FACEBOOK_TOKEN)
    path = tmp_path / "check.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            campaign: check
            title: Check
            timezone: Asia/Bishkek
            start: 2030-01-01
            end: 2030-12-31
            audiences:
              all:
                locales: [ky]
                channels: [tg, fb, files]
            channels:
              tg:
                platform: telegram
                api_url: {telegram.url}
                account: "@SafeMigrationKG"
                credentials: TG_TOKEN
              fb:
                platform: facebook
                api_url: {facebook.url}
                account: "{page.id}"
                credentials: FB_TOKEN
              files:
                platform: outbox
                directory: outbox
            messages:
              hello:
                template: hello
                schedule: [{{at: "2030-06-01 10:00"}}]
            """
        ),
        encoding="utf-8",
    )
    return path


def test_every_channel_ready_is_ok_and_nothing_is_posted(
    campaign_file: Path,
    servers: tuple[FakeTelegram, FakeFacebook],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When the channels of a campaign whose accounts are all set up are checked
    status = main(["channels", "check", str(campaign_file)])

    # Then each says what it is, and the command succeeds
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ok", "tg", "telegram", "@SafeMigrationKG"]
    assert "bot @CampaignTestBot can post to channel 'SafeMigrationKG'" in lines[1]
    assert lines[2].split()[:3] == ["ok", "fb", "facebook"]
    assert "page 'Safe Migration KG'" in lines[3]
    assert lines[4].split() == ["unchecked", "files", "outbox"]
    assert lines[-1] == "3 channels: 2 ok, 0 failed, 1 not checkable without posting"
    # And nothing was posted
    telegram, facebook = servers
    assert telegram.messages == []
    assert facebook.posts == []


def test_each_failure_says_exactly_what_is_wrong(
    campaign_file: Path,
    servers: tuple[FakeTelegram, FakeFacebook],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a bot that is only a member of the channel, and an expired Page token
    telegram, facebook = servers
    chat = telegram.chat("@SafeMigrationKG")
    assert chat is not None
    chat.bot_status = "member"
    facebook.expire(FACEBOOK_TOKEN)

    # When the channels are checked
    status = main(["channels", "check", str(campaign_file)])

    # Then the command fails, and each channel says what is wrong and what to do
    out = " ".join(capsys.readouterr().out.split())
    assert status == 1
    assert "FAILED tg telegram @SafeMigrationKG" in out
    assert "is not an administrator of channel 'SafeMigrationKG'" in out
    assert "FAILED fb facebook" in out
    assert "was refused: it expired" in out
    assert "reconnect the page" in out
    assert "3 channels: 0 ok, 2 failed" in out


def test_an_unset_variable_and_a_revoked_token_are_named(
    campaign_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FB_TOKEN")
    monkeypatch.setenv("TG_TOKEN", "555:AAE-revoked-token-abcdefghijklmnop")

    status = main(["channels", "check", str(campaign_file), "--format", "json"])

    checks = {c["channel"]: c for c in json.loads(capsys.readouterr().out)}
    assert status == 1
    assert checks["fb"]["status"] == "failed"
    assert "FB_TOKEN" in checks["fb"]["detail"]
    assert "is not set" in checks["fb"]["detail"]
    assert checks["tg"]["status"] == "failed"
    assert "@BotFather" in checks["tg"]["detail"]
    assert "555:AAE-revoked-token" not in checks["tg"]["detail"]
    assert checks["files"]["status"] == "unchecked"


def test_every_unset_variable_of_a_channel_is_named_in_one_line(
    campaign_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an X channel none of whose variables is set
    text = campaign_file.read_text(encoding="utf-8")
    text = text.replace("channels: [tg, fb, files]", "channels: [tg, fb, files, x]").replace(
        "  files:\n",
        "  x:\n    platform: x\n"
        "    credentials: {client_id: X_CLIENT_ID, refresh_token: X_REFRESH_TOKEN}\n"
        "  files:\n",
    )
    campaign_file.write_text(text, encoding="utf-8")
    monkeypatch.delenv("X_CLIENT_ID", raising=False)
    monkeypatch.delenv("X_REFRESH_TOKEN", raising=False)

    # When it is checked
    status = main(["channels", "check", str(campaign_file), "--channel", "x", "--format", "json"])

    # Then one line names both variables, and what each holds
    [check] = json.loads(capsys.readouterr().out)
    assert status == 1
    assert check["status"] == "failed"
    assert check["detail"] == (
        "the environment variables X_CLIENT_ID (the channel's client id) and X_REFRESH_TOKEN "
        "(the channel's refresh token) are not set in the environment or .env"
    )


def test_the_secrets_come_from_dot_env_like_the_workers(
    campaign_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TG_TOKEN")
    Path(".env").write_text(f"TG_TOKEN={TELEGRAM_TOKEN}\n", encoding="utf-8")

    status = main(["channels", "check", str(campaign_file), "--channel", "tg"])

    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines()[-1] == "1 channels: 1 ok, 0 failed"


def test_an_unknown_channel_name_is_an_error(
    campaign_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["channels", "check", str(campaign_file), "--channel", "tgg"]) == 1

    assert "--channel 'tgg' is not in this campaign (known: fb, files, tg)" in (
        capsys.readouterr().err
    )


def test_an_invalid_campaign_file_prints_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("campaign: x\n", encoding="utf-8")

    assert main(["channels", "check", str(path)]) == 1

    assert f"{path}:1: the top level needs the key 'title'" in capsys.readouterr().err


def test_what_a_platform_answered_is_shown_escaped_never_obeyed() -> None:
    # A server may answer anything as an account's name or an error: a terminal must not act on it
    hostile = "evil\x1b]0;PWNED\x07\x1b[2J\u009b31m"
    results = [
        ChannelCheck("tg", "telegram", hostile, FAILED, f"the server said: {hostile}"),
        ChannelCheck("fb", "facebook", "page", OK, f"posts as {hostile}"),
    ]

    shown = format_checks(results)

    assert not [
        char for char in shown if char != "\n" and (ord(char) < 32 or 127 <= ord(char) < 160)
    ]
    assert shown.count("\\x1b]0;PWNED") == 3
