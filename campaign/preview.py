"""What a plan will post, as a terminal timeline or JSON. Nothing here sends or stores anything."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby

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
    return (
        f"{title}: {count((p.id for p in posts), 'post')} from {first} to {last}, "
        f"{count((p.audience for p in posts), 'audience')}, "
        f"{count((p.locale for p in posts), 'locale')}, "
        f"{count((p.channel for p in posts), 'channel')}, "
        f"{count((p.platform for p in posts), 'platform')}"
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
                f"{post.channel:<{channel_width}}  {post.length:>5}/{limit:<5}  "
            )
            lines.append(prefix + printable(_first_line(post.text, max(width - len(prefix), 20))))
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
