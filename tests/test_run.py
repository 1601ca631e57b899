"""`campaign run`, the embedded mode, as users run it: a real process on the SQLite store,
killed with SIGKILL at each point of a publish, restarted, stopped with Ctrl-C.

Every post arrives exactly once, and the ledger says what happened to each."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.mastodon import DEFAULT_TOKEN, FakeMastodon
from tests.fakes.webhook import DEFAULT_SECRET, FakeWebhook
from tests.fixtures.celery import eventually

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KILLED = -signal.SIGKILL
# Short timeouts and leases, so a lost process's posts come back within seconds.
FAST = {
    "CAMPAIGN_CONNECT_TIMEOUT": "0.5",
    "CAMPAIGN_READ_TIMEOUT": "1.5",
    "CAMPAIGN_TASK_SOFT_TIME_LIMIT": "2.5",
    "CAMPAIGN_TASK_TIME_LIMIT": "3",
    "CAMPAIGN_LEASE_SECONDS": "3.5",
    "CAMPAIGN_REQUEUE_AFTER": "1",
    "CAMPAIGN_BACKOFF_BASE": "0.3",
    "CAMPAIGN_BACKOFF_MAX": "1",
    "CAMPAIGN_SCHEDULER_TICK": "0.5",
}


class Run:
    """`campaign run` in a folder of its own: its data directory, environment and output."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            **FAST,
            "CAMPAIGN_DATA_DIR": str(folder / "data"),
            "PYTHONPATH": str(ROOT),
            "MASTODON_TOKEN": DEFAULT_TOKEN,
            "WEBHOOK_KEY": DEFAULT_SECRET,
        }
        for name in list(self.env):
            if name in ("CAMPAIGN_REDIS_URL", "CAMPAIGN_BROKER_URL"):
                del self.env[name]
        self.runs = 0

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        self.runs += 1
        with (self.folder / f"run{self.runs}.log").open("w") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "campaign", "run", *args],
                cwd=self.folder,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def output(self) -> str:
        return (self.folder / f"run{self.runs}.log").read_text()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaign", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def status(self, campaign: str) -> dict[str, object]:
        answer = self.cli("status", campaign, "--format", "json")
        assert answer.returncode == 0, answer.stderr
        report: dict[str, object] = json.loads(answer.stdout)["campaigns"][0]
        return report

    def counts(self, campaign: str) -> dict[str, int]:
        counts: dict[str, int] = self.status(campaign)["counts"]  # type: ignore[assignment]
        return counts


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def campaign_file(folder: Path, channel: str, *, posts: int = 3, every: int = 1) -> Path:
    """A campaign of `posts` posts in two languages, the first one second after its launch."""
    schedule = "\n".join(f"      - after: PT{1 + i * every}S" for i in range(posts))
    (folder / "templates" / "note").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "note" / "en.j2").write_text(
        "Note {{ occurrence }} at {{ local_time }}"
    )
    (folder / "templates" / "note" / "ky.j2").write_text("Эскертүү {{ local_time }}")
    path = folder / "campaign.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            campaign: faults
            title: Faults
            timezone: Asia/Bishkek
            start: 2026-01-01
            end: 2035-12-31
            templates: templates
            audiences:
              all: {locales: [en, ky], channels: [main]}
            channels:
            """
        )
        + textwrap.indent(channel, "  ")
        + "\nmessages:\n  note:\n    template: note\n    schedule:\n"
        + schedule
        + "\n",
        encoding="utf-8",
    )
    return path


def outbox_channel() -> str:
    return "main: {platform: outbox, directory: out}\n"


def mastodon_channel(server: FakeMastodon) -> str:
    return f"main: {{platform: mastodon, api_url: '{server.url}', credentials: MASTODON_TOKEN}}\n"


def webhook_channel(server: FakeWebhook) -> str:
    return f"main: {{platform: webhook, api_url: '{server.url}', credentials: WEBHOOK_KEY}}\n"


def files(folder: Path) -> list[Path]:
    return sorted((folder / "out" / "faults").glob("*.json"))


def test_the_demo_is_published_into_the_outbox_once(run: Run) -> None:
    # Given the shipped demo, copied with its templates into a fresh folder
    shutil.copytree(ROOT / "config", run.folder / "config")
    shutil.copytree(ROOT / "templates", run.folder / "templates")

    # When it is run until done, twice
    first = run.start("config/demo.yaml", "--until-done")
    assert first.wait(timeout=120) == 0, run.output()
    second = run.start("config/demo.yaml", "--until-done")
    assert second.wait(timeout=60) == 0, run.output()

    # Then the outbox holds each of its six posts once, and the ledger says sent
    written = sorted((run.folder / "outbox" / "demo").glob("*.json"))
    assert len(written) == 6
    assert {json.loads(f.read_text())["language"] for f in written} == {"en", "ky"}
    assert run.counts("demo")["sent"] == 6
    assert "no changes" in run.output()


@pytest.mark.parametrize(
    "killer",
    ["tests.fixtures.killers:KillBeforePublish", "tests.fixtures.killers:KillAfterPublish"],
)
def test_a_run_killed_at_any_point_of_a_publish_resumes_exactly_once(run: Run, killer: str) -> None:
    # Given a run that dies with SIGKILL before (or after) its first platform call
    path = campaign_file(run.folder, outbox_channel())
    dying = run.start(str(path), "--until-done", CAMPAIGN_MIDDLEWARE=json.dumps([killer]))
    assert dying.wait(timeout=60) == KILLED

    # When the same command runs again
    again = run.start(str(path), "--until-done")

    # Then every post is written once and recorded sent
    assert again.wait(timeout=90) == 0, run.output()
    assert len(files(run.folder)) == 6
    assert run.counts("faults")["sent"] == 6


def test_a_run_killed_while_the_server_holds_the_request_sends_once(
    run: Run, make_mastodon_server: Callable[..., FakeMastodon]
) -> None:
    # Given a Mastodon that holds the first request it gets, and a run killed meanwhile
    server = make_mastodon_server()
    server.hold()
    path = campaign_file(run.folder, mastodon_channel(server), posts=1)
    dying = run.start(str(path))
    assert server.held.wait(timeout=30)
    dying.send_signal(signal.SIGKILL)
    dying.wait(timeout=10)
    server.release()

    # When it runs again
    again = run.start(str(path), "--until-done")

    # Then the resend carried the same Idempotency-Key: one status per post
    assert again.wait(timeout=90) == 0, run.output()
    keys = [status.idempotency_key for status in server.statuses]
    assert len(keys) == 2
    assert len(set(keys)) == 2
    assert run.counts("faults")["sent"] == 2


def test_a_webhook_post_that_may_be_out_is_never_sent_again(
    run: Run, make_webhook_server: Callable[..., FakeWebhook]
) -> None:
    # Given a run killed after the receiver answered, before the ledger recorded it
    server = make_webhook_server()
    path = campaign_file(run.folder, webhook_channel(server), posts=1)
    killer = json.dumps(["tests.fixtures.killers:KillAfterPublish"])
    dying = run.start(str(path), "--until-done", CAMPAIGN_MIDDLEWARE=killer)
    assert dying.wait(timeout=60) == KILLED

    # When it runs again
    again = run.start(str(path), "--until-done")

    # Then nothing is delivered twice; a post that may be out (the one the receiver answered,
    # and any other claimed when the process died) is unknown, for a person to check
    assert again.wait(timeout=90) == 1, run.output()
    delivered = [delivery.document["post_id"] for delivery in server.deliveries]
    assert delivered
    assert len(delivered) == len(set(delivered))
    counts = run.counts("faults")
    assert counts["unknown"] >= 1
    assert counts["sent"] + counts["unknown"] == 2


def test_ctrl_c_stops_cleanly_and_other_terminals_see_the_run(run: Run) -> None:
    # Given a run with posts far apart
    path = campaign_file(run.folder, outbox_channel(), posts=3, every=30)
    running = run.start(str(path))
    eventually(lambda: len(files(run.folder)) >= 2, 30, "the first posts are written")

    # When another terminal pauses the campaign and asks for its status
    assert run.cli("pause", "faults").returncode == 0
    assert run.status("faults")["paused"] is True

    # And the run gets Ctrl-C
    running.send_signal(signal.SIGINT)

    # Then it says so and stops, leaving what is not due yet scheduled
    assert running.wait(timeout=30) == 0, run.output()
    assert "stopping: nothing new is claimed" in run.output()
    assert run.counts("faults")["scheduled"] == 4
