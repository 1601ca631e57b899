"""What every benchmark shares: processes it starts, what it reads of them, and the figures.

    RedisProcess     a redis-server of our own on a free port (never the system's 6379)
    Service          a Python process of ours (a Celery worker, the scheduler, a server)
    cpu_seconds      CPU a process and its children used, from /proc
    rss_bytes        resident memory of a process, from /proc
    Probe            a client that pings Redis every few ms and keeps the longest silence
    Figure           one measured figure, its baseline and its target

Everything runs on this machine, on ports chosen free, in a temporary folder.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import redis

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- figures -------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One figure of the issue: what we measured, against what, and whether the target holds.

    `ratio` is value / baseline when there is a baseline. `met` is None when the figure has no
    target (it is reported for context).
    """

    section: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def at_least(ratio: float) -> Callable[[Figure], bool]:
    return lambda f: f.ratio is not None and f.ratio >= ratio


def at_most(ratio: float) -> Callable[[Figure], bool]:
    return lambda f: f.ratio is not None and f.ratio <= ratio


def figure(
    section: str,
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str = "",
    target: str = "",
    check: Callable[[Figure], bool] | None = None,
    note: str = "",
) -> Figure:
    made = Figure(section, name, value, unit, baseline, baseline_name, target, None, note)
    if check is not None:
        made.met = check(made)
    return made


# --- the machine ---------------------------------------------------------------------------------


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return one, five, fifteen


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    redis_version = subprocess.run(
        [redis_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} cores",
        "memory": f"{memory:,} MB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis": redis_version.removeprefix("v="),
        "celery": _version("celery"),
        "redis-py": _version("redis"),
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# --- /proc ---------------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU of `pid` (and of its live descendants), in seconds."""
    total = 0
    for each in descendants(pid) if children else [pid]:
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of one process."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def tcp_ports(pid: int) -> set[int]:
    """Local ports of the TCP sockets `pid` and its descendants hold."""
    inodes: set[str] = set()
    for each in descendants(pid):
        try:
            for fd in os.listdir(f"/proc/{each}/fd"):
                try:
                    target = os.readlink(f"/proc/{each}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as sockets:
            next(sockets)
            for line in sockets:
                parts = line.split()
                if parts[9] in inodes:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


# --- processes -----------------------------------------------------------------------------------


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    return binary


class RedisProcess:
    """A redis-server of our own, as docs/delivery.md runs it: AOF with `appendfsync always`
    (a claim on disk before its request goes out), noeviction, no snapshots."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.directory = directory
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self._log = (directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--maxmemory-policy", "noeviction", *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {directory}/redis.log")
            time.sleep(0.02)
        client.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, decode_responses=True, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Service:
    """A Python process of ours, in its own session, its output in a log file."""

    def __init__(
        self, argv: list[str], log: Path, env: Mapping[str, str], cwd: Path | None = None
    ) -> None:
        self.log = log
        environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self._out: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd or log.parent,
            env=environ,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.log.name} exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.log.name}: no {text!r} in {timeout} s")
            time.sleep(0.05)

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM to the whole session, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._out.close()


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class FastMastodon:
    """bench/mastodon_fast.py in its own process."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.service = Service(
            ["-m", "bench.mastodon_fast", "--port", str(self.port), "--token-prefix", "bench-"],
            directory / "mastodon.log",
            {},
        )
        wait_port(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.service.pid

    def received(self) -> dict[str, float]:
        """Idempotency key -> when the status arrived."""
        import requests

        answer = requests.get(f"{self.url}/_bench/received", timeout=30).json()
        keys: dict[str, float] = answer["keys"]
        return keys

    def count(self) -> int:
        import requests

        return int(requests.get(f"{self.url}/_bench/received", timeout=30).json()["count"])

    def reset(self) -> None:
        import requests

        requests.post(f"{self.url}/_bench/reset", timeout=10)

    def stop(self) -> None:
        self.service.stop()


# --- measuring -----------------------------------------------------------------------------------


class Probe:
    """Another client of the same Redis, pinging every `every` seconds from a process of its
    own (bench/probe.py): the longest wait for an answer is the longest Redis served nobody."""

    def __init__(self, port: int, every: float = 0.002) -> None:
        self._argv = [sys.executable, "-m", "bench.probe", str(port), str(every)]
        self.longest = 0.0
        self.pings = 0
        self.priority = ""

    def __enter__(self) -> Probe:
        self._process = subprocess.Popen(
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self._process.stdout is not None
        self._process.stdout.readline()  # "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        output, _ = self._process.communicate(b"", timeout=60)
        pings, longest, self.priority = output.decode().strip().split(" ", 2)
        self.pings, self.longest = int(pings), float(longest)


@contextmanager
def cpu_of(pids: Mapping[str, int]) -> Iterator[dict[str, float]]:
    """CPU seconds each named process (with its children) used inside the block."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    used: dict[str, float] = {}
    yield used
    for name, pid in pids.items():
        used[name] = cpu_seconds(pid) - before[name]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed_child(argv: list[str], env: Mapping[str, str], cwd: Path) -> tuple[float, int, str]:
    """Run `python argv` (argv starts with -m or -c) and return wall seconds, its peak resident
    memory in bytes (bench/peak.py), and its output.

    Raises:
        RuntimeError: the command failed.
    """
    peak = cwd / "child.peak"
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env, "BENCH_PEAK_FILE": str(peak)}
    began = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "bench.peak", *argv],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    elapsed = time.perf_counter() - began
    output = process.stdout.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{output[-3000:]}")
    return elapsed, int(peak.read_text()), output


def settings_env(redis_port: int | None, **values: Any) -> dict[str, str]:
    """CAMPAIGN_* variables for processes of ours."""
    env = {}
    if redis_port is not None:
        env["CAMPAIGN_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        env["CAMPAIGN_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/1"
    for name, value in values.items():
        env[f"CAMPAIGN_{name.upper()}"] = (
            json.dumps(value) if isinstance(value, list) else str(value)
        )
    return env


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout} s: {what}")
        time.sleep(every)


@dataclass
class Context:
    """What a section gets: where to put files, how big to go, and the figures it adds."""

    directory: Path
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, made: Figure) -> Figure:
        self.figures.append(made)
        print(f"  {made.name}: {made.value:,.4g} {made.unit}"
              + (f"  (baseline {made.baseline:,.4g}, ratio {made.ratio:.2f})"
                 if made.ratio is not None and made.baseline is not None else "")
              + ("" if made.met is None else ("  met" if made.met else "  MISSED")),
              flush=True)  # fmt: skip
        return made

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def folder(self, name: str) -> Path:
        path = self.directory / re.sub(r"[^a-z0-9]+", "-", name.lower())
        path.mkdir(parents=True, exist_ok=True)
        return path
