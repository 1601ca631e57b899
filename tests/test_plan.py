"""A campaign file becomes the same list of concrete, checked posts every time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.coverage import Status
from campaign.errors import DefinitionError
from campaign.plan import build_plan, load_plan

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
        "errors",
        "template",
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
    # (the templates live outside tmp_path's project, so they are allowed explicitly)
    plan = load_plan(path, allowed_template_roots=[CAMPAIGNS])
    telegram = [p for p in plan.posts if p.channel == "telegram-kg"]
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
        load_plan(path, allowed_template_roots=[CAMPAIGNS])
    messages = [p.message for p in caught.value.problems]
    assert any("'hotline' is undefined" in m for m in messages)
    assert any("sandbox" in m for m in messages)


def write_campaign(tmp_path: Path, text: str, templates: dict[str, str]) -> Path:
    for name, body in templates.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return path


SERIES = """\
campaign: series
title: Series
timezone: Asia/Bishkek
start: 2026-12-18
end: 2027-03-31
templates: templates
audiences:
  a: {locales: [en], channels: [out]}
  b: {locales: [en], channels: [out]}
channels:
  out: {platform: outbox}
messages:
  tips:
    template: tips
    audiences: [a]
    vars: {topics: [health, rights, contracts]}
    schedule: [{rrule: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;COUNT=4"}]
  hello:
    template: hello
    schedule: [{at: "2026-12-18 10:00"}]
"""


def test_a_series_picks_its_topic_by_occurrence(tmp_path: Path) -> None:
    path = write_campaign(
        tmp_path,
        SERIES,
        {
            "tips/en.j2": "{{ topics[occurrence % topics | length] }}",
            "hello/en.j2": "Hi {{ audience.name }}",
        },
    )
    tips = [p.text for p in load_plan(path).posts if p.message == "tips"]
    assert tips == ["health", "rights", "contracts", "health"]


def test_the_same_text_twice_on_one_channel_at_once_is_a_warning(tmp_path: Path) -> None:
    path = write_campaign(tmp_path, SERIES, {"tips/en.j2": "tip", "hello/en.j2": "Hello everyone"})
    plan = load_plan(path)
    assert [str(w) for w in plan.warnings] == [
        f"{path}:18: warning: message 'hello' posts the same en text on 'out' at 2026-12-18 10:00 "
        "for audiences 'a' and 'b': give one of them its own channel or template"
    ]


LANGUAGES = """\
campaign: languages
title: Languages
timezone: Europe/Belgrade
start: 2026-12-18
end: 2026-12-31
templates: templates
fallback_locale: en
audiences:
  kosovo: {locales: [sq, sr], channels: [out, x-main]}
  partners: {locales: [en, sr], channels: [out]}
channels:
  out: {platform: outbox}
  x-main: {platform: x, credentials: {client_id: X_CLIENT_ID, refresh_token: X_REFRESH}}
messages:
  hello:
    template: hello
    schedule: [{at: "2026-12-18 10:00"}]
"""


def test_every_route_records_how_its_template_was_found(tmp_path: Path) -> None:
    # Given Albanian and English templates, Serbian only for X, and no template at all in
    # Serbian for the outbox (it falls back to English)
    path = write_campaign(
        tmp_path,
        LANGUAGES,
        {"hello/sq.j2": "Tungjatjeta", "hello/en.j2": "Hello", "hello/sr.x.j2": "Здраво"},
    )

    # When the plan is built
    plan = build_plan(path)

    # Then each route says whether it is in its own language, a fallback (to which) or missing
    found = {(r.audience, r.locale, r.channel): (r.status, r.written_in) for r in plan.routes}
    assert found == {
        ("kosovo", "sq", "out"): (Status.PRESENT, "sq"),
        ("kosovo", "sq", "x-main"): (Status.PRESENT, "sq"),
        ("kosovo", "sr", "out"): (Status.FALLBACK, "en"),
        ("kosovo", "sr", "x-main"): (Status.PRESENT, "sr"),
        ("partners", "en", "out"): (Status.PRESENT, "en"),
        ("partners", "sr", "out"): (Status.FALLBACK, "en"),
    }
    # the audience that already reads English gets no second English post
    posts = {(r.audience, r.locale, r.channel): r.posts for r in plan.routes}
    assert posts[("partners", "sr", "out")] == 0
    assert posts[("kosovo", "sr", "out")] == 1
    assert {r.template for r in plan.routes if r.channel == "x-main"} == {
        "hello/sq.j2",
        "hello/sr.x.j2",
    }


def test_a_missing_template_hides_only_its_own_posts(tmp_path: Path) -> None:
    # Given no Serbian template and no fallback language
    path = write_campaign(
        tmp_path,
        LANGUAGES.replace("fallback_locale: en\n", ""),
        {"hello/sq.j2": "Tungjatjeta", "hello/en.j2": "Hello"},
    )

    # When the plan is built
    plan = build_plan(path)

    # Then the Serbian routes are missing and an error, and every other post is there
    missing = [(r.audience, r.channel) for r in plan.routes if r.status is Status.MISSING]
    assert missing == [("kosovo", "out"), ("kosovo", "x-main"), ("partners", "out")]
    assert all(r.template is None and r.posts == 0 for r in plan.routes if r.status == "missing")
    assert {(p.audience, p.locale) for p in plan.posts} == {("kosovo", "sq"), ("partners", "en")}
    assert any(
        "no template for message template 'hello' in locale 'sr'" in str(e) for e in plan.errors
    )
    # and a plan with errors cannot be loaded for applying
    with pytest.raises(DefinitionError):
        load_plan(path)


def test_a_post_over_its_limit_stays_in_the_plan_marked(tmp_path: Path) -> None:
    # Given an Albanian template far too long for X
    path = write_campaign(
        tmp_path,
        LANGUAGES,
        {"hello/sq.j2": "Tungjatjeta " * 40, "hello/en.j2": "Hello", "hello/sr.j2": "Здраво"},
    )

    # When the plan is built
    plan = build_plan(path)

    # Then the post is there, says why X would refuse it, and counts as refused on its route
    (over,) = [p for p in plan.posts if p.errors]
    assert (over.audience, over.locale, over.channel) == ("kosovo", "sq", "x-main")
    assert over.length > 280
    assert over.template == "hello/sq.j2"
    assert over.errors[0].startswith(f"{over.length}/280 weighted characters on X")
    assert [r.refused for r in plan.routes if r.refused] == [1]
    assert len(plan.errors) == 1
    assert over.id in plan.errors[0].message
