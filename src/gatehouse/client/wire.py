"""What the client asks the server and how it reads the answers, shared by the sync and async
clients: paths, the HTTP client they default to, and turning responses into values or errors.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from gatehouse.client.errors import ServerError, TenancyError
from gatehouse.policy import Policy, PolicyProblems, Role, org_policy_from_wire, policy_from_wire

POLICY_PATH = "/v1/b2b/gatehouse/policy"
AUTHORIZE_PATH = "/v1/b2b/gatehouse/authorize"
MAX_BATCH = 10_000  # the server's limit on checks per request; longer lists go in several
# Without it a request whose body goes out in a second write waits for the server's delayed ACK
# (~40 ms on Linux) on a kept-alive connection.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def org_policy_path(organization_id: str) -> str:
    return "/v1/b2b/rbac/organizations/" + quote(organization_id, safe="")


def jwks_path(project_id: str) -> str:
    return "/v1/b2b/sessions/jwks/" + quote(project_id, safe="")


@dataclass(frozen=True, slots=True)
class Settings:
    project_id: str
    secret: str
    base_url: str  # without a trailing slash
    issuer: str
    push: bool
    poll_seconds: float
    timeout: float
    leeway_seconds: float

    @property
    def auth(self) -> tuple[str, str]:
        return (self.project_id, self.secret)

    def url(self, path: str) -> str:
        return self.base_url + path


def settings(
    project_id: str,
    secret: str,
    base_url: str,
    issuer: str | None,
    push: bool,
    poll_seconds: float,
    timeout: float,
    leeway_seconds: float,
) -> Settings:
    if poll_seconds <= 0:
        raise ValueError("`poll_seconds` must be positive")
    base = base_url.rstrip("/")
    return Settings(
        project_id,
        secret,
        base,
        (issuer if issuer is not None else base).rstrip("/"),
        push,
        poll_seconds,
        timeout,
        leeway_seconds,
    )


def sync_http(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(socket_options=NODELAY))


def async_http(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout, transport=httpx.AsyncHTTPTransport(socket_options=NODELAY)
    )


def unreachable(error: httpx.HTTPError, what: str) -> ServerError:
    return ServerError(f"could not {what}: {type(error).__name__}: {error}")


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200 answer; the server's error as an exception otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        return body
    fields = body if isinstance(body, dict) else {}
    error_type = fields.get("error_type")
    message = fields.get("error_message") or f"the server answered http {response.status_code}"
    if error_type == "session_authorization_tenancy_error":
        raise TenancyError(str(message))
    raise ServerError(
        str(message),
        status_code=response.status_code,
        error_type=str(error_type) if error_type else None,
        request_id=str(fields["request_id"]) if fields.get("request_id") else None,
    )


def project_policy(body: dict[str, Any]) -> tuple[int, Policy]:
    try:
        version = body["policy_version"]
        if not isinstance(version, int):
            raise TypeError("policy_version")
        return version, policy_from_wire(body["policy"])
    except (KeyError, TypeError, PolicyProblems) as error:
        raise ServerError(f"the server sent a policy this client cannot read: {error}") from None


def org_roles(body: dict[str, Any]) -> tuple[Role, ...]:
    try:
        return org_policy_from_wire(body["org_policy"]).roles
    except (KeyError, PolicyProblems) as error:
        raise ServerError(
            f"the server sent an organization policy this client cannot read: {error}"
        ) from None


def batch_body(
    organization_id: str,
    checks: Iterable[tuple[str, str]],
    session_jwt: str | None,
    session_token: str | None,
) -> dict[str, Any]:
    if (session_jwt is None) == (session_token is None):
        raise ValueError("pass exactly one of `session_jwt` or `session_token`")
    body: dict[str, Any] = {
        "organization_id": organization_id,
        "checks": [{"resource_id": r, "action": a} for r, a in checks],
    }
    if session_jwt is not None:
        body["session_jwt"] = session_jwt
    else:
        body["session_token"] = session_token
    return body


def batch_results(body: dict[str, Any], expected: int) -> list[bool]:
    results = body.get("results")
    if (
        not isinstance(results, list)
        or len(results) != expected
        or not all(isinstance(r, bool) for r in results)
    ):
        raise ServerError("the server's batch answer does not hold one verdict per check")
    return results
