"""The scheduler: hands due posts from the store to the Celery queue, at their time.

Each pass moves due posts `scheduled -> queued` in one store step and sends one task per post it
moved; two schedulers never move the same post, so a post is handed out once. Posts are never
put into Celery early with an ETA: the store holds the schedule. After downtime the first pass
catches up; posts later than their campaign's max_lateness become `missed`. A hand-off that may
have been lost (queued but never claimed, or sending past its lease) is sent again; the task's
conditional claim is the gate.

Between passes the scheduler sleeps until the next post is due, at most one tick, and wakes
early when `apply` or `resume` changes the schedule. With `scheduler_heartbeat` set, it touches
that file after every pass that reached the store, so a healthcheck can tell a live loop by
the file's age.

When many posts are due at once and the queue takes several posts per task (`send_many`), a
pass hands them out a few per task (at most `publish_batch`, spread over at least SPREAD tasks):
a worker publishes them one after another, paying the queue's own cost per task once for all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from campaign.errors import StoreError
from workers.logging import state_change
from workers.settings import Settings
from workers.store import State, Store

log = logging.getLogger(__name__)

Send = Callable[[str], None]
SendMany = Callable[[list[str]], None]
# Posts handed out together go to at least this many tasks (as long as there are posts), so
# that a burst keeps this many workers busy even when each task could take more.
SPREAD = 8


def batches(post_ids: list[str], size: int) -> list[list[str]]:
    """`post_ids` in groups of at most `size`, at least SPREAD groups, as even as can be."""
    count = max(-(-len(post_ids) // size), min(len(post_ids), SPREAD))
    return [post_ids[number::count] for number in range(count) if post_ids[number::count]]


class Scheduler:
    """One scheduler loop; any number may run against the same store."""

    def __init__(
        self,
        store: Store,
        send: Send,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        send_many: SendMany | None = None,
    ) -> None:
        self.store = store
        self.send = send
        self.send_many = send_many
        self.settings = settings
        self.clock = clock
        self._heartbeat_failed = False

    def run_once(self) -> float:
        """One pass; returns how long to sleep before the next one."""
        settings = self.settings
        now = self.clock()
        moved = self.store.hand_out_due(
            now,
            batch=settings.scheduler_batch,
            requeue_after=settings.requeue_after,
            hold=settings.scheduler_tick,
        )
        for post in moved:
            state_change(post.id, post.channel, post.state, reason=post.reason)
        self._hand([post.id for post in moved if post.state is State.QUEUED])
        lost = self.store.reclaim(
            now, batch=settings.scheduler_batch, requeue_after=settings.requeue_after
        )
        for post in lost:
            log.warning("post=%s channel=%s was %s too long; handing it out again",
                        post.id, post.channel, post.state)  # fmt: skip
        self._hand([post.id for post in lost])
        if len(moved) >= settings.scheduler_batch or len(lost) >= settings.scheduler_batch:
            return 0.0  # more is due right now
        wake_at = self.store.next_wakeup()
        until = (now + settings.scheduler_tick if wake_at is None else wake_at) - self.clock()
        return max(0.0, min(settings.scheduler_tick, until))

    def _hand(self, post_ids: list[str]) -> None:
        if self.send_many is None or len(post_ids) <= 1:
            for post_id in post_ids:
                self._send(post_id)
            return
        for group in batches(post_ids, self.settings.publish_batch):
            if len(group) == 1:
                self._send(group[0])  # a task of one post names it plainly (Flower shows it)
                continue
            try:
                self.send_many(group)
            except Exception:  # the broker may be down; the posts stay queued, sent again
                log.exception("posts %s could not be handed to the queue; will retry", group)

    def _send(self, post_id: str) -> None:
        try:
            self.send(post_id)
        except Exception:  # the broker may be down; the post stays queued and is sent again
            log.exception("post=%s could not be handed to the queue; will retry", post_id)

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; survives Redis restarts by retrying with a short backoff."""
        failures = 0
        while not stop.is_set():
            try:
                pause = self.run_once()
                failures = 0
                self._beat()
                if pause > 0:
                    self.store.wait(pause)
            except StoreError as exc:
                failures += 1
                delay = min(self.settings.scheduler_tick * failures, 5.0)
                log.warning("store unavailable (%s); retrying in %.1f s", exc, delay)
                stop.wait(delay)

    def _beat(self) -> None:
        """Touch the heartbeat file; a failure is logged once (the healthcheck then says it)."""
        path = self.settings.scheduler_heartbeat
        if path is None:
            return
        try:
            path.touch()
        except OSError as exc:
            if not self._heartbeat_failed:
                log.warning("cannot touch the heartbeat file %s: %s", path, exc.strerror or exc)
            self._heartbeat_failed = True
        else:
            self._heartbeat_failed = False
