"""Rows as the storage layer reads and writes them: one TypedDict per table, keyed by column.

Generated from `storage/sql/tables.py` (`tests/storage/test_rows.py` keeps them equal). A
`...Row` is a whole row; a `...Values` names the columns an update may set, any subset.
TypedDicts cost nothing at run time: rows stay the plain dicts the hot path encodes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

JsonObject = dict[str, Any]


class EmailTokenRow(TypedDict):
    """A row of `email_tokens`."""

    id: str
    purpose: str
    token_hash: str
    email: str
    workspace_id: str | None
    environment_id: str | None
    subject_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class EventRow(TypedDict):
    """A row of `events`."""

    id: int
    environment_id: str
    actor: str
    action: str
    target: str
    changes: JsonObject
    created_at: dt.datetime
    actor_role: str | None


class WorkspaceRow(TypedDict):
    """A row of `workspaces`."""

    id: str
    name: str
    created_at: dt.datetime
    settings: JsonObject


class WorkspaceValues(TypedDict, total=False):
    """Columns of `workspaces` an update sets."""

    name: str
    created_at: dt.datetime
    settings: JsonObject


class ProjectRow(TypedDict):
    """A row of `projects`."""

    id: str
    workspace_id: str
    name: str
    created_at: dt.datetime
    slug: str
    vertical: str


class ProjectValues(TypedDict, total=False):
    """Columns of `projects` an update sets."""

    workspace_id: str
    name: str
    created_at: dt.datetime
    slug: str
    vertical: str


class DomainRow(TypedDict):
    """A row of `workspace_domains`."""

    workspace_id: str
    domain: str
    jit_enabled: bool
    auto_role: str | None
    created_at: dt.datetime


class WorkspaceKeyRow(TypedDict):
    """A row of `workspace_keys`."""

    id: str
    workspace_id: str
    secret_hash: str
    last_four: str
    role: str
    name: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class WorkspaceKeyValues(TypedDict, total=False):
    """Columns of `workspace_keys` an update sets."""

    workspace_id: str
    secret_hash: str
    last_four: str
    role: str
    name: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class WorkspaceMemberRow(TypedDict):
    """A row of `workspace_members`."""

    id: str
    workspace_id: str
    email: str
    role: str | None
    created_at: dt.datetime
    name: str
    status: str
    email_verified: bool
    password_hash: str | None


class WorkspaceMemberValues(TypedDict, total=False):
    """Columns of `workspace_members` an update sets."""

    workspace_id: str
    email: str
    role: str | None
    created_at: dt.datetime
    name: str
    status: str
    email_verified: bool
    password_hash: str | None


class DashboardSessionRow(TypedDict):
    """A row of `dashboard_sessions`."""

    id: str
    member_id: str
    token_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class DashboardSessionValues(TypedDict, total=False):
    """Columns of `dashboard_sessions` an update sets."""

    member_id: str
    token_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class EnvironmentRow(TypedDict):
    """A row of `environments`."""

    id: str
    project_id: str
    kind: str
    name: str
    policy_version: int
    policy: JsonObject
    created_at: dt.datetime
    slug: str
    user_impersonation_enabled: bool
    settings: JsonObject


class EnvironmentValues(TypedDict, total=False):
    """Columns of `environments` an update sets."""

    project_id: str
    kind: str
    name: str
    policy_version: int
    policy: JsonObject
    created_at: dt.datetime
    slug: str
    user_impersonation_enabled: bool
    settings: JsonObject


class SecretRow(TypedDict):
    """A row of `api_secrets`."""

    id: str
    environment_id: str
    secret_hash: str
    last_four: str
    created_at: dt.datetime


class OrganizationRow(TypedDict):
    """A row of `organizations`."""

    id: str
    environment_id: str
    name: str
    slug: str
    external_id: str | None
    trusted_metadata: JsonObject
    settings: JsonObject
    custom_roles: list[JsonObject]
    created_at: dt.datetime
    updated_at: dt.datetime


class OrganizationValues(TypedDict, total=False):
    """Columns of `organizations` an update sets."""

    environment_id: str
    name: str
    slug: str
    external_id: str | None
    trusted_metadata: JsonObject
    settings: JsonObject
    custom_roles: list[JsonObject]
    created_at: dt.datetime
    updated_at: dt.datetime


class OrganizationIdentifierRow(TypedDict):
    """A row of `organization_identifiers`."""

    environment_id: str
    identifier: str
    organization_id: str
    kind: str


class SigningKeyRow(TypedDict):
    """A row of `signing_keys`."""

    kid: str
    environment_id: str
    private_key_pem: str
    public_jwk: JsonObject
    created_at: dt.datetime


class MemberRow(TypedDict):
    """A row of `members`."""

    id: str
    environment_id: str
    organization_id: str
    email: str
    email_lower: str
    status: str
    name: str
    external_id: str | None
    is_breakglass: bool
    email_verified: bool
    mfa_enrolled: bool
    mfa_phone_number: str
    mfa_phone_verified: bool
    default_mfa_method: str
    trusted_metadata: JsonObject
    untrusted_metadata: JsonObject
    password_id: str | None
    password_hash: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # SCIM-provisioned: {connection_id, registration_id, external_id, group_ids}; else None.
    scim: JsonObject | None
    totp_registration_id: str  # "" until a TOTP registration is verified (issue 12)


class MemberValues(TypedDict, total=False):
    """Columns of `members` an update sets."""

    environment_id: str
    organization_id: str
    email: str
    email_lower: str
    status: str
    name: str
    external_id: str | None
    is_breakglass: bool
    email_verified: bool
    mfa_enrolled: bool
    mfa_phone_number: str
    mfa_phone_verified: bool
    default_mfa_method: str
    trusted_metadata: JsonObject
    untrusted_metadata: JsonObject
    password_id: str | None
    password_hash: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    scim: JsonObject | None
    totp_registration_id: str  # "" until a TOTP registration is verified (issue 12)


class MemberEmailRow(TypedDict):
    """A row of `member_emails`."""

    organization_id: str
    email_lower: str
    member_id: str
    email: str
    email_id: str | None
    retired: bool
    created_at: dt.datetime


class MemberEmailTokenRow(TypedDict):
    """A row of `member_email_tokens`."""

    id: str
    environment_id: str
    organization_id: str | None
    member_id: str | None
    purpose: str
    token_hash: str
    email: str
    email_lower: str
    pkce_challenge: str | None
    attempts: int
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class IntermediateSessionRow(TypedDict):
    """A row of `intermediate_sessions`."""

    id: str
    environment_id: str
    token_hash: str
    email: str
    authentication_factors: list[JsonObject]
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    organization_id: str | None  # with member_id: a member who still owes a second factor
    member_id: str | None


class TotpRow(TypedDict):
    """A row of `member_totps`: the secret is sealed."""

    id: str
    environment_id: str
    member_id: str
    secret_sealed: str
    verified: bool
    last_used_step: int | None
    created_at: dt.datetime
    expires_at: dt.datetime


class RecoveryCodeRow(TypedDict):
    """A row of `member_recovery_codes`: a digest only."""

    id: str
    member_id: str
    code_hash: str
    created_at: dt.datetime
    used_at: dt.datetime | None


class RedirectUrlRow(TypedDict):
    """A row of `redirect_urls`."""

    environment_id: str
    url: str
    type: str
    is_default: bool
    created_at: dt.datetime


class MemberRoleRow(TypedDict):
    """A row of `member_roles`."""

    member_id: str
    role_id: str
    environment_id: str


class SessionRow(TypedDict):
    """A row of `member_sessions`."""

    id: str
    environment_id: str
    organization_id: str
    member_id: str
    token_hash: str
    authentication_factors: list[JsonObject]
    custom_claims: JsonObject
    started_at: dt.datetime
    last_accessed_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class SessionValues(TypedDict, total=False):
    """Columns of `member_sessions` an update sets."""

    environment_id: str
    organization_id: str
    member_id: str
    token_hash: str
    authentication_factors: list[JsonObject]
    custom_claims: JsonObject
    started_at: dt.datetime
    last_accessed_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


# -- shapes other than whole rows ---------------------------------------------------------------


class NewEvent(TypedDict):
    """An event to record (the database numbers it)."""

    environment_id: str
    actor: str
    actor_role: str | None
    action: str
    target: str
    changes: JsonObject
    created_at: dt.datetime


class EnvironmentHead(TypedDict):
    """An environment without its policy document: what every request needs."""

    id: str
    project_id: str
    kind: str
    name: str
    policy_version: int


class EnvironmentInfo(TypedDict):
    """An environment row without its policy document (the Management API's view)."""

    id: str
    project_id: str
    kind: str
    name: str
    policy_version: int
    created_at: dt.datetime
    slug: str
    user_impersonation_enabled: bool
    settings: JsonObject


class ScimConnectionRow(TypedDict):
    """A row of `scim_connections`."""

    id: str
    environment_id: str
    organization_id: str
    display_name: str
    identity_provider: str
    token_hash: str
    token_last_four: str
    token_expires_at: dt.datetime | None
    next_token_hash: str | None
    next_token_last_four: str
    next_token_expires_at: dt.datetime | None
    group_roles: list[JsonObject]  # [{group_id, role_id}]
    created_at: dt.datetime
    updated_at: dt.datetime


class ScimConnectionValues(TypedDict, total=False):
    """Columns of `scim_connections` an update sets."""

    environment_id: str
    organization_id: str
    display_name: str
    identity_provider: str
    token_hash: str
    token_last_four: str
    token_expires_at: dt.datetime | None
    next_token_hash: str | None
    next_token_last_four: str
    next_token_expires_at: dt.datetime | None
    group_roles: list[JsonObject]
    created_at: dt.datetime
    updated_at: dt.datetime


class ScimUserRow(TypedDict):
    """A row of `scim_users`: the member's SCIM User resource as last written."""

    id: str
    connection_id: str
    member_id: str
    user_name_lower: str
    resource: JsonObject
    created_at: dt.datetime
    updated_at: dt.datetime


class ScimGroupRow(TypedDict):
    """A row of `scim_groups` (its members are in `scim_group_members`)."""

    id: str
    connection_id: str
    display_name: str
    resource: JsonObject
    created_at: dt.datetime
    updated_at: dt.datetime


class ScimGroupMemberRow(TypedDict):
    """A row of `scim_group_members`."""

    group_id: str
    member_id: str


class SamlConnectionRow(TypedDict):
    """A row of `saml_connections` (`config`: the wire settings; `signing_key`: sealed PEM)."""

    id: str
    environment_id: str
    organization_id: str
    status: str
    config: JsonObject
    signing_key: str
    created_at: dt.datetime
    updated_at: dt.datetime


class OidcConnectionRow(TypedDict):
    """A row of `oidc_connections` (`config`: the wire settings; `client_secret`: sealed, "" when
    none)."""

    id: str
    environment_id: str
    organization_id: str
    status: str
    config: JsonObject
    client_secret: str
    created_at: dt.datetime
    updated_at: dt.datetime


class OidcRequestRow(TypedDict):
    """A row of `oidc_requests`: an authorization request sent by `sso/start` (`id`: the digest
    of its `state`; `code_verifier`: sealed)."""

    id: str
    environment_id: str
    connection_id: str
    nonce: str
    code_verifier: str
    pkce_challenge: str | None
    login_redirect_url: str | None
    signup_redirect_url: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class SsoRegistrationRow(TypedDict):
    """A row of `sso_registrations`."""

    id: str
    environment_id: str
    member_id: str
    connection_id: str
    external_id: str
    sso_attributes: JsonObject
    created_at: dt.datetime
    updated_at: dt.datetime


class SamlRequestRow(TypedDict):
    """A row of `saml_requests`: an AuthnRequest issued by `sso/start`."""

    id: str
    environment_id: str
    connection_id: str
    pkce_challenge: str | None
    login_redirect_url: str | None
    signup_redirect_url: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class SsoTokenRow(TypedDict):
    """A row of `sso_tokens` (a digest only)."""

    id: str
    environment_id: str
    token_hash: str
    member_id: str
    registration_id: str
    pkce_challenge: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class SamlSeenAssertionRow(TypedDict):
    """A row of `saml_seen_assertions`: an assertion id accepted, kept until it expires."""

    connection_id: str
    assertion_id: str
    expires_at: dt.datetime
