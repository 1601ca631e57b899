"""The filters campaign templates add to Jinja's: `utm` (tag a link) and `hashtags`.

Both are called for most posts, so their costly part is cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2

from campaign.bounds import Refused


@dataclass(frozen=True)
class UtmDefaults:
    """A campaign's UTM parameters; without `source`, each post's platform is its source."""

    source: str | None
    medium: str
    campaign: str


def utm_filter(defaults: UtmDefaults) -> Callable[..., str]:
    """The `utm` filter: tag a link with UTM parameters for this post; parameters already in the
    link are kept."""

    @jinja2.pass_context
    def utm(context: jinja2.runtime.Context, url: Any) -> str:
        if not isinstance(url, str):
            raise Refused("|utm tags a link: give it the text of a URL, e.g. {{ link | utm }}")
        return _tag_link(
            url,
            defaults.source or context["platform"],
            defaults.medium,
            defaults.campaign,
            f"{context['audience']['name']}-{context['locale']}",
        )

    return utm


@lru_cache(maxsize=4096)
def _tag_link(url: str, source: str, medium: str, campaign: str, content: str) -> str:
    # A campaign tags a handful of links thousands of times; URL parsing is the costly part.
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    tags = (
        ("utm_source", source),
        ("utm_medium", medium),
        ("utm_campaign", campaign),
        ("utm_content", content),
    )
    for key, value in tags:
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def hashtags(tags: Sequence[str] | str) -> str:
    """`["SafeMigration", "#GCM"]` -> `"#SafeMigration #GCM"` (spaces inside a tag are dropped)."""
    try:
        return _joined_hashtags((tags,) if isinstance(tags, str) else tuple(tags))
    except TypeError:  # not a list of words (unhashable, or not iterable at all)
        raise Refused(_NOT_WORDS) from None


@lru_cache(maxsize=1024)
def _joined_hashtags(tags: tuple[str, ...]) -> str:
    if not all(isinstance(tag, str | int) for tag in tags):
        raise Refused(_NOT_WORDS)  # a function would be written as its memory address
    return " ".join("#" + "".join(str(tag).lstrip("#").split()) for tag in tags if tag)


_NOT_WORDS = "|hashtags joins words: give it a list of words, e.g. [SafeMigration]"
