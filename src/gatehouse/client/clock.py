"""Where the client reads the time. Its time-dependent parts (the policy cache, the JWT verifier,
the background worker's schedule, waiting for a policy version) are handed a clock rather than
calling `time` themselves, so that tests drive them with a fake one instead of sleeping.
"""

from __future__ import annotations

import time


class Clock:
    """The system's clocks. Each client's lifecycle module adds how its worker waits
    (`_lifecycle_sync.Clock`, `_lifecycle_async.Clock`)."""

    def now(self) -> float:
        """Seconds on a monotonic clock: for ages, intervals and deadlines."""
        return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch: what a JWT's `exp`, `nbf` and `iat` are compared with."""
        return time.time()
