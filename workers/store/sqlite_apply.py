"""Applying a plan change to the embedded store without holding its write lock for long: a change
of one chunk in one transaction; a larger one staged, committed and rolled forward a chunk per
transaction, as the Redis store does it (docs/store.md, "Applying a big plan").

While an apply in steps (or a cancel) goes through a campaign, the campaign is held: the
`holds` row says by whom and until when. Nothing of a held campaign is handed out or claimed;
other campaigns go on between the steps.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from campaign.errors import StoreError
from workers.store.records import Conflict, PlanChange, State
from workers.store.sqlite_rows import conflict_in, log_events
from workers.store.staging import HOLD, Chunk, chunks

Write = Callable[[str], AbstractContextManager[sqlite3.Connection]]

# Campaigns whose posts wait: a committed apply until rolled forward, anything else until its
# hold expires (its owner died).
HELD = "SELECT campaign FROM holds WHERE state = 'committed' OR expires > ?"


def held(db: sqlite3.Connection, campaign: str, now: float) -> bool:
    found = db.execute(
        "SELECT 1 FROM holds WHERE campaign = ? AND (state = 'committed' OR expires > ?)",
        (campaign, now),
    ).fetchone()
    return found is not None


def drop_hold(db: sqlite3.Connection, campaign: str) -> None:
    """Drop a campaign's hold and the chunks an apply staged under it."""
    found = db.execute("SELECT id FROM holds WHERE campaign = ?", (campaign,)).fetchone()
    if found is not None:
        db.execute("DELETE FROM staged WHERE hold = ?", (found[0],))
        db.execute("DELETE FROM holds WHERE campaign = ?", (campaign,))


def settings_of(change: PlanChange) -> dict[str, Any]:
    return {
        "title": change.title,
        "max_lateness": change.max_lateness,
        "launched_at": change.launched_at,
        "zones": change.zones,
        "channels": {
            name: [
                route.settings.model_dump_json(exclude_none=True),
                route.bucket,
                route.capacity,
                route.per_seconds,
            ]
            for name, route in change.channels.items()
        },
    }


def write_settings(db: sqlite3.Connection, campaign: str, settings: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO campaigns (slug, title, max_lateness, launched_at, zones) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET title = excluded.title, "
        "max_lateness = excluded.max_lateness, zones = excluded.zones, cancelled = NULL",
        (
            campaign,
            settings["title"],
            settings["max_lateness"],
            settings["launched_at"],
            json.dumps(settings["zones"]),
        ),
    )
    if settings["channels"]:
        db.execute("DELETE FROM channels WHERE campaign = ?", (campaign,))
        db.executemany(
            "INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?)",
            [(campaign, name, *route) for name, route in settings["channels"].items()],
        )


def write_chunk(
    db: sqlite3.Connection, campaign: str, chunk: Chunk, now: float, reason: str
) -> None:
    """The posts of one chunk of a plan change (its checks passed)."""
    fresh = [*chunk["add"], *chunk["change"]]
    db.executemany("DELETE FROM events WHERE post_id = ?", [(r[0],) for r in chunk["add"]])
    db.executemany(
        "INSERT OR REPLACE INTO posts (id, campaign, message, audience, channel, locale, "
        "text, state, scheduled_at, due, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?, ?)",
        [(r[0], campaign, r[1], r[2], r[3], r[4], r[6], r[5], r[5], now) for r in fresh],
    )
    db.executemany(
        "UPDATE posts SET state = 'cancelled', deadline = NULL, error = ?, "
        "updated_at = ? WHERE id = ?",
        [(reason, now, post_id) for post_id in chunk["cancel"]],
    )
    log_events(db, [(i, now, State.CANCELLED, 0, reason) for i in chunk["cancel"]])


@dataclass
class SqliteStagedApply:
    """One apply of a change larger than a chunk, in steps (workers.store.StagedApply)."""

    write: Write
    change: PlanChange
    now: float
    size: int
    parts: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self.parts = [json.dumps(chunk) for chunk in chunks(self.change, self.size)]
        self._started = time.monotonic()

    @property
    def chunks(self) -> int:
        return len(self.parts)

    def _clock(self) -> float:
        # The steps after the first run later than `now`; the hold counts in the applier's time.
        return self.now + (time.monotonic() - self._started)

    def begin(self) -> None:
        campaign = self.change.campaign
        while True:
            now = self._clock()
            with self.write("applying a plan") as db:
                found = db.execute(
                    "SELECT state FROM holds WHERE campaign = ?", (campaign,)
                ).fetchone()
                if found is None or not (found[0] == "committed" or held(db, campaign, now)):
                    drop_hold(db, campaign)
                    db.execute(
                        "INSERT INTO holds (campaign, id, state, expires, chunks) "
                        "VALUES (?, ?, 'staging', ?, ?)",
                        (campaign, self.id, now + HOLD, self.chunks),
                    )
                    return
            if found[0] != "committed":
                raise StoreError(
                    f"campaign {campaign!r} is being applied, cancelled or restored by another "
                    "process (its hold ends within a minute if that process died); try again "
                    "when it is done"
                )
            # An apply whose applier died after its commit: it happens first.
            while not roll_forward(self.write, campaign, self._clock()):
                pass

    def stage(self, number: int) -> Conflict | None:
        campaign = self.change.campaign
        now = self._clock()
        with self.write("applying a plan") as db:
            if not self._ours(db, now, "staging"):
                return Conflict("", "held")
            conflict = conflict_in(db, json.loads(self.parts[number]))
            if conflict is not None:
                drop_hold(db, campaign)
                return conflict
            db.execute(
                "INSERT OR REPLACE INTO staged VALUES (?, ?, ?)",
                (self.id, number, self.parts[number]),
            )
            db.execute(
                "UPDATE holds SET staged = ?, expires = ? WHERE campaign = ?",
                (number + 1, now + HOLD, campaign),
            )
        return None

    def commit(self) -> Conflict | None:
        now = self._clock()
        with self.write("applying a plan") as db:
            if not self._ours(db, now, "staging"):
                return Conflict("", "held")
            staged = db.execute(
                "SELECT staged FROM holds WHERE campaign = ?", (self.change.campaign,)
            ).fetchone()[0]
            if staged != self.chunks:
                return Conflict("", "held")
            write_settings(db, self.change.campaign, settings_of(self.change))
            db.execute(
                "UPDATE holds SET state = 'committed', expires = ?, reason = ? WHERE campaign = ?",
                (now + HOLD, self.change.reason, self.change.campaign),
            )
        return None

    def roll_forward(self) -> bool:
        return roll_forward(self.write, self.change.campaign, self._clock())

    def _ours(self, db: sqlite3.Connection, now: float, state: str) -> bool:
        found = db.execute(
            "SELECT id, state, expires FROM holds WHERE campaign = ?", (self.change.campaign,)
        ).fetchone()
        return found is not None and tuple(found[:2]) == (self.id, state) and found[2] > now


def roll_forward(write: Write, campaign: str, now: float) -> bool:
    """Write the next chunk of the campaign's committed apply, in one transaction; True once
    it is complete (or when nothing is committed)."""
    with write("applying a plan") as db:
        found = db.execute(
            "SELECT id, applied, chunks, reason FROM holds "
            "WHERE campaign = ? AND state = 'committed'",
            (campaign,),
        ).fetchone()
        if found is None:
            return True
        hold, applied, count, reason = found
        if applied < count:
            (chunk,) = db.execute(
                "SELECT chunk FROM staged WHERE hold = ? AND number = ?", (hold, applied)
            ).fetchone()
            write_chunk(db, campaign, json.loads(chunk), now, reason)
            db.execute("DELETE FROM staged WHERE hold = ? AND number = ?", (hold, applied))
            applied += 1
        if applied < count:
            db.execute(
                "UPDATE holds SET applied = ?, expires = ? WHERE campaign = ?",
                (applied, now + HOLD, campaign),
            )
            return False
        drop_hold(db, campaign)
    return True


def lapsed(db: sqlite3.Connection, now: float) -> Iterator[str]:
    """Campaigns whose committed apply lost its applier; drops holds whose owner is gone."""
    found = db.execute("SELECT campaign, state FROM holds WHERE expires <= ?", (now,)).fetchall()
    for campaign, state in found:
        if state == "committed":
            yield campaign
        else:
            drop_hold(db, campaign)
