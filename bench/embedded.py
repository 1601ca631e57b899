"""Delivery on one machine: `campaign run FILE --until-done` with the embedded SQLite store, to
the fast Mastodon-shaped server and to the outbox, against the bare Celery tasks measured by
bench/delivery.py in the same run; and lone-post lateness.

The campaign file's posts are due a few seconds after its launch (`after:`), so that the run has
loaded and applied the file before they are due; the rate counts from that instant to the last
post sent, as the ledger records it.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import plans
from bench.harness import (
    Context,
    FastMastodon,
    Service,
    at_least,
    cpu_seconds,
    figure,
    percentile,
    settings_env,
)

SECTION = "delivery (campaign run, embedded SQLite)"
CHANNELS = 10


def run_against(
    context: Context, server: FastMastodon, noop_rate: float, post_rate: float, count: int
) -> None:
    for platform in ("mastodon", "outbox"):
        rate, cpu = _throughput(context, server, platform, count)
        where = "the local Mastodon" if platform == "mastodon" else "the outbox"
        context.add(figure(
            SECTION, f"end to end, campaign run to {where}", rate, "posts/s", baseline=noop_rate,
            baseline_name="bare Celery no-op task", target=">= 0.8x", check=at_least(0.8),
            note=f"{cpu:.2f} ms CPU per post in the one process",
        ))  # fmt: skip
        if platform == "mastodon":
            context.add(figure(
                SECTION, "end to end, campaign run vs the bare POST task", rate, "posts/s",
                baseline=post_rate, baseline_name="bare Celery task doing the same POST",
                target=">= 1.0x", check=at_least(1.0),
            ))  # fmt: skip
    lone = 100 if context.quick else 400
    lateness = _lone(context, server, lone)
    context.add(figure(
        SECTION, "lone-post lateness p99, campaign run", percentile(lateness, 0.99), "s",
        target="<= 0.1 s", check=lambda f: f.value <= 0.1,
        note=f"{lone} posts 0.15 s apart; p50 {percentile(lateness, 0.5):.3f} s, max "
        f"{max(lateness):.3f} s",
    ))  # fmt: skip


def _run(
    context: Context,
    name: str,
    schedules: list[list[dict[str, str]]],
    channels: int,
    platform: str,
    server: FastMastodon,
) -> tuple[Path, float, float]:
    """`campaign run --until-done` of a file; the data folder, the instant its first post was
    due, and the CPU seconds the process used from then on."""
    folder = context.folder(name)
    today = datetime.now(UTC).date().isoformat()
    path = plans.write_file(
        folder, "run", channels=channels, messages=len(schedules), schedules=schedules,
        platform=platform, api_url=server.url, start=today,
    )  # fmt: skip
    data = folder / "data"
    env = {**settings_env(None, data_dir=data), **plans.token_env(channels)}
    began = time.time()
    process = Service(["-m", "campaign", "run", str(path), "--until-done"], folder / "run.log", env)
    first = began + float(schedules[0][0]["after"][2:-1]) - 0.5
    while time.time() < first and process.process.poll() is None:
        time.sleep(0.01)
    before = used = cpu_seconds(process.pid)
    while process.process.poll() is None:
        used = cpu_seconds(process.pid)
        time.sleep(0.05)
    if process.process.returncode != 0:
        raise RuntimeError(f"campaign run failed:\n{process.output()[-3000:]}")
    process.stop()
    with sqlite3.connect(data / "campaign.db") as db:
        (due,) = db.execute("SELECT min(scheduled_at) FROM posts").fetchone()
    return data, due, used - before


def _throughput(
    context: Context, server: FastMastodon, platform: str, count: int
) -> tuple[float, float]:
    """Posts per second and CPU milliseconds per post of `count` posts due at one instant."""
    margin = 5 + count / 1500
    schedules = [[{"after": f"PT{margin:.1f}S"}]] * (count // CHANNELS)
    data, due, cpu = _run(context, f"run-{platform}", schedules, CHANNELS, platform, server)
    with sqlite3.connect(data / "campaign.db") as db:
        sent, last = db.execute(
            "SELECT count(*), max(sent_at) FROM posts WHERE state = 'sent'"
        ).fetchone()
    if sent != count:
        raise RuntimeError(f"campaign run sent {sent} of {count} posts")
    return count / (last - due), 1000 * cpu / count


def _lone(context: Context, server: FastMastodon, count: int) -> list[float]:
    """Lateness of `count` posts 0.15 s apart, each on its own (one channel)."""
    margin = 5.0
    schedules = [[{"after": f"PT{margin + 0.15 * n:.2f}S"}] for n in range(count)]
    data, _, _ = _run(context, "run-lone", schedules, 1, "mastodon", server)
    received = server.received()
    with sqlite3.connect(data / "campaign.db") as db:
        rows = db.execute("SELECT id, scheduled_at FROM posts").fetchall()
    return [received[post_id] - at for post_id, at in rows]
