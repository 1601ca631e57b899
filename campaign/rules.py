"""Each platform's length rule, counted the way that platform counts (docs/counting.md).

x         twitter-text 3.1.0's weighted length (links 23, emoji 2, CJK 2), 1 to 280
mastodon  StatusLengthValidator: graphemes (Unicode 15.0), links 23, @user@domain as @user;
          500 or the channel's max_length
bluesky   the PDS's lexicon check: 300 graphemes (Unicode 16, or more where versions differ)
          and 3,000 UTF-8 bytes, of the text as posted (long links shortened as the app shows
          them when the text does not fit as written)
telegram  TDLib: 1 to 4,096 code points after its cleanup of the text
facebook  63,206 characters
webhook, outbox   no limit unless the channel sets max_length
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import regex

from campaign.bluesky_text import as_posted
from campaign.counting import graphemes, mastodon, telegram, twitter_text
from campaign.definition import PLATFORMS_WITH_CONFIGURABLE_LIMIT
from campaign.platforms import PLATFORMS


@dataclass(frozen=True)
class Violation:
    """One rule a text breaks: what was counted, and what fixes it."""

    problem: str  # e.g. "311/280 weighted characters on X: the links 24.kg ... count 23 each"
    fix: str  # e.g. "shorten the text"
    platform: str
    too_long: bool  # a shorter, platform-specific template is then another fix

    def message(self, template: str | None = None) -> str:
        """The problem and its fix; `template` (e.g. "launch/ky.j2") makes the fix concrete."""
        if not self.too_long:
            return f"{self.problem}; {self.fix}"
        if template is None:
            specific = f"{_ARTICLE.get(self.platform, 'a')} {self.platform}-specific template"
            return f"{self.problem}; {self.fix} or add {specific}"
        stem = template.removesuffix(".j2")
        if stem.endswith(f".{self.platform}"):  # already this platform's own template
            return f"{self.problem}; shorten {template}"
        own = f"{stem}.{self.platform}.j2"
        return f"{self.problem}; {self.fix} or add {own} to say it shorter on {self.name}"

    @property
    def name(self) -> str:
        """The platform's name as a sentence uses it ("X", "the webhook")."""
        return _NAMES[self.platform]

    def __str__(self) -> str:
        return self.message()


class Measure(NamedTuple):  # a tuple: made for every post of a preview, at a tenth of the cost
    """A text's length as one platform counts it, the limit, and every rule the text breaks."""

    length: int
    limit: int | None
    unit: str
    violations: tuple[Violation, ...]


_NAMES = {name: facts.display for name, facts in PLATFORMS.items()}
# "an x-specific template" is read "an ex-specific"; the other names take "a".
_ARTICLE = {name: facts.article for name, facts in PLATFORMS.items()}


def _limit(platform: str) -> int:
    limit = PLATFORMS[platform].limit
    assert limit is not None, f"{platform} has a limit"
    return limit


_X_LIMIT = twitter_text.MAX_WEIGHTED_LENGTH
_MASTODON_LIMIT = _limit("mastodon")
_BLUESKY_GRAPHEMES = _limit("bluesky")
_BLUESKY_BYTES = 3000
_TELEGRAM_LIMIT = _limit("telegram")
_FACEBOOK_LIMIT = _limit("facebook")
_SHORTEN = "shorten the text"


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

    def counted(piece: str) -> int:
        # -1 marks a piece whose last cluster may take in what follows: the whole text is
        # then counted at once (a -1 on the last piece only costs that, never a wrong count).
        return -1 if _JOINS_WHAT_FOLLOWS.search(piece) else count(piece)

    # Two caches of the same function, so that a piece after a space is looked up by the words
    # as split, without building " " + word for every word of every post.
    first_piece = lru_cache(maxsize=65_536)(counted)
    later_piece = lru_cache(maxsize=65_536)(lambda word: counted(" " + word))

    def total(text: str) -> int:
        first, *rest = text.split(" ")
        counts = [first_piece(first), *map(later_piece, rest)]
        return count(text) if min(counts) < 0 else sum(counts)

    return total


def _mastodon_length(text: str) -> int:
    return graphemes.count(mastodon.countable(text), "15.0")


def _bluesky_length(text: str) -> int:
    return graphemes.count(text, "16.0")


_x_length = _piece_by_piece(twitter_text.weighted_length)
_mastodon_length_by_piece = _piece_by_piece(_mastodon_length)
_bluesky_length_by_piece = _piece_by_piece(_bluesky_length)


def _over(length: int, limit: int, unit: str, platform: str, details: str = "") -> Violation:
    problem = f"{length:,}/{limit:,} {unit} on {_NAMES[platform]}"
    return Violation(problem + (f": {details}" if details else ""), _SHORTEN, platform, True)


def _within(
    length: int, unit: str, platform: str, limit: int | None, explain: Callable[[], str]
) -> Measure:
    if limit is None or length <= limit:
        return Measure(length, limit, unit, ())
    return Measure(length, limit, unit, (_over(length, limit, unit, platform, explain()),))


def _x(text: str, max_length: int | None) -> Measure:
    length = _x_length(text)
    result = _within(length, "weighted characters", "x", _X_LIMIT, lambda: _explain_x(text))
    if twitter_text.is_valid(text):
        return result
    if not text:
        problem = "empty text: X needs at least one character"
        return _with(result, Violation(problem, "add some text", "x", False))
    invalid = sorted({f"U+{ord(char):04X}" for char in twitter_text.INVALID.findall(text)})
    problem = f"contains {', '.join(invalid)}, which X refuses in any post"
    return _with(result, Violation(problem, "remove it", "x", False))


def _with(result: Measure, violation: Violation) -> Measure:
    return Measure(result.length, result.limit, result.unit, (*result.violations, violation))


_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}\uFF00-\uFFEF]")


def _explain_x(text: str) -> str:
    """What weighs more than one in `text` on X, for a reader to see where the count comes from."""
    weighed = twitter_text.weigh(twitter_text.normalize(text))
    parts = []
    if weighed.urls:
        parts.append(
            f"{_the_links(weighed.urls)} {_count(len(weighed.urls), twitter_text.URL_WEIGHT)}"
        )
    if weighed.emoji:
        parts.append(
            f"{_several(len(weighed.emoji), 'emoji', 'emoji')} {_count(len(weighed.emoji))}"
        )
    cjk = [char for char in weighed.heavy if _CJK.match(char)]
    if cjk:
        parts.append(f"{_several(len(cjk), 'CJK character')} {_count(len(cjk))}")
    others = [char for char in weighed.heavy if not _CJK.match(char)]
    if others:
        shown = " ".join(dict.fromkeys(others[:50]))
        parts.append(f"{_several(len(others), 'other character')} ({shown}) {_count(len(others))}")
    return "; ".join(parts)


def _count(how_many: int, weight: int = 2) -> str:
    return f"counts {weight}" if how_many == 1 else f"count {weight} each"


def _the_links(urls: tuple[str, ...]) -> str:
    names = sorted(dict.fromkeys(urls))
    if len(names) > 4:
        return f"{len(urls)} links ({', '.join(names[:3])}, ...)"
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"the link {listed}" if len(urls) == 1 else f"the links {listed}"


def _several(count: int, singular: str, plural: str | None = None) -> str:
    return f"1 {singular}" if count == 1 else f"{count:,} {plural or singular + 's'}"


def _mastodon(text: str, max_length: int | None) -> Measure:
    # Mastodon strips the text (Ruby's String#strip: ASCII whitespace and NUL) and counts a
    # blank one as empty, which it refuses without media.
    text = text.strip(" \t\n\v\f\r\0")
    limit = max_length or _MASTODON_LIMIT
    length = _mastodon_length_by_piece(text)
    result = _within(length, "graphemes", "mastodon", limit, lambda: _explain_mastodon(text))
    if text and not text.isspace():
        return result
    problem = "empty text: Mastodon needs some text in a post without media"
    return _with(result, Violation(problem, "add some text", "mastodon", False))


def _explain_mastodon(text: str) -> str:
    countable = mastodon.countable(text)
    if countable == text:
        return ""
    return (
        f"each link counts {mastodon.URL_LENGTH} and each @user@domain as @user; "
        f"{len(text):,} characters as written"
    )


def bluesky_fits(text: str) -> bool:
    """Whether Bluesky takes `text` as written: at most 300 graphemes and 3,000 UTF-8 bytes."""
    return len(text.encode()) <= _BLUESKY_BYTES and (
        _bluesky_length_by_piece(text) <= _BLUESKY_GRAPHEMES
    )


def _bluesky(text: str, max_length: int | None) -> Measure:
    # Counted as posted: a text that does not fit goes out with its links shortened as the
    # Bluesky app shows them (each facet keeps the full address), which may make it fit.
    length, size = _bluesky_length_by_piece(text), len(text.encode())
    if length > _BLUESKY_GRAPHEMES or size > _BLUESKY_BYTES:
        text = as_posted(text, bluesky_fits).text
        length, size = _bluesky_length_by_piece(text), len(text.encode())
    result = _within(length, "graphemes", "bluesky", _BLUESKY_GRAPHEMES, lambda: _explain_bs(text))
    if size <= _BLUESKY_BYTES:
        return result
    # Emoji and non-Latin scripts take 2-4 bytes per code point, so this can bind first.
    detail = "emoji and non-Latin letters take several bytes each"
    return _with(result, _over(size, _BLUESKY_BYTES, "UTF-8 bytes", "bluesky", detail))


def _explain_bs(text: str) -> str:
    newer = graphemes.count_newest(text)
    if newer == _bluesky_length(text):
        return ""
    return (
        "Bluesky's server (Unicode 16) cuts some conjuncts in two, e.g. Khmer ក្ក, "
        f"that newer Unicode keeps whole ({newer:,} graphemes by that count)"
    )


def _telegram(text: str, max_length: int | None) -> Measure:
    cleaned = telegram.cleaned(text)
    length = len(cleaned)
    result = _within(length, "characters", "telegram", _TELEGRAM_LIMIT, lambda: "")
    if not telegram.is_empty(cleaned):
        return result
    problem = "empty text: Telegram needs 1 to 4,096 characters besides spaces and invisible ones"
    return _with(result, Violation(problem, "add some text", "telegram", False))


def _facebook(text: str, max_length: int | None) -> Measure:
    return _within(len(text), "characters", "facebook", _FACEBOOK_LIMIT, lambda: "")


def _unlimited(platform: str) -> Callable[[str, int | None], Measure]:
    def rule(text: str, max_length: int | None) -> Measure:
        return _within(len(text), "characters", platform, max_length, lambda: "")

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
