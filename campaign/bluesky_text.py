"""How Bluesky shows a text: its links, hashtags and mentions (facets), and long links shortened.

Bluesky stores a post's text as written plus facets: ranges of the text in UTF-8 bytes, each
with what it means (a link's URI, a hashtag, the DID of a mentioned account). Nothing is a link
unless a facet says so. What is detected follows the official client (@atproto/api
`RichText.detectFacets`):

    mention   `@handle` at the start, after whitespace or "(": letters, digits, dots and
              hyphens ending in a known top-level domain (or `.test`). It becomes a facet only
              once the handle resolves to a DID, which needs the network (the Bluesky client
              does it); a handle that does not resolve stays plain text.
    link      `http://` or `https://` and what follows up to whitespace, or a bare domain with a
              known top-level domain (linked as https://), at the start, after whitespace or
              "("; a final `.,;:!?` is left out, and a final ")" when the link has no "(".
    hashtag   `#` or `＃` at the start or after whitespace, then a tag that is more than digits
              and punctuation; final punctuation is left out; at most 64 UTF-16 units.

A text over Bluesky's limits may show its links shortened as the Bluesky app shows them
(`example.org/a-long-pat...`), each facet keeping the full URI: `as_posted` decides, and a
length rule that counts "as shown" counts the text it returns. This module is pure (no
network), so that the campaign's rules and preview can use it as well as the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

import regex

from campaign.counting import tlds

Kind = Literal["link", "tag", "mention"]

# JavaScript's \s (what the official client's patterns mean by whitespace).
_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# \b in JavaScript is ASCII: so is it here (re.ASCII), with whitespace spelled out above.
_MENTION = re.compile(rf"(?:^|(?<=[{_SPACE}(]))@([a-zA-Z0-9.-]+)\b", re.ASCII)
_LINK = re.compile(
    rf"(?:^|(?<=[{_SPACE}(]))"
    rf"(https?://[^{_SPACE}]+|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)[^{_SPACE}]*)",
    re.IGNORECASE | re.MULTILINE,
)
_INVISIBLE = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_TAG = regex.compile(
    rf"(?:^|(?<=[{_SPACE}]))[#＃]"
    rf"((?!\ufe0f)[^{_SPACE}{_INVISIBLE}]*[^0-9{_SPACE}\p{{P}}{_INVISIBLE}]+[^{_SPACE}{_INVISIBLE}]*)"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
_MAX_TAG_UNITS = 64
# The top-level domains a bare domain or a handle may end in (the official client checks the
# IANA list; twitter-text's, which we carry, is the same list).
_TLDS = frozenset(tlds.GENERIC) | frozenset(tlds.COUNTRY)
_SHORT_PATH = 15  # the app shortens a link whose path, query and fragment are longer
_KEPT_PATH = 13
# What a WHATWG URL leaves unencoded besides letters, digits and "_.-~" (its percent-encode
# sets for a path, a special scheme's query, and a fragment).
_PATH_SAFE = "!$&'()*+,/:;=@%[]|^\\"
_QUERY_SAFE = "!$&()*+,/:;=?@%[]|^\\`{}"
_FRAGMENT_SAFE = "!$&'()*+,/:;=?@%[]|^\\#{}"


@dataclass(frozen=True)
class Facet:
    """A range of the text, in UTF-8 bytes, and what it means."""

    start: int
    end: int
    kind: Kind
    value: str  # the full URI; the tag without "#"; the handle without "@"


@dataclass(frozen=True)
class RichText:
    """A text as it is posted, with its facets (mentions not yet resolved to DIDs)."""

    text: str
    facets: tuple[Facet, ...]


@dataclass(frozen=True)
class _Span:
    start: int  # code points
    end: int
    kind: Kind
    value: str


def detect(text: str) -> RichText:
    """`text` with every mention, link and hashtag the Bluesky app would find in it."""
    return _rich(text, _spans(text))


def as_posted(text: str, fits: Callable[[str], bool]) -> RichText:
    """The text to post: `text` itself when `fits` says so; else with its http(s) links shown
    shortened as the Bluesky app shows them, the facets keeping the full URIs."""
    spans = _spans(text)
    if fits(text) or not any(span.kind == "link" for span in spans):
        return _rich(text, spans)
    pieces: list[str] = []
    shifted: list[_Span] = []
    cursor = shift = 0
    for span in spans:
        shown = text[span.start : span.end]
        if span.kind == "link":
            shown = short_url(shown)
        pieces += [text[cursor : span.start], shown]
        start = span.start + shift
        shifted.append(_Span(start, start + len(shown), span.kind, span.value))
        shift += len(shown) - (span.end - span.start)
        cursor = span.end
    pieces.append(text[cursor:])
    return _rich("".join(pieces), shifted)


def short_url(url: str) -> str:
    """A link as the Bluesky app shows it: host and path, the path cut to 13 characters and
    "..." when longer than 15; anything but an http(s) URL unchanged.

    Like the app (a WHATWG URL), the host is lower case and in punycode, a default port is
    left out, and the path, query and fragment are percent-encoded.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return url
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    path = "" if parts.path in ("", "/") else quote(parts.path, safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    if parts.fragment:
        path += "#" + quote(parts.fragment, safe=_FRAGMENT_SAFE)
    if len(path) > _SHORT_PATH:
        return f"{host}{path[:_KEPT_PATH]}..."
    return host + path


def _spans(text: str) -> list[_Span]:
    spans: list[_Span] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1)
        if _known_domain(handle) or handle.lower().endswith(".test"):
            spans.append(_Span(match.start(), match.end(), "mention", handle))
    for match in _LINK.finditer(text):
        shown = match.group(1)
        start, end = match.start(1), match.end(1)
        if shown.startswith("http"):
            uri = shown
        else:
            domain = match.group("domain")
            if not domain or not _known_domain(domain):
                continue
            uri = f"https://{shown}"
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        spans.append(_Span(start, end, "link", uri))
    for found in _TAG.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", found.group(1).strip())
        if not tag or len(tag.encode("utf-16-le")) // 2 > _MAX_TAG_UNITS:
            continue
        start = found.start()
        spans.append(_Span(start, start + 1 + len(tag), "tag", tag))
    return sorted(spans, key=lambda span: span.start)


def _rich(text: str, spans: list[_Span]) -> RichText:
    """Spans in code points as facets in UTF-8 bytes."""
    facets = []
    for span in spans:
        start = len(text[: span.start].encode("utf-8"))
        end = start + len(text[span.start : span.end].encode("utf-8"))
        facets.append(Facet(start, end, span.kind, span.value))
    return RichText(text, tuple(facets))


def _known_domain(name: str) -> bool:
    """Whether `name` ends in a top-level domain that exists (the app's test for a handle or
    a bare domain)."""
    head, dot, tld = name.lower().rpartition(".")
    return bool(head and dot) and tld in _TLDS
