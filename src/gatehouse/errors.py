"""The one error family of Gatehouse's services, and its closed vocabulary of codes.

    GatehouseError(code, message)        every refusal a caller can see; `code` is a `Code`
     ├── InvalidInput                    400: malformed or invalid input; carries `problems`
     ├── Unauthorized                    401: missing or wrong credentials, tokens, links
     ├── Denied                          403: a session, role or setting does not allow it
     ├── NotFound                        404: an id that names nothing; built from a `Kind`
     └── Duplicate                       409: a uniqueness rule; names the field and value

The other codes (conflicts of state, limits, delivery) are raised as `GatehouseError` itself.
`api.errors.ERRORS` gives every code its one HTTP status and its line of docs/ERRORS.md; a test
holds the three (this enum, that table, the doc) equal. Storage refusals are translated once, at
the storage edge (`storage.interface.Conflict` names its constraint).

Messages: lowercase, the caller's input in backticks, what to do next where it helps.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from gatehouse.policy.model import Problem


class Code(enum.StrEnum):
    """Every `error_type` Gatehouse answers with."""

    # 400
    INVALID_REQUEST = "invalid_request"
    INVALID_JSON = "invalid_json"
    INVALID_POLICY = "invalid_policy"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_CUSTOM_CLAIMS = "invalid_custom_claims"
    ROLE_NOT_FOUND = "role_not_found"
    UNSUPPORTED_FEATURE = "unsupported_feature"
    SESSION_MEMBER_MISMATCH = "session_member_mismatch"
    LIVE_ENVIRONMENT_PROTECTED = "live_environment_protected"
    WEAK_PASSWORD = "weak_password"
    NO_MATCH_FOR_PROVIDED_MAGIC_LINK_URL = "no_match_for_provided_magic_link_url"
    NO_DEFAULT_REDIRECT_URL = "no_default_redirect_url"
    PKCE_MISMATCH = "pkce_mismatch"
    INVALID_EMAIL_ALLOWED_DOMAINS = "invalid_email_allowed_domains"
    INVALID_SAML_METADATA = "invalid_saml_metadata"
    INVALID_SAML_RESPONSE = "invalid_saml_response"
    SSO_CONNECTION_INACTIVE = "sso_connection_inactive"
    OUTBOUND_URL_NOT_ALLOWED = "outbound_url_not_allowed"
    INVALID_OIDC_STATE = "invalid_oidc_state"
    ACTIVE_TOTP_EXISTS = "active_totp_exists"
    INVALID_TOTP_SECRET = "invalid_totp_secret"
    INVALID_PHONE_NUMBER = "invalid_phone_number"
    # 401
    UNAUTHORIZED_CREDENTIALS = "unauthorized_credentials"
    INVALID_JWT = "invalid_jwt"
    INVALID_PASSWORD_RESET_TOKEN = "invalid_password_reset_token"
    EMAIL_LINK_USED = "email_link_used"
    EMAIL_LINK_EXPIRED = "email_link_expired"
    UNABLE_TO_AUTH_MAGIC_LINK = "unable_to_auth_magic_link"
    UNABLE_TO_AUTH_OTP_CODE = "unable_to_auth_otp_code"
    UNABLE_TO_AUTH_SSO_TOKEN = "unable_to_auth_sso_token"
    INVALID_OIDC_RESPONSE = "invalid_oidc_response"
    INVALID_TOTP_CODE = "invalid_totp_code"
    INVALID_RECOVERY_CODE = "invalid_recovery_code"
    # 403
    SESSION_AUTHORIZATION_ERROR = "session_authorization_error"
    SESSION_AUTHORIZATION_TENANCY_ERROR = "session_authorization_tenancy_error"
    FORBIDDEN = "forbidden"
    IMPERSONATION_DISABLED = "impersonation_disabled"
    EMAIL_JIT_PROVISIONING_NOT_ALLOWED = "email_jit_provisioning_not_allowed"
    EMAIL_INVITES_NOT_ALLOWED = "email_invites_not_allowed"
    AUTH_METHOD_NOT_ALLOWED = "auth_method_not_allowed"
    SSO_JIT_PROVISIONING_NOT_ALLOWED = "sso_jit_provisioning_not_allowed"
    IDP_INITIATED_AUTH_DISABLED = "idp_initiated_auth_disabled"
    # 404
    ORGANIZATION_NOT_FOUND = "organization_not_found"
    MEMBER_NOT_FOUND = "member_not_found"
    MEMBER_PASSWORD_NOT_FOUND = "member_password_not_found"
    SESSION_NOT_FOUND = "session_not_found"
    SSO_CONNECTION_NOT_FOUND = "sso_connection_not_found"
    SAML_CERTIFICATE_NOT_FOUND = "saml_certificate_not_found"
    PROJECT_NOT_FOUND = "project_not_found"
    ENVIRONMENT_NOT_FOUND = "environment_not_found"
    SECRET_NOT_FOUND = "secret_not_found"
    WORKSPACE_MEMBER_NOT_FOUND = "workspace_member_not_found"
    WORKSPACE_DOMAIN_NOT_FOUND = "workspace_domain_not_found"
    WORKSPACE_KEY_NOT_FOUND = "workspace_key_not_found"
    EMAIL_LINK_NOT_FOUND = "email_link_not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    REDIRECT_URL_NOT_FOUND = "redirect_url_not_found"
    INTERMEDIATE_SESSION_NOT_FOUND = "intermediate_session_not_found"
    SCIM_CONNECTION_NOT_FOUND = "scim_connection_not_found"
    TOTP_NOT_FOUND = "totp_not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409
    DUPLICATE_ORGANIZATION_SLUG = "duplicate_organization_slug"
    DUPLICATE_EXTERNAL_ID = "duplicate_external_id"
    DUPLICATE_MEMBER_EMAIL = "duplicate_member_email"
    DUPLICATE_PROJECT_SLUG = "duplicate_project_slug"
    DUPLICATE_ENVIRONMENT_SLUG = "duplicate_environment_slug"
    DUPLICATE_WORKSPACE_MEMBER = "duplicate_workspace_member"
    CONFLICT = "conflict"
    POLICY_IN_USE = "policy_in_use"
    POLICY_CONFLICT = "policy_conflict"
    ALREADY_INITIALISED = "already_initialised"
    NOT_INITIALISED = "not_initialised"
    LAST_ADMIN = "last_admin"
    MEMBER_PHONE_NUMBER_ALREADY_SET = "member_phone_number_already_set"
    DUPLICATE_REDIRECT_URL = "duplicate_redirect_url"
    DUPLICATE_SCIM_CONNECTION = "duplicate_scim_connection"
    DUPLICATE_SCIM_USER_NAME = "duplicate_scim_user_name"
    NO_SCIM_TOKEN_ROTATION = "no_scim_token_rotation_in_progress"
    # 413, 415, 429
    REQUEST_TOO_LARGE = "request_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_MANY_REQUESTS = "too_many_requests"
    # 500, 502, 503
    INTERNAL_SERVER_ERROR = "internal_server_error"
    EMAIL_DELIVERY_FAILED = "email_delivery_failed"
    SMS_DELIVERY_FAILED = "sms_delivery_failed"
    SERVER_BUSY = "server_busy"
    DATABASE_BUSY = "database_busy"


class Kind(enum.Enum):
    """What an unknown id was meant to name: its `not_found` code and its name in messages."""

    ORGANIZATION = (Code.ORGANIZATION_NOT_FOUND, "organization")
    MEMBER = (Code.MEMBER_NOT_FOUND, "member")
    MEMBER_PASSWORD = (Code.MEMBER_PASSWORD_NOT_FOUND, "member password")
    SESSION = (Code.SESSION_NOT_FOUND, "session")
    SSO_CONNECTION = (Code.SSO_CONNECTION_NOT_FOUND, "sso connection")
    SAML_CERTIFICATE = (Code.SAML_CERTIFICATE_NOT_FOUND, "saml certificate or private key")
    PROJECT = (Code.PROJECT_NOT_FOUND, "project")
    ENVIRONMENT = (Code.ENVIRONMENT_NOT_FOUND, "environment")
    SECRET = (Code.SECRET_NOT_FOUND, "secret")
    WORKSPACE_MEMBER = (Code.WORKSPACE_MEMBER_NOT_FOUND, "workspace member")
    WORKSPACE_DOMAIN = (Code.WORKSPACE_DOMAIN_NOT_FOUND, "workspace domain")
    WORKSPACE_KEY = (Code.WORKSPACE_KEY_NOT_FOUND, "workspace key")
    REDIRECT_URL = (Code.REDIRECT_URL_NOT_FOUND, "redirect url")
    SCIM_CONNECTION = (Code.SCIM_CONNECTION_NOT_FOUND, "scim connection")
    TOTP = (Code.TOTP_NOT_FOUND, "totp registration")

    def __init__(self, code: Code, noun: str) -> None:
        self.code = code
        self.noun = noun


class GatehouseError(Exception):
    """`retry_after`: seconds after which a retry may succeed (429, 503): the `Retry-After`."""

    def __init__(self, code: Code, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def too_many(message: str, retry_after: float) -> GatehouseError:
    """A 429 `too_many_requests` that says when to retry (whole seconds, at least 1)."""
    return GatehouseError(
        Code.TOO_MANY_REQUESTS, message, retry_after=max(1, int(retry_after + 0.999))
    )


class InvalidInput(GatehouseError):
    """Bad input; `problems` lists every reason, each with a path."""

    def __init__(
        self, message: str, problems: Sequence[Problem] = (), code: Code = Code.INVALID_REQUEST
    ) -> None:
        if problems:
            message = message + ": " + "; ".join(str(p) for p in problems)
        super().__init__(code, message)
        self.problems = tuple(problems)


class Unauthorized(GatehouseError):
    def __init__(self, message: str, code: Code = Code.UNAUTHORIZED_CREDENTIALS) -> None:
        super().__init__(code, message)


class Denied(GatehouseError):
    def __init__(self, message: str, code: Code = Code.SESSION_AUTHORIZATION_ERROR) -> None:
        super().__init__(code, message)


class NotFound(GatehouseError):
    def __init__(self, kind: Kind, ident: str, message: str | None = None) -> None:
        super().__init__(kind.code, message or f"{kind.noun} `{ident}` was not found")
        self.kind = kind
        self.ident = ident


class Duplicate(GatehouseError):
    """A value that must be unique is taken; `field` is its wire name."""

    def __init__(self, code: Code, field: str, value: str, message: str | None = None) -> None:
        super().__init__(code, message or f"{field.replace('_', ' ')} `{value}` is already in use")
        self.field = field
        self.value = value


def tenancy_error(session_org_id: str, asked_org_id: str) -> Denied:
    """A member session used for another organization than its own."""
    return Denied(
        f"the session's member belongs to organization `{session_org_id}`, not `{asked_org_id}`",
        code=Code.SESSION_AUTHORIZATION_TENANCY_ERROR,
    )
