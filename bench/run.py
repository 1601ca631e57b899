"""Every figure of issue 13, each with its baseline measured in the same run: a table, and
BENCHMARKS.md.

    python bench/run.py                 the full run (about an hour on 2 cores; 1M posts)
    python bench/run.py --quick         a few minutes: smaller sizes, same figures
    python bench/run.py --only apply    one section (delivery, apply, store, preview)

Nothing is shared with anything else on the machine: each section starts its own redis-server
on a free port, its own servers and workers, in a temporary folder. The machine's load is
recorded before and after each section: other work on the machine moves the figures.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, Context, Figure, load_average, machine

SECTIONS = {
    "delivery": "bench.delivery",  # Celery + Redis, and campaign run (bench/embedded.py)
    "apply": "bench.apply",
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
    facts: dict[str, str], context: Context, loads: list[str], quick: bool, took: float
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Issue 13's figures, each with its baseline measured in the same run, produced by "
        f"`python bench/run.py{' --quick' if quick else ''}` ({took / 60:.0f} min). Ratios are "
        "what the targets speak of: absolute rates move with the machine and whatever else runs "
        "on it. What each figure measures and where the time goes: docs/scaling.md.",
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
    for made in context.figures:
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
    if context.notes:
        lines += ["", "## Notes from the run", ""]
        lines += [f"- {note}" for note in context.notes]
    return "\n".join(lines) + "\n"


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
    arguments = parser.parse_args()
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
    arguments.output.write_text(markdown(facts, context, loads, arguments.quick, took))
    print(f"\nwritten: {arguments.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
