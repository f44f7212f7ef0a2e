"""Helpers for tests that drive a real Gatehouse server through the official `stytch` SDK.

Everything here goes over HTTP with the real SDK, except `install_policy`: the B2B API has no
endpoint that writes the project policy, so tests set it through the rbac service directly.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import bcrypt
import httpx
import pytest
import requests
import stytch
from stytch.b2b.models.sessions import AuthorizationCheck
from stytch.core.response_base import StytchError

from gatehouse.policy import policy_from_file
from gatehouse.services.context import Caller
from tests.server import RunningServer

PROJECT_POLICY = {
    "custom_resources": [
        {
            "resource_id": "documents",
            "description": "Shared documents",
            "available_actions": ["read", "write", "delete"],
        },
    ],
    "custom_roles": [
        {
            "role_id": "editor",
            "description": "Reads and writes documents",
            "permissions": [{"resource_id": "documents", "actions": ["read", "write"]}],
        },
        {
            "role_id": "viewer",
            "description": "Reads documents",
            "permissions": [{"resource_id": "documents", "actions": ["read"]}],
        },
    ],
}

# An organization custom role (org policy) over a custom and a default resource.
AUDITOR = {
    "role_id": "auditor",
    "description": "Reads documents and searches members",
    "permissions": [
        {"resource_id": "documents", "actions": ["read"]},
        {"resource_id": "stytch.member", "actions": ["search"]},
    ],
}

PASSWORD = "violet-Harbor-7-lantern"
WRONG_PASSWORD = "violet-Harbor-7-lantern!"


def unique(prefix: str) -> str:
    """A name no other test uses: tests of one module share a server."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def email(domain: str = "example.test") -> str:
    return f"{unique('m')}@{domain}"


def new_org(client: Any, **fields: Any) -> Any:
    name = unique("Org")
    return client.organizations.create(
        organization_name=name, organization_slug=name.lower(), **fields
    ).organization


def register_redirect_url(server: RunningServer, url: str, types: list[str]) -> None:
    """Register `url` as the test environment's default redirect URL of each type in `types`
    (Management API `redirect_urls.create`)."""
    key = server.management_key
    response = httpx.post(
        f"{server.url}/pwa/v3/projects/{server.project_slug}/environments/test/redirect_urls",
        auth=(key["key_id"], key["secret"]),
        json={"url": url, "valid_types": [{"type": t, "is_default": True} for t in types]},
    )
    assert response.status_code == 200, response.text


def refused_callback(server: RunningServer, url: str, status: int, error_type: str) -> str:
    """A browser's GET of `url` (an SSO callback) is refused with `status` and `error_type`, and
    nothing in the database changed: the error message."""
    before = server.snapshot()
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == status, response.text
    assert response.json()["error_type"] == error_type
    assert server.snapshot() == before
    return str(response.json()["error_message"])


def role_ids(member: Any) -> set[str]:
    return {r.role_id for r in member.roles}


def check(org_id: str, resource_id: str, action: str) -> AuthorizationCheck:
    return AuthorizationCheck(organization_id=org_id, resource_id=resource_id, action=action)


def install_policy(server: RunningServer, file_policy: dict[str, Any]) -> None:
    """Replace the test environment's project policy with `file_policy` (policy-file shape)."""
    policy = policy_from_file(file_policy)
    with server.store.transaction() as tx:
        environment = server.gatehouse.runtime.load_environment(tx, server.project_id)
    assert environment is not None
    server.gatehouse.rbac.set_policy(Caller(environment, "test"), policy)


@dataclass
class Tenant:
    """One organization with signed-in members (passwords.authenticate responses)."""

    org_id: str
    admin: Any  # stytch_admin
    editor: Any  # editor and viewer
    plain: Any  # no direct roles: stytch_member only
    outsider: Any  # stytch_admin of another organization


@contextmanager
def stytch_error(status: int, error_type: str) -> Iterator[pytest.ExceptionInfo[StytchError]]:
    """Expect the SDK to raise StytchError with this HTTP status and `error_type`."""
    with pytest.raises(StytchError) as info:
        yield info
    details = info.value.details
    assert (details.status_code, details.error_type) == (status, error_type), details.error_message


@functools.cache
def bcrypt_hash(password: str = PASSWORD) -> str:
    """A real bcrypt hash (cost 4: fast, and the cost never matters to these tests)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def sign_in(client: Any, organization_id: str, email: str, roles: list[str] | None = None) -> Any:
    """Create (or update) a member by importing a bcrypt hash, then sign in with its password.

    Returns the SDK's passwords.authenticate response: `session_token`, `session_jwt`,
    `member_session`, `member`, `organization`.
    """
    extra = {} if roles is None else {"roles": roles}
    client.passwords.migrate(
        email_address=email,
        hash=bcrypt_hash(),
        hash_type="bcrypt",
        organization_id=organization_id,
        **extra,
    )
    return client.passwords.authenticate(
        organization_id=organization_id, email_address=email, password=PASSWORD
    )


def http_session() -> requests.Session:
    """A plain requests session (kept-alive connections), as an app would use."""
    return requests.Session()


def sdk_client(server: RunningServer, session: requests.Session | None = None) -> Any:
    """Like `server.b2b_client()`, with a session a test may hook: the real SDK, real HTTP."""
    return stytch.B2BClient(
        server.project_id,
        server.secret,
        environment=server.url + "/",
        sync_session=session or http_session(),
    )


@contextmanager
def recording_client(server: RunningServer) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    """A fresh B2BClient (so a fresh policy cache) and the (method, path) of each API request it
    makes. The transport is the real one: a response hook only writes the requests down. The
    SDK's JWKS client fetches keys with urllib, so key fetches are not listed."""
    session = http_session()
    calls: list[tuple[str, str]] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        calls.append((str(response.request.method), urlsplit(response.url).path))

    session.hooks["response"].append(record)
    try:
        yield sdk_client(server, session), calls
    finally:
        session.close()
