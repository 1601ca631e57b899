"""X's weighted length: our twitter-text 3.1.0 port, specified case by case with hand-worked values.

Every value here was also checked against the official npm package (test_twitter_text_reference
runs thousands more).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign.counting import tlds
from campaign.counting.twitter_text import (
    LIGHT_RANGES,
    MAX_WEIGHTED_LENGTH,
    URL_WEIGHT,
    is_valid,
    weigh,
    weighted_length,
)
from campaign.counting.twitter_text_urls import extract_urls

CONFORMANCE = Path(__file__).resolve().parent / "data" / "twitter-text"


def urls(text: str) -> list[str]:
    return [text[start:end] for start, end in extract_urls(text)]


def test_the_constants_are_those_of_the_official_v3_configuration() -> None:
    # Given twitter-text's config/v3.json, kept in tests/data/twitter-text
    config = json.loads((CONFORMANCE / "twitter-text-config-v3.json").read_text(encoding="utf-8"))

    # Then our weights are its weights divided by its scale
    scale = config["scale"]
    assert config["defaultWeight"] == 2 * scale
    assert [(r["start"], r["end"], r["weight"]) for r in config["ranges"]] == [
        (start, end, scale) for start, end in LIGHT_RANGES
    ]
    assert (
        config["maxWeightedTweetLength"],
        config["transformedURLLength"],
    ) == (MAX_WEIGHTED_LENGTH, URL_WEIGHT)
    assert config["emojiParsingEnabled"] is True


@pytest.mark.parametrize(
    ("text", "length"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("Hello, world!", 13, id="ASCII"),
        pytest.param("Кош келиңиз", 11, id="Kyrgyz Cyrillic weighs 1"),
        pytest.param("Mirë se vini, çështje", 21, id="Albanian Latin weighs 1"),
        pytest.param("Добродошли, ђак", 15, id="Serbian Cyrillic weighs 1"),
        pytest.param("故人西辞", 8, id="CJK weighs 2"),
        pytest.param("한국", 4, id="Hangul syllables weigh 2"),
        pytest.param("\u1100\u1161", 2, id="Hangul jamo below U+1100 weigh 1"),
        pytest.param("“quoted” – ′", 12, id="quotes, dashes and primes weigh 1"),
        pytest.param("‰ …", 5, id="other general punctuation weighs 2"),
        pytest.param("\U0001d400", 2, id="an astral letter is one code point of 2"),
        pytest.param("e\u0301", 1, id="NFC first: e + acute is one é"),
        pytest.param("a\r\nb\rc\nd", 8, id="CR LF is two code points, as twitter-text counts"),
        pytest.param("\U00016d63\U00016d67", 2, id="NFC with Unicode 16: Kirat Rai composes"),
        pytest.param("\u200d", 1, id="a lone ZWJ is in the weight-1 ranges"),
    ],
)
def test_code_points_weigh_by_the_v3_ranges(text: str, length: int) -> None:
    assert weighted_length(text) == length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        pytest.param("😷", 2, id="one emoji"),
        pytest.param("👍🏽", 2, id="skin tone"),
        pytest.param("👨\u200d👩\u200d👧\u200d👦", 2, id="ZWJ family of 7 code points"),
        pytest.param("👩🏾\u200d💻", 2, id="skin-toned ZWJ sequence"),
        pytest.param("🇰🇬🇽🇰", 4, id="two flags"),
        pytest.param("1\ufe0f\u20e3", 2, id="keycap"),
        pytest.param("#\u20e3", 2, id="keycap without U+FE0F"),
        pytest.param(
            "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 2, id="tags"
        ),
        pytest.param("🏳\ufe0f\u200d🌈", 2, id="rainbow flag"),
        # twemoji-parser 11 (2018) knows none of these: they weigh the sum of their parts.
        pytest.param("🐦\u200d🔥", 2 + 1 + 2, id="Emoji 15.1 phoenix: bird, ZWJ, fire"),
        pytest.param("🧑\u200d🤝\u200d🧑", 8, id="Emoji 12 people holding hands: 2+1+2+1+2"),
        pytest.param("🏳\u200d🌈", 5, id="rainbow flag without U+FE0F: 2+1+2"),
        pytest.param("🧔\u200d♂\ufe0f", 5, id="man with beard: 2+1+2 (♂️ is one emoji)"),
        pytest.param("🫩", 2, id="Emoji 16: unknown, but an astral code point weighs 2"),
        pytest.param("\ue50a", 2, id="a private-use character twemoji 11 lists"),
        pytest.param("☺", 2, id="text-default pictograph"),
        pytest.param("☺\ufe0e", 4, id="text presentation selector: two code points"),
        pytest.param("©", 1, id="© is text without U+FE0F"),
        pytest.param("©\ufe0f", 2, id="© with U+FE0F is emoji"),
        pytest.param("👍\ufe0f", 4, id="U+FE0F after an emoji-by-default counts apart"),
        pytest.param("H🐱☺👨\u200d👩\u200d👧\u200d👦", 7, id="mixed"),
    ],
)
def test_each_emoji_sequence_twemoji_11_knows_weighs_2(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_a_url_weighs_23_whatever_its_length() -> None:
    short, long = "https://t.co", "https://example.org/" + "a" * 300

    assert weighted_length(short) == weighted_length(long) == 23
    assert weighted_length(f"Read {long} and {short}!") == 5 + 23 + 5 + 23 + 1


def test_the_limit_is_280() -> None:
    assert weighted_length("a" * 256 + " iom.int") == MAX_WEIGHTED_LENGTH


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("see https://example.com", ["https://example.com"], id="https"),
        pytest.param("HTTP://EXAMPLE.COM/A", ["HTTP://EXAMPLE.COM/A"], id="any case"),
        pytest.param("iom.int", ["iom.int"], id="no scheme, gTLD"),
        pytest.param("kyrgyzstan.iom.int/ru", ["kyrgyzstan.iom.int/ru"], id="subdomain and path"),
        pytest.param("www.example.com/a?q=1.", ["www.example.com/a?q=1"], id="query"),
        pytest.param("http://example.com:8080/x", ["http://example.com:8080/x"], id="port"),
        pytest.param("example.com:8080", ["example.com"], id="no scheme: port without path"),
        pytest.param("Go to example.com.", ["example.com"], id="full stop after"),
        pytest.param("(https://example.org/a)", ["https://example.org/a"], id="in parentheses"),
        pytest.param(
            "https://en.wikipedia.org/wiki/Bishkek_(city)",
            ["https://en.wikipedia.org/wiki/Bishkek_(city)"],
            id="balanced parentheses",
        ),
        pytest.param("https://x.com/a_(b_(c))", ["https://x.com/a_(b_(c))"], id="nested once"),
        pytest.param("https://x.com/a!(b)", ["https://x.com/a"], id="parentheses after !"),
        pytest.param("https://x.com/a.,;!'", ["https://x.com/a"], id="trailing punctuation"),
        pytest.param("https://x.com/path/", ["https://x.com/path/"], id="trailing slash"),
        pytest.param("https://x.com/a-", ["https://x.com/a-"], id="trailing dash"),
        pytest.param("https://x.com/?q=a&", ["https://x.com/?q=a&"], id="query ending &"),
        pytest.param("https://x.com/новости", ["https://x.com/новости"], id="Cyrillic path"),
        pytest.param("a.com b.org, c.net", ["a.com", "b.org", "c.net"], id="several"),
        pytest.param("日本語example.com中国語", ["example.com"], id="among CJK"),
        pytest.param("Кыргызстанexample.com", ["example.com"], id="after Cyrillic"),
        pytest.param("http://foobar.みんな/", ["http://foobar.みんな/"], id="IDN TLD"),
        pytest.param("https://мвд.рф/news", ["https://мвд.рф/news"], id="IDN domain"),
        pytest.param("http://xn--ls8h.la/", ["http://xn--ls8h.la/"], id="punycode label"),
        pytest.param("foo.xn--p1ai", ["foo.xn--p1ai"], id="punycode TLD"),
    ],
)
def test_urls_are_found_as_twitter_text_finds_them(text: str, found: list[str]) -> None:
    assert urls(text) == found


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("example.notatld", id="unknown TLD"),
        pytest.param("file.txt and e.g. this", id="file names and abbreviations"),
        pytest.param("@iom.int #iom.int $iom.int", id="mention, hashtag or cashtag"),
        pytest.param("aigul@example.com", id="email address"),
        pytest.param("john.doe.gov@mail.com", id="TLD followed by @"),
        pytest.param("http://twitter_underscore.com", id="underscore in the domain name"),
        pytest.param("http://-dash.com http://dash-.com", id="label edges"),
        pytest.param("http://domain.com-more", id="TLD followed by -"),
        pytest.param("http://" + "a" * 64 + ".com", id="label over 63 characters"),
        pytest.param("-example.com _example.com /example.com", id="no scheme after - _ /"),
        pytest.param("http://localhost:8080", id="no TLD"),
    ],
)
def test_these_are_no_urls(text: str) -> None:
    assert urls(text) == []


def test_a_bare_country_code_domain_is_a_url() -> None:
    # Given short domains on a ccTLD (.kg, .rs, .jp) without scheme and without path:
    # twitter-text 2.x wanted a path after them, 3.x does not (its extract.yml says so)
    text = "migrant.kg 24.kg rts.rs foo.jp"

    assert urls(text) == ["migrant.kg", "24.kg", "rts.rs", "foo.jp"]
    assert weighted_length(text) == 4 * URL_WEIGHT + 3


def test_a_tco_link_ends_with_its_slug() -> None:
    assert urls("http://t.co/pbY2NfTZ's site") == ["http://t.co/pbY2NfTZ"]
    assert urls("https://t.co/" + "a" * 41) == []


def test_a_url_is_at_most_4096_characters_counting_its_scheme_twice() -> None:
    # twitter-text's JavaScript adds the scheme's length to the URL's, which already holds it
    url = "https://x.com/" + "a" * (4096 - 2 * len("https://") - len("x.com/"))

    assert urls(url) == [url]
    assert urls(url + "a") == []


def test_indexes_are_code_points() -> None:
    # Given an astral emoji (two UTF-16 units, one code point) before a URL
    text = "😷 example.com"

    assert extract_urls(text) == [(2, 13)]


def test_the_tlds_are_twitter_texts_own_list() -> None:
    assert {"com", "int", "org", "onion", "みんな"} <= set(tlds.GENERIC)
    assert {"kg", "jp", "rs", "рф"} <= set(tlds.COUNTRY)
    # newer than twitter-text 3.1.0's list, so not a TLD for X
    assert urls("example.ninja example.music example.kids") == ["example.ninja"]


def test_weigh_keeps_what_weighs_more_than_one() -> None:
    weighed = weigh("Сайт 24.kg 🇰🇬 故人 …")

    assert weighed.urls == ("24.kg",)
    assert weighed.emoji == ("🇰🇬",)
    assert weighed.heavy == ("故", "人", "…")
    assert weighed.length == 5 + 23 + 1 + 2 + 1 + 4 + 1 + 2


@pytest.mark.parametrize(
    ("text", "valid"),
    [("", False), (" ", True), ("a\ufeffb", False), ("a\ufffe", False), ("Кыргыз", True)],
)
def test_a_text_is_valid_unless_empty_or_holding_an_invalid_character(
    text: str, valid: bool
) -> None:
    assert is_valid(text) is valid
