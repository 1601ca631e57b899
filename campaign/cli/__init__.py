"""The `campaign` command. Deliberately light: the parser and every command's code are
imported inside `main`, so Ctrl-C at any moment ends in one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Exit statuses, as `campaign --help` documents them.
OK, PROBLEMS, USAGE, INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    from campaign.cli.parser import build_parser
    from campaign.errors import CampaignError, ConfigurationError, StoreError
    from campaign.terminal import printable

    parser = build_parser()
    arguments = parser.parse_args(argv)
    if getattr(arguments, "handler", None) is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        status: int = arguments.handler(arguments)
    except (ConfigurationError, StoreError) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return USAGE
    except CampaignError as exc:
        print(f"error: {printable(str(exc), keep_newlines=True)}", file=sys.stderr)
        return PROBLEMS
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return USAGE
    return status
