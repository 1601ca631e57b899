"""`campaign run`: apply campaign files, then deliver them from this one process until stopped.

Thin: loads and applies the files, starts a `workers.run.Runner`, shows progress (a live view
on a terminal, log lines otherwise) and stops it cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from campaign.cli.common import add_allow_templates, apply_files, print_diff, settings_of
from campaign.terminal import printable

if TYPE_CHECKING:
    from campaign.cli.common import Commands
    from workers.run import Runner
    from workers.store import Store

RUN_HELP = """\
Deliver campaigns from this one process, with nothing else to install or start: apply each
file (as `campaign apply` does), then hand each post to the platform at its time and record
the outcome, until stopped. The store is the embedded one in CAMPAIGN_DATA_DIR (default
~/.local/share/campaign-scheduler), or Redis when CAMPAIGN_REDIS_URL is set. `campaign
status`, `pause`, `resume` and `cancel` work from another terminal meanwhile.

Ctrl-C stops cleanly: nothing new is claimed and posts being published finish (Ctrl-C again
quits at once). After a crash, run the same command again: nothing is sent twice and nothing
is lost.

examples:
  campaign run config/demo.yaml --until-done
  campaign run config/safe-migration.yaml config/climate-migration.yaml --concurrency 8
"""

# Lines of recent posts the live view shows.
RECENT = 5
# Seconds between two redraws of the live view, and two checks of --until-done.
REFRESH = 0.5
ACTIVE = ("scheduled", "queued", "sending")
TROUBLE = ("failed", "unknown", "missed")

log = logging.getLogger("campaign.run")


def register(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="deliver campaigns from this process (no server needed)",
        description=RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("files", nargs="+", metavar="FILE", type=Path, help="campaign YAML")
    run.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="posts published at once (4)"
    )
    run.add_argument(
        "--until-done",
        action="store_true",
        help="exit when every post of these campaigns is sent or otherwise done",
    )
    add_allow_templates(run)
    run.set_defaults(handler=run_run)


def run_run(args: argparse.Namespace) -> int:
    from workers import middleware
    from workers.logging import configure
    from workers.run import Runner
    from workers.store import open_store

    if args.concurrency < 1:
        raise SystemExit("error: --concurrency must be at least 1")
    settings = settings_of(args)
    live = sys.stdout.isatty()
    store = open_store(settings)
    print(f"store: {store.describe()}", file=sys.stderr)
    applied = apply_files(
        store,
        args.files,
        accept_claim_loss=settings.accept_claim_loss,
        allowed_template_roots=args.allow_templates_in,
    )
    for changes in applied:
        print_diff(changes, applied=True)
    slugs = [changes.campaign for changes in applied]
    if live:
        log_file = settings.data_dir / "run.log"
        configure(json_lines=settings.log_json, level=settings.log_level, path=log_file)
        print(f"log: {log_file}", file=sys.stderr)
    else:
        configure(json_lines=settings.log_json, level=settings.log_level)
    recent: deque[tuple[str, str]] = deque(maxlen=RECENT)
    runner = Runner(
        settings,
        store,
        concurrency=args.concurrency,
        middleware=middleware.load(settings.middleware),
        on_published=lambda post_id, result: recent.append((post_id, result)),
    )
    stop = _stop_on_signals()
    runner.start()
    log.info("run started: store %s, %d publishers", store.describe(), args.concurrency)
    view = LiveView(store, slugs, recent) if live else None
    try:
        while not stop.is_set():
            if view is not None:
                view.draw()
            if args.until_done and _done(store, slugs):
                break
            stop.wait(REFRESH)
    finally:
        _stop(runner, view)
    log.info("run stopped")
    return _summary(store, slugs)


def _stop_on_signals() -> threading.Event:
    """An event set by the first Ctrl-C or SIGTERM; a second one quits at once."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            print("\nquitting now; posts being sent are finished by the next run", file=sys.stderr)
            raise SystemExit(130)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _stop(runner: Runner, view: LiveView | None) -> None:
    busy = runner.in_flight
    note = f"; waiting for {busy} post(s) being sent (Ctrl-C again to quit now)" if busy else ""
    if view is not None:
        view.draw(final=True)
    print(f"stopping: nothing new is claimed{note}", file=sys.stderr)
    runner.stop(wait=True)
    print("stopped", file=sys.stderr)


def _done(store: Store, slugs: list[str]) -> bool:
    return all(
        sum(store.counts(slug)[state] for state in store.counts(slug) if state in ACTIVE) == 0
        for slug in slugs
    )


def _summary(store: Store, slugs: list[str]) -> int:
    """One line per campaign; exit 1 when a post failed, is unknown or was missed."""
    trouble = False
    for slug in slugs:
        counts = {str(state): n for state, n in store.counts(slug).items() if n}
        trouble = trouble or any(counts.get(state) for state in TROUBLE)
        parts = ", ".join(f"{state} {n}" for state, n in counts.items())
        print(f"{slug}: {parts or 'no posts'}")
    if trouble:
        print("some posts need a look: campaign status", file=sys.stderr)
    return 1 if trouble else 0


class LiveView:
    """What a terminal shows while running: counts, the next post, the last posts done."""

    def __init__(self, store: Store, slugs: list[str], recent: deque[tuple[str, str]]) -> None:
        self.store = store
        self.slugs = slugs
        self.recent = recent
        self._lines = 0

    def draw(self, *, final: bool = False) -> None:
        """Replace the last frame with a new one (the final one without the Ctrl-C hint)."""
        lines = self.render()
        if not final:
            lines.append("Ctrl-C to stop")
        erase = f"\x1b[{self._lines}F\x1b[J" if self._lines else ""
        sys.stdout.write(erase + "\n".join(lines) + "\n")
        sys.stdout.flush()
        self._lines = len(lines)

    def render(self) -> list[str]:
        lines = []
        for slug in self.slugs:
            counts = self.store.counts(slug)
            parts = "  ".join(f"{state} {n}" for state, n in counts.items() if n)
            lines.append(f"{printable(slug)}: {parts}")
        wake = self.store.next_wakeup()
        if wake is not None:
            local = datetime.fromtimestamp(wake, UTC).astimezone()
            left = max(0.0, wake - time.time())
            lines.append(f"next: {local:%H:%M:%S %z} (in {left:.0f} s)")
        if self.recent:
            lines.append("last:")
        for post_id, result in list(self.recent):
            lines.append("  " + self._line(post_id, result))
        return lines

    def _line(self, post_id: str, result: str) -> str:
        post = self.store.post(post_id)
        if post is None:
            return f"{result:<10} {post_id}"
        when = (post.updated_at or post.scheduled_at).astimezone()
        late = ""
        if post.sent_at is not None:
            late = f"  (+{(post.sent_at - post.scheduled_at).total_seconds():.2f} s)"
        where = printable(post.url or post.error or "")
        return (
            f"{when:%H:%M:%S}  {result:<10} {printable(post.channel)}  {post.locale}  {where}{late}"
        )
