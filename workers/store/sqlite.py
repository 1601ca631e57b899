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
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from campaign.definition import Channel
from campaign.errors import StoreError
from workers import transitions
from workers.store import ResendPolicy, run_staged
from workers.store.records import (
    NEVER_RESEND,
    CampaignRecord,
    ChannelRoute,
    Claim,
    Conflict,
    Event,
    Finish,
    Moved,
    Need,
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
from workers.store.sqlite_apply import (
    HELD,
    SqliteStagedApply,
    held,
    lapsed,
    roll_forward,
    settings_of,
    write_chunk,
    write_settings,
)
from workers.store.sqlite_rows import (
    BUSY_TIMEOUT_MS,
    EVERYWHERE,
    POLL_SECONDS,
    POST_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    Facts,
    conflict_in,
    in_chunks,
    log_events,
    read_row,
    require_campaign,
    scope_key,
    scope_of,
    scoped,
    stored,
    take_token,
    update_row,
)
from workers.store.staging import CHUNK, chunks
from workers.transitions import HandOut

ROLL_BUDGET = 0.1  # seconds a scheduler pass spends rolling forward an abandoned apply


class SqliteStore:
    """The `Store` protocol on one SQLite file."""

    def __init__(self, path: Path, *, chunk: int = CHUNK) -> None:
        self.path = path
        self.chunk = chunk
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._woken = threading.Event()

    @classmethod
    def open(cls, path: Path, *, chunk: int = CHUNK) -> SqliteStore:
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
        store = cls(path, chunk=chunk)
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
            db.executescript(SCHEMA)
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
        holding = self._read("reading a campaign", "SELECT 1 FROM holds WHERE campaign = ?", slug)
        return CampaignRecord(
            slug,
            title,
            lateness,
            instant(launched),
            json.loads(zones),
            pauses,
            cancelled,
            bool(holding),
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
        besides: Collection[str] = (),
    ) -> list[StoredPost]:
        sql = "SELECT id FROM posts WHERE campaign = ?"
        args: list[Any] = [campaign]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(str(state) for state in states)
        sql, args = scoped(sql, args, scope)
        sql += " ORDER BY scheduled_at, id"
        if limit is not None and not besides:
            sql += " LIMIT ?"
            args.append(limit)
        ids = [i for (i,) in self._read("reading posts", sql, *args) if i not in besides]
        found = self.lookup(ids[:limit] if limit is not None else ids)
        return sorted(found.values(), key=lambda p: (p.scheduled_at, p.id))

    def post(self, post_id: str) -> StoredPost | None:
        rows = self._read(
            "reading a post", f"SELECT {POST_COLUMNS} FROM posts WHERE id = ?", post_id
        )
        return stored(rows[0]) if rows else None

    def texts(self, post_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in in_chunks(post_ids, 500):
            rows = self._read(
                "reading texts",
                f"SELECT id, text FROM posts WHERE id IN ({', '.join('?' * len(chunk))})",
                *chunk,
            )
            found.update(rows)
        return found

    def lookup(self, post_ids: Sequence[str], *, text: bool = False) -> dict[str, StoredPost]:
        found: dict[str, StoredPost] = {}
        columns = POST_COLUMNS + (", text" if text else "")
        for chunk in in_chunks(post_ids, 500):
            rows = self._read(
                "reading posts",
                f"SELECT {columns} FROM posts WHERE id IN ({', '.join('?' * len(chunk))})",
                *chunk,
            )
            for row in rows:
                found[row[0]] = stored(row)
        return found

    def recent(self, campaign: str, limit: int) -> list[StoredPost]:
        rows = self._read(
            "reading posts",
            f"SELECT {POST_COLUMNS} FROM posts WHERE campaign = ? AND state = 'sent' "
            "ORDER BY sent_at DESC LIMIT ?",
            campaign,
            min(limit, 100),
        )
        return [stored(row) for row in rows]

    def needs(self, campaign: str) -> list[Need]:
        rows = self._read(
            "reading failures",
            "SELECT channel, error_kind, count(*), "
            "(SELECT error FROM posts AS last WHERE last.campaign = posts.campaign "
            "AND last.channel = posts.channel AND last.state = 'failed' "
            "AND last.error_kind = posts.error_kind ORDER BY updated_at DESC LIMIT 1) "
            "FROM posts WHERE campaign = ? AND state = 'failed' AND error_kind IS NOT NULL "
            "GROUP BY channel, error_kind ORDER BY channel, error_kind",
            campaign,
        )
        return [Need(channel, kind, n, error or "") for channel, kind, n, error in rows]

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
        parts = list(chunks(change, self.chunk))
        if len(parts) > 1:
            conflict = run_staged(self.apply_in_steps(change, now))
            if conflict is None:
                self.wake()
            return conflict
        with self._write("applying a plan") as db:
            if held(db, change.campaign, now):
                return Conflict("", "held")
            conflict = conflict_in(db, parts[0])
            if conflict is not None:
                return conflict
            write_settings(db, change.campaign, settings_of(change))
            write_chunk(db, change.campaign, parts[0], now, change.reason)
        self.wake()
        return None

    def apply_in_steps(self, change: PlanChange, now: float) -> SqliteStagedApply:
        return SqliteStagedApply(self._write, change, now, self.chunk)

    def cancel(self, campaign: str, scope: Scope, reason: str, now: float) -> list[Moved]:
        with self._write("cancelling") as db:
            require_campaign(db, campaign)
            _refuse_held(db, campaign, now)
            sql, args = scoped(
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
            log_events(db, [(post_id, now, State.CANCELLED, n, reason) for post_id, _, n in rows])
            if scope.whole:
                db.execute("UPDATE campaigns SET cancelled = ? WHERE slug = ?", (reason, campaign))
        return [Moved(i, campaign, channel, State.CANCELLED, reason) for i, channel, _ in rows]

    def restore(self, campaign: str, scope: Scope, now: float) -> list[Moved]:
        moved: list[Moved] = []
        with self._write("restoring") as db:
            require_campaign(db, campaign)
            _refuse_held(db, campaign, now)
            sql, args = scoped(
                "SELECT id FROM posts WHERE campaign = ? AND state = 'cancelled'", [campaign], scope
            )
            for (post_id,) in db.execute(sql, args).fetchall():
                found = read_row(db, post_id)
                assert found is not None
                row, _, channel = found
                if not transitions.can_restore(row.state, row.scheduled_at, now):
                    continue
                update_row(db, post_id, row, transitions.restored(row, now))
                reason = "restored by a person"
                log_events(db, [(post_id, now, State.SCHEDULED, row.attempt, reason)])
                moved.append(Moved(post_id, campaign, channel, State.SCHEDULED, reason))
            if scope.whole:
                db.execute("UPDATE campaigns SET cancelled = NULL WHERE slug = ?", (campaign,))
        if moved:
            self.wake()
        return moved

    def pause(self, campaign: str | None, scope: Scope, now: float) -> None:
        with self._write("pausing") as db:
            if campaign is not None:
                require_campaign(db, campaign)
            db.execute(
                "INSERT OR IGNORE INTO pauses VALUES (?, ?, ?, ?)",
                (campaign or EVERYWHERE, *scope_key(scope)),
            )

    def resume(self, campaign: str | None, scope: Scope, now: float) -> bool:
        with self._write("resuming") as db:
            if campaign is not None:
                require_campaign(db, campaign)
            lifted = db.execute(
                "DELETE FROM pauses WHERE campaign = ? AND audience = ? AND channel = ? "
                "AND locale = ?",
                (campaign or EVERYWHERE, *scope_key(scope)),
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
                found = read_row(db, post_id)
                if found is None:
                    continue
                row, campaign, channel = found
                if not transitions.can_retry(row.state, confirmed_not_out=confirmed_not_out):
                    continue
                update_row(db, post_id, row, transitions.retried(row, now, due=now))
                reason = "retried by a person"
                log_events(db, [(post_id, now, State.SCHEDULED, row.attempt, reason)])
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
                "SELECT id FROM posts WHERE state = 'scheduled' AND due <= ? "
                f"AND campaign NOT IN ({HELD}) ORDER BY due LIMIT ?",
                (now, now, batch),
            ).fetchall()
            helped = list(lapsed(db, now))
            facts = Facts(db)
            for (post_id,) in ids:
                found = read_row(db, post_id)
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
                update_row(db, post_id, row, step.row)
                if step.verdict != HandOut.HOLD:
                    log_events(db, [(post_id, now, step.row.state, row.attempt, step.row.error)])
                    reason = step.row.error if step.verdict == HandOut.MISS else None
                    moved.append(Moved(post_id, campaign, channel, step.row.state, reason))
        for campaign in helped:
            # An apply whose applier died after its commit: roll it forward for a while.
            until = time.monotonic() + ROLL_BUDGET
            while not roll_forward(self._write, campaign, now) and time.monotonic() < until:
                pass
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
                found = read_row(db, post_id)
                if found is None:
                    continue
                row, campaign, channel = found
                step = transitions.reclaim(row, now, requeue_after=requeue_after)
                if step.row is not None:
                    update_row(db, post_id, row, step.row)
                    moved.append(Moved(post_id, campaign, channel, row.state))
        return moved

    def next_wakeup(self) -> float | None:
        # A hold's end too: a pass then rolls forward or drops what its owner left.
        rows = self._read(
            "reading the schedule",
            "SELECT min(due) FROM posts WHERE state = 'scheduled' "
            f"AND campaign NOT IN ({HELD}) UNION ALL "
            "SELECT min(deadline) FROM posts WHERE state IN ('queued', 'sending') UNION ALL "
            "SELECT min(expires) FROM holds",
            time.time(),
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
            return _claim(db, post_id, now, owner, lease, resend)

    def finish(self, post_id: str, attempt: int, now: float, outcome: Outcome) -> Finish:
        with self._write("recording an outcome") as db:
            return _finish(db, post_id, attempt, now, outcome)

    def finish_and_claim(
        self,
        post_id: str,
        attempt: int,
        now: float,
        outcome: Outcome,
        next_id: str,
        *,
        owner: str,
        lease: float,
        resend: ResendPolicy,
    ) -> tuple[Finish, Claim]:
        with self._write("recording an outcome and claiming the next post") as db:
            done = _finish(db, post_id, attempt, now, outcome)
            return done, _claim(db, next_id, now, owner, lease, resend)

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        with self._write("rate limiting") as db:
            return take_token(db, bucket, capacity, per_seconds, now)

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
        return tuple(scope_of(row) for row in rows)


def _claim(
    db: sqlite3.Connection,
    post_id: str,
    now: float,
    owner: str,
    lease: float,
    resend: ResendPolicy,
) -> Claim:
    """transitions.claim (then transitions.throttle) inside the caller's transaction."""
    found = read_row(db, post_id)
    if found is None:
        return Claim(Verdict.SKIP, post_id, 0, state="absent")
    row, campaign, channel = found
    facts = Facts(db)
    audience, locale = facts.audience_locale(post_id)
    route = facts.route(campaign, channel)
    platform, version = (route[0], route[4]) if route else ("", "")
    step = transitions.claim(
        row,
        now,
        owner=owner,
        lease=lease,
        paused=held(db, campaign, now) or facts.paused(campaign, audience, channel, locale),
        resend=resend.get(platform, NEVER_RESEND),
    )
    verdict = Verdict(step.verdict)
    new = step.row
    if new is None:
        if verdict is not Verdict.CLAIMED:
            return Claim(verdict, post_id, row.attempt, state=str(row.state))
        new = row  # our own claim, asked again
    elif verdict in (Verdict.CLAIMED, Verdict.RESEND) and route and route[1] is not None:
        wait = take_token(db, route[1], route[2], route[3], now)
        if wait > 0:
            step = transitions.throttle(new, now, retry_at=now + wait)
            assert step.row is not None
            update_row(db, post_id, row, step.row)
            log_events(db, [(post_id, now, State.SCHEDULED, new.attempt, "throttled")])
            return Claim(
                Verdict.THROTTLED, post_id, row.attempt, retry_at=now + wait,
                campaign=campaign, channel=channel,
            )  # fmt: skip
    if new is not row:
        update_row(db, post_id, row, new)
        detail = new.error if verdict is Verdict.UNKNOWN else str(verdict)
        log_events(db, [(post_id, now, new.state, new.attempt, detail)])
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
        channel_version=version,
    )


def _finish(
    db: sqlite3.Connection, post_id: str, attempt: int, now: float, outcome: Outcome
) -> Finish:
    """transitions.finish inside the caller's transaction."""
    found = read_row(db, post_id)
    row = found[0] if found else None
    step = transitions.finish(row, now, attempt=attempt, outcome=outcome)
    if step.verdict == "stale" or row is None:
        return Finish(recorded=False, state=row.state if row else None)
    if step.verdict == "repeated":
        return Finish(recorded=True, state=row.state, repeated=True, reason=row.error)
    assert step.row is not None
    update_row(db, post_id, row, step.row)
    detail = step.row.url if step.row.state is State.SENT else step.row.error
    log_events(db, [(post_id, now, step.row.state, attempt, detail)])
    return Finish(recorded=True, state=step.row.state, reason=step.row.error)


def _refuse_held(db: sqlite3.Connection, campaign: str, now: float) -> None:
    """Raises StoreError while an apply in steps holds the campaign."""
    if held(db, campaign, now):
        raise StoreError(
            f"campaign {campaign!r} is being applied by another process; try again when that "
            "is done"
        )
