"""The embedded store's tables, and the row helpers its transactions share.

Tables: campaigns, channels, pauses, posts (the ledger, one row per post, its text included),
events (every state change), buckets (rate limits), credentials, and for applies in steps
holds (a campaign held by an apply, a cancel or a restore) and staged (an apply's chunks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any

from campaign.definition import Channel
from campaign.errors import StoreError
from workers import transitions
from workers.store.records import (
    Conflict,
    Scope,
    State,
    StoredPost,
    instant,
    moment,
)
from workers.store.staging import Chunk, version_of
from workers.transitions import Row

SCHEMA_VERSION = 2
# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 10_000
# How often `wait` looks for another process's changes.
POLL_SECONDS = 0.02
EVERYWHERE = "*"  # the campaign name of a pause of every campaign

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    slug TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    max_lateness REAL NOT NULL,
    launched_at REAL NOT NULL,
    zones TEXT NOT NULL DEFAULT '{}',
    cancelled TEXT
);
CREATE TABLE IF NOT EXISTS channels (
    campaign TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    bucket TEXT,
    capacity INTEGER NOT NULL DEFAULT 0,
    per_seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, name)
);
CREATE TABLE IF NOT EXISTS pauses (
    campaign TEXT NOT NULL,
    audience TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    locale TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (campaign, audience, channel, locale)
);
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    message TEXT NOT NULL,
    audience TEXT NOT NULL,
    channel TEXT NOT NULL,
    locale TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    scheduled_at REAL NOT NULL,
    retried_at REAL,
    due REAL NOT NULL,
    deadline REAL,
    lease_until REAL,
    attempt INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0,
    first_try REAL,
    maybe_sent INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_kind TEXT,
    remote_id TEXT,
    url TEXT,
    sent_at REAL,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS posts_due ON posts (due) WHERE state = 'scheduled';
CREATE INDEX IF NOT EXISTS posts_deadline ON posts (deadline) WHERE state IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS posts_campaign ON posts (campaign, scheduled_at, id);
CREATE INDEX IF NOT EXISTS posts_state ON posts (campaign, state, scheduled_at, id);
CREATE INDEX IF NOT EXISTS posts_problems ON posts (campaign, scheduled_at)
    WHERE state IN ('failed', 'unknown', 'missed');
CREATE INDEX IF NOT EXISTS posts_sent ON posts (campaign, sent_at) WHERE state = 'sent';
CREATE TABLE IF NOT EXISTS events (
    post_id TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_post ON events (post_id, at);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    account TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS holds (
    campaign TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    state TEXT NOT NULL,  -- staging, committed (an apply), cancel, restore
    expires REAL NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    staged INTEGER NOT NULL DEFAULT 0,
    applied INTEGER NOT NULL DEFAULT 0,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS staged (
    hold TEXT NOT NULL,
    number INTEGER NOT NULL,
    chunk TEXT NOT NULL,
    PRIMARY KEY (hold, number)
);
"""

# The columns a transition reads and writes: exactly the fields of transitions.Row.
ROW = tuple(f.name for f in fields(Row))
ROW_SELECT = ", ".join(ROW)
ROW_UPDATE = ", ".join(f"{name} = ?" for name in ROW if name != "state") + ", state = ?"
POST_COLUMNS = (
    "id, campaign, message, audience, channel, locale, scheduled_at, state, tries, "
    "updated_at, sent_at, remote_id, url, error, due, maybe_sent, error_kind"
)


class Facts:
    """What decisions need besides the row, read once per transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lateness: dict[str, float] = {}
        self._pauses: dict[str, list[Scope]] = {}
        self._routes: dict[tuple[str, str], tuple[str, str | None, int, float, str] | None] = {}

    def lateness(self, campaign: str) -> float:
        if campaign not in self._lateness:
            found = self._db.execute(
                "SELECT max_lateness FROM campaigns WHERE slug = ?", (campaign,)
            ).fetchone()
            self._lateness[campaign] = found[0] if found else 0.0
        return self._lateness[campaign]

    def paused(self, campaign: str, audience: str, channel: str, locale: str) -> bool:
        if campaign not in self._pauses:
            rows = self._db.execute(
                "SELECT audience, channel, locale FROM pauses WHERE campaign IN (?, ?)",
                (campaign, EVERYWHERE),
            ).fetchall()
            self._pauses[campaign] = [scope_of(row) for row in rows]
        return transitions.is_paused(
            self._pauses[campaign], audience=audience, channel=channel, locale=locale
        )

    def audience_locale(self, post_id: str) -> tuple[str, str]:
        found = self._db.execute(
            "SELECT audience, locale FROM posts WHERE id = ?", (post_id,)
        ).fetchone()
        return (found[0], found[1]) if found else ("", "")

    def route(self, campaign: str, channel: str) -> tuple[str, str | None, int, float, str] | None:
        """platform, bucket, capacity, per seconds, version of the settings; None: no channel."""
        key = (campaign, channel)
        if key not in self._routes:
            found = self._db.execute(
                "SELECT settings, bucket, capacity, per_seconds FROM channels "
                "WHERE campaign = ? AND name = ?",
                key,
            ).fetchone()
            if found is None:
                self._routes[key] = None
            else:
                platform = Channel.model_validate_json(found[0]).platform
                self._routes[key] = (platform, found[1], found[2], found[3], version_of(found[0]))
        return self._routes[key]


# --- rows ---------------------------------------------------------------------------------------


def read_row(db: sqlite3.Connection, post_id: str) -> tuple[Row, str, str] | None:
    found = db.execute(
        f"SELECT {ROW_SELECT}, campaign, channel FROM posts WHERE id = ?", (post_id,)
    ).fetchone()
    if found is None:
        return None
    values = dict(zip(ROW, found[: len(ROW)], strict=True))
    values["state"] = State(values["state"])
    values["maybe_sent"] = bool(values["maybe_sent"])
    return Row(**values), found[-2], found[-1]


def update_row(db: sqlite3.Connection, post_id: str, old: Row, new: Row) -> None:
    """Write `new` over `old`, conditionally: inside BEGIN IMMEDIATE the condition always holds,
    and it stays true to the invariant if this code is ever called outside one."""
    values = [getattr(new, name) for name in ROW if name != "state"]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    cursor = db.execute(
        f"UPDATE posts SET {ROW_UPDATE} WHERE id = ? AND state = ? AND attempt = ?",
        (*values, str(new.state), post_id, str(old.state), old.attempt),
    )
    if cursor.rowcount != 1:
        raise StoreError(f"post {post_id} changed while it was being moved; try again")


EventRow = tuple[str, float, State, int, str | None]  # post id, when, new state, attempt, detail


def log_events(db: sqlite3.Connection, events: Iterable[EventRow]) -> None:
    """Append state changes to the posts' histories."""
    db.executemany(
        "INSERT INTO events (post_id, at, state, attempt, detail) VALUES (?, ?, ?, ?, ?)",
        [(post_id, at, str(state), n, detail) for post_id, at, state, n, detail in events],
    )


def conflict_in(db: sqlite3.Connection, chunk: Chunk) -> Conflict | None:
    """The first post of `chunk` not in the state the plan change expects."""
    checks = (
        ([row[0] for row in chunk["add"]], transitions.can_add),
        ([row[0] for row in chunk["change"]], transitions.can_change),
        (chunk["cancel"], transitions.can_cancel),
    )
    for post_ids, allowed in checks:
        for post_id in post_ids:
            found = db.execute("SELECT state FROM posts WHERE id = ?", (post_id,)).fetchone()
            state = State(found[0]) if found else None
            if not allowed(state):
                return Conflict(post_id, str(state) if state else "absent")
    return None


def take_token(
    db: sqlite3.Connection, bucket: str, capacity: int, per_seconds: float, now: float
) -> float:
    """The token bucket of workers/store/lua/bucket.lua, in one transaction."""
    rate = capacity / per_seconds
    found = db.execute("SELECT tokens, updated FROM buckets WHERE name = ?", (bucket,)).fetchone()
    tokens, updated = found if found else (float(capacity), now)
    tokens = min(float(capacity), tokens + max(0.0, now - updated) * rate)
    wait = 0.0
    if tokens >= 1:
        tokens -= 1
    else:
        wait = (1 - tokens) / rate
    db.execute(
        "INSERT INTO buckets VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET tokens = excluded.tokens, updated = excluded.updated",
        (bucket, tokens, now),
    )
    return wait


def require_campaign(db: sqlite3.Connection, campaign: str) -> None:
    if db.execute("SELECT 1 FROM campaigns WHERE slug = ?", (campaign,)).fetchone() is None:
        raise StoreError(f"no campaign {campaign!r} is stored (apply its file first)")


def scope_of(row: Sequence[str]) -> Scope:
    audience, channel, locale = row
    return Scope(audience or None, channel or None, locale or None)


def scope_key(scope: Scope) -> tuple[str, str, str]:
    return (scope.audience or "", scope.channel or "", scope.locale or "")


def scoped(sql: str, args: list[Any], scope: Scope | None) -> tuple[str, list[Any]]:
    if scope is None:
        return sql, args
    for column, value in (
        ("audience", scope.audience),
        ("channel", scope.channel),
        ("locale", scope.locale),
    ):
        if value is not None:
            sql += f" AND {column} = ?"
            args = [*args, value]
    return sql, args


def stored(row: Sequence[Any]) -> StoredPost:
    """A StoredPost from the POST_COLUMNS of a row (and its text, when selected after them)."""
    (
        post_id, campaign, message, audience, channel, locale, scheduled_at, state, tries,
        updated_at, sent_at, remote_id, url, error, due, maybe_sent, error_kind,
    ) = row[:17]  # fmt: skip
    scheduled = instant(scheduled_at)
    return StoredPost(
        id=post_id,
        campaign=campaign,
        message=message,
        audience=audience,
        channel=channel,
        locale=locale,
        scheduled_at=scheduled,
        state=State(state),
        attempts=tries,
        updated_at=moment(updated_at),
        sent_at=moment(sent_at),
        remote_id=remote_id,
        url=url,
        error=error,
        due=moment(due) if state == State.SCHEDULED else None,
        maybe_sent=bool(maybe_sent),
        error_kind=error_kind,
        text=row[17] if len(row) > 17 else None,
    )


def in_chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
