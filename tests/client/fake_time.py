"""A clock that moves only when the test moves it, handed to the client's time-dependent parts
instead of the system's, so that tests of ages, expiry, intervals and backoff neither sleep nor
depend on the machine's speed. Only time is faked: the requests are real.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

from gatehouse.client import _lifecycle_sync

POLL_SECONDS = 0.005  # how often, in real time, a fake wait looks at its event or condition
SETTLE_SECONDS = 15.0  # real time a step may take, however slow the machine
C = TypeVar("C")


class FakeClock(_lifecycle_sync.Clock):
    """`now()` starts at 0 and `wall()` at the last whole second of real time; both move only by
    `advance()` or `run_until()`. `wait()`, how the sync client's thread and its waits for a
    version wait, ends as the system's does when its event is set or its condition notified,
    and otherwise when fake time reaches its deadline."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._now = 0.0
        self._epoch = float(int(time.time()))
        self._deadlines: list[float] = []  # of the waits in progress
        self._begun = 0  # how many waits have begun, ever

    def now(self) -> float:
        with self._changed:
            return self._now

    def wall(self) -> float:
        return self._epoch + self.now()

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, waitable: threading.Event | threading.Condition, seconds: float) -> bool:
        with self._changed:
            deadline = self._now + seconds
            self._deadlines.append(deadline)
            self._begun += 1
            self._changed.notify_all()
        try:
            while not waitable.wait(POLL_SECONDS):
                with self._changed:
                    if self._now >= deadline:
                        return False
            return True
        finally:
            with self._changed:
                self._deadlines.remove(deadline)
                self._changed.notify_all()

    @property
    def waits_begun(self) -> int:
        with self._changed:
            return self._begun

    def settle(self, since: int | None = None) -> None:
        """Wait until a thread waits on this clock for a moment still to come. With one thread
        using the clock, it has then done all it had to do until that moment.

        After waking a waiting thread by other means (setting its event, notifying its
        condition), its old wait may still look in progress: pass `since` (`waits_begun` read
        before waking it) to wait for a wait begun after that."""
        with self._changed:
            waiting = self._changed.wait_for(
                lambda: (
                    any(d > self._now for d in self._deadlines)
                    and (since is None or self._begun > since)
                ),
                SETTLE_SECONDS,
            )
        assert waiting, f"nothing waited on the fake clock within {SETTLE_SECONDS} s"

    def run_until(self, moment: float) -> None:
        """Let time pass up to `moment` as it would for the one thread waiting on this clock:
        stopping at each of its deadlines on the way, and letting it act there."""
        while True:
            self.settle()
            with self._changed:
                step = min(d for d in self._deadlines if d > self._now)
                self._now = min(step, moment)
                self._changed.notify_all()
                if step > moment:
                    return


def with_clock(cls: type[C], clock: Any) -> type[C]:
    """`cls` (`Client` or `AsyncClient`) reading the time from `clock`. The clients take their
    clock from a class attribute, as the constructor's parameters are the public API."""
    return type(f"{cls.__name__}OnFakeTime", (cls,), {"_clock": clock})
