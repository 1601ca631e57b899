"""Which message reaches which audience in which language: the completeness matrix.

A route is one way a message reaches an audience: one of the audience's locales on one of its
channels. The plan records, for every route, how its template was resolved (a file in that
language, a fallback to another language, or nothing at all) and what became of its posts.
A cell of the matrix is one message, audience and locale, over every channel carrying it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How a route's template was found, from best to worst."""

    PRESENT = "present"  # a template written in the audience's language
    FALLBACK = "fallback"  # only one in another language: the audience reads that one
    MISSING = "missing"  # no template at all: the route has no posts

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.PRESENT: 0, Status.FALLBACK: 1, Status.MISSING: 2}


@dataclass(frozen=True)
class Route:
    """One message on its way to one audience, in one locale, on one channel."""

    message: str
    audience: str
    locale: str  # the language the audience asked for
    channel: str
    platform: str
    status: Status
    template: str | None  # the file, relative to the template root; None when missing
    written_in: str | None  # the template's language; differs from `locale` after a fallback
    posts: int = 0  # rendered
    failed: int = 0  # could not be rendered (a template error)
    refused: int = 0  # rendered, but breaking the platform's rules (too long, ...)

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "audience": self.audience,
            "locale": self.locale,
            "channel": self.channel,
            "platform": self.platform,
            "status": str(self.status),
            "template": self.template,
            "written_in": self.written_in,
            "posts": self.posts,
            "failed": self.failed,
            "refused": self.refused,
        }


@dataclass(frozen=True)
class Cell:
    """One message, audience and locale, summed over the channels that carry that locale."""

    message: str
    audience: str
    locale: str
    routes: tuple[Route, ...]

    @property
    def status(self) -> Status:
        """The worst status of its channels: one channel without the language is a gap."""
        return max((r.status for r in self.routes), key=lambda s: s.rank)

    @property
    def reached(self) -> bool:
        """Whether at least one channel carries the message written in this language."""
        return any(r.status is Status.PRESENT for r in self.routes)

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """The languages read instead of this one, on the channels that fall back."""
        used = {r.written_in for r in self.routes if r.status is Status.FALLBACK}
        return tuple(sorted(language for language in used if language is not None))

    @property
    def posts(self) -> int:
        return sum(r.posts for r in self.routes)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.routes)

    @property
    def refused(self) -> int:
        return sum(r.refused for r in self.routes)

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "audience": self.audience,
            "locale": self.locale,
            "status": str(self.status),
            "fallbacks": list(self.fallbacks),
            "posts": self.posts,
            "failed": self.failed,
            "refused": self.refused,
            "channels": [
                {key: value for key, value in r.to_json().items() if key not in _CELL_KEYS}
                for r in self.routes
            ],
        }


_CELL_KEYS = frozenset({"message", "audience", "locale"})


@dataclass(frozen=True)
class Gap:
    """The languages of an audience in which it will not read a message."""

    message: str
    audience: str
    locales: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "audience": self.audience, "locales": list(self.locales)}


def cells(routes: Iterable[Route]) -> list[Cell]:
    """The matrix's cells, in the order the routes first name them."""
    grouped: dict[tuple[str, str, str], list[Route]] = {}
    for route in routes:
        grouped.setdefault((route.message, route.audience, route.locale), []).append(route)
    return [Cell(*key, routes=tuple(members)) for key, members in grouped.items()]


def gaps(matrix: Sequence[Cell]) -> list[Gap]:
    """Per message and audience, the locales no channel carries written in that language."""
    missing: dict[tuple[str, str], list[str]] = {}
    for cell in matrix:
        if not cell.reached:
            missing.setdefault((cell.message, cell.audience), []).append(cell.locale)
    return [Gap(message, audience, tuple(ls)) for (message, audience), ls in missing.items()]
