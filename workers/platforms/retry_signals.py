"""When to try again: the retry signals platforms send with a 429 or a 5xx."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# A number above this in a reset header is an epoch time; below it, seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000
_ISO_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def retry_at_from(headers: Mapping[str, str], now: datetime | None = None) -> datetime | None:
    """When a platform says to try again, in UTC; None when it gives no usable signal.

    Reads `Retry-After` (seconds or an HTTP date), `X-RateLimit-Reset` and `RateLimit-Reset`
    (an ISO-8601 time as Mastodon sends it, epoch seconds, or seconds from now as in the IETF
    draft). With several signals, the latest wins; a time in the past becomes `now`.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    found: list[datetime] = []
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        found.extend(_parse_retry_after(retry_after, now))
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        value = lowered.get(name)
        if value:
            found.extend(_parse_reset(value, now))
    return max(max(found), now) if found else None


def _parse_retry_after(value: str, now: datetime) -> list[datetime]:
    if value.isdigit():
        return [now + timedelta(seconds=int(value))]
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return []
    return [_as_utc(moment)]


def _parse_reset(value: str, now: datetime) -> list[datetime]:
    if _ISO_LIKE.match(value):
        try:
            return [_as_utc(datetime.fromisoformat(value))]
        except ValueError:
            return []
    try:
        number = float(value)
    except ValueError:
        return []
    if number != number or number < 0:  # NaN or negative: no signal
        return []
    if number >= _EPOCH_THRESHOLD:
        return [datetime.fromtimestamp(number, UTC)]
    return [now + timedelta(seconds=number)]


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # an HTTP date or ISO time without zone is UTC by convention
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
