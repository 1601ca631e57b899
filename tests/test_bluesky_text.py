"""Facets as the Bluesky app finds them, in UTF-8 bytes, and links shortened as it shows them."""

from __future__ import annotations

import pytest

from campaign.bluesky_text import Facet, as_posted, detect, short_url


def shown(text: str) -> list[tuple[str, str, str]]:
    """(the text a facet covers, its kind, its value) for each facet of `text`."""
    encoded = text.encode()
    return [(encoded[f.start : f.end].decode(), f.kind, f.value) for f in detect(text).facets]


def test_offsets_count_utf8_bytes_of_kyrgyz_and_emoji() -> None:
    # Given a Kyrgyz text (2 bytes a letter) with an emoji (4 bytes) before a link
    text = "Кош келиңиз 🇰🇬 https://iom.int/kg"

    # Then the link's facet starts after 21 + 1 + 8 + 1 bytes, not 14 characters
    [facet] = detect(text).facets
    assert facet == Facet(31, 49, "link", "https://iom.int/kg")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Маалымат: https://iom.int/kg/safe-migration.",
            [("https://iom.int/kg/safe-migration", "link", "https://iom.int/kg/safe-migration")],
            id="final-full-stop-left-out",
        ),
        pytest.param(
            "(see https://example.org/a_(b)) and (https://example.org/c)",
            [
                ("https://example.org/a_(b))", "link", "https://example.org/a_(b))"),
                ("https://example.org/c", "link", "https://example.org/c"),
            ],
            id="parentheses",
        ),
        pytest.param(
            "Read iom.int and 24.kg, not file.txt",
            [("iom.int", "link", "https://iom.int")],  # (the app wants a letter first)
            id="bare-domains-with-known-tlds",
        ),
        pytest.param(
            "#БезопаснаяМиграция #2026 #tag! ＃fullwidth a#b",
            [
                ("#БезопаснаяМиграция", "tag", "БезопаснаяМиграция"),
                ("#tag", "tag", "tag"),
                ("＃fullwidth", "tag", "fullwidth"),
            ],
            id="hashtags",
        ),
        pytest.param(
            "Thanks @partner.bsky.social, @iom.int and (@alice.test); mail a@b.com @not.atld",
            [
                ("@partner.bsky.social", "mention", "partner.bsky.social"),
                ("@iom.int", "mention", "iom.int"),
                ("@alice.test", "mention", "alice.test"),
            ],
            id="mentions",
        ),
    ],
)
def test_detects_what_the_app_detects(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert shown(text) == expected


def test_a_tag_longer_than_64_utf16_units_is_not_a_tag() -> None:
    assert shown("#" + "a" * 64) == [("#" + "a" * 64, "tag", "a" * 64)]
    assert shown("#" + "a" * 65) == []
    assert shown("#" + "😀" * 33) == []  # 66 UTF-16 units


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://iom.int/", "iom.int"),
        ("https://iom.int/kg", "iom.int/kg"),
        ("https://www.iom.int/news/safe-migration", "www.iom.int/news/safe-mi..."),
        ("https://iom.int/kg?utm_source=bluesky", "iom.int/kg?utm_sourc..."),
        ("HTTPS://IOM.INT:443/a", "iom.int/a"),
        ("http://localhost:8080/x", "localhost:8080/x"),
        ("https://kg.example/миграция", "kg.example/%D0%BC%D0%B8..."),
        ("iom.int/kg/long/path/here", "iom.int/kg/long/path/here"),
    ],
)
def test_short_url_shows_links_as_the_app_does(url: str, expected: str) -> None:
    assert short_url(url) == expected


def test_a_text_that_fits_is_posted_as_written() -> None:
    text = "Маалымат: https://www.iom.int/news/safe-migration-campaign"

    rich = as_posted(text, fits=lambda _: True)

    assert rich.text == text
    assert rich.facets == detect(text).facets


def test_a_text_over_the_limit_shows_its_links_shortened_and_keeps_the_full_uris() -> None:
    # Given a text with a long link, a tag after it, and a rule it breaks as written
    link = "https://www.iom.int/news/safe-migration-campaign"
    text = f"Маалымат: {link} #Миграция"

    rich = as_posted(text, fits=lambda candidate: len(candidate) < 40)

    # Then the link is shown shortened; facets cover what is shown, with the full address
    assert rich.text == "Маалымат: www.iom.int/news/safe-mi... #Миграция"
    encoded = rich.text.encode()
    assert [(encoded[f.start : f.end].decode(), f.value) for f in rich.facets] == [
        ("www.iom.int/news/safe-mi...", link),
        ("#Миграция", "Миграция"),
    ]
