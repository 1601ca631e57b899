"""The embedded store: one SQLite file, shared safely by the processes of one machine.

Each verb is one `BEGIN IMMEDIATE` transaction: it takes the write lock, reads the rows it
decides on, decides with `workers.transitions`, and writes conditionally (`WHERE state = ? AND
attempt = ?`), so no other process can move a post in between. The file is in WAL mode with
`synchronous=FULL`: a transaction that returned is on disk, even across a power cut, so a claim
is durable before its post is sent. Readers never block the writer.

Partial indexes on `due` (scheduled posts) and `deadline` (queued and sending posts) stand where
the Redis store has sorted sets. Other processes' changes are noticed by polling
`PRAGMA data_version`, which moves whenever another connection commits.

Each thread gets its own connection; a connection is never shared between threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from campaign.definition import Channel
from campaign.errors import StoreError
from workers import transitions
from workers.store import ResendPolicy
from workers.store.records import (
    NEVER_RESEND,
    CampaignRecord,
    ChannelRoute,
    Claim,
    Conflict,
    Event,
    Finish,
    Moved,
    NewPost,
    Outcome,
    PlanChange,
    Scope,
    State,
    StoredPost,
    Verdict,
    Versioned,
    instant,
    moment,
)
from workers.transitions import HandOut, Row

SCHEMA_VERSION = 1
# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 10_000
# How often `wait` looks for another process's changes.
POLL_SECONDS = 0.02
EVERYWHERE = "*"  # the campaign name of a pause of every campaign

_SCHEMA = """
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
"""

# The columns a transition reads and writes: exactly the fields of transitions.Row.
_ROW = tuple(f.name for f in fields(Row))
_ROW_SELECT = ", ".join(_ROW)
_ROW_UPDATE = ", ".join(f"{name} = ?" for name in _ROW if name != "state") + ", state = ?"
_POST = (
    "id, campaign, message, audience, channel, locale, scheduled_at, state, tries, "
    "updated_at, sent_at, remote_id, url, error, due, maybe_sent, error_kind"
)


class SqliteStore:
    """The `Store` protocol on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._woken = threading.Event()

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        """Open (creating it and its folder if needed) the store file at `path`.

        Raises:
            StoreError: the file cannot be created, opened or is not ours.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {path.parent} ({exc.strerror}); set "
                "CAMPAIGN_DATA_DIR to a folder you can write"
            ) from None
        store = cls(path)
        store._migrate()
        return store

    def describe(self) -> str:
        return f"SQLite {self.path}"

    def claim_loss(self) -> str | None:
        return None  # synchronous=FULL: a committed claim is on disk

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    # --- connections and transactions --------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                # One connection per thread; check_same_thread=False only lets close() end
                # them all from whichever thread closes the store.
                connection = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store {self.path}: {exc}") from None
            self._local.connection = connection
            self._local.data_version = None
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: nobody else writes between our read and our write."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite failed while {what}: {exc}") from None
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"SQLite failed while {what}: {exc}") from None

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite failed while {what}: {exc}") from None

    def _read(self, what: str, sql: str, *args: Any) -> list[Any]:
        with self._errors(what):
            return self._db().execute(sql, args).fetchall()

    def _migrate(self) -> None:
        with self._errors("creating its tables"):
            db = self._db()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer version of this program (schema "
                    f"{version}); upgrade, or point CAMPAIGN_DATA_DIR elsewhere"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- catalog -----------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignRecord]:
        rows = self._read("listing campaigns", "SELECT slug FROM campaigns ORDER BY slug")
        found = (self.campaign(slug) for (slug,) in rows)
        return [record for record in found if record is not None]

    def campaign(self, slug: str) -> CampaignRecord | None:
        rows = self._read(
            "reading a campaign",
            "SELECT title, max_lateness, launched_at, zones, cancelled FROM campaigns "
            "WHERE slug = ?",
            slug,
        )
        if not rows:
            return None
        title, lateness, launched, zones, cancelled = rows[0]
        pauses = self._pauses(self._db(), slug)
        return CampaignRecord(
            slug, title, lateness, instant(launched), json.loads(zones), pauses, cancelled
        )

    def channels(self, campaign: str) -> dict[str, Channel]:
        rows = self._read(
            "reading channels",
            "SELECT name, settings FROM channels WHERE campaign = ? ORDER BY name",
            campaign,
        )
        return {name: Channel.model_validate_json(settings) for name, settings in rows}

    def route(self, campaign: str, channel: str) -> ChannelRoute | None:
        rows = self._read(
            "reading a channel",
            "SELECT settings, bucket, capacity, per_seconds FROM channels "
            "WHERE campaign = ? AND name = ?",
            campaign,
            channel,
        )
        if not rows:
            return None
        settings, bucket, capacity, per_seconds = rows[0]
        return ChannelRoute(Channel.model_validate_json(settings), bucket, capacity, per_seconds)

    def posts(
        self,
        campaign: str,
        *,
        states: Collection[State] | None = None,
        scope: Scope | None = None,
        limit: int | None = None,
    ) -> list[StoredPost]:
        sql = f"SELECT {_POST} FROM posts WHERE campaign = ?"
        args: list[Any] = [campaign]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(str(state) for state in states)
        sql, args = _scoped(sql, args, scope)
        sql += " ORDER BY scheduled_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_stored(row) for row in self._read("reading posts", sql, *args)]

    def post(self, post_id: str) -> StoredPost | None:
        rows = self._read("reading a post", f"SELECT {_POST} FROM posts WHERE id = ?", post_id)
        return _stored(rows[0]) if rows else None

    def texts(self, post_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(post_ids, 500):
            rows = self._read(
                "reading texts",
                f"SELECT id, text FROM posts WHERE id IN ({', '.join('?' * len(chunk))})",
                *chunk,
            )
            found.update(rows)
        return found

    def counts(self, campaign: str) -> dict[State, int]:
        rows = self._read(
            "counting posts",
            "SELECT state, count(*) FROM posts WHERE campaign = ? GROUP BY state",
            campaign,
        )
        found = {State(state): number for state, number in rows}
        return {state: found.get(state, 0) for state in State}

    def history(self, post_id: str) -> list[Event]:
        rows = self._read(
            "reading a post's history",
            "SELECT at, state, attempt, detail FROM events WHERE post_id = ? ORDER BY at, rowid",
            post_id,
        )
        return [Event(instant(at), State(state), n, detail) for at, state, n, detail in rows]

    # --- plans and people --------------------------------------------------------------------

    def apply(self, change: PlanChange, now: float) -> Conflict | None:
        with self._write("applying a plan") as db:
            conflict = _conflict(db, change)
            if conflict is not None:
                return conflict
            db.execute(
                "INSERT INTO campaigns (slug, title, max_lateness, launched_at, zones) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET title = excluded.title, "
                "max_lateness = excluded.max_lateness, zones = excluded.zones, cancelled = NULL",
                (
                    change.campaign,
                    change.title,
                    change.max_lateness,
                    change.launched_at,
                    json.dumps(change.zones),
                ),
            )
            if change.channels:
                db.execute("DELETE FROM channels WHERE campaign = ?", (change.campaign,))
                db.executemany(
                    "INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            change.campaign,
                            name,
                            route.settings.model_dump_json(exclude_none=True),
                            route.bucket,
                            route.capacity,
                            route.per_seconds,
                        )
                        for name, route in change.channels.items()
                    ],
                )
            fresh = [*change.add, *change.change]
            db.executemany("DELETE FROM events WHERE post_id = ?", [(p.id,) for p in change.add])
            db.executemany(
                "INSERT OR REPLACE INTO posts (id, campaign, message, audience, channel, locale, "
                "text, state, scheduled_at, due, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?, ?)",
                [_new_row(change.campaign, post, now) for post in fresh],
            )
            db.executemany(
                "UPDATE posts SET state = 'cancelled', deadline = NULL, error = ?, "
                "updated_at = ? WHERE id = ?",
                [(change.reason, now, post_id) for post_id in change.cancel],
            )
            _log(db, [(i, now, State.CANCELLED, 0, change.reason) for i in change.cancel])
        self.wake()
        return None

    def cancel(self, campaign: str, scope: Scope, reason: str, now: float) -> list[Moved]:
        with self._write("cancelling") as db:
            _require(db, campaign)
            sql, args = _scoped(
                "SELECT id, channel, attempt FROM posts WHERE campaign = ? "
                "AND state IN ('scheduled', 'queued')",
                [campaign],
                scope,
            )
            rows = db.execute(sql, args).fetchall()
            db.executemany(
                "UPDATE posts SET state = 'cancelled', deadline = NULL, error = ?, "
                "updated_at = ? WHERE id = ?",
                [(reason, now, post_id) for post_id, _, _ in rows],
            )
            _log(db, [(post_id, now, State.CANCELLED, n, reason) for post_id, _, n in rows])
            if scope.whole:
                db.execute("UPDATE campaigns SET cancelled = ? WHERE slug = ?", (reason, campaign))
        return [Moved(i, campaign, channel, State.CANCELLED, reason) for i, channel, _ in rows]

    def restore(self, campaign: str, scope: Scope, now: float) -> list[Moved]:
        moved: list[Moved] = []
        with self._write("restoring") as db:
            _require(db, campaign)
            sql, args = _scoped(
                "SELECT id FROM posts WHERE campaign = ? AND state = 'cancelled'", [campaign], scope
            )
            for (post_id,) in db.execute(sql, args).fetchall():
                found = _row(db, post_id)
                assert found is not None
                row, _, channel = found
                if not transitions.can_restore(row.state, row.scheduled_at, now):
                    continue
                _update(db, post_id, row, transitions.restored(row, now))
                reason = "restored by a person"
                _log(db, [(post_id, now, State.SCHEDULED, row.attempt, reason)])
                moved.append(Moved(post_id, campaign, channel, State.SCHEDULED, reason))
            if scope.whole:
                db.execute("UPDATE campaigns SET cancelled = NULL WHERE slug = ?", (campaign,))
        if moved:
            self.wake()
        return moved

    def pause(self, campaign: str | None, scope: Scope, now: float) -> None:
        with self._write("pausing") as db:
            if campaign is not None:
                _require(db, campaign)
            db.execute(
                "INSERT OR IGNORE INTO pauses VALUES (?, ?, ?, ?)",
                (campaign or EVERYWHERE, *_scope_key(scope)),
            )

    def resume(self, campaign: str | None, scope: Scope, now: float) -> bool:
        with self._write("resuming") as db:
            if campaign is not None:
                _require(db, campaign)
            lifted = db.execute(
                "DELETE FROM pauses WHERE campaign = ? AND audience = ? AND channel = ? "
                "AND locale = ?",
                (campaign or EVERYWHERE, *_scope_key(scope)),
            ).rowcount
        self.wake()
        return lifted > 0

    def paused_everywhere(self) -> bool:
        rows = self._read("reading pauses", "SELECT 1 FROM pauses WHERE campaign = ?", EVERYWHERE)
        return bool(rows)

    def retry(self, post_ids: Sequence[str], now: float, *, confirmed_not_out: bool) -> list[Moved]:
        moved: list[Moved] = []
        with self._write("retrying posts") as db:
            for post_id in post_ids:
                found = _row(db, post_id)
                if found is None:
                    continue
                row, campaign, channel = found
                if not transitions.can_retry(row.state, confirmed_not_out=confirmed_not_out):
                    continue
                _update(db, post_id, row, transitions.retried(row, now, due=now))
                reason = "retried by a person"
                _log(db, [(post_id, now, State.SCHEDULED, row.attempt, reason)])
                moved.append(Moved(post_id, campaign, channel, State.SCHEDULED, reason))
        if moved:
            self.wake()
        return moved

    # --- the scheduler ------------------------------------------------------------------------

    def hand_out_due(
        self, now: float, *, batch: int, requeue_after: float, hold: float
    ) -> list[Moved]:
        moved: list[Moved] = []
        with self._write("handing out due posts") as db:
            ids = db.execute(
                "SELECT id FROM posts WHERE state = 'scheduled' AND due <= ? ORDER BY due LIMIT ?",
                (now, batch),
            ).fetchall()
            facts = _Facts(db)
            for (post_id,) in ids:
                found = _row(db, post_id)
                if found is None:
                    continue
                row, campaign, channel = found
                audience, locale = facts.audience_locale(post_id)
                step = transitions.hand_out(
                    row,
                    now,
                    max_lateness=facts.lateness(campaign),
                    paused=facts.paused(campaign, audience, channel, locale),
                    hold=hold,
                    requeue_after=requeue_after,
                )
                if step.row is None:
                    continue
                _update(db, post_id, row, step.row)
                if step.verdict != HandOut.HOLD:
                    _log(db, [(post_id, now, step.row.state, row.attempt, step.row.error)])
                    reason = step.row.error if step.verdict == HandOut.MISS else None
                    moved.append(Moved(post_id, campaign, channel, step.row.state, reason))
        return moved

    def reclaim(self, now: float, *, batch: int, requeue_after: float) -> list[Moved]:
        moved: list[Moved] = []
        with self._write("reclaiming posts") as db:
            ids = db.execute(
                "SELECT id FROM posts WHERE state IN ('queued', 'sending') AND deadline <= ? "
                "ORDER BY deadline LIMIT ?",
                (now, batch),
            ).fetchall()
            for (post_id,) in ids:
                found = _row(db, post_id)
                if found is None:
                    continue
                row, campaign, channel = found
                step = transitions.reclaim(row, now, requeue_after=requeue_after)
                if step.row is not None:
                    _update(db, post_id, row, step.row)
                    moved.append(Moved(post_id, campaign, channel, row.state))
        return moved

    def next_wakeup(self) -> float | None:
        rows = self._read(
            "reading the schedule",
            "SELECT min(due) FROM posts WHERE state = 'scheduled' UNION ALL "
            "SELECT min(deadline) FROM posts WHERE state IN ('queued', 'sending')",
        )
        return min((t for (t,) in rows if t is not None), default=None)

    def wake(self) -> None:
        # Other processes see the commit through data_version; this one through the event.
        self._woken.set()

    def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        seen = self._data_version()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._woken.wait(min(POLL_SECONDS, left)):
                self._woken.clear()
                return
            if self._data_version() != seen:
                return

    def _data_version(self) -> int:
        rows = self._read("waiting", "PRAGMA data_version")
        return int(rows[0][0])

    # --- the workers ---------------------------------------------------------------------------

    def claim(
        self, post_id: str, now: float, *, owner: str, lease: float, resend: ResendPolicy
    ) -> Claim:
        with self._write("claiming a post") as db:
            found = _row(db, post_id)
            if found is None:
                return Claim(Verdict.SKIP, post_id, 0, state="absent")
            row, campaign, channel = found
            facts = _Facts(db)
            audience, locale = facts.audience_locale(post_id)
            route = facts.route(campaign, channel)
            platform = route[0] if route else ""
            step = transitions.claim(
                row,
                now,
                owner=owner,
                lease=lease,
                paused=facts.paused(campaign, audience, channel, locale),
                resend=resend.get(platform, NEVER_RESEND),
            )
            verdict = Verdict(step.verdict)
            new = step.row
            if new is None:
                if verdict is not Verdict.CLAIMED:
                    return Claim(verdict, post_id, row.attempt, state=str(row.state))
                new = row  # our own claim, asked again
            elif verdict in (Verdict.CLAIMED, Verdict.RESEND) and route and route[1] is not None:
                wait = _take(db, route[1], route[2], route[3], now)
                if wait > 0:
                    step = transitions.throttle(new, now, retry_at=now + wait)
                    assert step.row is not None
                    _update(db, post_id, row, step.row)
                    return Claim(
                        Verdict.THROTTLED, post_id, row.attempt, retry_at=now + wait,
                        campaign=campaign, channel=channel,
                    )  # fmt: skip
            if new is not row:
                _update(db, post_id, row, new)
                detail = new.error if verdict is Verdict.UNKNOWN else str(verdict)
                _log(db, [(post_id, now, new.state, new.attempt, detail)])
            if verdict not in (Verdict.CLAIMED, Verdict.RESEND):
                return Claim(
                    verdict, post_id, new.attempt, campaign=campaign, channel=channel,
                    state=str(new.state), reason=new.error,
                )  # fmt: skip
            text, scheduled_at = db.execute(
                "SELECT text, scheduled_at FROM posts WHERE id = ?", (post_id,)
            ).fetchone()
        return Claim(
            verdict,
            post_id,
            new.attempt,
            tries=new.tries,
            campaign=campaign,
            channel=channel,
            locale=locale,
            scheduled_at=moment(scheduled_at),
            text=text,
            maybe_sent=new.maybe_sent,
        )

    def finish(self, post_id: str, attempt: int, now: float, outcome: Outcome) -> Finish:
        with self._write("recording an outcome") as db:
            found = _row(db, post_id)
            row = found[0] if found else None
            step = transitions.finish(row, now, attempt=attempt, outcome=outcome)
            if step.verdict == "stale" or row is None:
                return Finish(recorded=False, state=row.state if row else None)
            if step.verdict == "repeated":
                return Finish(recorded=True, state=row.state, repeated=True, reason=row.error)
            assert step.row is not None
            _update(db, post_id, row, step.row)
            detail = step.row.url if step.row.state is State.SENT else step.row.error
            _log(db, [(post_id, now, step.row.state, attempt, detail)])
        return Finish(recorded=True, state=step.row.state, reason=step.row.error)

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        with self._write("rate limiting") as db:
            return _take(db, bucket, capacity, per_seconds, now)

    def credential(self, account: str) -> Versioned | None:
        rows = self._read(
            "reading a credential",
            "SELECT value, version FROM credentials WHERE account = ?",
            account,
        )
        return Versioned(*rows[0]) if rows else None

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        with self._write("storing a credential") as db:
            found = db.execute(
                "SELECT version FROM credentials WHERE account = ?", (account,)
            ).fetchone()
            current = found[0] if found else None
            if current != expected_version:
                return False
            db.execute(
                "INSERT INTO credentials VALUES (?, ?, ?) ON CONFLICT (account) DO UPDATE "
                "SET value = excluded.value, version = excluded.version",
                (account, value, (current or 0) + 1),
            )
        return True

    def _pauses(self, db: sqlite3.Connection, campaign: str) -> tuple[Scope, ...]:
        rows = db.execute(
            "SELECT audience, channel, locale FROM pauses WHERE campaign = ?", (campaign,)
        ).fetchall()
        return tuple(_scope(row) for row in rows)


class _Facts:
    """What decisions need besides the row, read once per transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lateness: dict[str, float] = {}
        self._pauses: dict[str, list[Scope]] = {}
        self._routes: dict[tuple[str, str], tuple[str, str | None, int, float] | None] = {}

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
            self._pauses[campaign] = [_scope(row) for row in rows]
        return transitions.is_paused(
            self._pauses[campaign], audience=audience, channel=channel, locale=locale
        )

    def audience_locale(self, post_id: str) -> tuple[str, str]:
        found = self._db.execute(
            "SELECT audience, locale FROM posts WHERE id = ?", (post_id,)
        ).fetchone()
        return (found[0], found[1]) if found else ("", "")

    def route(self, campaign: str, channel: str) -> tuple[str, str | None, int, float] | None:
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
                self._routes[key] = (platform, found[1], found[2], found[3])
        return self._routes[key]


# --- rows ---------------------------------------------------------------------------------------


def _row(db: sqlite3.Connection, post_id: str) -> tuple[Row, str, str] | None:
    found = db.execute(
        f"SELECT {_ROW_SELECT}, campaign, channel FROM posts WHERE id = ?", (post_id,)
    ).fetchone()
    if found is None:
        return None
    values = dict(zip(_ROW, found[: len(_ROW)], strict=True))
    values["state"] = State(values["state"])
    values["maybe_sent"] = bool(values["maybe_sent"])
    return Row(**values), found[-2], found[-1]


def _update(db: sqlite3.Connection, post_id: str, old: Row, new: Row) -> None:
    """Write `new` over `old`, conditionally: inside BEGIN IMMEDIATE the condition always holds,
    and it stays true to the invariant if this code is ever called outside one."""
    values = [getattr(new, name) for name in _ROW if name != "state"]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    cursor = db.execute(
        f"UPDATE posts SET {_ROW_UPDATE} WHERE id = ? AND state = ? AND attempt = ?",
        (*values, str(new.state), post_id, str(old.state), old.attempt),
    )
    if cursor.rowcount != 1:
        raise StoreError(f"post {post_id} changed while it was being moved; try again")


_Event = tuple[str, float, State, int, str | None]  # post id, when, new state, attempt, detail


def _log(db: sqlite3.Connection, events: Iterable[_Event]) -> None:
    """Append state changes to the posts' histories."""
    db.executemany(
        "INSERT INTO events (post_id, at, state, attempt, detail) VALUES (?, ?, ?, ?, ?)",
        [(post_id, at, str(state), n, detail) for post_id, at, state, n, detail in events],
    )


def _new_row(campaign: str, post: NewPost, now: float) -> tuple[Any, ...]:
    return (
        post.id,
        campaign,
        post.message,
        post.audience,
        post.channel,
        post.locale,
        post.text,
        post.scheduled_at,
        post.scheduled_at,
        now,
    )


def _conflict(db: sqlite3.Connection, change: PlanChange) -> Conflict | None:
    """The first post not in the state the plan change expects, before anything is written."""
    checks = (
        ([p.id for p in change.add], transitions.can_add),
        ([p.id for p in change.change], transitions.can_change),
        (change.cancel, transitions.can_cancel),
    )
    for post_ids, allowed in checks:
        for post_id in post_ids:
            found = db.execute("SELECT state FROM posts WHERE id = ?", (post_id,)).fetchone()
            state = State(found[0]) if found else None
            if not allowed(state):
                return Conflict(post_id, str(state) if state else "absent")
    return None


def _take(
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


def _require(db: sqlite3.Connection, campaign: str) -> None:
    if db.execute("SELECT 1 FROM campaigns WHERE slug = ?", (campaign,)).fetchone() is None:
        raise StoreError(f"no campaign {campaign!r} is stored (apply its file first)")


def _scope(row: Sequence[str]) -> Scope:
    audience, channel, locale = row
    return Scope(audience or None, channel or None, locale or None)


def _scope_key(scope: Scope) -> tuple[str, str, str]:
    return (scope.audience or "", scope.channel or "", scope.locale or "")


def _scoped(sql: str, args: list[Any], scope: Scope | None) -> tuple[str, list[Any]]:
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


def _stored(row: Sequence[Any]) -> StoredPost:
    (
        post_id, campaign, message, audience, channel, locale, scheduled_at, state, tries,
        updated_at, sent_at, remote_id, url, error, due, maybe_sent, error_kind,
    ) = row  # fmt: skip
    scheduled = moment(scheduled_at)
    assert scheduled is not None
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
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
