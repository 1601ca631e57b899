"""A concrete post: one rendered text, for one channel, at one instant. The unit of the plan."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple


def post_id(
    campaign: str, message: str, audience: str, locale: str, channel: str, scheduled_at: datetime
) -> str:
    """A deterministic id: the same campaign file always yields the same ids."""
    key = "\x1f".join((campaign, message, audience, locale, channel, utc_iso(scheduled_at)))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@lru_cache(maxsize=4096)  # every post of one time slot shares its instant
def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the one way instants are written out."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Post(NamedTuple):
    """One post of the plan. `scheduled_at` is UTC; `local_time` is the audience's wall clock.

    Immutable. A named tuple rather than a frozen dataclass: a plan makes one per post, and a
    frozen dataclass takes eight times as long to build (every field set through
    `object.__setattr__`), a tenth of the whole preview's time.
    """

    id: str
    campaign: str
    message: str
    audience: str
    locale: str
    channel: str
    platform: str
    scheduled_at: datetime
    local_time: datetime
    timezone: str
    text: str
    length: int
    limit: int | None
    warnings: tuple[str, ...] = ()
    template: str = ""  # the file that produced the text, relative to the template root
    errors: tuple[str, ...] = ()  # rules of its platform it breaks: it would be refused

    def to_json(self) -> dict[str, Any]:
        """The preview's JSON object (the documented fields, in a stable order)."""
        return {
            "id": self.id,
            "campaign": self.campaign,
            "message": self.message,
            "audience": self.audience,
            "locale": self.locale,
            "channel": self.channel,
            "platform": self.platform,
            "scheduled_at": utc_iso(self.scheduled_at),
            "local_time": self.local_time.isoformat(),
            "timezone": self.timezone,
            "text": self.text,
            "length": self.length,
            "limit": self.limit,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "template": self.template,
        }
