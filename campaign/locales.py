"""Language codes a campaign may use: ISO 639-1, optionally with BCP 47 script/region subtags."""

from __future__ import annotations

import re

# ISO 639-1 two-letter codes (the set Mastodon and Bluesky accept as a post language).
# A word list reads better than 184 quoted strings.
ISO_639_1: frozenset[str] = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu
    hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb
    lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om
    or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
    ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
    """.split()  # noqa: SIM905
)

# language[-Script][-REGION], e.g. sr, sr-Latn, pt-BR, zh-Hant-TW.
_TAG = re.compile(r"(?P<language>[a-z]{2})(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|\d{3}))?")


def is_known_locale(code: str) -> bool:
    """True when `code` is an ISO 639-1 language, optionally with BCP 47 script and region."""
    match = _TAG.fullmatch(code)  # `$` would accept a trailing newline
    return match is not None and match.group("language") in ISO_639_1


def language_of(code: str) -> str:
    """The two-letter language of a locale (`sr-Latn` -> `sr`), as platforms expect it."""
    return code.split("-", 1)[0]
