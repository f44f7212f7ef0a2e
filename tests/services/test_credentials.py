"""Member passwords (services/security/credentials.py): argon2id hashes that verify, and a decoy
hash that makes a sign-in without a stored hash cost what one with a hash costs. The decoy is made
on the first such miss, not when a node starts."""

from __future__ import annotations

import threading

from gatehouse.services.security.credentials import Passwords
from tests.server import FAST_ARGON2

PASSWORD = "correct horse battery staple"


def passwords() -> Passwords:
    return Passwords(
        FAST_ARGON2["argon2_time_cost"],
        FAST_ARGON2["argon2_memory_kib"],
        FAST_ARGON2["argon2_parallelism"],
    )


def test_a_stored_hash_verifies_its_password_only() -> None:
    hashing = passwords()
    stored = hashing.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert hashing.verify(stored, PASSWORD) is True
    assert hashing.verify(stored, PASSWORD + "!") is False
    assert hashing.verify("not a hash", PASSWORD) is False


def test_the_decoy_is_made_on_the_first_miss_only() -> None:
    hashing = passwords()
    assert hashing._decoy is None  # nothing hashed when the node starts
    assert hashing.verify(hashing.hash(PASSWORD), PASSWORD) is True
    assert hashing._decoy is None  # nor by a sign-in that has a hash to check

    assert hashing.verify(None, PASSWORD) is False
    decoy = hashing._decoy
    assert decoy is not None and decoy.startswith("$argon2id$")
    assert hashing.verify("", PASSWORD) is False
    assert hashing.verify(None, "") is False
    assert hashing._decoy is decoy  # made once, then reused


def test_concurrent_first_misses_are_all_refused_and_share_one_decoy() -> None:
    hashing = passwords()
    start = threading.Barrier(8)
    results: list[bool] = []
    decoys: set[str | None] = set()
    lock = threading.Lock()

    def miss() -> None:
        start.wait(timeout=10)
        verified = hashing.verify(None, PASSWORD)
        with lock:
            results.append(verified)
            decoys.add(hashing._decoy)

    threads = [threading.Thread(target=miss) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [False] * 8
    assert len(decoys) == 1 and None not in decoys
    assert hashing._decoy in decoys
