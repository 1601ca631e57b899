"""X's weighted length of a post: twitter-text 3.1.0's `parseTweet` (v3 config), in our words.

After NFC normalisation (Unicode 16, as the reference runs on Node 22), twitter-text walks the
text once, and at each position takes the first that applies:
- a URL starts here (see twitter_text_urls): it weighs 23, whatever its length;
- an emoji starts here, as twemoji-parser 11.0.2 finds them (see twemoji): it weighs 2. That
  table is from 2018 (Emoji 11): a newer emoji, or a sequence it lacks, weighs as the sum of
  the parts it does know (a pictograph 2, a ZWJ 1, a lone U+FE0F 2), as X counts it;
- otherwise one code point: 1 inside v3's ranges (U+0000-U+10FF and some punctuation), else 2.
Line breaks are not rewritten: CR LF is two code points of 1. A post is valid when it weighs
1 to 280 and holds none of U+FFFE, U+FEFF, U+FFFF.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
import unicodedata2

from campaign.counting.twemoji import PATTERN as _TWEMOJI_PATTERN
from campaign.counting.twitter_text_urls import extract_urls

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
# config/v3.json: code points in these ranges weigh 1 (weight 100 at scale 100), others 2.
LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
INVALID = regex.compile(r"[\uFFFE\uFEFF\uFFFF]")

_EMOJI = regex.compile(_TWEMOJI_PATTERN)
_HEAVY = regex.compile(
    "[^" + "".join(rf"\U{start:08X}-\U{end:08X}" for start, end in LIGHT_RANGES) + "]"
)


def normalize(text: str) -> str:
    """NFC with Unicode 16's tables, as `String.prototype.normalize` on Node 22."""
    if text.isascii():
        return text
    return str(unicodedata2.normalize("NFC", text))


@dataclass(frozen=True)
class Weighed:
    """What X counted in a text: its weighted length, and the parts that weigh more than 1."""

    length: int
    urls: tuple[str, ...]  # each weighs 23
    emoji: tuple[str, ...]  # each weighs 2
    heavy: tuple[str, ...]  # code points outside URLs and emoji that weigh 2 each


def weighted_length(text: str) -> int:
    """The length X counts for `text` (twitter-text v3's weightedLength); X's limit is 280."""
    text = normalize(text)
    if text.isascii():  # no emoji and no heavy code point: only URLs weigh otherwise
        length = len(text)
        for start, end in extract_urls(text):
            length += URL_WEIGHT - (end - start)
        return length
    return weigh(text).length


def weigh(text: str) -> Weighed:
    """Weigh an NFC text as twitter-text's parseTweet does, keeping what was counted."""
    urls = [(start, end, True) for start, end in extract_urls(text)]
    emoji = [(match.start(), match.end(), False) for match in _EMOJI.finditer(text)]
    # At one position a URL wins over an emoji; an entity starting inside another is skipped.
    entities = sorted(urls + emoji, key=lambda entity: (entity[0], not entity[2]))
    length = position = 0
    found_urls: list[str] = []
    found_emoji: list[str] = []
    heavy: list[str] = []
    for start, end, is_url in entities:
        if start < position:
            continue
        between = _HEAVY.findall(text, position, start)
        heavy += between
        length += start - position + len(between)
        length += URL_WEIGHT if is_url else EMOJI_WEIGHT
        (found_urls if is_url else found_emoji).append(text[start:end])
        position = end
    between = _HEAVY.findall(text, position)
    heavy += between
    length += len(text) - position + len(between)
    return Weighed(length, tuple(found_urls), tuple(found_emoji), tuple(heavy))


def is_valid(text: str) -> bool:
    """Whether X accepts the text whatever its length: not empty, no invalid character."""
    if text.isascii():
        return bool(text)
    return "\ufffe" not in text and "\ufeff" not in text and "\uffff" not in text
