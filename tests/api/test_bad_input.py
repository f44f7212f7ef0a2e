"""Bad input, bad credentials, unknown ids, dead sessions, tampered JWTs and conflicts, over HTTP.

Every refused request must answer Stytch's error JSON `{status_code, request_id, error_type,
error_message, error_url}` with the right status and type, and must change nothing: the whole
database (event rows included) is snapshotted before and after each request.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatehouse.api import schemas
from tests.databases import Snapshot, throwaway_database
from tests.server import RunningServer, running_server

ORGS = "/v1/b2b/organizations"
ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}
PASSWORD = "correct horse battery staple"
UNKNOWN_ORG = "organization-test-00000000-0000-4000-8000-000000000000"
UNKNOWN_MEMBER = "member-test-00000000-0000-4000-8000-000000000000"
UNKNOWN_SESSION = "member-session-test-00000000-0000-4000-8000-000000000000"
UNKNOWN_PROJECT = "project-test-00000000-0000-4000-8000-000000000000"


# -- requests ---------------------------------------------------------------------------------

_NO_BODY: Any = object()


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: Any = _NO_BODY  # serialised as ASCII JSON (lone surrogates travel as \\ud800 escapes)
    raw: bytes | None = None  # sent as-is with `content-type: application/json`
    params: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def get(path: str, params: Any = None, **kw: Any) -> Req:
    return Req("GET", path, params=params, **kw)


def post(path: str, body: Any = _NO_BODY, **kw: Any) -> Req:
    return Req("POST", path, body, **kw)


def put(path: str, body: Any = _NO_BODY, **kw: Any) -> Req:
    return Req("PUT", path, body, **kw)


def delete(path: str, body: Any = _NO_BODY, **kw: Any) -> Req:
    return Req("DELETE", path, body, **kw)


# httpx's default TLS context, made once: making it loads the CA bundle (~20 ms), and `httpx.request`
# makes a new one per call otherwise. (The servers here speak plain HTTP.)
_TLS = httpx.create_ssl_context()


def send(server: RunningServer, r: Req, auth: Any = "default") -> httpx.Response:
    # A fresh connection per request: uvicorn drops the connection after an unhandled error,
    # which would otherwise surface as a client-side reset on the next request.
    headers = {"connection": "close", **r.headers}
    content = r.raw
    if r.body is not _NO_BODY:
        content = json.dumps(r.body).encode()
    if content is not None:
        headers.setdefault("content-type", r.content_type)
    if auth == "default":
        auth = (server.project_id, server.secret)
    response = httpx.request(
        r.method,
        server.url + r.path,
        content=content,
        params=r.params,
        headers=headers,
        auth=auth,
        timeout=60,
        verify=_TLS,
    )
    if response.status_code >= 500:
        # The in-process server logs the traceback after answering. On CPython 3.11 `traceback`
        # and pytest's failure report both use `ast`, whose recursion bookkeeping is not thread
        # safe ("AST constructor recursion depth mismatch" INTERNALERROR): let the log finish.
        time.sleep(1.0)
    return response


# -- assertions -------------------------------------------------------------------------------


def db_changes(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The tables whose rows differ between the snapshots (any row of any table)."""
    return dict(before.changes(after))


def assert_error(response: httpx.Response, expected: list[tuple[int, str]]) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"not json: {response.status_code} {response.text[:300]!r}")
    got = (response.status_code, body.get("error_type") if isinstance(body, dict) else None)
    assert got in expected, f"expected one of {expected}, got {got}: {response.text[:600]}"
    assert response.headers["content-type"].startswith("application/json")
    assert set(body) == ERROR_KEYS, body
    assert body["status_code"] == response.status_code
    assert isinstance(body["request_id"], str) and body["request_id"]
    message = body["error_message"]
    assert isinstance(message, str) and message, body
    assert not message[0].isupper(), f"error_message should start lowercase: {message!r}"
    assert isinstance(body["error_url"], str) and body["error_url"].startswith("http"), body
    return body


def refused_without_change(
    server: RunningServer, r: Req, expected: list[tuple[int, str]], auth: Any = "default"
) -> dict[str, Any]:
    before = server.snapshot()
    response = send(server, r, auth)
    changes = db_changes(before, server.snapshot())
    try:
        body = assert_error(response, expected)
    except AssertionError as error:
        raise AssertionError(
            f"{error}\nand the database changes were: {changes or 'none'}"
        ) from None
    assert not changes, (
        f"a refused request ({response.status_code}) changed the database: {changes}"
    )
    return body


# -- JWTs ---------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def flip_payload_char(token: str) -> str:
    header, payload, signature = token.split(".")
    i = len(payload) // 2
    swapped = "A" if payload[i] != "A" else "B"
    return ".".join([header, payload[:i] + swapped + payload[i + 1 :], signature])


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def resign(token: str, key: Any, kid: str | None = None, **claims: Any) -> str:
    header, payload = unverified(token)
    return jwt.encode(
        {**payload, **claims}, key, algorithm="RS256", headers={"kid": kid or header["kid"]}
    )


def alg_none(token: str) -> str:
    header, payload = unverified(token)
    head = {"alg": "none", "typ": "JWT", "kid": header["kid"]}
    return f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(payload).encode())}."


# -- the world the cases run against --------------------------------------------------------------


@dataclass
class World:
    org: str = ""
    org_slug: str = "acme-bad-input"
    org_external_id: str = "ext-acme-bad-input"
    other_org: str = ""
    other_slug: str = "other-bad-input"
    live_org: str = ""
    alice: str = ""  # member of `org` with a password and sessions
    alice_email: str = "alice@example.com"
    alice_password_id: str = ""
    bob: str = ""  # member of `org`, created through members.create
    bob_email: str = "Bob@Example.com"
    carol: str = ""  # member of `other_org`, with a password
    carol_password_id: str = ""
    fuzz_org: str = ""
    fuzz_member: str = ""
    token: str = ""
    session_id: str = ""
    jwt: str = ""
    revoked_token: str = ""
    revoked_session_id: str = ""
    revoked_jwt: str = ""
    expired_token: str = ""
    expired_session_id: str = ""
    expired_jwt: str = ""
    live_jwt: str = ""
    bad_jwts: dict[str, str] = field(default_factory=dict)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _bcrypt(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _login(
    server: RunningServer, org: str, email: str, creds: tuple[str, str] | None = None
) -> Any:
    body = {"organization_id": org, "email_address": email, "password": PASSWORD}
    return _ok(send(server, post("/v1/b2b/passwords/authenticate", body), creds or "default"))


def build_world(server: RunningServer) -> World:
    w = World()
    w.org = _ok(
        send(
            server,
            post(
                ORGS,
                {
                    "organization_name": "Acme Bad Input",
                    "organization_slug": w.org_slug,
                    "organization_external_id": w.org_external_id,
                },
            ),
        )
    )["organization"]["organization_id"]
    w.other_org = _ok(
        send(
            server,
            post(
                ORGS,
                {
                    "organization_name": "Other",
                    "organization_slug": w.other_slug,
                },
            ),
        )
    )["organization"]["organization_id"]
    w.fuzz_org = _ok(send(server, post(ORGS, {"organization_name": "Fuzz"})))["organization"][
        "organization_id"
    ]

    def migrate(org: str, email: str, creds: Any = "default", **extra: Any) -> Any:
        body = {
            "organization_id": org,
            "email_address": email,
            "hash": _bcrypt(PASSWORD),
            "hash_type": "bcrypt",
            **extra,
        }
        return _ok(send(server, post("/v1/b2b/passwords/migrate", body), creds))

    alice = migrate(w.org, w.alice_email, name="Alice")
    w.alice, w.alice_password_id = alice["member_id"], alice["member"]["member_password_id"]
    bob = _ok(
        send(
            server,
            post(
                f"{ORGS}/{w.org}/members",
                {
                    "email_address": w.bob_email,
                    "external_id": "ext-bob",
                    "mfa_phone_number": "+14155550123",
                },
            ),
        )
    )
    w.bob = bob["member_id"]
    migrate(w.org, w.bob_email)  # bob gets a password too
    carol = migrate(w.other_org, "carol@example.com")
    w.carol, w.carol_password_id = carol["member_id"], carol["member"]["member_password_id"]
    w.fuzz_member = _ok(
        send(
            server,
            post(
                f"{ORGS}/{w.fuzz_org}/members",
                {
                    "email_address": "fuzz@example.com",
                },
            ),
        )
    )["member_id"]

    live = _login(server, w.org, w.alice_email)
    w.token, w.jwt = live["session_token"], live["session_jwt"]
    w.session_id = live["member_session"]["member_session_id"]

    revoked = _login(server, w.org, w.alice_email)
    w.revoked_token, w.revoked_jwt = revoked["session_token"], revoked["session_jwt"]
    w.revoked_session_id = revoked["member_session"]["member_session_id"]
    _ok(send(server, post("/v1/b2b/sessions/revoke", {"session_token": w.revoked_token})))

    expired = _login(server, w.org, w.alice_email)
    w.expired_token, w.expired_jwt = expired["session_token"], expired["session_jwt"]
    w.expired_session_id = expired["member_session"]["member_session_id"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with server.store.transaction() as tx:
        server.store.update_session(tx, w.expired_session_id, {"expires_at": past})

    # Another project's (the live environment's) session JWT.
    live_creds = (server.live_project_id, server.live_secret)
    w.live_org = _ok(send(server, post(ORGS, {"organization_name": "Live Org"}), live_creds))[
        "organization"
    ]["organization_id"]
    migrate(w.live_org, "dave@example.com", live_creds)
    w.live_jwt = _login(server, w.live_org, "dave@example.com", live_creds)["session_jwt"]

    with server.store.transaction() as tx:
        real_key = server.store.signing_keys(tx, server.project_id)[0]
    real_pem = server.gatehouse.runtime.sealer.open(real_key["private_key_pem"])  # sealed at rest
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    w.bad_jwts = {
        "flipped-payload-char": flip_payload_char(w.jwt),
        "resigned-other-rsa-key": resign(w.jwt, other_key),
        "resigned-unknown-kid": resign(w.jwt, other_key, "jwk-test-no-such-key"),
        "alg-none": alg_none(w.jwt),
        "another-projects-jwt": w.live_jwt,
        "real-key-wrong-audience": resign(
            w.jwt, real_pem, real_key["kid"], aud=[server.live_project_id]
        ),
        "real-key-wrong-issuer": resign(
            w.jwt, real_pem, real_key["kid"], iss="https://evil.example"
        ),
        "garbage": "not-a-jwt",
        "three-garbage-segments": "abc.def.ghi",
    }
    return w


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    return build_world(server)


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[World], Req]
    status: int
    error_type: str
    also: tuple[tuple[int, str], ...] = ()  # other acceptable (status, error_type) answers

    @property
    def expected(self) -> list[tuple[int, str]]:
        return [(self.status, self.error_type), *self.also]


def bad(case_id: str, build: Callable[[World], Req], error_type: str = "invalid_request") -> Case:
    return Case(case_id, build, 400, error_type)


def org(w: World) -> str:
    return f"{ORGS}/{w.org}"


def member(w: World, member_id: str | None = None) -> str:
    return f"{ORGS}/{w.org}/members/{member_id or w.alice}"


def migrate_body(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "organization_id": w.org,
        "email_address": "new@example.com",
        "hash": "$2b$04$" + "a" * 53,
        "hash_type": "bcrypt",
        **extra,
    }


def login_body(w: World, **extra: Any) -> dict[str, Any]:
    return {"organization_id": w.org, "email_address": w.alice_email, "password": PASSWORD, **extra}


def raw(method: str, path_of: Callable[[World], str], data: bytes) -> Callable[[World], Req]:
    return lambda w: Req(method, path_of(w), raw=data)


# Every endpoint that reads a JSON body, with the path it is called on.
BODY_ENDPOINTS: list[tuple[str, str, Callable[[World], str]]] = [
    ("org-create", "POST", lambda w: ORGS),
    ("org-update", "PUT", org),
    ("org-delete", "DELETE", org),
    ("org-search", "POST", lambda w: f"{ORGS}/search"),
    ("member-create", "POST", lambda w: f"{ORGS}/{w.org}/members"),
    ("member-update", "PUT", member),
    ("member-delete", "DELETE", lambda w: member(w, w.bob)),
    ("member-reactivate", "PUT", lambda w: member(w, w.bob) + "/reactivate"),
    (
        "member-delete-phone",
        "DELETE",
        lambda w: f"{ORGS}/{w.org}/members/mfa_phone_numbers/{w.bob}",
    ),
    (
        "member-delete-password",
        "DELETE",
        lambda w: f"{ORGS}/{w.org}/members/passwords/{w.alice_password_id}",
    ),
    ("member-search", "POST", lambda w: f"{ORGS}/members/search"),
    ("org-policy-set", "PUT", lambda w: f"/v1/b2b/rbac/organizations/{w.org}"),
    ("passwords-migrate", "POST", lambda w: "/v1/b2b/passwords/migrate"),
    ("passwords-authenticate", "POST", lambda w: "/v1/b2b/passwords/authenticate"),
    ("passwords-strength", "POST", lambda w: "/v1/b2b/passwords/strength_check"),
    ("sessions-authenticate", "POST", lambda w: "/v1/b2b/sessions/authenticate"),
    ("sessions-revoke", "POST", lambda w: "/v1/b2b/sessions/revoke"),
]

MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("truncated", b'{"organization_name": "x"'),
    ("trailing-garbage", b'{"a": 1} x'),
    ("list", b"[1, 2]"),
    ("string", b'"hello"'),
    ("number", b"42"),
    ("true", b"true"),
    ("null", b"null"),
    ("invalid-utf8", b'{"organization_name": "\xff\xfe"}'),
    ("single-quotes", b"{'organization_name': 'x'}"),
]

MALFORMED_CASES = [
    bad(f"{name}-{kind}", raw(method, path_of, data), "invalid_json")
    for name, method, path_of in BODY_ENDPOINTS
    for kind, data in MALFORMED_BODIES
]

UNKNOWN_FIELD_CASES = [
    bad(f"{name}-unknown-field", lambda w, m=method, p=path_of: Req(m, p(w), {"bogus_field": 1}))
    for name, method, path_of in BODY_ENDPOINTS
]

OVERSIZE_BODY_CASES = [
    Case(
        f"{name}-body-over-1mb",
        raw(method, path_of, b'{"organization_name": "' + b"x" * 1_000_001 + b'"}'),
        413,
        "request_too_large",
    )
    for name, method, path_of in BODY_ENDPOINTS[:6] + BODY_ENDPOINTS[12:14]
]

WRONG_CONTENT_TYPE_CASES = [
    Case(
        "org-create-text-plain",
        lambda w: Req("POST", ORGS, {"organization_name": "x"}, content_type="text/plain"),
        415,
        "unsupported_media_type",
    ),
    Case(
        "member-update-form",
        lambda w: Req(
            "PUT", member(w), {"name": "x"}, content_type="application/x-www-form-urlencoded"
        ),
        415,
        "unsupported_media_type",
    ),
]

BIG = "x" * 20_001
TYPE_CASES = [
    # wrong types (strict: no coercion)
    bad("org-create-name-number", lambda w: post(ORGS, {"organization_name": 5})),
    bad("org-create-name-list", lambda w: post(ORGS, {"organization_name": ["x"]})),
    bad(
        "org-create-domains-object",
        lambda w: post(
            ORGS, {"organization_name": "x", "email_allowed_domains": {"example.com": True}}
        ),
    ),
    bad(
        "org-create-metadata-list",
        lambda w: post(ORGS, {"organization_name": "x", "trusted_metadata": ["a"]}),
    ),
    bad(
        "org-create-metadata-string",
        lambda w: post(ORGS, {"organization_name": "x", "trusted_metadata": "{}"}),
    ),
    bad("org-update-mfa-policy-bool", lambda w: put(org(w), {"mfa_policy": True})),
    bad("org-update-slug-number", lambda w: put(org(w), {"organization_slug": 12345})),
    bad("org-search-limit-bool", lambda w: post(f"{ORGS}/search", {"limit": True})),
    bad("org-search-limit-string", lambda w: post(f"{ORGS}/search", {"limit": "10"})),
    bad("org-search-limit-float", lambda w: post(f"{ORGS}/search", {"limit": 10.0})),
    bad("org-search-query-list", lambda w: post(f"{ORGS}/search", {"query": []})),
    bad(
        "member-create-pending-string",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "create_member_as_pending": "true"},
        ),
    ),
    bad(
        "member-create-breakglass-int",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "new@example.com", "is_breakglass": 1}
        ),
    ),
    bad(
        "member-create-roles-object",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "roles": {"stytch_admin": True}},
        ),
    ),
    bad(
        "member-create-roles-string",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "new@example.com", "roles": "stytch_admin"}
        ),
    ),
    bad("member-update-name-number", lambda w: put(member(w), {"name": 42})),
    bad("member-update-mfa-enrolled-string", lambda w: put(member(w), {"mfa_enrolled": "false"})),
    bad("member-update-preserve-int", lambda w: put(member(w), {"preserve_existing_sessions": 0})),
    bad(
        "member-search-org-ids-string",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": w.org}),
    ),
    bad(
        "member-search-limit-bool",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org], "limit": False}),
    ),
    bad(
        "passwords-migrate-hash-number",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, hash=123)),
    ),
    bad(
        "passwords-migrate-verified-string",
        lambda w: post(
            "/v1/b2b/passwords/migrate", migrate_body(w, set_phone_number_verified="yes")
        ),
    ),
    bad(
        "passwords-auth-duration-string",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, session_duration_minutes="60")
        ),
    ),
    bad(
        "passwords-auth-duration-bool",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, session_duration_minutes=True)
        ),
    ),
    bad(
        "passwords-strength-password-number",
        lambda w: post("/v1/b2b/passwords/strength_check", {"password": 12345678}),
    ),
    bad(
        "sessions-auth-token-number",
        lambda w: post("/v1/b2b/sessions/authenticate", {"session_token": 5}),
    ),
    bad(
        "sessions-auth-check-string",
        lambda w: post(
            "/v1/b2b/sessions/authenticate",
            {"session_token": w.token, "authorization_check": "stytch.member:read"},
        ),
    ),
    bad(
        "sessions-revoke-id-list",
        lambda w: post("/v1/b2b/sessions/revoke", {"member_session_id": [w.session_id]}),
    ),
    bad(
        "org-policy-roles-number",
        lambda w: put(f"/v1/b2b/rbac/organizations/{w.org}", {"org_policy": {"roles": 5}}),
        "invalid_policy",
    ),
    bad(
        "org-policy-string",
        lambda w: put(f"/v1/b2b/rbac/organizations/{w.org}", {"org_policy": "roles"}),
        "invalid_policy",
    ),
    bad(
        "org-policy-unknown-resource",
        lambda w: put(
            f"/v1/b2b/rbac/organizations/{w.org}",
            {
                "org_policy": {
                    "roles": [
                        {
                            "role_id": "auditor",
                            "description": "",
                            "permissions": [{"resource_id": "nope", "actions": ["read"]}],
                        }
                    ]
                }
            },
        ),
        "invalid_policy",
    ),
    bad(
        "org-policy-shadows-project-role",
        lambda w: put(
            f"/v1/b2b/rbac/organizations/{w.org}",
            {
                "org_policy": {
                    "roles": [{"role_id": "stytch_admin", "description": "", "permissions": []}]
                }
            },
        ),
        "invalid_policy",
    ),
    # explicit nulls
    bad(
        "org-create-null-slug",
        lambda w: post(ORGS, {"organization_name": "x", "organization_slug": None}),
    ),
    bad("org-create-null-name", lambda w: post(ORGS, {"organization_name": None})),
    bad("org-update-null-metadata", lambda w: put(org(w), {"trusted_metadata": None})),
    bad(
        "member-create-null-name",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "new@example.com", "name": None}
        ),
    ),
    bad("member-update-null-roles", lambda w: put(member(w), {"roles": None})),
    bad(
        "member-search-null-cursor",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org], "cursor": None}),
    ),
    bad(
        "passwords-migrate-null-name",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, name=None)),
    ),
    bad(
        "sessions-revoke-null-token",
        lambda w: post("/v1/b2b/sessions/revoke", {"session_token": None}),
    ),
    bad(
        "org-policy-null",
        lambda w: put(f"/v1/b2b/rbac/organizations/{w.org}", {"org_policy": None}),
    ),
    # missing required fields / empty bodies
    bad("org-create-empty-body", lambda w: post(ORGS, {})),
    bad("org-create-no-body", lambda w: post(ORGS)),
    bad("member-create-no-email", lambda w: post(f"{ORGS}/{w.org}/members", {"name": "x"})),
    bad("member-search-no-org-ids", lambda w: post(f"{ORGS}/members/search", {})),
    bad(
        "member-search-empty-org-ids",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": []}),
    ),
    bad(
        "passwords-migrate-missing-hash",
        lambda w: post(
            "/v1/b2b/passwords/migrate",
            {"organization_id": w.org, "email_address": "new@example.com", "hash_type": "bcrypt"},
        ),
    ),
    bad("sessions-auth-nothing", lambda w: post("/v1/b2b/sessions/authenticate", {})),
    bad(
        "sessions-auth-token-and-jwt",
        lambda w: post(
            "/v1/b2b/sessions/authenticate", {"session_token": w.token, "session_jwt": w.jwt}
        ),
    ),
    bad("sessions-revoke-nothing", lambda w: post("/v1/b2b/sessions/revoke", {})),
    bad(
        "sessions-revoke-two-ids",
        lambda w: post(
            "/v1/b2b/sessions/revoke", {"member_session_id": w.session_id, "member_id": w.alice}
        ),
    ),
    bad("org-policy-missing", lambda w: put(f"/v1/b2b/rbac/organizations/{w.org}", {})),
    # oversize strings
    bad("org-create-name-257", lambda w: post(ORGS, {"organization_name": "x" * 257})),
    bad("org-create-name-empty", lambda w: post(ORGS, {"organization_name": ""})),
    bad(
        "org-create-slug-129",
        lambda w: post(ORGS, {"organization_name": "x", "organization_slug": "s" * 129}),
    ),
    bad("org-update-name-257", lambda w: put(org(w), {"organization_name": "x" * 257})),
    bad("org-update-slug-129", lambda w: put(org(w), {"organization_slug": "s" * 129})),
    bad(
        "org-create-metadata-over-20000",
        lambda w: post(ORGS, {"organization_name": "x", "trusted_metadata": {"k": BIG}}),
    ),
    bad(
        "org-update-untrusted-metadata-over-20000",
        lambda w: put(org(w), {"untrusted_metadata": {"k": BIG}}),
    ),
    bad(
        "org-create-external-id-129",
        lambda w: post(ORGS, {"organization_name": "x", "organization_external_id": "e" * 129}),
    ),
    bad(
        "org-create-logo-url-2049",
        lambda w: post(
            ORGS, {"organization_name": "x", "organization_logo_url": "https://x/" + "a" * 2040}
        ),
    ),
    bad(
        "member-create-name-257",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "new@example.com", "name": "x" * 257}
        ),
    ),
    bad("member-update-name-257", lambda w: put(member(w), {"name": "x" * 257})),
    bad(
        "member-update-trusted-metadata-over-20000",
        lambda w: put(member(w), {"trusted_metadata": {"k": BIG}}),
    ),
    bad(
        "member-create-untrusted-metadata-over-20000",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "untrusted_metadata": {"k": BIG}},
        ),
    ),
    bad(
        "passwords-migrate-name-257",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, name="x" * 257)),
    ),
    bad(
        "passwords-migrate-metadata-over-20000",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, trusted_metadata={"k": BIG})),
    ),
    bad(
        "passwords-auth-claims-over-20000",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, session_custom_claims={"k": BIG})
        ),
    ),
    bad(
        "sessions-auth-claims-over-20000",
        lambda w: post(
            "/v1/b2b/sessions/authenticate",
            {"session_token": w.token, "session_custom_claims": {"k": BIG}},
        ),
    ),
    bad(
        "passwords-strength-1025",
        lambda w: post("/v1/b2b/passwords/strength_check", {"password": "p" * 1025}),
    ),
    bad("org-search-cursor-513", lambda w: post(f"{ORGS}/search", {"cursor": "c" * 513})),
    bad(
        "org-create-101-domains",
        lambda w: post(
            ORGS,
            {
                "organization_name": "x",
                "email_allowed_domains": [f"d{i}.example.com" for i in range(101)],
            },
        ),
    ),
    bad(
        "member-create-101-roles",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "roles": [f"r{i}" for i in range(101)]},
        ),
    ),
    # invalid emails, domains, phone numbers, slugs
    *[
        bad(
            f"member-create-email-{i}",
            lambda w, e=e: post(f"{ORGS}/{w.org}/members", {"email_address": e}),
        )
        for i, e in enumerate(
            [
                "not-an-email",
                "a@b",
                "a@@example.com",
                "@example.com",
                "a b@example.com",
                "a@exa mple.com",
                "a@-example.com",
                "",
            ]
        )
    ],
    bad("member-update-email-invalid", lambda w: put(member(w), {"email_address": "nope"})),
    bad(
        "passwords-migrate-email-invalid",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, email_address="nope@")),
    ),
    *[
        bad(
            f"org-create-domain-{i}",
            lambda w, d=d: post(ORGS, {"organization_name": "x", "email_allowed_domains": [d]}),
        )
        for i, d in enumerate(
            [
                "example",
                "-bad-.com",
                "exa mple.com",
                "example.c",
                "a..com",
                "http://example.com",
                "user@example.com",
                "",
            ]
        )
    ],
    bad(
        "org-update-claimed-domain-invalid",
        lambda w: put(org(w), {"claimed_email_domains": ["not a domain"]}),
    ),
    bad(
        "org-update-implicit-role-domain-invalid",
        lambda w: put(
            org(w),
            {
                "rbac_email_implicit_role_assignments": [
                    {"domain": "nope", "role_id": "stytch_admin"}
                ]
            },
        ),
    ),
    *[
        bad(
            f"member-create-phone-{i}",
            lambda w, p=p: post(
                f"{ORGS}/{w.org}/members",
                {"email_address": "new@example.com", "mfa_phone_number": p},
            ),
        )
        for i, p in enumerate(
            ["4155550123", "+0155550123", "+1 415 555 0123", "+1", "+1234567890123456", "phone"]
        )
    ],
    bad("member-update-phone-invalid", lambda w: put(member(w), {"mfa_phone_number": "555-0123"})),
    bad(
        "passwords-migrate-phone-invalid",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, mfa_phone_number="+1-415")),
    ),
    *[
        bad(
            f"org-create-slug-{i}",
            lambda w, s=s: post(ORGS, {"organization_name": "x", "organization_slug": s}),
        )
        for i, s in enumerate(["a", "has space", "slash/slug", "caf\u00e9", "", "q?x"])
    ],
    bad("org-update-slug-invalid", lambda w: put(org(w), {"organization_slug": "no spaces"})),
    bad(
        "org-create-external-id-space",
        lambda w: post(ORGS, {"organization_name": "x", "organization_external_id": "has space"}),
    ),
    bad("member-update-external-id-empty", lambda w: put(member(w), {"external_id": ""})),
    # enums
    bad(
        "org-create-email-jit-all-allowed",
        lambda w: post(ORGS, {"organization_name": "x", "email_jit_provisioning": "ALL_ALLOWED"}),
    ),
    bad("org-update-mfa-policy-bogus", lambda w: put(org(w), {"mfa_policy": "SOMETIMES"})),
    bad(
        "org-update-auth-method-bogus",
        lambda w: put(org(w), {"allowed_auth_methods": ["carrier_pigeon"]}),
    ),
    bad(
        "member-update-default-mfa-bogus", lambda w: put(member(w), {"default_mfa_method": "email"})
    ),
    bad(
        "passwords-migrate-hash-type-bogus",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, hash_type="rot13")),
    ),
    bad(
        "passwords-migrate-phpass",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, hash_type="phpass")),
    ),
    bad(
        "passwords-migrate-bad-bcrypt-hash",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, hash="not-a-hash")),
    ),
    bad(
        "passwords-migrate-foreign-config",
        lambda w: post(
            "/v1/b2b/passwords/migrate", migrate_body(w, md_5_config={"prepend_salt": "x"})
        ),
    ),
    bad(
        "org-search-operator-bogus",
        lambda w: post(f"{ORGS}/search", {"query": {"operator": "XOR", "operands": []}}),
    ),
    # out-of-range ints
    bad("org-search-limit-0", lambda w: post(f"{ORGS}/search", {"limit": 0})),
    bad("org-search-limit-1001", lambda w: post(f"{ORGS}/search", {"limit": 1001})),
    bad("org-search-limit-negative", lambda w: post(f"{ORGS}/search", {"limit": -1})),
    bad(
        "member-search-limit-0",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org], "limit": 0}),
    ),
    bad(
        "member-search-limit-1001",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org], "limit": 1001}),
    ),
    bad(
        "passwords-auth-duration-1",
        lambda w: post("/v1/b2b/passwords/authenticate", login_body(w, session_duration_minutes=1)),
    ),
    bad(
        "passwords-auth-duration-too-long",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, session_duration_minutes=527_041)
        ),
    ),
    bad(
        "sessions-auth-duration-1",
        lambda w: post(
            "/v1/b2b/sessions/authenticate",
            {"session_token": w.token, "session_duration_minutes": 1},
        ),
    ),
    bad(
        "sessions-auth-duration-0",
        lambda w: post(
            "/v1/b2b/sessions/authenticate",
            {"session_token": w.token, "session_duration_minutes": 0},
        ),
    ),
    # search: unknown filter, wrong filter value, bad cursor
    bad(
        "org-search-unknown-filter",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "favourite_colour", "filter_value": ["blue"]}],
                }
            },
        ),
    ),
    bad(
        "org-search-member-filter-on-orgs",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "OR",
                    "operands": [{"filter_name": "member_is_breakglass", "filter_value": True}],
                }
            },
        ),
    ),
    bad(
        "org-search-filter-value-wrong-type",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "organization_ids", "filter_value": "not-a-list"}],
                }
            },
        ),
    ),
    bad(
        "org-search-operand-unknown-key",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "AND",
                    "operands": [
                        {"filter_name": "organization_ids", "filter_value": [], "extra": 1}
                    ],
                }
            },
        ),
    ),
    bad(
        "member-search-unknown-filter",
        lambda w: post(
            f"{ORGS}/members/search",
            {
                "organization_ids": [w.org],
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "organization_slugs", "filter_value": ["x"]}],
                },
            },
        ),
    ),
    bad(
        "member-search-bool-filter-given-list",
        lambda w: post(
            f"{ORGS}/members/search",
            {
                "organization_ids": [w.org],
                "query": {
                    "operator": "AND",
                    "operands": [
                        {"filter_name": "member_password_exists", "filter_value": ["true"]}
                    ],
                },
            },
        ),
    ),
    *[
        bad(
            f"org-search-cursor-{i}",
            lambda w, c=c: post(f"{ORGS}/search", {"cursor": c}),
            "invalid_cursor",
        )
        for i, c in enumerate(
            [
                "zzz",
                "not a cursor!",
                _b64(b"[1, 2]"),
                _b64(b'{"a": 1}'),
                _b64(b'["not-a-date", "x"]'),
                _b64(b'["2020-01-01", 5]'),
                _b64(b'["2020-01-01", "x", "y"]'),
                _b64(b"\xff\xfe"),
            ]
        )
    ],
    bad(
        "member-search-cursor-garbage",
        lambda w: post(
            f"{ORGS}/members/search", {"organization_ids": [w.org], "cursor": "garbage"}
        ),
        "invalid_cursor",
    ),
    # path parameters echoed in the body / query must equal the path's
    bad(
        "org-update-echo-mismatch",
        lambda w: put(org(w), {"organization_id": w.other_org, "organization_name": "x"}),
    ),
    bad("org-delete-echo-mismatch", lambda w: delete(org(w), {"organization_id": w.other_org})),
    bad("org-get-query-echo-mismatch", lambda w: get(org(w), {"organization_id": w.other_org})),
    bad("org-get-echo-slug-for-id", lambda w: get(org(w), {"organization_id": w.org_slug})),
    bad(
        "member-create-echo-mismatch",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"organization_id": w.other_org, "email_address": "new@example.com"},
        ),
    ),
    bad(
        "member-get-query-echo-mismatch",
        lambda w: get(
            f"{ORGS}/{w.org}/member", {"organization_id": w.other_org, "member_id": w.alice}
        ),
    ),
    bad(
        "member-update-org-echo-mismatch",
        lambda w: put(member(w), {"organization_id": w.other_org, "name": "x"}),
    ),
    bad(
        "member-update-member-echo-mismatch",
        lambda w: put(member(w), {"member_id": w.bob, "name": "x"}),
    ),
    bad("member-delete-echo-mismatch", lambda w: delete(member(w, w.bob), {"member_id": w.alice})),
    bad(
        "member-reactivate-echo-mismatch",
        lambda w: put(member(w, w.bob) + "/reactivate", {"member_id": w.alice}),
    ),
    bad(
        "member-delete-phone-echo-mismatch",
        lambda w: delete(
            f"{ORGS}/{w.org}/members/mfa_phone_numbers/{w.bob}", {"member_id": w.alice}
        ),
    ),
    bad(
        "member-delete-password-echo-mismatch",
        lambda w: delete(
            f"{ORGS}/{w.org}/members/passwords/{w.alice_password_id}",
            {"member_password_id": "member-password-test-other"},
        ),
    ),
    bad(
        "org-policy-get-echo-mismatch",
        lambda w: get(f"/v1/b2b/rbac/organizations/{w.org}", {"organization_id": w.other_org}),
    ),
    bad(
        "org-policy-set-echo-mismatch",
        lambda w: put(
            f"/v1/b2b/rbac/organizations/{w.org}",
            {"organization_id": w.other_org, "org_policy": {"roles": []}},
        ),
    ),
    bad(
        "jwks-query-echo-mismatch",
        lambda w: get("/v1/b2b/sessions/jwks/{project}", {"project_id": UNKNOWN_PROJECT}),
    ),
    # query strings: unknown or repeated parameters
    bad("org-get-unknown-query", lambda w: get(org(w), {"expand": "members"})),
    bad(
        "org-get-repeated-echo",
        lambda w: get(org(w), [("organization_id", w.org), ("organization_id", w.org)]),
    ),
    bad(
        "member-get-unknown-query",
        lambda w: get(f"{ORGS}/{w.org}/member", {"member_id": w.alice, "include": "x"}),
    ),
    bad("member-get-nothing", lambda w: get(f"{ORGS}/{w.org}/member")),
    bad("member-get-empty-member-id", lambda w: get(f"{ORGS}/{w.org}/member", {"member_id": ""})),
    bad("rbac-policy-unknown-query", lambda w: get("/v1/b2b/rbac/policy", {"version": "2"})),
    bad(
        "org-policy-get-unknown-query",
        lambda w: get(f"/v1/b2b/rbac/organizations/{w.org}", {"x": "1"}),
    ),
    bad(
        "sessions-get-unknown-query",
        lambda w: get(
            "/v1/b2b/sessions", {"organization_id": w.org, "member_id": w.alice, "all": "true"}
        ),
    ),
    bad(
        "sessions-get-missing-member", lambda w: get("/v1/b2b/sessions", {"organization_id": w.org})
    ),
    bad("jwks-unknown-query", lambda w: get("/v1/b2b/sessions/jwks/{project}", {"x": "1"})),
    # semantic refusals
    bad(
        "org-create-unknown-implicit-role",
        lambda w: post(
            ORGS,
            {
                "organization_name": "x",
                "rbac_email_implicit_role_assignments": [
                    {"domain": "example.com", "role_id": "nope"}
                ],
            },
        ),
        "role_not_found",
    ),
    bad(
        "member-create-unknown-role",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "roles": ["no_such_role"]},
        ),
        "role_not_found",
    ),
    bad(
        "member-update-unknown-role",
        lambda w: put(member(w), {"name": "renamed", "roles": ["stytch_admin", "no_such_role"]}),
        "role_not_found",
    ),
    bad(
        "passwords-migrate-unknown-role",
        lambda w: post(
            "/v1/b2b/passwords/migrate", migrate_body(w, hash=_bcrypt("x"), roles=["nope"])
        ),
        "role_not_found",
    ),
    bad(
        "member-update-unlink-email",
        lambda w: put(member(w), {"unlink_email": True}),
        "unsupported_feature",
    ),
    bad(
        "member-update-default-mfa-totp",
        lambda w: put(member(w), {"name": "renamed", "default_mfa_method": "totp"}),
        "invalid_request",
    ),
    bad(
        "passwords-auth-intermediate-token",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, intermediate_session_token="ist")
        ),
        "unsupported_feature",
    ),
    bad(
        "passwords-auth-reserved-claim",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, session_custom_claims={"sub": "x"})
        ),
        "invalid_custom_claims",
    ),
    bad(
        "sessions-auth-reserved-claim",
        lambda w: post(
            "/v1/b2b/sessions/authenticate",
            {"session_token": w.token, "session_custom_claims": {"https://stytch.com/session": {}}},
        ),
        "invalid_custom_claims",
    ),
    bad(
        "passwords-auth-other-members-session",
        lambda w: post(
            "/v1/b2b/passwords/authenticate",
            login_body(w, email_address=w.bob_email, session_token=w.token),
        ),
        "session_member_mismatch",
    ),
]


def not_found(case_id: str, build: Callable[[World], Req], kind: str) -> Case:
    return Case(case_id, build, 404, f"{kind}_not_found")


UNKNOWN_ID_CASES = [
    not_found("org-get-unknown", lambda w: get(f"{ORGS}/{UNKNOWN_ORG}"), "organization"),
    not_found("org-get-unknown-slug", lambda w: get(f"{ORGS}/no-such-slug"), "organization"),
    not_found(
        "org-get-live-org-with-test-creds", lambda w: get(f"{ORGS}/{w.live_org}"), "organization"
    ),
    not_found(
        "org-update-unknown",
        lambda w: put(f"{ORGS}/{UNKNOWN_ORG}", {"organization_name": "x"}),
        "organization",
    ),
    not_found("org-delete-unknown", lambda w: delete(f"{ORGS}/{UNKNOWN_ORG}"), "organization"),
    not_found(
        "member-create-unknown-org",
        lambda w: post(f"{ORGS}/{UNKNOWN_ORG}/members", {"email_address": "new@example.com"}),
        "organization",
    ),
    not_found(
        "member-get-unknown-org",
        lambda w: get(f"{ORGS}/{UNKNOWN_ORG}/member", {"member_id": w.alice}),
        "organization",
    ),
    not_found(
        "member-get-unknown-id",
        lambda w: get(f"{ORGS}/{w.org}/member", {"member_id": UNKNOWN_MEMBER}),
        "member",
    ),
    not_found(
        "member-get-unknown-email",
        lambda w: get(f"{ORGS}/{w.org}/member", {"email_address": "nobody@example.com"}),
        "member",
    ),
    not_found(
        "member-get-other-orgs-member",
        lambda w: get(f"{ORGS}/{w.org}/member", {"member_id": w.carol}),
        "member",
    ),
    not_found(
        "member-update-unknown", lambda w: put(member(w, UNKNOWN_MEMBER), {"name": "x"}), "member"
    ),
    not_found(
        "member-update-other-orgs-member",
        lambda w: put(member(w, w.carol), {"name": "x"}),
        "member",
    ),
    not_found(
        "member-update-unknown-org",
        lambda w: put(f"{ORGS}/{UNKNOWN_ORG}/members/{w.alice}", {"name": "x"}),
        "organization",
    ),
    not_found("member-delete-unknown", lambda w: delete(member(w, UNKNOWN_MEMBER)), "member"),
    not_found("member-delete-other-orgs-member", lambda w: delete(member(w, w.carol)), "member"),
    not_found(
        "member-reactivate-unknown",
        lambda w: put(member(w, UNKNOWN_MEMBER) + "/reactivate"),
        "member",
    ),
    not_found(
        "member-delete-phone-unknown",
        lambda w: delete(f"{ORGS}/{w.org}/members/mfa_phone_numbers/{UNKNOWN_MEMBER}"),
        "member",
    ),
    not_found(
        "member-delete-password-unknown",
        lambda w: delete(f"{ORGS}/{w.org}/members/passwords/member-password-test-nope"),
        "member_password",
    ),
    not_found(
        "member-delete-password-other-orgs",
        lambda w: delete(f"{ORGS}/{w.org}/members/passwords/{w.carol_password_id}"),
        "member_password",
    ),
    not_found(
        "member-search-unknown-org",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org, UNKNOWN_ORG]}),
        "organization",
    ),
    not_found(
        "org-policy-get-unknown",
        lambda w: get(f"/v1/b2b/rbac/organizations/{UNKNOWN_ORG}"),
        "organization",
    ),
    not_found(
        "org-policy-set-unknown",
        lambda w: put(f"/v1/b2b/rbac/organizations/{UNKNOWN_ORG}", {"org_policy": {"roles": []}}),
        "organization",
    ),
    not_found(
        "passwords-migrate-unknown-org",
        lambda w: post(
            "/v1/b2b/passwords/migrate",
            migrate_body(w, organization_id=UNKNOWN_ORG, hash=_bcrypt("x")),
        ),
        "organization",
    ),
    not_found(
        "passwords-auth-unknown-org",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, organization_id=UNKNOWN_ORG)
        ),
        "organization",
    ),
    not_found(
        "sessions-auth-unknown-token",
        lambda w: post("/v1/b2b/sessions/authenticate", {"session_token": "no-such-token"}),
        "session",
    ),
    not_found(
        "sessions-revoke-unknown-id",
        lambda w: post("/v1/b2b/sessions/revoke", {"member_session_id": UNKNOWN_SESSION}),
        "session",
    ),
    not_found(
        "sessions-revoke-unknown-token",
        lambda w: post("/v1/b2b/sessions/revoke", {"session_token": "no-such-token"}),
        "session",
    ),
    not_found(
        "sessions-revoke-unknown-member",
        lambda w: post("/v1/b2b/sessions/revoke", {"member_id": UNKNOWN_MEMBER}),
        "member",
    ),
    not_found(
        "sessions-get-unknown-member",
        lambda w: get("/v1/b2b/sessions", {"organization_id": w.org, "member_id": UNKNOWN_MEMBER}),
        "member",
    ),
    not_found(
        "sessions-get-unknown-org",
        lambda w: get("/v1/b2b/sessions", {"organization_id": UNKNOWN_ORG, "member_id": w.alice}),
        "organization",
    ),
    not_found(
        "sessions-get-other-orgs-member",
        lambda w: get("/v1/b2b/sessions", {"organization_id": w.org, "member_id": w.carol}),
        "member",
    ),
    not_found(
        "jwks-unknown-project", lambda w: get(f"/v1/b2b/sessions/jwks/{UNKNOWN_PROJECT}"), "project"
    ),
]

SESSION_CASES = [
    # dead sessions: revoked, expired
    *[
        not_found(
            f"sessions-auth-{state}-{kind}",
            lambda w, a=f"{state}_{kind}", k=kind: post(
                "/v1/b2b/sessions/authenticate", {f"session_{k}": getattr(w, a)}
            ),
            "session",
        )
        for state in ("revoked", "expired")
        for kind in ("token", "jwt")
    ],
    *[
        not_found(
            f"sessions-revoke-{state}-{kind}",
            lambda w, a=f"{state}_{kind}", k=kind: post(
                "/v1/b2b/sessions/revoke", {f"session_{k}": getattr(w, a)}
            ),
            "session",
        )
        for state in ("revoked", "expired")
        for kind in ("token", "jwt")
    ],
    *[
        not_found(
            f"sessions-revoke-{state}-session-id",
            lambda w, a=f"{state}_session_id": post(
                "/v1/b2b/sessions/revoke", {"member_session_id": getattr(w, a)}
            ),
            "session",
        )
        for state in ("revoked", "expired")
    ],
    *[
        not_found(
            f"passwords-auth-with-{state}-{kind}",
            lambda w, a=f"{state}_{kind}", k=kind: post(
                "/v1/b2b/passwords/authenticate", login_body(w, **{f"session_{k}": getattr(w, a)})
            ),
            "session",
        )
        for state in ("revoked", "expired")
        for kind in ("token", "jwt")
    ],
    *[
        not_found(
            f"member-update-header-{state}-{kind}",
            lambda w, a=f"{state}_{kind}", h=header: put(
                member(w), {"name": "hijacked"}, headers={h: getattr(w, a)}
            ),
            "session",
        )
        for state in ("revoked", "expired")
        for kind, header in (
            ("token", "X-Stytch-Member-Session"),
            ("jwt", "X-Stytch-Member-SessionJWT"),
        )
    ],
    not_found(
        "member-update-header-unknown-token",
        lambda w: put(member(w), {"name": "hijacked"}, headers={"X-Stytch-Member-Session": "nope"}),
        "session",
    ),
    not_found(
        "org-update-header-revoked-token",
        lambda w: put(
            org(w),
            {"organization_name": "hijacked"},
            headers={"X-Stytch-Member-Session": w.revoked_token},
        ),
        "session",
    ),
    not_found(
        "org-delete-header-expired-jwt",
        lambda w: delete(org(w), headers={"X-Stytch-Member-SessionJWT": w.expired_jwt}),
        "session",
    ),
]

JWT_KINDS = [
    "flipped-payload-char",
    "resigned-other-rsa-key",
    "resigned-unknown-kid",
    "alg-none",
    "another-projects-jwt",
    "real-key-wrong-audience",
    "real-key-wrong-issuer",
    "garbage",
    "three-garbage-segments",
]

JWT_CASES = [
    case
    for kind in JWT_KINDS
    for case in (
        Case(
            f"sessions-auth-jwt-{kind}",
            lambda w, k=kind: post("/v1/b2b/sessions/authenticate", {"session_jwt": w.bad_jwts[k]}),
            401,
            "invalid_jwt",
        ),
        Case(
            f"sessions-revoke-jwt-{kind}",
            lambda w, k=kind: post("/v1/b2b/sessions/revoke", {"session_jwt": w.bad_jwts[k]}),
            401,
            "invalid_jwt",
        ),
        Case(
            f"passwords-auth-jwt-{kind}",
            lambda w, k=kind: post(
                "/v1/b2b/passwords/authenticate", login_body(w, session_jwt=w.bad_jwts[k])
            ),
            401,
            "invalid_jwt",
        ),
        Case(
            f"member-update-header-jwt-{kind}",
            lambda w, k=kind: put(
                member(w),
                {"name": "hijacked"},
                headers={"X-Stytch-Member-SessionJWT": w.bad_jwts[k]},
            ),
            401,
            "invalid_jwt",
        ),
    )
] + [
    Case(
        "org-update-header-jwt-resigned",
        lambda w: put(
            org(w),
            {"organization_name": "hijacked"},
            headers={"X-Stytch-Member-SessionJWT": w.bad_jwts["resigned-other-rsa-key"]},
        ),
        401,
        "invalid_jwt",
    ),
    Case(
        "member-delete-header-jwt-alg-none",
        lambda w: delete(
            member(w, w.bob), headers={"X-Stytch-Member-SessionJWT": w.bad_jwts["alg-none"]}
        ),
        401,
        "invalid_jwt",
    ),
]

CONFLICT_CASES = [
    Case(
        "org-create-duplicate-slug",
        lambda w: post(ORGS, {"organization_name": "Copy", "organization_slug": w.org_slug}),
        409,
        "duplicate_organization_slug",
    ),
    Case(
        "org-update-duplicate-slug",
        lambda w: put(
            f"{ORGS}/{w.other_org}",
            {"organization_name": "renamed", "organization_slug": w.org_slug},
        ),
        409,
        "duplicate_organization_slug",
    ),
    Case(
        "org-create-duplicate-external-id",
        lambda w: post(
            ORGS, {"organization_name": "Copy", "organization_external_id": w.org_external_id}
        ),
        409,
        "duplicate_external_id",
    ),
    Case(
        "org-update-duplicate-external-id",
        lambda w: put(f"{ORGS}/{w.other_org}", {"organization_external_id": w.org_external_id}),
        409,
        "duplicate_external_id",
    ),
    Case(
        "member-create-duplicate-email-same-case",
        lambda w: post(f"{ORGS}/{w.org}/members", {"email_address": w.alice_email}),
        409,
        "duplicate_member_email",
    ),
    Case(
        "member-create-duplicate-email-other-case",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "ALICE@Example.COM", "name": "Impostor"}
        ),
        409,
        "duplicate_member_email",
    ),
    Case(
        "member-create-duplicate-email-lowercased",
        lambda w: post(f"{ORGS}/{w.org}/members", {"email_address": w.bob_email.lower()}),
        409,
        "duplicate_member_email",
    ),
    Case(
        "member-update-email-taken-other-case",
        lambda w: put(member(w, w.bob), {"name": "renamed", "email_address": "Alice@EXAMPLE.com"}),
        409,
        "duplicate_member_email",
    ),
    Case(
        "member-create-duplicate-external-id",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "external_id": "ext-bob"},
        ),
        409,
        "duplicate_external_id",
    ),
    Case(
        "member-update-duplicate-external-id",
        lambda w: put(member(w), {"external_id": "ext-bob"}),
        409,
        "duplicate_external_id",
    ),
]

WRONG_PASSWORD_CASES = [
    Case(
        "passwords-auth-wrong-password",
        lambda w: post("/v1/b2b/passwords/authenticate", login_body(w, password="wrong password")),
        401,
        "unauthorized_credentials",
    ),
    Case(
        "passwords-auth-unknown-email",
        lambda w: post(
            "/v1/b2b/passwords/authenticate", login_body(w, email_address="nobody@example.com")
        ),
        401,
        "unauthorized_credentials",
    ),
    Case(
        "passwords-auth-member-without-password",
        lambda w: post(
            "/v1/b2b/passwords/authenticate",
            login_body(w, organization_id=w.fuzz_org, email_address="fuzz@example.com"),
        ),
        401,
        "unauthorized_credentials",
    ),
]

ALL_CASES = (
    MALFORMED_CASES
    + UNKNOWN_FIELD_CASES
    + OVERSIZE_BODY_CASES
    + WRONG_CONTENT_TYPE_CASES
    + TYPE_CASES
    + UNKNOWN_ID_CASES
    + SESSION_CASES
    + JWT_CASES
    + CONFLICT_CASES
    + WRONG_PASSWORD_CASES
)


def _resolve(server: RunningServer, r: Req) -> Req:
    path = r.path.replace("{project}", server.project_id)
    return Req(r.method, path, r.body, r.raw, r.params, r.headers, r.content_type)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_refused_and_nothing_changes(server: RunningServer, world: World, case: Case) -> None:
    refused_without_change(server, _resolve(server, case.build(world)), case.expected)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


# -- credentials --------------------------------------------------------------------------------

# A request per authenticated endpoint that would succeed (and write, where the endpoint writes)
# with good credentials.
CREDENTIAL_ENDPOINTS: list[tuple[str, Callable[[World], Req]]] = [
    ("org-create", lambda w: post(ORGS, {"organization_name": "Cred Org"})),
    ("org-get", lambda w: get(org(w))),
    ("org-update", lambda w: put(org(w), {"organization_name": "Renamed"})),
    ("org-delete", lambda w: delete(f"{ORGS}/{w.other_org}")),
    ("org-search", lambda w: post(f"{ORGS}/search", {})),
    (
        "member-create",
        lambda w: post(f"{ORGS}/{w.org}/members", {"email_address": "c@example.com"}),
    ),
    ("member-get", lambda w: get(f"{ORGS}/{w.org}/member", {"member_id": w.alice})),
    ("member-update", lambda w: put(member(w), {"name": "Renamed"})),
    ("member-delete", lambda w: delete(member(w, w.bob))),
    ("member-reactivate", lambda w: put(member(w, w.bob) + "/reactivate")),
    ("member-delete-phone", lambda w: delete(f"{ORGS}/{w.org}/members/mfa_phone_numbers/{w.bob}")),
    (
        "member-delete-password",
        lambda w: delete(f"{ORGS}/{w.org}/members/passwords/{w.alice_password_id}"),
    ),
    ("member-search", lambda w: post(f"{ORGS}/members/search", {"organization_ids": [w.org]})),
    ("rbac-policy", lambda w: get("/v1/b2b/rbac/policy")),
    ("org-policy-get", lambda w: get(f"/v1/b2b/rbac/organizations/{w.org}")),
    (
        "org-policy-set",
        lambda w: put(
            f"/v1/b2b/rbac/organizations/{w.org}",
            {
                "org_policy": {
                    "roles": [{"role_id": "auditor", "description": "", "permissions": []}]
                }
            },
        ),
    ),
    (
        "passwords-migrate",
        lambda w: post("/v1/b2b/passwords/migrate", migrate_body(w, hash=_bcrypt("x"))),
    ),
    ("passwords-authenticate", lambda w: post("/v1/b2b/passwords/authenticate", login_body(w))),
    ("passwords-strength", lambda w: post("/v1/b2b/passwords/strength_check", {"password": "x"})),
    (
        "sessions-authenticate",
        lambda w: post("/v1/b2b/sessions/authenticate", {"session_token": w.token}),
    ),
    (
        "sessions-revoke",
        lambda w: post("/v1/b2b/sessions/revoke", {"member_session_id": w.session_id}),
    ),
    (
        "sessions-get",
        lambda w: get("/v1/b2b/sessions", {"organization_id": w.org, "member_id": w.alice}),
    ),
]


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


BAD_CREDENTIALS: list[tuple[str, Callable[[RunningServer], dict[str, str]]]] = [
    ("no-authorization-header", lambda s: {}),
    ("bearer-scheme", lambda s: {"authorization": f"Bearer {s.secret}"}),
    ("basic-without-value", lambda s: {"authorization": "Basic"}),
    ("malformed-base64", lambda s: {"authorization": "Basic !!!not-base64!!!"}),
    (
        "base64-without-colon",
        lambda s: {"authorization": "Basic " + base64.b64encode(s.project_id.encode()).decode()},
    ),
    (
        "base64-not-utf8",
        lambda s: {"authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
    ),
    ("wrong-secret", lambda s: _basic(s.project_id, "secret-test-wrong-wrong-wrong")),
    ("empty-secret", lambda s: _basic(s.project_id, "")),
    ("unknown-project", lambda s: _basic(UNKNOWN_PROJECT, s.secret)),
    ("live-secret-with-test-project", lambda s: _basic(s.project_id, s.live_secret)),
    ("test-secret-with-live-project", lambda s: _basic(s.live_project_id, s.secret)),
]


@pytest.mark.parametrize("creds", BAD_CREDENTIALS, ids=[c[0] for c in BAD_CREDENTIALS])
@pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS, ids=[e[0] for e in CREDENTIAL_ENDPOINTS])
def test_bad_credentials_are_refused(
    server: RunningServer, world: World, endpoint: tuple[str, Any], creds: tuple[str, Any]
) -> None:
    r = endpoint[1](world)
    r = Req(r.method, r.path, r.body, r.raw, r.params, {**r.headers, **creds[1](server)})
    refused_without_change(server, r, [(401, "unauthorized_credentials")], auth=None)


def test_bad_credentials_beat_a_member_session_header(server: RunningServer, world: World) -> None:
    r = put(
        member(world),
        {"name": "x"},
        headers={"X-Stytch-Member-Session": world.token, **_basic(server.project_id, "wrong")},
    )
    refused_without_change(server, r, [(401, "unauthorized_credentials")], auth=None)


def test_unknown_project_and_wrong_secret_answer_alike(server: RunningServer, world: World) -> None:
    r = post(ORGS, {"organization_name": "x"})
    answers = []
    for creds in (
        _basic(UNKNOWN_PROJECT, server.secret),
        _basic(server.project_id, "wrong"),
        _basic(server.project_id, server.live_secret),
    ):
        body = refused_without_change(
            server,
            Req(r.method, r.path, r.body, headers=creds),
            [(401, "unauthorized_credentials")],
            auth=None,
        )
        answers.append({k: v for k, v in body.items() if k != "request_id"})
    assert answers[0] == answers[1] == answers[2]


def test_jwks_needs_no_credentials_but_refuses_unknown_project(server: RunningServer) -> None:
    assert send(server, get(f"/v1/b2b/sessions/jwks/{server.project_id}"), auth=None).is_success
    refused_without_change(
        server,
        get(f"/v1/b2b/sessions/jwks/{UNKNOWN_PROJECT}"),
        [(404, "project_not_found")],
        auth=None,
    )


def test_the_live_session_still_works(server: RunningServer, world: World) -> None:
    """Guard for the table: the good session the cases tamper with is itself valid."""
    ok = send(server, post("/v1/b2b/sessions/authenticate", {"session_jwt": world.jwt}))
    assert ok.status_code == 200, ok.text


# -- values the storage or the JSON encoder cannot hold -----------------------------------------
#
# These are run each on a fresh server: when the server mishandles one (stores it, then fails
# to render it), the stored row would poison later reads on a shared server.


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[RunningServer, World]]:
    with throwaway_database(tmp_path) as url, running_server(url) as running:
        w = World()
        w.org = _ok(send(running, post(ORGS, {"organization_name": "Fresh"})))["organization"][
            "organization_id"
        ]
        w.alice = _ok(
            send(running, post(f"{ORGS}/{w.org}/members", {"email_address": w.alice_email}))
        )["member_id"]
        yield running, w


def _deep(opening: bytes, closing: bytes, depth: int) -> bytes:
    return (
        b'{"organization_name": "deep", "trusted_metadata": {"a": '
        + (opening * depth + b"1" + closing * depth)
        + b"}}"
    )


def _cursor(raw_json: str) -> str:
    return _b64(raw_json.encode())


# A lone surrogate is JSON-escapable but not UTF-8 encodable: refusing it as bad json or as an
# invalid field are both fine.
SURROGATE = ((400, "invalid_json"),)

UNSTORABLE_CASES = [
    Case(
        "org-create-metadata-lone-surrogate",
        lambda w: post(ORGS, {"organization_name": "x", "trusted_metadata": {"a": "\ud800"}}),
        400,
        "invalid_request",
        SURROGATE,
    ),
    Case(
        "org-create-metadata-surrogate-key",
        lambda w: post(ORGS, {"organization_name": "x", "trusted_metadata": {"\udfff": 1}}),
        400,
        "invalid_request",
        SURROGATE,
    ),
    Case(
        "member-update-metadata-lone-surrogate",
        lambda w: put(member(w), {"untrusted_metadata": {"a": "\udc00"}}),
        400,
        "invalid_request",
        SURROGATE,
    ),
    Case(
        "member-create-metadata-lone-surrogate",
        lambda w: post(
            f"{ORGS}/{w.org}/members",
            {"email_address": "new@example.com", "trusted_metadata": {"a": ["\ud83d"]}},
        ),
        400,
        "invalid_request",
        SURROGATE,
    ),
    Case(
        "org-create-name-lone-surrogate",
        lambda w: post(ORGS, {"organization_name": "\ud800"}),
        400,
        "invalid_request",
        SURROGATE,
    ),
    Case(
        "org-create-metadata-nan",
        raw("POST", lambda w: ORGS, b'{"organization_name": "x", "trusted_metadata": {"a": NaN}}'),
        400,
        "invalid_json",
    ),
    Case(
        "org-create-metadata-infinity",
        raw(
            "POST",
            lambda w: ORGS,
            b'{"organization_name": "x", "trusted_metadata": {"a": -Infinity}}',
        ),
        400,
        "invalid_json",
    ),
    Case(
        "org-create-metadata-1e400",
        raw(
            "POST", lambda w: ORGS, b'{"organization_name": "x", "trusted_metadata": {"a": 1e400}}'
        ),
        400,
        "invalid_json",
        also=((400, "invalid_request"),),
    ),
    Case(
        "member-update-metadata-nan",
        lambda w: Req("PUT", member(w), raw=b'{"untrusted_metadata": {"a": NaN}}'),
        400,
        "invalid_json",
    ),
    Case(
        "org-create-nested-5000-objects",
        raw("POST", lambda w: ORGS, _deep(b'{"a":', b"}", 5000)),
        400,
        "invalid_json",
    ),
    Case(
        "org-create-nested-100000-lists",
        raw("POST", lambda w: ORGS, _deep(b"[", b"]", 100_000)),
        400,
        "invalid_json",
    ),
    bad(
        "org-search-cursor-date-overflow",
        lambda w: post(f"{ORGS}/search", {"cursor": _cursor('["0001-01-01T00:00:00+14:00", "x"]')}),
        "invalid_cursor",
    ),
    bad(
        "member-search-cursor-date-overflow",
        lambda w: post(
            f"{ORGS}/members/search",
            {"organization_ids": [w.org], "cursor": _cursor('["9999-12-31T23:59:59-14:00", "x"]')},
        ),
        "invalid_cursor",
    ),
    # NUL characters: PostgreSQL text cannot hold them, so both backends must refuse them alike.
    bad("org-create-name-nul", lambda w: post(ORGS, {"organization_name": "a\u0000b"})),
    bad(
        "org-create-external-id-nul",
        lambda w: post(ORGS, {"organization_name": "x", "organization_external_id": "ext\u0000"}),
    ),
    bad(
        "member-create-name-nul",
        lambda w: post(
            f"{ORGS}/{w.org}/members", {"email_address": "new@example.com", "name": "\u0000"}
        ),
    ),
    bad("member-update-name-nul", lambda w: put(member(w), {"name": "a\u0000"})),
    Case(
        "org-get-path-nul",
        lambda w: get(f"{ORGS}/a%00b"),
        404,
        "organization_not_found",
        also=((400, "invalid_request"),),
    ),
    Case(
        "member-search-org-id-nul",
        lambda w: post(f"{ORGS}/members/search", {"organization_ids": ["\u0000"]}),
        404,
        "organization_not_found",
        also=((400, "invalid_request"),),
    ),
    Case(
        "sessions-revoke-id-nul",
        lambda w: post("/v1/b2b/sessions/revoke", {"member_session_id": "x\u0000"}),
        404,
        "session_not_found",
        also=((400, "invalid_request"),),
    ),
    Case(
        "sessions-get-org-nul",
        lambda w: get("/v1/b2b/sessions", {"organization_id": "\u0000", "member_id": w.alice}),
        404,
        "organization_not_found",
        also=((400, "invalid_request"),),
    ),
]


@pytest.mark.parametrize("case", UNSTORABLE_CASES, ids=[c.id for c in UNSTORABLE_CASES])
def test_unstorable_values_are_refused(fresh: tuple[RunningServer, World], case: Case) -> None:
    running, w = fresh
    refused_without_change(running, case.build(w), case.expected)


SEARCH_VALUE_PROBES: list[tuple[str, Callable[[World], Req]]] = [
    (
        "org-fuzzy-nul",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "AND",
                    "operands": [
                        {"filter_name": "organization_name_fuzzy", "filter_value": "\u0000"}
                    ],
                }
            },
        ),
    ),
    (
        "org-ids-nul",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "OR",
                    "operands": [{"filter_name": "organization_ids", "filter_value": ["\u0000"]}],
                }
            },
        ),
    ),
    (
        "org-fuzzy-surrogate",
        lambda w: post(
            f"{ORGS}/search",
            {
                "query": {
                    "operator": "AND",
                    "operands": [
                        {"filter_name": "organization_slug_fuzzy", "filter_value": "\ud800"}
                    ],
                }
            },
        ),
    ),
    (
        "member-emails-nul",
        lambda w: post(
            f"{ORGS}/members/search",
            {
                "organization_ids": [w.org],
                "query": {
                    "operator": "AND",
                    "operands": [
                        {"filter_name": "member_emails", "filter_value": ["a\u0000@example.com"]}
                    ],
                },
            },
        ),
    ),
    (
        "member-fuzzy-surrogate",
        lambda w: post(
            f"{ORGS}/members/search",
            {
                "organization_ids": [w.org],
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "member_email_fuzzy", "filter_value": "\udc00"}],
                },
            },
        ),
    ),
]


@pytest.mark.parametrize("probe", SEARCH_VALUE_PROBES, ids=[p[0] for p in SEARCH_VALUE_PROBES])
def test_odd_search_values_never_500(fresh: tuple[RunningServer, World], probe: Any) -> None:
    """A search for an odd value may find nothing or be refused, but must not crash."""
    running, w = fresh
    before = running.snapshot()
    response = send(running, probe[1](w))
    assert db_changes(before, running.snapshot()) == {}
    if response.status_code != 200:
        assert_error(response, [(400, "invalid_request"), *SURROGATE])


# -- never a 500 ----------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
# NUL is left out here: test_unstorable_values_are_refused covers it, and this test keeps
# looking for other crashes. Surrogates are excluded by the utf-8 codec for the same reason.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | _text
    | st.floats(allow_nan=False, allow_infinity=False)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_plausible = (
    st.sampled_from(
        [
            "ALL_ALLOWED",
            "RESTRICTED",
            "NOT_ALLOWED",
            "OPTIONAL",
            "REQUIRED_FOR_ALL",
            "example.com",
            ["example.com"],
            "fuzz-slug",
            "+14155550123",
            "fuzz@example.com",
            ["stytch_admin"],
            [{"domain": "example.com", "role_id": "stytch_member"}],
            ["password", "sso"],
            {"k": "v"},
            "sms_otp",
            True,
            False,
            60,
        ]
    )
    | _json
)

ORG_FIELDS = sorted(schemas.OrganizationCreate.model_fields) + ["organization_id", "bogus"]
MEMBER_FIELDS = sorted(schemas.MemberUpdate.model_fields) + ["organization_id", "member_id", "x"]
OK_OR_REFUSED = {200, 400, 404, 409, 413}


def _bodies(fields: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        _json,
        st.dictionaries(st.sampled_from(fields), _plausible, max_size=6),
        st.dictionaries(_text, _json, max_size=4),
    )


def _never_5xx(server: RunningServer, r: Req) -> None:
    before = server.snapshot()
    response = send(server, r)
    assert response.status_code in OK_OR_REFUSED, f"{response.status_code}: {response.text[:600]}"
    if response.status_code != 200:
        assert_error(response, [(response.status_code, response.json().get("error_type"))])
        changes = db_changes(before, server.snapshot())
        assert not changes, f"refused ({response.status_code}) but changed: {changes}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        _bodies(ORG_FIELDS),
        st.fixed_dictionaries(
            {"organization_name": _text},
            optional={f: _plausible for f in ORG_FIELDS if f != "organization_name"},
        ),
    )
)
def test_random_org_create_bodies_never_500(server: RunningServer, world: World, body: Any) -> None:
    _never_5xx(server, post(ORGS, body))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies(MEMBER_FIELDS), echo=st.booleans())
def test_random_member_update_bodies_never_500(
    server: RunningServer, world: World, body: Any, echo: bool
) -> None:
    if echo and isinstance(body, dict):
        body = {**body, "organization_id": world.fuzz_org, "member_id": world.fuzz_member}
    _never_5xx(server, put(f"{ORGS}/{world.fuzz_org}/members/{world.fuzz_member}", body))
