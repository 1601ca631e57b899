"""X's count against the official twitter-text 3.1.0 from npm: zero disagreements.

The reference runs in one Node 22 process over a generated corpus (tests/reference/corpus.py,
fixed seed): 5,000 hard texts, and 600 more padded to sit at X's limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign.counting import twitter_text
from campaign.rules import measure
from tests.reference import corpus, generated

ROOT = Path(__file__).resolve().parents[1]
Reference = Callable[[list[str]], list[tuple[int, bool]]]
NEAR_LIMIT_UNITS = [
    "a",
    "Кы",
    "故",
    "👍🏽",
    "😷",
    " 24.kg",
    "é",
    "e\u0301",
    "\r\n",
    "🧑\u200d🤝\u200d🧑",
]


def near_the_limit(count: int, *, seed: int) -> list[str]:
    """Hard texts padded with one unit until X's count is 278 to 282 by our own reckoning."""
    chooser = random.Random(seed)
    result = []
    for text in corpus.texts(count, seed=seed, longest=10):
        unit = chooser.choice(NEAR_LIMIT_UNITS)
        target = chooser.randint(278, 282)
        short = target - twitter_text.weighted_length(text)
        text += unit * max(0, short // twitter_text.weighted_length(unit) - 2)  # most, at once
        while twitter_text.weighted_length(text + unit) <= target:
            text += unit
        result.append(text)
    return result


def disagreements(texts: list[str], reference: Reference) -> list[str]:
    """Each text whose count or verdict differs between us and twitter-text, described."""
    found = []
    for text, (length, valid) in zip(texts, reference(texts), strict=True):
        ours = measure(text, "x")
        if (ours.length, not ours.violations) != (length, valid):
            found.append(
                f"{text!r}: twitter-text {length} valid={valid}, "
                f"ours {ours.length} valid={not ours.violations}"
            )
    return found


def test_we_count_thousands_of_hard_texts_as_twitter_text_does(
    twitter_text_reference: Reference,
) -> None:
    # Given 5,000 texts: emoji of every age and kind, CJK, Cyrillic with combining marks,
    # Albanian, Indic and Southeast Asian scripts, links of every shape, mentions, line breaks
    texts = corpus.texts(5000, seed=8)

    # Then our weighted length and validity are twitter-text's for every one of them
    assert disagreements(texts, twitter_text_reference) == []


def test_we_decide_texts_at_the_limit_as_twitter_text_does(
    twitter_text_reference: Reference,
) -> None:
    # Given 600 hard texts padded to 278-282 weighted characters
    texts = near_the_limit(600, seed=280)

    # Then every verdict (valid up to 280, invalid past it) is twitter-text's
    assert disagreements(texts, twitter_text_reference) == []
    assert {twitter_text.weighted_length(text) for text in texts} >= {280, 281}


def test_the_generated_emoji_and_tld_tables_are_those_of_the_npm_packages(
    twitter_text_reference: Reference,
) -> None:
    # Given the tables generated from twemoji-parser 11.0.2 and twitter-text 3.1.0
    for path, text in generated.modules().items():
        # Then the committed files are what the installed packages generate
        assert (ROOT / path).read_text(encoding="utf-8") == text, (
            f"{path} differs from the npm package: run python -m tests.reference.generated"
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "a\r\nb",
        "migrant.kg 24.kg rts.rs foo.jp",
        "🐦\u200d🔥 🧑\u200d🤝\u200d🧑 🫩 🏳\u200d🌈 👍\ufe0f ☺\ufe0e",
        "\U00016d63\U00016d67",
        "a\ufeffb",
        "https://t.co/" + "a" * 41,
        "https://example.com/" + "a" * 4060,
    ],
    ids=[
        "empty",
        "space",
        "CR LF",
        "bare ccTLDs",
        "emoji twemoji 11 lacks",
        "NFC Unicode 16",
        "BOM",
        "long t.co slug",
        "URL near 4096",
    ],
)
def test_each_class_of_past_disagreement_now_agrees(
    text: str, twitter_text_reference: Reference
) -> None:
    assert disagreements([text], twitter_text_reference) == []
