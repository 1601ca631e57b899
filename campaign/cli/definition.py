"""CLI commands that read campaign files and never touch a network or a store."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.cli.common import add_allow_templates
from campaign.errors import DefinitionError, Problem
from campaign.terminal import printable

if TYPE_CHECKING:
    from campaign.plan import Plan

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

Formats: table (a timeline by local day), json (one object per post), html (one self-contained
page: timeline, month calendar and language matrix), matrix (which message reaches which
audience in which language: present, a fallback to another language, or missing) and
matrix-json. --audience, --channel and --locale narrow every format; --from and --to select
posts by local day and do not apply to the matrix, which covers the whole campaign.

A post its platform would refuse (over the length limit, ...) is shown, marked, and listed on
standard error with every other error, such as a template missing for a locale; the output is
still written. Exit status: 0 when the campaign has no error, 1 when it has any (or cannot be
read), 2 on a usage error.

examples:
  campaign preview config/safe-migration.yaml
  campaign preview config/safe-migration.yaml --audience migrants-kg --locale ky
  campaign preview config/safe-migration.yaml --from 2026-12-18 --to 2026-12-25 --format json
  campaign preview config/safe-migration.yaml --format html --output preview.html
  campaign preview config/safe-migration.yaml --format matrix
  campaign preview config/safe-migration.yaml --format matrix-json --audience kosovo-partners
"""

SCHEMA_HELP = """\
Print the JSON Schema of campaign files, for editors that validate and complete YAML.

example:
  campaign schema > campaign.schema.json
"""


FORMATS = ("table", "json", "html", "matrix", "matrix-json")


def register(commands: Commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="check campaign files and every post they describe",
        description=VALIDATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", type=Path, help="campaign YAML")
    add_allow_templates(validate)
    validate.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default: problems as FILE:LINE lines) or json",
    )
    validate.set_defaults(handler=run_validate)

    preview = commands.add_parser(
        "preview",
        help="show what will be posted, where and when (dry run)",
        description=PREVIEW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preview.add_argument("file", metavar="FILE", type=Path, help="campaign YAML")
    add_allow_templates(preview)
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
        choices=FORMATS,
        default="table",
        help="table (default), json, html (one self-contained file), matrix or matrix-json",
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
    from campaign.plan import build_plan

    failed = False
    report: list[dict[str, object]] = []
    for path in arguments.files:
        shown = printable(str(path))
        try:
            plan = build_plan(path, allowed_template_roots=arguments.allow_templates_in)
            if plan.errors:  # the warnings too: everything preview would show, in one run
                raise DefinitionError(plan.errors, warnings=plan.warnings)
        except DefinitionError as exc:
            failed = True
            problems = sorted([*exc.problems, *exc.warnings], key=Problem.sort_key)
            report.append({"file": str(path), "ok": False, "problems": _json(problems)})
            if arguments.format == "table":
                _print_problems(problems)
                print(f"{shown}: {len(exc.problems)} error(s)", file=sys.stderr)
            continue
        report.append(
            {"file": str(path), "ok": True, "posts": len(plan.posts),
             "problems": _json(plan.warnings)}
        )  # fmt: skip
        if arguments.format == "table":
            _print_problems(plan.warnings)
            print(f"{shown}: ok, {len(plan.posts)} posts, {len(plan.warnings)} warning(s)")
    if arguments.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if failed else 0


def _json(problems: list[Problem]) -> list[dict[str, object]]:
    return [
        {"file": p.file, "line": p.line, "severity": str(p.severity), "message": p.message}
        for p in problems
    ]


def run_preview(arguments: argparse.Namespace) -> int:
    from campaign.html import Page, render_html
    from campaign.plan import build_plan
    from campaign.preview import Selection, as_json, as_table, matrix_json, matrix_table, select

    try:
        plan = build_plan(arguments.file, allowed_template_roots=arguments.allow_templates_in)
    except DefinitionError as exc:
        _print_problems(exc.problems)
        return 1
    _check_names(plan, arguments)
    selection = Selection(
        audiences=frozenset(arguments.audience),
        channels=frozenset(arguments.channel),
        locales=frozenset(arguments.locale),
        first_day=arguments.first_day,
        last_day=arguments.last_day,
    )
    posts = select(plan.posts, selection)
    routes = [route for route in plan.routes if selection.takes(route)]
    title = plan.campaign.title
    if arguments.format == "json":
        text = as_json(posts)
    elif arguments.format == "html":
        text = render_html(
            Page(
                title=title,
                campaign=plan.campaign.campaign,
                posts=posts,
                routes=routes,
                problems=[str(p) for p in plan.errors],
                template_root=plan.template_root,
            )
        )
    elif arguments.format == "matrix":
        text = matrix_table(title, routes)
    elif arguments.format == "matrix-json":
        text = matrix_json(plan.campaign.campaign, title, routes)
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        text = as_table(title, posts, width=width)
    if arguments.output is None:
        sys.stdout.write(text)
    else:
        arguments.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(posts)} posts to {arguments.output}", file=sys.stderr)
    if plan.errors:
        _print_problems(plan.errors)
        print(
            f"{arguments.file}: {len(plan.errors)} error(s); the preview shows the campaign as "
            "it is, and `campaign apply` refuses it until they are fixed",
            file=sys.stderr,
        )
        return 1
    return 0


def run_schema(arguments: argparse.Namespace) -> int:
    from campaign.definition import Campaign

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


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        # Messages quote file contents and template text: nothing reaches the terminal raw.
        print(printable(str(problem)), file=sys.stderr)
