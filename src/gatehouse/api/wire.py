"""The Stytch JSON, shaped in this one place: the B2B objects (Organization, Member,
MemberSession, and the payloads built from them: a member with its organization, a sign-in) and
the Management API's (Project, Environment, Secret) and event log entries.

Services return rows and named values (`services.context`); routes turn them into JSON here.
The one deliberate exception to "shape per response" is the hot path's pre-encoded fragment
(`session_fragment`): encoded once per cache entry and JWT, an optimisation that every change to
what it shows invalidates (the cache entry is dropped).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import segno

from gatehouse.policy.defaults import STYTCH_ADMIN
from gatehouse.services import clock, ids
from gatehouse.services.b2b import roles
from gatehouse.services.b2b.mfa import Pending
from gatehouse.services.b2b.scim import ScimConnectionView
from gatehouse.services.context import ActiveSession, CachedSession, MemberView, SignIn
from gatehouse.services.redirects import TYPES, RedirectUrl
from gatehouse.services.workspace.projects import CreatedSecret, EnvironmentView
from gatehouse.storage.rows import (
    EnvironmentInfo,
    EventRow,
    MemberEmailRow,
    MemberRow,
    OrganizationRow,
    ProjectRow,
    ScimGroupRow,
    SecretRow,
    SessionRow,
    SsoRegistrationRow,
)

# Every Organization field the SDK requires, with the value a new organization starts with.
ORGANIZATION_DEFAULTS: dict[str, Any] = {
    "organization_logo_url": "",
    "untrusted_metadata": {},
    "sso_jit_provisioning": "ALL_ALLOWED",
    "sso_jit_provisioning_allowed_connections": [],
    "sso_default_connection_id": None,
    "email_allowed_domains": [],
    "email_jit_provisioning": "NOT_ALLOWED",
    "email_invites": "ALL_ALLOWED",
    "auth_methods": "ALL_ALLOWED",
    "allowed_auth_methods": [],
    "mfa_policy": "OPTIONAL",
    "rbac_email_implicit_role_assignments": [],
    "mfa_methods": "ALL_ALLOWED",
    "allowed_mfa_methods": [],
    "oauth_tenant_jit_provisioning": "NOT_ALLOWED",
    "allowed_oauth_tenants": {},
    "claimed_email_domains": [],
    "first_party_connected_apps_allowed_type": "ALL_ALLOWED",
    "allowed_first_party_connected_apps": [],
    "third_party_connected_apps_allowed_type": "ALL_ALLOWED",
    "allowed_third_party_connected_apps": [],
}


def org_to_wire(org: OrganizationRow) -> dict[str, Any]:
    settings = {**ORGANIZATION_DEFAULTS, **org["settings"]}
    scim = settings.pop(roles.SCIM_SETTING, None)
    return {
        "organization_id": org["id"],
        "organization_name": org["name"],
        "organization_slug": org["slug"],
        "organization_external_id": org["external_id"],
        "trusted_metadata": org["trusted_metadata"],
        **settings,
        "sso_active_connections": settings.get("sso_active_connections", []),
        "scim_active_connection": scim
        and {
            "connection_id": scim["connection_id"],
            "display_name": scim["display_name"],
            "bearer_token_last_four": scim["bearer_token_last_four"],
            "bearer_token_expires_at": scim["bearer_token_expires_at"],
        },
        "custom_roles": org["custom_roles"],
        "created_at": clock.iso(org["created_at"]),
        "updated_at": clock.iso(org["updated_at"]),
    }


def member_to_wire(
    member: MemberRow,
    direct: list[str],
    org: OrganizationRow,
    retired: Sequence[MemberEmailRow] = (),
    registrations: Sequence[SsoRegistrationRow] = (),
    sso: Sequence[roles.SsoGrant] = (),
) -> dict[str, Any]:
    member_roles = roles.member_roles(member, direct, org, sso)
    return {
        "organization_id": member["organization_id"],
        "member_id": member["id"],
        "email_address": member["email"],
        "email_address_verified": member["email_verified"],
        "status": member["status"],
        "name": member["name"],
        "sso_registrations": [
            {
                "connection_id": r["connection_id"],
                "external_id": r["external_id"],
                "registration_id": r["id"],
                "sso_attributes": r["sso_attributes"],
            }
            for r in registrations
        ],
        "oauth_registrations": [],
        "is_breakglass": member["is_breakglass"],
        "member_password_id": member["password_id"] or "",
        "mfa_phone_number_verified": member["mfa_phone_verified"],
        "mfa_phone_number": member["mfa_phone_number"],
        "mfa_enrolled": member["mfa_enrolled"],
        "default_mfa_method": member["default_mfa_method"],
        "is_admin": any(r["role_id"] == STYTCH_ADMIN for r in member_roles),
        "totp_registration_id": member["totp_registration_id"],
        "retired_email_addresses": [
            {"email_id": r["email_id"] or "", "email_address": r["email"]} for r in retired
        ],
        "is_locked": False,
        "lock_created_at": None,
        "lock_expires_at": None,
        "roles": member_roles,
        "trusted_metadata": member["trusted_metadata"],
        "untrusted_metadata": member["untrusted_metadata"],
        "external_id": member["external_id"],
        "scim_registration": scim_registration_to_wire(member),
        "created_at": clock.iso(member["created_at"]),
        "updated_at": clock.iso(member["updated_at"]),
    }


def session_to_wire(
    row: SessionRow, org: OrganizationRow, role_ids: frozenset[str]
) -> dict[str, Any]:
    return {
        "member_session_id": row["id"],
        "member_id": row["member_id"],
        "organization_id": row["organization_id"],
        "organization_slug": org["slug"],
        "started_at": clock.iso(row["started_at"]),
        "last_accessed_at": clock.iso(row["last_accessed_at"]),
        "expires_at": clock.iso(row["expires_at"]),
        "authentication_factors": row["authentication_factors"],
        "roles": sorted(role_ids),
        "custom_claims": row["custom_claims"],
    }


def member_of(view: MemberView) -> dict[str, Any]:
    return member_to_wire(
        view.member,
        list(view.direct_roles),
        view.org,
        view.retired_emails,
        view.sso_registrations,
        view.sso_grants,
    )


def member_payload(view: MemberView) -> dict[str, Any]:
    """`{member_id, member, organization}`: the answer of every member endpoint."""
    return {
        "member_id": view.member["id"],
        "member": member_of(view),
        "organization": org_to_wire(view.org),
    }


def member_session(active: ActiveSession) -> dict[str, Any]:
    return session_to_wire(active.row, active.org, active.roles)


def active_member(active: ActiveSession) -> dict[str, Any]:
    """The session's Member, from what resolving the session already read."""
    return member_to_wire(active.member, list(active.direct_roles), active.org)


def sign_in_payload(signed_in: SignIn) -> dict[str, Any]:
    """What a call that signs a member in answers (the fields every such SDK response needs)."""
    active = signed_in.active
    return {
        "member_id": active.member_id,
        "organization_id": active.organization_id,
        "member": active_member(active),
        "organization": org_to_wire(active.org),
        "session_token": signed_in.session_token,
        "session_jwt": signed_in.session_jwt,
        "member_session": member_session(active),
    }


def session_fragment(entry: CachedSession) -> bytes:
    """`"session_jwt":…,"member_session":…,"member":…,"organization":…` encoded once per cache
    entry and JWT: every change to what they show drops the entry. The JWT is read once, so the
    fragment and `wire_jwt` always agree."""
    session_jwt = entry.jwt
    if entry.wire is None or entry.wire_jwt != session_jwt:
        active = entry.active
        objects = {
            "session_jwt": session_jwt,
            "member_session": member_session(active),
            "member": active_member(active),
            "organization": org_to_wire(active.org),
        }
        encoded = json.dumps(objects, ensure_ascii=False, separators=(",", ":"))
        entry.wire, entry.wire_jwt = encoded[1:-1].encode(), session_jwt
    return entry.wire


# -- the Management API ------------------------------------------------------------------------

ENVIRONMENT_SETTING_DEFAULTS: dict[str, Any] = {
    "oauth_callback_id": "",
    "cross_org_passwords_enabled": False,
    "zero_downtime_session_migration_url": "",
    "use_custom_domain_in_magic_link_emails": False,
    "user_lock_self_serve_enabled": False,
    "user_lock_threshold": 10,
    "user_lock_ttl": 3600,
    "idp_authorization_url": "",
    "idp_dynamic_client_registration_enabled": False,
    "idp_dynamic_client_registration_access_token_template_content": "",
}


def project_to_wire(project: ProjectRow) -> dict[str, Any]:
    return {
        "project_slug": project["slug"],
        "name": project["name"],
        "vertical": project["vertical"],
        "created_at": clock.iso(project["created_at"]),
    }


def environment_to_wire(project: ProjectRow, environment: EnvironmentInfo) -> dict[str, Any]:
    return {
        **ENVIRONMENT_SETTING_DEFAULTS,
        **environment["settings"],
        "environment_slug": environment["slug"],
        "project_slug": project["slug"],
        "name": environment["name"],
        "type": environment["kind"].upper(),
        "project_id": environment["id"],
        "user_impersonation_enabled": environment["user_impersonation_enabled"],
        "created_at": clock.iso(environment["created_at"]),
    }


def secret_to_wire(secret: SecretRow) -> dict[str, Any]:
    return {
        "secret_id": secret["id"],
        "last_four": secret["last_four"],
        "created_at": clock.iso(secret["created_at"]),
        "used_at": None,
    }


def environment_view(view: EnvironmentView) -> dict[str, Any]:
    return environment_to_wire(view.project, view.environment)


def created_secret(created: CreatedSecret) -> dict[str, Any]:
    """The one answer that shows a secret."""
    return {
        "secret_id": created.secret_id,
        "secret": created.secret,
        "created_at": clock.iso(created.created_at),
    }


def event_to_wire(row: EventRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "actor": row["actor"],
        "actor_role": row["actor_role"],
        "action": row["action"],
        "target": row["target"],
        "changes": row["changes"],
        # Full precision, so the oldest `created_at` of a page can be the next page's `until`.
        "created_at": row["created_at"].astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def redirect_url(found: RedirectUrl) -> dict[str, Any]:
    """A Management API RedirectURL: its types in Stytch's order."""
    return {
        "url": found.url,
        "valid_types": [
            {"type": t, "is_default": found.types[t]} for t in TYPES if t in found.types
        ],
    }


def primary_signed_in(outcome: SignIn | Pending) -> dict[str, Any]:
    """A primary factor's answer: a session, or (the member owes a second factor) no session,
    an intermediate session token and `mfa_required`."""
    if isinstance(outcome, Pending):
        view = outcome.view
        return {
            "member_id": view.member["id"],
            "organization_id": view.org["id"],
            "member": member_of(view),
            "organization": org_to_wire(view.org),
            "session_token": "",
            "session_jwt": "",
            "member_session": None,
            "intermediate_session_token": outcome.intermediate_session_token,
            "member_authenticated": False,
            "mfa_required": outcome.mfa_required,
            "primary_required": None,
        }
    return {
        **sign_in_payload(outcome),
        "intermediate_session_token": "",
        "member_authenticated": True,
        "mfa_required": None,
        "primary_required": None,
    }


def password_reset(outcome: SignIn | Pending) -> dict[str, Any]:
    """A password reset's answer: `primary_signed_in`'s and the member's email id."""
    member_id = (
        outcome.view.member["id"] if isinstance(outcome, Pending) else outcome.active.member_id
    )
    return {**primary_signed_in(outcome), "member_email_id": ids.email_id(member_id)}


def signed_in_by_email(done: Any) -> dict[str, Any]:
    """A session-minting email or discovery flow's answer (every field the SDK requires)."""
    return {
        **primary_signed_in(done.sign_in),
        "method_id": done.method_id,
        "reset_sessions": False,
    }


def exchanged(done: Any) -> dict[str, Any]:
    return primary_signed_in(done.sign_in)


def discovered_organizations(found: Any) -> list[dict[str, Any]]:
    return [
        {
            "member_authenticated": m.member_authenticated,
            "organization": org_to_wire(m.org),
            "membership": {
                "type": m.type,
                "details": m.details,
                "member": member_of(m.member) if m.member is not None else None,
            },
            "primary_required": (
                None
                if m.member_authenticated or m.mfa_required is not None
                else {"allowed_auth_methods": m.allowed_auth_methods}
            ),
            "mfa_required": m.mfa_required,
        }
        for m in found.organizations
    ]


def scim_registration_to_wire(member: MemberRow) -> dict[str, Any] | None:
    """The member's SCIM registration, with the User's attributes as the IdP last wrote them."""
    scim = member.get("scim")
    if not scim:
        return None
    return {
        "connection_id": scim["connection_id"],
        "registration_id": scim["registration_id"],
        "external_id": scim.get("external_id"),
        "scim_attributes": scim.get("scim_attributes"),
    }


def scim_connection_to_wire(view: ScimConnectionView) -> dict[str, Any]:
    """The SCIM Connection object; `bearer_token` (create) or `next_bearer_token` (rotate_start)
    only when the view carries one, shown once."""
    row = view.row
    rules = [
        {
            "role_id": r["role_id"],
            "group_id": r["group_id"],
            "group_name": view.group_names.get(r["group_id"], ""),
        }
        for r in row["group_roles"]
    ]
    expires = row["token_expires_at"]
    next_expires = row["next_token_expires_at"]
    wire: dict[str, Any] = {
        "organization_id": row["organization_id"],
        "connection_id": row["id"],
        "status": "active",
        "display_name": row["display_name"],
        "identity_provider": row["identity_provider"],
        "base_url": view.base_url,
        "scim_group_implicit_role_assignments": rules,
        "bearer_token_expires_at": clock.iso(expires) if expires else None,
    }
    if view.bearer_token is not None:
        return {**wire, "bearer_token": view.bearer_token}
    wire["bearer_token_last_four"] = row["token_last_four"]
    wire["next_bearer_token_expires_at"] = clock.iso(next_expires) if next_expires else None
    if view.next_bearer_token is not None:
        return {**wire, "next_bearer_token": view.next_bearer_token}
    return {**wire, "next_bearer_token_last_four": row["next_token_last_four"]}


def scim_group_to_wire(row: ScimGroupRow, organization_id: str) -> dict[str, Any]:
    return {
        "group_id": row["id"],
        "group_name": row["display_name"],
        "organization_id": organization_id,
        "connection_id": row["connection_id"],
    }


def saml_connection_to_wire(connection: Any) -> dict[str, Any]:
    """A services.b2b.sso.Connection as the SDK's SAMLConnection (private keys never shown)."""
    row, config = connection.row, connection.row["config"]
    return {
        "organization_id": row["organization_id"],
        "connection_id": row["id"],
        "status": row["status"],
        "idp_entity_id": config["idp_entity_id"],
        "display_name": config["display_name"],
        "idp_sso_url": config["idp_sso_url"],
        "acs_url": connection.acs_url,
        "audience_uri": connection.audience_uri,
        "signing_certificates": config["signing_certificates"],
        "verification_certificates": config["verification_certificates"],
        "encryption_private_keys": [
            {
                "private_key_id": k["private_key_id"],
                "private_key": "",
                "created_at": k["created_at"],
            }
            for k in config["encryption_private_keys"]
        ],
        "saml_connection_implicit_role_assignments": config[
            "saml_connection_implicit_role_assignments"
        ],
        "saml_group_implicit_role_assignments": config["saml_group_implicit_role_assignments"],
        "alternative_audience_uri": config["alternative_audience_uri"],
        "identity_provider": config["identity_provider"],
        "nameid_format": config["nameid_format"],
        "alternative_acs_url": config["alternative_acs_url"],
        "idp_initiated_auth_disabled": config["idp_initiated_auth_disabled"],
        "allow_gateway_callback": config["allow_gateway_callback"],
        "attribute_mapping": config["attribute_mapping"],
    }


def oidc_connection_to_wire(connection: Any) -> dict[str, Any]:
    """A services.b2b.oidc.Connection as the SDK's OIDCConnection (the secret masked)."""
    row, config = connection.row, connection.row["config"]
    return {
        "organization_id": row["organization_id"],
        "connection_id": row["id"],
        "status": row["status"],
        "display_name": config["display_name"],
        "redirect_url": connection.redirect_url,
        "client_id": config["client_id"],
        "client_secret": connection.client_secret,
        "issuer": config["issuer"],
        "authorization_url": config["authorization_url"],
        "token_url": config["token_url"],
        "userinfo_url": config["userinfo_url"],
        "jwks_url": config["jwks_url"],
        "identity_provider": config["identity_provider"],
        "custom_scopes": config["custom_scopes"],
        "attribute_mapping": config["attribute_mapping"],
    }


def sso_authenticated(done: Any) -> dict[str, Any]:
    """`sso.authenticate`'s answer (services.b2b.sso.Authenticated)."""
    return {
        **sign_in_payload(done.sign_in),
        "member": member_of(done.view),
        "organization": org_to_wire(done.view.org),
        "reset_session": False,
        "intermediate_session_token": "",
        "member_authenticated": True,
        "mfa_required": None,
        "primary_required": None,
    }


def qr_code(text: str) -> str:
    """`text` (a TOTP registration's otpauth URL) as a QR code: a PNG data URL, the form
    Stytch's `qr_code` takes, for an `<img src>`."""
    return str(segno.make(text, error="m").png_data_uri(scale=4, border=2))
