"""`GET /openapi.json`: a valid OpenAPI 3.1 document, built from the models the server validates
with, and schemathesis over the endpoints it covers against a real server: no server errors,
every status and body as documented, and a refused request changes nothing in the database.

The document holds every route the app serves (checked below, mounts included) but the
dashboard's HTML pages, its static files and the `/` that redirects there (docs/DECISIONS.md,
"The OpenAPI document"): every B2B endpoint (organizations, members, RBAC, passwords, sessions,
JWKS), the Gatehouse extensions `authorize`, `policy` and the change stream, the Management
API's projects, environments, secrets and RBAC policy, the workspace extension (people, domain
rules, management keys, settings, billing), dashboard sign-in and invitations, the support
actions (with the B2B call that completes a password reset), and the operational endpoints.
schemathesis runs over all of them but the change stream (`GET /v1/b2b/gatehouse/changes`,
server-sent events that never end): its entry is checked against a real stream instead.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import pkgutil
from collections.abc import Iterable, Iterator
from typing import Any

import bcrypt
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import BaseRoute, Mount, Route

from gatehouse.api import openapi, responses, wire
from gatehouse.api import routes as routes_package
from gatehouse.api.app import OPERATIONAL, create_app
from gatehouse.api.routes import b2b_scim
from gatehouse.dashboard import security as dashboard_security
from gatehouse.storage.rows import OrganizationRow
from tests.dashboard.test_sign_in import ADMIN, STRONG, Dashboard, dashboard_server, token_in
from tests.server import RunningServer

ENVIRONMENT = "/pwa/v3/projects/{project_slug}/environments/{environment_slug}"
WORKSPACE = "/pwa/v3/workspace"
SUPPORT_MEMBER = ENVIRONMENT + "/organizations/{organization_id}/members/{member_id}"
COVERED = {
    ("post", "/v1/b2b/scim/{organization_id}/connection"),
    ("get", "/v1/b2b/scim/{organization_id}/connection"),
    ("get", "/v1/b2b/scim/{organization_id}/connection/{connection_id}"),
    ("put", "/v1/b2b/scim/{organization_id}/connection/{connection_id}"),
    ("delete", "/v1/b2b/scim/{organization_id}/connection/{connection_id}"),
    ("post", "/v1/b2b/scim/{organization_id}/connection/{connection_id}/rotate/start"),
    ("post", "/v1/b2b/scim/{organization_id}/connection/{connection_id}/rotate/complete"),
    ("post", "/v1/b2b/scim/{organization_id}/connection/{connection_id}/rotate/cancel"),
    ("post", "/v1/b2b/organizations"),
    ("post", "/v1/b2b/organizations/search"),
    ("get", "/v1/b2b/organizations/{organization_id}"),
    ("put", "/v1/b2b/organizations/{organization_id}"),
    ("delete", "/v1/b2b/organizations/{organization_id}"),
    ("post", "/v1/b2b/organizations/members/search"),
    ("post", "/v1/b2b/organizations/{organization_id}/members"),
    ("get", "/v1/b2b/organizations/{organization_id}/member"),
    ("put", "/v1/b2b/organizations/{organization_id}/members/{member_id}"),
    ("delete", "/v1/b2b/organizations/{organization_id}/members/{member_id}"),
    ("put", "/v1/b2b/organizations/{organization_id}/members/{member_id}/reactivate"),
    ("delete", "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}"),
    ("delete", "/v1/b2b/organizations/{organization_id}/members/passwords/{member_password_id}"),
    ("get", "/v1/b2b/rbac/policy"),
    ("get", "/v1/b2b/rbac/organizations/{organization_id}"),
    ("put", "/v1/b2b/rbac/organizations/{organization_id}"),
    ("post", "/v1/b2b/passwords/migrate"),
    ("post", "/v1/b2b/passwords/authenticate"),
    ("post", "/v1/b2b/passwords/strength_check"),
    ("post", "/v1/b2b/sessions/authenticate"),
    ("post", "/v1/b2b/sessions/revoke"),
    ("get", "/v1/b2b/sessions"),
    ("get", "/v1/b2b/sessions/jwks/{project_id}"),
    ("post", "/v1/b2b/gatehouse/authorize"),
    ("get", "/v1/b2b/gatehouse/policy"),
    ("get", "/pwa/v3/projects"),
    ("post", "/pwa/v3/projects"),
    ("get", "/pwa/v3/projects/{project_slug}"),
    ("patch", "/pwa/v3/projects/{project_slug}"),
    ("delete", "/pwa/v3/projects/{project_slug}"),
    ("get", "/pwa/v3/projects/{project_slug}/environments"),
    ("post", "/pwa/v3/projects/{project_slug}/environments"),
    ("get", ENVIRONMENT),
    ("patch", ENVIRONMENT),
    ("delete", ENVIRONMENT),
    ("get", ENVIRONMENT + "/secrets"),
    ("post", ENVIRONMENT + "/secrets"),
    ("get", ENVIRONMENT + "/secrets/{secret_id}"),
    ("delete", ENVIRONMENT + "/secrets/{secret_id}"),
    ("get", ENVIRONMENT + "/rbac_policy"),
    ("put", ENVIRONMENT + "/rbac_policy"),
    ("get", WORKSPACE),
    ("patch", WORKSPACE),
    ("get", WORKSPACE + "/billing"),
    ("patch", WORKSPACE + "/billing"),
    ("get", WORKSPACE + "/members"),
    ("patch", WORKSPACE + "/members/{member_id}"),
    ("delete", WORKSPACE + "/members/{member_id}"),
    ("get", WORKSPACE + "/domains"),
    ("put", WORKSPACE + "/domains/{domain}"),
    ("delete", WORKSPACE + "/domains/{domain}"),
    ("get", WORKSPACE + "/keys"),
    ("post", WORKSPACE + "/keys"),
    ("delete", WORKSPACE + "/keys/{key_id}"),
    ("post", WORKSPACE + "/invitations"),
    ("post", "/pwa/v3/auth/password"),
    ("post", "/pwa/v3/auth/password/set"),
    ("post", "/pwa/v3/auth/magic_links/send"),
    ("post", "/pwa/v3/auth/magic_links/authenticate"),
    ("post", "/pwa/v3/auth/sign_out"),
    ("get", "/pwa/v3/auth/me"),
    ("get", ENVIRONMENT + "/organizations"),
    ("get", ENVIRONMENT + "/organizations/{organization_id}"),
    ("patch", ENVIRONMENT + "/organizations/{organization_id}"),
    ("get", ENVIRONMENT + "/organizations/{organization_id}/members"),
    ("get", SUPPORT_MEMBER),
    ("patch", SUPPORT_MEMBER),
    ("post", SUPPORT_MEMBER + "/password_reset"),
    ("post", SUPPORT_MEMBER + "/sessions/revoke"),
    ("post", SUPPORT_MEMBER + "/reactivate"),
    ("post", SUPPORT_MEMBER + "/impersonate"),
    ("get", ENVIRONMENT + "/events"),
    ("post", "/v1/b2b/passwords/email/reset"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/docs/errors"),
    ("get", "/openapi.json"),
    ("get", ENVIRONMENT + "/redirect_urls/all"),
    ("get", ENVIRONMENT + "/redirect_urls"),
    ("post", ENVIRONMENT + "/redirect_urls"),
    ("put", ENVIRONMENT + "/redirect_urls"),
    ("delete", ENVIRONMENT + "/redirect_urls"),
    ("post", "/v1/b2b/magic_links/email/login_or_signup"),
    ("post", "/v1/b2b/magic_links/email/invite"),
    ("post", "/v1/b2b/magic_links/authenticate"),
    ("post", "/v1/b2b/magic_links/email/discovery/send"),
    ("post", "/v1/b2b/magic_links/discovery/authenticate"),
    ("post", "/v1/b2b/discovery/organizations"),
    ("post", "/v1/b2b/discovery/organizations/create"),
    ("post", "/v1/b2b/discovery/intermediate_sessions/exchange"),
    ("post", "/v1/b2b/sessions/exchange"),
    ("post", "/v1/b2b/otps/email/login_or_signup"),
    ("post", "/v1/b2b/otps/email/authenticate"),
    ("post", "/v1/b2b/totp"),
    ("post", "/v1/b2b/totp/authenticate"),
    ("post", "/v1/b2b/totp/migrate"),
    ("delete", "/v1/b2b/organizations/{organization_id}/members/{member_id}/totp"),
    ("post", "/v1/b2b/recovery_codes/recover"),
    ("post", "/v1/b2b/recovery_codes/rotate"),
    ("get", "/v1/b2b/recovery_codes/{organization_id}/{member_id}"),
    ("post", "/v1/b2b/otps/sms/send"),
    ("post", "/v1/b2b/otps/sms/authenticate"),
    ("post", "/v1/b2b/otps/email/discovery/send"),
    ("post", "/v1/b2b/otps/email/discovery/authenticate"),
    ("post", "/v1/b2b/passwords/email/reset/start"),
    ("post", "/v1/b2b/passwords/existing_password/reset"),
    ("post", "/v1/b2b/passwords/session/reset"),
    ("post", "/v1/b2b/passwords/email/require_reset"),
    ("post", "/v1/b2b/passwords/discovery/email/reset/start"),
    ("post", "/v1/b2b/passwords/discovery/email/reset"),
    ("post", "/v1/b2b/passwords/discovery/authenticate"),
    ("post", "/v1/b2b/sso/saml/{organization_id}"),
    ("put", "/v1/b2b/sso/saml/{organization_id}/connections/{connection_id}"),
    (
        "delete",
        "/v1/b2b/sso/saml/{organization_id}/connections/{connection_id}"
        "/verification_certificates/{certificate_id}",
    ),
    (
        "delete",
        "/v1/b2b/sso/saml/{organization_id}/connections/{connection_id}"
        "/encryption_private_keys/{private_key_id}",
    ),
    ("get", "/v1/b2b/sso/{organization_id}"),
    ("delete", "/v1/b2b/sso/{organization_id}/connections/{connection_id}"),
    ("post", "/v1/b2b/sso/authenticate"),
    ("get", "/v1/b2b/sso/saml/metadata/{connection_id}"),
    ("post", "/v1/b2b/sso/oidc/{organization_id}"),
}
# Documented, but not fuzzed: schemathesis waits for a body to end, and this stream never does.
STREAM = ("get", "/v1/b2b/gatehouse/changes")
# The SAML browser endpoints (a redirect to the IdP, the ACS's form post) and the metadata fetch
# (an outbound request to the URL given) are tested end to end by tests/sdk/test_sso_saml.py.
SAML_BROWSER = {
    ("get", "/v1/public/sso/start"),
    ("post", "/v1/b2b/sso/callback/{connection_id}"),
    ("put", "/v1/b2b/sso/saml/{organization_id}/connections/{connection_id}/url"),
}
# Likewise the OIDC callback (the provider's redirect) and the connection update (a new issuer is
# discovered: an outbound request), tested end to end by tests/sdk/test_sso_oidc.py.
OIDC_BROWSER = {
    ("get", "/v1/b2b/sso/callback/{connection_id}"),
    ("put", "/v1/b2b/sso/oidc/{organization_id}/connections/{connection_id}"),
}
NOT_FUZZED = {STREAM, *SAML_BROWSER, *OIDC_BROWSER}
EXAMPLES = 12  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _document(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_document_is_served_without_credentials_and_covers_its_endpoints(
    server: RunningServer,
) -> None:
    document = _document(server)
    assert document["openapi"] == "3.1.0"
    operations = {(m, p) for p, ops in document["paths"].items() for m in ops}
    unfuzzed = sorted(operations - COVERED - NOT_FUZZED)
    assert not unfuzzed, (
        f"documented but not fuzzed: {unfuzzed}; add each (method, path) to COVERED in "
        "tests/api/test_openapi.py (or, if schemathesis cannot call it, to NOT_FUZZED and test "
        "its entry otherwise)"
    )
    assert operations == COVERED | NOT_FUZZED


def test_document_is_valid_openapi_3_1(server: RunningServer) -> None:
    # Loading it validates it against the OpenAPI 3.1 meta-schema (jsonschema_rs).
    schema = schemathesis.openapi.from_dict(_document(server))
    schema.validate()
    assert {(op.method, op.path) for op in (r.ok() for r in schema.get_all_operations())} == (
        COVERED | NOT_FUZZED
    )


def _row(**settings_: Any) -> OrganizationRow:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    return OrganizationRow(
        id="organization-test-1",
        environment_id="env",
        name="Acme",
        slug="acme",
        external_id=None,
        trusted_metadata={"a": 1},
        settings=settings_,
        custom_roles=[{"role_id": "r", "description": "", "permissions": []}],
        created_at=now,
        updated_at=now,
    )


def test_wire_organizations_validate_against_the_response_models() -> None:
    responses.Organization.model_validate(wire.org_to_wire(_row()))
    responses.Organization.model_validate(
        wire.org_to_wire(
            _row(
                rbac_email_implicit_role_assignments=[{"domain": "a.com", "role_id": "r"}],
                sso_default_connection_id="conn",
            )
        )
    )


def test_server_answers_validate_against_the_response_models(server: RunningServer) -> None:
    auth = (server.project_id, server.secret)
    base = server.url + "/v1/b2b/organizations"
    created = httpx.post(
        base,
        auth=auth,
        json={"organization_name": "Models", "organization_slug": "models-org"},
    )
    assert created.status_code == 200, created.text
    responses.OrganizationResponse.model_validate(created.json())
    ident = created.json()["organization"]["organization_id"]
    member = httpx.post(
        f"{base}/{ident}/members",
        auth=auth,
        json={"email_address": "m@models.example", "roles": ["stytch_admin"]},
    )
    assert member.status_code == 200, member.text
    responses.MemberResponse.model_validate(member.json())
    members = httpx.post(base + "/members/search", auth=auth, json={"organization_ids": [ident]})
    responses.MemberSearchResults.model_validate(members.json())
    assert members.json()["members"]
    org_policy = httpx.put(
        f"{server.url}/v1/b2b/rbac/organizations/{ident}",
        auth=auth,
        json={"org_policy": {"roles": []}},
    )
    assert org_policy.status_code == 200, org_policy.text
    responses.OrgPolicyResponse.model_validate(org_policy.json())
    password = "correct horse battery staple 42"
    migrated = httpx.post(
        server.url + "/v1/b2b/passwords/migrate",
        auth=auth,
        json={
            "organization_id": ident,
            "email_address": "p@models.example",
            "hash_type": "bcrypt",
            "roles": ["stytch_admin"],
            "hash": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
        },
    )
    assert migrated.status_code == 200, migrated.text
    responses.MemberMigrated.model_validate(migrated.json())
    signed_in = httpx.post(
        server.url + "/v1/b2b/passwords/authenticate",
        auth=auth,
        json={"organization_id": ident, "email_address": "p@models.example", "password": password},
    )
    assert signed_in.status_code == 200, signed_in.text
    responses.PasswordAuthenticated.model_validate(signed_in.json())
    token = signed_in.json()["session_token"]
    member_id = signed_in.json()["member_id"]
    check = {"organization_id": ident, "resource_id": "stytch.member", "action": "search"}
    for body in (
        {"session_token": token, "session_duration_minutes": 60},  # the ordinary answer
        {"session_token": token},  # from the node's memory (`wire.session_fragment`)
        {"session_token": token, "authorization_check": check},
    ):
        authenticated = httpx.post(
            server.url + "/v1/b2b/sessions/authenticate", auth=auth, json=body
        )
        assert authenticated.status_code == 200, authenticated.text
        responses.SessionAuthenticated.model_validate(authenticated.json())
    listed = httpx.get(
        server.url + "/v1/b2b/sessions",
        auth=auth,
        params={"organization_id": ident, "member_id": member_id},
    )
    responses.MemberSessions.model_validate(listed.json())
    assert listed.json()["member_sessions"]
    for explain in (False, True):
        batch = httpx.post(
            server.url + "/v1/b2b/gatehouse/authorize",
            auth=auth,
            json={
                "session_token": token,
                "organization_id": ident,
                "checks": [{"resource_id": "stytch.member", "action": "search"}],
                "explain": explain,
            },
        )
        assert batch.status_code == 200, batch.text
        responses.BatchResults.model_validate(batch.json())
    policy = httpx.get(server.url + "/v1/b2b/gatehouse/policy", auth=auth)
    responses.VersionedPolicy.model_validate(policy.json())
    jwks = httpx.get(f"{server.url}/v1/b2b/sessions/jwks/{server.project_id}")
    responses.KeySet.model_validate(jwks.json())
    revoked = httpx.post(
        server.url + "/v1/b2b/sessions/revoke", auth=auth, json={"session_token": token}
    )
    assert revoked.status_code == 200, revoked.text
    responses.Done.model_validate(revoked.json())
    gone = httpx.delete(f"{base}/{ident}/members/{member.json()['member_id']}", auth=auth)
    responses.MemberDeleted.model_validate(gone.json())
    found = httpx.post(base + "/search", auth=auth, json={})
    responses.OrganizationSearchResults.model_validate(found.json())
    deleted = httpx.delete(f"{base}/{ident}", auth=auth)
    responses.OrganizationDeleted.model_validate(deleted.json())
    missing = httpx.get(f"{base}/{ident}", auth=auth)
    assert missing.status_code == 404
    responses.Error.model_validate(missing.json())


def test_management_answers_validate_against_the_response_models(server: RunningServer) -> None:
    key = (server.management_key["key_id"], server.management_key["secret"])
    base = server.url + "/pwa/v3/projects"

    def call(method: str, path: str, model: type[Any], **kwargs: Any) -> dict[str, Any]:
        answer = httpx.request(method, base + path, auth=key, **kwargs)
        assert answer.status_code == 200, answer.text
        model.model_validate(answer.json())
        return dict(answer.json())

    slug = call("POST", "", responses.ProjectResponse, json={"name": "Models"})["project"][
        "project_slug"
    ]
    call("GET", "", responses.ProjectList)
    call("PATCH", f"/{slug}", responses.ProjectResponse, json={"name": "Models 2"})
    call(
        "POST",
        f"/{slug}/environments",
        responses.EnvironmentResponse,
        json={"name": "Staging", "environment_slug": "staging", "user_lock_threshold": 5},
    )
    call("GET", f"/{slug}/environments", responses.EnvironmentList)
    env = f"/{slug}/environments/staging"
    call("PATCH", env, responses.EnvironmentResponse, json={"cross_org_passwords_enabled": True})
    created = call("POST", env + "/secrets", responses.CreatedSecretResponse)
    secret_id = created["secret"]["secret_id"]
    call("GET", env + "/secrets", responses.SecretList)
    call("GET", f"{env}/secrets/{secret_id}", responses.SecretResponse)
    policy = call("GET", env + "/rbac_policy", responses.PolicyFileResponse)["policy"]
    # The default resources are Stytch's to declare: read back, never written.
    del policy["stytch_resources"]
    call("PUT", env + "/rbac_policy", responses.PolicyFileResponse, json=policy)
    call("DELETE", f"{env}/secrets/{secret_id}", responses.Done)
    call("DELETE", env, responses.Done)
    call("DELETE", f"/{slug}", responses.Done)


def test_workspace_answers_validate_against_the_response_models(server: RunningServer) -> None:
    key = (server.management_key["key_id"], server.management_key["secret"])
    base = server.url + "/pwa/v3/workspace"

    def call(method: str, path: str, model: type[Any], **kwargs: Any) -> dict[str, Any]:
        answer = httpx.request(method, base + path, auth=key, **kwargs)
        assert answer.status_code == 200, answer.text
        model.model_validate(answer.json())
        return dict(answer.json())

    call("GET", "", responses.WorkspaceSettingsResponse)
    call("PATCH", "", responses.WorkspaceSettingsResponse, json={"name": "Models"})
    call("GET", "/billing", responses.BillingResponse)
    call("PATCH", "/billing", responses.BillingResponse, json={"plan": "pro"})
    rule = {"jit_enabled": True, "auto_role": "developer"}
    call("PUT", "/domains/models.example", responses.DomainRuleResponse, json=rule)
    assert call("GET", "/domains", responses.DomainRuleList)["domains"]
    call("DELETE", "/domains/models.example", responses.Done)
    created = call("POST", "/keys", responses.CreatedManagementKeyResponse, json={"role": "admin"})
    assert call("GET", "/keys", responses.ManagementKeyList)["keys"]
    call("DELETE", f"/keys/{created['key']['key_id']}", responses.Done)
    call("GET", "/members", responses.WorkspaceMemberList)


@pytest.fixture(scope="module")
def api_schema(server: RunningServer) -> Any:
    loaded = schemathesis.openapi.from_url(server.url + "/openapi.json")
    # The credentials are the test's to choose (below), not a parameter to generate.
    # NUL is refused in any string (api/parsing.py `check_text`), which the document cannot say.
    loaded.config.generation.update(with_security_parameters=False, allow_x00=False)
    return loaded


def _post(server: RunningServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(server.url + path, auth=(server.project_id, server.secret), json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _environment_of(server: RunningServer, key: tuple[str, str]) -> tuple[str, str]:
    """The (project slug, environment slug) of the server's test environment."""
    projects = httpx.get(server.url + "/pwa/v3/projects", auth=key).json()["projects"]
    for project in projects:
        slug = project["project_slug"]
        answer = httpx.get(f"{server.url}/pwa/v3/projects/{slug}/environments", auth=key)
        for environment in answer.json().get("environments", []):
            if environment["project_id"] == server.project_id:
                return slug, environment["environment_slug"]
    raise AssertionError("the server's test environment is not listed")


def _aim_at_existing(server: RunningServer, params: dict[str, Any]) -> None:
    """Point the case's `organization_id` (and `member_id`) at ones that exist."""
    if "project_id" in params:
        params["project_id"] = server.project_id
    if "domain" in params:
        params["domain"] = "openapi.example"
    key = (server.management_key["key_id"], server.management_key["secret"])
    if "project_slug" in params and "organization_id" in params:
        # Support actions: the organization (made below) lives in the server's own environment.
        params["project_slug"], params["environment_slug"] = _environment_of(server, key)
    elif "project_slug" in params:
        project = httpx.post(server.url + "/pwa/v3/projects", auth=key, json={"name": "Target"})
        assert project.status_code == 200, project.text
        params["project_slug"] = project.json()["project"]["project_slug"]
        if "environment_slug" in params:
            params["environment_slug"] = "test"
    if "organization_id" not in params:
        return
    org = _post(server, "/v1/b2b/organizations", {"organization_name": "Target"})
    params["organization_id"] = org["organization"]["organization_id"]
    if "connection_id" in params:
        connection = _post(server, f"/v1/b2b/sso/saml/{params['organization_id']}", {})
        params["connection_id"] = connection["connection"]["connection_id"]
    if "member_id" in params:
        member = _post(
            server,
            f"/v1/b2b/organizations/{params['organization_id']}/members",
            {"email_address": "target@example.com", "mfa_phone_number": "+14155550123"},
        )
        params["member_id"] = member["member_id"]


# schemathesis's pytest loader (`from_fixture`) does not run under pytest 9, so each operation's
# cases come from its hypothesis strategy: one test per covered operation and generation mode.
# Half the cases of an operation with an `organization_id` aim at one that exists (a new one
# each time: the case may delete it), so that they get past the lookup.
# Negative cases for the operations with a body: a path parameter (any non-empty string) has
# nothing to negate that reaches the server.
_DOCUMENT = openapi.document(
    [
        *OPERATIONAL,
        *(
            route
            for module in pkgutil.iter_modules(routes_package.__path__)
            for route in getattr(
                importlib.import_module(f"{routes_package.__name__}.{module.name}"), "routes", []
            )
        ),
    ]
)
RUNS = [(m, p, GenerationMode.POSITIVE) for m, p in sorted(COVERED)] + [
    (m, p, GenerationMode.NEGATIVE)
    for m, p in sorted(COVERED)
    if "requestBody" in _DOCUMENT["paths"][p][m]
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "mode"), RUNS, ids=[f"{m.upper()} {p} {mode}" for m, p, mode in RUNS]
)
def test_schemathesis(
    method: str, path: str, mode: GenerationMode, api_schema: Any, server: RunningServer
) -> None:
    operation = api_schema[path][method.upper()]
    management = path.startswith("/pwa/")
    key = server.management_key
    credentials = {
        "valid": (key["key_id"], key["secret"])
        if management
        else (server.project_id, server.secret),
        "wrong": (key["key_id"], "wrong") if management else (server.project_id, "wrong"),
        "none": None,
    }
    checks = CHECKS if mode is GenerationMode.POSITIVE else [*CHECKS, negative_data_rejection]

    @given(
        case=operation.as_strategy(generation_mode=mode),
        existing=st.booleans(),
        who=st.sampled_from(["valid", "valid", "valid", "wrong", "none"]),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=dt.timedelta(seconds=5),
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any, existing: bool, who: str) -> None:
        params = case.path_parameters or {}
        if existing and mode is GenerationMode.POSITIVE:
            _aim_at_existing(server, params)
        before = server.snapshot()
        response = case.call(auth=credentials[who])
        case.validate_response(response, checks=checks)
        if who != "valid" and _DOCUMENT["paths"][path][method]["security"]:
            assert response.status_code == 401, response.text
        if response.status_code >= 400:
            assert server.snapshot() == before, (case.method, case.formatted_path, response.text)

    check()


# -- every route the app serves is in the document ---------------------------------------------

# Served but not in the document (docs/DECISIONS.md, "The OpenAPI document"): the dashboard's HTML
# pages and static files (the mount), and `/`, which redirects there.
EXCLUDED_MOUNTS = {dashboard_security.PATH}
# The SCIM server's routes under each connection's base URL: SCIM describes itself (its
# /ServiceProviderConfig, /ResourceTypes and /Schemas), and scim2-tester checks them
# (tests/scim/test_scim_validator.py).
EXCLUDED_ROUTES = {("GET", "/")} | {
    (method, route.path)
    for route in (*b2b_scim.scim_routes, *b2b_scim.scim_fallback)
    for method in (route.methods or set()) - {"HEAD"}
}
HOW_TO_DOCUMENT = """
Each is served by the app but missing from /openapi.json. To document one, mark its endpoint,
right above its `async def`, with `@documented(...)` from gatehouse.api.operations:

    @documented("What it does", responses.TheAnswer, TheRequestBody, errors=(...), security=(...), tag="...")

naming the pydantic model it validates its JSON body (or, for GET, its query string) with, the
model of its success answer in gatehouse/api/responses.py (the exact JSON it sends; `None` with
`media_type=...` for an answer that is not JSON) and the error statuses it can answer (B2B_ERRORS,
MANAGEMENT_ERRORS, ...). Then add its (method, path) to COVERED in tests/api/test_openapi.py so
that schemathesis calls it. A page that is not part of the API belongs under the dashboard's
mount (or, with the reason in docs/DECISIONS.md, in EXCLUDED_ROUTES here)."""


def _served(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(method, path, endpoint) of every route among `routes`, mounts included (but the excluded
    ones); a route the document could not hold fails here."""
    for route in routes:
        if isinstance(route, Mount):
            path = prefix + route.path
            if path in EXCLUDED_MOUNTS:
                continue
            assert route.routes, (
                f"the mount at {path} holds an application the document cannot see into: mount a "
                "Router of Routes (each @documented), or exclude it in EXCLUDED_MOUNTS with the "
                "reason in docs/DECISIONS.md"
            )
            yield from _served(route.routes, path)
        elif isinstance(route, Route):
            endpoint = f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"
            assert route.methods, (
                f"{prefix + route.path} ({endpoint}) answers every method: give its Route "
                "`methods=[...]` so that the document can name them"
            )
            for method in sorted(route.methods - {"HEAD"}):
                yield method, prefix + route.path, endpoint
        else:
            raise AssertionError(f"{route!r}: a kind of route the OpenAPI document cannot hold")


def test_every_route_the_app_serves_is_documented(server: RunningServer) -> None:
    paths = _document(server)["paths"]
    served = list(_served(create_app(server.gatehouse).routes))
    missing = [
        f"  {method} {path}  (endpoint {endpoint})"
        for method, path, endpoint in served
        if (method, path) not in EXCLUDED_ROUTES and method.lower() not in paths.get(path, {})
    ]
    assert not missing, "\n".join(["", *missing, HOW_TO_DOCUMENT])
    # The exclusions name what is served: the dashboard's mount, and `/` sending a browser there.
    assert EXCLUDED_ROUTES <= {(m, p) for m, p, _ in served}
    root = httpx.get(server.url + "/")
    assert root.status_code == 302
    assert root.headers["location"] == dashboard_security.PATH + "/"
    assert "/" not in paths and not any(p.startswith(dashboard_security.PATH) for p in paths)


def test_the_change_stream_is_documented_and_answers_as_documented(
    server: RunningServer, api_schema: Any
) -> None:
    path = "/v1/b2b/gatehouse/changes"
    entry = _document(server)["paths"][path]["get"]
    assert entry["security"] == [{"b2b": []}]
    assert list(entry["responses"]["200"]["content"]) == ["text/event-stream"]
    for event in ("ready", "policy", "organization_policy", "reset"):
        assert f"| `{event}` |" in entry["description"]
    auth = (server.project_id, server.secret)
    with httpx.stream("GET", server.url + path, auth=auth, timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].split(";")[0] == "text/event-stream"
        lines = stream.iter_lines()
        assert next(lines) == "event: ready"
        data = next(lines)
        assert data.startswith("data: ")
        assert set(json.loads(data.removeprefix("data: "))) == {"policy_version"}
    # Its refusals are the document's errors.
    before = server.snapshot()
    refused = httpx.get(server.url + path, auth=(server.project_id, "wrong"))
    assert refused.status_code == 401
    api_schema[path]["GET"].validate_response(refused)
    unknown = httpx.get(server.url + path, auth=auth, params={"since": "1"})
    assert unknown.status_code == 400
    api_schema[path]["GET"].validate_response(unknown)
    assert server.snapshot() == before


def test_operational_answers_conform_to_the_document(
    server: RunningServer, api_schema: Any
) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs/errors", "/openapi.json"):
        answer = httpx.get(server.url + path)
        _conforms(api_schema, "GET", path, answer)
    assert httpx.get(server.url + "/metrics").headers["content-type"].startswith("text/plain")
    assert httpx.get(server.url + "/docs/errors").headers["content-type"].startswith("text/html")


# -- successes schemathesis seldom reaches: checked with real calls ----------------------------


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server with a real SMTP server, so that emailed links and reset tokens can be used."""
    with dashboard_server(tmp_path_factory.mktemp("db")) as running:
        yield running


@pytest.fixture(scope="module")
def dash_schema(dash: Dashboard) -> Any:
    return schemathesis.openapi.from_url(dash.server.url + "/openapi.json")


def _conforms(schema: Any, method: str, path: str, answer: httpx.Response) -> dict[str, Any]:
    """`answer` is a success whose body is what the document says for `method path` (checked by
    schemathesis's validator: it raises on a body the schema refuses)."""
    assert answer.status_code == 200, answer.text
    schema[path][method].validate_response(answer)
    return dict(answer.json()) if "json" in answer.headers["content-type"] else {}


def test_validating_an_answer_refuses_one_the_document_does_not_describe(
    server: RunningServer, api_schema: Any
) -> None:
    # The check the tests below rely on is not vacuous: /healthz's real answer is not what the
    # document says /readyz answers (`status` is `ready` there, and `checks` are required).
    answer = httpx.get(server.url + "/healthz")
    _conforms(api_schema, "GET", "/healthz", answer)
    with pytest.raises(FailureGroup) as refused:
        api_schema["/readyz"]["GET"].validate_response(answer)
    assert any('"checks" is a required property' in e.message for e in refused.value.exceptions)


def test_dashboard_sign_in_answers_conform_to_the_document(
    dash: Dashboard, dash_schema: Any
) -> None:
    a = "/pwa/v3/auth"
    sent = dash.call("POST", a + "/magic_links/send", {"email_address": ADMIN})
    _conforms(dash_schema, "POST", a + "/magic_links/send", sent)
    link = {"token": token_in(dash.mailbox.take(ADMIN))}
    by_link = dash.call("POST", a + "/magic_links/authenticate", link)
    admin = _conforms(dash_schema, "POST", a + "/magic_links/authenticate", by_link)
    assert admin["member"]["email_address"] == ADMIN

    address = "ann@openapi.example"
    invitation = {"email_address": address, "role": "developer"}
    invited = dash.call(
        "POST", "/pwa/v3/workspace/invitations", invitation, token=admin["session_token"]
    )
    _conforms(dash_schema, "POST", "/pwa/v3/workspace/invitations", invited)
    accepted = dash.call(
        "POST", a + "/magic_links/authenticate", {"token": token_in(dash.mailbox.take(address))}
    )
    ann = _conforms(dash_schema, "POST", a + "/magic_links/authenticate", accepted)
    password = dash.call(
        "POST", a + "/password/set", {"password": STRONG}, token=ann["session_token"]
    )
    _conforms(dash_schema, "POST", a + "/password/set", password)

    by_password = dash.call("POST", a + "/password", {"email_address": address, "password": STRONG})
    session = _conforms(dash_schema, "POST", a + "/password", by_password)["session_token"]
    me = _conforms(dash_schema, "GET", a + "/me", dash.call("GET", a + "/me", token=session))
    assert (me["member"]["email_address"], me["member"]["role"]) == (address, "developer")
    _conforms(
        dash_schema, "POST", a + "/sign_out", dash.call("POST", a + "/sign_out", token=session)
    )
    assert dash.call("GET", a + "/me", token=session).status_code == 401


def test_support_answers_conform_to_the_document(dash: Dashboard, dash_schema: Any) -> None:
    server = dash.server
    auth = (server.project_id, server.secret)
    org = _post(server, "/v1/b2b/organizations", {"organization_name": "Support"})
    org_id = org["organization"]["organization_id"]
    address = "sam@openapi.example"
    member = _post(server, f"/v1/b2b/organizations/{org_id}/members", {"email_address": address})
    environment = f"/pwa/v3/projects/{server.project_slug}/environments/test"
    member_path = f"{environment}/organizations/{org_id}/members/{member['member_id']}"

    allowed = dash.call("PATCH", environment, {"user_impersonation_enabled": True}, key=True)
    assert allowed.status_code == 200, allowed.text
    impersonated = dash.call("POST", member_path + "/impersonate", key=True)
    session = _conforms(dash_schema, "POST", SUPPORT_MEMBER + "/impersonate", impersonated)
    assert session["member_session"]["authentication_factors"][0]["type"] == "impersonated"

    redirect = {"reset_password_redirect_url": "https://app.example.test/reset"}
    sent = dash.call("POST", member_path + "/password_reset", redirect, key=True)
    assert (
        _conforms(dash_schema, "POST", SUPPORT_MEMBER + "/password_reset", sent)["email_address"]
        == address
    )
    reset = httpx.post(
        server.url + "/v1/b2b/passwords/email/reset",
        auth=auth,
        json={
            "password_reset_token": token_in(dash.mailbox.take(address)),
            "password": "quartz-Meadow-91-lantern-owl",
        },
    )
    signed_in = _conforms(dash_schema, "POST", "/v1/b2b/passwords/email/reset", reset)
    assert (signed_in["member_id"], signed_in["member_authenticated"]) == (
        member["member_id"],
        True,
    )
