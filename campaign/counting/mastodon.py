"""The length Mastodon counts: its StatusLengthValidator, mirrored in our own words.

Mastodon (app/validators/status_length_validator.rb) counts a blank text as empty; otherwise
it finds URLs with twitter-text Ruby 3.1.0's extractor, as Mastodon's
config/initializers/twitter_regex.rb amends it, and mentions with its own Account::MENTION_RE;
it writes each URL as 23 characters and each `@user@domain` as `@user`, then counts grapheme
clusters with Ruby's Unicode (15.0: graphemes.py). What that means here:
- a URL needs a scheme Mastodon links (http, https, dat, dweb, ipfs, ipns, ssb, gopher,
  gemini); without one it is text, counted in full;
- its domain: labels of any characters but ASCII punctuation, spaces, controls and
  directional marks (so symbols and soft hyphens belong), an underscore only inside a
  subdomain, and a top-level domain from twitter-text's list that no letter, digit, @, + or -
  follows; and the domain must pass IDNA 2003's ToASCII as libidn does it (labels of 63
  characters at most once encoded, no character unassigned in Unicode 3.2);
- its path: anything but spaces, <, >, ( ) and ?, with balanced parentheses, ending on a
  character that is not punctuation; Mastodon's amendment leaves twitter-text's own ending
  parentheses in place, which allow only ASCII letters, Cyrillic and Latin accents inside;
- its query: ASCII URL characters and the IRI range Mastodon lists (tag characters excluded);
- a t.co link ends after its slug; a URL over 4,096 characters is no link;
- a mention is `@user` or `@user@domain` not after a word character, = or /, nor followed by
  @, a Latin accent or `://`; word characters are letters, marks, digits and connectors, as
  Ruby's [[:word:]] has them (zero-width joiners are not).
"""

from __future__ import annotations

import stringprep
from encodings import idna

import regex

from campaign.counting.tlds import COUNTRY, GENERIC
from campaign.counting.twitter_text_urls import LATIN_ACCENTS, MAX_URL_LENGTH, trie

URL_LENGTH = 23
_MAX_TCO_SLUG_LENGTH = 40
_SCHEMES = r"(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"
# twitter-text Ruby's DOMAIN_VALID_CHARS: not directional, ASCII punctuation, space, control,
# invalid (U+FFFE, U+FEFF, U+FFFF) or a Unicode space.
_DIRECTIONAL = r"\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069"
_NOT_IN_DOMAIN = (
    _DIRECTIONAL + r"!\"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~\x00-\x20\x7F\x85\xA0\u1680\u180E"
    r"\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFFFE\uFEFF\uFFFF"
)
_LABEL_CHAR = rf"[^{_NOT_IN_DOMAIN}]"
_TLD = r"(?:" + trie(GENERIC + COUNTRY) + r"(?=[^0-9a-z@+\-]|$)|xn--[0-9a-z]+)"
# Mastodon's path characters, and twitter-text's own (for the parentheses a path may end on).
_PATH = r"[^\s<>()?]"
_TWITTER_PATH = r"[a-z\p{Cyrillic}0-9!*';:=+,.$/%#\[\]\p{Pd}_~&|@" + LATIN_ACCENTS + r"]"
_UCHARS = (
    r"\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF\U00010000-\U0001FFFD\U00020000-\U0002FFFD"
    r"\U00030000-\U0003FFFD\U00040000-\U0004FFFD\U00050000-\U0005FFFD\U00060000-\U0006FFFD"
    r"\U00070000-\U0007FFFD\U00080000-\U0008FFFD\U00090000-\U0009FFFD\U000A0000-\U000AFFFD"
    r"\U000B0000-\U000BFFFD\U000C0000-\U000CFFFD\U000D0000-\U000DFFFD\U000E1000-\U000EFFFD"
    r"\uE000-\uF8FF\U000F0000-\U000FFFFD\U00100000-\U0010FFFD"
)
_WORD = r"\p{L}\p{M}\p{Nd}\p{Pc}"  # Ruby's [[:word:]]: no Join_Control, unlike Python's \w

_URL = regex.compile(
    r"""
    (?:[^a-z0-9@＠$\#＃\uFFFE\uFEFF\uFFFF]|^)
    (?P<url>
      (?P<scheme>"""
    + _SCHEMES
    + r""")?
      (?P<domain>
        (?:(?&label)(?:[_-]|(?&label))*+(?<![_-])\.)*
        (?&label)(?:-|(?&label))*+(?<!-)\.
        """
    + _TLD
    + r"""
      )
      (?::[0-9]+)?
      (?:/(?:(?&path_char)*(?:(?&parens)(?&path_char)*)*(?&path_end)|(?&path_char)+/)*)?
      (?:\?[a-z0-9!?*'();:&=+$/%\#\[\]\-_.,~|@^"""
    + _UCHARS
    + r"""]*[a-z0-9_&=\#/\-"""
    + _UCHARS
    + r"""])?
    )
    (?(DEFINE)
      (?P<label>"""
    + _LABEL_CHAR
    + r""")
      (?P<path_char>"""
    + _PATH
    + r""")
      (?P<parens>\((?:(?&path_char)+|(?&path_char)*\((?&path_char)+\)(?&path_char)*)\))
      (?P<path_end>[^\s()?!*"'「」<>;:=,.$%\[\]~&|@]|(?&twitter_parens))
      (?P<twitter_parens>\((?:"""
    + _TWITTER_PATH
    + r"""+|"""
    + _TWITTER_PATH
    + r"""*\("""
    + _TWITTER_PATH
    + r"""+\)"""
    + _TWITTER_PATH
    + r"""*)\))
    )
    """,
    regex.VERBOSE | regex.IGNORECASE,
)
# Account::MENTION_RE; what follows a match is checked apart, as Mastodon does (no backtracking
# to a shorter name when it fails).
_MENTION = regex.compile(
    rf"(?<![=/{_WORD}])@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[{_WORD}.-]+[{_WORD}]+)?",
    regex.IGNORECASE,
)
_END_MENTION = regex.compile(rf"[@＠{LATIN_ACCENTS}]|://")
_TCO = regex.compile(r"https?://t\.co/([a-z0-9]+)", regex.IGNORECASE)
_DOTS = regex.compile(r"[.\u3002\uFF0E\uFF61]")


def countable(text: str) -> str:
    """The text Mastodon counts: each link as 23 characters, each @user@domain as @user."""
    entities: list[tuple[int, int, str]] = []
    if "://" in text:
        entities += [link for match in _URL.finditer(text) if (link := _link(match))]
    if "@" in text:
        for match in _MENTION.finditer(text):
            if _END_MENTION.match(text, match.end()) is None:
                entities.append((match.start(), match.end(), "@" + str(match["user"])))
    pieces: list[str] = []
    done = 0
    for start, end, replacement in sorted(entities):
        if start < done:
            continue  # overlaps the entity before: Extractor.remove_overlapping_entities
        pieces += [text[done:start], replacement]
        done = end
    return "".join(pieces) + text[done:]


def _link(match: regex.Match[str]) -> tuple[int, int, str] | None:
    """Where the link of a URL match is, if Mastodon links it: scheme, t.co slug, IDNA, size."""
    if match["scheme"] is None:
        return None
    start, end = match.span("url")
    tco = _TCO.match(str(match["url"]))
    if tco is not None:
        if len(tco[1]) > _MAX_TCO_SLUG_LENGTH:
            return None
        end = start + tco.end()
    domain = str(match["domain"])
    encoded = _to_ascii(domain)
    if encoded is None:
        return None
    if end - start + max(0, len(encoded) - len(domain)) > MAX_URL_LENGTH:
        return None
    return start, end, "x" * URL_LENGTH


def _to_ascii(domain: str) -> str | None:
    """The domain as IDNA 2003 ToASCII writes it (libidn, unassigned code points refused)."""
    labels = []
    for label in _DOTS.split(domain):
        try:
            if not label.isascii():
                prepared = idna.nameprep(label)
                if any(stringprep.in_table_a1(char) for char in prepared):
                    return None
            labels.append(idna.ToASCII(label).decode("ascii"))
        except UnicodeError:
            return None
    return ".".join(labels)
