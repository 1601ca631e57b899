"""One process that delivers: the scheduler and a pool of publishers, for `campaign run`.

The same `Scheduler` and `Publisher` the Celery deployment uses, with an in-process queue
instead of a broker. The store's claim is still the gate, so a post that sits in this process's
queue when it dies is `queued` in the store and handed out again after `requeue_after` (by
this process when it starts again, or by any other runner or scheduler of the same store).

    start()                 the scheduler thread and `concurrency` publisher threads
    stop(wait=True)         no new claims; posts being published finish; then return
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from campaign.errors import CampaignError
from workers.middleware import Middleware
from workers.publish import Publisher
from workers.scheduler import Scheduler
from workers.settings import Settings
from workers.store import Store

log = logging.getLogger(__name__)

# How long an idle publisher thread waits for work before looking at the stop flag again.
_POLL_SECONDS = 0.2


@dataclass
class Runner:
    """The scheduler and `concurrency` publisher threads over one store."""

    settings: Settings
    store: Store
    concurrency: int = 4
    middleware: Sequence[Middleware] = ()
    clock: Callable[[], float] = time.time
    # Called after each publish with the post id and what happened (for a live view).
    on_published: Callable[[str, str], None] = lambda post_id, result: None
    _queue: queue.Queue[str] = field(default_factory=queue.Queue, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _busy: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def start(self) -> None:
        scheduler = Scheduler(self.store, self._queue.put, self.settings, clock=self.clock)
        self._threads = [
            threading.Thread(target=scheduler.run, args=(self._stopping,), name="scheduler")
        ]
        for number in range(self.concurrency):
            self._threads.append(
                threading.Thread(target=self._publish_loop, name=f"publisher-{number + 1}")
            )
        for thread in self._threads:
            thread.start()

    @property
    def in_flight(self) -> int:
        """Posts being published right now."""
        return self._busy

    def stop(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Claim nothing more; with `wait`, return once the posts being published are done."""
        self._stopping.set()
        self.store.wake()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in self._threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _waiting(self, first: str) -> Iterator[str]:
        """`first`, then the posts already waiting in the queue: the outcome of one and the
        claim of the next are then one store step (one commit instead of two)."""
        yield first
        while not self._stopping.is_set():
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _publish_loop(self) -> None:
        publisher = Publisher(self.settings, self.store, self.middleware, clock=self.clock)
        try:
            while not self._stopping.is_set():
                try:
                    post_id = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if self._stopping.is_set():
                    break  # still `queued` in the store: handed out again on the next run
                with self._lock:
                    self._busy += 1
                try:
                    done, _ = publisher.publish_many(self._waiting(post_id))
                except CampaignError as exc:
                    # The store failed: the posts stay queued or sending and come back.
                    log.error("post=%s not published now: %s", post_id, exc)
                    done = [(post_id, "store-error")]
                finally:
                    with self._lock:
                        self._busy -= 1
                for published, result in done:
                    self.on_published(published, result)
        finally:
            publisher.close()
