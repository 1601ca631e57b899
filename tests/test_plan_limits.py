"""An over-limit post is reported with what was counted and advice that fits its template."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.errors import DefinitionError
from campaign.plan import load_plan

CAMPAIGN = """\
campaign: limits
title: Limits
timezone: Asia/Bishkek
start: 2026-12-18
end: 2026-12-31
templates: templates
audiences:
  kg: {locales: [ky], channels: [x-kg, mastodon-kg]}
channels:
  x-kg:
    platform: x
    account: "@SafeMigrationKG"
    credentials: {client_id: X_CLIENT_ID, refresh_token: X_REFRESH_TOKEN}
  mastodon-kg:
    platform: mastodon
    api_url: https://mastodon.example
    credentials: MASTODON_TOKEN
messages:
  launch:
    template: launch
    schedule: [{at: "2026-12-18 10:00"}]
"""
# 311 weighted characters on X: two bare .kg domains count 23 each, the flag 2, the … 2.
LONG = "Кыргызстандан чыгуудан мурун " * 8 + "Эми окуңуз migrant.kg жана 24.kg сайттарын 🇰🇬 …"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so that template paths show as a user would type them


def problems(tmp_path: Path, templates: dict[str, str]) -> list[str]:
    for name, body in templates.items():
        path = tmp_path / "templates" / "launch" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_plan(tmp_path / "campaign.yaml")
    return [problem.message for problem in caught.value.problems]


def test_a_post_from_a_shared_template_is_told_to_get_its_own(tmp_path: Path) -> None:
    # Given one Kyrgyz template for every platform, too long for X alone
    (message,) = problems(tmp_path, {"ky.j2": LONG})

    # Then the problem says what X counted, and that an X template could say it shorter
    assert "311/280 weighted characters on X: the links 24.kg and migrant.kg count 23 each" in (
        message
    )
    assert message.endswith(
        "shorten the text or add templates/launch/ky.x.j2 to say it shorter on X"
    )


def test_a_post_from_its_platforms_own_template_is_told_to_shorten_it(tmp_path: Path) -> None:
    # Given an X template, which is already X's own, and still too long
    (message,) = problems(tmp_path, {"ky.j2": "Кыргызча", "ky.x.j2": LONG})

    # Then the advice is to shorten that template, not to add another
    assert "311/280 weighted characters on X" in message
    assert message.endswith("; shorten templates/launch/ky.x.j2")
    assert "add" not in message.split(";")[-1]
