"""Mastodon's count, case by case from the server's source (Ruby cannot run here).

The sources: app/validators/status_length_validator.rb (strip; blank is empty; URLs found by
twitter-text Ruby 3.1.0's extract_urls_with_indices without protocol-less URLs, each 23;
mentions by Account::MENTION_RE, each `@user@domain` as `@user`; then each_grapheme_cluster),
config/initializers/twitter_regex.rb (Mastodon's URL grammar), twitter-text's regex.rb and
extractor.rb (domain, TLD and t.co rules; IDN::Idna.toASCII, i.e. libidn's IDNA 2003), and
Ruby 3.4's Unicode 15.0 for graphemes.
"""

from __future__ import annotations

import pytest

from campaign.counting.mastodon import countable
from campaign.rules import measure

X23 = "x" * 23
LABEL_52 = ("кыргызстан" * 6)[:52]  # 52 letters: 64 characters once punycode-encoded
LABEL_51 = LABEL_52[:-1]  # 63 encoded


@pytest.mark.parametrize(
    ("text", "length"),
    [
        # Ruby 3.4 segments with Unicode 15.0, before GB9c (15.1): क + ् is one cluster, ष
        # another. Our regex module, on a newer Unicode, makes क्ष one.
        pytest.param("क्ष", 2, id="Indic conjunct: 2 graphemes"),
        pytest.param("स्त्री", 3, id="two Indic conjuncts: 3 graphemes"),
        # MENTION_RE's lookbehind (?<![=/[:word:]]): Ruby's [[:word:]] is letters, marks,
        # digits and connectors; a zero-width (non-)joiner is none of those, so the mention
        # after it counts as @user (Python's \w would have included it and seen no mention).
        pytest.param("\u200c@aigul@mastodon.social", 1 + 6, id="ZWNJ before a mention"),
        pytest.param("a\u200d@aigul@mastodon.social", 1 + 6, id="ZWJ between a letter and @"),
        # extractor.rb: a t.co URL is cut after its slug (valid_tco_url has no query part).
        pytest.param("https://t.co/abc123?x=1", 23 + 4, id="t.co: the query counts apart"),
        # is_valid_domain: IDN::Idna.toASCII fails on a label over 63 characters encoded.
        pytest.param(f"https://{LABEL_51}.com", 23, id="IDN label of 63 encoded: a link"),
        pytest.param(f"https://{LABEL_52}.com", 8 + 52 + 4, id="IDN label of 64: no link"),
        # ... and on characters Unicode 3.2 had not assigned (libidn without ALLOW_UNASSIGNED).
        pytest.param("https://😷.com", 13, id="emoji domain: no link"),
        # DOMAIN_VALID_CHARS excludes only ASCII punctuation, spaces, controls, directional
        # marks: a symbol or a soft hyphen is part of the domain (nameprep drops the latter).
        pytest.param("https://ex\u00adample.com", 23, id="soft hyphen in a domain: a link"),
        pytest.param("https://i\u263a.com", 23, id="symbol in a domain: a link"),
        # valid_domain_name allows no underscore; valid_subdomain allows one inside.
        pytest.param("https://my_site.com", 19, id="underscore in the domain name: no link"),
        pytest.param("https://a_b.example.com", 23, id="underscore in a subdomain: a link"),
        # valid_gTLD/ccTLD end with (?=[^0-9a-z@+-]|$): a TLD run into -, +, or letters fails.
        pytest.param("https://example.com-more", 24, id="TLD followed by -: no link"),
        pytest.param("https://example.com+more", 24, id="TLD followed by +: no link"),
        pytest.param("https://example.comfoo", 22, id="TLD run into letters: no link"),
        # the TLD list is twitter-text 3.1.0's: .music came later.
        pytest.param("https://example.music", 21, id="TLD not on twitter-text's list: no link"),
        # Mastodon's valid_url_path_ending_chars is defined before its own balanced parens, so
        # it keeps twitter-text's, which allow only ASCII, Cyrillic and Latin accents inside.
        pytest.param("https://example.com/a(ab)", 23, id="path ending in (ASCII): in the link"),
        pytest.param("https://example.com/a(日本)", 23 + 4, id="path ending in (CJK): left out"),
        # UCHARS leaves out U+E0000-U+E0FFF: a tag character ends the query (then joins the
        # last x as a combining character, and the b after it counts).
        pytest.param("https://example.com/?q=a\U000e0041b", 23 + 1, id="tag in a query"),
        # twitter_regex.rb's schemes; countable_text asks for no protocol-less URLs.
        pytest.param("gemini://example.org/capsule", 23, id="gemini scheme: a link"),
        pytest.param("ftp://example.org/file", 22, id="ftp: no link"),
        pytest.param("see example.org", 15, id="no scheme: no link"),
        # extractor.rb: a URL over 4,096 characters is no link.
        pytest.param("https://example.com/" + "a" * 4076, 23, id="URL of 4,096: a link"),
        pytest.param("https://example.com/" + "a" * 4077, 4097, id="URL of 4,097: no link"),
        # the status is stripped, and a blank one counts as empty
        pytest.param(" \n hi \n", 2, id="stripped"),
    ],
)
def test_mastodon_counts_each_hard_case_as_its_server_does(text: str, length: int) -> None:
    assert measure(text, "mastodon").length == length


def test_links_and_remote_mentions_are_rewritten_as_the_validator_does() -> None:
    text = "Ask @aigul@mastodon.social, see https://example.org/a?b=1. @bek hi"

    assert countable(text) == f"Ask @aigul, see {X23}. @bek hi"


def test_a_mention_inside_a_link_is_part_of_the_link() -> None:
    # remove_overlapping_entities keeps the entity that starts first
    assert countable("https://mastodon.social/@aigul") == X23


def test_a_post_of_500_indic_graphemes_by_ruby_passes_and_501_does_not() -> None:
    # 250 conjuncts क्ष are 500 clusters to Ruby 3.4: at the limit; one more is over
    assert measure("क्ष" * 250, "mastodon").violations == ()
    (violation,) = measure("क्ष" * 250 + "a", "mastodon").violations
    assert str(violation).startswith("501/500 graphemes on Mastodon")
