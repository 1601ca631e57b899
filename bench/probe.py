"""Another client of a Redis, in a process of its own: PING every few milliseconds until its
stdin closes, then print how many it sent, the longest wait for an answer (seconds), and the
priority it ran at (real-time where allowed).

In its own process so that nothing of the benchmark (the GIL of a process applying a plan)
delays it: the longest wait is the longest time Redis answered nobody.

    python -m bench.probe PORT [EVERY]
"""

from __future__ import annotations

import os
import sys
import threading
import time

import redis


def _first_in_line() -> str:
    """Ask to run as soon as woken (real-time priority, else a better nice), so that the
    machine's other work does not count as Redis's silence; says which it got."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "real-time"
    except (OSError, AttributeError):
        pass
    try:
        os.nice(-10)
        return "nice -10"
    except OSError:
        return "normal priority"


def main() -> None:
    port, every = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.002
    priority = _first_in_line()
    client = redis.Redis(port=port, socket_timeout=600)
    done = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    longest, pings = 0.0, 0
    print("ready", flush=True)
    while not done.is_set():
        began = time.perf_counter()
        client.ping()
        longest = max(longest, time.perf_counter() - began)
        pings += 1
        time.sleep(every)
    print(f"{pings} {longest:.6f} {priority}", flush=True)


if __name__ == "__main__":
    main()
