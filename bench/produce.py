"""Send the baseline tasks, as fast as one process can: the baselines' counterpart of the
scheduler, in a process of its own so that its CPU is counted like the scheduler's.

    python -m bench.produce noop COUNT
    python -m bench.produce post COUNT URL TEXT

Prints the epoch second it started sending, then "sent cpu=<seconds of CPU it used>".
"""

from __future__ import annotations

import resource
import sys
import time

from workers.app import create_app
from workers.settings import load_settings


def main() -> None:
    kind, count = sys.argv[1], int(sys.argv[2])
    app = create_app(load_settings())
    queue = app.conf.task_default_queue
    # One task at a time, as workers.app.send_publish sends the scheduler's.
    print(f"{time.time():.6f}", flush=True)
    for number in range(count):
        post_id = f"b{kind}{number:012d}"
        if kind == "noop":
            args: list[str] = [post_id]
        else:
            url, text = sys.argv[3], sys.argv[4]
            args = [post_id, url, f"bench-{number % 10:04d}", f"{text} {number}", "en"]
        app.send_task(f"bench.{kind}", args=args, queue=queue)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"sent cpu={usage.ru_utime + usage.ru_stime:.3f} at={time.time():.6f}", flush=True)


if __name__ == "__main__":
    main()
