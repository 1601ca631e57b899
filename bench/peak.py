"""Run `python -m MODULE ...` or `python -c CODE ...` and write this process's peak resident
memory (VmHWM, bytes) to the file $BENCH_PEAK_FILE.

The kernel's ru_maxrss of a child counts the memory of the process that started it (its pages
before exec), so a benchmark holding a million posts would see every child as big; VmHWM is the
child's own.

    python -m bench.peak -m campaign status CAMPAIGN
    python -m bench.peak -c "from campaign.plan import load_plan; load_plan('x.yaml')"
"""

from __future__ import annotations

import os
import runpy
import sys


def _peak() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    kind, target, *rest = sys.argv[1:]
    code: int | str | None = 0
    try:
        if kind == "-m":
            sys.argv = [target, *rest]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *rest]
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as exc:
        code = exc.code
    finally:
        with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
            out.write(str(_peak()))
    sys.exit(code)


if __name__ == "__main__":
    main()
