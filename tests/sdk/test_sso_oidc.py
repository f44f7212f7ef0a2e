"""OIDC SSO through the official `stytch` SDK against a real server, with a real OpenID Provider
(the `oidc-provider` npm package, tests/node/oidc_provider.mjs) on loopback: connections
(`sso.oidc.create_connection`, `update_connection` with issuer discovery, `sso.get_connections`,
`sso.delete_connection`), SP-initiated sign-in through the provider's real login and consent
forms (driven with httpx), `sso.authenticate` with an `sso_oidc` factor, JIT provisioning, the
`stytch.sso` actions, and what the callback must refuse (each refused with nothing changed).
Also the outbound guard: with its default, discovery and SAML metadata fetches of a loopback
address are refused.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import jwt
import pytest
import stytch
from cryptography.hazmat.primitives.asymmetric import rsa
from stytch.b2b.models.sso import DeleteConnectionRequestOptions
from stytch.b2b.models.sso_oidc import (
    CreateConnectionRequestOptions,
    UpdateConnectionRequestOptions,
)
from stytch.shared.method_options import Authorization

from tests.databases import throwaway_database
from tests.sdk.support import (
    email,
    refused_callback,
    register_redirect_url,
    sign_in,
    stytch_error,
    unique,
)
from tests.server import RunningServer, running_server

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PROVIDER = NODE_DIR / "oidc_provider.mjs"
LOGIN_URL = "https://app.example.test/oidc/login"
SIGNUP_URL = "https://app.example.test/oidc/signup"
NAME = "Grace Hopper"
GROUPS = ["engineering", "admins"]
SCOPES = "openid email profile groups"
MAX_STEPS = 12  # browser redirects and forms per sign-in


def _provider_missing() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (install `nodejs npm`; scripts/test does as root)"
    if not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "tests/node/node_modules is missing: run scripts/test (npm ci --prefix tests/node)"
    return None


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running OpenID Provider's issuer URL (stopped at the end of the module)."""
    reason = _provider_missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the OIDC tests: {reason}")
        pytest.skip(reason)
    log = (tmp_path_factory.mktemp("op") / "provider.log").open("wb")
    process = subprocess.Popen(
        ["node", str(PROVIDER), json.dumps({"name": NAME, "groups": GROUPS})],
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=NODE_DIR,
    )
    try:
        first: list[bytes] = []
        reader = threading.Thread(
            target=lambda: first.append(process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout=30)
        assert first and first[0], "the OIDC provider did not start (see provider.log)"
        yield str(json.loads(first[0])["issuer"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
        log.close()


@dataclass
class Client:
    client_id: str
    client_secret: str


class Harness:
    def __init__(self, server: RunningServer, issuer: str) -> None:
        self.server = server
        self.issuer = issuer
        self.client = server.b2b_client()

    def org(self, **settings: Any) -> Any:
        name = unique("Org")
        return self.client.organizations.create(
            organization_name=name, organization_slug=name.lower(), **settings
        ).organization

    def register_client(self, redirect_url: str) -> Client:
        """A client of the provider (dynamic registration) for this redirect URL."""
        response = httpx.post(
            self.issuer + "/reg",
            json={
                "redirect_uris": [redirect_url],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Client(body["client_id"], body["client_secret"])

    def connection(self, org_id: str, **update: Any) -> Any:
        """An active connection of `org_id`, its endpoints discovered from the provider."""
        created = self.client.sso.oidc.create_connection(
            organization_id=org_id, display_name="Test OP"
        ).connection
        registered = self.register_client(created.redirect_url)
        connection = self.client.sso.oidc.update_connection(
            organization_id=org_id,
            connection_id=created.connection_id,
            issuer=self.issuer,
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            custom_scopes=SCOPES,
            **update,
        ).connection
        assert connection.status == "active"
        return connection

    def to_callback(self, connection: Any, address: str, **params: str) -> str:
        """Start sign-in and go through the provider's forms as `address`: the callback URL the
        provider redirects the browser to (not yet followed)."""
        with httpx.Client(follow_redirects=False) as browser:
            response = browser.get(
                self.server.url + "/v1/public/sso/start",
                params={"connection_id": connection.connection_id, **params},
            )
            assert response.status_code == 302, response.text
            for _ in range(MAX_STEPS):
                if response.status_code in (302, 303):
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(connection.redirect_url):
                        return location
                    response = browser.get(location)
                    continue
                assert response.status_code == 200, response.text
                action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
                prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
                assert action and prompt, response.text
                form = {"prompt": prompt.group(1)}
                if form["prompt"] == "login":
                    form.update(login=address, password="any")
                response = browser.post(urljoin(str(response.url), action.group(1)), data=form)
            raise AssertionError("the sign-in did not come back within the step limit")

    def callback(self, url: str) -> httpx.Response:
        return httpx.get(url, follow_redirects=False)

    def token_from(self, response: httpx.Response) -> tuple[str, dict[str, str]]:
        assert response.status_code == 303, response.text
        parts = urlsplit(response.headers["location"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["stytch_token_type"] == "sso"
        return f"{parts.scheme}://{parts.netloc}{parts.path}", query

    def sign_in(self, connection: Any, address: str, **params: str) -> tuple[str, dict[str, str]]:
        return self.token_from(self.callback(self.to_callback(connection, address, **params)))

    def refused(self, url: str, status: int, error_type: str) -> str:
        """The callback at `url` is refused with nothing changed: its error message."""
        return refused_callback(self.server, url, status, error_type)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, issuer: str) -> Iterator[Harness]:
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url) as server,
    ):
        register_redirect_url(server, LOGIN_URL, ["LOGIN"])
        register_redirect_url(server, SIGNUP_URL, ["SIGNUP"])
        yield Harness(server, issuer)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


# -- connections -----------------------------------------------------------------------------


def test_a_connection_is_pending_until_discovery_completes_it(harness: Harness) -> None:
    client, issuer = harness.client, harness.issuer
    org = harness.org()
    created = client.sso.oidc.create_connection(
        organization_id=org.organization_id, display_name="Corp OP", identity_provider="okta"
    ).connection
    assert created.status == "pending"
    assert created.redirect_url == (
        f"{harness.server.url}/v1/b2b/sso/callback/{created.connection_id}"
    )
    assert (created.client_secret, created.issuer, created.token_url) == ("", "", "")
    assert created.identity_provider == "okta"
    registered = harness.register_client(created.redirect_url)
    partial = client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        client_id=registered.client_id,
        client_secret=registered.client_secret,
    )
    assert partial.connection.status == "pending"  # no issuer, no endpoints yet
    assert registered.client_secret not in partial.connection.client_secret
    assert partial.connection.client_secret.startswith("****")

    updated = client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        issuer=issuer,
    )
    connection = updated.connection
    assert updated.warning is None
    assert connection.status == "active"
    assert connection.authorization_url == issuer + "/auth"
    assert connection.token_url == issuer + "/token"
    assert connection.userinfo_url == issuer + "/me"
    assert connection.jwks_url == issuer + "/jwks"
    assert connection.client_id == registered.client_id

    listed = client.sso.get_connections(organization_id=org.organization_id)
    assert [c.connection_id for c in listed.oidc_connections] == [created.connection_id]
    assert listed.saml_connections == []
    assert listed.oidc_connections[0].issuer == issuer
    org_now = client.organizations.get(organization_id=org.organization_id).organization
    assert [c.connection_id for c in org_now.sso_active_connections] == [created.connection_id]


def test_explicit_endpoints_win_over_discovery(harness: Harness) -> None:
    org = harness.org()
    created = harness.client.sso.oidc.create_connection(
        organization_id=org.organization_id
    ).connection
    updated = harness.client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        issuer=harness.issuer,
        userinfo_url="https://op.example.test/userinfo",
    ).connection
    assert updated.userinfo_url == "https://op.example.test/userinfo"
    assert updated.token_url == harness.issuer + "/token"
    assert updated.status == "pending"  # no client yet


def test_an_issuer_without_a_discovery_document_is_a_warning(harness: Harness) -> None:
    org = harness.org()
    created = harness.client.sso.oidc.create_connection(
        organization_id=org.organization_id
    ).connection
    updated = harness.client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        issuer=harness.issuer + "/elsewhere",
        token_url=harness.issuer + "/token",
    )
    assert updated.warning and "HTTP 404" in updated.warning
    assert updated.connection.issuer == harness.issuer + "/elsewhere"
    assert updated.connection.token_url == harness.issuer + "/token"
    assert updated.connection.authorization_url == ""


def test_bad_connection_settings_are_refused_and_change_nothing(harness: Harness) -> None:
    org = harness.org()
    created = harness.client.sso.oidc.create_connection(
        organization_id=org.organization_id
    ).connection
    elsewhere = harness.org()
    before = harness.server.snapshot()
    for fields in (
        {"issuer": "file:///etc/passwd"},
        {"token_url": "not a url"},
        {"attribute_mapping": {"full_name": "name"}},  # no email
    ):
        with stytch_error(400, "invalid_request"):
            harness.client.sso.oidc.update_connection(
                organization_id=org.organization_id,
                connection_id=created.connection_id,
                **fields,
            )
    with stytch_error(404, "sso_connection_not_found"):
        harness.client.sso.oidc.update_connection(
            organization_id=elsewhere.organization_id,
            connection_id=created.connection_id,
            display_name="moved",
        )
    assert harness.server.snapshot() == before


def test_a_member_session_needs_the_stytch_sso_actions(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    admin = sign_in(client, org.organization_id, email(), ["stytch_admin"])
    plain = sign_in(client, org.organization_id, email())
    before = harness.server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        client.sso.oidc.create_connection(
            organization_id=org.organization_id,
            method_options=CreateConnectionRequestOptions(
                authorization=Authorization(session_token=plain.session_token)
            ),
        )
    assert harness.server.snapshot() == before
    created = client.sso.oidc.create_connection(
        organization_id=org.organization_id,
        method_options=CreateConnectionRequestOptions(
            authorization=Authorization(session_token=admin.session_token)
        ),
    ).connection
    before = harness.server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        client.sso.oidc.update_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            display_name="renamed",
            method_options=UpdateConnectionRequestOptions(
                authorization=Authorization(session_token=plain.session_token)
            ),
        )
    with stytch_error(403, "session_authorization_error"):
        client.sso.delete_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            method_options=DeleteConnectionRequestOptions(
                authorization=Authorization(session_token=plain.session_token)
            ),
        )
    assert harness.server.snapshot() == before
    renamed = client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        display_name="renamed",
        method_options=UpdateConnectionRequestOptions(
            authorization=Authorization(session_token=admin.session_token)
        ),
    ).connection
    assert renamed.display_name == "renamed"
    client.sso.delete_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        method_options=DeleteConnectionRequestOptions(
            authorization=Authorization(session_token=admin.session_token)
        ),
    )


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_creates_the_member_and_mints_an_sso_oidc_session(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    connection = harness.connection(org.organization_id)
    address = email()
    verifier, challenge = _pkce()
    callback = harness.to_callback(connection, address, pkce_code_challenge=challenge)
    url, query = harness.token_from(harness.callback(callback))
    assert url == SIGNUP_URL  # a new member
    before = harness.server.snapshot()
    with stytch_error(400, "pkce_mismatch"):
        client.sso.authenticate(sso_token=query["token"])
    with stytch_error(400, "pkce_mismatch"):
        client.sso.authenticate(sso_token=query["token"], pkce_code_verifier=_pkce()[0])
    assert harness.server.snapshot() == before
    done = client.sso.authenticate(sso_token=query["token"], pkce_code_verifier=verifier)
    assert done.member.email_address == address
    assert done.member.name == NAME
    assert done.member.status == "active"
    [registration] = done.member.sso_registrations
    assert registration.connection_id == connection.connection_id
    assert registration.external_id == address  # the provider's `sub`
    assert registration.sso_attributes["groups"] == GROUPS
    [factor] = done.member_session.authentication_factors
    assert factor.type == "sso" and factor.delivery_method == "sso_oidc"
    assert factor.oidc_sso_factor.provider_id == connection.connection_id
    assert factor.oidc_sso_factor.external_id == address
    assert factor.saml_sso_factor is None
    authenticated = client.sessions.authenticate(session_token=done.session_token)
    assert authenticated.member.member_id == done.member.member_id

    # The token is single use; the provider's redirect too (its state is spent).
    before = harness.server.snapshot()
    with stytch_error(401, "unable_to_auth_sso_token"):
        client.sso.authenticate(sso_token=query["token"], pkce_code_verifier=verifier)
    assert harness.server.snapshot() == before
    harness.refused(callback, 400, "invalid_oidc_state")

    # Signing in again finds the same member through its registration: the login URL.
    url, query = harness.sign_in(connection, address)
    assert url == LOGIN_URL
    again = client.sso.authenticate(sso_token=query["token"])
    assert again.member.member_id == done.member.member_id


def test_start_by_organization_uses_its_oidc_default_connection(harness: Harness) -> None:
    org = harness.org()
    connection = harness.connection(org.organization_id)
    harness.client.organizations.update(
        organization_id=org.organization_id, sso_default_connection_id=connection.connection_id
    )
    response = httpx.get(
        harness.server.url + "/v1/public/sso/start",
        params={"organization_id": org.organization_id, "public_token": harness.server.project_id},
        follow_redirects=False,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == connection.authorization_url
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["scope"] == SCOPES
    assert query["redirect_uri"] == connection.redirect_url
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]


def test_sso_jit_provisioning_is_enforced(harness: Harness) -> None:
    client = harness.client
    org = harness.org(sso_jit_provisioning="NOT_ALLOWED")
    connection = harness.connection(org.organization_id)
    harness.refused(
        harness.to_callback(connection, email()), 403, "sso_jit_provisioning_not_allowed"
    )

    # An existing member may sign in; RESTRICTED to this connection lets new ones in.
    existing = email()
    client.organizations.members.create(organization_id=org.organization_id, email_address=existing)
    _, query = harness.sign_in(connection, existing)
    assert client.sso.authenticate(sso_token=query["token"]).member.email_address == existing
    client.organizations.update(
        organization_id=org.organization_id,
        sso_jit_provisioning="RESTRICTED",
        sso_jit_provisioning_allowed_connections=[connection.connection_id],
    )
    _, query = harness.sign_in(connection, email())
    assert client.sso.authenticate(sso_token=query["token"]).member.status == "active"
    other = harness.connection(org.organization_id)
    harness.refused(harness.to_callback(other, email()), 403, "sso_jit_provisioning_not_allowed")


# -- what the callback refuses: nothing changes ---------------------------------------------


def test_a_code_the_provider_rejects_is_refused(harness: Harness) -> None:
    connection = harness.connection(harness.org().organization_id)
    callback = harness.to_callback(connection, email())
    message = harness.refused(
        _with_query(callback, code="forged-code"), 401, "invalid_oidc_response"
    )
    assert "invalid_grant" in message
    harness.refused(_with_query(callback, state="forged-state"), 400, "invalid_oidc_state")
    harness.refused(_with_query(callback, error="access_denied"), 401, "invalid_oidc_response")
    assert "another issuer" in harness.refused(
        _with_query(callback, iss="https://op.example.test"), 401, "invalid_oidc_response"
    )
    harness.refused(_with_query(callback, code=""), 400, "invalid_oidc_state")
    # The refusals spent nothing: the real redirect still signs in.
    harness.token_from(harness.callback(callback))


def test_an_email_the_provider_has_not_verified_is_refused(harness: Harness) -> None:
    connection = harness.connection(harness.org().organization_id)
    message = harness.refused(
        harness.to_callback(connection, "unverified-" + email()), 401, "invalid_oidc_response"
    )
    assert "not verified" in message


def test_a_state_issued_for_another_connection_is_refused(harness: Harness) -> None:
    org = harness.org()
    first, second = harness.connection(org.organization_id), harness.connection(org.organization_id)
    callback = harness.to_callback(first, email())
    moved = callback.replace(first.connection_id, second.connection_id)
    harness.refused(moved, 400, "invalid_oidc_state")


@pytest.fixture
def other_jwks(issuer: str) -> Iterator[str]:
    """A JWKS URL serving another key under the id of the provider's signing key."""
    [real] = httpx.get(issuer + "/jwks").json()["keys"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": real["kid"], "use": "sig", "alg": "RS256"}]})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks"
    finally:
        server.shutdown()
        server.server_close()


def test_an_id_token_not_signed_by_the_connections_keys_is_refused(
    harness: Harness, other_jwks: str
) -> None:
    org = harness.org()
    connection = harness.connection(org.organization_id, jwks_url=other_jwks)
    assert connection.jwks_url == other_jwks
    message = harness.refused(
        harness.to_callback(connection, email()), 401, "invalid_oidc_response"
    )
    assert "signature does not verify" in message


def test_an_id_token_from_another_issuer_is_refused(harness: Harness) -> None:
    org = harness.org()
    connection = harness.connection(org.organization_id)
    callback = harness.to_callback(connection, email())
    moved = harness.client.sso.oidc.update_connection(
        organization_id=org.organization_id,
        connection_id=connection.connection_id,
        issuer=harness.issuer + "/elsewhere",
    )
    assert moved.warning and moved.connection.status == "active"  # endpoints kept
    # With the response's `iss` parameter (RFC 9207), then without it: the ID token's `iss`.
    assert "authorization response is from another issuer" in harness.refused(
        callback, 401, "invalid_oidc_response"
    )
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != "iss"}
    bare = urlunsplit(parts._replace(query=urlencode(query)))
    assert "ID token is from another issuer" in harness.refused(bare, 401, "invalid_oidc_response")


def test_deleting_a_connection_removes_it_and_its_registrations(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    connection = harness.connection(org.organization_id)
    harness.client.organizations.update(
        organization_id=org.organization_id, sso_default_connection_id=connection.connection_id
    )
    _, query = harness.sign_in(connection, email())
    member = client.sso.authenticate(sso_token=query["token"]).member
    deleted = client.sso.delete_connection(
        organization_id=org.organization_id, connection_id=connection.connection_id
    )
    assert deleted.connection_id == connection.connection_id
    listed = client.sso.get_connections(organization_id=org.organization_id)
    assert listed.oidc_connections == []
    org_now = client.organizations.get(organization_id=org.organization_id).organization
    assert org_now.sso_default_connection_id in (None, "")
    assert org_now.sso_active_connections == []
    again = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    ).member
    assert again.sso_registrations == []
    with stytch_error(404, "sso_connection_not_found"):
        client.sso.delete_connection(
            organization_id=org.organization_id, connection_id=connection.connection_id
        )


def test_connection_changes_and_sign_ins_are_in_the_event_log(harness: Harness) -> None:
    client, server = harness.client, harness.server
    org = harness.org()
    connection = harness.connection(org.organization_id)
    _, query = harness.sign_in(connection, email())
    member_id = client.sso.authenticate(sso_token=query["token"]).member_id
    client.sso.delete_connection(
        organization_id=org.organization_id, connection_id=connection.connection_id
    )
    with server.store.transaction() as tx:
        events = list(reversed(server.store.events(tx, server.project_id, limit=1000)))
    mine = [e for e in events if e["target"] in (connection.connection_id, member_id)]
    assert [e["action"] for e in mine] == [
        "sso.oidc.create",
        "sso.oidc.update",
        "member.create",
        "sso.oidc.callback_accepted",
        "member.sso_authenticate",
        "sso.delete",
    ]
    update = mine[1]["changes"]
    assert update["client_secret"] == "[redacted]"
    assert update["status"] == "active"
    assert "token_url" in update["discovered"]
    assert mine[3]["actor"] == f"sso:{connection.connection_id}"


# -- the outbound guard, at its default ------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with (
        throwaway_database(tmp_path_factory.mktemp("guarded")) as url,
        running_server(url, outbound_allow_private_networks=False) as server,
    ):
        yield server


def test_the_outbound_guard_refuses_loopback_by_default(
    guarded: RunningServer, issuer: str
) -> None:
    client = stytch.B2BClient(guarded.project_id, guarded.secret, environment=guarded.url + "/")
    name = unique("Org")
    org = client.organizations.create(
        organization_name=name, organization_slug=name.lower()
    ).organization
    oidc = client.sso.oidc.create_connection(organization_id=org.organization_id).connection
    saml = client.sso.saml.create_connection(organization_id=org.organization_id).connection
    before = guarded.snapshot()
    with stytch_error(400, "outbound_url_not_allowed"):
        client.sso.oidc.update_connection(
            organization_id=org.organization_id, connection_id=oidc.connection_id, issuer=issuer
        )
    for url in (issuer + "/metadata", "http://localhost:9/metadata", "http://[::1]:9/x"):
        with stytch_error(400, "outbound_url_not_allowed"):
            client.sso.saml.update_by_url(
                organization_id=org.organization_id,
                connection_id=saml.connection_id,
                metadata_url=url,
            )
    assert guarded.snapshot() == before
