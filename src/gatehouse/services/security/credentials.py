"""Secrets, tokens and passwords: generated here, stored only as hashes, compared in constant time.

API secrets and session tokens are 256-bit random values, so a SHA-256 digest is a safe, indexable
stored form. Passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gatehouse.errors import too_many
from gatehouse.metrics import PASSWORD_HASHES_IN_FLIGHT


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def hash_slots(concurrency: int) -> int:
    """The `password_hash_concurrency` setting: 0 means 2 × the node's CPU cores."""
    return concurrency or 2 * (os.cpu_count() or 1)


class Passwords:
    """argon2id hashing with the node's cost settings (RFC 9106 low-memory by default).

    A hash records its own parameters, so hashes made under other settings still verify, and are
    upgraded at the next sign-in.

    Every hash and verification (imported schemes too, through `slot`) takes one of `concurrency`
    slots, so a flood of sign-ins cannot take every core and argon2's memory × N: a caller that
    finds none free within `wait_seconds` gets 429 `too_many_requests` with `Retry-After`.
    """

    def __init__(
        self,
        time_cost: int = 3,
        memory_kib: int = 65536,
        parallelism: int = 4,
        *,
        concurrency: int = 0,
        wait_seconds: float = 2.0,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self.concurrency = hash_slots(concurrency)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._wait = wait_seconds
        # Verified against when there is no stored hash, so a miss costs what a hit costs. Made on
        # the first miss rather than here: hashing at these settings is the slowest thing a node
        # does, and most processes (CLI commands, most nodes' early life) never need it.
        self._decoy: str | None = None
        self._decoy_lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the node's hashing slots, or raise 429 after waiting `wait_seconds`."""
        if not self._slots.acquire(timeout=self._wait):
            raise too_many(
                "too many password checks are running on this server at once; retry in a moment",
                max(1.0, self._wait),
            )
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self.slot():
            PASSWORD_HASHES_IN_FLIGHT.inc()
            try:
                return self._hasher.hash(password)
            finally:
                PASSWORD_HASHES_IN_FLIGHT.dec()

    def verify(self, encoded: str | None, password: str) -> bool:
        decoy = None if encoded else self._decoy_hash()
        with self.slot():
            PASSWORD_HASHES_IN_FLIGHT.inc()
            try:
                matched = self._hasher.verify(encoded or decoy or "", password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
            finally:
                PASSWORD_HASHES_IN_FLIGHT.dec()
        return matched and encoded is not None

    def _decoy_hash(self) -> str:
        decoy = self._decoy
        if decoy is None:
            with self._decoy_lock:  # concurrent first misses make one decoy, not one each
                decoy = self._decoy
                if decoy is None:
                    decoy = self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return decoy

    def needs_rehash(self, encoded: str) -> bool:
        return not encoded.startswith("$argon2id$") or self._hasher.check_needs_rehash(encoded)
