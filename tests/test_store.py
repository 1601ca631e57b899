"""The store of record: plan diff, apply and every conditional transition, on a real Redis."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaign.errors import StoreError, UnsafeStoreError
from tests.fixtures.plans import make_campaign, make_post, posts_at
from tests.fixtures.redis import RedisServer
from workers import diff
from workers.store import State, Store

NOW = datetime.now(UTC).replace(microsecond=0)
FUTURE = NOW + timedelta(hours=2)


def states(store: Store, campaign: str = "spring") -> dict[str, State]:
    return {post.id: post.state for post in store.posts(campaign)}


def test_a_redis_that_can_evict_keys_is_refused(store: Store, redis_client: redis.Redis) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(UnsafeStoreError, match="noeviction"):
            store.check_safety()
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")


def test_a_redis_without_persistence_gets_a_warning(
    store: Store, redis_client: redis.Redis
) -> None:
    redis_client.config_set("appendonly", "no")
    try:
        assert any("no persistence" in w for w in store.check_safety())
    finally:
        redis_client.config_set("appendonly", "yes")
    assert store.check_safety() == []


def test_an_unreachable_redis_is_a_store_error() -> None:
    unreachable = Store(
        redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)), "x:"
    )
    with pytest.raises(StoreError, match="Redis failed"):
        unreachable.next_due()


def test_apply_schedules_every_post_under_the_prefix(
    store: Store, redis_client: redis.Redis
) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, FUTURE, 3, 60)

    result = diff.apply(store, campaign, posts)

    assert [c.post_id for c in result.add] == [p.id for p in posts]
    assert states(store) == {p.id: State.SCHEDULED for p in posts}
    assert store.texts([p.id for p in posts]) == {p.id: p.text for p in posts}
    assert store.channels("spring") == dict(campaign.channels)
    assert all(key.startswith("test:") for key in redis_client.keys("*"))
    assert store.next_due() == FUTURE.timestamp()


def test_applying_the_same_plan_twice_changes_nothing(
    store: Store, redis_client: redis.Redis
) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, FUTURE, 3, 60)
    diff.apply(store, campaign, posts)
    before = {key: redis_client.dump(key) for key in redis_client.keys("*")}

    again = diff.apply(store, campaign, posts)

    assert again.empty
    assert {key: redis_client.dump(key) for key in redis_client.keys("*")} == before


def test_plan_lists_changes_and_cancels_but_never_touches_sent_posts(store: Store) -> None:
    campaign = make_campaign()
    first, second, third = posts_at(campaign, FUTURE, 3, 60)
    diff.apply(store, campaign, [first, second, third])
    claim = store.claim(first.id, time.time(), lease=60, idempotent=True, window=3600)
    assert claim.verdict == "skip"  # not queued yet: nothing to claim
    _send(store, first.id)
    edited = [
        make_post(campaign, first.scheduled_at, text="edited after sending"),
        make_post(campaign, second.scheduled_at, locale="ru", text="new text"),
    ]

    plan = diff.compute(store, campaign, edited)

    assert [(c.post_id, c.detail) for c in plan.change] == [(second.id, "text")]
    assert [c.post_id for c in plan.cancel] == [third.id]
    assert [(c.post_id, c.detail) for c in plan.kept] == [(first.id, "sent: text")]
    diff.apply(store, campaign, edited)
    assert states(store) == {
        first.id: State.SENT,
        second.id: State.SCHEDULED,
        third.id: State.CANCELLED,
    }
    assert store.texts([first.id, second.id]) == {first.id: first.text, second.id: "new text"}


def test_apply_is_all_or_nothing(store: Store, redis_client: redis.Redis) -> None:
    campaign = make_campaign()
    kept = posts_at(campaign, FUTURE, 1, 60)
    diff.apply(store, campaign, kept)
    _send(store, kept[0].id)
    before = {key: redis_client.dump(key) for key in redis_client.keys("*")}
    new = make_post(campaign, FUTURE + timedelta(days=1))

    # A stale diff: it adds a post and cancels one that was sent meanwhile.
    result = store.apply(
        {
            "campaign": "spring",
            "meta": {"title": "changed"},
            "channels": {},
            "add": [[new.id, "social", "ky", new.scheduled_at.timestamp(), new.text]],
            "change": [],
            "cancel": [[kept[0].id, "social"]],
            "message": "gone",
        },
        time.time(),
    )

    assert result == ("conflict", kept[0].id, "sent")
    after = {key: redis_client.dump(key) for key in redis_client.keys("*")}
    assert after.keys() - {"test:wake"} == before.keys() - {"test:wake"}
    assert all(after[k] == before[k] for k in before if k != "test:wake")


def test_due_posts_are_handed_out_once_even_to_two_schedulers(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW - timedelta(seconds=5), 20, 0.25 * 4)
    diff.apply(store, campaign, posts)
    handed: list[str] = []

    def scheduler() -> None:
        for _ in range(20):
            moved = store.due(time.time(), batch=3, requeue_after=60, hold=1)
            handed.extend(m.id for m in moved if m.state == "queued")

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    due = [p.id for p in posts if p.scheduled_at.timestamp() <= time.time()]
    assert sorted(handed) == sorted(due)
    assert all(states(store)[i] is State.QUEUED for i in due)


def test_a_post_later_than_max_lateness_is_missed(store: Store) -> None:
    campaign = make_campaign(max_lateness=timedelta(minutes=10))
    late, fresh = (
        make_post(campaign, NOW - timedelta(minutes=11)),
        make_post(campaign, NOW - timedelta(minutes=9)),
    )
    diff.apply(store, campaign, [late, fresh])

    moved = store.due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)

    assert {(m.id, m.state) for m in moved} == {(late.id, "missed"), (fresh.id, "queued")}
    assert "max_lateness" in (store.post(late.id).error or "")  # type: ignore[union-attr]


def test_a_paused_campaign_is_held_until_resumed(store: Store) -> None:
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(store, campaign, [post])
    store.pause("spring")

    assert store.due(NOW.timestamp() + 1, batch=10, requeue_after=60, hold=1) == []
    store.resume("spring")
    moved = store.due(NOW.timestamp() + 2, batch=10, requeue_after=60, hold=1)

    assert [(m.id, m.state) for m in moved] == [(post.id, "queued")]


def test_pausing_every_campaign_sends_queued_posts_back(store: Store) -> None:
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(store, campaign, [post])
    store.due(NOW.timestamp(), batch=10, requeue_after=60, hold=1)
    store.pause(None)

    claim = store.claim(post.id, time.time(), lease=60, idempotent=True, window=3600)

    assert claim.verdict == "paused"
    assert states(store)[post.id] is State.SCHEDULED


def test_only_one_worker_claims_a_post(store: Store) -> None:
    post = _queued(store)
    verdicts: list[str] = []

    def worker() -> None:
        verdicts.append(
            store.claim(post, time.time(), lease=60, idempotent=True, window=3600).verdict
        )

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(verdicts) == ["busy"] * 7 + ["claimed"]


def test_an_expired_lease_is_resent_only_by_an_idempotent_client(store: Store) -> None:
    idempotent, other = _queued(store, at=NOW), _queued(store, at=NOW + timedelta(seconds=1))
    for post in (idempotent, other):
        store.claim(post, NOW.timestamp(), lease=10, idempotent=True, window=3600)
    later = NOW.timestamp() + 11

    resend = store.claim(idempotent, later, lease=10, idempotent=True, window=3600)
    unsafe = store.claim(other, later, lease=10, idempotent=False, window=3600)

    assert (resend.verdict, resend.attempt) == ("resend", 2)
    assert unsafe.verdict == "unknown"
    assert states(store)[other] is State.UNKNOWN


def test_an_outcome_from_a_superseded_attempt_is_ignored_but_sent_always_wins(
    store: Store,
) -> None:
    post = _queued(store)
    first = store.claim(post, NOW.timestamp(), lease=10, idempotent=True, window=3600)
    second = store.claim(post, NOW.timestamp() + 11, lease=10, idempotent=True, window=3600)

    assert not store.record_failed(post, first, time.time(), "stale failure")
    assert store.record_sent(post, first, time.time(), "42", "https://example.test/42")
    assert not store.record_failed(post, second, time.time(), "too late")
    stored = store.post(post)
    assert stored is not None
    assert (stored.state, stored.remote_id, stored.url) == (
        State.SENT,
        "42",
        "https://example.test/42",
    )


def test_a_retry_goes_back_to_the_schedule_and_a_deferral_does_not_count(store: Store) -> None:
    post = _queued(store)
    claim = store.claim(post, time.time(), lease=60, idempotent=True, window=3600)
    due = time.time() + 30

    assert store.reschedule(post, claim, time.time(), "503 from the server", due, maybe_sent=False)
    assert store.next_due() == pytest.approx(due)
    assert store.post(post).attempts == 1  # type: ignore[union-attr]
    store.due(due, batch=1, requeue_after=60, hold=1)
    claim = store.claim(post, due, lease=60, idempotent=True, window=3600)
    assert store.defer(post, claim, due, due + 5, "bucket empty")
    assert store.post(post).attempts == 1  # type: ignore[union-attr]


def test_cancel_removes_future_posts_and_leaves_sent_ones(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, FUTURE, 3, 60)
    diff.apply(store, campaign, posts)
    _send(store, posts[0].id)

    cancelled = store.cancel("spring", "campaign withdrawn")

    assert sorted(cancelled) == sorted(p.id for p in posts[1:])
    assert states(store)[posts[0].id] is State.SENT
    assert store.next_due() is None
    with pytest.raises(StoreError, match="cancelled"):
        diff.apply(store, campaign, posts)


def test_a_lost_hand_off_is_reclaimed_once_per_period(store: Store) -> None:
    post = _queued(store, requeue_after=5)

    assert store.reclaim(NOW.timestamp() + 1, batch=10, requeue_after=5) == []
    first = store.reclaim(NOW.timestamp() + 6, batch=10, requeue_after=5)
    again = store.reclaim(NOW.timestamp() + 7, batch=10, requeue_after=5)

    assert [(m.id, m.state) for m in first] == [(post, "queued")]
    assert again == []


def test_the_token_bucket_is_shared_and_refills(store: Store) -> None:
    now = time.time()
    taken = [store.take_token("acct", 3, 30, now) for _ in range(4)]

    assert taken[:3] == [0.0, 0.0, 0.0]
    assert taken[3] == pytest.approx(10.0, abs=0.01)
    assert store.take_token("acct", 3, 30, now + 10.1) == 0.0


def test_bytes_per_stored_post(store: Store, redis_client: redis.Redis) -> None:
    campaign = make_campaign()
    text = (
        "Жаз келди! Spring is here: plant a tree this weekend. https://example.org/spring #spring"
    )
    posts = [
        make_post(campaign, p.scheduled_at, locale=p.locale, text=text)
        for p in posts_at(campaign, FUTURE, 200, 60)
    ]
    diff.apply(store, campaign, posts)

    def usage(key: str) -> int:
        return int(redis_client.memory_usage(key, samples=0) or 0)

    ledger = usage(f"test:post:{posts[0].id}")
    body = usage(f"test:text:{posts[0].id}")
    shared = (usage("test:schedule") + usage("test:c:spring:posts")) / len(posts)
    print(
        f"\nbytes per stored post: ledger hash {ledger} + text {body} ({len(text.encode())} "
        f"bytes of text) + schedule and campaign set {shared:.0f} = {ledger + body + shared:.0f}"
    )
    assert redis_client.object("encoding", f"test:post:{posts[0].id}") == "listpack"
    assert ledger + body + shared < 600


def _queued(store: Store, *, at: datetime = NOW, requeue_after: float = 60) -> str:
    campaign = make_campaign()
    post = make_post(campaign, at)
    existing = [make_post(campaign, p.scheduled_at) for p in store.posts("spring")]
    diff.apply(store, campaign, [*existing, post])
    moved = store.due(at.timestamp(), batch=100, requeue_after=requeue_after, hold=1)
    assert post.id in [m.id for m in moved]
    return post.id


def _send(store: Store, post_id: str) -> None:
    """Drive one post through the happy path: due, claimed, sent."""
    at = store.post(post_id).scheduled_at.timestamp()  # type: ignore[union-attr]
    store.redis.zadd(store.key("schedule"), {post_id: 0})
    store.due(at, batch=100, requeue_after=60, hold=1)
    claim = store.claim(post_id, at, lease=60, idempotent=True, window=3600)
    assert claim.publish
    store.record_sent(post_id, claim, at, "1", f"https://example.test/{post_id}")


@pytest.fixture(autouse=True)
def _isolated(redis_server: RedisServer) -> None:
    """Every test here gets the session's Redis; `store` flushes it around the test."""


def test_a_retry_after_a_maybe_published_try_is_unknown_outside_the_window(store: Store) -> None:
    post = _queued(store)
    claim = store.claim(post, NOW.timestamp(), lease=10, idempotent=True, window=3600)
    store.reschedule(
        post, claim, NOW.timestamp(), "read timeout", NOW.timestamp() + 1, maybe_sent=True
    )
    store.due(NOW.timestamp() + 200, batch=10, requeue_after=60, hold=1)

    retry = store.claim(post, NOW.timestamp() + 200, lease=10, idempotent=True, window=100)

    assert retry.verdict == "unknown"
    assert "may have been published" in (store.post(post).error or "")  # type: ignore[union-attr]
