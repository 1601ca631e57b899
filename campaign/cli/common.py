"""What the delivery commands share: settings and the store, scopes, confirmations, times,
a plan for the store, and showing a plan.

Heavy modules (the plan, the store, the platforms) are imported inside the functions, so
`campaign --help` and commands that do not need them never pay for them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from campaign.terminal import printable

if TYPE_CHECKING:
    from campaign.plan import Plan
    from workers.diff import Change, PlanDiff
    from workers.settings import Settings
    from workers.store import Scope, Store

    # argparse keeps the subparsers type private (and not subscriptable at run time).
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# Lines of a plan shown before "and N more" (all of them with --verbose).
SHOWN = 20

STORE_NOTE = """
The store is the embedded SQLite file in CAMPAIGN_DATA_DIR (default
~/.local/share/campaign-scheduler), or the Redis at CAMPAIGN_REDIS_URL when it is set.
Settings come from the environment and the first .env found in this folder or above it
(or --env-file / CAMPAIGN_ENV_FILE).
"""


def add_command(
    commands: Commands, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json"
    )


def add_allow_templates(parser: argparse.ArgumentParser) -> None:
    """--allow-templates-in: every command that renders a campaign file takes it alike."""
    parser.add_argument(
        "--allow-templates-in",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="let templates come from DIR, outside the campaign's project (repeatable)",
    )


def add_scope(parser: argparse.ArgumentParser) -> None:
    """--audience, --channel, --locale: a part of a campaign (all that are given must match)."""
    parser.add_argument("--audience", metavar="A", help="only this audience's posts")
    parser.add_argument("--channel", metavar="C", help="only this channel's posts")
    parser.add_argument("--locale", metavar="L", help="only posts in this language, e.g. ky")


def scope_of(args: argparse.Namespace) -> Scope:
    from workers.store import Scope

    return Scope(args.audience, args.channel, args.locale)


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings, from the environment and the .env the command line names or finds.

    Raises:
        ConfigurationError: a setting is unknown or invalid.
    """
    from workers.settings import load_settings

    return load_settings(getattr(args, "env_file", None))


def store_of(args: argparse.Namespace) -> Store:
    """The store the settings name.

    Raises:
        ConfigurationError, StoreError: it cannot be opened.
    """
    from workers.store import open_store

    return open_store(settings_of(args))


def confirm(question: str, *, assume_yes: bool) -> bool:
    """Ask on a terminal; without one, only --yes says yes.

    Raises:
        ConfigurationError: not on a terminal and no --yes.
    """
    from campaign.errors import ConfigurationError

    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigurationError(f"{question} Not on a terminal: add --yes to go ahead")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def local(moment: datetime, zone: str) -> str:
    """A UTC instant as a person in `zone` reads it: 2026-12-18 10:00 +06:00."""
    when = moment.astimezone(ZoneInfo(zone))
    offset = when.strftime("%z")
    shown = f"{when:%Y-%m-%d %H:%M:%S}" if when.second else f"{when:%Y-%m-%d %H:%M}"
    return f"{shown} {offset[:3]}:{offset[3:]}"


def utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the millisecond; the one way JSON writes instants."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# --- plans -------------------------------------------------------------------------------------


def planned(
    path: Path, store: Store, *, allowed_template_roots: Sequence[Path] = ()
) -> tuple[Plan, float]:
    """The plan of a campaign file as the store will hold it, and the launch it counts from:
    the stored campaign's first apply, or now for a campaign not stored yet.

    Raises:
        DefinitionError: the file is invalid.
    """
    from campaign.plan import load_campaign, load_plan

    campaign, _ = load_campaign(path)
    record = store.campaign(campaign.campaign)
    launch = record.launched_at if record else datetime.now(UTC).replace(microsecond=0)
    plan = load_plan(path, launched_at=launch, allowed_template_roots=allowed_template_roots)
    return plan, launch.timestamp()


def apply_files(
    store: Store,
    files: Sequence[Path],
    progress: Callable[[int, int], None] | None = None,
    *,
    accept_claim_loss: bool = False,
    allowed_template_roots: Sequence[Path] = (),
) -> list[PlanDiff]:
    """Apply each campaign file, all or nothing per file; the differences applied.

    Raises:
        DefinitionError: a file is invalid (nothing of it is applied).
        StoreError: the store failed.
    """
    from workers import diff

    applied = []
    for path in files:
        plan, launched = planned(path, store, allowed_template_roots=allowed_template_roots)
        applied.append(
            diff.apply(
                store,
                plan.campaign,
                plan.posts,
                progress,
                launched=launched,
                base=path.resolve().parent,
                accept_claim_loss=accept_claim_loss,
            )
        )
    return applied


def progress_bar(label: str) -> Callable[[int, int], None] | None:
    """A progress bar on a terminal's stderr; None elsewhere."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        bar = "#" * filled + "." * (30 - filled)
        end = "\n" if done >= total else ""
        print(f"\r{label} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _rows(changes: PlanDiff) -> list[tuple[str, Change]]:
    marks = (("+", changes.add), ("~", changes.change), ("-", changes.cancel), ("=", changes.kept))
    return [(mark, row) for mark, group in marks for row in group]


def format_diff(changes: PlanDiff, *, applied: bool, verbose: bool = False) -> str:
    """A plan for people: one summary line, then each change in its audience's local time, the
    text changes as diffs (the first few unless verbose)."""
    verb = "applied" if applied else "to apply"
    if changes.empty:
        lines = [f"campaign {changes.campaign}: no changes; the store matches the file"]
    else:
        lines = [
            f"campaign {changes.campaign} ({verb}): {len(changes.add)} to add, "
            f"{len(changes.change)} to change, {len(changes.cancel)} to cancel"
        ]
    rows = _rows(changes)
    shown = rows if verbose else rows[:SHOWN]
    for mark, row in shown:
        detail = f"  ({row.detail})" if row.detail else ""
        lines.append(
            f"  {mark} {local(row.scheduled_at, row.zone)}  {printable(row.channel)}  "
            f"{row.locale}  {row.post_id}{detail}"
        )
        if row.old_text is not None and row.new_text is not None:
            lines.extend(f"      {line}" for line in text_diff(row.old_text, row.new_text))
    if len(shown) < len(rows):
        lines.append(f"  ... and {len(rows) - len(shown)} more (--verbose shows every one)")
    if changes.kept:
        lines.append("  (= not changed: already being sent or done)")
    lines.extend(f"  settings: {what}" for what in changes.settings_changed)
    return "\n".join(lines) + "\n"


def text_diff(old: str, new: str) -> list[str]:
    """The lines that change between two texts, as - and + lines."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return [printable(line) for line in lines if not line.startswith(("---", "+++", "@@"))]


def diff_json(changes: PlanDiff, *, applied: bool) -> dict[str, Any]:
    def row(change: Change) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": change.post_id,
            "channel": change.channel,
            "locale": change.locale,
            "scheduled_at": utc(change.scheduled_at),
            "local_time": change.scheduled_at.astimezone(ZoneInfo(change.zone)).isoformat(),
            "detail": change.detail,
        }
        if change.old_text is not None:
            entry.update(old_text=change.old_text, new_text=change.new_text)
        return entry

    return {
        "campaign": changes.campaign,
        "applied": applied,
        "add": [row(c) for c in changes.add],
        "change": [row(c) for c in changes.change],
        "cancel": [row(c) for c in changes.cancel],
        "kept": [row(c) for c in changes.kept],
        "settings": changes.settings_changed,
    }


def print_diff(changes: PlanDiff, *, applied: bool, verbose: bool = False) -> None:
    sys.stdout.write(format_diff(changes, applied=applied, verbose=verbose))
