"""Who calls the B2B API: an environment opened by its id (the `project_id` of the wire) and secret, and the member
session a call may carry (`X-Stytch-Member-Session` / `X-Stytch-Member-SessionJWT`).

Two ways to answer, one rule: `warm` answers from this node's memory alone and returns None when
it would have to read the database (then call `resolve`, in a thread); both give the same
`Caller` for the same credentials. Only (project, secret) pairs that verified before are
remembered, keyed by the secret's SHA-256, so a wrong secret always goes to the database.
"""

from __future__ import annotations

from typing import Protocol

from gatehouse.errors import Unauthorized
from gatehouse.services.b2b.sessions import Sessions
from gatehouse.services.context import ActiveSession, Caller, Environment
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.storage.interface import ProjectStore, Transactions


class _Store(Transactions, ProjectStore, Protocol):
    """The storage this service uses."""


def _unauthorized() -> Unauthorized:
    return Unauthorized(
        "the project id and secret do not match; check the credentials you pass as basic auth"
    )


def _caller(environment: Environment, secret_id: str, session: ActiveSession | None) -> Caller:
    actor = f"member:{session.member_id}" if session else f"secret:{secret_id}"
    return Caller(environment, actor, session)


class Callers:
    def __init__(self, runtime: Runtime, sessions: Sessions) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.sessions = sessions

    def warm(
        self, environment_id: str, secret: str, token: str | None, jwt: str | None
    ) -> Caller | None:
        """The caller from this node's memory alone (no database, no thread hop), or None."""
        cache = self.runtime.cache
        environment = cache.environment(environment_id)
        if environment is None:
            return None
        secret_id = cache.secret_id(environment_id, credentials.token_digest(secret))
        if secret_id is None:
            return None
        if not (token or jwt):
            return _caller(environment, secret_id, None)
        entry = self.sessions.lookup_cached(environment, token, jwt)
        return _caller(environment, secret_id, entry.active) if entry is not None else None

    def resolve(
        self, environment_id: str, secret: str, token: str | None, jwt: str | None
    ) -> Caller:
        """Who calls with these credentials (and session), reading the database where the
        node's memory does not know; blocking (the server runs it in a thread)."""
        environment, secret_id = self.authenticate(environment_id, secret)
        session = self.sessions.lookup(environment, token, jwt).active if token or jwt else None
        return _caller(environment, secret_id, session)

    def authenticate(self, environment_id: str, secret: str) -> tuple[Environment, str]:
        """The environment an (environment id, secret) pair opens, and the secret's id for the event
        log; the node remembers both for `warm`."""
        cache = self.runtime.cache
        generation = cache.generation  # read before the transaction begins (services/node/cache.py)
        with self.store.read() as tx:
            environment = self.runtime.load_environment(tx, environment_id)
            if environment is None:
                # Hash anyway so an unknown project costs the same as a wrong secret.
                credentials.digest_matches(secret, "0" * 64)
                raise _unauthorized()
            matched = None
            for candidate in self.store.secrets(tx, environment_id):
                if credentials.digest_matches(secret, candidate["secret_hash"]):
                    matched = candidate["id"]
        if matched is None:
            raise _unauthorized()
        cache.put_environment(generation, environment, (credentials.token_digest(secret), matched))
        return environment, matched
