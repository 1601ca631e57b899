"""The command line: global options and every command, registered by its module."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from campaign.cli import apply, channels, definition, operate, run, scheduler, status

DESCRIPTION = """\
Social media campaigns as code: preview what will be posted, where, when and in which
language, then post it exactly once.

examples:
  campaign run config/demo.yaml --until-done          publish the demo from this machine
  campaign validate config/*.yaml
  campaign preview config/safe-migration.yaml --audience migrants-kg --from 2026-12-18
  campaign preview config/safe-migration.yaml --format html --output preview.html
  campaign run config/safe-migration.yaml             publish a campaign, until stopped
  campaign status safe-migration                      from another terminal
  campaign channels check config/safe-migration.yaml  are the credentials right?

exit status: 0 ok; 1 the campaign has problems (an invalid file, a post over its limit, a post
that failed); 2 a usage or configuration error (bad arguments, settings, credentials or an
unreachable store); 130 interrupted.
"""


def _version() -> str:
    try:
        return version("campaign-scheduler")
    except PackageNotFoundError:  # a source checkout that is not installed
        return "dev"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"campaign {_version()}")
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="settings and credentials file (default: the first .env in this folder or above)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    definition.register(commands)
    run.register(commands)
    apply.register(commands)
    status.register(commands)
    operate.register(commands)
    scheduler.register(commands)
    channels.register(commands)
    return parser
