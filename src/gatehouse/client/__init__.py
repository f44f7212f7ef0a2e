"""The Gatehouse Python SDK: session JWTs verified and authorization checked inside the app's
process, with the server's exact semantics, and kept fresh by push.

    from gatehouse.client import Client

    with Client(project_id, secret, "https://gatehouse.example.com") as gatehouse:
        session = gatehouse.verify_jwt(session_jwt)
        if gatehouse.is_authorized(session, organization_id, "documents", "write"): ...

`AsyncClient` is the same with `async`/`await`. Local checks use the policy engine the server
uses (`gatehouse.policy`), on the project policy (`GET /v1/b2b/gatehouse/policy`, with its
version) with the organization's custom roles layered on (`GET /v1/b2b/rbac/organizations/{id}`),
compiled once and cached (organizations in an LRU of 1,024). A member of another organization
raises `TenancyError`; a denial is a `False`, never an exception.

How stale a local check can be:

- policy changes, while the push stream (`GET /v1/b2b/gatehouse/changes`) is connected: about
  a second after the change commits (the server's change feed, then one fetch);
- while it is not (or with `push=False`): up to `poll_seconds` (30 s by default) for the project
  policy, which is polled, and for an organization's custom roles, which are fetched again when
  older than that; a reconnect drops every cached organization, as the stream may have missed
  their changes. If the server cannot be reached, the last policy fetched stays in use;
- role assignments: the roles are those in the session JWT, so a member's new roles reach local
  checks when the app next gets a fresh JWT (`sessions.authenticate`; a JWT lives at most 5
  minutes), as with Stytch's SDK. `remote_check_batch` asks the server, which uses the roles as
  they are now.

For comparison, the official Stytch SDK refreshes its cached policy every 10 minutes.
"""

from gatehouse.client.asynchronous import AsyncClient
from gatehouse.client.errors import (
    GatehouseClientError,
    InvalidSessionJWT,
    ServerError,
    TenancyError,
)
from gatehouse.client.jwks import VerifiedSession
from gatehouse.client.sync import Client
from gatehouse.policy import Decision

__all__ = [
    "AsyncClient",
    "Client",
    "Decision",
    "GatehouseClientError",
    "InvalidSessionJWT",
    "ServerError",
    "TenancyError",
    "VerifiedSession",
]
