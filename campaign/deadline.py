"""Stopping Python code that runs past its deadline, from a watchdog thread.

A template can loop or recurse for hours without using memory. Checking the clock inside the
template would slow every render; a signal works only in the main thread and clashes with other
users of SIGALRM (pytest-timeout, servers). Instead one watchdog thread looks at the deadline a few
times a second and, when it passes, raises `Overtime` in the thread that armed it, as CPython's
`PyThreadState_SetAsyncExc` allows. Arming costs an uncontended lock and a clock read.

`Overtime` derives from BaseException so that no `except Exception` on the way swallows it. It is
raised between bytecodes: a single long C call (a huge multiplication) is not interrupted, which
is why the sandbox bounds those before they start.
"""

from __future__ import annotations

import ctypes
import threading
import time

_POLL_SECONDS = 0.05
_IDLE_SECONDS = 5.0  # the thread ends when nothing was armed for this long


class Overtime(BaseException):
    """Raised in a thread whose armed deadline passed (see `Watchdog`)."""


class Watchdog:
    """Raises `Overtime` in the arming thread when its deadline passes before `disarm()`.

    Use as: `watchdog.arm(seconds)`, then `try: ... finally: watchdog.disarm()`, and catch
    `Overtime` outside the `finally` (calling `disarm()` again there). One deadline at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._target = 0
        # Set by the watchdog before it looks at the deadline a last time and raises; read by
        # disarm() after it cleared the deadline. Under the GIL each store and load is atomic
        # and ordered, so at least one side sees the other's write: either the watchdog sees the
        # cleared deadline and raises nothing, or disarm() sees `_firing` and cancels.
        self._firing = False
        self._fired_for: float | None = None
        self._running = False
        self._last_armed = 0.0

    def arm(self, seconds: float, *, now: float | None = None) -> None:
        """Start the clock for the calling thread (`now`: its `time.monotonic()`, if at hand)."""
        self._target = threading.get_ident()
        self._last_armed = now = time.monotonic() if now is None else now
        self._deadline = now + seconds  # a new float: its identity names this arming
        if not self._running:
            self._start()

    def disarm(self) -> None:
        """Stop the clock. Safe to call twice, and after `Overtime` was raised."""
        self._deadline = None
        if self._firing:
            with self._lock:
                # Raised already, or still pending: drop a pending one so that it never lands
                # in code after the guarded part.
                _raise_in(self._target, None)
                self._firing = False

    def _start(self) -> None:
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._watch, name="template-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(_POLL_SECONDS)
            deadline = self._deadline
            if deadline is None:
                if time.monotonic() - self._last_armed > _IDLE_SECONDS and self._stop():
                    return
            elif time.monotonic() > deadline and deadline is not self._fired_for:
                with self._lock:
                    self._firing = True
                    if self._deadline is deadline and self._fired_for is not deadline:
                        self._fired_for = deadline
                        _raise_in(self._target, Overtime)
                    # Otherwise `_firing` stays set; the next disarm() resets it.

    def _stop(self) -> bool:
        with self._lock:
            self._running = False
        # arm() may have set a deadline and seen `_running` still true: look once more.
        if self._deadline is None:
            return True
        self._running = True
        return False


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Make `thread_id` raise `exception` at its next bytecode; None cancels a pending one."""
    argument = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), argument)
