"""What the Redis store shares between its modules: the client, its errors, and the ledger row.

A post's ledger row is one field of a bucket hash, `P p:<first 2 characters of its id>`: what
never changes (campaign, message, audience, channel, locale, scheduled time) joined by SEP, then
RS and JSON with short keys for what does (lua/prelude.lua lists them), a NUL, and the exact
text. One value per post
holds its whole story (state, history, text), so a read is one HGET, and 256 bucket hashes
keep the overhead of a key per post away (a few bytes per post instead of about 90).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from campaign.errors import StoreError, StoreTimeout
from workers.store.records import Event, Scope, State, StoredPost, instant, moment

SEP = "\x1f"
RS = "\x1e"
BUCKET = 2  # characters of a post id that name its bucket (as lua/prelude.lua): 256 buckets
# Seconds to wait for an answer: every call touches a bounded number of keys.
CALL_TIMEOUT = 5.0


def client_for(url: str, timeout: float) -> redis.Redis:
    """A client with explicit timeouts and no automatic retries: a script that timed out may
    have run, so whether to send it again is the caller's decision, never the library's."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=timeout,
        health_check_interval=10,
        retry=RedisRetry(NoBackoff(), 0),
    )


def redact_url(url: str) -> str:
    """A Redis URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://[redacted]@{rest.rpartition('@')[2]}"


@contextmanager
def errors(what: str) -> Iterator[None]:
    """Wrap redis-py errors at the boundary, so callers only see StoreError."""
    try:
        yield
    except (redis.TimeoutError, redis.ConnectionError) as exc:
        if isinstance(exc, redis.TimeoutError) or "Error while reading" in str(exc):
            raise StoreTimeout(
                f"Redis did not answer while {what}; it may or may not have been done"
            ) from None
        raise StoreError(f"Redis failed while {what}: {exc}") from None
    except redis.RedisError as exc:
        raise StoreError(f"Redis failed while {what}: {exc}") from None


def as_str(value: Any) -> str:
    """A value the client decoded (decode_responses=True): always a str."""
    return value.decode() if isinstance(value, bytes) else str(value or "")


def as_strs(values: Any) -> list[str]:
    return [as_str(value) for value in values]


def bucket(prefix: str, post_id: str) -> str:
    """The hash that holds a post's row."""
    return f"{prefix}p:{post_id[:BUCKET]}"


_IDENTITY = ("c", "m", "a", "ch", "l", "at")


def encode_row(fields: dict[str, Any], text: str) -> str:
    """A row as the scripts write it, from the fields `decode_row` gives (for tests that set a
    row up by hand)."""
    changing = {key: value for key, value in fields.items() if key not in _IDENTITY}
    identity = SEP.join(str(fields[key]) for key in _IDENTITY)
    return (
        identity
        + RS
        + json.dumps(changing, ensure_ascii=False, separators=(",", ":"))
        + ("\x00" + text)
    )


def decode_row(raw: str) -> tuple[dict[str, Any], str]:
    """The fields (lua/prelude.lua names them) and the text of a stored row."""
    head, _, text = raw.partition("\x00")
    identity, _, changing = head.partition(RS)
    fields: dict[str, Any] = json.loads(changing)
    fields.update(zip(_IDENTITY, identity.split(SEP), strict=True))
    fields["at"] = float(fields["at"])
    return fields, text


def campaign_of(raw: str) -> str:
    """The campaign of a stored row, without decoding the rest."""
    return raw.partition(SEP)[0]


def stored(post_id: str, raw: str, *, with_text: bool = False) -> StoredPost:
    """A StoredPost from a stored row."""
    head, _, body = raw.partition("\x00")
    identity, _, changing = head.partition(RS)
    campaign, message, audience, channel, locale, at = identity.split(SEP)
    row: dict[str, Any] = json.loads(changing)
    state = State(row["s"])
    get = row.get
    return StoredPost(
        id=post_id,
        campaign=campaign,
        message=message,
        audience=audience,
        channel=channel,
        locale=locale,
        scheduled_at=instant(float(at)),
        state=state,
        attempts=get("tr", 0),
        updated_at=moment(get("ts")),
        sent_at=moment(get("se")),
        remote_id=get("ri"),
        url=get("url") or None,
        error=get("e"),
        due=instant(get("d", float(at))) if state is State.SCHEDULED else None,
        maybe_sent=get("u") == 1,
        error_kind=get("k") or None,
        text=body if with_text else None,
    )


def history(raw: str) -> list[Event]:
    row, _ = decode_row(raw)
    return [
        Event(
            instant(entry[0]), State(entry[1]), int(entry[2]), entry[3] if len(entry) > 3 else None
        )
        for entry in row.get("h", [])
    ]


def scope_key(scope: Scope) -> str:
    return SEP.join((scope.audience or "", scope.channel or "", scope.locale or ""))


def scope_of(value: str) -> Scope:
    audience, channel, locale = value.split(SEP)
    return Scope(audience or None, channel or None, locale or None)


def in_scope(post: StoredPost, scope: Scope | None) -> bool:
    return scope is None or (
        (scope.audience is None or scope.audience == post.audience)
        and (scope.channel is None or scope.channel == post.channel)
        and (scope.locale is None or scope.locale == post.locale)
    )
