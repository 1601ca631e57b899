"""The embedded store's write lock while a big plan is applied: one transaction for the whole
change (what `apply` did before it applied in steps) against the longest of its steps. While
`campaign run` applies, its publishers and other processes wait for that lock (10 s at most,
then they fail and try again later)."""

from __future__ import annotations

import statistics
import time

from bench import plans
from bench.harness import Context, figure
from campaign.post import Post
from workers.ratelimit import route_for
from workers.store import NewPost, PlanChange
from workers.store.sqlite import SqliteStore

SECTION = "apply (embedded SQLite)"


def run(context: Context) -> None:
    size = 50_000 if context.quick else 200_000
    folder = context.folder("sqlite-apply")
    plan = plans.campaign("big", 100, "http://127.0.0.1:9")
    start = time.time() + 30 * 86400
    posts = plans.posts(plan, [start + 60 * index for index in range(size)])
    change = PlanChange(
        campaign="big",
        title="Benchmark",
        max_lateness=3600,
        launched_at=time.time(),
        zones={},
        channels={name: route_for(channel) for name, channel in plan.channels.items()},
        add=[_new(post) for post in posts],
    )
    whole = SqliteStore.open(folder / "whole.db", chunk=size + 1)
    began = time.perf_counter()
    whole.apply(change, time.time())
    one = time.perf_counter() - began
    whole.close()
    stepped = SqliteStore.open(folder / "stepped.db")
    steps = stepped.apply_in_steps(change, time.time())
    durations = [_timed(steps.begin)]
    durations += [_timed(lambda n=n: steps.stage(n)) for n in range(steps.chunks)]
    durations.append(_timed(steps.commit))
    while True:
        began = time.perf_counter()
        done = steps.roll_forward()
        durations.append(time.perf_counter() - began)
        if done:
            break
    stepped.close()
    context.add(figure(
        SECTION, f"apply {size:,} posts: longest hold of the write lock", max(durations) * 1000,
        "ms", baseline=one * 1000, baseline_name="the whole change in one transaction",
        target="<= 50 ms", check=lambda f: f.value <= 50,
        note=f"{len(durations)} transactions, median {statistics.median(durations) * 1000:.0f} "
        f"ms, {sum(durations):.1f} s in all",
    ))  # fmt: skip


def _new(post: Post) -> NewPost:
    at = post.scheduled_at.timestamp()
    return NewPost(post.id, post.message, post.audience, post.channel, post.locale, at, post.text)


def _timed(step: object) -> float:
    assert callable(step)
    began = time.perf_counter()
    step()
    return time.perf_counter() - began
