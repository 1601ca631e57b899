"""Facts of the embedded SQLite store alone: durability settings, several processes on one file."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign.errors import StoreError
from tests.fixtures.plans import make_campaign, make_post
from workers import diff
from workers.store import Scope, Verdict
from workers.store.sqlite import SqliteStore

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
T = NOW.timestamp()


def test_the_file_is_in_wal_mode_and_every_commit_is_synced(sqlite_store: SqliteStore) -> None:
    db = sqlite3.connect(sqlite_store.path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    # synchronous is per connection: the store's own
    assert sqlite_store._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_claim_is_on_disk_when_it_returns(sqlite_store: SqliteStore) -> None:
    assert sqlite_store.claim_loss() is None


def test_a_file_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()

    with pytest.raises(StoreError, match="newer version"):
        SqliteStore.open(path)


def test_an_unwritable_data_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with pytest.raises(StoreError, match="CAMPAIGN_DATA_DIR"):
        SqliteStore.open(blocker / "data" / "campaign.db")


def _claim(path: str, post_id: str, owner: str, results: multiprocessing.Queue[str]) -> None:
    store = SqliteStore.open(Path(path))
    claim = store.claim(post_id, T, owner=owner, lease=60, resend={})
    results.put(str(claim.verdict))
    store.close()


def test_processes_sharing_the_file_claim_a_post_once(sqlite_store: SqliteStore) -> None:
    # Given a queued post in the file
    campaign = make_campaign()
    post = make_post(campaign, NOW)
    diff.apply(sqlite_store, campaign, [post])
    sqlite_store.hand_out_due(T, batch=10, requeue_after=60, hold=1)
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[str] = context.Queue()

    # When six processes claim it at once
    workers = [
        context.Process(target=_claim, args=(str(sqlite_store.path), post.id, f"w{n}", results))
        for n in range(6)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    # Then exactly one won
    verdicts = sorted(results.get(timeout=5) for _ in workers)
    assert verdicts == [str(Verdict.BUSY)] * 5 + [str(Verdict.CLAIMED)]


def _pause_later(path: str) -> None:
    time.sleep(0.3)
    store = SqliteStore.open(Path(path))
    store.pause("spring", Scope(), T)
    store.close()


def test_a_change_by_another_process_ends_a_wait(sqlite_store: SqliteStore) -> None:
    campaign = make_campaign()
    diff.apply(sqlite_store, campaign, [make_post(campaign, NOW)])
    other = multiprocessing.get_context("spawn").Process(
        target=_pause_later, args=(str(sqlite_store.path),)
    )
    other.start()
    started = time.monotonic()

    sqlite_store.wait(30.0)

    other.join(timeout=30)
    assert time.monotonic() - started < 20
    assert sqlite_store.campaign("spring").paused == (Scope(),)  # type: ignore[union-attr]
