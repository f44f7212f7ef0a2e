"""Request models for the B2B endpoints: shapes and per-field limits, nothing more."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field, WithJsonSchema

from gatehouse.api.parsing import Body
from gatehouse.config import MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from gatehouse.services import addresses

MAX_METADATA_CHARS = 20_000

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_EXTERNAL_ID = re.compile(r"[^\s]{1,128}")
_SLUG = re.compile(r"[A-Za-z0-9._~-]{2,128}")


def _domain(value: str) -> str:
    value = value.lower()
    if not addresses.is_domain(value):
        raise ValueError(f"`{value[:100]}` is not a valid email domain")
    return value


def _email(value: str) -> str:
    if not addresses.is_email(value):
        raise ValueError(f"`{value[:100]}` is not a valid email address")
    return value


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(f"`{value[:40]}` is not a phone number in E.164 form, like `+14155550123`")
    return value


def _external_id(value: str) -> str:
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError("must be 1-128 characters without spaces")
    return value


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"`{value[:140]}` must be 2-128 characters of letters, digits, `-`, `.`, `_` or `~`"
        )
    return value


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_METADATA_CHARS:
        raise ValueError(f"must serialise to at most {MAX_METADATA_CHARS} characters of json")
    return value


# What the validators accept, for the OpenAPI document (api/openapi.py); the validators decide.
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_PATTERN = f"(?:{_LABEL}\\.)+[A-Za-z]{{2,63}}"


def _string(pattern: str, max_length: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "pattern": f"^{pattern}$"}
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


Domain = Annotated[str, AfterValidator(_domain), _string(_DOMAIN_PATTERN, 253)]
Email = Annotated[
    str,
    AfterValidator(_email),
    _string("[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@" + _DOMAIN_PATTERN, 254),
]
Phone = Annotated[str, AfterValidator(_phone), _string(_PHONE.pattern)]
ExternalId = Annotated[str, AfterValidator(_external_id), _string(_EXTERNAL_ID.pattern)]
Slug = Annotated[str, AfterValidator(_slug), _string(_SLUG.pattern)]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
Name = Annotated[str, Field(max_length=256)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]
RoleId = Annotated[str, Field(min_length=1, max_length=128)]
Token = Annotated[str, Field(min_length=1, max_length=8192)]
SessionMinutes = Annotated[int, Field(ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES)]

AllowedType = Literal["ALL_ALLOWED", "RESTRICTED", "NOT_ALLOWED"]
AuthMethod = Literal[
    "sso",
    "magic_link",
    "password",
    "google_oauth",
    "microsoft_oauth",
    "slack_oauth",
    "github_oauth",
    "hubspot_oauth",
    "email_otp",
]


class ImplicitRole(Body):
    domain: Domain
    role_id: RoleId


class _OrgFields(Body):
    organization_slug: Slug | None = None
    organization_logo_url: Annotated[str, Field(max_length=2048)] = ""
    trusted_metadata: Metadata = {}
    organization_external_id: ExternalId | None = None
    sso_jit_provisioning: AllowedType = "ALL_ALLOWED"
    email_allowed_domains: Annotated[list[Domain], Field(max_length=100)] = []
    email_jit_provisioning: Literal["RESTRICTED", "NOT_ALLOWED"] = "NOT_ALLOWED"
    email_invites: AllowedType = "ALL_ALLOWED"
    auth_methods: Literal["ALL_ALLOWED", "RESTRICTED"] = "ALL_ALLOWED"
    allowed_auth_methods: list[AuthMethod] = []
    mfa_policy: Literal["REQUIRED_FOR_ALL", "OPTIONAL"] = "OPTIONAL"
    rbac_email_implicit_role_assignments: Annotated[list[ImplicitRole], Field(max_length=100)] = []
    mfa_methods: Literal["ALL_ALLOWED", "RESTRICTED"] = "ALL_ALLOWED"
    allowed_mfa_methods: list[Literal["sms_otp", "totp"]] = []
    oauth_tenant_jit_provisioning: Literal["RESTRICTED", "NOT_ALLOWED"] = "NOT_ALLOWED"
    allowed_oauth_tenants: Metadata = {}
    claimed_email_domains: Annotated[list[Domain], Field(max_length=100)] = []
    first_party_connected_apps_allowed_type: AllowedType = "ALL_ALLOWED"
    allowed_first_party_connected_apps: Annotated[list[Ident], Field(max_length=100)] = []
    third_party_connected_apps_allowed_type: AllowedType = "ALL_ALLOWED"
    allowed_third_party_connected_apps: Annotated[list[Ident], Field(max_length=100)] = []


class OrganizationCreate(_OrgFields):
    organization_name: Annotated[str, Field(min_length=1, max_length=256)]


class OrganizationUpdate(_OrgFields):
    organization_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    sso_default_connection_id: Annotated[str, Field(max_length=256)] = ""
    sso_jit_provisioning_allowed_connections: Annotated[list[Ident], Field(max_length=100)] = []
    untrusted_metadata: Metadata = {}


class SearchOperand(Body):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    filter_name: Ident
    filter_value: Any


class SearchQuery(Body):
    operator: Literal["AND", "OR"]
    operands: Annotated[list[SearchOperand], Field(max_length=50)]


class OrganizationSearch(Body):
    cursor: Annotated[str, Field(max_length=512)] = ""
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    query: SearchQuery | None = None


class MemberSearch(OrganizationSearch):
    organization_ids: Annotated[list[Ident], Field(min_length=1, max_length=100)]


class MemberCreate(Body):
    email_address: Email
    name: Name = ""
    trusted_metadata: Metadata = {}
    untrusted_metadata: Metadata = {}
    create_member_as_pending: bool = False
    is_breakglass: bool = False
    mfa_phone_number: Phone | None = None
    mfa_enrolled: bool = False
    roles: Annotated[list[RoleId], Field(max_length=100)] = []
    external_id: ExternalId | None = None


class MemberUpdate(Body):
    name: Name = ""
    trusted_metadata: Metadata = {}
    untrusted_metadata: Metadata = {}
    is_breakglass: bool = False
    mfa_phone_number: Phone | None = None
    mfa_enrolled: bool = False
    roles: Annotated[list[RoleId], Field(max_length=100)] = []
    preserve_existing_sessions: bool = False
    default_mfa_method: Literal["sms_otp", "totp"] | None = None
    email_address: Email | None = None
    external_id: ExternalId | None = None
    unlink_email: bool = False


class Empty(Body):
    pass


class MemberGet(Body):
    member_id: Ident | None = None
    email_address: Annotated[str, Field(min_length=1, max_length=320)] | None = None


class OrgPolicyBody(Body):
    org_policy: Any


class PasswordMigrate(Body):
    email_address: Email
    hash: Annotated[str, Field(min_length=1, max_length=2048)]
    hash_type: Literal[
        "bcrypt", "md_5", "argon_2i", "argon_2id", "sha_1", "sha_512", "scrypt", "phpass", "pbkdf_2"
    ]
    organization_id: Ident
    md_5_config: dict[str, Any] | None = None
    argon_2_config: dict[str, Any] | None = None
    sha_1_config: dict[str, Any] | None = None
    sha_512_config: dict[str, Any] | None = None
    scrypt_config: dict[str, Any] | None = None
    pbkdf_2_config: dict[str, Any] | None = None
    name: Name = ""
    trusted_metadata: Metadata = {}
    untrusted_metadata: Metadata = {}
    roles: Annotated[list[RoleId], Field(max_length=100)] = []
    preserve_existing_sessions: bool = False
    mfa_phone_number: Phone | None = None
    set_phone_number_verified: bool = False
    external_id: ExternalId | None = None


class PasswordAuthenticate(Body):
    organization_id: Ident
    email_address: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    session_token: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_jwt: Token | None = None
    session_custom_claims: Metadata = {}
    locale: Annotated[str, Field(max_length=16)] = "en"
    intermediate_session_token: Token | None = None
    telemetry_id: Annotated[str, Field(max_length=256)] = ""


class StrengthCheck(Body):
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    email_address: Annotated[str, Field(max_length=320)] | None = None


class AuthorizationCheck(Body):
    organization_id: Ident
    resource_id: Annotated[str, Field(min_length=1, max_length=128)]
    action: Annotated[str, Field(min_length=1, max_length=128)]


class SessionAuthenticate(Body):
    session_token: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_jwt: Token | None = None
    session_custom_claims: Metadata = {}
    authorization_check: AuthorizationCheck | None = None


class SessionRevoke(Body):
    member_session_id: Ident | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None
    member_id: Ident | None = None


class SessionsGet(Body):
    organization_id: Ident
    member_id: Ident


# -- member email flows (magic links, email codes, discovery) --------------------------------

Locale = Literal["en", "es", "pt-br", "fr"]
LinkMinutes = Annotated[int, Field(ge=5, le=10_080)]
CodeMinutes = Annotated[int, Field(ge=2, le=15)]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
TemplateId = Annotated[str, Field(max_length=256)]
Pkce = Annotated[str, Field(min_length=43, max_length=128)]
Code6 = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
Telemetry = Annotated[str, Field(max_length=256)]


class MagicLinkLoginOrSignup(Body):
    organization_id: Ident
    email_address: Email
    login_redirect_url: Url | None = None
    signup_redirect_url: Url | None = None
    pkce_code_challenge: Pkce | None = None
    login_template_id: TemplateId = ""
    signup_template_id: TemplateId = ""
    locale: Locale = "en"
    login_expiration_minutes: LinkMinutes | None = None
    signup_expiration_minutes: LinkMinutes | None = None


class MagicLinkInvite(Body):
    organization_id: Ident
    email_address: Email
    invite_redirect_url: Url | None = None
    invited_by_member_id: Ident | None = None
    name: Name = ""
    trusted_metadata: Metadata = {}
    untrusted_metadata: Metadata = {}
    invite_template_id: TemplateId = ""
    locale: Locale = "en"
    roles: Annotated[list[RoleId], Field(max_length=100)] = []
    invite_expiration_minutes: LinkMinutes | None = None


class _SessionOptions(Body):
    session_token: Token | None = None
    session_jwt: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    locale: Locale = "en"
    telemetry_id: Telemetry = ""


class MagicLinkAuthenticate(_SessionOptions):
    magic_links_token: Token
    pkce_code_verifier: Annotated[str, Field(min_length=43, max_length=128)] | None = None
    intermediate_session_token: Token | None = None


class MagicLinkDiscoverySend(Body):
    email_address: Email
    discovery_redirect_url: Url | None = None
    pkce_code_challenge: Pkce | None = None
    login_template_id: TemplateId = ""
    locale: Locale = "en"
    discovery_expiration_minutes: LinkMinutes | None = None


class MagicLinkDiscoveryAuthenticate(Body):
    discovery_magic_links_token: Token
    pkce_code_verifier: Annotated[str, Field(min_length=43, max_length=128)] | None = None


class DiscoveryOrganizations(Body):
    intermediate_session_token: Token | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None


class DiscoveryOrganizationCreate(_OrgFields):
    intermediate_session_token: Token
    organization_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    telemetry_id: Telemetry = ""


class IntermediateSessionExchange(Body):
    intermediate_session_token: Token
    organization_id: Ident
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    locale: Locale = "en"
    telemetry_id: Telemetry = ""


class SessionExchange(_SessionOptions):
    organization_id: Ident


class OtpLoginOrSignup(Body):
    organization_id: Ident
    email_address: Email
    login_template_id: TemplateId = ""
    signup_template_id: TemplateId = ""
    locale: Locale = "en"
    login_expiration_minutes: CodeMinutes | None = None
    signup_expiration_minutes: CodeMinutes | None = None


class OtpAuthenticate(_SessionOptions):
    organization_id: Ident
    email_address: Email
    code: Code6
    intermediate_session_token: Token | None = None


class OtpDiscoverySend(Body):
    email_address: Email
    login_template_id: TemplateId = ""
    locale: Locale = "en"
    discovery_expiration_minutes: CodeMinutes | None = None


class OtpDiscoveryAuthenticate(Body):
    email_address: Email
    code: Code6


class EmailPasswordResetStart(Body):
    organization_id: Ident
    email_address: Email
    reset_password_redirect_url: Url | None = None
    reset_password_expiration_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    code_challenge: Pkce | None = None
    login_redirect_url: Url | None = None
    locale: Locale = "en"
    reset_password_template_id: TemplateId = ""
    verify_email_template_id: TemplateId = ""


class ExistingPasswordReset(Body):
    email_address: Email
    existing_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=1, max_length=1024)]
    organization_id: Ident
    session_token: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_jwt: Token | None = None
    session_custom_claims: Metadata = {}
    locale: Locale = "en"
    telemetry_id: Telemetry = ""


class SessionPasswordReset(Body):
    organization_id: Ident
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    session_token: Token | None = None
    session_jwt: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    locale: Locale = "en"
    telemetry_id: Telemetry = ""


class PasswordRequireReset(Body):
    email_address: Email
    organization_id: Ident | None = None
    member_id: Ident | None = None


class DiscoveryPasswordResetStart(Body):
    email_address: Email
    reset_password_redirect_url: Url | None = None
    discovery_redirect_url: Url | None = None
    reset_password_template_id: TemplateId = ""
    reset_password_expiration_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    pkce_code_challenge: Pkce | None = None
    locale: Locale = "en"
    verify_email_template_id: TemplateId = ""


class DiscoveryPasswordReset(Body):
    password_reset_token: Token
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    pkce_code_verifier: Annotated[str, Field(min_length=43, max_length=128)] | None = None


class DiscoveryPasswordAuthenticate(Body):
    email_address: Email
    password: Annotated[str, Field(min_length=1, max_length=1024)]


# -- SCIM connections (`scim.connection.*`) --------------------------------------------------

ScimIdentityProvider = Literal[
    "generic",
    "okta",
    "microsoft-entra",
    "cyberark",
    "jumpcloud",
    "onelogin",
    "pingfederate",
    "rippling",
]


class ScimConnectionCreate(Body):
    display_name: Name = ""
    identity_provider: ScimIdentityProvider = "generic"


class ScimGroupRoleAssignment(Body):
    """`group_name` is accepted (the SDK's model requires it) and ignored: the name is the
    group's own, as the IdP last sent it."""

    group_id: Ident
    role_id: RoleId
    group_name: Name = ""


class ScimConnectionUpdate(Body):
    display_name: Name = ""
    identity_provider: ScimIdentityProvider = "generic"
    scim_group_implicit_role_assignments: Annotated[
        list[ScimGroupRoleAssignment], Field(max_length=1000)
    ] = []


class ScimGroupsQuery(Body):
    """A query string: `limit` is text there (1-1000)."""

    cursor: Annotated[str, Field(max_length=512)] = ""
    limit: Annotated[str, Field(pattern=r"^(1000|[1-9][0-9]{0,2})$")] = "100"


# -- SSO (SAML) ------------------------------------------------------------------------------

SsoIdentityProvider = Literal[
    "classlink",
    "cyberark",
    "duo",
    "generic",
    "google-workspace",
    "jumpcloud",
    "keycloak",
    "miniorange",
    "microsoft-entra",
    "okta",
    "onelogin",
    "pingfederate",
    "rippling",
    "salesforce",
    "shibboleth",
]
Pem = Annotated[str, Field(min_length=1, max_length=16384)]


class SamlConnectionCreate(Body):
    display_name: Annotated[str, Field(max_length=256)] | None = None
    identity_provider: SsoIdentityProvider | None = None


class SamlConnectionRoleRule(Body):
    role_id: RoleId


class SamlGroupRoleRule(Body):
    role_id: RoleId
    group: Annotated[str, Field(min_length=1, max_length=256)]


class SamlConnectionUpdate(Body):
    idp_entity_id: Annotated[str, Field(max_length=1024)] | None = None
    display_name: Annotated[str, Field(max_length=256)] | None = None
    attribute_mapping: dict[str, Annotated[str, Field(min_length=1, max_length=256)]] | None = None
    x509_certificate: Pem | None = None
    idp_sso_url: Url | None = None
    saml_connection_implicit_role_assignments: (
        Annotated[list[SamlConnectionRoleRule], Field(max_length=100)] | None
    ) = None
    saml_group_implicit_role_assignments: (
        Annotated[list[SamlGroupRoleRule], Field(max_length=500)] | None
    ) = None
    alternative_audience_uri: Annotated[str, Field(max_length=2048)] | None = None
    identity_provider: SsoIdentityProvider | None = None
    signing_private_key: Pem | None = None
    nameid_format: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    alternative_acs_url: Annotated[str, Field(max_length=2048)] | None = None
    idp_initiated_auth_disabled: bool | None = None
    saml_encryption_private_key: Pem | None = None
    allow_gateway_callback: bool | None = None


class SamlConnectionUpdateByUrl(Body):
    metadata_url: Url


class OidcConnectionCreate(Body):
    display_name: Annotated[str, Field(max_length=256)] | None = None
    identity_provider: SsoIdentityProvider | None = None


class OidcConnectionUpdate(Body):
    display_name: Annotated[str, Field(max_length=256)] | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    client_secret: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    issuer: Url | None = None
    authorization_url: Url | None = None
    token_url: Url | None = None
    userinfo_url: Url | None = None
    jwks_url: Url | None = None
    identity_provider: SsoIdentityProvider | None = None
    custom_scopes: Annotated[str, Field(max_length=1024)] | None = None
    attribute_mapping: dict[str, Annotated[str, Field(min_length=1, max_length=256)]] | None = None


class OidcCallback(Body):
    """The provider's redirect to the OIDC callback (RFC 6749 §4.1.2; parameters a provider adds
    besides these, e.g. `session_state`, are ignored)."""

    model_config = pydantic.ConfigDict(extra="ignore", strict=True)

    code: Annotated[str, Field(max_length=4096)] | None = None
    state: Annotated[str, Field(max_length=512)] | None = None
    iss: Annotated[str, Field(max_length=2048)] | None = None
    error: Annotated[str, Field(max_length=256)] | None = None
    error_description: Annotated[str, Field(max_length=2048)] | None = None


class SsoStart(Body):
    """`GET /v1/public/sso/start`'s query string."""

    connection_id: Ident | None = None
    organization_id: Ident | None = None
    organization_slug: Ident | None = None
    public_token: Ident | None = None
    login_redirect_url: Url | None = None
    signup_redirect_url: Url | None = None
    pkce_code_challenge: Pkce | None = None
    custom_scopes: Annotated[str, Field(max_length=1024)] | None = None


class SsoAuthenticate(_SessionOptions):
    sso_token: Token
    pkce_code_verifier: Annotated[str, Field(min_length=43, max_length=128)] | None = None
    intermediate_session_token: Token | None = None


# -- multi-factor authentication (issue 12) -------------------------------------------------


class _MfaTarget(Body):
    organization_id: Ident
    member_id: Ident
    intermediate_session_token: Token | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None


class _MfaAuthenticate(_MfaTarget):
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    set_mfa_enrollment: Literal["enroll", "unenroll"] | None = None
    set_default_mfa: bool | None = None
    telemetry_id: Telemetry = ""


class TotpCreate(_MfaTarget):
    expiration_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None


class TotpAuthenticate(_MfaAuthenticate):
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]


class TotpMigrate(Body):
    organization_id: Ident
    member_id: Ident
    secret: Annotated[str, Field(min_length=16, max_length=256)]
    recovery_codes: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=32)
    ]


class RecoveryCodesRecover(Body):
    organization_id: Ident
    member_id: Ident
    recovery_code: Annotated[str, Field(min_length=1, max_length=64)]
    intermediate_session_token: Token | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None
    session_duration_minutes: SessionMinutes | None = None
    session_custom_claims: Metadata = {}
    telemetry_id: Telemetry = ""


class RecoveryCodesRotate(Body):
    organization_id: Ident
    member_id: Ident


class SmsSend(_MfaTarget):
    mfa_phone_number: Phone | None = None
    locale: Annotated[str, Field(max_length=16)] = "en"


class SmsAuthenticate(_MfaAuthenticate):
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
