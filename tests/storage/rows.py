"""Rows and helpers shared by the storage conformance suite (tests/storage/test_conformance*.py).

A builder returns a row holding every NOT NULL column of `storage/sql/tables.py` (but a project's
`vertical`, left to its server default), with values a test may override; ids are fresh on every
call.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from gatehouse.storage import Store

# Microseconds on purpose: neither backend may lose them.
T0 = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
_serial = itertools.count(1)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def new_id(kind: str) -> str:
    return f"{kind}-test-{uuid.uuid4().hex}"


# -- row builders: every NOT NULL column of sql/tables.py, overridable ------------------------


def workspace_row(**overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("workspace"),
        "name": "Workspace",
        "created_at": T0,
        "settings": {},
    } | overrides


def workspace_member_row(workspace_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("workspace-member"),
        "workspace_id": workspace_id,
        "email": f"owner{next(_serial)}@example.com",
        "role": "admin",
        "created_at": T0,
        "name": "",
        "status": "active",
        "email_verified": False,
        "password_hash": None,
    } | overrides


def project_row(workspace_id: str, **overrides: Any) -> dict[str, Any]:
    project_id = new_id("project")
    return {
        "id": project_id,
        "workspace_id": workspace_id,
        "name": "Project",
        "slug": project_id,
        "created_at": T0,
    } | overrides


def environment_row(project_id: str, **overrides: Any) -> dict[str, Any]:
    environment_id = new_id("project-test")
    return {
        "id": environment_id,
        "slug": environment_id,
        "user_impersonation_enabled": False,
        "settings": {},
        "project_id": project_id,
        "kind": "test",
        "name": "Test",
        "policy_version": 1,
        "policy": {"roles": [{"role_id": "stytch_member", "permissions": []}]},
        "created_at": T0,
    } | overrides


def secret_row(environment_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("secret"),
        "environment_id": environment_id,
        "secret_hash": uuid.uuid4().hex,
        "last_four": "abcd",
        "created_at": T0,
    } | overrides


def signing_key_row(environment_id: str, **overrides: Any) -> dict[str, Any]:
    kid = new_id("jwk")
    return {
        "kid": kid,
        "environment_id": environment_id,
        "private_key_pem": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        "public_jwk": {"kty": "RSA", "kid": kid, "n": "0vx7", "e": "AQAB"},
        "created_at": T0,
    } | overrides


def organization_row(environment_id: str, **overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    return {
        "id": new_id("organization"),
        "environment_id": environment_id,
        "name": f"Organization {n}",
        "slug": f"org-{n}",
        "external_id": None,
        "trusted_metadata": {"tier": "gold", "seats": n, "tags": ["a", "b"]},
        "settings": {
            "email_allowed_domains": ["example.com"],
            "sso_jit_provisioning": "NOT_ALLOWED",
        },
        "custom_roles": [{"role_id": "auditor", "permissions": []}],
        "created_at": T0,
        "updated_at": T0,
    } | overrides


def member_row(environment_id: str, organization_id: str, **overrides: Any) -> dict[str, Any]:
    email = overrides.pop("email", f"member{next(_serial)}@example.com")
    return {
        "id": new_id("member"),
        "environment_id": environment_id,
        "organization_id": organization_id,
        "email": email,
        "email_lower": email.lower(),
        "status": "active",
        "name": "Member",
        "external_id": None,
        "is_breakglass": False,
        "email_verified": True,
        "mfa_enrolled": False,
        "mfa_phone_number": "",
        "mfa_phone_verified": False,
        "default_mfa_method": "",
        "totp_registration_id": "",
        "trusted_metadata": {"department": "eng"},
        "untrusted_metadata": {},
        "password_id": None,
        "password_hash": None,
        "created_at": T0,
        "updated_at": T0,
        "scim": None,
    } | overrides


def session_row(member: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("member-session"),
        "environment_id": member["environment_id"],
        "organization_id": member["organization_id"],
        "member_id": member["id"],
        "token_hash": uuid.uuid4().hex,
        "authentication_factors": [{"type": "password", "delivery_method": "knowledge"}],
        "custom_claims": {"plan": "pro"},
        "started_at": T0,
        "last_accessed_at": T0,
        "expires_at": at(3600),
        "revoked_at": None,
    } | overrides


def event_row(environment_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "environment_id": environment_id,
        "actor": "workspace-member-test-1",
        "actor_role": "admin",
        "action": "organization.create",
        "target": "organization-test-1",
        "changes": {"name": [None, "Acme"]},
        "created_at": T0,
    } | overrides


def domain_row(workspace_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "domain": f"d{next(_serial)}.example.com",
        "jit_enabled": True,
        "auto_role": "developer",
        "created_at": T0,
    } | overrides


def workspace_key_row(workspace_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("workspace-key"),
        "workspace_id": workspace_id,
        "secret_hash": uuid.uuid4().hex,
        "last_four": "wxyz",
        "role": "developer",
        "name": "CI",
        "created_by": "workspace-member-test-1",
        "created_at": T0,
        "revoked_at": None,
    } | overrides


def dashboard_session_row(member_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("dashboard-session"),
        "member_id": member_id,
        "token_hash": uuid.uuid4().hex,
        "created_at": T0,
        "expires_at": at(3600),
        "revoked_at": None,
    } | overrides


def email_token_row(**overrides: Any) -> dict[str, Any]:
    return {
        "id": new_id("email-token"),
        "purpose": "sign_in",
        "token_hash": uuid.uuid4().hex,
        "email": f"person{next(_serial)}@example.com",
        "workspace_id": None,
        "environment_id": None,
        "subject_id": None,
        "created_at": T0,
        "expires_at": at(900),
        "used_at": None,
    } | overrides


# -- helpers ---------------------------------------------------------------------------------


def assert_same_row(got: dict[str, Any] | None, written: dict[str, Any]) -> None:
    """`got` holds exactly what was written; its timestamps are timezone-aware UTC."""
    assert got is not None
    assert got == written
    for name, value in got.items():
        if isinstance(value, dt.datetime):
            assert value.utcoffset() == dt.timedelta(0), f"{name} is not UTC: {value!r}"


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


@dataclass
class Tenant:
    workspace_id: str
    project_id: str
    environment_id: str
    other_environment_id: str  # same project: for checking that reads stay in their environment


def insert_organizations(store: Store, *rows: dict[str, Any]) -> None:
    with store.transaction() as tx:
        for row in rows:
            store.insert_organization(tx, row)


def insert_members(store: Store, *rows: dict[str, Any]) -> None:
    with store.transaction() as tx:
        for row in rows:
            store.insert_member(tx, row)


def find_organization(store: Store, environment_id: str, ident: str) -> dict[str, Any] | None:
    with store.transaction() as tx:
        return store.find_organization(tx, environment_id, ident)
