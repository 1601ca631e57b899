"""Grapheme clusters as the platforms' Unicode versions cut them, checked against Node 22.

Bluesky's PDS counts with Node 22's Intl.Segmenter (Unicode 16): our count for "16.0" must be
Node's on a corpus of thousands of hard texts and on every assigned code point in the contexts
where clusters form, larger only where Unicode versions disagree (then the larger count wins).
Mastodon counts with Ruby 3.4 (Unicode 15.0), which cannot run here: its cases are by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import regex

from campaign.counting import graphemes
from campaign.counting.graphemes import Version
from tests.reference import corpus, segmenter

Segment = Callable[[list[str]], segmenter.Segmented]

# Contexts that make a code point join or not: after a letter, after a Devanagari consonant
# and virama (GB9c), before a combining mark, before a letter (a prepended sign joins it).
CONTEXTS = ("a{}", "क्{}", "{}\u0301", "{}a")
# Unicode 17 made U+11A3A ZANABAZAR SQUARE CLUSTER-INITIAL LETTER RA no longer a prepended
# sign: Node's Unicode 16 joins it to the next letter, `regex`'s newer Unicode does not. We keep
# the larger count, as we do wherever versions disagree.
VERSIONS_DISAGREE = {"\U00011a3a"}


@pytest.mark.parametrize(
    ("text", "version", "count"),
    [
        pytest.param("Кыргызстан", "16.0", 10, id="Cyrillic"),
        pytest.param("one\r\ntwo", "16.0", 7, id="CR LF is one"),
        pytest.param("е\u0301", "15.0", 1, id="combining accent"),
        pytest.param("🇰🇬🇽🇰", "16.0", 2, id="two flags"),
        pytest.param("👨\u200d👩\u200d👧\u200d👦", "16.0", 1, id="ZWJ family"),
        pytest.param("👍🏽", "15.0", 1, id="skin tone"),
        # GB9c, Unicode 15.1: consonant + virama + consonant is one cluster in Devanagari ...
        pytest.param("क्ष", "16.0", 1, id="Devanagari conjunct, Unicode 16"),
        pytest.param("स्त्री", "16.0", 1, id="Devanagari two conjuncts, Unicode 16"),
        pytest.param("ক্ষ", "16.0", 1, id="Bengali conjunct, Unicode 16"),
        # ... but not before 15.1 (Ruby 3.4, Mastodon) ...
        pytest.param("क्ष", "15.0", 2, id="Devanagari conjunct, Unicode 15.0"),
        pytest.param("स्त्री", "15.0", 3, id="Devanagari two conjuncts, Unicode 15.0"),
        # ... and only since 17.0 in Khmer, Myanmar, Balinese, Javanese, Tai Tham
        pytest.param("ក្ក", "16.0", 2, id="Khmer coeng"),
        pytest.param("ស្ត្រី", "16.0", 3, id="Khmer two coengs"),
        pytest.param("က္က", "16.0", 2, id="Myanmar virama"),
        pytest.param("ᬓ᭄ᬱ", "16.0", 2, id="Balinese adeg adeg"),
        pytest.param("ꦏ꧀ꦱ", "16.0", 2, id="Javanese pangkon"),
        pytest.param("ᨠ᩠ᨠ", "16.0", 2, id="Tai Tham sakot"),
        # a Devanagari virama does not join a consonant of another script, even in Unicode 16
        pytest.param("क्ꯀ", "16.0", 2, id="Devanagari virama, Meetei consonant"),
        # a mark Unicode 17 added is a base of its own to Unicode 16, which has not assigned it
        pytest.param("a\U00011b60", "16.0", 2, id="Unicode 17 mark after a letter"),
        # Tulu-Tigalari (Unicode 16) is unassigned to Unicode 15.0
        pytest.param("\U00011380\U000113b8", "16.0", 1, id="Tulu-Tigalari sign, Unicode 16"),
        pytest.param("\U00011380\U000113b8", "15.0", 2, id="Tulu-Tigalari sign, Unicode 15.0"),
    ],
)
def test_a_version_cuts_where_it_cuts_and_where_regex_does(
    text: str, version: Version, count: int
) -> None:
    assert graphemes.count(text, version) == count


def test_the_newest_count_is_regexs_own() -> None:
    assert graphemes.count_newest("ក្ក ក្ក") == 3
    assert graphemes.count_newest("क्ष") == 1


def test_we_count_graphemes_as_node_22_on_thousands_of_hard_texts(
    intl_segmenter: Segment,
) -> None:
    # Given the corpus of hard texts, and Node 22's Intl.Segmenter (the PDS's counter)
    texts = corpus.texts(5000, seed=8)

    segmented = intl_segmenter(texts)

    # Then Node runs Unicode 16, and our "16.0" count is its count on every text
    assert segmented.unicode == "16.0"
    disagree = [
        f"{text!r}: Node {theirs}, ours {graphemes.count(text, '16.0')}"
        for text, theirs in zip(texts, segmented.counts, strict=True)
        if graphemes.count(text, "16.0") != theirs
    ]
    assert disagree == []


def test_every_code_point_joins_or_not_as_node_22_has_it(intl_segmenter: Segment) -> None:
    # Given every code point `regex` knows (but the supplementary private use planes) in each
    # context where a cluster can form
    assigned = regex.compile(r"\P{Cn}")
    points = [
        chr(code)
        for code in range(0xF0000)
        if not 0xD800 <= code <= 0xDFFF and assigned.match(chr(code))
    ]
    probes = [context.format(point) for point in points for context in CONTEXTS]

    segmented = intl_segmenter(probes)

    # Then our count is Node's, except where Unicode versions disagree: there it is larger
    differ = {
        probe: (theirs, graphemes.count(probe, "16.0"))
        for probe, theirs in zip(probes, segmented.counts, strict=True)
        if graphemes.count(probe, "16.0") != theirs
    }
    assert all(ours > theirs for theirs, ours in differ.values()), differ
    assert {point for probe in differ for point in probe if point in VERSIONS_DISAGREE} == (
        VERSIONS_DISAGREE
    )
    assert [probe for probe in differ if not VERSIONS_DISAGREE & set(probe)] == []


def test_the_characters_added_after_unicode_15_0_are_those_unicodedata2_knows(
    unicode_15_0_unassigned: set[int],
) -> None:
    # Given the code points Unicode 15.0 leaves unassigned and Unicode 16 assigns, which
    # `regex` lets join a cluster (marks, viramas and consonants of new scripts)
    joining = regex.compile(
        r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}\p{GCB=RI}\p{GCB=L}"
        r"\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}\p{InCB=Consonant}\p{InCB=Linker}\p{InCB=Extend}]"
    )
    expected = {
        code
        for code in unicode_15_0_unassigned
        if not 0xD800 <= code <= 0xDFFF
        and not graphemes._unassigned(chr(code), "16.0")
        and joining.match(chr(code))
    }

    # Then our table of them for Unicode 15.0 (Mastodon) holds exactly those
    table = {code for code in range(0x110000) if graphemes._ADDED_AFTER_15_0.match(chr(code))}
    assert table == expected
