"""Session JWTs verified in the app's process: RS256 against the project's JWKS, then the
issuer, audience and `iat`/`nbf`/`exp` claims, the way the official SDK's local path does.

No I/O here: the sync and async clients fetch the JWKS and hand the keys in, so both share one
verifier. Two caches keep the hot path cheap and the server unbothered:

- the keys, by `kid`. A token naming a `kid` the set lacks (the server rotated its key) may cause
  a refetch, but at most one per `REFETCH_SECONDS`, so a stream of forged or stale tokens cannot
  turn into a stream of requests;
- tokens already verified (a bounded LRU keyed by the exact token text): checking a signature
  costs far more than a check, and an app sees the same JWT on every request for its lifetime.
  A hit still re-checks `iat`, `nbf` and `exp`, the asked maximum age and that its key is still
  published.

Time comes from the clocks the verifier is given: `wall` (the epoch clock by default) for the
`iat`/`nbf`/`exp` checks, of a remembered token and of a full verification alike, and `now`
(monotonic) for the refetch intervals. So pyjwt checks the signature, the required claims, the
issuer and the audience, and `_Times` the times, with pyjwt's rules and messages.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt

from gatehouse.client.errors import InvalidSessionJWT

SESSION_CLAIM = "https://stytch.com/session"
ORGANIZATION_CLAIM = "https://stytch.com/organization"
REFETCH_SECONDS = 30.0
# With no keys at all yet, a failed fetch may be retried sooner, but not on every call.
RETRY_EMPTY_SECONDS = 1.0
VERIFIED_CACHE_SIZE = 4096
_REQUIRED = ["exp", "iat", "nbf", "sub", "aud", "iss"]
_TIME_CLAIMS = [("iat", "Issued At"), ("nbf", "Not Before"), ("exp", "Expiration Time")]


@dataclass(frozen=True, slots=True)
class VerifiedSession:
    """What a verified session JWT says. `roles` are those of the moment it was minted."""

    session_id: str
    member_id: str
    organization_id: str
    roles: frozenset[str]
    expires_at: dt.datetime  # when the session (not this JWT) expires
    claims: Mapping[str, Any] = field(repr=False, compare=False)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


@dataclass(frozen=True, slots=True)
class _Times:
    iat: int
    nbf: int
    exp: int

    @staticmethod
    def of(claims: dict[str, Any]) -> _Times:
        values = []
        for claim, name in _TIME_CLAIMS:
            try:
                values.append(int(claims[claim]))
            except (TypeError, ValueError, OverflowError):
                reason = _lower_first(f"{name} claim ({claim}) must be an integer.")
                raise InvalidSessionJWT(f"the session jwt does not verify: {reason}") from None
        return _Times(*values)

    def problem(self, now: float, leeway: float, max_age: float | None) -> str | None:
        """Why the token is not valid at `now`, or None (pyjwt's order and boundaries)."""
        if self.iat > now + leeway:
            return "does not verify: the token is not yet valid (iat)"
        if self.nbf > now + leeway:
            return "does not verify: the token is not yet valid (nbf)"
        if self.exp <= now - leeway:
            return "does not verify: signature has expired"
        if max_age is not None and now - self.iat >= max_age:
            return f"is older than {max_age} seconds"
        return None


@dataclass(frozen=True, slots=True)
class _Verified:
    session: VerifiedSession
    kid: str
    times: _Times


def session_from_claims(claims: dict[str, Any]) -> VerifiedSession:
    try:
        session = claims[SESSION_CLAIM]
        roles = session["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TypeError("roles")
        return VerifiedSession(
            session_id=str(session["id"]),
            member_id=str(claims["sub"]),
            organization_id=str(claims[ORGANIZATION_CLAIM]["organization_id"]),
            roles=frozenset(roles),
            expires_at=dt.datetime.fromisoformat(session["expires_at"]),
            claims=MappingProxyType(claims),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidSessionJWT(
            "the session jwt lacks the session or organization claims of a member session"
        ) from None


def kid_of(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidSessionJWT("the session jwt is malformed") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidSessionJWT("the session jwt names no signing key (`kid`)")
    return kid


def keys_from_jwks(body: Any) -> dict[str, Any]:
    """kid -> public key, from a `{"keys": [...]}` document; keys this client cannot use are
    skipped rather than failing the set."""
    keys: dict[str, Any] = {}
    for item in body.get("keys", []) if isinstance(body, dict) else []:
        try:
            keys[str(item["kid"])] = jwt.PyJWK(item, algorithm="RS256").key
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            continue
    return keys


class Verifier:
    """Thread-safe; the async client uses it from its event loop."""

    def __init__(
        self,
        project_id: str,
        issuer: str,
        leeway_seconds: float = 0.0,
        *,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.project_id = project_id
        self.issuer = issuer
        self.leeway = leeway_seconds
        self._now = now
        self._wall = wall
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._attempted_at: float | None = None
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    # -- keys ----------------------------------------------------------------------------------

    def key(self, kid: str) -> Any | None:
        return self._keys.get(kid)

    def may_fetch(self, kid: str) -> bool:
        """Whether a token naming `kid` may fetch the JWKS now (see the module docstring)."""
        if kid in self._keys:
            return False
        if self._attempted_at is None:
            return True
        wait = REFETCH_SECONDS if self._keys else RETRY_EMPTY_SECONDS
        return self._now() - self._attempted_at >= wait

    def fetching(self) -> None:
        """Note an attempt before making it, so a failing server is not asked on every call."""
        self._attempted_at = self._now()

    def set_keys(self, keys: dict[str, Any]) -> None:
        with self._lock:
            self._keys = keys
            # A token whose key is gone must verify again (and fail): drop what it vouched for.
            for token in [t for t, v in self._verified.items() if v.kid not in keys]:
                del self._verified[token]

    # -- tokens --------------------------------------------------------------------------------

    def remembered(self, token: str, max_age: float | None) -> VerifiedSession | None:
        """A token verified before and still valid now, or None (then verify it in full)."""
        with self._lock:
            known = self._verified.get(token)
            if known is None:
                return None
            if (
                known.times.problem(self._wall(), self.leeway, max_age) is not None
                or known.kid not in self._keys
            ):
                return None
            self._verified.move_to_end(token)
            return known.session

    def verify(self, token: str, kid: str, max_age: float | None) -> VerifiedSession:
        key = self._keys.get(kid)
        if key is None:
            raise InvalidSessionJWT(f"the session jwt is signed with an unknown key `{kid}`")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.project_id,
                issuer=self.issuer,
                # pyjwt would compare the times with its own clock: `_Times` does, with ours.
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            reason = _lower_first(str(error))
            raise InvalidSessionJWT(f"the session jwt does not verify: {reason}") from None
        times = _Times.of(claims)
        problem = times.problem(self._wall(), self.leeway, max_age)
        if problem is not None:
            raise InvalidSessionJWT(f"the session jwt {problem}")
        session = session_from_claims(claims)
        with self._lock:
            self._verified[token] = _Verified(session, kid, times)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return session
