"""One organization's worth of members whose roles cover every way a check can go, built through
the public APIs, and the server's single-check verdict to compare other answers with.

Shared by the batch endpoint's tests (tests/api/test_batch_authorize.py) and the client's: both
must agree with `sessions.authenticate(..., authorization_check=...)` of the official SDK.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from stytch.core.response_base import StytchError

from tests.sdk.support import AUDITOR, check, email, new_org, sdk_client, sign_in
from tests.server import RunningServer

POLICY = {
    "custom_resources": [
        {
            "resource_id": "documents",
            "description": "Shared documents",
            "available_actions": ["read", "write", "delete"],
        },
        {
            "resource_id": "billing",
            "description": "Invoices and payments",
            "available_actions": ["view", "pay"],
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
        {
            "role_id": "billing_admin",
            "description": "Everything on billing",
            "permissions": [{"resource_id": "billing", "actions": ["*"]}],
        },
    ],
}

IMPLICIT_DOMAIN = "implicit.test"  # the organization grants `viewer` to every address here

# Every member is asked every one of these: declared and undeclared actions, wildcard grants
# (default and custom), an unknown resource, and `*` asked as an action.
PAIRS = [
    ("stytch.member", "create"),
    ("stytch.member", "search"),
    ("stytch.member", "no.such.action"),
    ("stytch.self", "update.info.name"),
    ("stytch.self", "delete"),
    ("stytch.organization", "update.info.name"),
    ("documents", "read"),
    ("documents", "write"),
    ("documents", "delete"),
    ("documents", "shred"),
    ("documents", "*"),
    ("billing", "pay"),
    ("billing", "refund"),
    ("no-such-resource", "read"),
]
ROLES = {
    "admin": ["stytch_admin"],
    "editor": ["editor"],
    "plain": None,
    "auditor": ["auditor"],
    "implicit": None,  # `viewer` through the email domain
    "billing": ["billing_admin"],
}


@dataclass
class World:
    org_id: str
    members: dict[str, Any]  # name -> the SDK's passwords.authenticate response
    outsider: Any  # stytch_admin of another organization
    sdk: Any  # the official B2B client

    def cases(self) -> list[tuple[str, str, str]]:
        return [(who, r, a) for who, (r, a) in itertools.product(self.members, PAIRS)]


def set_policy_over_http(server: RunningServer, file_policy: dict[str, Any]) -> None:
    """Replace the test environment's project policy through the Management API."""
    key = server.management_key
    path = f"/pwa/v3/projects/{server.project_slug}/environments/test/rbac_policy"
    with httpx.Client(base_url=server.url, auth=(key["key_id"], key["secret"])) as http:
        response = http.put(path, json=file_policy)
    assert response.status_code == 200, response.text


def build_world(server: RunningServer) -> World:
    set_policy_over_http(server, POLICY)
    sdk = sdk_client(server)
    org_id = new_org(
        sdk,
        rbac_email_implicit_role_assignments=[{"domain": IMPLICIT_DOMAIN, "role_id": "viewer"}],
    ).organization_id
    sdk.rbac.organizations.set_org_policy(org_id, {"roles": [AUDITOR]})
    members = {
        who: sign_in(
            sdk, org_id, email(IMPLICIT_DOMAIN if who == "implicit" else "example.test"), roles
        )
        for who, roles in ROLES.items()
    }
    outsider = sign_in(sdk, new_org(sdk).organization_id, email(), ["stytch_admin"])
    return World(org_id, members, outsider, sdk)


def server_verdict(
    sdk: Any, session_token: str, org_id: str, resource_id: str, action: str
) -> bool:
    """The single check's answer: allowed, or refused with `session_authorization_error`."""
    try:
        answer = sdk.sessions.authenticate(
            session_token=session_token, authorization_check=check(org_id, resource_id, action)
        )
    except StytchError as error:
        assert error.details.error_type == "session_authorization_error", error.details
        return False
    assert answer.verdict.authorized
    return True
