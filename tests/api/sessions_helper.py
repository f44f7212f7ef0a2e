"""Organizations, members and member sessions made through the real HTTP API, for enforcement tests.

Members are imported with a bcrypt hash (`POST /v1/b2b/passwords/migrate`) and signed in with
`POST /v1/b2b/passwords/authenticate`, which gives the session token and session JWT that tests
send as `X-Stytch-Member-Session` / `X-Stytch-Member-SessionJWT`. The project policy is set
through the service, since that is set-up, not the behaviour under test.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import httpx

from gatehouse.policy import Permission, Policy, Role
from gatehouse.policy.defaults import STYTCH_MEMBER
from gatehouse.services.context import Caller
from tests.server import RunningServer

PASSWORD = "plough-orbit-velvet-42"
# Cost 4: the fastest bcrypt allows; every member shares it (each sign-in re-hashes to argon2id).
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

SESSION_HEADER = "X-Stytch-Member-Session"
JWT_HEADER = "X-Stytch-Member-SessionJWT"


@dataclass(frozen=True)
class Member:
    organization_id: str
    member_id: str
    email: str
    password_id: str
    session_token: str = ""
    session_jwt: str = ""

    def headers(self, *, jwt: bool = False) -> dict[str, str]:
        assert self.session_token, "this member was not signed in"
        return {JWT_HEADER: self.session_jwt} if jwt else {SESSION_HEADER: self.session_token}


class Api:
    """One environment's B2B API over HTTP, authenticated with its project id and secret."""

    def __init__(self, url: str, project_id: str, secret: str) -> None:
        # No keep-alive: on a reused loopback connection each request waits ~40 ms for a delayed
        # TCP ACK; a fresh connection per request costs ~1 ms.
        self.http = httpx.Client(
            base_url=url,
            auth=(project_id, secret),
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        as_member: Member | None = None,
        jwt: bool = False,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A call with the project secret, plus the member's session header when `as_member`."""
        headers = as_member.headers(jwt=jwt) if as_member is not None else {}
        return self.http.request(method, path, json=body, params=params, headers=headers)

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    # -- set-up, always with the project secret alone -----------------------------------------

    def new_org(self, name: str = "Enforcement test org") -> str:
        org = self.ok("POST", "/v1/b2b/organizations", body={"organization_name": name})
        return str(org["organization"]["organization_id"])

    def add_member(
        self,
        organization_id: str,
        *,
        roles: tuple[str, ...] | list[str] = (),
        signed_in: bool = True,
        **profile: Any,
    ) -> Member:
        email = f"m-{uuid.uuid4().hex[:10]}@example.com"
        migrated = self.ok(
            "POST",
            "/v1/b2b/passwords/migrate",
            body={
                "email_address": email,
                "hash": PASSWORD_HASH,
                "hash_type": "bcrypt",
                "organization_id": organization_id,
                "roles": list(roles),
                **profile,
            },
        )
        member = Member(
            organization_id, migrated["member_id"], email, migrated["member"]["member_password_id"]
        )
        return self.sign_in(member) if signed_in else member

    def sign_in(self, member: Member) -> Member:
        session = self.ok(
            "POST",
            "/v1/b2b/passwords/authenticate",
            body={
                "organization_id": member.organization_id,
                "email_address": member.email,
                "password": PASSWORD,
            },
        )
        return dataclasses.replace(
            member, session_token=session["session_token"], session_jwt=session["session_jwt"]
        )

    # -- read-back, with the project secret alone ------------------------------------------------

    def organization(self, organization_id: str) -> httpx.Response:
        return self.request("GET", f"/v1/b2b/organizations/{organization_id}")

    def member(self, organization_id: str, member_id: str) -> httpx.Response:
        return self.request(
            "GET",
            f"/v1/b2b/organizations/{organization_id}/member",
            params={"member_id": member_id},
        )

    def member_by_email(self, organization_id: str, email: str) -> httpx.Response:
        return self.request(
            "GET",
            f"/v1/b2b/organizations/{organization_id}/member",
            params={"email_address": email},
        )


def with_roles(policy: Policy, extra: list[Role], *, bare_stytch_member: bool = False) -> Policy:
    """`policy` plus `extra` roles; with `bare_stytch_member`, `stytch_member` grants nothing."""
    roles = [
        dataclasses.replace(r, permissions=())
        if bare_stytch_member and r.role_id == STYTCH_MEMBER
        else r
        for r in policy.roles
    ]
    return dataclasses.replace(policy, roles=tuple(roles) + tuple(extra))


def set_project_policy(server: RunningServer, project_id: str, policy: Policy) -> None:
    with server.store.transaction() as tx:
        environment = server.gatehouse.runtime.load_environment(tx, project_id)
    assert environment is not None
    server.gatehouse.rbac.set_policy(Caller(environment, "test"), policy)


def role(role_id: str, *permissions: tuple[str, tuple[str, ...]]) -> Role:
    return Role(role_id, f"test role {role_id}", tuple(Permission(r, a) for r, a in permissions))
