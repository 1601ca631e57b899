"""`campaign plan` and `campaign apply`: compare a campaign file with the store, and store it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.cli.common import (
    STORE_NOTE,
    add_allow_templates,
    add_command,
    add_format,
    apply_files,
    diff_json,
    planned,
    print_json,
    progress_bar,
    settings_of,
    store_of,
)

if TYPE_CHECKING:
    from campaign.cli.common import Commands

PLAN_HELP = f"""\
Show what `campaign apply` would change in the store: posts to add, posts whose text or time
changed (with the text's changes), posts to cancel because they left the file, and
differences that will not be applied because the post is already being sent or was sent.
Times are each audience's local time. Nothing is changed.

examples:
  campaign plan config/safe-migration.yaml
  campaign plan config/safe-migration.yaml --verbose --format json
{STORE_NOTE}"""

APPLY_HELP = f"""\
Make the store match the campaign file, all or nothing: add new posts, change posts not yet
handed out, cancel posts removed from the file. Posts already sent are never touched; applying
the same file twice changes nothing; after a `campaign cancel`, applying the file again brings
back what is still ahead. Prints a summary (every change with --verbose). Then something must
deliver: `campaign run` on this machine, or `campaign scheduler` with Celery workers.

example:
  campaign apply config/safe-migration.yaml
{STORE_NOTE}"""


def register(commands: Commands) -> None:
    for name, summary, description, handler in (
        ("plan", "show what apply would change in the store", PLAN_HELP, run_plan),
        ("apply", "store a campaign file's posts (all or nothing)", APPLY_HELP, run_apply),
    ):
        command = add_command(commands, name, summary, description)
        command.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
        command.add_argument("--verbose", action="store_true", help="list every change")
        add_allow_templates(command)
        add_format(command)
        command.set_defaults(handler=handler)


def run_plan(args: argparse.Namespace) -> int:
    from campaign.cli.common import print_diff
    from workers import diff

    store = store_of(args)
    plan, _ = planned(args.file, store, allowed_template_roots=args.allow_templates_in)
    changes = diff.compute(store, plan.campaign, plan.posts, base=args.file.resolve().parent)
    if args.format == "json":
        print_json(diff_json(changes, applied=False))
    else:
        print_diff(changes, applied=False, verbose=args.verbose)
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from campaign.cli.common import print_diff
    from workers.store import open_store

    settings = settings_of(args)
    store = open_store(settings)
    progress = progress_bar("reading stored posts")
    (changes,) = apply_files(
        store,
        [args.file],
        progress,
        accept_claim_loss=settings.accept_claim_loss,
        allowed_template_roots=args.allow_templates_in,
    )
    if args.format == "json":
        print_json(diff_json(changes, applied=True))
    else:
        print_diff(changes, applied=True, verbose=args.verbose)
    return 0
