"""Length rules: each platform counts a text its own way and refuses it past its own limits."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from campaign import rules
from campaign.counting import twitter_text
from campaign.rules import Measure, Violation, measure

CONFORMANCE = (
    Path(__file__).resolve().parent / "data" / "twitter-text" / "twitter-text-validate.yml"
)
PLATFORMS = ("mastodon", "bluesky", "telegram", "facebook", "x", "webhook", "outbox")

SKIN_TONE = "👍🏽"  # thumbs up + medium skin tone: 2 code points, 8 UTF-8 bytes
FAMILY = "👨‍👩‍👧‍👦"  # four people joined by ZWJ: 7 code points, 25 UTF-8 bytes
FLAG = "🇰🇬"  # two regional indicators
DECOMPOSED_E = "e\u0301"  # 'é' as e + combining acute


def conformance_cases(*groups: str) -> list[Any]:
    """The cases of these groups of twitter-text's conformance file, as parameters."""
    with CONFORMANCE.open(encoding="utf-8") as stream:
        tests = yaml.safe_load(stream)["tests"]
    return [
        pytest.param(case, id=f"{group}: {case['description']}")
        for group in groups
        for case in tests[group]
    ]


# X counts with the v3 configuration: the discounted-emoji group is v3, and so is the group on
# directional and invalid characters. `tweets` (v1, 140 characters) and `urls` (URL syntax, not
# counting) do not apply.
@pytest.mark.parametrize(
    "case",
    conformance_cases(
        "WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest"
    ),
)
def test_x_counts_every_v3_conformance_case_like_twitter_text(case: dict[str, Any]) -> None:
    result = measure(case["text"], "x")

    assert result.length == case["expected"]["weightedLength"]
    assert (not result.violations) == case["expected"]["valid"], result.violations


@pytest.mark.parametrize("case", conformance_cases("urls_without_protocol"))
def test_x_counts_a_url_without_protocol_as_23(case: dict[str, Any]) -> None:
    text = case["text"]

    assert measure(text, "x").length == 23


@pytest.mark.parametrize("case", conformance_cases("urls_without_protocol"))
def test_mastodon_counts_a_url_without_protocol_as_plain_text(case: dict[str, Any]) -> None:
    text = case["text"]

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
    pytest.param("line one\r\nline two\rline three", 8 + 2 + 8 + 1 + 10, id="line-ends"),
    pytest.param(
        "Details: iom.int, t.co and www.example.com/path?q=1.",
        9 + 23 + 2 + 23 + 5 + 23 + 1,
        id="scheme-less",
    ),
]


@pytest.mark.parametrize(("text", "length"), HARD_TEXTS)
def test_x_counts_hard_texts_by_the_v3_rules(text: str, length: int) -> None:
    assert measure(text, "x").length == length


# text, then its length on x, mastodon, bluesky, telegram, and in code points (facebook,
# webhook, outbox).
COUNTS = [
    pytest.param(SKIN_TONE, 2, 1, 1, 2, 2, id="skin-tone emoji"),
    pytest.param(FAMILY, 2, 1, 1, 7, 7, id="ZWJ family"),
    pytest.param(FLAG, 2, 1, 1, 2, 2, id="flag"),
    pytest.param("故人西辞黄鹤楼", 14, 7, 7, 7, 7, id="CJK"),
    pytest.param(DECOMPOSED_E, 1, 1, 1, 2, 2, id="decomposed é"),
    # Cyrillic (U+0400-U+04FF) lies inside v3's first weight-1 range, 0-4351: it weighs 1 on X.
    pytest.param("Кыргызстан", 10, 10, 10, 10, 10, id="Kyrgyz"),
    pytest.param("ӨҮҢ", 3, 3, 3, 3, 3, id="Kyrgyz letters"),
    pytest.param("\u1100\u1161\u11a8 한국", 7, 4, 4, 6, 6, id="Hangul jamo and syllables"),
    # X counts CR LF as two characters, graphemes as one, TDLib drops the CR.
    pytest.param("one\r\ntwo", 8, 7, 7, 7, 8, id="CR LF"),
    pytest.param(SEVERAL_URLS, 5 + 23 + 5 + 23, 5 + 23 + 5 + 23, 87, 87, 87, id="several URLs"),
    pytest.param("Details: iom.int", 9 + 23, 16, 16, 16, 16, id="URL without scheme"),
    pytest.param("Ask @aigul@mastodon.social", 26, len("Ask @aigul"), 26, 26, 26, id="mention"),
    # Devanagari क्ष: one grapheme since Unicode 15.1 (Bluesky), two in Ruby's 15.0 (Mastodon).
    pytest.param("क्ष", 3, 2, 1, 3, 3, id="Indic conjunct"),
    # Khmer ក្ក: two graphemes up to Unicode 16 (Bluesky, Mastodon), one since Unicode 17.
    pytest.param("ក្ក", 6, 2, 2, 3, 3, id="Khmer conjunct"),
    pytest.param(MIXED, 53, 51, 50, 57, 57, id="mixed"),
]


@pytest.mark.parametrize(("text", "x", "mastodon", "bluesky", "telegram", "code_points"), COUNTS)
def test_each_platform_counts_hard_text_its_own_way(
    text: str, x: int, mastodon: int, bluesky: int, telegram: int, code_points: int
) -> None:
    lengths = {platform: measure(text, platform).length for platform in PLATFORMS}

    assert lengths == {
        "x": x,
        "mastodon": mastodon,
        "bluesky": bluesky,
        "telegram": telegram,
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
        violations=(Violation("312/280 weighted characters on X", "shorten the text", "x", True),),
    )
    assert str(result.violations[0]) == (
        "312/280 weighted characters on X; shorten the text or add an x-specific template"
    )


def test_x_explains_an_over_limit_post_by_what_it_counted() -> None:
    # Given a Kyrgyz post naming two bare .kg domains, which X counts as links of 23
    text = "Кыргызстандан чыгуудан мурун " * 8 + "Эми окуңуз migrant.kg жана 24.kg сайттарын 🇰🇬 …"

    (violation,) = measure(text, "x").violations

    assert violation.problem == (
        "311/280 weighted characters on X: the links 24.kg and migrant.kg count 23 each; "
        "1 emoji counts 2; 1 other character (…) counts 2"
    )


@pytest.mark.parametrize(
    ("template", "advice"),
    [
        (None, "shorten the text or add an x-specific template"),
        ("launch/ky.j2", "shorten the text or add launch/ky.x.j2 to say it shorter on X"),
        ("launch/kosovo.sq.j2", "shorten the text or add launch/kosovo.sq.x.j2 to say it"),
        ("launch/ky.x.j2", "shorten launch/ky.x.j2"),
    ],
)
def test_the_advice_fits_the_template_the_post_comes_from(
    template: str | None, advice: str
) -> None:
    (violation,) = measure("故" * 141, "x").violations

    assert violation.message(template).startswith("282/280 weighted characters on X: ")
    assert f"; {advice}" in violation.message(template)


@pytest.mark.parametrize(
    ("platform", "max_length", "text", "expected"),
    [
        ("mastodon", None, "a" * 512, "512/500 graphemes on Mastodon"),
        ("mastodon", 1000, "a" * 1001, "1,001/1,000 graphemes on Mastodon"),
        ("bluesky", None, "a" * 301, "301/300 graphemes on Bluesky"),
        ("telegram", None, "a" * 5000, "5,000/4,096 characters on Telegram"),
        ("facebook", None, "a" * 70000, "70,000/63,206 characters on Facebook"),
        ("webhook", 100, "a" * 101, "101/100 characters on the webhook"),
        ("outbox", 100, "a" * 101, "101/100 characters on the outbox"),
    ],
)
def test_an_over_limit_message_names_platform_count_and_limit(
    platform: str, max_length: int | None, text: str, expected: str
) -> None:
    (violation,) = measure(text, platform, max_length=max_length).violations

    assert str(violation).startswith(f"{expected}; shorten the text or add a")
    assert f"{platform}-specific template" in str(violation)


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


def test_bluesky_counts_a_long_link_as_posted_shortened() -> None:
    # 270 graphemes and a link of 64 characters: 335 as written, but the post goes out with the
    # link shown as the Bluesky app shows it (host, 13 characters of path, "..."), 298 in all
    link = "https://www.iom.int/news/safe-migration-campaign-kyrgyzstan-2026"
    result = measure("ы" * 270 + " " + link, "bluesky")
    assert (result.length, result.violations) == (270 + 1 + len("www.iom.int/news/safe-mi..."), ())
    # Without a link to shorten, the same length is refused
    assert measure("ы" * 335, "bluesky").violations


def test_bluesky_accepts_exactly_3000_bytes() -> None:
    text = FAMILY * 120

    assert len(text.encode()) == 3000
    assert measure(text, "bluesky").violations == ()


def test_bluesky_refuses_3001_bytes_even_within_300_graphemes() -> None:
    # Given 121 graphemes that take 3,001 bytes
    text = FAMILY * 120 + "a"

    result = measure(text, "bluesky")

    assert result.length == 121
    assert [str(violation) for violation in result.violations] == [
        "3,001/3,000 UTF-8 bytes on Bluesky: emoji and non-Latin letters take several bytes "
        "each; shorten the text or add a bluesky-specific template"
    ]


def test_bluesky_reports_graphemes_and_bytes_separately_when_both_overrun() -> None:
    result = measure("Кы" * 1501, "bluesky")

    graphemes, size = map(str, result.violations)
    assert graphemes.startswith("3,002/300 graphemes on Bluesky")
    assert size.startswith("6,004/3,000 UTF-8 bytes on Bluesky")


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t ", "\r\n", "\u200b", "\ufeff\u2800", "\u00a0\u3000", "\u2028\u200d"],
    ids=["empty", "space", "whitespace", "CR LF", "ZWSP", "BOM+braille", "NBSP+ideo", "LS+ZWJ"],
)
def test_telegram_refuses_a_text_with_nothing_visible(text: str) -> None:
    # TDLib trims spaces and line breaks, and counts zero-width and blank characters as empty
    (violation,) = measure(text, "telegram").violations

    assert str(violation).startswith("empty text: Telegram needs 1 to 4,096 characters")


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("line\r\nbreak", 10),  # TDLib removes every CR
        ("a\u2028b\u2029c\u202ad\u202ee", 5),  # and U+2028-U+202E
        ("a\tb\x0bc", 5),  # a tab and other controls become spaces
        ("  \n text \n ", 4),  # spaces and line breaks are trimmed
        ("A\u030a\u0333\u033f", 1),  # combining vertical lines and the ring above go too
        ("\u200btext", 5),  # a zero-width space stays, and counts, beside visible text
    ],
)
def test_telegram_counts_code_points_after_tdlib_cleans_the_text(text: str, length: int) -> None:
    assert measure(text, "telegram").length == length


def test_x_refuses_an_empty_text() -> None:
    (violation,) = measure("", "x").violations

    assert str(violation) == "empty text: X needs at least one character; add some text"


def test_mastodon_refuses_a_blank_text() -> None:
    (violation,) = measure(" \n ", "mastodon").violations

    assert str(violation).startswith("empty text: Mastodon needs some text")


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
        assert rules._bluesky_length_by_piece(text) == rules._bluesky_length(text), repr(text)


def test_bluesky_explains_a_count_that_newer_unicode_would_make_smaller() -> None:
    # Given 151 Khmer conjuncts: 302 graphemes for the PDS (Unicode 16), 151 for Unicode 17
    (violation,) = measure("ក្ក" * 151, "bluesky").violations

    assert violation.problem == (
        "302/300 graphemes on Bluesky: Bluesky's server (Unicode 16) cuts some conjuncts in "
        "two, e.g. Khmer ក្ក, that newer Unicode keeps whole (151 graphemes by that count)"
    )
