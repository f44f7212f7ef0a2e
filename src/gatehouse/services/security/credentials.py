"""Secrets, tokens and passwords: generated here, stored only as hashes, compared in constant time.

API secrets and session tokens are 256-bit random values, so a SHA-256 digest is a safe, indexable
stored form. Passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gatehouse.metrics import PASSWORD_HASHES_IN_FLIGHT


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


class Passwords:
    """argon2id hashing with the node's cost settings (RFC 9106 low-memory by default).

    A hash records its own parameters, so hashes made under other settings still verify, and are
    upgraded at the next sign-in.
    """

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verified against when there is no stored hash, so a miss costs what a hit costs. Made on
        # the first miss rather than here: hashing at these settings is the slowest thing a node
        # does, and most processes (CLI commands, most nodes' early life) never need it.
        self._decoy: str | None = None
        self._decoy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        PASSWORD_HASHES_IN_FLIGHT.inc()
        try:
            return self._hasher.hash(password)
        finally:
            PASSWORD_HASHES_IN_FLIGHT.dec()

    def verify(self, encoded: str | None, password: str) -> bool:
        PASSWORD_HASHES_IN_FLIGHT.inc()
        try:
            matched = self._hasher.verify(encoded or self._decoy_hash(), password)
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
