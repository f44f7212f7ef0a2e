"""One mapping from error codes to HTTP statuses, and Stytch's error JSON shape.

Every error leaves as `{status_code, request_id, error_type, error_message, error_url}`.
`ERRORS` is the one table: each `Code` with its status and what it means. docs/ERRORS.md is
rendered from it (`render_markdown`; a test keeps the file current), and the server serves the
same table at `/docs/errors`, where each `error_url` points (one anchor per code).
"""

from __future__ import annotations

import html
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from gatehouse.api.operations import OPERATIONAL_ERRORS, documented
from gatehouse.errors import Code, GatehouseError
from gatehouse.services.ids import request_id
from gatehouse.storage import Busy, Conflict

log = logging.getLogger(__name__)

ERRORS_PATH = "/docs/errors"
BUSY_RETRY_AFTER_SECONDS = 2

ERRORS: dict[Code, tuple[int, str]] = {
    Code.INVALID_REQUEST: (
        400,
        "a field has the wrong type, is unknown, null, too long, out of range or malformed; "
        "every problem is listed with its path",
    ),
    Code.INVALID_JSON: (400, "the body is not a JSON object"),
    Code.INVALID_POLICY: (400, "a policy or org policy fails validation; every problem is listed"),
    Code.INVALID_CURSOR: (400, "a search cursor this server did not issue"),
    Code.INVALID_CUSTOM_CLAIMS: (400, "a session custom claim uses a reserved name"),
    Code.ROLE_NOT_FOUND: (
        400,
        "a role id to assign does not exist in the project or organization policy",
    ),
    Code.UNSUPPORTED_FEATURE: (
        400,
        "a Stytch feature Gatehouse does not have yet (see COMPATIBILITY.md)",
    ),
    Code.SESSION_MEMBER_MISMATCH: (
        400,
        "a sign-in passes a session that belongs to another member",
    ),
    Code.LIVE_ENVIRONMENT_PROTECTED: (
        400,
        "the live environment cannot be deleted (delete the project instead)",
    ),
    Code.WEAK_PASSWORD: (400, "a new password is too short or too guessable"),
    Code.NO_MATCH_FOR_PROVIDED_MAGIC_LINK_URL: (
        400,
        "a redirect url that is not registered for the link's type in this environment "
        "(Management API `redirect_urls`)",
    ),
    Code.NO_DEFAULT_REDIRECT_URL: (
        400,
        "no redirect url was given and the environment has no default of the link's type",
    ),
    Code.PKCE_MISMATCH: (
        400,
        "the pkce code verifier is missing or does not match the challenge the link was sent with",
    ),
    Code.INVALID_EMAIL_ALLOWED_DOMAINS: (
        400,
        "`email_allowed_domains` names a common consumer email domain (gmail.com, ...)",
    ),
    Code.INVALID_SAML_METADATA: (
        400,
        "IdP metadata that cannot be fetched (http(s), at most 1 MiB, 10 seconds) or is not a "
        "SAML EntityDescriptor with an HTTP-Redirect SingleSignOnService",
    ),
    Code.INVALID_SAML_RESPONSE: (
        400,
        "a SAMLResponse that does not verify: unsigned or partly signed, signed by another "
        "certificate, for another audience, recipient or destination, outside its validity "
        "window, replayed, or answering a request this server never issued",
    ),
    Code.SSO_CONNECTION_INACTIVE: (
        400,
        "the SSO connection is `pending`: its IdP settings are not complete",
    ),
    Code.OUTBOUND_URL_NOT_ALLOWED: (
        400,
        "a URL Gatehouse would fetch that is not http(s) or whose host resolves to a loopback, "
        "private, link-local or otherwise non-public address (`outbound_allow_private_networks`)",
    ),
    Code.INVALID_OIDC_STATE: (
        400,
        "an OIDC callback whose `state` this server did not issue, or that was already used or "
        "has expired; or that carries no `code`",
    ),
    Code.ACTIVE_TOTP_EXISTS: (
        400,
        "the member already has a verified TOTP registration; delete it before making another",
    ),
    Code.INVALID_TOTP_SECRET: (400, "a migrated TOTP secret that is not base32 or too short"),
    Code.INVALID_PHONE_NUMBER: (
        400,
        "no mfa phone number to text (the member has none and `mfa_phone_number` was not passed)",
    ),
    Code.UNAUTHORIZED_CREDENTIALS: (
        401,
        "missing or wrong project id / secret, management key or dashboard session; wrong "
        "email or password",
    ),
    Code.INVALID_JWT: (
        401,
        "a session JWT is malformed, forged, for another project, or unsigned",
    ),
    Code.INVALID_PASSWORD_RESET_TOKEN: (
        401,
        "a member password reset token that is unknown, used or expired",
    ),
    Code.EMAIL_LINK_USED: (401, "a sign-in or invitation link that was already used"),
    Code.EMAIL_LINK_EXPIRED: (401, "a sign-in or invitation link that has expired"),
    Code.UNABLE_TO_AUTH_MAGIC_LINK: (
        401,
        "a member magic link, invitation or discovery token that is unknown, used, expired or "
        "for another organization",
    ),
    Code.UNABLE_TO_AUTH_OTP_CODE: (
        401,
        "an email or SMS one-time code that is wrong, used, expired, or tried too many times",
    ),
    Code.UNABLE_TO_AUTH_SSO_TOKEN: (
        401,
        "an SSO token that is unknown, used or expired",
    ),
    Code.INVALID_OIDC_RESPONSE: (
        401,
        "the OIDC provider refused the code or answered an error, or its ID token does not "
        "verify: signature, issuer, audience, nonce, expiry",
    ),
    Code.INVALID_TOTP_CODE: (
        401,
        "a TOTP code that is wrong, already used, or outside the time window (one 30 s step)",
    ),
    Code.INVALID_RECOVERY_CODE: (401, "a recovery code that is wrong or already used"),
    Code.SESSION_AUTHORIZATION_ERROR: (
        403,
        "the session's member lacks a required permission (named in the message)",
    ),
    Code.SESSION_AUTHORIZATION_TENANCY_ERROR: (
        403,
        "the session's member belongs to another organization",
    ),
    Code.FORBIDDEN: (
        403,
        "a dashboard role lacks the matrix permission (named in the message), or a person "
        "may not do this to themselves",
    ),
    Code.IMPERSONATION_DISABLED: (403, "the environment does not allow impersonation"),
    Code.EMAIL_JIT_PROVISIONING_NOT_ALLOWED: (
        403,
        "the organization's `email_jit_provisioning` does not let this address join by itself",
    ),
    Code.EMAIL_INVITES_NOT_ALLOWED: (
        403,
        "the organization's `email_invites` does not allow inviting this address",
    ),
    Code.AUTH_METHOD_NOT_ALLOWED: (
        403,
        "the organization's `auth_methods` / `allowed_auth_methods` do not allow this sign-in "
        "method (breakglass members excepted)",
    ),
    Code.SSO_JIT_PROVISIONING_NOT_ALLOWED: (
        403,
        "the organization's `sso_jit_provisioning` does not let a new member join through this "
        "connection",
    ),
    Code.IDP_INITIATED_AUTH_DISABLED: (
        403,
        "the connection refuses IdP-initiated sign-in (`idp_initiated_auth_disabled`)",
    ),
    Code.ORGANIZATION_NOT_FOUND: (404, "no organization has this id, slug or external id"),
    Code.MEMBER_NOT_FOUND: (404, "no member of the organization has this id or email"),
    Code.MEMBER_PASSWORD_NOT_FOUND: (404, "no member has a password with this id"),
    Code.SESSION_NOT_FOUND: (
        404,
        "the session is unknown, has expired or was revoked",
    ),
    Code.SSO_CONNECTION_NOT_FOUND: (404, "the SSO connection id is unknown"),
    Code.SCIM_CONNECTION_NOT_FOUND: (
        404,
        "the organization has no SCIM connection, or none with this id",
    ),
    Code.SAML_CERTIFICATE_NOT_FOUND: (
        404,
        "the connection has no verification certificate or encryption key with this id",
    ),
    Code.PROJECT_NOT_FOUND: (404, "no project or environment has this id or slug"),
    Code.ENVIRONMENT_NOT_FOUND: (404, "the project has no environment with this slug"),
    Code.SECRET_NOT_FOUND: (404, "the environment has no API secret with this id"),
    Code.WORKSPACE_MEMBER_NOT_FOUND: (404, "the workspace has no member with this id"),
    Code.WORKSPACE_DOMAIN_NOT_FOUND: (404, "the workspace has no rule for this email domain"),
    Code.WORKSPACE_KEY_NOT_FOUND: (404, "the workspace has no management key with this id"),
    Code.EMAIL_LINK_NOT_FOUND: (
        404,
        "a sign-in or invitation link that is not valid (or was withdrawn)",
    ),
    Code.ROUTE_NOT_FOUND: (404, "no endpoint at this path"),
    Code.REDIRECT_URL_NOT_FOUND: (404, "the environment has no such registered redirect url"),
    Code.INTERMEDIATE_SESSION_NOT_FOUND: (
        404,
        "the intermediate session token is unknown, used or expired",
    ),
    Code.TOTP_NOT_FOUND: (404, "the member has no (live) TOTP registration"),
    Code.METHOD_NOT_ALLOWED: (405, "the endpoint does not take this method"),
    Code.DUPLICATE_ORGANIZATION_SLUG: (409, "the organization slug is taken in this project"),
    Code.DUPLICATE_EXTERNAL_ID: (
        409,
        "the external id is taken (by another organization of the project, or another member "
        "of the organization)",
    ),
    Code.DUPLICATE_MEMBER_EMAIL: (
        409,
        "another member of the organization (not deleted) has this email address",
    ),
    Code.DUPLICATE_PROJECT_SLUG: (409, "the project slug is taken in this workspace"),
    Code.DUPLICATE_ENVIRONMENT_SLUG: (409, "the environment slug is taken in this project"),
    Code.DUPLICATE_WORKSPACE_MEMBER: (
        409,
        "the email address is already a member of the workspace (or invited)",
    ),
    Code.CONFLICT: (
        409,
        "the write conflicted with another one made at the same moment; retry",
    ),
    Code.POLICY_IN_USE: (
        409,
        "a policy change removes a role or resource that is still used (every use is listed)",
    ),
    Code.POLICY_CONFLICT: (409, "a policy change raced another change; retry"),
    Code.ALREADY_INITIALISED: (409, "`gatehouse init` on an initialised database"),
    Code.NOT_INITIALISED: (409, "the server has no workspace yet: run `gatehouse init`"),
    Code.LAST_ADMIN: (409, "the change would leave the workspace without an Admin"),
    Code.MEMBER_PHONE_NUMBER_ALREADY_SET: (
        409,
        "the member already has an mfa phone number: delete it before setting another",
    ),
    Code.DUPLICATE_REDIRECT_URL: (409, "the redirect url is already registered (update it)"),
    Code.DUPLICATE_SCIM_CONNECTION: (
        409,
        "the organization already has a SCIM connection (one per organization: delete it first)",
    ),
    Code.DUPLICATE_SCIM_USER_NAME: (
        409,
        "the SCIM connection already has a user with this `userName` (the SCIM server answers "
        "it as `uniqueness`)",
    ),
    Code.NO_SCIM_TOKEN_ROTATION: (
        409,
        "no bearer token rotation is in progress (call rotate_start first)",
    ),
    Code.REQUEST_TOO_LARGE: (413, "the request body is over the size limit"),
    Code.UNSUPPORTED_MEDIA_TYPE: (415, "a body that is not JSON"),
    Code.TOO_MANY_REQUESTS: (
        429,
        "too many attempts (sign-ins, emails sent) or too many password hashes at once on this "
        "node; wait the `Retry-After` seconds and retry",
    ),
    Code.INTERNAL_SERVER_ERROR: (
        500,
        "a bug; the server log names the request id with the error",
    ),
    Code.EMAIL_DELIVERY_FAILED: (502, "the SMTP server refused the message; nothing was changed"),
    Code.SMS_DELIVERY_FAILED: (
        502,
        "the SMS sender (`sms_sender`) could not deliver the text; the code it held is void "
        "once a new one is sent",
    ),
    Code.SERVER_BUSY: (
        503,
        "the server is at its connection limit (`max_connections`); retry after `Retry-After` "
        "seconds",
    ),
    Code.DATABASE_BUSY: (
        503,
        "the database stayed locked by other writes past the wait limit; nothing was changed; "
        "retry after `Retry-After` seconds",
    ),
}

STATUS: dict[Code, int] = {code: status for code, (status, _) in ERRORS.items()}


def request_id_of(request: Request) -> str:
    """The request's id, made on first use and kept in the ASGI scope (a plain dict: Starlette's
    `request.state` raises and catches an exception for every missing attribute)."""
    scope = request.scope
    rid = scope.get("gatehouse.request_id")
    if rid is None:
        rid = scope["gatehouse.request_id"] = request_id()
    return str(rid)


def _error_url(request: Request, code: Code) -> str:
    base = request.app.state.gatehouse.settings.public_url.rstrip("/")
    return f"{base}{ERRORS_PATH}#{code.value}"


def error_response(
    request: Request, code: Code, message: str, retry_after: int | None = None
) -> JSONResponse:
    status = STATUS[code]
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse(
        {
            "status_code": status,
            "request_id": request_id_of(request),
            "error_type": code.value,
            "error_message": message,
            "error_url": _error_url(request, code),
        },
        status_code=status,
        headers=headers,
    )


async def gatehouse_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatehouseError)
    response = error_response(request, exc.code, exc.message, exc.retry_after)
    if exc.code is Code.REQUEST_TOO_LARGE:
        # The rest of the body is not wanted: close rather than read it to reach the next request.
        response.headers["connection"] = "close"
    return response


async def storage_busy(request: Request, exc: Exception) -> JSONResponse:
    """Lock contention past the wait limit (storage.Busy): a 503 with `Retry-After`, never a 500."""
    assert isinstance(exc, Busy)
    log.warning(
        "request %s: database busy on %s %s: %s",
        request_id_of(request),
        request.method,
        request.url.path,
        exc,
    )
    return error_response(
        request,
        Code.DATABASE_BUSY,
        "the database is busy with other writes; nothing was changed; retry in a moment",
        BUSY_RETRY_AFTER_SECONDS,
    )


async def storage_conflict(request: Request, exc: Exception) -> JSONResponse:
    """The safety net for an integrity refusal no service translated: a 409, never a 500."""
    assert isinstance(exc, Conflict)
    log.warning(
        "request %s: untranslated storage conflict on %s %s: %s",
        request_id_of(request),
        request.method,
        request.url.path,
        exc.constraint,
    )
    return error_response(
        request,
        Code.CONFLICT,
        "the change conflicted with another change made at the same moment; retry",
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(request, Code.ROUTE_NOT_FOUND, f"no endpoint at `{request.url.path}`")
    if exc.status_code == 405:
        return error_response(
            request,
            Code.METHOD_NOT_ALLOWED,
            f"`{request.method}` is not allowed on `{request.url.path}`",
        )
    return error_response(request, Code.INVALID_REQUEST, str(exc.detail).lower())


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id_of(request)
    log.exception("request %s: unhandled error on %s %s", rid, request.method, request.url.path)
    return error_response(
        request,
        Code.INTERNAL_SERVER_ERROR,
        f"something went wrong on our side; the server log names request `{rid}`",
    )


# -- the reference: docs/ERRORS.md and the page at /docs/errors --------------------------------

_INTRO = (
    "Every error is `{status_code, request_id, error_type, error_message, error_url}`. Messages "
    "are lowercase, quote the caller's input in backticks, and say what to do next where it "
    "helps. `error_url` points at this table as the server serves it, `/docs/errors#<error_type>`."
)


def render_markdown() -> str:
    """docs/ERRORS.md."""
    lines = [
        "# Error types",
        "",
        "<!-- generated from src/gatehouse/api/errors.py (ERRORS); "
        "regenerate with `python -m gatehouse.api.errors > docs/ERRORS.md` -->",
        "",
        _INTRO,
        "",
        "| error_type | status | when |",
        "|---|---|---|",
    ]
    lines += [f"| `{code.value}` | {status} | {when} |" for code, (status, when) in ERRORS.items()]
    return "\n".join(lines) + "\n"


def render_html() -> str:
    rows = "\n".join(
        f'<tr id="{code.value}"><td><a href="#{code.value}"><code>{code.value}</code></a></td>'
        f"<td>{status}</td><td>{html.escape(when)}</td></tr>"
        for code, (status, when) in ERRORS.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Gatehouse error types</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;"
        "padding:.3rem .6rem;text-align:left;vertical-align:top}tr:target{background:#fff3bf}"
        "</style></head><body><h1>Error types</h1>"
        f"<p>{html.escape(_INTRO)}</p><table><thead><tr><th>error_type</th><th>status</th>"
        f"<th>when</th></tr></thead><tbody>\n{rows}\n</tbody></table></body></html>"
    )


_PAGE = render_html()


@documented(
    "Every error type, its status and what to do (docs/ERRORS.md as a page)",
    None,
    errors=OPERATIONAL_ERRORS,
    security=(),
    tag="Operations",
    media_type="text/html",
)
async def errors_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
