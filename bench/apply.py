"""Applying big plans to Redis: the rate against a bare pipeline writing the same keys, the
longest time Redis answered nobody meanwhile, how late the posts of another campaign went out
meanwhile, and the bytes Redis keeps per post.

The Celery rig of bench/delivery.py delivers the other campaign (a post every 0.2 s through the
apply) while the plan is applied from this process; a probe client pings Redis every 2 ms.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from bench import plans
from bench.delivery import CeleryRig
from bench.harness import Context, Probe, figure, percentile, wait_until
from campaign.post import Post
from workers import diff
from workers.store import State

SECTION = "apply (Redis)"


def run(context: Context) -> None:
    sizes = [20_000, 100_000] if context.quick else [100_000, 300_000, 1_000_000]
    rig = CeleryRig(context.folder("apply"), channels=10)
    try:
        for size in sizes:
            _one(context, rig, size, last=size == sizes[-1])
    finally:
        rig.stop()


def _one(context: Context, rig: CeleryRig, size: int, *, last: bool) -> None:
    slug = f"big{size}"
    plan = plans.campaign(slug, 100, rig.server.url)
    # Far ahead, a post a minute: nothing of it becomes due during the benchmark.
    start = time.time() + 30 * 86400
    posts = plans.posts(plan, [start + 60 * index for index in range(size)])
    # The other campaign: one post every 0.2 s while the apply runs (the apply's length guessed
    # from a rate well below ours), applied before it starts.
    window = 10 + size / 5000
    other = plans.campaign(f"other{size}", 10, rig.server.url)
    first = time.time() + 3
    others = plans.posts(other, [first + 0.2 * index for index in range(int(window / 0.2))])
    diff.apply(rig.store, other, others)
    used_before = int(rig.redis.client().info("memory")["used_memory"])
    time.sleep(max(0.0, first - time.time()))

    # The applier at a lower priority, as a big apply on the machine that delivers should run
    # (`nice campaign apply`): on 2 cores it would otherwise take the CPU the delivery needs.
    with Probe(rig.redis.port) as probe, Stalls(rig) as stalls, niced(10):
        began = time.perf_counter()
        diff.apply(rig.store, plan, posts)
        took = time.perf_counter() - began
    used_after = int(rig.redis.client().info("memory")["used_memory"])
    bare_rate, bare_longest, bare_stall = _bare(rig, posts)
    wait_until(
        lambda: (
            rig.store.counts(other.campaign)[State.SENT]
            + rig.store.counts(other.campaign)[State.MISSED]
            >= len(others)
        ),
        window + 120,
        "the other campaign delivered",
    )
    received = rig.server.received()
    lateness = [
        received.get(post.id, float("inf")) - post.scheduled_at.timestamp() for post in others
    ]
    context.add(figure(
        SECTION, f"apply {size:,} posts", size / took, "posts/s", baseline=bare_rate,
        baseline_name="bare redis-py pipelines writing the same keys",
        note=f"{took:.1f} s",
    ))  # fmt: skip
    context.add(figure(
        SECTION, f"apply {size:,} posts: longest time Redis answered nobody", stalls.longest * 1000,
        "ms", baseline=bare_stall * 1000, baseline_name="the same, during the bare pipelines",
        target="<= 50 ms", check=lambda f: f.value <= 50,
        note=f"Redis's own latency monitor and slow log; {stalls.slowest}",
    ))  # fmt: skip
    context.add(figure(
        SECTION, f"apply {size:,} posts: longest a probe client waited", probe.longest * 1000,
        "ms", baseline=bare_longest * 1000, baseline_name="the same, during the bare pipelines",
        note=f"{probe.pings:,} PINGs 2 ms apart from a {probe.priority} process; includes the "
        "time Redis waited for a CPU on this busy 2-core machine",
    ))  # fmt: skip
    context.add(figure(
        SECTION, f"apply {size:,} posts: lateness of another campaign's posts, p99",
        percentile(lateness, 0.99), "s", target="on time (<= 0.1 s)",
        check=lambda f: f.value <= 0.1,
        note=f"{len(others)} posts 0.2 s apart; max {max(lateness):.3f} s; the applier at nice 10",
    ))  # fmt: skip
    if last:
        text = sum(len(post.text.encode()) for post in posts) / size
        context.add(figure(
            SECTION, f"Redis bytes per post at {size:,} posts", (used_after - used_before) / size,
            "bytes", target="<= 500", check=lambda f: f.value <= 500,
            note=f"texts of {text:.0f} bytes; used_memory before and after the apply",
        ))  # fmt: skip


@contextmanager
def niced(steps: int) -> Iterator[None]:
    """This process at `steps` lower priority inside the block (root gets it back after)."""
    os.nice(steps)
    try:
        yield
    finally:
        with suppress(OSError):
            os.nice(-steps)


def _bare(rig: CeleryRig, posts: list[Post]) -> tuple[float, float, float]:
    """Write the keys our apply writes for `posts`, with bare redis-py pipelines of 1,000
    posts, in another database; the rate, the probe's longest wait and Redis's longest stall."""
    client = rig.redis.client(2)
    client.flushdb()
    with Probe(rig.redis.port) as probe, Stalls(rig) as stalls:
        began = time.perf_counter()
        plans.write_like_the_store(client, "campaign:", posts)
        took = time.perf_counter() - began
    client.flushdb()
    client.close()
    return len(posts) / took, probe.longest, stalls.longest


class Stalls:
    """The longest Redis spent on one thing (a command, a script, an AOF write, a fork) while
    the block runs, from its latency monitor and its slow log (1 ms and more)."""

    def __init__(self, rig: CeleryRig) -> None:
        self._client = rig.redis.client()
        self.longest = 0.0
        self.slowest = ""

    def __enter__(self) -> Stalls:
        self._client.config_set("latency-monitor-threshold", 1)
        self._client.config_set("slowlog-log-slower-than", 1000)
        self._client.config_set("slowlog-max-len", 10000)
        self._client.execute_command("LATENCY", "RESET")  # type: ignore[no-untyped-call]
        self._client.slowlog_reset()
        return self

    def __exit__(self, *exc: object) -> None:
        events = self._client.execute_command("LATENCY", "LATEST")  # type: ignore[no-untyped-call]
        slow = self._client.slowlog_get(10000)
        worst = max(events, key=lambda event: int(event[3]), default=None)
        slowest = max(slow, key=lambda entry: int(entry["duration"]), default=None)
        self.longest = max(
            int(worst[3]) / 1000 if worst else 0.0,
            int(slowest["duration"]) / 1e6 if slowest else 0.0,
        )
        parts = []
        if worst is not None:
            parts.append(f"longest event {worst[0]!s} {int(worst[3])} ms")
        if slowest is not None:
            command = slowest["command"]
            name = (command.decode() if isinstance(command, bytes) else str(command)).split()[0]
            parts.append(f"slowest command {int(slowest['duration']) / 1000:.1f} ms ({name})")
        self.slowest = "; ".join(parts)
        self._client.close()
