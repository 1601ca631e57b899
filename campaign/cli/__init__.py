"""The `campaign` command: parses arguments and hands off; no logic lives here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from campaign.cli import definition, delivery, run
from campaign.errors import CampaignError

DESCRIPTION = """\
Social media campaigns as code: preview what will be posted, where, when and in which
language, then post it exactly once.

examples:
  campaign validate config/*.yaml
  campaign preview config/safe-migration.yaml --audience migrants-kg --from 2026-12-18
  campaign preview config/safe-migration.yaml --format html --output preview.html
  campaign apply config/safe-migration.yaml && campaign status safe-migration
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    definition.register(commands)
    delivery.register(commands)
    run.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when the command found problems, 2 on bad usage."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        status: int = arguments.handler(arguments)
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
