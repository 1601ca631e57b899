"""`campaign channels check FILE`: can each channel of a campaign post? Nothing is posted.

The handler parses, hands off to `workers.channels` (imported inside, so `campaign --help`
stays fast) and prints.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.cli.common import settings_of
from campaign.errors import DefinitionError, Problem
from campaign.terminal import printable

if TYPE_CHECKING:
    from workers.channels import ChannelCheck

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

CHANNELS_HELP = """\
Commands about the accounts a campaign posts to.

example:
  campaign channels check config/safe-migration.yaml
"""

CHECK_HELP = """\
Check that every channel of a campaign file can post, without posting: its credentials are set
(in the environment or .env, as the workers read them), and the platform accepts them for that
account (a Telegram bot that administers the channel, a Page token of that Facebook Page, ...).
Each channel gets one harmless set of authenticated calls; channels are checked at the same time.
Prints, per channel, ok with what it is, or exactly what is wrong and what to do.
Exit status: 0 when every channel can post, 1 when any cannot.

examples:
  campaign channels check config/safe-migration.yaml
  campaign channels check config/safe-migration.yaml --channel telegram-safe-migration-kg
  campaign channels check config/safe-migration.yaml --format json
"""


def register(commands: Commands) -> None:
    channels = commands.add_parser(
        "channels",
        help="check the accounts a campaign posts to",
        description=CHANNELS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = channels.add_subparsers(dest="channels_command", metavar="COMMAND", required=True)
    check = verbs.add_parser(
        "check",
        help="check each channel's credentials and account, without posting",
        description=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
    check.add_argument(
        "--channel", action="append", default=[], metavar="C", help="only this channel (repeatable)"
    )
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.set_defaults(handler=run_check)


def run_check(arguments: argparse.Namespace) -> int:
    from campaign.plan import load_campaign

    try:
        campaign, _ = load_campaign(arguments.file)
    except DefinitionError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    unknown = [name for name in arguments.channel if name not in campaign.channels]
    if unknown:
        known = ", ".join(sorted(campaign.channels))
        raise DefinitionError(
            [
                Problem(
                    str(arguments.file),
                    None,
                    f"--channel '{name}' is not in this campaign (known: {known})",
                )
                for name in unknown
            ]
        )
    chosen = {
        name: channel
        for name, channel in campaign.channels.items()
        if not arguments.channel or name in arguments.channel
    }

    from workers.channels import FAILED, SharedCredentials, check_channels
    from workers.secrets import Environment
    from workers.store import open_store

    settings = settings_of(arguments)
    credentials = SharedCredentials(lambda: open_store(settings))
    try:
        results = check_channels(chosen, Environment(settings.env_file)(), credentials)
    finally:
        credentials.close()
    if arguments.format == "json":
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        print(format_checks(results, width=shutil.get_terminal_size((120, 24)).columns), end="")
    return 1 if any(r.status == FAILED for r in results) else 0


def format_checks(results: list[ChannelCheck], *, width: int = 120) -> str:
    """One line per channel: name, platform, account, status; the detail wrapped below."""
    if not results:
        return "no channels\n"
    name_width = max(len(r.channel) for r in results)
    lines = []
    for result in results:
        mark = {"ok": "ok", "failed": "FAILED"}.get(result.status, result.status)
        # What a platform answered (an account's name, an error) is shown, never obeyed.
        where = f"{result.platform:<8}  {printable(result.account or '')}".rstrip()
        lines.append(f"{mark:<9} {result.channel:<{name_width}}  {where}")
        lines.extend(
            textwrap.wrap(
                printable(result.detail),
                width=max(40, width - 4),
                initial_indent="    ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
        )
    counts = {status: sum(r.status == status for r in results) for status in ("ok", "failed")}
    summary = f"{len(results)} channels: {counts['ok']} ok, {counts['failed']} failed"
    unchecked = len(results) - counts["ok"] - counts["failed"]
    if unchecked:
        summary += f", {unchecked} not checkable without posting"
    return "\n".join([*lines, summary]) + "\n"
