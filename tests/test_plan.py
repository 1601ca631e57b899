"""A campaign file becomes the same list of concrete, checked posts every time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.errors import DefinitionError
from campaign.plan import load_plan

CAMPAIGNS = Path(__file__).parent / "campaigns"
GOOD = CAMPAIGNS / "good.yaml"


def test_each_audience_gets_each_of_its_locales_on_each_of_its_channels() -> None:
    plan = load_plan(GOOD)
    launch = [p for p in plan.posts if p.message == "launch"]
    assert {(p.audience, p.locale, p.channel) for p in launch} == {
        ("migrants-kg", "ky", "telegram-kg"),
        ("migrants-kg", "ru", "telegram-kg"),
        ("kosovo", "sq", "mastodon-main"),
        ("kosovo", "sr", "mastodon-main"),
    }


def test_one_local_time_is_a_different_instant_for_each_audience() -> None:
    plan = load_plan(GOOD)
    launch = {p.audience: p for p in plan.posts if p.message == "launch"}
    assert launch["migrants-kg"].scheduled_at == datetime(2026, 12, 18, 4, 0, tzinfo=UTC)
    assert launch["kosovo"].scheduled_at == datetime(2026, 12, 18, 9, 0, tzinfo=UTC)
    assert launch["kosovo"].local_time.isoformat() == "2026-12-18T10:00:00+01:00"


def test_the_same_file_always_yields_the_same_ids() -> None:
    first = [p.id for p in load_plan(GOOD).posts]
    second = [p.id for p in load_plan(GOOD).posts]
    assert first == second
    assert len(set(first)) == len(first)


def test_posts_are_sorted_by_time_and_checked_against_their_limits() -> None:
    posts = load_plan(GOOD).posts
    assert [p.scheduled_at for p in posts] == sorted(p.scheduled_at for p in posts)
    assert all(p.limit is not None and p.length <= p.limit for p in posts)


def test_the_preview_json_has_the_documented_fields() -> None:
    post = load_plan(GOOD).posts[0].to_json()
    assert list(post) == [
        "id",
        "campaign",
        "message",
        "audience",
        "locale",
        "channel",
        "platform",
        "scheduled_at",
        "local_time",
        "timezone",
        "text",
        "length",
        "limit",
        "warnings",
    ]
    assert post["scheduled_at"].endswith("Z")


def test_a_channel_limited_to_some_locales_gets_only_those(tmp_path: Path) -> None:
    text = (
        GOOD.read_text()
        .replace(
            '    account: "@SafeMigrationKG"\n',
            '    account: "@SafeMigrationKG"\n    locales: [ky]\n',
        )
        .replace("templates: templates", f"templates: {CAMPAIGNS / 'templates'}")
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    telegram = [p for p in load_plan(path).posts if p.channel == "telegram-kg"]
    assert {p.locale for p in telegram} == {"ky"}


def test_every_problem_in_templates_and_posts_is_reported_together(tmp_path: Path) -> None:
    text = (
        GOOD.read_text()
        .replace("template: weekly", "template: undefined-var")
        .replace("template: launch", "template: sandbox")
        .replace("templates: templates", f"templates: {CAMPAIGNS / 'templates'}")
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as caught:
        load_plan(path)
    messages = [p.message for p in caught.value.problems]
    assert any("'hotline' is undefined" in m for m in messages)
    assert any("sandbox" in m for m in messages)
