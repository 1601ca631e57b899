"""Delivery at speed, on the Celery + Redis path: end to end against bare Celery tasks, CPU and
Redis round trips per post, 10,000 posts due at once across 1,000 channels, lone-post
lateness, and the worker's memory over the run.

One Redis (store in db 0, broker in db 1), one fast Mastodon-shaped server, one worker with the
documented command at `--concurrency 2`, one `campaign scheduler`: the baselines' tasks run in
the same worker processes, sent by a producer process in the scheduler's place.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import embedded, plans
from bench.harness import (
    Context,
    FastMastodon,
    RedisProcess,
    Service,
    at_least,
    at_most,
    cpu_seconds,
    descendants,
    figure,
    percentile,
    rss_bytes,
    settings_env,
    tcp_ports,
    wait_until,
)
from workers import diff
from workers.settings import Settings
from workers.store import State
from workers.store.redis import RedisStore

SECTION = "delivery (Celery + Redis)"
QUEUE = "campaign.publish"
WORKER = [
    "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", "prefork", "--concurrency", "2",
    "--without-gossip", "--without-mingle", "--queues", QUEUE, "--loglevel", "INFO",
    "--hostname", "bench@%h",
]  # fmt: skip
TEXT = plans.TIP.format(day="01.01.2030")


@dataclass
class Run:
    """One measured run: posts, seconds, CPU seconds per process, lateness of each post."""

    posts: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.posts / self.seconds

    def cpu_ms(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / self.posts


class CeleryRig:
    """Redis, the fast server, a worker and a scheduler, for one set of token variables."""

    def __init__(self, folder: Path, channels: int) -> None:
        self.folder = folder
        self.redis = RedisProcess(folder / "redis")
        self.server = FastMastodon(folder)
        self.env = {**settings_env(self.redis.port), **plans.token_env(channels)}
        self.worker = Service(WORKER, folder / "worker.log", self.env)
        self.scheduler = Service(
            ["-m", "campaign", "scheduler"], folder / "scheduler.log", self.env
        )
        self.worker.wait_for(" ready.")
        self.scheduler.wait_for("scheduler started")
        settings = Settings.model_validate(
            {"redis_url": self.redis.url(0), "broker_url": self.redis.url(1)}
        )
        self.store = RedisStore.connect(settings)
        self.broker = self.redis.client(1)
        self.campaigns = 0

    def restart_scheduler(self, **env: str) -> None:
        """The scheduler again, with these settings too (e.g. CAMPAIGN_PUBLISH_BATCH)."""
        self.scheduler.stop()
        self.scheduler = Service(
            ["-m", "campaign", "scheduler"], self.folder / "scheduler.log", {**self.env, **env}
        )
        self.scheduler.wait_for("scheduler started")

    def pids(self) -> dict[str, int]:
        return {
            "worker": self.worker.pid,
            "redis": self.redis.pid,
            "server": self.server.pid,
            "scheduler": self.scheduler.pid,
        }

    def stop(self) -> None:
        self.store.close()
        self.broker.close()
        for service in (self.scheduler, self.worker):
            service.stop()
        self.server.stop()
        self.redis.stop()

    # --- runs ---------------------------------------------------------------------------------

    def baseline(self, kind: str, count: int) -> Run:
        """The producer sends `count` bare tasks; done when the queue and its unacked are empty."""
        before = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        producer = Service(
            ["-m", "bench.produce", kind, str(count), self.server.url, TEXT],
            self.folder / f"produce-{kind}-{time.monotonic_ns()}.log",
            self.env,
        )
        producer.wait_for("\n")
        started = float(producer.output().split()[0])

        def drained() -> bool:
            if producer.process.poll() is None:
                return False
            return self.broker.llen(QUEUE) == 0 and self.broker.hlen("unacked") == 0

        wait_until(drained, 600, f"{count} {kind} tasks done")
        done = time.time()
        producer.stop()
        used = {name: cpu_seconds(pid) - before[name] for name, pid in self.pids().items()}
        used["scheduler"] = float(re.findall(r"cpu=([\d.]+)", producer.output())[-1])
        return Run(count, done - started, used)

    def ours(self, count: int, channels: int, *, spacing: float = 0.0) -> Run:
        """Apply `count` posts over `channels` channels, all due at one instant (or `spacing`
        seconds apart), and wait until every one is sent."""
        self.campaigns += 1
        slug = f"bench{self.campaigns}"
        plan = plans.campaign(slug, channels, self.server.url)
        start = time.time() + 3 + count / 3000
        times = [start + index * spacing for index in range(count)]
        posts = plans.posts(plan, times)
        diff.apply(self.store, plan, posts)
        time.sleep(max(0.0, start - time.time() - 0.3))
        before = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        wait_until(
            lambda: self.store.counts(slug)[State.SENT] >= count,
            600 + count * spacing,
            f"{count} posts sent",
            every=0.01,
        )
        done = time.time()
        used = {name: cpu_seconds(pid) - before[name] for name, pid in self.pids().items()}
        received = self.server.received()
        lateness = [received[post.id] - post.scheduled_at.timestamp() for post in posts]
        counts = self.store.counts(slug)
        if counts[State.SENT] != count:
            raise RuntimeError(f"{slug}: {counts}")
        return Run(count, done - start, used, lateness)


# --- counting Redis commands ---------------------------------------------------------------------

_LINE = re.compile(rb'^\+[\d.]+ \[(\d+) ([^\]]+)\] "([^"]+)"')


class Monitor:
    """Every command Redis runs while it is on, from MONITOR: (db, client address, command)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(b"MONITOR\r\n")
        self.lines: list[tuple[str, str, str]] = []
        self._buffer = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\r\n")
            for line in complete:
                match = _LINE.match(line)
                if match:
                    db, who, command = (part.decode() for part in match.groups())
                    self.lines.append((db, who, command.upper()))

    def stop(self) -> None:
        time.sleep(0.3)
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join()


@dataclass
class Commands:
    """Commands of one process per post: round trips it made, commands in its scripts."""

    round_trips: float
    commands: float
    store_trips: float
    broker_trips: float
    detail: str


def commands_per_post(lines: list[tuple[str, str, str]], ports: set[int], posts: int) -> Commands:
    """Round trips (a MULTI...EXEC block is one) and every command, including those inside
    scripts, that the clients on `ports` caused, per post."""
    trips: Counter[str] = Counter()
    total = 0
    mine = False
    in_multi = False
    for db, who, command in lines:
        if who == "lua":
            if mine:
                total += 1
            continue
        port = int(who.rsplit(":", 1)[1]) if ":" in who else -1
        mine = port in ports
        if not mine:
            continue
        total += 1
        if command == "MULTI":
            in_multi = True
            trips[f"db{db} MULTI..EXEC"] += 1
        elif command == "EXEC":
            in_multi = False
        elif not in_multi:
            trips[f"db{db} {command}"] += 1
    store = sum(n for name, n in trips.items() if name.startswith("db0"))
    broker = sum(n for name, n in trips.items() if name.startswith("db1"))
    detail = ", ".join(f"{name} {n / posts:.2f}" for name, n in trips.most_common())
    return Commands((store + broker) / posts, total / posts, store / posts, broker / posts, detail)


def measure_commands(rig: CeleryRig, run: Callable[[], object], posts: int) -> Commands:
    monitor = Monitor(rig.redis.port)
    try:
        run()
    finally:
        monitor.stop()
    return commands_per_post(list(monitor.lines), tcp_ports(rig.worker.pid), posts)


def worker_rss(rig: CeleryRig) -> int:
    """Resident memory of the worker's pool processes together."""
    return sum(rss_bytes(pid) for pid in descendants(rig.worker.pid)[1:])


# --- the section ---------------------------------------------------------------------------------


def run(context: Context) -> None:
    quick = context.quick
    count = 3000 if quick else 20000
    folder = context.folder("delivery-celery")
    rig = CeleryRig(folder, channels=10)
    try:
        noop, post = _throughput(context, rig, count)
        _lateness(context, rig, 100 if quick else 400)
        _one_per_task(context, rig, count, noop)
        embedded.run_against(context, rig.server, noop.rate, post.rate, count)
    finally:
        rig.stop()
    burst_channels = 200 if quick else 1000
    rig = CeleryRig(context.folder("delivery-burst"), channels=burst_channels)
    try:
        _burst(context, rig, burst_channels, 2000 if quick else 10000)
    finally:
        rig.stop()


def _throughput(context: Context, rig: CeleryRig, count: int) -> tuple[Run, Run]:
    # Warm every process (imports, connections, caches) before anything is timed.
    rig.baseline("noop", 200)
    rig.baseline("post", 200)
    rig.ours(200, 10)
    rss_start = worker_rss(rig)
    noop, post, ours = rig.baseline("noop", count), rig.baseline("post", count), rig.ours(count, 10)
    rss_end = worker_rss(rig)
    context.add(figure(
        SECTION, "end to end, Celery path", ours.rate, "posts/s", baseline=noop.rate,
        baseline_name="bare Celery no-op task", target=">= 0.8x", check=at_least(0.8),
    ))  # fmt: skip
    context.add(figure(
        SECTION, "end to end, Celery path vs the bare POST task", ours.rate, "posts/s",
        baseline=post.rate, baseline_name="bare Celery task doing the same POST",
        target=">= 1.0x", check=at_least(1.0),
    ))  # fmt: skip
    for name in ("worker", "scheduler", "redis", "server"):
        context.add(figure(
            SECTION, f"CPU per post: {name}", ours.cpu_ms(name), "ms",
            baseline=post.cpu_ms(name),
            baseline_name=f"bare POST task ({'producer' if name == 'scheduler' else name})",
        ))  # fmt: skip
    context.note(
        f"no-op task: worker {noop.cpu_ms('worker'):.2f} ms, producer "
        f"{noop.cpu_ms('scheduler'):.2f} ms, redis {noop.cpu_ms('redis'):.2f} ms CPU per task"
    )
    context.add(figure(
        SECTION, "worker RSS at the end / after warm-up", rss_end / 1e6, "MB",
        baseline=rss_start / 1e6, baseline_name="after warm-up (2 pool processes)",
        target="flat (<= 1.05x)", check=at_most(1.05),
        note=f"{3 * count + 600:,} tasks between the two readings",
    ))  # fmt: skip
    small = 300
    ours_trips = measure_commands(rig, lambda: rig.ours(small, 10), small)
    noop_trips = measure_commands(rig, lambda: rig.baseline("noop", small), small)
    context.add(figure(
        SECTION, "Redis round trips per post, worker", ours_trips.round_trips, "round trips",
        baseline=noop_trips.round_trips, baseline_name="bare no-op task (Celery's own)",
        target="<= Celery's own + 1", check=lambda f: f.value <= (f.baseline or 0) + 1.05,
        note=f"store {ours_trips.store_trips:.2f}, broker {ours_trips.broker_trips:.2f}: "
        f"{ours_trips.detail}",
    ))  # fmt: skip
    context.add(figure(
        SECTION, "Redis round trips per post, worker, the store's own", ours_trips.store_trips,
        "round trips", target="<= 1", check=lambda f: f.value <= 1.0,
        note="(posts of a task + 1) / posts of a task: each post's claim is one step with the "
        "outcome of the one before; a post alone takes two (docs/scaling.md)",
    ))  # fmt: skip
    context.add(figure(
        SECTION, "Redis commands per post, worker (with those inside scripts)", ours_trips.commands,
        "commands", baseline=noop_trips.commands, baseline_name="bare no-op task",
    ))  # fmt: skip
    context.note(f"no-op task round trips: {noop_trips.detail}")
    return noop, post


def _one_per_task(context: Context, rig: CeleryRig, count: int, noop: Run) -> None:
    """The same with one post per task (CAMPAIGN_PUBLISH_BATCH=1): what batching buys."""
    rig.restart_scheduler(CAMPAIGN_PUBLISH_BATCH="1")
    rig.ours(200, 10)
    alone = rig.ours(count, 10)
    trips = measure_commands(rig, lambda: rig.ours(300, 10), 300)
    rig.restart_scheduler()
    context.add(figure(
        SECTION, "end to end, Celery path, one post per task", alone.rate, "posts/s",
        baseline=noop.rate, baseline_name="bare Celery no-op task (same run)",
        note=f"worker {alone.cpu_ms('worker'):.2f} ms CPU per post; round trips per post: "
        f"store {trips.store_trips:.2f}, broker {trips.broker_trips:.2f}",
    ))  # fmt: skip


def _lateness(context: Context, rig: CeleryRig, count: int) -> None:
    lone = rig.ours(count, 10, spacing=0.15)
    context.add(figure(
        SECTION, "lone-post lateness p99, Celery path", percentile(lone.lateness, 0.99), "s",
        target="<= 0.1 s", check=lambda f: f.value <= 0.1,
        note=f"{count} posts 0.15 s apart; p50 {percentile(lone.lateness, 0.5):.3f} s, max "
        f"{max(lone.lateness):.3f} s",
    ))  # fmt: skip


def _burst(context: Context, rig: CeleryRig, channels: int, count: int) -> None:
    rig.baseline("noop", 200)
    rig.ours(200, channels)
    noop = rig.baseline("noop", count)
    burst = rig.ours(count, channels)
    context.add(figure(
        SECTION, f"{count:,} posts due at once across {channels:,} channels, drain rate",
        burst.rate, "posts/s", baseline=noop.rate, baseline_name="bare Celery no-op task",
        target=">= 0.8x", check=at_least(0.8),
        note=f"drained in {burst.seconds:.1f} s; p99 lateness "
        f"{percentile(burst.lateness, 0.99):.1f} s; {channels:,} token variables in the "
        "worker's environment",
    ))  # fmt: skip
