"""Secrets, tokens and passwords: generated here, stored only as hashes, compared in constant time.

API secrets and session tokens are 256-bit random values, so a SHA-256 digest is a safe, indexable
stored form. Passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_argon2(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def argon2_needs_rehash(encoded: str) -> bool:
    return not encoded.startswith("$argon2id$") or _hasher.check_needs_rehash(encoded)
