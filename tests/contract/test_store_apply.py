"""Applying a change larger than one chunk: in steps, all or nothing, even when the applier dies
between two of them; and what the campaign is while it happens (held: nothing of it handed out
or claimed, while other campaigns go on).

Each test runs once per backend, with chunks of two posts (the `stepped` fixture), and speaks
only the `Store` protocol. A dead applier is simulated by calling some steps and stopping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign.errors import StoreError
from campaign.post import Post
from tests.fixtures.plans import make_campaign, make_post, posts_at
from workers import diff
from workers.ratelimit import route_for
from workers.store import (
    Conflict,
    NewPost,
    PlanChange,
    Scope,
    Sent,
    StagedApply,
    State,
    Store,
    Verdict,
    run_staged,
)

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
T = NOW.timestamp()
HOLD = 60.0  # workers.store.staging.HOLD: how long a step holds its campaign


def change_of(slug: str, posts: list[Post], *, cancel: tuple[str, ...] = ()) -> PlanChange:
    campaign = make_campaign(slug)
    return PlanChange(
        campaign=slug,
        title=f"{slug} v2",
        max_lateness=3600,
        launched_at=T,
        zones={},
        channels={name: route_for(c) for name, c in campaign.channels.items()},
        add=[_new(p) for p in posts],
        cancel=list(cancel),
    )


def _new(post: Post) -> NewPost:
    at = post.scheduled_at.timestamp()
    return NewPost(post.id, post.message, post.audience, post.channel, post.locale, at, post.text)


def other_campaign_due(store: Store) -> list[str]:
    """A small campaign "other" with two posts due at T; their ids."""
    other = make_campaign("other")
    posts = posts_at(other, NOW, 2, 0.5)
    diff.apply(store, other, posts)
    return [p.id for p in posts]


def started(store: Store, change: PlanChange, *, stage: int) -> StagedApply:
    """An apply in steps whose applier stopped after staging `stage` chunks."""
    steps = store.apply_in_steps(change, T)
    assert steps.chunks >= 3
    steps.begin()
    for number in range(stage):
        assert steps.stage(number) is None
    return steps


def test_a_change_larger_than_a_chunk_is_applied_in_steps_whole(stepped: Store) -> None:
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 7, 60)

    result = diff.apply(stepped, campaign, posts)

    assert len(result.add) == 7
    assert {p.id: p.state for p in stepped.posts("spring")} == {
        p.id: State.SCHEDULED for p in posts
    }
    assert stepped.texts([p.id for p in posts]) == {p.id: p.text for p in posts}
    assert stepped.counts("spring")[State.SCHEDULED] == 7
    assert not stepped.campaign("spring").applying  # type: ignore[union-attr]
    assert diff.apply(stepped, campaign, posts).empty


def test_an_applier_dead_before_its_commit_leaves_nothing_and_holds_only_its_campaign(
    stepped: Store,
) -> None:
    # Given another campaign with posts due, and an apply whose applier staged 2 of 4 chunks
    others = other_campaign_due(stepped)
    change = change_of("spring", posts_at(make_campaign(), NOW, 7, 60))
    started(stepped, change, stage=2)

    # Then nothing of it is visible, its campaign is held, and the other campaign goes on
    assert stepped.campaign("spring") is None or stepped.posts("spring") == []
    moved = stepped.hand_out_due(T + 10, batch=100, requeue_after=60, hold=1)
    assert sorted(m.id for m in moved) == sorted(others)

    # When its hold runs out, a scheduler pass drops what it staged
    stepped.hand_out_due(T + HOLD + 1, batch=100, requeue_after=60, hold=1)

    # Then a new apply of the campaign works and writes it whole
    assert run_staged(stepped.apply_in_steps(change, T + HOLD + 2)) is None
    assert len(stepped.posts("spring")) == 7


def test_a_held_campaign_refuses_a_second_apply_a_cancel_and_a_restore(stepped: Store) -> None:
    # Given a stored campaign that an apply in steps holds
    campaign = make_campaign()
    diff.apply(stepped, campaign, [make_post(campaign, NOW)])
    started(
        stepped, change_of("spring", posts_at(campaign, NOW + timedelta(days=3), 7, 60)), stage=1
    )

    # Then another apply, a cancel and a restore say so, and change nothing
    with pytest.raises(StoreError, match="being applied"):
        stepped.apply_in_steps(change_of("spring", posts_at(campaign, NOW, 5, 9)), T + 1).begin()
    with pytest.raises(StoreError, match="being applied"):
        stepped.cancel("spring", Scope(), "stop", T + 1)
    with pytest.raises(StoreError, match="being applied"):
        stepped.restore("spring", Scope(), T + 1)
    assert [p.state for p in stepped.posts("spring")] == [State.SCHEDULED]


def test_an_applier_dead_after_its_commit_is_completed_by_a_scheduler_pass(
    stepped: Store,
) -> None:
    # Given an apply committed and rolled forward by one chunk of four, then its applier died
    posts = posts_at(make_campaign(), NOW, 7, 60)
    steps = started(stepped, change_of("spring", posts), stage=4)
    assert steps.commit() is None
    assert not steps.roll_forward()

    # Then the campaign stays held: none of its posts is handed out
    assert stepped.hand_out_due(T + 10, batch=100, requeue_after=60, hold=1) == []
    assert stepped.campaign("spring").applying  # type: ignore[union-attr]

    # When a scheduler passes after the applier's hold ran out
    stepped.hand_out_due(T + HOLD + 1, batch=0, requeue_after=60, hold=1)

    # Then the change is complete and its campaign released
    assert {p.id: p.state for p in stepped.posts("spring")} == {
        p.id: State.SCHEDULED for p in posts
    }
    assert stepped.campaign("spring").title == "spring v2"  # type: ignore[union-attr]
    assert not stepped.campaign("spring").applying  # type: ignore[union-attr]


def test_a_conflict_found_while_staging_writes_nothing_and_releases_the_campaign(
    stepped: Store,
) -> None:
    # Given a campaign whose first post was sent since the change was computed
    campaign = make_campaign()
    posts = posts_at(campaign, NOW, 3, 60)
    diff.apply(stepped, campaign, posts)
    stepped.hand_out_due(T, batch=1, requeue_after=60, hold=1)
    claim = stepped.claim(posts[0].id, T, owner="w", lease=60, resend={})
    stepped.finish(posts[0].id, claim.attempt, T, Sent("1", None))
    before = stepped.posts("spring")
    more = posts_at(campaign, NOW + timedelta(days=1), 4, 60)

    # When a change adding four posts and cancelling the sent one is applied in steps
    conflict = run_staged(
        stepped.apply_in_steps(change_of("spring", more, cancel=(posts[0].id,)), T + 1)
    )

    # Then it names the conflict, wrote nothing, and the campaign delivers again
    assert conflict == Conflict(posts[0].id, "sent")
    assert stepped.posts("spring") == before
    assert not stepped.campaign("spring").applying  # type: ignore[union-attr]
    assert [m.id for m in stepped.hand_out_due(T + 60, batch=9, requeue_after=60, hold=1)] == [
        posts[1].id
    ]


def test_a_queued_post_of_a_held_campaign_goes_back_to_the_schedule_when_claimed(
    stepped: Store,
) -> None:
    # Given a queued post, then an apply in steps of its campaign begins
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(stepped, campaign, [post])
    stepped.hand_out_due(T, batch=1, requeue_after=60, hold=1)
    started(stepped, change_of("spring", posts_at(campaign, NOW + timedelta(days=2), 5, 60)),
            stage=0)  # fmt: skip

    # When a worker claims it
    claim = stepped.claim(post.id, T + 1, owner="w", lease=60, resend={})

    # Then nothing is published: it waits, scheduled, for the apply to complete
    assert claim.verdict is Verdict.PAUSED
    assert stepped.post(post.id).state is State.SCHEDULED  # type: ignore[union-attr]
