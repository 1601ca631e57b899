"""What several delivery commands share: a plan for the store, applying files, showing a diff.

Delivery modules are imported inside the functions, so `campaign --help` and the authoring
commands never pay for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.plan import Plan, load_campaign, load_plan
from campaign.post import utc_iso
from campaign.terminal import printable

if TYPE_CHECKING:
    from workers.diff import PlanDiff
    from workers.store import Store

    # argparse keeps the subparsers type private (and not subscriptable at run time).
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# Lines of a plan shown before "and N more" (all of them with --verbose).
SHOWN = 20


def planned(path: Path, store: Store) -> tuple[Plan, float]:
    """The plan of a campaign file as the store will hold it, and the launch it counts from:
    the stored campaign's first apply, or now for a campaign not stored yet.

    Raises:
        DefinitionError: the file is invalid.
    """
    campaign, _ = load_campaign(path)
    record = store.campaign(campaign.campaign)
    launch = record.launched_at if record else datetime.now(UTC).replace(microsecond=0)
    return load_plan(path, launched_at=launch), launch.timestamp()


def apply_files(
    store: Store, files: Sequence[Path], progress: Callable[[int, int], None] | None = None
) -> list[PlanDiff]:
    """Apply each campaign file, all or nothing per file; the differences applied.

    Raises:
        DefinitionError: a file is invalid (nothing of it is applied).
        StoreError: the store failed.
    """
    from workers import diff

    applied = []
    for path in files:
        plan, launched = planned(path, store)
        applied.append(
            diff.apply(
                store,
                plan.campaign,
                plan.posts,
                progress,
                launched=launched,
                base=path.resolve().parent,
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


def format_diff(changes: PlanDiff, *, applied: bool, verbose: bool = False) -> str:
    """A plan for people: one summary line, then each change (the first few unless verbose)."""
    verb = "applied" if applied else "to apply"
    if changes.empty:
        lines = [f"campaign {changes.campaign}: no changes; the store matches the file"]
    else:
        lines = [
            f"campaign {changes.campaign} ({verb}): {len(changes.add)} to add, "
            f"{len(changes.change)} to change, {len(changes.cancel)} to cancel"
        ]
    marks = (("+", changes.add), ("~", changes.change), ("-", changes.cancel), ("=", changes.kept))
    rows = [(mark, row) for mark, group in marks for row in group]
    shown = rows if verbose else rows[:SHOWN]
    for mark, row in shown:
        detail = f"  ({row.detail})" if row.detail else ""
        lines.append(
            f"  {mark} {utc_iso(row.scheduled_at)}  {printable(row.channel)}  {row.locale}  "
            f"{row.post_id}{detail}"
        )
    if len(shown) < len(rows):
        lines.append(f"  ... and {len(rows) - len(shown)} more (--verbose shows every one)")
    if changes.kept:
        lines.append("  (= not changed: already being sent or done)")
    lines.extend(f"  settings: {what}" for what in changes.settings_changed)
    return "\n".join(lines) + "\n"


def print_diff(changes: PlanDiff, *, applied: bool, verbose: bool = False) -> None:
    sys.stdout.write(format_diff(changes, applied=applied, verbose=verbose))
