"""Failed sign-in throttling: after too many failures for one address, refuse for a while.

Kept in memory per node (documented bound: with N nodes an attacker gets at most N × the limit per
window); it makes online password guessing slow without touching the database on the hot path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class FailureThrottle:
    def __init__(
        self, limit: int = 10, window_seconds: float = 900.0, max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def blocked(self, key: tuple[str, ...]) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.limit

    def failed(self, key: tuple[str, ...]) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._recent(key, now)
            failures.append(now)
            self._failures[key] = failures
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._failures.pop(key, None)
