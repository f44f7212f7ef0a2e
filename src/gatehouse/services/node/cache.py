"""The node's memory of what checks need: project credentials, environments and resolved sessions.

A warm node answers `sessions.authenticate`, the JWT path and session-header enforcement without
touching the database. Staleness is bounded by change, not only by time:

- the writing node drops the entries a write touched as soon as it commits;
- every other node drops them when the change feed delivers the change (PostgreSQL NOTIFY: a few
  milliseconds; SQLite: the next 10 ms poll);
- while the change feed is down the cache is bypassed and emptied, so a node that may have missed
  a change never answers from memory;
- the JWKS of each environment is held too (`jwks`), dropped with its environment's changes
  (a signing key added is an environment change);
- entries also expire after `cache_ttl_seconds`, and the session table is a bounded LRU
  (`cache_max_sessions`), so memory per node is set by settings, not by the number of members.

A reader that loaded from the database may only store what it read if no invalidation happened
since it began (`generation`); otherwise a write that committed mid-read could be cached over.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from gatehouse.services.context import ActiveSession, CachedSession, Environment, KeySet
from gatehouse.storage import Change

CACHES = ("session", "jwt", "environment", "credential")


class NodeCache:
    def __init__(self, max_sessions: int = 100_000, ttl_seconds: float = 300.0) -> None:
        self.max_sessions = max_sessions
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._live = False  # set while the change feed is connected
        self.generation = 0
        self._sessions: OrderedDict[str, CachedSession] = OrderedDict()
        self._by_token: dict[str, str] = {}
        # (environment, jwt) -> (session, member), for JWTs whose signature this node verified
        self._jwts: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
        self._by_member: dict[str, set[str]] = {}
        self._by_org: dict[str, set[str]] = {}
        self._by_environment: dict[str, set[str]] = {}
        self._credentials: dict[
            tuple[str, str], str
        ] = {}  # (environment, secret digest) -> secret id
        self._environments: dict[str, Environment] = {}
        # Lookups answered from memory and not, by cache, while live (gatehouse.metrics reads
        # them when scraped). Plain ints bumped without the lock: a lost increment under a race
        # costs a metric a count, a lock would cost every check.
        self.hits = dict.fromkeys(CACHES, 0)
        self.misses = dict.fromkeys(CACHES, 0)
        self._jwks: dict[str, tuple[KeySet, float]] = {}  # environment -> (keys, loaded at)

    # -- the change feed ---------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    def feed_ready(self) -> None:
        with self._lock:
            self._live = True

    def reset(self, *, live: bool = False) -> None:
        """Forget everything (the feed may have missed changes); bypass until it is back."""
        with self._lock:
            self._live = live
            self.generation += 1
            self._sessions.clear()
            self._by_token.clear()
            self._jwts.clear()
            self._by_member.clear()
            self._by_org.clear()
            self._by_environment.clear()
            self._credentials.clear()
            self._environments.clear()
            self._jwks.clear()

    def apply(self, changes: list[Change]) -> None:
        with self._lock:
            self.generation += 1
            for change in changes:
                kind, key = change.kind, change.key
                if kind == "session":
                    self._drop_session(key)
                elif kind == "member":
                    self._drop_all(self._by_member.get(key, ()))
                elif kind == "organization":
                    self._drop_all(self._by_org.get(key, ()))
                elif kind in ("policy", "environment"):
                    self._environments.pop(key, None)
                    self._drop_all(self._by_environment.get(key, ()))
                    if kind == "environment":
                        self._jwks.pop(key, None)
                        for cred in [c for c in self._credentials if c[0] == key]:
                            del self._credentials[cred]

    def _drop_all(self, session_ids: Iterable[str]) -> None:
        for session_id in list(session_ids):
            self._drop_session(session_id)

    def _drop_session(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return
        self._by_token.pop(entry.token_hash, None)
        for index, key in (
            (self._by_member, entry.active.member_id),
            (self._by_org, entry.active.organization_id),
            (self._by_environment, entry.environment_id),
        ):
            ids = index.get(key)
            if ids is not None:
                ids.discard(session_id)
                if not ids:
                    del index[key]

    # -- environments and credentials --------------------------------------------------------

    def environment(self, environment_id: str) -> Environment | None:
        if not self._live:
            return None
        found = self._environments.get(environment_id)
        self._count("environment", found is not None)
        return found

    def secret_id(self, environment_id: str, secret_hash: str) -> str | None:
        if not self._live:
            return None
        found = self._credentials.get((environment_id, secret_hash))
        self._count("credential", found is not None)
        return found

    def _count(self, cache: str, hit: bool) -> None:
        if hit:
            self.hits[cache] += 1
        else:
            self.misses[cache] += 1

    def put_environment(
        self, generation: int, environment: Environment, secret: tuple[str, str] | None = None
    ) -> None:
        """`secret` = (secret digest, secret id) that opened it, remembered for the next call."""
        with self._lock:
            if not self._live or generation != self.generation:
                return
            self._environments[environment.id] = environment
            if secret is not None:
                self._credentials[(environment.id, secret[0])] = secret[1]

    def jwks(self, environment_id: str) -> KeySet | None:
        entry = self._jwks.get(environment_id) if self._live else None
        if entry is None or time.monotonic() - entry[1] > self.ttl_seconds:
            return None
        return entry[0]

    def put_jwks(self, generation: int, environment_id: str, key_set: KeySet) -> None:
        with self._lock:
            if self._live and generation == self.generation:
                self._jwks[environment_id] = (key_set, time.monotonic())

    # -- sessions ----------------------------------------------------------------------------

    def session(self, session_id: str) -> CachedSession | None:
        if not self._live:
            return None
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                self.misses["session"] += 1
                return None
            if time.monotonic() - entry.loaded_at > self.ttl_seconds:
                self._drop_session(session_id)
                self.misses["session"] += 1
                return None
            self._sessions.move_to_end(session_id)
            self.hits["session"] += 1
            return entry

    def session_by_token(self, token_hash: str) -> CachedSession | None:
        if not self._live:
            return None
        session_id = self._by_token.get(token_hash)
        if session_id is None:
            self.misses["session"] += 1
            return None
        return self.session(session_id)

    def jwt_session(self, environment_id: str, session_jwt: str) -> tuple[str, str] | None:
        """(session id, member id) of a JWT whose signature this node already verified."""
        if not self._live:
            return None
        found = self._jwts.get((environment_id, session_jwt))
        self._count("jwt", found is not None)
        return found

    def put_jwt(
        self, environment_id: str, session_jwt: str, session_id: str, member_id: str
    ) -> None:
        with self._lock:
            if not self._live:
                return
            self._jwts[(environment_id, session_jwt)] = (session_id, member_id)
            if len(self._jwts) > self.max_sessions:
                self._jwts.popitem(last=False)

    def put_session(
        self, generation: int, active: ActiveSession, environment_id: str
    ) -> CachedSession:
        """Remember a session resolved from the database (if nothing changed meanwhile)."""
        entry = CachedSession(active, environment_id, active.row["token_hash"], time.monotonic())
        with self._lock:
            if not self._live or generation != self.generation:
                return entry
            session_id = active.row["id"]
            self._drop_session(session_id)
            self._sessions[session_id] = entry
            self._by_token[entry.token_hash] = session_id
            self._by_member.setdefault(active.member_id, set()).add(session_id)
            self._by_org.setdefault(active.organization_id, set()).add(session_id)
            self._by_environment.setdefault(environment_id, set()).add(session_id)
            while len(self._sessions) > self.max_sessions:
                self._drop_session(next(iter(self._sessions)))
        return entry

    def stats(self) -> dict[str, int]:
        return {
            "sessions": len(self._sessions),
            "jwts": len(self._jwts),
            "environments": len(self._environments),
            "credentials": len(self._credentials),
            "jwks": len(self._jwks),
        }
