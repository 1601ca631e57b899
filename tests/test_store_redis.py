"""Facts of the Redis store alone: its safety checks, its memory, and that its Lua scripts make
exactly the decisions of workers.transitions, case by case."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from campaign.errors import ConfigurationError, StoreError, UnsafeStoreError
from tests.fixtures.plans import make_campaign, make_post, posts_at
from tests.fixtures.redis import RedisServer
from workers import diff, transitions
from workers.store import (
    Defer,
    Failed,
    Outcome,
    ResendRule,
    Retry,
    Scope,
    Sent,
    State,
    Unknown,
    Verdict,
)
from workers.store.redis import RedisStore, client_for
from workers.store.redis_rows import decode_row, encode_row
from workers.transitions import Row

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
T = NOW.timestamp()


def test_a_redis_that_can_evict_keys_is_refused(
    redis_store: RedisStore, redis_client: redis.Redis
) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(UnsafeStoreError, match="noeviction"):
            redis_store.check_safety()
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")


def test_a_redis_without_persistence_gets_a_warning(
    redis_store: RedisStore, redis_client: redis.Redis
) -> None:
    redis_client.config_set("appendonly", "no")
    try:
        assert any("no persistence" in w for w in redis_store.check_safety())
    finally:
        redis_client.config_set("appendonly", "yes")
    assert redis_store.check_safety() == []


def test_an_unreachable_redis_is_a_store_error() -> None:
    client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=RedisRetry(NoBackoff(), 0))
    with pytest.raises(StoreError, match="Redis failed"):
        RedisStore(client, "x:").next_wakeup()


def test_every_key_is_under_the_prefix(redis_store: RedisStore, redis_client: redis.Redis) -> None:
    campaign = make_campaign()
    diff.apply(redis_store, campaign, posts_at(campaign, NOW, 3, 60))
    redis_store.pause("spring", Scope(locale="ky"), T)

    keys = [str(key) for key in redis_client.keys("*")]
    assert keys
    assert all(key.startswith("test:") for key in keys)


def test_bytes_per_stored_post(redis_store: RedisStore, redis_client: redis.Redis) -> None:
    # Given 4,000 posts a month ahead with a 96-byte text (bench/apply.py measures a million)
    campaign = make_campaign()
    text = (
        "Жаз келди! Spring is here: plant a tree this weekend. https://example.org/spring #spring"
    )
    posts = [
        make_post(campaign, p.scheduled_at, locale=p.locale, text=text)
        for p in posts_at(campaign, NOW + timedelta(days=30), 4000, 60)
    ]
    before = int(redis_client.info("memory")["used_memory"])

    # When they are applied
    diff.apply(redis_store, campaign, posts)

    # Then each costs its text and less than 300 bytes more (allocator size classes included):
    # its row in a bucket hash (no key of its own), and an entry of its day's list
    per_post = (int(redis_client.info("memory")["used_memory"]) - before) / len(posts)
    print(f"\nbytes per stored post: {per_post:.0f} ({len(text.encode())} bytes of text)")
    assert per_post < len(text.encode()) + 300
    assert redis_client.type(f"test:p:{posts[0].id[:2]}") == "hash"
    assert (
        redis_client.type(f"test:c:spring:l:{int(posts[-1].scheduled_at.timestamp()) // 86400}")
        == "list"
    )


# --- the Lua scripts agree with workers.transitions ---------------------------------------------

POST = "p0000000000000000001"
WINDOW = 100.0


def _given(client: redis.Redis, row: Row, *, paused: bool = False, limit: int = 0) -> None:
    """Write `row` as the ledger of one post of campaign "spring" (max_lateness 600 s)."""
    given = client.pipeline(transaction=False)
    given.flushdb()
    fields: dict[str, object] = {
        "s": str(row.state), "c": "spring", "m": "hello", "a": "all", "ch": "social", "l": "ky",
        "at": row.scheduled_at,
    }  # fmt: skip
    for name, value in (
        ("d", row.due if row.state is State.SCHEDULED and row.due != row.scheduled_at else None),
        ("n", row.attempt or None),
        ("tr", row.tries or None),
        ("f", row.finished or None),
        ("t1", row.first_try),
        ("le", row.lease_until),
        ("o", row.owner),
        ("e", row.error),
        ("k", row.error_kind),
        ("rt", row.retried_at),
        ("u", 1 if row.maybe_sent else None),
    ):
        if value is not None:
            fields[name] = value
    given.hset(f"test:p:{POST[:2]}", POST, encode_row(fields, "Салам"))
    given.hset("test:c:spring", mapping={"title": "Spring", "late": "600"})
    given.sadd("test:campaigns", "spring")
    bucket = f"{'acct' if limit else ''}\x1f{limit}\x1f60"
    given.hset("test:c:spring:routes", "social", f"mastodon\x1f{bucket}\x1fv1")
    if limit:
        given.hset("test:bucket:acct", mapping={"tokens": "0", "ts": str(T)})
    if row.state is State.SCHEDULED:
        given.zadd("test:c:spring:due", {POST: row.due})
        given.zadd("test:due", {"spring": row.due})
    if row.deadline is not None:
        given.zadd("test:inflight", {POST: row.deadline})
    if paused:
        given.sadd("test:pauses:spring", "\x1f\x1f")
    given.execute()


def _found(client: redis.Redis) -> Row:
    """The row as Redis holds it after a script ran."""
    raw = client.hget(f"test:p:{POST[:2]}", POST)
    assert raw is not None
    fields, _ = decode_row(str(raw))
    deadline = client.zscore("test:inflight", POST)

    def number(name: str) -> float | None:
        value = fields.get(name)
        return float(value) if value is not None else None

    return Row(
        state=State(fields["s"]),
        scheduled_at=float(fields["at"]),
        retried_at=number("rt"),
        due=float(fields.get("d", fields["at"])) if fields["s"] == "scheduled" else 0.0,
        deadline=deadline,
        lease_until=number("le"),
        attempt=int(fields.get("n", 0)),
        tries=int(fields.get("tr", 0)),
        first_try=number("t1"),
        maybe_sent=fields.get("u") == 1,
        owner=fields.get("o"),
        finished=int(fields.get("f", 0)),
        error=fields.get("e"),
        error_kind=fields.get("k"),
    )


def _comparable(row: Row) -> Row:
    """What both stores must agree on (times the scripts round to the millisecond)."""
    kept = replace(row, updated_at=None, remote_id=None, url=None, sent_at=None)
    if row.state is not State.SCHEDULED:
        kept = replace(kept, due=0.0)
    return kept


# fmt: off
ROWS = [
    Row(state, scheduled_at=T, due=T, attempt=attempt, tries=attempt, first_try=first_try,
        maybe_sent=maybe_sent, owner=owner, lease_until=lease, deadline=lease,
        finished=finished)
    for state, attempt, first_try, maybe_sent, owner, lease, finished in itertools.product(
        list(State),
        (0, 1, 2),
        (None, T - 10, T - 500),
        (False, True),
        (None, "w1"),
        (None, T + 30, T - 1),
        (0, 1),
    )
    if (state is State.SENDING) == (lease is not None) and (owner is None or state is State.SENDING)
]
# fmt: on


@pytest.mark.parametrize("paused", [False, True])
@pytest.mark.parametrize("limit", [0, 1])
def test_the_claim_script_decides_as_transitions_claim(
    redis_store: RedisStore, redis_client: redis.Redis, paused: bool, limit: int
) -> None:
    rule = ResendRule(True, WINDOW)
    for row in ROWS:
        _given(redis_client, row, paused=paused, limit=limit)
        step = transitions.claim(row, T, owner="w1", lease=20, paused=paused, resend=rule)
        if step.row is not None and step.verdict in ("claimed", "resend") and limit:
            step = transitions.throttle(step.row, T, retry_at=T + 60)

        claim = redis_store.claim(POST, T, owner="w1", lease=20, resend={"mastodon": rule})

        assert str(claim.verdict) == step.verdict, row
        expected = _comparable(step.row or row)
        assert _comparable(_found(redis_client)) == expected, (row, step.verdict)


OUTCOMES: list[Outcome] = [
    Sent("7", "https://x.test/7"),
    Failed("401 token revoked", kind="auth"),
    Failed("no such variable"),
    Unknown("dropped"),
    Retry("503", T + 30),
    Retry("timeout", T + 30, maybe_sent=True),
    Defer("429", T + 40),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: type(o).__name__)
def test_the_finish_script_decides_as_transitions_finish(
    redis_store: RedisStore, redis_client: redis.Redis, outcome: Outcome
) -> None:
    for row in ROWS:
        for attempt in (1, 2):
            _given(redis_client, row)
            step = transitions.finish(row, T, attempt=attempt, outcome=outcome)

            done = redis_store.finish(POST, attempt, T, outcome)

            verdict = "stale" if not done.recorded else "repeated" if done.repeated else "recorded"
            assert verdict == step.verdict, (row, attempt)
            assert _comparable(_found(redis_client)) == _comparable(step.row or row), (row, attempt)


@pytest.mark.parametrize("paused", [False, True])
@pytest.mark.parametrize("late", [False, True])
def test_the_due_script_decides_as_transitions_hand_out(
    redis_store: RedisStore, redis_client: redis.Redis, paused: bool, late: bool
) -> None:
    now = T + (900 if late else 5)
    scheduled = [row for row in ROWS if row.state is State.SCHEDULED]
    for row in scheduled + [replace(row, retried_at=now - 10) for row in scheduled]:
        _given(redis_client, row, paused=paused)
        step = transitions.hand_out(
            row, now, max_lateness=600, paused=paused, hold=1, requeue_after=60
        )

        redis_store.hand_out_due(now, batch=10, requeue_after=60, hold=1)

        assert _comparable(_found(redis_client)) == _comparable(step.row or row), row


def test_the_reclaim_script_decides_as_transitions_reclaim(
    redis_store: RedisStore, redis_client: redis.Redis
) -> None:
    for row in ROWS:
        moved = replace(row, deadline=T - 1)
        _given(redis_client, moved)
        step = transitions.reclaim(moved, T, requeue_after=60)

        handed = redis_store.reclaim(T, batch=10, requeue_after=60)

        assert bool(handed) == (step.row is not None), moved
        found = _found(redis_client)
        assert found.deadline == (step.row.deadline if step.row else None), moved


def test_a_claim_that_a_crash_can_lose_refuses_channels_that_cannot_resend(
    redis_store: RedisStore, redis_client: redis.Redis
) -> None:
    # Given a Redis that fsyncs its append-only file once a second
    webhook = make_campaign(platform="webhook", api_url="https://hooks.example/in")
    post = make_post(webhook, NOW)
    redis_client.config_set("appendfsync", "everysec")
    try:
        # Then a webhook campaign is refused, saying why and what to do
        with pytest.raises(ConfigurationError, match="appendfsync always"):
            diff.apply(redis_store, webhook, [post])
        assert redis_store.campaigns() == []
        # unless the operator accepts the risk; a Mastodon campaign resends by key and is fine
        diff.apply(redis_store, webhook, [post], accept_claim_loss=True)
        diff.apply(redis_store, make_campaign("other"), [make_post(make_campaign("other"), NOW)])
    finally:
        redis_client.config_set("appendfsync", "always")
    assert redis_store.claim_loss() is None


def test_a_claim_and_an_outcome_resent_after_a_timeout_recognise_their_first_run(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    # Given a store whose calls time out after 1 s, and a queued post
    store = RedisStore(client_for(redis_server.url(), 1.0), "test:")
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(store, campaign, [post])
    store.hand_out_due(T, batch=1, requeue_after=60, hold=1)

    # When Redis stalls longer than that while the claim and then the outcome are sent
    redis_client.client_pause(1200, all=False)
    claim = store.claim(post.id, T, owner="task-1", lease=60, resend={})
    redis_client.client_pause(1200, all=False)
    done = store.finish(post.id, claim.attempt, T + 1, Sent("1", "https://x.test/1"))

    # Then the resent calls say what the first ones did: the claim is ours, the post is sent
    assert (claim.verdict, claim.attempt) == (Verdict.CLAIMED, 1)
    assert done.recorded
    assert store.post(post.id).state is State.SENT  # type: ignore[union-attr]
    assert [e.state for e in store.history(post.id)].count(State.SENDING) == 1
    store.close()
