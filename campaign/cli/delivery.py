"""CLI commands that put a plan into the store and operate delivery: plan, apply, status, pause,
resume, cancel and scheduler. Handlers parse, call plain functions in `workers`, and print."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from campaign.cli.common import apply_files, planned, print_diff, progress_bar
from campaign.post import utc_iso
from workers import diff
from workers.settings import Settings, load_settings
from workers.status import CampaignStatus, campaign_status, lateness
from workers.store import Scope, Store, open_store

log = logging.getLogger("campaign.scheduler")

if TYPE_CHECKING:
    from campaign.cli.common import Commands

SETTINGS_NOTE = """
The store is the Redis at CAMPAIGN_REDIS_URL (default redis://localhost:6379/0), keys under
CAMPAIGN_KEY_PREFIX; settings are read from the environment and .env.
"""

PLAN_HELP = f"""\
Show what `campaign apply` would change in the store: posts to add, posts whose text or time
changed, posts to cancel because they left the file, and differences that will not be applied
because the post is already being sent or was sent. Nothing is changed.

example:
  campaign plan config/safe-migration.yaml
{SETTINGS_NOTE}"""

APPLY_HELP = f"""\
Make the store match the campaign file, all or nothing: add new posts, change posts not yet
handed out, cancel posts removed from the file. Posts already sent are never touched; applying
the same file twice changes nothing. Shows progress on a terminal.

example:
  campaign apply config/safe-migration.yaml
{SETTINGS_NOTE}"""

STATUS_HELP = f"""\
Show each stored campaign (or one): posts per state, the next posts due, failures and unknown
outcomes with their reasons, and sent posts with their URLs.

examples:
  campaign status
  campaign status safe-migration --format json
{SETTINGS_NOTE}"""

PAUSE_HELP = f"""\
Stop handing out posts of a campaign (or of every campaign with --all) from the next scheduler
tick; posts already being sent finish. Posts stay scheduled; those that become later than
max_lateness while paused are marked missed after `campaign resume`.

examples:
  campaign pause safe-migration
  campaign pause --all
{SETTINGS_NOTE}"""

RESUME_HELP = f"""\
Hand out posts of a paused campaign (or lift `pause --all`) again.

examples:
  campaign resume safe-migration
  campaign resume --all
{SETTINGS_NOTE}"""

CANCEL_HELP = f"""\
Cancel every post of a campaign that has not been handed to a worker; posts being sent finish,
sent posts stay. A cancelled campaign cannot be applied again.

example:
  campaign cancel safe-migration --message "withdrawn after partner review"
{SETTINGS_NOTE}"""

SCHEDULER_HELP = f"""\
Run the scheduler: hand posts to the Celery queue when they are due, mark posts later than
their campaign's max_lateness as missed, and hand out again posts whose worker was lost. Run
one or more next to `celery -A workers worker`; several schedulers never hand a post out twice.
Stops on SIGINT or SIGTERM.

example:
  campaign scheduler
{SETTINGS_NOTE}"""


def register(commands: Commands) -> None:
    def add(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    plan = add("plan", "show what apply would change in the store", PLAN_HELP)
    plan.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
    plan.add_argument("--verbose", action="store_true", help="list every change")
    plan.set_defaults(handler=run_plan)

    apply = add("apply", "schedule a campaign file's posts (all or nothing)", APPLY_HELP)
    apply.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
    apply.add_argument("--verbose", action="store_true", help="list every change")
    apply.set_defaults(handler=run_apply)

    status = add("status", "show delivery state, failures and URLs", STATUS_HELP)
    status.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help="one campaign (slug)")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(handler=run_status)

    for name, summary, description, handler in (
        ("pause", "stop posting a campaign (or --all)", PAUSE_HELP, run_pause),
        ("resume", "resume a paused campaign (or --all)", RESUME_HELP, run_resume),
    ):
        command = add(name, summary, description)
        which = command.add_mutually_exclusive_group(required=True)
        which.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help="campaign slug")
        which.add_argument("--all", action="store_true", help="every campaign")
        command.set_defaults(handler=handler)

    cancel = add("cancel", "cancel a campaign's posts not yet handed out", CANCEL_HELP)
    cancel.add_argument("campaign", metavar="CAMPAIGN", help="campaign slug")
    cancel.add_argument(
        "--message", default="cancelled by campaign cancel", metavar="M", help="why (recorded)"
    )
    cancel.set_defaults(handler=run_cancel)

    scheduler = add("scheduler", "run the scheduler process", SCHEDULER_HELP)
    scheduler.set_defaults(handler=run_scheduler)


def _store(settings: Settings) -> Store:
    return open_store(settings)


def run_plan(args: argparse.Namespace) -> int:
    store = _store(load_settings())
    plan, _ = planned(args.file, store)
    changes = diff.compute(store, plan.campaign, plan.posts, base=args.file.resolve().parent)
    print_diff(changes, applied=False, verbose=args.verbose)
    return 0


def run_apply(args: argparse.Namespace) -> int:
    store = _store(load_settings())
    (changes,) = apply_files(store, [args.file], progress_bar("reading stored posts"))
    print_diff(changes, applied=True, verbose=args.verbose)
    return 0


def run_status(args: argparse.Namespace) -> int:
    store = _store(load_settings())
    stored = [record.slug for record in store.campaigns()]
    if args.campaign and args.campaign not in stored:
        print(f"error: no campaign {args.campaign!r} is stored", file=sys.stderr)
        return 1
    names = [args.campaign] if args.campaign else stored
    statuses = [s for s in (campaign_status(store, name) for name in names) if s is not None]
    if args.format == "json":
        print(json.dumps([s.to_json() for s in statuses], ensure_ascii=False, indent=2))
    elif not statuses:
        print("no campaigns stored; run `campaign apply FILE`")
    else:
        print("\n".join(format_status(s) for s in statuses), end="")
    return 0


def format_status(status: CampaignStatus) -> str:
    flags = " (paused)" if status.paused else ""
    if status.cancelled is not None:
        flags += f" (cancelled: {status.cancelled})"
    lines = [f"{status.campaign} — {status.title}{flags}"]
    lines.append("  " + "  ".join(f"{state} {n}" for state, n in status.counts.items()))
    sections = (("next due", status.next_due), ("problems", status.problems))
    for title, posts in sections:
        if posts:
            lines.append(f"  {title}:")
        for post in posts:
            reason = f"  {post.error}" if post.error and title == "problems" else ""
            lines.append(
                f"    {post.state:<9} {utc_iso(post.scheduled_at)}  {post.channel}  "
                f"{post.locale}  {post.id}{reason}"
            )
    if status.sent:
        lines.append("  sent:")
    for post in status.sent:
        late = f"  (+{lateness(post):.2f} s)" if post.sent_at else ""
        lines.append(
            f"    {utc_iso(post.scheduled_at)}{late}  {post.channel}  {post.locale}  {post.url}"
        )
    return "\n".join(lines) + "\n"


def run_pause(args: argparse.Namespace) -> int:
    _store(load_settings()).pause(None if args.all else args.campaign, Scope(), time.time())
    print(f"paused {'every campaign' if args.all else args.campaign}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    _store(load_settings()).resume(None if args.all else args.campaign, Scope(), time.time())
    print(f"resumed {'every campaign' if args.all else args.campaign}")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    cancelled = _store(load_settings()).cancel(args.campaign, Scope(), args.message, time.time())
    print(f"cancelled {len(cancelled)} posts of {args.campaign}")
    return 0


def run_scheduler(args: argparse.Namespace) -> int:
    from workers.app import create_app, send_publish
    from workers.logging import configure
    from workers.scheduler import Scheduler

    settings = load_settings()
    configure(json_lines=settings.log_json, level=settings.log_level)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    app = create_app(settings)  # needs Redis: says so before anything else is opened
    store = _store(settings)
    log.info("scheduler started: store %s, queue %s", store.describe(), settings.queue)
    Scheduler(store, lambda post_id: send_publish(app, post_id), settings).run(stop)
    log.info("scheduler stopped")
    store.close()
    return 0
