"""What a plan will post, as a terminal timeline, a language matrix, or JSON. Sends nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any

from campaign.coverage import Cell, Route, Status, cells, gaps
from campaign.post import Post
from campaign.terminal import printable


@dataclass(frozen=True)
class Selection:
    """Which posts to show; an empty criterion selects everything."""

    audiences: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    locales: frozenset[str] = frozenset()
    first_day: date | None = None  # inclusive, in each post's local date
    last_day: date | None = None  # inclusive

    def __call__(self, post: Post) -> bool:
        day = post.local_time.date()
        return (
            (not self.audiences or post.audience in self.audiences)
            and (not self.channels or post.channel in self.channels)
            and (not self.locales or post.locale in self.locales)
            and (self.first_day is None or day >= self.first_day)
            and (self.last_day is None or day <= self.last_day)
        )

    def takes(self, route: Route) -> bool:
        """Whether a route is selected (dates do not apply: a route spans the campaign)."""
        return (
            (not self.audiences or route.audience in self.audiences)
            and (not self.channels or route.channel in self.channels)
            and (not self.locales or route.locale in self.locales)
        )


def select(posts: Iterable[Post], selection: Selection) -> list[Post]:
    return [post for post in posts if selection(post)]


def as_json(posts: Sequence[Post]) -> str:
    """The preview as a JSON list of post objects (documented fields; stable order)."""
    return json.dumps([post.to_json() for post in posts], ensure_ascii=False, indent=2) + "\n"


def summary(title: str, posts: Sequence[Post]) -> str:
    """One line: how much the selection holds."""

    def count(values: Iterable[str], noun: str) -> str:
        number = len(set(values))
        return f"{number} {noun}{'' if number == 1 else 's'}"

    if not posts:
        return f"{title}: no posts match"
    first = min(p.local_time for p in posts).date()
    last = max(p.local_time for p in posts).date()
    refused = sum(1 for p in posts if p.errors)
    return (
        f"{title}: {count((p.id for p in posts), 'post')} from {first} to {last}, "
        f"{count((p.audience for p in posts), 'audience')}, "
        f"{count((p.locale for p in posts), 'locale')}, "
        f"{count((p.channel for p in posts), 'channel')}, "
        f"{count((p.platform for p in posts), 'platform')}"
        + (f"; {refused} would be refused (✗)" if refused else "")
    )


def as_table(title: str, posts: Sequence[Post], *, width: int = 120) -> str:
    """A timeline grouped by local day: time, audience, locale, channel, length/limit, text."""
    lines = [printable(summary(title, posts))]
    if not posts:
        return lines[0] + "\n"
    audience_width = max(len(p.audience) for p in posts)
    channel_width = max(len(p.channel) for p in posts)
    locale_width = max(len(p.locale) for p in posts)
    ordered = sorted(
        posts, key=lambda p: (p.local_time.date(), p.scheduled_at, p.audience, p.channel, p.locale)
    )
    for day, day_posts in groupby(ordered, key=lambda p: p.local_time.date()):
        lines.append("")
        lines.append(f"{day:%a %d %b %Y}")
        for post in day_posts:
            limit = "∞" if post.limit is None else str(post.limit)
            prefix = (
                f"  {_clock(post)} {_offset(post)}  "
                f"{post.audience:<{audience_width}}  {post.locale:<{locale_width}}  "
                f"{post.channel:<{channel_width}}  {post.length:>5}/{limit:<5} "
                f"{'✗' if post.errors else ' '} "
            )
            lines.append(prefix + printable(_first_line(post.text, max(width - len(prefix), 20))))
            lines.extend(f"      ✗ {printable(error)}" for error in post.errors)
            lines.extend(f"      ! {printable(warning)}" for warning in post.warnings)
    return "\n".join(lines) + "\n"


def _clock(post: Post) -> str:
    """HH:MM, with seconds only when a schedule named them."""
    return post.local_time.strftime("%H:%M:%S" if post.local_time.second else "%H:%M")


def _offset(post: Post) -> str:
    offset = post.local_time.strftime("%z")  # "+0600"
    return f"{offset[:3]}:{offset[3:]}" if offset else "     "


def _first_line(text: str, room: int) -> str:
    first, _, rest = text.partition("\n")
    more = bool(rest.strip())
    if len(first) > room:
        return first[: room - 1] + "…"
    return first + (" …" if more and len(first) + 2 <= room else "")


_MARK = {Status.PRESENT: "✓", Status.MISSING: "✗"}
MATRIX_LEGEND = "✓ own language   →xx falls back to xx   ✗ missing   ! posts failed or refused"


def matrix_json(campaign: str, title: str, routes: Sequence[Route]) -> str:
    """The completeness matrix as JSON: its cells (each with its channels) and its gaps."""
    matrix = cells(routes)
    document: dict[str, Any] = {
        "campaign": campaign,
        "title": title,
        "locales": _locales(routes),
        "cells": [cell.to_json() for cell in matrix],
        "gaps": [gap.to_json() for gap in gaps(matrix)],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def matrix_table(title: str, routes: Sequence[Route]) -> str:
    """Message x audience rows, one column per locale, then what each cell's marks mean."""
    matrix = cells(routes)
    if not matrix:
        return f"{title}: no routes match\n"
    locales = _locales(routes)
    by_row: dict[tuple[str, str], dict[str, Cell]] = {}
    for cell in matrix:
        by_row.setdefault((cell.message, cell.audience), {})[cell.locale] = cell
    missing = {(g.message, g.audience): g.locales for g in gaps(matrix)}
    messages = len({cell.message for cell in matrix})
    header = ["message", "audience", *locales, "not in its language"]
    rows = [header]
    previous = None
    for (message, audience), row in by_row.items():
        rows.append(
            [
                message if message != previous else "",
                audience,
                *(_mark(row[locale]) if locale in row else "" for locale in locales),
                ", ".join(missing.get((message, audience), ())) or "-",
            ]
        )
        previous = message
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        f"{title}: {messages} message{'s' * (messages != 1)} by audience and language",
        MATRIX_LEGEND,
        "",
    ]
    lines += ["  ".join(f"{text:<{widths[i]}}" for i, text in enumerate(r)).rstrip() for r in rows]
    notes = [note for cell in matrix for note in _notes(cell)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _locales(routes: Iterable[Route]) -> list[str]:
    """Every locale the routes ask for, in the order the campaign first names them."""
    return list(dict.fromkeys(route.locale for route in routes))


def _mark(cell: Cell) -> str:
    status = cell.status
    mark = "→" + ",".join(cell.fallbacks) if status is Status.FALLBACK else _MARK[status]
    if status is not Status.PRESENT and cell.reached:
        mark += "*"  # in its own language on some channels only
    return mark + ("!" if cell.failed or cell.refused else "")


def _notes(cell: Cell) -> list[str]:
    """One line per channel where the cell is not simply in its own language."""
    where = f"{cell.message} / {cell.audience} / {cell.locale}"
    notes = []
    for route in cell.routes:
        if route.status is Status.MISSING:
            notes.append(f"  ✗ {where} on {route.channel}: no template, so no posts")
        elif route.status is Status.FALLBACK:
            notes.append(
                f"  → {where} on {route.channel}: falls back to {route.written_in} "
                f"({route.template})" + ("; no posts" if not route.posts else "")
            )
        if route.failed:
            notes.append(f"  ! {where} on {route.channel}: {route.failed} failed to render")
        if route.refused:
            notes.append(
                f"  ! {where} on {route.channel}: {route.refused} over {route.platform}'s rules"
            )
    return notes
