"""Response models: the exact JSON api/wire.py produces, for the OpenAPI document.

Unknown fields are refused (`extra="forbid"`), so tests/api/test_openapi.py, which validates
what the server sends against these, fails when wire.py and these models drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, WithJsonSchema

from gatehouse.errors import Code

_CODES = [code.value for code in Code]


def _code(value: str) -> str:
    if value not in _CODES:
        raise ValueError(f"`{value}` is not an error type of docs/ERRORS.md")
    return value


ErrorType = Annotated[
    str, AfterValidator(_code), WithJsonSchema({"type": "string", "enum": _CODES})
]


class Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)


class Error(Model):
    """Every error: `{status_code, request_id, error_type, error_message, error_url}`."""

    status_code: int
    request_id: str
    error_type: ErrorType
    error_message: str
    error_url: str


# -- the operational endpoints (api/app.py, api/observability.py) ------------------------------


class Health(Model):
    status: Literal["ok"]


class Ready(Model):
    status: Literal["ready"]
    checks: dict[str, Literal["ok"]]


class NotReady(Model):
    status: Literal["not_ready"]
    failed: list[str]  # the names of the checks that are not `ok`
    checks: dict[str, str]  # each check: `ok`, or what is wrong


class OpenApiDocument(Model):
    openapi: Literal["3.1.0"]
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    paths: dict[str, dict[str, Any]]
    components: dict[str, Any]


class ImplicitRoleAssignment(Model):
    domain: str
    role_id: str


class Organization(Model):
    organization_id: str
    organization_name: str
    organization_slug: str
    organization_external_id: str | None
    trusted_metadata: dict[str, Any]
    organization_logo_url: str
    untrusted_metadata: dict[str, Any]
    sso_jit_provisioning: str
    sso_jit_provisioning_allowed_connections: list[str]
    sso_default_connection_id: str | None
    email_allowed_domains: list[str]
    email_jit_provisioning: str
    email_invites: str
    auth_methods: str
    allowed_auth_methods: list[str]
    mfa_policy: str
    rbac_email_implicit_role_assignments: list[ImplicitRoleAssignment]
    mfa_methods: str
    allowed_mfa_methods: list[str]
    oauth_tenant_jit_provisioning: str
    allowed_oauth_tenants: dict[str, Any]
    claimed_email_domains: list[str]
    first_party_connected_apps_allowed_type: str
    allowed_first_party_connected_apps: list[str]
    third_party_connected_apps_allowed_type: str
    allowed_third_party_connected_apps: list[str]
    sso_active_connections: list[Any]
    scim_active_connection: dict[str, Any] | None
    custom_roles: list[dict[str, Any]]
    created_at: str
    updated_at: str


class _Ok(Model):
    status_code: Literal[200]
    request_id: str


class OrganizationResponse(_Ok):
    organization: Organization


class OrganizationDeleted(_Ok):
    organization_id: str


class ResultsMetadata(Model):
    total: int
    next_cursor: str | None


class OrganizationSearchResults(_Ok):
    organizations: list[Organization]
    results_metadata: ResultsMetadata


class RoleSource(Model):
    type: Literal["direct_assignment", "email_assignment"]
    details: dict[str, Any]


class MemberRole(Model):
    role_id: str
    sources: list[RoleSource]


class RetiredEmail(Model):
    email_id: str
    email_address: str


class Member(Model):
    organization_id: str
    member_id: str
    email_address: str
    email_address_verified: bool
    status: str
    name: str
    sso_registrations: list[Any]
    oauth_registrations: list[Any]
    is_breakglass: bool
    member_password_id: str
    mfa_phone_number_verified: bool
    mfa_phone_number: str
    mfa_enrolled: bool
    default_mfa_method: str
    is_admin: bool
    totp_registration_id: str
    retired_email_addresses: list[RetiredEmail]
    is_locked: bool
    lock_created_at: str | None
    lock_expires_at: str | None
    roles: list[MemberRole]
    trusted_metadata: dict[str, Any]
    untrusted_metadata: dict[str, Any]
    external_id: str | None
    scim_registration: dict[str, Any] | None
    created_at: str
    updated_at: str


class MemberResponse(_Ok):
    """`{member_id, member, organization}`: the answer of every member endpoint."""

    member_id: str
    member: Member
    organization: Organization


class MemberDeleted(_Ok):
    member_id: str


class MemberSearchResults(_Ok):
    members: list[Member]
    results_metadata: ResultsMetadata
    organizations: dict[str, Organization]


class Permission(Model):
    resource_id: str
    actions: list[str]


class PolicyRole(Model):
    role_id: str
    description: str
    permissions: list[Permission]


class PolicyResource(Model):
    resource_id: str
    description: str
    actions: list[str]


class PolicyScope(Model):
    scope: str
    description: str
    permissions: list[Permission]


class Policy(Model):
    resources: list[PolicyResource]
    roles: list[PolicyRole]
    scopes: list[PolicyScope]


class PolicyResponse(_Ok):
    policy: Policy


class OrgPolicy(Model):
    roles: list[PolicyRole]


class OrgPolicyResponse(_Ok):
    org_policy: OrgPolicy


class MemberMigrated(MemberResponse):
    member_created: bool


class LudsFeedback(Model):
    has_lower_case: bool
    has_upper_case: bool
    has_digit: bool
    has_symbol: bool
    missing_complexity: int
    missing_characters: int


class ZxcvbnFeedback(Model):
    warning: str
    suggestions: list[str]


class StrengthCheckResult(_Ok):
    valid_password: bool
    score: int
    breached_password: bool
    strength_policy: Literal["zxcvbn"]
    breach_detection_on_create: bool
    luds_feedback: LudsFeedback
    zxcvbn_feedback: ZxcvbnFeedback


class MemberSession(Model):
    member_session_id: str
    member_id: str
    organization_id: str
    organization_slug: str
    started_at: str
    last_accessed_at: str
    expires_at: str
    authentication_factors: list[dict[str, Any]]
    roles: list[str]
    custom_claims: dict[str, Any]


class SignedIn(_Ok):
    """What a call that signs a member in answers."""

    member_id: str
    organization_id: str
    member: Member
    organization: Organization
    session_token: str
    session_jwt: str
    member_session: MemberSession | None  # None while a second factor is owed


class MemberOptions(Model):
    mfa_phone_number: str
    totp_registration_id: str


class MfaRequired(Model):
    member_options: MemberOptions | None
    secondary_auth_initiated: str | None


class PasswordAuthenticated(SignedIn):
    intermediate_session_token: str
    member_authenticated: bool
    mfa_required: MfaRequired | None
    primary_required: None


class EmailAuthenticated(PasswordAuthenticated):
    """A magic link or email code that signed a member in."""

    method_id: str
    reset_sessions: bool


class Exchanged(PasswordAuthenticated):
    """An intermediate session or a session exchanged into an organization's session."""


class Membership(Model):
    type: Literal[
        "active_member", "pending_member", "invited_member", "eligible_to_join_by_email_domain"
    ]
    details: dict[str, Any] | None
    member: Member | None


class PrimaryRequired(Model):
    allowed_auth_methods: list[str]


class DiscoveredOrganization(Model):
    member_authenticated: bool
    organization: Organization
    membership: Membership
    primary_required: PrimaryRequired | None
    mfa_required: MfaRequired | None


class DiscoveryAuthenticated(_Ok):
    intermediate_session_token: str
    intermediate_session_token_expires_at: str
    email_address: str
    discovered_organizations: list[DiscoveredOrganization]


class DiscoveredOrganizations(_Ok):
    email_address: str
    discovered_organizations: list[DiscoveredOrganization]
    organization_id_hint: str | None


class Verdict(Model):
    authorized: Literal[True]
    granting_roles: list[str]


class SessionAuthenticated(_Ok):
    """Both the node's pre-encoded answer (`wire.session_fragment`) and the ordinary one."""

    member_session: MemberSession
    session_token: str
    session_jwt: str
    member: Member
    organization: Organization
    verdict: Verdict | None = None


class MemberSessions(_Ok):
    member_sessions: list[MemberSession]


class Done(_Ok):
    pass


class KeySet(_Ok):
    keys: list[dict[str, Any]]


class Decision(Model):
    authorized: bool
    granting_roles: list[str]
    reason: str


class BatchResults(_Ok):
    member_id: str
    organization_id: str
    policy_version: int
    results: list[bool]
    decisions: list[Decision] | None = None


class VersionedPolicy(_Ok):
    policy_version: int
    policy: Policy


# -- the Management API ------------------------------------------------------------------------


class Project(Model):
    project_slug: str
    name: str
    vertical: str
    created_at: str


class Environment(Model):
    oauth_callback_id: str
    cross_org_passwords_enabled: bool
    zero_downtime_session_migration_url: str
    use_custom_domain_in_magic_link_emails: bool
    user_lock_self_serve_enabled: bool
    user_lock_threshold: int
    user_lock_ttl: int
    idp_authorization_url: str
    idp_dynamic_client_registration_enabled: bool
    idp_dynamic_client_registration_access_token_template_content: str
    environment_slug: str
    project_slug: str
    name: str
    type: Literal["TEST", "LIVE"]
    project_id: str
    user_impersonation_enabled: bool
    created_at: str


class Secret(Model):
    secret_id: str
    last_four: str
    created_at: str
    used_at: None


class CreatedSecret(Model):
    secret_id: str
    secret: str
    created_at: str


class ProjectResponse(_Ok):
    project: Project


class ProjectList(_Ok):
    projects: list[Project]


class EnvironmentResponse(_Ok):
    environment: Environment


class EnvironmentList(_Ok):
    environments: list[Environment]


class SecretResponse(_Ok):
    secret: Secret


class CreatedSecretResponse(_Ok):
    secret: CreatedSecret


class SecretList(_Ok):
    secrets: list[Secret]


class UrlType(Model):
    type: Literal["LOGIN", "SIGNUP", "INVITE", "RESET_PASSWORD", "DISCOVERY"]
    is_default: bool


class RedirectUrl(Model):
    url: str
    valid_types: list[UrlType]


class RedirectUrlResponse(_Ok):
    redirect_url: RedirectUrl


class RedirectUrlList(_Ok):
    redirect_urls: list[RedirectUrl]


class DefaultRole(Model):
    permissions: list[Permission]


class FileResource(Model):
    resource_id: str
    description: str
    available_actions: list[str]


class PolicyFile(Model):
    """The Management API's (and the policy file's) shape of a project policy."""

    stytch_member: DefaultRole | None
    stytch_admin: DefaultRole | None
    custom_roles: list[PolicyRole]
    custom_resources: list[FileResource]
    custom_scopes: list[PolicyScope]
    stytch_resources: list[FileResource]


class PolicyFileResponse(_Ok):
    policy: PolicyFile


# -- the workspace (a Gatehouse extension of the Management API) ---------------------------------

DashboardRole = Literal["admin", "developer", "support_manager", "support_agent", "no_access"]


class WorkspaceMember(Model):
    member_id: str
    email_address: str
    name: str
    status: str
    email_verified: bool
    role: DashboardRole
    explicit_role: DashboardRole | None
    domain_role: DashboardRole | None
    role_source: Literal["domain", "explicit", "jit_default"]
    created_at: str


class WorkspaceMemberList(_Ok):
    members: list[WorkspaceMember]


class WorkspaceMemberResponse(_Ok):
    member: WorkspaceMember


class EmailDomainRule(Model):
    domain: str
    jit_enabled: bool
    auto_role: DashboardRole | None


class DomainRuleList(_Ok):
    domains: list[EmailDomainRule]


class DomainRuleResponse(_Ok):
    domain: EmailDomainRule


class ManagementKey(Model):
    key_id: str
    name: str
    role: DashboardRole
    last_four: str
    created_at: str
    revoked_at: str | None


class ManagementKeyList(_Ok):
    keys: list[ManagementKey]


class CreatedManagementKey(Model):
    key_id: str
    secret: str
    role: DashboardRole
    name: str


class CreatedManagementKeyResponse(_Ok):
    key: CreatedManagementKey


class WorkspaceSettings(Model):
    workspace_id: str
    name: str


class WorkspaceSettingsResponse(_Ok):
    workspace: WorkspaceSettings


class Billing(Model):
    plan: str
    billing_email: str


class BillingResponse(_Ok):
    billing: Billing


class DashboardSignIn(_Ok):
    session_token: str
    expires_at: str
    member: WorkspaceMember


# -- support (a Gatehouse extension of the Management API) --------------------------------------


class SupportMembers(_Ok):
    members: list[Member]
    results_metadata: ResultsMetadata
    organization: Organization


class PasswordResetSent(MemberResponse):
    email_address: str
    expires_at: str


class Event(Model):
    id: int
    actor: str
    actor_role: str | None
    action: str
    target: str
    changes: dict[str, Any]
    created_at: str


class EventList(_Ok):
    events: list[Event]


class PasswordReset(PasswordAuthenticated):
    member_email_id: str


class PasswordResetStarted(MemberResponse):
    member_email_id: str


# -- SCIM connections ------------------------------------------------------------------------


class ScimGroupRole(Model):
    role_id: str
    group_id: str
    group_name: str


class ScimConnection(Model):
    organization_id: str
    connection_id: str
    status: str
    display_name: str
    identity_provider: str
    base_url: str
    bearer_token_last_four: str
    scim_group_implicit_role_assignments: list[ScimGroupRole]
    next_bearer_token_last_four: str
    bearer_token_expires_at: str | None
    next_bearer_token_expires_at: str | None


class ScimConnectionWithToken(Model):
    organization_id: str
    connection_id: str
    status: str
    display_name: str
    identity_provider: str
    base_url: str
    bearer_token: str
    scim_group_implicit_role_assignments: list[ScimGroupRole]
    bearer_token_expires_at: str | None


class ScimConnectionWithNextToken(Model):
    organization_id: str
    connection_id: str
    status: str
    display_name: str
    base_url: str
    identity_provider: str
    bearer_token_last_four: str
    next_bearer_token: str
    scim_group_implicit_role_assignments: list[ScimGroupRole]
    bearer_token_expires_at: str | None
    next_bearer_token_expires_at: str | None


class ScimConnectionResponse(_Ok):
    connection: ScimConnection


class ScimConnectionCreated(_Ok):
    connection: ScimConnectionWithToken


class ScimConnectionRotating(_Ok):
    connection: ScimConnectionWithNextToken


class ScimConnectionDeleted(_Ok):
    connection_id: str


class ScimGroup(Model):
    group_id: str
    group_name: str
    organization_id: str
    connection_id: str


class ScimGroups(_Ok):
    scim_groups: list[ScimGroup]
    next_cursor: str | None


# -- SSO (SAML) ------------------------------------------------------------------------------


class X509Certificate(Model):
    certificate_id: str
    certificate: str
    issuer: str
    created_at: str
    expires_at: str
    updated_at: str


class EncryptionPrivateKey(Model):
    private_key_id: str
    private_key: str
    created_at: str


class SamlConnectionRule(Model):
    role_id: str


class SamlGroupRule(Model):
    role_id: str
    group: str


class SamlConnection(Model):
    organization_id: str
    connection_id: str
    status: Literal["pending", "active"]
    idp_entity_id: str
    display_name: str
    idp_sso_url: str
    acs_url: str
    audience_uri: str
    signing_certificates: list[X509Certificate]
    verification_certificates: list[X509Certificate]
    encryption_private_keys: list[EncryptionPrivateKey]
    saml_connection_implicit_role_assignments: list[SamlConnectionRule]
    saml_group_implicit_role_assignments: list[SamlGroupRule]
    alternative_audience_uri: str
    identity_provider: str
    nameid_format: str
    alternative_acs_url: str
    idp_initiated_auth_disabled: bool
    allow_gateway_callback: bool
    attribute_mapping: dict[str, Any] | None


class SamlConnectionResponse(_Ok):
    connection: SamlConnection


class OidcConnection(Model):
    organization_id: str
    connection_id: str
    status: Literal["pending", "active"]
    display_name: str
    redirect_url: str
    client_id: str
    client_secret: str
    issuer: str
    authorization_url: str
    token_url: str
    userinfo_url: str
    jwks_url: str
    identity_provider: str
    custom_scopes: str
    attribute_mapping: dict[str, Any] | None


class OidcConnectionResponse(_Ok):
    connection: OidcConnection


class OidcConnectionUpdated(_Ok):
    connection: OidcConnection
    warning: str | None


class SsoConnections(_Ok):
    saml_connections: list[SamlConnection]
    oidc_connections: list[OidcConnection]
    external_connections: list[dict[str, Any]]


class SsoConnectionDeleted(_Ok):
    connection_id: str


class SamlCertificateDeleted(_Ok):
    certificate_id: str


class SamlPrivateKeyDeleted(_Ok):
    private_key_id: str


class SsoAuthenticated(PasswordAuthenticated):
    reset_session: bool


# -- multi-factor authentication ---------------------------------------------------------------


class TotpCreated(MemberResponse):
    totp_registration_id: str
    secret: str
    qr_code: str
    otpauth_url: str
    recovery_codes: list[str]


class TotpMigrated(MemberResponse):
    totp_registration_id: str
    recovery_codes: list[str]


class MfaSignedIn(_Ok):
    """A second factor that completed a sign-in (or was added to a session)."""

    member_id: str
    organization_id: str
    member: Member
    organization: Organization
    session_token: str
    session_jwt: str
    member_session: MemberSession


class Recovered(MfaSignedIn):
    recovery_codes_remaining: int


class RecoveryCodesShown(MemberResponse):
    recovery_codes: list[str]
