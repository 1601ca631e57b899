"""The store contract: every backend behaves the same, spoken to only through `Store`.

Each test runs once per backend (the `store` fixture is parametrized over redis and sqlite).
Time passes only through the `now` arguments.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from campaign.errors import StoreError
from campaign.post import Post
from tests.fixtures.plans import make_campaign, make_post, posts_at
from workers import diff
from workers.ratelimit import route_for
from workers.store import (
    ChannelRoute,
    Claim,
    Defer,
    Failed,
    NewPost,
    PlanChange,
    ResendRule,
    Retry,
    Scope,
    Sent,
    State,
    Store,
    Unknown,
    Verdict,
)

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
T = NOW.timestamp()
RESEND = {"mastodon": ResendRule(True, 3000.0)}
NEVER: dict[str, ResendRule] = {}


def states(store: Store, campaign: str = "spring") -> dict[str, State]:
    return {post.id: post.state for post in store.posts(campaign)}


def apply(store: Store, *posts: Post, **campaign_options: object) -> None:
    campaign = make_campaign(**campaign_options)  # type: ignore[arg-type]
    diff.apply(store, campaign, list(posts))


def queued(store: Store, post: Post, *, requeue_after: float = 60) -> None:
    """Given a post that the scheduler handed out at its time."""
    at = post.scheduled_at.timestamp()
    moved = store.hand_out_due(at, batch=100, requeue_after=requeue_after, hold=1)
    assert post.id in [m.id for m in moved]


def claimed(
    store: Store, post: Post, at: float | None = None, *, owner: str = "w1", lease: float = 60
) -> Claim:
    claim = store.claim(
        post.id, post.scheduled_at.timestamp() if at is None else at, owner=owner, lease=lease,
        resend=RESEND,
    )  # fmt: skip
    return claim


def a_post(at: datetime = NOW, **options: object) -> Post:
    return make_post(make_campaign(), at, **options)  # type: ignore[arg-type]


# --- apply ---------------------------------------------------------------------------------------


def test_apply_stores_every_post_its_text_and_the_campaign(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)

    result = diff.apply(store, campaign, posts)

    assert [c.post_id for c in result.add] == [p.id for p in posts]
    assert states(store) == {p.id: State.SCHEDULED for p in posts}
    assert store.texts([p.id for p in posts]) == {p.id: p.text for p in posts}
    assert store.channels("spring") == dict(campaign.channels)
    record = store.campaign("spring")
    assert record is not None
    assert (record.title, record.max_lateness) == ("Spring", 3600.0)
    assert store.next_wakeup() == T
    assert store.counts("spring")[State.SCHEDULED] == 3


def test_applying_the_same_plan_twice_changes_nothing(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, posts)
    before = store.posts("spring")

    again = diff.apply(store, campaign, posts)

    assert again.empty
    assert store.posts("spring") == before


def test_a_stale_plan_change_is_refused_whole(store: Store) -> None:
    # Given a stored post that was sent since the plan change was computed
    kept, new = a_post(), a_post(NOW + timedelta(days=1))
    apply(store, kept)
    queued(store, kept)
    store.finish(kept.id, claimed(store, kept).attempt, T, Sent("1", None))
    before = store.posts("spring")

    # When a change that adds a post and cancels the sent one is applied
    conflict = store.apply(
        PlanChange(
            campaign="spring",
            title="changed",
            max_lateness=60,
            launched_at=T,
            zones={},
            channels={},
            add=[NewPost(new.id, "hello", "all", "social", "ky", T + 86400, "x")],
            cancel=[kept.id],
        ),
        T,
    )

    # Then it names the conflict and wrote nothing
    assert conflict is not None
    assert (conflict.post_id, conflict.state) == (kept.id, "sent")
    assert store.posts("spring") == before
    assert store.campaign("spring").title == "Spring"  # type: ignore[union-attr]


def test_plan_changes_and_cancels_but_never_touches_a_sent_post(store: Store) -> None:
    campaign = make_campaign()
    first, second, third = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, [first, second, third])
    queued(store, first)
    store.finish(first.id, claimed(store, first).attempt, T, Sent("1", None))
    edited = [
        make_post(campaign, first.scheduled_at, text="edited after sending"),
        make_post(campaign, second.scheduled_at, locale="ru", text="new text"),
    ]

    plan = diff.compute(store, campaign, edited)
    diff.apply(store, campaign, edited)

    assert [(c.post_id, c.detail) for c in plan.change] == [(second.id, "text")]
    assert [c.post_id for c in plan.cancel] == [third.id]
    assert [(c.post_id, c.detail) for c in plan.kept] == [(first.id, "sent: text")]
    assert states(store) == {
        first.id: State.SENT,
        second.id: State.SCHEDULED,
        third.id: State.CANCELLED,
    }
    assert store.texts([first.id, second.id]) == {first.id: first.text, second.id: "new text"}


def test_a_channel_route_keeps_the_account_bucket(store: Store) -> None:
    campaign = make_campaign(rate_limit={"requests": 5, "per_seconds": 10})
    diff.apply(store, campaign, [make_post(campaign, NOW)])

    route = store.route("spring", "social")

    assert route == route_for(campaign.channels["social"])
    assert route is not None
    assert (route.capacity, route.per_seconds) == (5, 10.0)
    assert store.route("spring", "nowhere") is None


# --- the scheduler -------------------------------------------------------------------------------


def test_due_posts_are_handed_out_once_even_to_two_schedulers(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW - timedelta(seconds=5), 20, 0.5)
    diff.apply(store, campaign, posts)
    handed: list[str] = []

    def scheduler() -> None:
        for step in range(20):
            moved = store.hand_out_due(T + step * 0.1, batch=3, requeue_after=60, hold=1)
            handed.extend(m.id for m in moved if m.state is State.QUEUED)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    due = [p.id for p in posts if p.scheduled_at.timestamp() <= T + 1.9]
    assert sorted(handed) == sorted(due)


def test_a_post_later_than_max_lateness_is_missed(store: Store) -> None:
    late, fresh = a_post(NOW - timedelta(minutes=11)), a_post(NOW - timedelta(minutes=9))
    apply(store, late, fresh, max_lateness=timedelta(minutes=10))

    moved = store.hand_out_due(T, batch=10, requeue_after=60, hold=1)

    assert {(m.id, m.state) for m in moved} == {(late.id, State.MISSED), (fresh.id, State.QUEUED)}
    assert "max_lateness" in (store.post(late.id).error or "")  # type: ignore[union-attr]


def test_a_lost_hand_off_is_reclaimed_once_per_period(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post, requeue_after=5)

    assert store.reclaim(T + 1, batch=10, requeue_after=5) == []
    first = store.reclaim(T + 6, batch=10, requeue_after=5)
    again = store.reclaim(T + 7, batch=10, requeue_after=5)

    assert [(m.id, m.state) for m in first] == [(post.id, State.QUEUED)]
    assert again == []


def test_next_wakeup_is_the_earliest_due_time_or_deadline(store: Store) -> None:
    soon, later = a_post(), a_post(NOW + timedelta(hours=1))
    apply(store, soon, later)
    assert store.next_wakeup() == T

    queued(store, soon, requeue_after=30)

    assert store.next_wakeup() == T + 30


def test_wake_ends_a_wait_early(store: Store) -> None:
    waker = threading.Timer(0.2, store.wake)
    waker.start()
    started = datetime.now(UTC)

    store.wait(30.0)

    assert datetime.now(UTC) - started < timedelta(seconds=10)


# --- claims --------------------------------------------------------------------------------------


def test_only_one_worker_claims_a_post(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    verdicts: list[Verdict] = []

    def worker(number: int) -> None:
        verdicts.append(claimed(store, post, owner=f"w{number}").verdict)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(verdicts) == [Verdict.BUSY] * 7 + [Verdict.CLAIMED]


def test_a_claim_asked_again_by_its_owner_is_recognised(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    first = claimed(store, post, owner="task-1")

    again = claimed(store, post, T + 1, owner="task-1")
    other = claimed(store, post, T + 1, owner="task-2")

    assert (again.verdict, again.attempt, again.text) == (Verdict.CLAIMED, 1, first.text)
    assert other.verdict is Verdict.BUSY


def test_a_claim_hands_the_worker_everything_it_publishes(store: Store) -> None:
    post = a_post(locale="ru")
    apply(store, post)
    queued(store, post)

    claim = claimed(store, post)

    assert claim.publish
    assert (claim.campaign, claim.channel, claim.locale) == ("spring", "social", "ru")
    assert (claim.text, claim.scheduled_at, claim.attempt, claim.tries) == (
        post.text,
        post.scheduled_at,
        1,
        1,
    )


def test_a_paused_post_goes_back_to_the_schedule_when_claimed(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    store.pause(None, Scope(), T)

    claim = claimed(store, post)

    assert claim.verdict is Verdict.PAUSED
    assert states(store)[post.id] is State.SCHEDULED
    assert store.paused_everywhere()


def test_an_expired_lease_is_resent_only_where_resending_is_safe(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claimed(store, post, lease=10)

    unsafe = store.claim(post.id, T + 11, owner="w2", lease=10, resend=NEVER)

    assert unsafe.verdict is Verdict.UNKNOWN
    stored = store.post(post.id)
    assert stored is not None
    assert (stored.state, stored.maybe_sent) == (State.UNKNOWN, True)
    assert "worker was lost" in (stored.error or "")


def test_an_expired_lease_of_an_idempotent_channel_is_resent_and_remembered(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claimed(store, post, lease=10)

    resend = store.claim(post.id, T + 11, owner="w2", lease=10, resend=RESEND)

    assert (resend.verdict, resend.attempt, resend.maybe_sent) == (Verdict.RESEND, 2, True)


def test_a_resend_outside_the_window_ends_unknown(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)
    store.finish(post.id, claim.attempt, T, Retry("read timeout", T + 1, maybe_sent=True))
    store.hand_out_due(T + 200, batch=10, requeue_after=60, hold=1)

    short = {"mastodon": ResendRule(True, 100)}
    retry = store.claim(post.id, T + 200, owner="w2", lease=10, resend=short)

    assert retry.verdict is Verdict.UNKNOWN
    assert "may have been published" in (store.post(post.id).error or "")  # type: ignore[union-attr]


def test_an_empty_bucket_throttles_the_claim_without_counting_a_try(store: Store) -> None:
    first, second = a_post(), a_post(locale="en")
    apply(store, first, second, rate_limit={"requests": 1, "per_seconds": 60})
    queued(store, first)

    assert claimed(store, first).publish
    throttled = claimed(store, second)

    assert throttled.verdict is Verdict.THROTTLED
    assert throttled.retry_at == pytest.approx(T + 60, abs=0.01)
    stored = store.post(second.id)
    assert stored is not None
    assert stored.state is State.SCHEDULED
    assert stored.due is not None
    assert stored.due.timestamp() == pytest.approx(T + 60, abs=0.01)


def test_the_token_bucket_is_shared_and_refills(store: Store) -> None:
    taken = [store.take_token("acct", 3, 30, T) for _ in range(4)]

    assert taken[:3] == [0.0, 0.0, 0.0]
    assert taken[3] == pytest.approx(10.0, abs=0.01)
    assert store.take_token("acct", 3, 30, T + 10.1) == 0.0


# --- outcomes ------------------------------------------------------------------------------------


def test_an_outcome_of_a_superseded_attempt_is_ignored_but_sent_always_wins(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    first = claimed(store, post, lease=10)
    second = store.claim(post.id, T + 11, owner="w2", lease=10, resend=RESEND)

    assert not store.finish(post.id, first.attempt, T + 12, Failed("stale failure")).recorded
    assert store.finish(post.id, first.attempt, T + 12, Sent("42", "https://x.test/42")).recorded
    assert not store.finish(post.id, second.attempt, T + 13, Failed("too late")).recorded
    stored = store.post(post.id)
    assert stored is not None
    assert (stored.state, stored.remote_id, stored.url) == (State.SENT, "42", "https://x.test/42")


def test_an_outcome_recorded_twice_is_recognised(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)
    store.finish(post.id, claim.attempt, T, Retry("503", T + 30))

    again = store.finish(post.id, claim.attempt, T, Retry("503", T + 30))

    assert (again.recorded, again.repeated, again.state) == (True, True, State.SCHEDULED)


def test_a_retry_goes_back_to_the_schedule_and_a_deferral_does_not_count(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)

    assert store.finish(post.id, claim.attempt, T, Retry("503 from the server", T + 30)).recorded
    assert store.next_wakeup() == pytest.approx(T + 30)
    store.hand_out_due(T + 30, batch=1, requeue_after=60, hold=1)
    claim = claimed(store, post, T + 30)
    assert claim.tries == 2
    assert store.finish(post.id, claim.attempt, T + 30, Defer("429", T + 35)).recorded
    store.hand_out_due(T + 35, batch=1, requeue_after=60, hold=1)

    assert claimed(store, post, T + 35).tries == 2


def test_a_post_that_may_be_out_never_ends_failed(store: Store) -> None:
    # Given a post whose first attempt's answer was lost
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)
    store.finish(post.id, claim.attempt, T, Retry("read timeout", T + 1, maybe_sent=True))
    store.hand_out_due(T + 1, batch=1, requeue_after=60, hold=1)
    claim = claimed(store, post, T + 1)

    # When the last attempt gives up
    done = store.finish(post.id, claim.attempt, T + 2, Failed("gave up after 2 attempts: 503"))

    # Then the post is unknown, and the reason says to check the platform
    assert done.state is State.UNKNOWN
    stored = store.post(post.id)
    assert stored is not None
    assert stored.state is State.UNKNOWN
    assert "check the platform" in (stored.error or "")


def test_a_post_that_may_be_out_is_unknown_not_missed_when_too_late(store: Store) -> None:
    post = a_post()
    apply(store, post, max_lateness=timedelta(minutes=10))
    queued(store, post)
    claim = claimed(store, post)
    store.finish(post.id, claim.attempt, T, Retry("dropped", T + 900, maybe_sent=True))

    (moved,) = store.hand_out_due(T + 900, batch=1, requeue_after=60, hold=1)

    assert moved.state is State.UNKNOWN


def test_an_unknown_outcome_is_remembered(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)

    done = store.finish(post.id, claim.attempt, T, Unknown("dropped after sending"))

    assert done.state is State.UNKNOWN
    assert store.post(post.id).maybe_sent  # type: ignore[union-attr]


# --- people --------------------------------------------------------------------------------------


def test_cancel_removes_future_posts_and_leaves_sent_ones(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, posts)
    queued(store, posts[0])
    store.finish(posts[0].id, claimed(store, posts[0]).attempt, T, Sent("1", None))

    cancelled = store.cancel("spring", Scope(), "campaign withdrawn", T)

    assert sorted(m.id for m in cancelled) == sorted(p.id for p in posts[1:])
    assert states(store)[posts[0].id] is State.SENT
    assert store.next_wakeup() is None
    assert store.campaign("spring").cancelled == "campaign withdrawn"  # type: ignore[union-attr]
    assert store.counts("spring")[State.CANCELLED] == 2


def test_cancel_and_pause_by_part(store: Store) -> None:
    ky, ru = a_post(locale="ky"), a_post(locale="ru")
    apply(store, ky, ru)

    store.pause("spring", Scope(locale="ky"), T)
    moved = store.hand_out_due(T, batch=10, requeue_after=60, hold=1)
    cancelled = store.cancel("spring", Scope(locale="ru"), "wrong translation", T)

    assert [m.id for m in moved] == [ru.id]
    assert [m.id for m in cancelled] == [ru.id]  # queued, not yet claimed
    assert store.campaign("spring").paused == (Scope(locale="ky"),)  # type: ignore[union-attr]
    assert store.resume("spring", Scope(locale="ky"), T)
    assert not store.resume("spring", Scope(locale="ky"), T)


def test_operating_an_unknown_campaign_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no campaign 'nope'"):
        store.pause("nope", Scope(), T)
    with pytest.raises(StoreError, match="no campaign 'nope'"):
        store.cancel("nope", Scope(), "x", T)


def test_failed_and_confirmed_unknown_posts_can_be_retried(store: Store) -> None:
    failed, unknown = a_post(), a_post(locale="en")
    apply(store, failed, unknown)
    queued(store, failed)
    for post, outcome in ((failed, Failed("401")), (unknown, Unknown("dropped"))):
        store.finish(post.id, claimed(store, post).attempt, T, outcome)

    first = store.retry([failed.id, unknown.id], T + 5, confirmed_not_out=False)
    second = store.retry([unknown.id], T + 5, confirmed_not_out=True)

    assert [m.id for m in first] == [failed.id]
    assert [m.id for m in second] == [unknown.id]
    assert states(store) == {failed.id: State.SCHEDULED, unknown.id: State.SCHEDULED}
    assert not store.post(unknown.id).maybe_sent  # type: ignore[union-attr]
    assert claimed(store, failed, T + 5).verdict is Verdict.SKIP  # not handed out yet
    store.hand_out_due(T + 5, batch=10, requeue_after=60, hold=1)
    assert claimed(store, failed, T + 5).tries == 1


def test_restore_brings_back_cancelled_posts_still_ahead(store: Store) -> None:
    past, ahead = a_post(), a_post(NOW + timedelta(days=2), locale="en")
    apply(store, past, ahead)
    store.cancel("spring", Scope(), "paused by mistake", T)

    restored = store.restore("spring", Scope(), T + 3600)

    assert [m.id for m in restored] == [ahead.id]
    assert states(store) == {past.id: State.CANCELLED, ahead.id: State.SCHEDULED}
    assert store.campaign("spring").cancelled is None  # type: ignore[union-attr]
    assert store.next_wakeup() == ahead.scheduled_at.timestamp()


def test_a_failure_says_what_a_person_must_do_until_retried(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    store.finish(post.id, claimed(store, post).attempt, T, Failed("401 revoked", kind="auth"))
    assert store.post(post.id).error_kind == "auth"  # type: ignore[union-attr]

    store.retry([post.id], T + 1, confirmed_not_out=False)

    assert store.post(post.id).error_kind is None  # type: ignore[union-attr]


def test_a_retried_post_is_late_only_counting_from_the_retry(store: Store) -> None:
    # Given a post that failed, retried by a person two hours after its time
    post = a_post()
    apply(store, post, max_lateness=timedelta(hours=1))
    queued(store, post)
    store.finish(post.id, claimed(store, post).attempt, T, Failed("401", kind="auth"))
    store.retry([post.id], T + 7200, confirmed_not_out=False)

    # When it is handed out
    (moved,) = store.hand_out_due(T + 7201, batch=1, requeue_after=60, hold=1)

    # Then it goes out, not missed
    assert moved.state is State.QUEUED


def test_every_state_change_is_in_the_history(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)
    claim = claimed(store, post)
    store.finish(post.id, claim.attempt, T + 1, Sent("7", "https://x.test/7"))

    history = store.history(post.id)

    assert [(e.state, e.attempt) for e in history] == [
        (State.QUEUED, 0),
        (State.SENDING, 1),
        (State.SENT, 1),
    ]
    assert history[-1].detail == "https://x.test/7"


# --- credentials ---------------------------------------------------------------------------------


def test_a_credential_is_swapped_only_from_the_version_read(store: Store) -> None:
    assert store.credential("bsky:alice") is None
    assert store.swap_credential("bsky:alice", None, "session-1")
    assert not store.swap_credential("bsky:alice", None, "session-other")

    current = store.credential("bsky:alice")
    assert current is not None
    assert (current.value, current.version) == ("session-1", 1)
    assert store.swap_credential("bsky:alice", 1, "session-2")
    assert not store.swap_credential("bsky:alice", 1, "session-3")
    assert store.credential("bsky:alice").value == "session-2"  # type: ignore[union-attr]
    assert "session" not in repr(current)


def test_eight_workers_refreshing_at_once_swap_one_credential(store: Store) -> None:
    store.swap_credential("x:bob", None, "refresh-0")
    wins: list[str] = []

    def refresh(number: int) -> None:
        seen = store.credential("x:bob")
        assert seen is not None
        if store.swap_credential("x:bob", seen.version, f"refresh-{number}"):
            wins.append(f"refresh-{number}")

    threads = [threading.Thread(target=refresh, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = store.credential("x:bob")
    assert final is not None
    assert len(wins) >= 1
    assert final.value == wins[-1]
    assert final.version == 1 + len(wins)


def test_a_route_without_a_limit_has_no_bucket() -> None:
    campaign = make_campaign(platform="outbox", api_url=None, credentials=None)  # type: ignore[arg-type]
    assert route_for(campaign.channels["social"]) == ChannelRoute(campaign.channels["social"])


# --- what plan and status read -----------------------------------------------------------------


def test_lookup_finds_the_stored_posts_among_ids_with_their_texts(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, posts[:2])

    found = store.lookup([p.id for p in posts], text=True)
    bare = store.lookup([posts[0].id])

    assert sorted(found) == sorted(p.id for p in posts[:2])
    assert found[posts[0].id].text == posts[0].text
    assert found[posts[0].id].state is State.SCHEDULED
    assert bare[posts[0].id].text is None


def test_posts_besides_leaves_those_out(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, posts)

    rest = store.posts("spring", states=(State.SCHEDULED,), besides={posts[1].id})

    assert [p.id for p in rest] == [posts[0].id, posts[2].id]


def test_recent_lists_the_last_posts_sent_newest_first(store: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(store, campaign, posts)
    for number, post in enumerate(posts):
        at = post.scheduled_at.timestamp()
        store.hand_out_due(at, batch=10, requeue_after=60, hold=1)
        claim = store.claim(post.id, at, owner="w", lease=60, resend=RESEND)
        store.finish(post.id, claim.attempt, at + 1, Sent(str(number), f"https://x.test/{number}"))

    recent = store.recent("spring", 2)

    assert [p.id for p in recent] == [posts[2].id, posts[1].id]
    assert recent[0].url == "https://x.test/2"


def test_needs_counts_failures_a_person_must_act_on_by_channel(store: Store) -> None:
    # Given two posts refused for their credentials and one failed otherwise
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 0)
    diff.apply(store, campaign, posts)
    store.hand_out_due(T, batch=10, requeue_after=60, hold=1)
    outcomes = [
        Failed("401 revoked", kind="auth"),
        Failed("403 scope"),
        Failed("401 again", "auth"),
    ]
    for post, outcome in zip(posts, outcomes, strict=True):
        store.finish(post.id, claimed(store, post).attempt, T + 1, outcome)

    needs = store.needs("spring")

    # Then the channel needs reconnecting for two posts; a retry takes them off the count
    assert [(n.channel, n.kind, n.posts) for n in needs] == [("social", "auth", 2)]
    assert needs[0].error in ("401 revoked", "401 again")
    store.retry([posts[0].id, posts[2].id], T + 2, confirmed_not_out=False)
    assert store.needs("spring") == []


def test_finish_and_claim_records_one_post_and_claims_the_next_in_one_step(store: Store) -> None:
    first, second = a_post(), a_post(locale="en")
    apply(store, first, second)
    store.hand_out_due(T, batch=10, requeue_after=60, hold=1)
    claim = claimed(store, first)

    done, following = store.finish_and_claim(
        first.id, claim.attempt, T + 1, Sent("1", None), second.id, owner="w2", lease=60,
        resend=RESEND,
    )  # fmt: skip

    assert (done.recorded, done.state) == (True, State.SENT)
    assert (following.verdict, following.text) == (Verdict.CLAIMED, second.text)
    assert states(store) == {first.id: State.SENT, second.id: State.SENDING}


def test_a_claim_names_the_version_of_its_channel_settings(store: Store) -> None:
    post = a_post()
    apply(store, post)
    queued(store, post)

    first = claimed(store, post)
    apply(store, post, rate_limit={"requests": 5, "per_seconds": 10})
    store.finish(post.id, first.attempt, T, Retry("503", T))
    store.hand_out_due(T, batch=1, requeue_after=60, hold=1)
    second = claimed(store, post, T + 1, owner="w2")

    assert first.channel_version
    assert second.channel_version
    assert first.channel_version != second.channel_version
