"""CLI commands that read campaign files and never touch a network or a store."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.definition import Campaign
from campaign.errors import DefinitionError, Problem
from campaign.html import render_html
from campaign.plan import Plan, load_plan
from campaign.preview import Selection, as_json, as_table, select
from campaign.terminal import printable

if TYPE_CHECKING:
    # argparse keeps the subparsers type private (and not subscriptable at run time).
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

VALIDATE_HELP = """\
Check campaign files, their templates and every post they describe against each platform's
rules. Prints every problem as FILE:LINE: what is wrong and what to do. Nothing is scheduled.
Exit status: 0 when every file is clean (warnings allowed), 1 when any has an error.

example:
  campaign validate config/safe-migration.yaml config/climate-migration.yaml
"""

PREVIEW_HELP = """\
Show exactly what a campaign will post: when (in each audience's local time), where, in which
language, the text, its length against the platform's limit, and warnings. Nothing is sent.

examples:
  campaign preview config/safe-migration.yaml
  campaign preview config/safe-migration.yaml --audience migrants-kg --locale ky
  campaign preview config/safe-migration.yaml --from 2026-12-18 --to 2026-12-25 --format json
  campaign preview config/safe-migration.yaml --format html --output preview.html
"""

SCHEMA_HELP = """\
Print the JSON Schema of campaign files, for editors that validate and complete YAML.

example:
  campaign schema > campaign.schema.json
"""


def register(commands: Commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="check campaign files and every post they describe",
        description=VALIDATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", type=Path, help="campaign YAML")
    _allow_templates(validate)
    validate.set_defaults(handler=run_validate)

    preview = commands.add_parser(
        "preview",
        help="show what will be posted, where and when (dry run)",
        description=PREVIEW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preview.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
    _allow_templates(preview)
    preview.add_argument(
        "--audience",
        action="append",
        default=[],
        metavar="A",
        help="only this audience (repeatable)",
    )
    preview.add_argument(
        "--channel", action="append", default=[], metavar="C", help="only this channel (repeatable)"
    )
    preview.add_argument(
        "--locale",
        action="append",
        default=[],
        metavar="L",
        help="only this locale, e.g. ky (repeatable)",
    )
    preview.add_argument(
        "--from",
        dest="first_day",
        type=_day,
        metavar="DATE",
        help="first local day to show, YYYY-MM-DD",
    )
    preview.add_argument(
        "--to",
        dest="last_day",
        type=_day,
        metavar="DATE",
        help="last local day to show, YYYY-MM-DD (inclusive)",
    )
    preview.add_argument(
        "--format",
        choices=("table", "json", "html"),
        default="table",
        help="table (default), json, or one self-contained html file",
    )
    preview.add_argument(
        "--output", type=Path, metavar="PATH", help="write to PATH instead of standard output"
    )
    preview.set_defaults(handler=run_preview)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of campaign files",
        description=SCHEMA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.set_defaults(handler=run_schema)


def run_validate(arguments: argparse.Namespace) -> int:
    failed = False
    for path in arguments.files:
        shown = printable(str(path))
        try:
            plan = load_plan(path, allowed_template_roots=arguments.allow_templates_in)
        except DefinitionError as exc:
            failed = True
            _print_problems(exc.problems)
            print(f"{shown}: {len(exc.problems)} error(s)", file=sys.stderr)
            continue
        _print_problems(plan.warnings)
        print(f"{shown}: ok, {len(plan.posts)} posts, {len(plan.warnings)} warning(s)")
    return 1 if failed else 0


def run_preview(arguments: argparse.Namespace) -> int:
    try:
        plan = load_plan(arguments.file, allowed_template_roots=arguments.allow_templates_in)
    except DefinitionError as exc:
        _print_problems(exc.problems)
        return 1
    _check_names(plan, arguments)
    posts = select(
        plan.posts,
        Selection(
            audiences=frozenset(arguments.audience),
            channels=frozenset(arguments.channel),
            locales=frozenset(arguments.locale),
            first_day=arguments.first_day,
            last_day=arguments.last_day,
        ),
    )
    title = plan.campaign.title
    if arguments.format == "json":
        text = as_json(posts)
    elif arguments.format == "html":
        text = render_html(
            [p.to_json() for p in posts], title=title, campaign=plan.campaign.campaign
        )
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        text = as_table(title, posts, width=width)
    if arguments.output is None:
        sys.stdout.write(text)
    else:
        arguments.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(posts)} posts to {arguments.output}", file=sys.stderr)
    return 0


def run_schema(arguments: argparse.Namespace) -> int:
    schema = Campaign.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Campaign file",
        **schema,
    }
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return 0


def _check_names(plan: Plan, arguments: argparse.Namespace) -> None:
    """A filter naming something the campaign lacks is a typo, not an empty result."""
    known = {
        "audience": set(plan.campaign.audiences),
        "channel": set(plan.campaign.channels),
        "locale": {locale for a in plan.campaign.audiences.values() for locale in a.locales},
    }
    for kind, names in known.items():
        for name in getattr(arguments, kind):
            if name not in names:
                raise DefinitionError(
                    [
                        Problem(
                            str(plan.source),
                            None,
                            f"--{kind} '{name}' is not in this campaign "
                            f"(known: {', '.join(sorted(names))})",
                        )
                    ]
                )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD") from None


def _allow_templates(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-templates-in",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="let templates come from DIR, outside the campaign's project (repeatable)",
    )


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        # Messages quote file contents and template text: nothing reaches the terminal raw.
        print(printable(str(problem)), file=sys.stderr)
