"""Shared credentials: one worker renews at a time, nobody loses a rotated token, over both stores.

The platform is a function here (`Platform.obtain`) that rotates like X: a refresh token works
once. Tests of the Bluesky and X clients do the same against their servers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from campaign.errors import AuthRejected, StoreError, StoreTimeout, TransientPublishError
from workers.platforms.credentials import Held, SharedCredential, Tokens
from workers.store import Store
from workers.store.records import Versioned

ACCOUNT = "x:api.x.com:client:campaign"
ORIGIN = "first-refresh-token-from-the-environment"
LEASE = 30.0


@dataclass
class Platform:
    """Hands out tokens; a refresh token works once (X rotates them). Thread-safe."""

    calls: list[str | None] = field(default_factory=list)
    live: set[str] = field(default_factory=lambda: {ORIGIN})
    gate: threading.Event | None = None  # when set, obtain waits for it
    entered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def obtain(self, current: Tokens | None) -> Tokens:
        spent = str(current["refresh"]) if current else ORIGIN
        with self.lock:
            self.calls.append(None if current is None else spent)
            number = len(self.calls)
        gate = self.gate
        self.entered.set()
        if gate is not None:
            gate.wait(10)
        with self.lock:
            if spent not in self.live:
                raise AuthRejected("x: the refresh token was refused: reconnect the account")
            self.live.discard(spent)
            self.live.add(f"refresh-{number}")
        return {"access": f"access-{number}", "refresh": f"refresh-{number}"}


class Clock:
    """A clock that moves only when a worker sleeps (so a lease can run out without waiting)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(store: Store, clock: Clock) -> Callable[..., SharedCredential]:
    """A worker's view of the shared credential (each call: another worker). Its clock moves
    when it sleeps, so a lease runs out without waiting; workers that run at the same time
    use the real clock (sleeping together, they would run a fake clock past every lease)."""

    def create(
        origin: str = ORIGIN, backend: object = None, *, real_time: bool = False
    ) -> SharedCredential:
        return SharedCredential(
            backend or store,  # type: ignore[arg-type]
            ACCOUNT,
            origin,
            platform="x",
            lease_seconds=LEASE,
            stale_environment="x: X_REFRESH_TOKEN on this worker is stale: set the current one",
            clock=time.time if real_time else clock,
            sleep=time.sleep if real_time else clock.sleep,
        )

    return create


def at_once(count: int, work: Callable[[], Held]) -> list[Held | BaseException]:
    """Run `work` in `count` threads released together; what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list[Held | BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def background(
    work: Callable[[], Held], results: list[Held | BaseException] | None = None
) -> Callable[[], None]:
    """`work` for a thread: what it returns or raises goes to `results`."""
    found = results if results is not None else []

    def run() -> None:
        try:
            found.append(work())
        except BaseException as exc:
            found.append(exc)

    return run


def test_the_first_worker_signs_in_and_the_next_one_reuses_its_tokens(
    worker: Callable[..., SharedCredential],
) -> None:
    # Given an empty store and two workers
    platform = Platform()

    # When both ask for the tokens, one after the other
    first = worker().current(platform.obtain)
    second = worker().current(platform.obtain)

    # Then the platform was asked once, with the environment's refresh token
    assert platform.calls == [None]
    assert first.tokens == second.tokens == {"access": "access-1", "refresh": "refresh-1"}


def test_eight_workers_renewing_at_once_make_one_refresh_and_all_get_its_tokens(
    worker: Callable[..., SharedCredential],
) -> None:
    # Given stored tokens that eight workers have just found expired
    platform = Platform()
    stale = worker(real_time=True).current(platform.obtain)
    workers = [worker(real_time=True) for _ in range(8)]
    turns: Iterator[SharedCredential] = iter(workers)
    lock = threading.Lock()

    def renew() -> Held:
        with lock:
            mine = next(turns)
        return mine.renew(stale, platform.obtain)

    # When they all renew at the same moment
    results = at_once(8, renew)

    # Then one refresh reached the platform, and every worker got its tokens (nobody refreshed
    # with the spent token, which the platform would have refused: logged out)
    assert platform.calls == [None, "refresh-1"]
    assert all(isinstance(r, Held) for r in results)
    assert {r.tokens["access"] for r in results if isinstance(r, Held)} == {"access-2"}


def test_eight_threads_sharing_one_worker_renew_once(store: Store) -> None:
    # Given one worker's view of the tokens, used by eight threads that found them expired
    platform = Platform()
    waiting: set[int] = set()
    all_waiting = threading.Event()

    def sleep(seconds: float) -> None:  # a thread waiting for the lease holder
        waiting.add(threading.get_ident())
        if len(waiting) >= 7:
            all_waiting.set()
        time.sleep(seconds)

    shared = SharedCredential(
        store,
        ACCOUNT,
        ORIGIN,
        platform="x",
        lease_seconds=LEASE,
        stale_environment="stale",
        sleep=sleep,
    )
    stale = shared.current(platform.obtain)
    platform.entered.clear()
    platform.gate = gate = threading.Event()  # the first renewal waits for the others

    def release() -> None:
        all_waiting.wait(5)
        gate.set()

    threading.Thread(target=release).start()
    results = at_once(8, lambda: shared.renew(stale, platform.obtain))

    # Then the seven others waited for the one renewing, instead of renewing too
    assert platform.calls == [None, "refresh-1"]
    assert {r.tokens["access"] for r in results if isinstance(r, Held)} == {"access-2"}


def test_eight_workers_starting_at_once_spend_the_environments_token_once(
    worker: Callable[..., SharedCredential],
) -> None:
    platform = Platform()
    workers = iter([worker(real_time=True) for _ in range(8)])
    lock = threading.Lock()

    def start() -> Held:
        with lock:
            mine = next(workers)
        return mine.current(platform.obtain)

    results = at_once(8, start)

    assert platform.calls == [None]
    assert {r.tokens["refresh"] for r in results if isinstance(r, Held)} == {"refresh-1"}


def test_a_worker_that_died_holding_the_lease_is_taken_over_when_it_runs_out(
    worker: Callable[..., SharedCredential], store: Store, clock: Clock
) -> None:
    # Given tokens, and a worker that took the lease to renew them and then died
    platform = Platform()
    stale = worker().current(platform.obtain)
    platform.entered.clear()
    gate = platform.gate = threading.Event()  # the dying worker's request never comes back
    dying = threading.Thread(target=background(lambda: worker().renew(stale, platform.obtain)))
    dying.start()
    try:
        assert platform.entered.wait(5)
        platform.gate = None

        # When another worker needs fresh tokens
        held = worker().renew(stale, platform.obtain)
    finally:
        gate.set()  # (the dead worker's thread ends)
        dying.join(10)

    # Then it waited for the lease to run out (its clock moved by the lease), then renewed
    # with the refresh token the dead worker never got to spend
    assert clock.now >= 1_800_000_000.0 + LEASE
    assert platform.calls == [None, "refresh-1", "refresh-1"]
    assert held.tokens["refresh"] == "refresh-3"


def test_a_failed_renewal_releases_the_lease_at_once(
    worker: Callable[..., SharedCredential], clock: Clock
) -> None:
    # Given a platform that is down for the first renewal
    platform = Platform()
    stale = worker().current(platform.obtain)
    down = TransientPublishError("x: could not connect to api.x.com (connection refused)")

    def unreachable(current: Tokens | None) -> Tokens:
        raise down

    with pytest.raises(TransientPublishError):
        worker().renew(stale, unreachable)

    # When another worker renews right after
    started = clock.now
    held = worker().renew(stale, platform.obtain)

    # Then it did not wait for the failed worker's lease
    assert clock.now == started
    assert held.tokens["access"] == "access-2"


def test_tokens_are_sealed_in_the_store(
    worker: Callable[..., SharedCredential], store: Store
) -> None:
    # Given tokens stored by a worker
    held = worker().current(Platform().obtain)

    # Then the store holds neither token, nor the environment's secret, and reprs hide them
    stored = store.credential(ACCOUNT)
    assert stored is not None
    sealed = base64.b64decode(json.loads(stored.value)["sealed"])
    for secret in (ORIGIN, "access-1", "refresh-1"):
        assert secret not in stored.value
        assert secret.encode() not in sealed
        assert secret not in repr(held)
        assert secret not in repr(worker())
    assert '"generation":1' in stored.value  # what every worker must read stays readable


def test_a_new_secret_in_the_environment_starts_a_new_chain_and_retires_the_old(
    worker: Callable[..., SharedCredential],
) -> None:
    # Given a chain started from the first refresh token
    platform = Platform()
    worker().current(platform.obtain)

    # When the operator reconnects the account and a worker runs with the new token
    platform.live.add("reconnected-token")
    reconnected = worker(origin="reconnected-token")

    def first_sign_in(current: Tokens | None) -> Tokens:
        assert current is None  # a new chain starts from the environment, not the old chain
        return {"access": "access-new", "refresh": "refresh-new"}

    held = reconnected.current(first_sign_in)

    # Then it uses the new chain, and a worker still holding the old token is told so
    # without spending anything
    assert held.tokens["access"] == "access-new"
    calls = len(platform.calls)
    with pytest.raises(AuthRejected, match="stale"):
        worker().current(platform.obtain)
    assert len(platform.calls) == calls


def test_a_store_that_times_out_after_writing_keeps_the_renewed_tokens(
    worker: Callable[..., SharedCredential], store: Store
) -> None:
    # Given a store whose answer to the write of renewed tokens is lost (it did write)
    platform = Platform()
    stale = worker().current(platform.obtain)
    flaky = LosesAnswers(store, fail_on=2)  # 1: the lease, 2: the renewed tokens

    # When a worker renews through it
    held = worker(backend=flaky).renew(stale, platform.obtain)

    # Then it saw its write went through and uses the tokens; the next worker reads them
    assert held.tokens["refresh"] == "refresh-2"
    assert worker().current(platform.obtain).tokens["refresh"] == "refresh-2"
    assert platform.calls == [None, "refresh-1"]


def test_renewed_tokens_are_never_used_unless_stored(
    worker: Callable[..., SharedCredential], store: Store
) -> None:
    # Given a store that stops answering once the lease is taken
    platform = Platform()
    stale = worker().current(platform.obtain)
    down = LosesAnswers(store, fail_on=2, write=False, forever=True)

    # When a worker renews through it
    with pytest.raises(TransientPublishError, match="could not be stored"):
        worker(backend=down).renew(stale, platform.obtain)


def test_a_worker_whose_lease_ran_out_adopts_the_tokens_another_worker_stored(
    worker: Callable[..., SharedCredential], clock: Clock
) -> None:
    # Given worker A renewing slowly: its lease runs out while it waits for the platform
    platform = Platform()
    stale = worker().current(platform.obtain)
    platform.entered.clear()
    platform.gate = threading.Event()
    slow = worker()
    results: list[Held | BaseException] = []
    thread = threading.Thread(
        target=background(lambda: slow.renew(stale, platform.obtain), results)
    )
    thread.start()
    gate = platform.gate
    try:
        assert platform.entered.wait(5)
        platform.gate = None
        clock.now += LEASE + 1

        # When worker B takes over and renews with the same refresh token first
        quick = worker().renew(stale, platform.obtain)
    finally:
        gate.set()  # A's request now meets a spent refresh token
        thread.join(10)

    # Then A does not fail: it uses what B stored
    [slow_result] = results
    assert isinstance(slow_result, Held)
    assert slow_result.tokens == quick.tokens


class LosesAnswers:
    """A credential store whose `fail_on`-th swap raises a timeout (after writing, if `write`)."""

    def __init__(self, store: Store, *, fail_on: int, write: bool = True, forever: bool = False):
        self.store = store
        self.fail_on = fail_on
        self.write = write
        self.forever = forever
        self.swaps = 0

    def credential(self, account: str) -> Versioned | None:
        if self.forever and self.swaps >= self.fail_on:
            raise StoreError("the store is unreachable")
        return self.store.credential(account)

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        self.swaps += 1
        if self.swaps == self.fail_on or (self.forever and self.swaps > self.fail_on):
            if self.write:
                self.store.swap_credential(account, expected_version, value)
            raise StoreTimeout("no answer from the store within 5 s")
        return self.store.swap_credential(account, expected_version, value)
