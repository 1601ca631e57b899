"""The campaigns we ship as examples are valid, complete, and within every platform's limits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.plan import load_plan

ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "config"
SAFE_MIGRATION = CONFIG / "safe-migration.yaml"


@pytest.mark.parametrize("name", ["safe-migration.yaml", "climate-migration.yaml"])
def test_a_shipped_campaign_validates_with_no_language_fallback(name: str) -> None:
    plan = load_plan(CONFIG / name)
    assert plan.posts
    assert not [w for w in plan.warnings if "falls back" in w.message]


def test_the_flagship_reaches_its_audiences_in_their_languages_on_their_networks() -> None:
    posts = load_plan(SAFE_MIGRATION).posts
    assert len({p.audience for p in posts}) >= 4
    assert {"ky", "ru", "en", "sq", "sr"} <= {p.locale.split("-")[0] for p in posts}
    assert len({p.platform for p in posts}) >= 4


def test_every_flagship_post_is_within_its_platform_limit() -> None:
    over = [
        (p.id, p.channel, p.length, p.limit)
        for p in load_plan(SAFE_MIGRATION).posts
        if p.limit is not None and p.length > p.limit
    ]
    assert over == []


@pytest.mark.parametrize("name", ["safe-migration.yaml", "climate-migration.yaml"])
def test_every_link_in_a_shipped_post_stands_apart_from_the_sentence_before_it(name: str) -> None:
    # "…protection.https://www.iom.int/" reads as one word, and Bluesky links only what follows
    # a space: there the link would be plain text (found by tests/test_flagship_delivery.py)
    glued = sorted(
        {(p.template, p.text[max(0, m.start() - 20) : m.end()])
         for p in load_plan(CONFIG / name).posts
         for m in re.finditer(r"(?<=\S)https?://", p.text)}
    )  # fmt: skip
    assert glued == []


def test_the_flagship_launches_on_international_migrants_day() -> None:
    posts = load_plan(SAFE_MIGRATION).posts
    first_local_day = min(p.local_time.date() for p in posts)
    assert (first_local_day.month, first_local_day.day) == (12, 18)


def test_the_flagship_plan_is_identical_across_runs() -> None:
    first = [p.to_json() for p in load_plan(SAFE_MIGRATION).posts]
    second = [p.to_json() for p in load_plan(SAFE_MIGRATION).posts]
    assert first == second


@pytest.mark.parametrize("name", ["safe-migration.yaml", "climate-migration.yaml"])
def test_a_shipped_campaign_that_validates_is_applied(name: str, tmp_path: Path) -> None:
    # `campaign apply` refuses nothing `campaign validate` accepts: every platform has a client
    result = subprocess.run(
        [sys.executable, "-m", "campaign", "apply", f"config/{name}"],
        cwd=ROOT,
        env={**os.environ, "CAMPAIGN_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "to add" in result.stdout
