"""Each platform's length rule, counted the way that platform counts.

x         twitter-text v3 weighted length (NFC, links 23, CJK and emoji 2), limit 280
mastodon  grapheme clusters, http(s) links 23, @user@domain as @user; 500 or max_length
bluesky   300 grapheme clusters and 3,000 UTF-8 bytes
telegram  1-4,096 characters (code points, as TDLib checks a bot's text)
facebook  63,206 characters
webhook, outbox   no limit unless the channel sets max_length
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import regex

from campaign import twitter_text
from campaign.definition import PLATFORMS_WITH_CONFIGURABLE_LIMIT


@dataclass(frozen=True)
class Measure:
    """A text's length as one platform counts it, the limit, and every rule the text breaks."""

    length: int
    limit: int | None
    unit: str
    violations: tuple[str, ...]


_NAMES = {
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "telegram": "Telegram",
    "facebook": "Facebook",
    "x": "X",
    "webhook": "the webhook",
    "outbox": "the outbox",
}
# "an x-specific template" is read "an ex-specific"; the other names take "a".
_ARTICLE = {"x": "an", "outbox": "an"}

_X_LIMIT = twitter_text.MAX_WEIGHTED_LENGTH
_MASTODON_LIMIT = 500
_MASTODON_URL_LENGTH = 23
_BLUESKY_GRAPHEMES = 300
_BLUESKY_BYTES = 3000
_TELEGRAM_LIMIT = 4096
_FACEBOOK_LIMIT = 63206

_GRAPHEME = regex.compile(r"\X")
# Code points that can share a cluster with a neighbour (UAX #29 rules GB3-GB13). Text without
# any is one cluster per code point, which is cheaper to establish than to segment.
_JOINER = regex.compile(
    r"[\r\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}\p{GCB=RI}"
    r"\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}]"
)
# twitter-text's invalid characters: X refuses a post that contains one, whatever its length.
_X_INVALID = regex.compile(r"[\uFFFE\uFEFF\uFFFF]")

# Mastodon counts a link as 23 only where its formatter would link it, so this mirrors the
# server's twitter-text overrides (config/initializers/twitter_regex.rb): the schemes it links, a
# domain with a TLD, then path and query with its own character rules. Approximations: any
# alphabetic TLD passes (Mastodon checks the IANA list) and IDN punycode growth is ignored.
_IRI_CHARS = r"\u00A0-\uD7FF\uE000-\uFDCF\uFDF0-\uFFEF\U00010000-\U0010FFFD"
_MASTODON_ENTITY = regex.compile(
    r"""
    (?P<url>
      (?<![a-z0-9@＠$#＃\uFFFE\uFEFF\uFFFF])  # twitter-text's valid_url_preceding_chars
      (?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://
      (?:[^\W_](?:[\w-]*[^\W_])?\.)+  # subdomains and domain name
      (?:[^\W\d_]{2,}|xn--[a-z0-9-]+)(?![^\W_]|@)  # TLD
      (?::[0-9]+)?
      (?:/(?:
          (?&path_char)*(?:(?&parens)(?&path_char)*)*(?&path_end)
        | (?&path_char)+/
      )*)?
      (?:\?[a-z0-9!?*'();:&=+$/%\#\[\]\-_.,~|@^"""
    + _IRI_CHARS
    + r"""]*[a-z0-9_&=\#/\-"""
    + _IRI_CHARS
    + r"""])?
    )
    | (?P<mention>
      (?<![=/\w])@
      (?>(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@(?P<domain>\w+(?:[.-]+\w+)*))?)
      # twitter-text's end_mention_match: not followed by @, a Latin accent or ://
      (?![@＠\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u0300-\u036F\u1E00-\u1EFF]|://)
    )
    (?(DEFINE)
      (?P<path_char>[^\s<>()?])
      (?P<path_end>[^\s()?!*"'「」<>;:=,.$%\[\]~&|@]|(?&parens))
      (?P<parens>\((?:(?&path_char)+|(?&path_char)*\((?&path_char)+\)(?&path_char)*)\))
    )
    """,
    regex.VERBOSE | regex.IGNORECASE,
)
# twitter-text's MAX_URL_LENGTH and Mastodon's MAX_DOMAIN_LENGTH: longer ones are not entities.
_MAX_URL_LENGTH = 4096
_MAX_DOMAIN_LENGTH = 253


def measure(text: str, platform: str, *, max_length: int | None = None) -> Measure:
    """Count `text` as `platform` does and list every length rule it breaks.

    Raises:
        ValueError: for an unknown platform, or a max_length the platform does not allow.
    """
    rule = _RULES.get(platform)
    if rule is None:
        raise ValueError(f"unknown platform {platform!r} (known: {', '.join(_RULES)})")
    if max_length is not None:
        if platform not in PLATFORMS_WITH_CONFIGURABLE_LIMIT:
            raise ValueError(f"max_length cannot be set for {platform}: its limit is fixed")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
    return rule(text, max_length)


# Every count here is a sum over the pieces of a text cut before each space, each piece counted
# with the space that leads it, so it sees what precedes it as the whole text would: no URL,
# mention, emoji sequence, NFC composition or grapheme cluster runs from one piece into the next,
# except a cluster after a prepended mark (then the whole text is counted at once). Counting
# piece by piece lets the words a campaign repeats in every post (links, hashtags, whole
# sentences) be counted once.
_JOINS_WHAT_FOLLOWS = regex.compile(r"\p{GCB=Prepend}$")


def _piece_by_piece(count: Callable[[str], int]) -> Callable[[str], int]:
    """`count`, computed as the sum of its (cached) counts of each piece of the text."""

    @lru_cache(maxsize=65_536)
    def piece(part: str) -> tuple[int, bool]:
        return count(part), _JOINS_WHAT_FOLLOWS.search(part) is not None

    def total(text: str) -> int:
        first, *rest = text.split(" ")
        counted = [piece(first), *(piece(" " + part) for part in rest)]
        if any(joins for _, joins in counted[:-1]):
            return count(text)
        return sum(length for length, _ in counted)

    return total


def _graphemes(text: str) -> int:
    """Extended grapheme clusters: what a reader sees as one character (a flag, a family)."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    if not any(map(_joins, set(text))):
        return len(text)
    return len(_GRAPHEME.findall(text))


@lru_cache(maxsize=4096)
def _joins(char: str) -> bool:
    """Whether this code point can join a cluster; cached, as a text repeats its alphabet."""
    return _JOINER.match(char) is not None


def _mastodon_countable(text: str) -> str:
    """The text Mastodon counts: each linkable URL as 23 x's, each @user@domain as @user."""
    if ":" not in text and "@" not in text:
        return text
    return str(_MASTODON_ENTITY.sub(_mastodon_placeholder, text))


def _mastodon_placeholder(match: regex.Match[str]) -> str:
    whole = str(match[0])
    if match["url"] is not None:
        return "x" * _MASTODON_URL_LENGTH if len(whole) <= _MAX_URL_LENGTH else whole
    domain = match["domain"]
    if domain is not None and len(domain) > _MAX_DOMAIN_LENGTH:
        return whole
    return f"@{match['user']}"


def _over(length: int, unit: str, platform: str, limit: int) -> str:
    return (
        f"{length:,} {unit}, over {_NAMES[platform]}'s limit of {limit:,}: "
        f"shorten the text or add {_ARTICLE.get(platform, 'a')} {platform}-specific template"
    )


def _within(length: int, unit: str, platform: str, limit: int | None) -> Measure:
    violations = (_over(length, unit, platform, limit),) if limit and length > limit else ()
    return Measure(length, limit, unit, violations)


def _mastodon_length(text: str) -> int:
    return _graphemes(_mastodon_countable(text))


_x_length = _piece_by_piece(twitter_text.weighted_length)
_mastodon_length_by_piece = _piece_by_piece(_mastodon_length)
_graphemes_by_piece = _piece_by_piece(_graphemes)


def _x(text: str, max_length: int | None) -> Measure:
    result = _within(_x_length(text), "weighted characters", "x", _X_LIMIT)
    invalid = sorted({f"U+{ord(char):04X}" for char in _X_INVALID.findall(text)})
    if not invalid:
        return result
    found = f"contains {', '.join(invalid)}, which X refuses in any post: remove it"
    return Measure(result.length, result.limit, result.unit, (*result.violations, found))


def _mastodon(text: str, max_length: int | None) -> Measure:
    limit = max_length or _MASTODON_LIMIT
    return _within(_mastodon_length_by_piece(text), "graphemes", "mastodon", limit)


def _bluesky(text: str, max_length: int | None) -> Measure:
    result = _within(_graphemes_by_piece(text), "graphemes", "bluesky", _BLUESKY_GRAPHEMES)
    size = len(text.encode())
    if size <= _BLUESKY_BYTES:
        return result
    # Emoji and non-Latin scripts take 2-4 bytes per code point, so this can bind first.
    too_big = (
        f"{size:,} UTF-8 bytes, over Bluesky's limit of {_BLUESKY_BYTES:,} bytes: shorten the "
        "text (emoji and non-Latin letters take several bytes each) or add a bluesky-specific "
        "template"
    )
    return Measure(result.length, result.limit, result.unit, (*result.violations, too_big))


def _telegram(text: str, max_length: int | None) -> Measure:
    # TDLib (behind the Bot API) counts code points, not UTF-16 units; it trims whitespace and
    # refuses a text that is then empty ("message text is empty").
    result = _within(len(text), "characters", "telegram", _TELEGRAM_LIMIT)
    if text.strip():
        return result
    empty = "empty text: Telegram needs 1 to 4,096 characters besides whitespace; add some text"
    return Measure(result.length, result.limit, result.unit, (empty,))


def _facebook(text: str, max_length: int | None) -> Measure:
    return _within(len(text), "characters", "facebook", _FACEBOOK_LIMIT)


def _unlimited(platform: str) -> Callable[[str, int | None], Measure]:
    def rule(text: str, max_length: int | None) -> Measure:
        return _within(len(text), "characters", platform, max_length)

    return rule


_RULES: dict[str, Callable[[str, int | None], Measure]] = {
    "mastodon": _mastodon,
    "bluesky": _bluesky,
    "telegram": _telegram,
    "facebook": _facebook,
    "x": _x,
    "webhook": _unlimited("webhook"),
    "outbox": _unlimited("outbox"),
}
