"""Abuse limits kept in each node's memory (docs/DECISIONS.md, "Abuse limits").

`FailureThrottle` counts failures per key in a sliding window. `SignInGuard` uses three of them
so that password guessing is slowed without letting an attacker lock the owner out (OWASP): a
client (IP address) is refused after too many failures, for any account or for one account; an
account that many clients failed on is closed only to the clients that failed on it. A client
with no failure for the account — the owner, elsewhere — still signs in.

`SendLimiter` is a token bucket per key for outgoing messages (emails now, SMS later): each
address and each client gets `per_hour` sends as a burst, refilled evenly over an hour.

Everything here is per node: with N nodes the bounds are N × each limit. No database work is
done on these paths; each structure keeps at most `max_keys` keys (least recently used first out).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from gatehouse.errors import GatehouseError, too_many

WINDOW_SECONDS = 900.0
Key = tuple[str, ...]


class FailureThrottle:
    def __init__(
        self,
        limit: int = 10,
        window_seconds: float = WINDOW_SECONDS,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[Key, deque[float]] = OrderedDict()

    def _recent(self, key: Key, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def count(self, key: Key) -> int:
        with self._lock:
            return len(self._recent(key, self._clock()))

    def blocked(self, key: Key) -> bool:
        return self.count(key) >= self.limit

    def retry_after(self, key: Key) -> float:
        """Seconds until `key` is under its limit again (0: it is now)."""
        with self._lock:
            now = self._clock()
            failures = self._recent(key, now)
            if len(failures) < self.limit:
                return 0.0
            return failures[len(failures) - self.limit] + self.window - now

    def failed(self, key: Key) -> None:
        now = self._clock()
        with self._lock:
            failures = self._recent(key, now)
            failures.append(now)
            self._failures[key] = failures
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: Key) -> None:
        with self._lock:
            self._failures.pop(key, None)


class SignInGuard:
    """Password sign-in limits for one kind of account (dashboard people, B2B members).

    `account` names the account (scope included); `client` the caller's IP address."""

    def __init__(
        self,
        per_client: int,
        per_account_client: int,
        per_account: int,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = FailureThrottle(per_client, window_seconds, clock=clock)
        self.pairs = FailureThrottle(per_account_client, window_seconds, clock=clock)
        self.accounts = FailureThrottle(per_account, window_seconds, clock=clock)

    def check(self, account: Key, client: str) -> None:
        """Raise 429 when this client may not try this account now."""
        pair = (*account, client)
        wait = max(self.clients.retry_after((client,)), self.pairs.retry_after(pair))
        if wait <= 0 and self.accounts.blocked(account) and self.pairs.count(pair) > 0:
            # Many clients failed on this account: those among them that did stay out.
            wait = self.accounts.retry_after(account)
        if wait > 0:
            raise too_many(
                "too many failed sign-ins from this client; wait a few minutes and retry, or ask "
                "for a sign-in link",
                wait,
            )

    def failed(self, account: Key, client: str) -> None:
        self.clients.failed((client,))
        self.pairs.failed((*account, client))
        self.accounts.failed(account)

    def succeeded(self, account: Key, client: str) -> None:
        self.pairs.succeeded((*account, client))


class SendLimiter:
    """Token buckets: each key holds up to `per_hour` sends, refilled at `per_hour` an hour."""

    def __init__(
        self,
        per_hour: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_hour)
        self.rate = per_hour / 3600.0  # tokens a second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[Key, tuple[float, float]] = OrderedDict()  # tokens, at

    def _level(self, key: Key, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def wait(self, key: Key, now: float) -> float:
        """Seconds until `key` has a send (0: now)."""
        level = self._level(key, now)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: Key, now: float) -> None:
        self._buckets[key] = (self._level(key, now) - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


class SendLimits:
    """The node's limits on outgoing messages: per recipient address and per asking client.
    `take` consumes from every bucket or from none; one instance is shared by every service
    that sends (dashboard links, support resets, later B2B email and SMS)."""

    def __init__(
        self,
        per_address_per_hour: int,
        per_client_per_hour: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.addresses = SendLimiter(per_address_per_hour, clock=clock)
        self.clients = SendLimiter(per_client_per_hour, clock=clock)

    def take(self, address: str, client: str | None, channel: str = "email") -> None:
        """Count one message to `address` asked for by `client` (None: not a client's request,
        e.g. a support agent's), or raise 429 `too_many_requests` having counted nothing."""
        address_key = (channel, address.strip().lower())
        client_key = (channel, client) if client is not None else None
        with self._lock:
            now = self._clock()
            wait = self.addresses.wait(address_key, now)
            if client_key is not None:
                wait = max(wait, self.clients.wait(client_key, now))
            if wait > 0:
                raise _send_refused(channel, wait)
            self.addresses.take(address_key, now)
            if client_key is not None:
                self.clients.take(client_key, now)


def _send_refused(channel: str, wait: float) -> GatehouseError:
    return too_many(
        f"too many {channel} messages were asked for this address or from this client; "
        "wait and retry",
        wait,
    )
