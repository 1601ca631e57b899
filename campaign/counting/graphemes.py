"""Grapheme clusters as a platform's Unicode version cuts them: the stricter count wins.

Bluesky's PDS segments with Node 22's `Intl.Segmenter` (ICU 77, Unicode 16); Mastodon with Ruby's
`each_grapheme_cluster` (Ruby 3.4, Unicode 15.0). The `regex` module we segment with follows a
newer Unicode, which joins more: since 15.1 a consonant, a virama and a consonant are one cluster
(UAX #29 rule GB9c) in six Indic scripts, and since 17.0 in Khmer, Myanmar, Balinese, Javanese
and more; each version also gives new characters (combining marks of new scripts) a class that
an older version, to which they are unassigned, does not. So we cut where `regex` cuts, and also
where the platform's version cuts and `regex` does not:
- before a consonant that `regex` joins by GB9c and the version does not (none before 15.1;
  in 15.1 and 16.0 only within Devanagari, Bengali, Gujarati, Oriya, Telugu and Malayalam);
- before a character the version has not assigned yet (unless an emoji, which every version
  treats alike), as that version treats an unassigned code point as a base of its own.
Where the versions disagree the other way (an older one joins and a newer one cuts), `regex`'s
cut stands: the larger count is the one no server refuses.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import regex
import unicodedata2

Version = Literal["15.0", "16.0"]

_CLUSTER = regex.compile(r"\X")
# Code points that can share a cluster with a neighbour (UAX #29 rules GB3-GB13). Text without
# any is one cluster per code point, which is cheaper to establish than to segment.
_JOINER = regex.compile(
    r"[\r\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}\p{GCB=RI}"
    r"\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}]"
)
_CONSONANT = regex.compile(r"\p{InCB=Consonant}")
_LINKER = regex.compile(r"\p{InCB=Linker}")
_EXTEND = regex.compile(r"\p{InCB=Extend}")
_PREPEND = regex.compile(r"\p{GCB=Prepend}")
_PICTOGRAPH = regex.compile(r"\p{Extended_Pictographic}")
# Unicode 15.1 and 16.0 apply GB9c within these scripts only (DerivedCoreProperties, InCB).
_GB9C_SCRIPTS_16 = regex.compile(r"[\p{Deva}\p{Beng}\p{Gujr}\p{Orya}\p{Telu}\p{Mlym}]")
# Characters Unicode 15.1 or 16.0 added that join a neighbour under `regex` (marks, virama,
# prepended signs of new scripts), which Ruby's Unicode 15.0 leaves unassigned. Derived with
# unicodedata2 15.0.0 against 16.0.0; tests/test_graphemes.py checks it the same way.
_ADDED_AFTER_15_0 = regex.compile(
    r"[\u0897\U00010D69-\U00010D6D\U00010EFC\U00011380-\U00011389\U0001138B\U0001138E"
    r"\U00011390-\U000113B5\U000113B8-\U000113C0\U000113C2\U000113C5\U000113C7-\U000113CA"
    r"\U000113CC-\U000113D2\U000113E1\U000113E2\U00011F5A\U0001611E-\U0001612F\U00016D63"
    r"\U00016D67-\U00016D6A\U0001E5EE\U0001E5EF]"
)


def count(text: str, version: Version) -> int:
    """How many grapheme clusters `text` has for a platform on Unicode `version`."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    if not any(map(_joins, set(text))):
        return len(text)
    clusters = _CLUSTER.findall(text)
    return len(clusters) + sum(_cuts(cluster, version) for cluster in clusters if len(cluster) > 1)


def count_newest(text: str) -> int:
    """How many grapheme clusters `text` has by the newest Unicode (the `regex` module's)."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(_CLUSTER.findall(text))


@lru_cache(maxsize=4096)
def _joins(char: str) -> bool:
    """Whether this code point can join a cluster; cached, as a text repeats its alphabet."""
    return _JOINER.match(char) is not None


@lru_cache(maxsize=4096)
def _cuts(cluster: str, version: Version) -> int:
    """How many more times `version` cuts a cluster that `regex` keeps whole."""
    cuts = 0
    linked = False  # the version's GB9c state: a consonant, then extend/linker, a linker seen
    after_consonant = False
    previous = ""
    for index, char in enumerate(cluster):
        if index and _unassigned(char, version):
            cuts += 1  # a base of its own for that version
            after_consonant = linked = False
        elif index and _CONSONANT.match(char) and not _PREPEND.match(previous):
            # `regex` joined it by GB9c (a consonant is GCB=Other: nothing else joins it here)
            if not (linked and _gb9c(char, version)):
                cuts += 1
            after_consonant, linked = _gb9c(char, version), False
        elif index == 0 and _gb9c(char, version):
            after_consonant = True
        elif after_consonant and _gb9c(char, version, _LINKER):
            linked = True
        elif not (after_consonant and _EXTEND.match(char)):
            after_consonant = linked = False
        previous = char
    return cuts


@lru_cache(maxsize=4096)
def _unassigned(char: str, version: Version) -> bool:
    """Whether `version` has not assigned this character, which `regex` treats as joining."""
    if _PICTOGRAPH.match(char):
        return False  # unassigned pictographic code points are reserved as emoji in every version
    if unicodedata2.category(char) == "Cn":
        return True
    return version == "15.0" and _ADDED_AFTER_15_0.match(char) is not None


def _gb9c(char: str, version: Version, kind: regex.Pattern[str] = _CONSONANT) -> bool:
    """Whether `char` is a GB9c consonant (or, with kind=_LINKER, a linker) in `version`."""
    if version == "15.0" or kind.match(char) is None:
        return False
    return _GB9C_SCRIPTS_16.match(char) is not None and not _unassigned(char, version)
