"""Length rules: each platform counts a text its own way and refuses it past its own limits."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from campaign import rules, twitter_text
from campaign.rules import Measure, measure

REPO_ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("mastodon", "bluesky", "telegram", "facebook", "x", "webhook", "outbox")

SKIN_TONE = "👍🏽"  # thumbs up + medium skin tone: 2 code points, 8 UTF-8 bytes
FAMILY = "👨‍👩‍👧‍👦"  # four people joined by ZWJ: 7 code points, 25 UTF-8 bytes
FLAG = "🇰🇬"  # two regional indicators
DECOMPOSED_E = "e\u0301"  # 'é' as e + combining acute


def conformance_file() -> Path:
    """twitter-text's validate.yml: from CAMPAIGN_CONFORMANCE_DIR, else ../shared/conformance."""
    configured = os.environ.get("CAMPAIGN_CONFORMANCE_DIR")
    folder = Path(configured) if configured else REPO_ROOT.parent / "shared" / "conformance"
    return folder / "twitter-text-validate.yml"


def conformance_cases(*groups: str) -> list[Any]:
    """The cases of these groups as parameters; without the data, one case that fails."""
    path = conformance_file()
    if not path.is_file():
        return [pytest.param(None, id="conformance-data-missing")]
    with path.open(encoding="utf-8") as stream:
        tests = yaml.safe_load(stream)["tests"]
    return [
        pytest.param(case, id=f"{group}: {case['description']}")
        for group in groups
        for case in tests[group]
    ]


def require(case: dict[str, Any] | None) -> dict[str, Any]:
    """The case, or a failure that says where the conformance data was expected."""
    if case is None:
        pytest.fail(
            f"twitter-text conformance data not found at {conformance_file()}: "
            "set CAMPAIGN_CONFORMANCE_DIR to the folder holding twitter-text-validate.yml "
            "(every developer and CI machine has it in ../shared/conformance)",
            pytrace=False,
        )
    return case


# X counts with the v3 configuration: the discounted-emoji group is v3, and so is the group on
# directional and invalid characters. `tweets` (v1, 140 characters) and `urls` (URL syntax, not
# counting) do not apply.
@pytest.mark.parametrize(
    "case",
    conformance_cases(
        "WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest"
    ),
)
def test_x_counts_every_v3_conformance_case_like_twitter_text(case: dict[str, Any] | None) -> None:
    case = require(case)

    result = measure(case["text"], "x")

    assert result.length == case["expected"]["weightedLength"]
    assert (not result.violations) == case["expected"]["valid"], result.violations


@pytest.mark.parametrize("case", conformance_cases("urls_without_protocol"))
def test_x_counts_a_url_without_protocol_as_23(case: dict[str, Any] | None) -> None:
    text = require(case)["text"]

    assert measure(text, "x").length == 23


@pytest.mark.parametrize("case", conformance_cases("urls_without_protocol"))
def test_mastodon_counts_a_url_without_protocol_as_plain_text(
    case: dict[str, Any] | None,
) -> None:
    text = require(case)["text"]

    assert measure(text, "mastodon").length == len(text)


MIXED = "Кыргызстан 🇰🇬 👨‍👩‍👧‍👦 кош келиңиз! https://example.org/ky"
SEVERAL_URLS = (
    "Read https://example.org/ky/news/2025/long-article-title and https://iom.int/kg?lang=ky"
)

# Each length worked out by hand from the v3 rules (NFC, URLs 23, emoji 2, CJK 2, others 1).
HARD_TEXTS = [
    pytest.param(MIXED, 53, id="mixed"),
    pytest.param(SEVERAL_URLS, 5 + 23 + 5 + 23, id="urls"),
    pytest.param("Кыргызстан ӨҮҢ", 14, id="cyrillic"),
    pytest.param(DECOMPOSED_E * 3, 3, id="combining"),  # NFC makes each one é
    pytest.param(
        "故人西辞黄鹤楼 " + FAMILY * 3 + SKIN_TONE + FLAG, 7 * 2 + 1 + 5 * 2, id="cjk-emoji"
    ),
    pytest.param("line one\r\nline two\rline three", 8 + 1 + 8 + 1 + 10, id="line-ends"),
    pytest.param(
        "Details: iom.int, t.co and www.example.com/path?q=1.",
        9 + 23 + 2 + 23 + 5 + 23 + 1,
        id="scheme-less",
    ),
]


@pytest.mark.parametrize(("text", "length"), HARD_TEXTS)
def test_x_counts_hard_texts_by_the_v3_rules(text: str, length: int) -> None:
    assert measure(text, "x").length == length


# text, then its length on x, mastodon, bluesky, and in code points (telegram, facebook, webhook).
COUNTS = [
    pytest.param(SKIN_TONE, 2, 1, 1, 2, id="skin-tone emoji"),
    pytest.param(FAMILY, 2, 1, 1, 7, id="ZWJ family"),
    pytest.param(FLAG, 2, 1, 1, 2, id="flag"),
    pytest.param("故人西辞黄鹤楼", 14, 7, 7, 7, id="CJK"),
    pytest.param(DECOMPOSED_E, 1, 1, 1, 2, id="decomposed é"),
    # Cyrillic (U+0400-U+04FF) lies inside v3's first weight-1 range, 0-4351: it weighs 1 on X.
    pytest.param("Кыргызстан", 10, 10, 10, 10, id="Kyrgyz"),
    pytest.param("ӨҮҢ", 3, 3, 3, 3, id="Kyrgyz letters"),
    pytest.param("\u1100\u1161\u11a8 한국", 7, 4, 4, 6, id="Hangul jamo and syllables"),
    pytest.param("one\r\ntwo", 7, 7, 7, 8, id="CR LF"),
    pytest.param(SEVERAL_URLS, 5 + 23 + 5 + 23, 5 + 23 + 5 + 23, 87, 87, id="several URLs"),
    pytest.param("Details: iom.int", 9 + 23, 16, 16, 16, id="URL without scheme"),
    pytest.param("Ask @aigul@mastodon.social", 26, len("Ask @aigul"), 26, 26, id="remote mention"),
    pytest.param(MIXED, 53, 51, 50, 57, id="mixed"),
]


@pytest.mark.parametrize(("text", "x", "mastodon", "bluesky", "code_points"), COUNTS)
def test_each_platform_counts_hard_text_its_own_way(
    text: str, x: int, mastodon: int, bluesky: int, code_points: int
) -> None:
    lengths = {platform: measure(text, platform).length for platform in PLATFORMS}

    assert lengths == {
        "x": x,
        "mastodon": mastodon,
        "bluesky": bluesky,
        "telegram": code_points,
        "facebook": code_points,
        "webhook": code_points,
        "outbox": code_points,
    }


# platform, max_length, a text exactly at the limit, the same text one unit over.
AT_THE_LIMIT = [
    pytest.param("x", None, "a" * 280, "a" * 281, id="x-latin"),
    pytest.param("x", None, "故" * 140, "故" * 141, id="x-cjk"),
    pytest.param("x", None, SKIN_TONE * 140, SKIN_TONE * 141, id="x-emoji"),
    pytest.param("x", None, "a" * 256 + " iom.int", "a" * 257 + " iom.int", id="x-url"),
    pytest.param("mastodon", None, "a" * 500, "a" * 501, id="mastodon"),
    pytest.param("mastodon", None, FAMILY * 500, FAMILY * 501, id="mastodon-graphemes"),
    pytest.param("mastodon", 1000, "a" * 1000, "a" * 1001, id="mastodon-max_length"),
    pytest.param("bluesky", None, "a" * 300, "a" * 301, id="bluesky"),
    pytest.param("bluesky", None, FLAG * 300, FLAG * 301, id="bluesky-flags"),
    pytest.param("telegram", None, "a" * 4096, "a" * 4097, id="telegram"),
    # TDLib checks a bot's text in code points: 4,096 emoji pass though they are 8,192 UTF-16 units.
    pytest.param("telegram", None, "😀" * 4096, "😀" * 4097, id="telegram-astral"),
    pytest.param("facebook", None, "a" * 63206, "a" * 63207, id="facebook"),
    pytest.param("webhook", 280, "a" * 280, "a" * 281, id="webhook-max_length"),
    pytest.param("outbox", 280, "Кы" * 140, "Кы" * 140 + "!", id="outbox-max_length"),
]


@pytest.mark.parametrize(("platform", "max_length", "at_limit", "over"), AT_THE_LIMIT)
def test_a_text_exactly_at_the_limit_passes_and_one_more_is_refused(
    platform: str, max_length: int | None, at_limit: str, over: str
) -> None:
    accepted = measure(at_limit, platform, max_length=max_length)
    refused = measure(over, platform, max_length=max_length)

    assert accepted.violations == ()
    assert accepted.length == accepted.limit
    assert refused.limit is not None
    assert refused.length > refused.limit
    assert len(refused.violations) == 1


def test_x_names_the_count_the_limit_and_the_fix() -> None:
    result = measure("a" * 312, "x")

    assert result == Measure(
        length=312,
        limit=280,
        unit="weighted characters",
        violations=(
            "312 weighted characters, over X's limit of 280: "
            "shorten the text or add an x-specific template",
        ),
    )


@pytest.mark.parametrize(
    ("platform", "max_length", "text", "expected"),
    [
        ("mastodon", None, "a" * 512, "512 graphemes, over Mastodon's limit of 500"),
        ("mastodon", 1000, "a" * 1001, "1,001 graphemes, over Mastodon's limit of 1,000"),
        ("bluesky", None, "a" * 301, "301 graphemes, over Bluesky's limit of 300"),
        ("telegram", None, "a" * 5000, "5,000 characters, over Telegram's limit of 4,096"),
        ("facebook", None, "a" * 70000, "70,000 characters, over Facebook's limit of 63,206"),
        ("webhook", 100, "a" * 101, "101 characters, over the webhook's limit of 100"),
        ("outbox", 100, "a" * 101, "101 characters, over the outbox's limit of 100"),
    ],
)
def test_an_over_limit_message_names_platform_count_and_limit(
    platform: str, max_length: int | None, text: str, expected: str
) -> None:
    (violation,) = measure(text, platform, max_length=max_length).violations

    assert violation.startswith(f"{expected}: shorten the text or add a")
    assert f"{platform}-specific template" in violation


def test_mastodon_counts_a_linkable_url_as_23() -> None:
    # Given Mastodon's own spec case: 476 letters, a space, then a 45-character URL
    text = "a" * 476 + " http://" + "b" * 30 + ".com/example"

    result = measure(text, "mastodon")

    assert (result.length, result.violations) == (500, ())


def test_mastodon_counts_a_url_glued_to_a_word_in_full() -> None:
    # Given the same URL with no space before it: Mastodon does not link it, so it counts in full
    text = "a" * 476 + "http://" + "b" * 30 + ".com/example"

    assert measure(text, "mastodon").length == len(text)


def test_mastodon_counts_an_overly_long_url_in_full() -> None:
    text = "http://example.com/valid?" + "#foo?" * 1000

    assert measure(text, "mastodon").length == len(text)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("See https://example.org/page.", 4 + 23 + 1),  # the full stop is not part of the link
        ("(https://example.org/a)", 1 + 23 + 1),
        ("https://en.wikipedia.org/wiki/Bishkek_(city)", 23),  # balanced parentheses belong
        ("https://example.org/search?q=ала-тоо&x=1", 23),
        ("gemini://example.org/capsule", 23),  # Mastodon links these schemes too
        ("ftp://example.org/file", len("ftp://example.org/file")),
        ("http://localhost:8080/x", len("http://localhost:8080/x")),  # no TLD, no link
    ],
)
def test_mastodon_counts_only_what_it_would_link_as_23(text: str, length: int) -> None:
    assert measure(text, "mastodon").length == length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("a" * 475 + " @alice@" + "b" * 30 + ".com", 475 + 1 + 6),  # Mastodon's own spec case
        ("@aigul@mastodon.social @bek@kg.social hi", len("@aigul @bek hi")),
        ("@aigul", 6),
        ("mail aigul@example.kg", len("mail aigul@example.kg")),  # an address, not a mention
    ],
)
def test_mastodon_counts_a_remote_mention_as_the_user_alone(text: str, length: int) -> None:
    assert measure(text, "mastodon").length == length


def test_bluesky_accepts_300_skin_tone_emoji_of_2400_bytes() -> None:
    text = SKIN_TONE * 300

    result = measure(text, "bluesky")

    assert len(text.encode()) == 2400
    assert (result.length, result.limit, result.violations) == (300, 300, ())


def test_bluesky_accepts_exactly_3000_bytes() -> None:
    text = FAMILY * 120

    assert len(text.encode()) == 3000
    assert measure(text, "bluesky").violations == ()


def test_bluesky_refuses_3001_bytes_even_within_300_graphemes() -> None:
    # Given 121 graphemes that take 3,001 bytes
    text = FAMILY * 120 + "a"

    result = measure(text, "bluesky")

    assert result.length == 121
    assert result.violations == (
        "3,001 UTF-8 bytes, over Bluesky's limit of 3,000 bytes: shorten the text (emoji and "
        "non-Latin letters take several bytes each) or add a bluesky-specific template",
    )


def test_bluesky_reports_graphemes_and_bytes_separately_when_both_overrun() -> None:
    result = measure("Кы" * 1501, "bluesky")

    graphemes, size = result.violations
    assert graphemes.startswith("3,002 graphemes, over Bluesky's limit of 300")
    assert size.startswith("6,004 UTF-8 bytes, over Bluesky's limit of 3,000 bytes")


@pytest.mark.parametrize("text", ["", " ", "\n\t "], ids=["empty", "space", "whitespace"])
def test_telegram_refuses_a_text_with_nothing_but_whitespace(text: str) -> None:
    (violation,) = measure(text, "telegram").violations

    assert violation.startswith("empty text: Telegram needs 1 to 4,096 characters")


def test_x_refuses_the_characters_twitter_text_calls_invalid() -> None:
    result = measure("Hello\ufeff world", "x")

    assert result.violations == ("contains U+FEFF, which X refuses in any post: remove it",)


@pytest.mark.parametrize("platform", ["webhook", "outbox"])
def test_webhook_and_outbox_have_no_limit_unless_the_channel_sets_one(platform: str) -> None:
    result = measure("a" * 100_000, platform)

    assert (result.length, result.limit, result.unit, result.violations) == (
        100_000,
        None,
        "characters",
        (),
    )


@pytest.mark.parametrize(
    ("platform", "unit", "limit"),
    [
        ("x", "weighted characters", 280),
        ("mastodon", "graphemes", 500),
        ("bluesky", "graphemes", 300),
        ("telegram", "characters", 4096),
        ("facebook", "characters", 63206),
    ],
)
def test_each_platform_reports_its_unit_and_limit(platform: str, unit: str, limit: int) -> None:
    result = measure("hello", platform)

    assert (result.unit, result.limit, result.violations) == (unit, limit, ())


def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown platform 'myspace' \(known: mastodon, "):
        measure("hello", "myspace")


@pytest.mark.parametrize("platform", ["x", "bluesky", "telegram", "facebook"])
def test_max_length_is_refused_where_the_platform_fixes_the_limit(platform: str) -> None:
    with pytest.raises(ValueError, match=f"max_length cannot be set for {platform}"):
        measure("hello", platform, max_length=100)


def test_max_length_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_length must be at least 1, got 0"):
        measure("hello", "webhook", max_length=0)


# Counting piece by piece (cut before each space, pieces cached) must equal counting the whole
# text, for every platform that counts that way; these pieces aim at the edges: marks that join
# what precedes or follows, emoji sequences, line breaks, links with accents before them (which
# twitter-text reads differently at the start of a text), mentions.
PIECES = [
    " ",
    "  ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "a",
    "Кыргыз",
    "é",
    "e\u0301",
    "\u0301",
    "\u200d",
    "\u093f",
    "\u0600",
    "👍🏽",
    "👨‍👩‍👧",
    "🇰🇬",
    "1\ufe0f\u20e3",
    "你好",
    "https://iom.int/ru",
    "iom.int",
    "kyrgyzstan.iom.int/ky?x=1",
    "@user@mastodon.social",
    "#GCM",
    "(",
    ")",
    ".",
]


@pytest.mark.parametrize("seed", range(20))
def test_counting_piece_by_piece_equals_counting_the_whole_text(seed: int) -> None:
    chooser = random.Random(seed)
    for _ in range(200):
        text = "".join(chooser.choice(PIECES) for _ in range(chooser.randint(0, 30)))
        assert rules._x_length(text) == twitter_text.weighted_length(text), repr(text)
        assert rules._mastodon_length_by_piece(text) == rules._mastodon_length(text), repr(text)
        assert rules._graphemes_by_piece(text) == rules._graphemes(text), repr(text)
