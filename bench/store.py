"""The store at scale, through the CLI a person uses: `status`, `plan` and an unchanged re-apply
at 100k and 1M stored posts (time and peak memory; plan against the rendering floor), and the
scheduler's pass with 1M posts stored against 1k. On both backends.

The campaign is a file (100 channels, 10 messages a day, for as many days as it takes), applied
with `campaign apply`; some of its first posts are then moved through the ledger (sent, failed,
unknown) so that `status` has something to list.
"""

from __future__ import annotations

import statistics
import time

from bench import plans
from bench.harness import (
    Context,
    RedisProcess,
    at_most,
    figure,
    settings_env,
    timed_child,
)
from workers import diff
from workers.settings import Settings
from workers.store import Failed, Sent, State, Store, Unknown, open_store

CHANNELS, MESSAGES = 100, 10
TRIES = 30  # scheduler passes timed per size


def run(context: Context) -> None:
    sizes = [20_000, 100_000] if context.quick else [100_000, 1_000_000]
    for backend in ("redis", "sqlite"):
        _backend(context, backend, sizes)


def _backend(context: Context, backend: str, sizes: list[int]) -> None:
    section = f"store at scale ({'Redis' if backend == 'redis' else 'embedded SQLite'})"
    folder = context.folder(f"store-{backend}")
    redis = RedisProcess(folder / "redis") if backend == "redis" else None
    try:
        env = settings_env(redis.port if redis else None, data_dir=folder / "data")
        settings = Settings.model_validate(
            {"redis_url": redis.url(0), "broker_url": redis.url(1)}
            if redis
            else {"data_dir": folder / "data"}
        )
        status_rss = {}
        for size in sizes:
            days = size // (CHANNELS * MESSAGES)
            path = plans.write_file(
                folder / f"c{size}", f"c{size}", channels=CHANNELS, messages=MESSAGES, days=days,
                api_url="http://127.0.0.1:9", start="2027-01-01",
            )  # fmt: skip
            applied, _, _ = timed_child(["-m", "campaign", "apply", str(path)], env, folder)
            store = open_store(settings)
            try:
                _some_history(store, f"c{size}")
            finally:
                store.close()
            floor, floor_rss, _ = timed_child(
                ["-c", f"from campaign.plan import load_plan; load_plan({str(path)!r})"],
                env,
                folder,
            )
            # The best of three: a command of a fraction of a second, on a shared machine.
            status, status_rss[size] = min(
                timed_child(["-m", "campaign", "status", f"c{size}"], env, folder)[:2]
                for _ in range(3)
            )
            plan, plan_rss, output = timed_child(["-m", "campaign", "plan", str(path)], env, folder)
            if "no changes" not in output:
                raise RuntimeError(f"plan of an unchanged file: {output[:2000]}")
            again, again_rss, _ = timed_child(["-m", "campaign", "apply", str(path)], env, folder)
            context.add(figure(
                section, f"apply {size:,} posts from the file (render and store)", size / applied,
                "posts/s", note=f"{applied:.1f} s",
            ))  # fmt: skip
            context.add(figure(
                section, f"status at {size:,} posts", status, "s", target="< 1 s",
                check=lambda f: f.value < 1, note=f"peak RSS {status_rss[size] / 1e6:.0f} MB",
            ))  # fmt: skip
            context.add(figure(
                section, f"plan at {size:,} posts (unchanged)", plan, "s", baseline=floor,
                baseline_name="rendering floor (load_plan)", target="<= 1.5x",
                check=at_most(1.5),
                note=f"peak RSS {plan_rss / 1e6:.0f} MB; floor {floor_rss / 1e6:.0f} MB",
            ))  # fmt: skip
            context.add(figure(
                section, f"unchanged re-apply at {size:,} posts", again, "s", baseline=floor,
                baseline_name="rendering floor (load_plan)", target="<= 1.5x",
                check=at_most(1.5), note=f"peak RSS {again_rss / 1e6:.0f} MB",
            ))  # fmt: skip
        small, large = sizes[0], sizes[-1]
        context.add(figure(
            section, f"status peak memory at {large:,} posts", status_rss[large] / 1e6, "MB",
            baseline=status_rss[small] / 1e6, baseline_name=f"at {small:,} posts",
            target="independent of posts (<= 1.1x)", check=at_most(1.1),
        ))  # fmt: skip
        store = open_store(settings)
        try:
            at_large = _pass(store, f"pass{large}")
        finally:
            store.close()
        # The same passes on a store holding 1,000 posts.
        if redis is not None:
            redis.client().flushall()
        else:
            settings = Settings.model_validate({"data_dir": folder / "fresh"})
        store = open_store(settings)
        try:
            thousand = plans.campaign("thousand", 10, "http://127.0.0.1:9")
            ahead = time.time() + 30 * 86400
            diff.apply(store, thousand, plans.posts(thousand, [ahead + i for i in range(1000)]))
            at_small = _pass(store, "pass1k")
        finally:
            store.close()
        context.add(figure(
            section, f"scheduler pass, {large:,} posts stored", at_large * 1000, "ms",
            baseline=at_small * 1000, baseline_name="1,000 posts stored", target="<= 1.2x",
            check=at_most(1.2), note=f"median of {TRIES} passes handing out 100 due posts",
        ))  # fmt: skip
    finally:
        if redis is not None:
            redis.stop()


def _some_history(store: Store, slug: str) -> None:
    """Move the campaign's first posts through the ledger: sent, failed, unknown."""
    first = store.posts(slug, states=(State.SCHEDULED,), limit=1)[0].scheduled_at.timestamp()
    moved = store.hand_out_due(first, batch=300, requeue_after=60, hold=1)
    for number, post in enumerate(moved):
        claim = store.claim(post.id, first, owner="bench", lease=60, resend={})
        outcome = (
            Sent(str(number), f"https://example.org/{number}")
            if number % 3 == 0
            else Failed("401 token revoked", kind="auth")
            if number % 3 == 1
            else Unknown("dropped")
        )
        store.finish(post.id, claim.attempt, first + 1, outcome)


def _pass(store: Store, slug: str) -> float:
    """Median seconds of one scheduler pass that hands out 100 due posts."""
    times = []
    for attempt in range(TRIES):
        plan = plans.campaign(f"{slug}-{attempt}", 10, "http://127.0.0.1:9")
        now = time.time()
        posts = plans.posts(plan, [now - 1] * 100)
        diff.apply(store, plan, posts)
        began = time.perf_counter()
        moved = store.hand_out_due(now, batch=100, requeue_after=60, hold=1)
        store.reclaim(now, batch=100, requeue_after=60)
        store.next_wakeup()
        times.append(time.perf_counter() - began)
        assert len(moved) == 100, len(moved)
    return statistics.median(times)
