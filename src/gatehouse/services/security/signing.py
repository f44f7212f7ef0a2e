"""Per-environment RS256 signing keys for session JWTs, and the JWKS that publishes them.

Each environment gets its own key pair at creation. The public half is served at
`/v1/b2b/sessions/jwks/{project_id}` with a self-signed certificate in `x5c`, as Stytch does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gatehouse.services import clock
from gatehouse.services.security.sealing import Sealer
from gatehouse.storage import Change, ReadTx, Store
from gatehouse.storage.rows import SigningKeyRow

log = logging.getLogger(__name__)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def new_signing_key(
    environment_id: str, now: dt.datetime, sealer: Sealer, signs_from: dt.datetime | None = None
) -> SigningKeyRow:
    """A new key pair; the private key is stored sealed (services/security/sealing.py). It is
    published at once and signs from `signs_from` (stored as its `created_at`; default `now`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"jwk-{environment_id.split('-')[1]}-{uuid.uuid4()}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    numbers = key.public_key().public_numbers()
    public_jwk = {
        "kty": "RSA",
        "use": "sig",
        "key_ops": ["verify"],
        "alg": "RS256",
        "kid": kid,
        "x5c": [base64.b64encode(der).decode()],
        "x5tS256": base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("="),
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "kid": kid,
        "environment_id": environment_id,
        "private_key_pem": sealer.seal(pem),
        "public_jwk": public_jwk,
        "created_at": signs_from or now,
    }


class SigningKeys:
    """Loads and caches each environment's keys; signs and verifies session JWTs."""

    def __init__(self, store: Store, sealer: Sealer) -> None:
        self._store = store
        self._sealer = sealer
        self._lock = threading.Lock()
        # environment -> (kid, private key, when a newer key starts signing or None)
        self._signers: dict[str, tuple[str, Any, dt.datetime | None]] = {}
        self._verifiers: dict[str, dict[str, Any]] = {}
        self._generation = 0  # bumped by `forget`: a load that began before it is not kept

    def _load(self, tx: ReadTx, environment_id: str) -> tuple[str, Any, dt.datetime | None]:
        with self._lock:
            generation = self._generation
        rows = self._store.signing_keys(tx, environment_id)  # newest first
        if not rows:
            raise LookupError(environment_id)
        # A key's `created_at` is when it starts signing: `gatehouse key rotate-signing` dates a
        # new key ahead, so it is published in the JWKS before any JWT names it. The signer is the
        # newest key already signing (the oldest, should none be yet).
        now = clock.now()
        current = next((r for r in rows if _utc(r["created_at"]) <= now), rows[-1])
        pending = [_utc(r["created_at"]) for r in rows if _utc(r["created_at"]) > now]
        pem = self._sealer.open(current["private_key_pem"])
        signer = (
            current["kid"],
            serialization.load_pem_private_key(pem.encode(), None),
            min(pending) if pending else None,
        )
        verifiers = {r["kid"]: jwt.PyJWK(r["public_jwk"]).key for r in rows}
        with self._lock:
            if generation == self._generation:
                self._signers[environment_id] = signer
                self._verifiers[environment_id] = verifiers
            else:  # forgotten mid-load: answer from what was read, keep nothing
                self._verifiers.setdefault(environment_id, {}).update(verifiers)
        return signer

    def forget(self, changes: Iterable[Change]) -> None:
        """Drop the keys held for each environment that changed (a signing key added by
        `gatehouse key rotate-signing` is an environment change), so the next JWT is signed with
        the environment's newest key; a reset of the change feed drops every one."""
        with self._lock:
            self._generation += 1
            for change in changes:
                if change.kind == "reset":
                    self._signers.clear()
                    self._verifiers.clear()
                elif change.kind == "environment":
                    self._signers.pop(change.environment_id, None)
                    self._verifiers.pop(change.environment_id, None)

    def reseal_stored_keys(self) -> int:
        """Seal every private key stored in clear (written before keys were sealed) or sealed by
        an older key than the first of `encryption_keys`; returns how many were re-sealed."""
        with self._store.read() as tx:
            rows = [
                (r["kid"], r["private_key_pem"])
                for r in self._store.all_signing_keys(tx)
                if self._sealer.needs_resealing(r["private_key_pem"])
            ]
        if not rows:
            return 0
        resealed = 0
        with self._store.transaction() as wtx:
            for kid, stored in rows:
                new = self._sealer.reseal(stored)
                resealed += self._store.replace_signing_key_pem(wtx, kid, stored, new)
        log.info("re-sealed %d signing key(s) at rest", resealed)
        return resealed

    def jwks(self, tx: ReadTx, environment_id: str) -> list[dict[str, Any]]:
        return [r["public_jwk"] for r in self._store.signing_keys(tx, environment_id)]

    def sign(self, environment_id: str, claims: dict[str, Any]) -> str:
        signer = self._signers.get(environment_id)
        if signer is None or (signer[2] is not None and clock.now() >= signer[2]):
            with self._store.read() as tx:
                signer = self._load(tx, environment_id)
        kid, key, _ = signer
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    def verifier(self, tx: ReadTx, environment_id: str, kid: str) -> Any | None:
        """The public key for `kid`, reloading (in the caller's transaction) on a miss so that a
        key added on another node is found."""
        if kid not in self._verifiers.get(environment_id, {}):
            self._load(tx, environment_id)
        return self._verifiers.get(environment_id, {}).get(kid)
