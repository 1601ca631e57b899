"""Every figure of issue 13, each with its baseline measured in the same run: a table, and
BENCHMARKS.md.

    python bench/run.py                 the full run (about an hour on 2 cores; 1M posts)
    python bench/run.py --quick         a few minutes: smaller sizes, same figures
    python bench/run.py --only apply    one section (delivery, apply, sqlite-apply, store,
                                        preview)
    python bench/run.py --report-only   BENCHMARKS.md again from the last run's figures
                                        (bench/last-run.json) and bench/explained.md

Nothing is shared with anything else on the machine: each section starts its own redis-server
on a free port, its own servers and workers, in a temporary folder. The machine's load is
recorded before and after each section: other work on the machine moves the figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, Context, Figure, load_average, machine

SECTIONS = {
    "delivery": "bench.delivery",  # Celery + Redis, and campaign run (bench/embedded.py)
    "apply": "bench.apply",
    "sqlite-apply": "bench.sqlite_apply",
    "store": "bench.store",
    "preview": "bench.preview",
}


def table(figures: list[Figure]) -> list[str]:
    rows = [("figure", "value", "baseline", "ratio", "target", "met?")]
    for made in figures:
        rows.append(
            (
                made.name,
                f"{made.value:,.4g} {made.unit}",
                f"{made.baseline:,.4g} ({made.baseline_name})" if made.baseline is not None
                else made.baseline_name,
                f"{made.ratio:.2f}x" if made.ratio is not None else "",
                made.target,
                "" if made.met is None else ("yes" if made.met else "NO"),
            )
        )  # fmt: skip
    return [" | ".join(row) for row in rows]


def markdown(
    facts: dict[str, str],
    figures: list[Figure],
    notes: list[str],
    loads: list[str],
    quick: bool,
    took: float,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Issue 13's figures, each with its baseline measured in the same run, produced by "
        f"`python bench/run.py{' --quick' if quick else ''}` ({took / 60:.0f} min). Ratios are "
        "what the targets speak of: absolute rates move with the machine and whatever else runs "
        "on it. How to read them and where the time goes: below the figures; what they mean for "
        "growth: docs/scaling.md.",
        "",
        "## Machine",
        "",
        *[f"- {name}: {value}" for name, value in facts.items()],
        *[f"- load average {load}" for load in loads],
        "",
        "## Figures",
        "",
        "| section | figure | value | baseline | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for made in figures:
        baseline = (
            f"{made.baseline:,.4g} ({made.baseline_name})"
            if made.baseline is not None
            else made.baseline_name
        )
        ratio = f"{made.ratio:.2f}x" if made.ratio is not None else ""
        met = "" if made.met is None else ("yes" if made.met else "**no**")
        name = made.name + (f" ({made.note})" if made.note else "")
        lines.append(
            f"| {made.section} | {name} | {made.value:,.4g} {made.unit} | {baseline} | {ratio} "
            f"| {made.target} | {met} |"
        )
    if notes:
        lines += ["", "## Notes from the run", ""]
        lines += [f"- {note}" for note in notes]
    lines += ["", EXPLAINED.read_text().rstrip()]
    return "\n".join(lines) + "\n"


EXPLAINED = ROOT / "bench" / "explained.md"
LAST_RUN = ROOT / "bench" / "last-run.json"


def save(
    facts: dict[str, str], context: Context, loads: list[str], quick: bool, took: float
) -> None:
    LAST_RUN.write_text(
        json.dumps(
            {
                "machine": facts,
                "figures": [asdict(made) for made in context.figures],
                "notes": context.notes,
                "loads": loads,
                "quick": quick,
                "took": took,
            },
            indent=1,
        )
    )


def merge(context: Context, sections: list[str], loads: list[str], took: float) -> None:
    """Put the figures of sections run again into the last whole run (same machine)."""
    run = json.loads(LAST_RUN.read_text())
    again = {made.section for made in context.figures}
    kept = [made for made in run["figures"] if made["section"] not in again]
    run["figures"] = kept + [asdict(made) for made in context.figures]
    run["notes"] += [f"run again ({', '.join(sections)}): {note}" for note in context.notes]
    run["loads"] += [f"{load} (run again)" for load in loads]
    run["took"] += took
    LAST_RUN.write_text(json.dumps(run, indent=1))


def report_again(output: Path) -> None:
    run = json.loads(LAST_RUN.read_text())
    figures = [Figure(**made) for made in run["figures"]]
    output.write_text(
        markdown(run["machine"], figures, run["notes"], run["loads"], run["quick"], run["took"])
    )
    print(f"written: {output}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="one section")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "BENCHMARKS.md", help="where to write the report"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--report-only", action="store_true", help="BENCHMARKS.md again from the last run"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: replace those sections' figures in the last run, and write the report",
    )
    arguments = parser.parse_args()
    if arguments.report_only:
        report_again(arguments.output)
        return 0
    facts = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()), flush=True)
    began = time.monotonic()
    loads = []
    failed = False
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        context = Context(folder, arguments.quick)
        for name in arguments.only or list(SECTIONS):
            load = "{:.2f} {:.2f} {:.2f}".format(*load_average())
            loads.append(f"before {name}: {load}")
            print(f"\n== {name} (load average {load})", flush=True)
            try:
                importlib.import_module(SECTIONS[name]).run(context)
            except Exception:
                failed = True
                traceback.print_exc()
                context.note(f"section {name} failed: see the run's output")
        loads.append("at the end: {:.2f} {:.2f} {:.2f}".format(*load_average()))
    finally:
        if arguments.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    took = time.monotonic() - began
    print()
    for line in table(context.figures):
        print(line)
    if not arguments.only:  # a whole run is the one the report keeps
        save(facts, context, loads, arguments.quick, took)
    elif arguments.merge:
        merge(context, arguments.only, loads, took)
    if arguments.only and arguments.merge:
        report_again(arguments.output)
    else:
        arguments.output.write_text(
            markdown(facts, context.figures, context.notes, loads, arguments.quick, took)
        )
    print(f"\nwritten: {arguments.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
