"""SAML SSO through the official `stytch` SDK against a real server, with pysaml2 acting as the
IdP (its responses signed by Debian's xmlsec1): connection management (`sso.saml.*`,
`sso.get_connections`, `sso.delete_connection`), SP- and IdP-initiated sign-in through real HTTP
redirects and form posts, `sso.authenticate`, JIT provisioning, the attacks a SAML SP must refuse
(each refused with nothing changed), and the SAML implicit roles: listed on the member, granted
only to a session holding a factor from the connection (server check, the SDK's local JWT
check, the Gatehouse SDK).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from stytch.b2b.models.sessions import AuthorizationCheck
from stytch.b2b.models.sso import DeleteConnectionRequestOptions
from stytch.b2b.models.sso_saml import CreateConnectionRequestOptions
from stytch.shared.method_options import Authorization
from stytch.shared.rbac_local import RBACPermissionError

from gatehouse.client import Client
from tests.databases import throwaway_database
from tests.sdk.saml_idp import (
    LOGIN_URL,
    MAPPING,
    SIGNUP_URL,
    Harness,
    Idp,
    _b64,
    _key_and_cert,
    crafted_response,
    idp_response,
    make_idp,
    response_around,
)
from tests.sdk.support import email, install_policy, register_redirect_url, sign_in, stytch_error
from tests.server import RunningServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is missing")

POLICY = {
    "custom_resources": [
        {
            "resource_id": "reports",
            "description": "Reports",
            "available_actions": ["read", "write"],
        },
    ],
    "custom_roles": [
        {
            "role_id": "sso_reader",
            "description": "Reads reports",
            "permissions": [{"resource_id": "reports", "actions": ["read"]}],
        },
        {
            "role_id": "sso_writer",
            "description": "Writes reports",
            "permissions": [{"resource_id": "reports", "actions": ["write"]}],
        },
    ],
}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url) as server,
    ):
        register_redirect_url(server, LOGIN_URL, ["LOGIN"])
        register_redirect_url(server, SIGNUP_URL, ["SIGNUP"])
        install_policy(server, POLICY)
        yield Harness(server, tmp_path_factory.mktemp("idp"))


@pytest.fixture
def server(harness: Harness) -> RunningServer:
    return harness.server


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- connections -----------------------------------------------------------------------------


def test_a_connection_is_pending_until_its_idp_settings_are_complete(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    created = client.sso.saml.create_connection(
        organization_id=org.organization_id, display_name="Okta", identity_provider="okta"
    ).connection
    assert created.status == "pending"
    assert created.acs_url == f"{harness.server.url}/v1/b2b/sso/callback/{created.connection_id}"
    assert created.audience_uri.startswith(harness.server.url + "/")
    assert len(created.signing_certificates) == 1
    assert "BEGIN CERTIFICATE" in created.signing_certificates[0].certificate
    assert created.nameid_format == NAMEID_FORMAT_EMAILADDRESS
    assert client.organizations.get(org.organization_id).organization.sso_active_connections == []

    idp = make_idp(harness.directory, created.audience_uri, created.acs_url)
    partial = client.sso.saml.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        idp_entity_id=idp.entity_id,
        idp_sso_url=idp.sso_url,
    ).connection
    assert partial.status == "pending"
    done = client.sso.saml.update_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        x509_certificate=idp.cert_pem,
        attribute_mapping=MAPPING,
    ).connection
    assert done.status == "active"
    assert [c.certificate for c in done.verification_certificates] == [
        x509.load_pem_x509_certificate(idp.cert_pem.encode())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    ]
    active = client.organizations.get(org.organization_id).organization.sso_active_connections
    assert [(c.connection_id, c.display_name) for c in active] == [(created.connection_id, "Okta")]

    listed = client.sso.get_connections(organization_id=org.organization_id)
    assert [c.connection_id for c in listed.saml_connections] == [created.connection_id]

    # Without a certificate it is pending again.
    certificate_id = done.verification_certificates[0].certificate_id
    deleted = client.sso.saml.delete_verification_certificate(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        certificate_id=certificate_id,
    )
    assert deleted.certificate_id == certificate_id
    again = client.sso.get_connections(organization_id=org.organization_id).saml_connections[0]
    assert again.status == "pending" and again.verification_certificates == []


def test_update_by_url_reads_the_idp_metadata(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    created = client.sso.saml.create_connection(organization_id=org.organization_id).connection
    idp = make_idp(harness.directory, created.audience_uri, created.acs_url)
    body = idp.metadata.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/metadata":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    metadata_server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=metadata_server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{metadata_server.server_port}/metadata"
        updated = client.sso.saml.update_by_url(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            metadata_url=url,
        ).connection
        assert updated.idp_entity_id == idp.entity_id
        assert updated.idp_sso_url == idp.sso_url
        assert len(updated.verification_certificates) == 1
        assert updated.status == "pending"  # the attribute mapping is still missing

        before = harness.server.snapshot()
        with stytch_error(400, "invalid_saml_metadata"):
            client.sso.saml.update_by_url(
                organization_id=org.organization_id,
                connection_id=created.connection_id,
                metadata_url=f"http://127.0.0.1:{metadata_server.server_port}/missing",
            )
        assert harness.server.snapshot() == before
    finally:
        metadata_server.shutdown()
        metadata_server.server_close()


def test_bad_connection_settings_are_refused_and_change_nothing(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    created = client.sso.saml.create_connection(organization_id=org.organization_id).connection
    elsewhere = harness.org().organization_id
    before = harness.server.snapshot()
    with stytch_error(400, "invalid_request"):
        client.sso.saml.update_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            x509_certificate="not a certificate",
        )
    with stytch_error(400, "role_not_found"):
        client.sso.saml.update_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            saml_connection_implicit_role_assignments=[{"role_id": "no_such_role"}],
        )
    with stytch_error(400, "invalid_request"):
        client.sso.saml.update_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            saml_group_implicit_role_assignments=[{"role_id": "sso_reader", "group": "x"}],
        )
    with stytch_error(404, "sso_connection_not_found"):
        client.sso.saml.update_connection(
            organization_id=elsewhere,
            connection_id=created.connection_id,
            display_name="elsewhere",
        )
    with stytch_error(404, "saml_certificate_not_found"):
        client.sso.saml.delete_verification_certificate(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            certificate_id="saml-cert-unknown",
        )
    assert harness.server.snapshot() == before


def test_deleting_a_connection_clears_the_organizations_sso_settings(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    connection, _ = harness.connection(org.organization_id)
    updated = client.organizations.update(
        organization_id=org.organization_id,
        sso_default_connection_id=connection.connection_id,
        sso_jit_provisioning="RESTRICTED",
        sso_jit_provisioning_allowed_connections=[connection.connection_id],
    ).organization
    assert updated.sso_default_connection_id == connection.connection_id
    deleted = client.sso.delete_connection(
        organization_id=org.organization_id, connection_id=connection.connection_id
    )
    assert deleted.connection_id == connection.connection_id
    after = client.organizations.get(org.organization_id).organization
    assert after.sso_default_connection_id in (None, "")
    assert after.sso_jit_provisioning_allowed_connections == []
    assert after.sso_active_connections == []
    assert client.sso.get_connections(organization_id=org.organization_id).saml_connections == []
    with stytch_error(404, "sso_connection_not_found"):
        client.organizations.update(
            organization_id=org.organization_id,
            sso_default_connection_id=connection.connection_id,
        )


def test_a_member_session_needs_the_stytch_sso_actions(harness: Harness) -> None:
    client = harness.client
    org = harness.org()
    admin = sign_in(client, org.organization_id, email(), ["stytch_admin"])
    plain = sign_in(client, org.organization_id, email())
    before = harness.server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        client.sso.saml.create_connection(
            organization_id=org.organization_id,
            method_options=CreateConnectionRequestOptions(
                authorization=Authorization(session_token=plain.session_token)
            ),
        )
    assert harness.server.snapshot() == before
    created = client.sso.saml.create_connection(
        organization_id=org.organization_id,
        method_options=CreateConnectionRequestOptions(
            authorization=Authorization(session_token=admin.session_token)
        ),
    ).connection
    before = harness.server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        client.sso.delete_connection(
            organization_id=org.organization_id,
            connection_id=created.connection_id,
            method_options=DeleteConnectionRequestOptions(
                authorization=Authorization(session_token=plain.session_token)
            ),
        )
    assert harness.server.snapshot() == before
    client.sso.delete_connection(
        organization_id=org.organization_id,
        connection_id=created.connection_id,
        method_options=DeleteConnectionRequestOptions(
            authorization=Authorization(session_token=admin.session_token)
        ),
    )


# -- sign-in ---------------------------------------------------------------------------------


def test_sp_initiated_sign_in_creates_the_member_and_mints_an_sso_session(
    harness: Harness,
) -> None:
    client = harness.client
    org = harness.org()
    connection, idp = harness.connection(org.organization_id)
    address = email()
    verifier, challenge = _pkce()
    url, query = harness.sp_initiated(connection, idp, address, pkce_code_challenge=challenge)
    assert url == SIGNUP_URL  # a new member
    with stytch_error(400, "pkce_mismatch"):
        client.sso.authenticate(sso_token=query["token"])
    done = client.sso.authenticate(sso_token=query["token"], pkce_code_verifier=verifier)
    assert done.member.email_address == address
    assert done.member.name == "Ada Lovelace"
    assert done.member.status == "active"
    [registration] = done.member.sso_registrations
    assert registration.connection_id == connection.connection_id
    assert registration.external_id == address
    [factor] = done.member_session.authentication_factors
    assert factor.type == "sso" and factor.delivery_method == "sso_saml"
    assert factor.saml_sso_factor.provider_id == connection.connection_id
    authenticated = client.sessions.authenticate(session_token=done.session_token)
    assert authenticated.member.member_id == done.member.member_id

    # The token is single use.
    before = harness.server.snapshot()
    with stytch_error(401, "unable_to_auth_sso_token"):
        client.sso.authenticate(sso_token=query["token"], pkce_code_verifier=verifier)
    assert harness.server.snapshot() == before

    # Signing in again finds the same member through its registration: the login URL.
    url, query = harness.sp_initiated(connection, idp, address)
    assert url == LOGIN_URL
    again = client.sso.authenticate(sso_token=query["token"])
    assert again.member.member_id == done.member.member_id


def test_idp_initiated_sign_in_works_unless_the_connection_disables_it(
    harness: Harness,
) -> None:
    client = harness.client
    org = harness.org()
    connection, idp = harness.connection(org.organization_id)
    address = email()
    url, query = harness.token_from(
        harness.post_acs(connection, idp_response(idp, connection, address))
    )
    assert url == SIGNUP_URL
    assert client.sso.authenticate(sso_token=query["token"]).member.email_address == address

    client.sso.saml.update_connection(
        organization_id=org.organization_id,
        connection_id=connection.connection_id,
        idp_initiated_auth_disabled=True,
    )
    before = harness.server.snapshot()
    response = harness.post_acs(connection, idp_response(idp, connection, address))
    assert response.status_code == 403
    assert response.json()["error_type"] == "idp_initiated_auth_disabled"
    assert harness.server.snapshot() == before
    # SP-initiated still works.
    _, query = harness.sp_initiated(connection, idp, address)
    assert client.sso.authenticate(sso_token=query["token"]).member.email_address == address


def test_sso_jit_provisioning_is_enforced(harness: Harness) -> None:
    client = harness.client
    org = harness.org(sso_jit_provisioning="NOT_ALLOWED")
    connection, idp = harness.connection(org.organization_id)
    before = harness.server.snapshot()
    response = harness.post_acs(connection, idp_response(idp, connection, email()))
    assert response.status_code == 403
    assert response.json()["error_type"] == "sso_jit_provisioning_not_allowed"
    assert harness.server.snapshot() == before

    # An existing member may sign in; RESTRICTED to this connection lets new ones in.
    existing = email()
    client.organizations.members.create(organization_id=org.organization_id, email_address=existing)
    _, query = harness.token_from(
        harness.post_acs(connection, idp_response(idp, connection, existing))
    )
    assert client.sso.authenticate(sso_token=query["token"]).member.email_address == existing
    client.organizations.update(
        organization_id=org.organization_id,
        sso_jit_provisioning="RESTRICTED",
        sso_jit_provisioning_allowed_connections=[connection.connection_id],
    )
    _, query = harness.token_from(
        harness.post_acs(connection, idp_response(idp, connection, email()))
    )
    assert client.sso.authenticate(sso_token=query["token"]).member.status == "active"


def test_start_by_organization_uses_its_default_connection(harness: Harness) -> None:
    org = harness.org()
    connection, idp = harness.connection(org.organization_id)
    harness.client.organizations.update(
        organization_id=org.organization_id, sso_default_connection_id=connection.connection_id
    )
    response = httpx.get(
        harness.server.url + "/v1/public/sso/start",
        params={"organization_id": org.organization_id, "public_token": harness.server.project_id},
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith(idp.sso_url + "?SAMLRequest=")
    before = harness.server.snapshot()
    response = httpx.get(
        harness.server.url + "/v1/public/sso/start",
        params={
            "connection_id": connection.connection_id,
            "login_redirect_url": "https://evil.example.test/steal",
        },
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert response.json()["error_type"] == "no_match_for_provided_magic_link_url"
    assert harness.server.snapshot() == before


# -- attacks: each refused, nothing changed ---------------------------------------------------


@pytest.fixture
def target(harness: Harness) -> tuple[Any, Idp]:
    org = harness.org()
    return harness.connection(org.organization_id)


def _refused(harness: Harness, connection: Any, saml_response: str) -> None:
    before = harness.server.snapshot()
    response = harness.post_acs(connection, saml_response)
    assert response.status_code == 400, response.text
    assert response.json()["error_type"] == "invalid_saml_response"
    assert harness.server.snapshot() == before


def test_a_crafted_response_that_is_valid_is_accepted(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    # The control for the attacks below: the same construction, nothing wrong with it.
    connection, idp = target
    xml, _ = crafted_response(idp, connection, email())
    harness.token_from(harness.post_acs(connection, _b64(xml)))


def test_an_unsigned_response_is_refused(harness: Harness, target: tuple[Any, Idp]) -> None:
    connection, idp = target
    xml, _ = crafted_response(idp, connection, email(), sign=False)
    _refused(harness, connection, _b64(xml))


def test_a_response_signed_only_on_the_outside_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    # Partly signed: the Response is signed, its assertion is not.
    connection, idp = target
    response = idp_response(idp, connection, email(), sign_assertion=False, sign_response=True)
    _refused(harness, connection, response)


def test_signature_wrapping_is_refused(harness: Harness, target: tuple[Any, Idp]) -> None:
    # XSW: a genuine signed assertion for the victim is kept (so the signature verifies) but
    # hidden, and a forged, unsigned one for the attacker is put where the SP reads.
    connection, idp = target
    victim, attacker = email(), email()
    genuine, genuine_id = crafted_response(idp, connection, victim)
    signed_assertion = genuine[
        genuine.index("<saml:Assertion") : genuine.index("</samlp:Response>")
    ]
    forged, _ = crafted_response(idp, connection, attacker, sign=False)
    forged_assertion = forged[forged.index("<saml:Assertion") : forged.index("</samlp:Response>")]
    # Variant 1: the forged assertion first, the signed one after it.
    _refused(
        harness,
        connection,
        _b64(response_around(idp, forged_assertion + signed_assertion, connection.acs_url)),
    )
    # Variant 1b: the signed one first, the forged one after it.
    _refused(
        harness,
        connection,
        _b64(response_around(idp, signed_assertion + forged_assertion, connection.acs_url)),
    )
    # Variant 2: the signed one tucked into the forged assertion's Advice... under the forged
    # assertion's id equal to the signed one's.
    wrapped = forged_assertion.replace(
        "<saml:Subject>", f"<saml:Advice>{signed_assertion}</saml:Advice><saml:Subject>", 1
    )
    wrapped = re.sub(r'ID="[^"]+"', f'ID="{genuine_id}"', wrapped, count=1)
    _refused(harness, connection, _b64(response_around(idp, wrapped, connection.acs_url)))


def test_a_response_signed_by_another_certificate_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    impostor = make_idp(harness.directory, connection.audience_uri, connection.acs_url)
    xml, _ = crafted_response(idp, connection, email(), signer=impostor)
    _refused(harness, connection, _b64(xml))


def test_a_response_for_another_audience_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    xml, _ = crafted_response(idp, connection, email(), audience="https://other-sp.example.test")
    _refused(harness, connection, _b64(xml))


def test_a_response_for_another_recipient_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    xml, _ = crafted_response(
        idp, connection, email(), recipient="https://other-sp.example.test/acs"
    )
    _refused(harness, connection, _b64(xml))


def test_a_response_for_another_destination_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    xml, _ = crafted_response(
        idp, connection, email(), destination="https://other-sp.example.test/acs"
    )
    _refused(harness, connection, _b64(xml))


def test_an_expired_assertion_is_refused(harness: Harness, target: tuple[Any, Idp]) -> None:
    connection, idp = target
    now = dt.datetime.now(dt.UTC)
    xml, _ = crafted_response(
        idp,
        connection,
        email(),
        not_before=now - dt.timedelta(hours=2),
        not_on_or_after=now - dt.timedelta(hours=1),
    )
    _refused(harness, connection, _b64(xml))


def test_a_not_yet_valid_assertion_is_refused(harness: Harness, target: tuple[Any, Idp]) -> None:
    connection, idp = target
    now = dt.datetime.now(dt.UTC)
    xml, _ = crafted_response(
        idp,
        connection,
        email(),
        not_before=now + dt.timedelta(hours=1),
        not_on_or_after=now + dt.timedelta(hours=2),
    )
    _refused(harness, connection, _b64(xml))


def test_a_replayed_assertion_is_refused(harness: Harness, target: tuple[Any, Idp]) -> None:
    connection, idp = target
    saml_response = idp_response(idp, connection, email())
    harness.token_from(harness.post_acs(connection, saml_response))
    _refused(harness, connection, saml_response)


def test_a_response_to_a_request_never_issued_is_refused(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    _refused(harness, connection, idp_response(idp, connection, email(), "_never-issued"))


# -- implicit roles ---------------------------------------------------------------------------


def test_saml_implicit_roles_are_listed_but_granted_only_with_the_connections_factor(
    harness: Harness,
) -> None:
    client = harness.client
    org = harness.org()
    connection, idp = harness.connection(
        org.organization_id,
        saml_connection_implicit_role_assignments=[{"role_id": "sso_reader"}],
        saml_group_implicit_role_assignments=[{"role_id": "sso_writer", "group": "writers"}],
    )
    address = email()
    _, query = harness.sp_initiated(connection, idp, address, groups=["writers", "other"])
    with_factor = client.sso.authenticate(sso_token=query["token"])
    member_id = with_factor.member.member_id

    # Listed on the member, with their sources.
    member = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member_id
    ).member
    sources = {r.role_id: [(s.type, s.details) for s in r.sources] for r in member.roles}
    assert sources["sso_reader"] == [
        ("sso_connection", {"connection_id": connection.connection_id})
    ]
    assert sources["sso_writer"] == [
        ("sso_connection_group", {"connection_id": connection.connection_id, "group": "writers"})
    ]

    # A session of the same member without the SSO factor (a password sign-in).
    without = sign_in(client, org.organization_id, address)
    assert [f.delivery_method for f in without.member_session.authentication_factors] != [
        "sso_saml"
    ]

    for session, granted in ((with_factor, True), (without, False)):
        for resource, action in (("reports", "read"), ("reports", "write")):
            check = AuthorizationCheck(
                organization_id=org.organization_id, resource_id=resource, action=action
            )
            # The server's check.
            if granted:
                client.sessions.authenticate(
                    session_token=session.session_token, authorization_check=check
                )
            else:
                with stytch_error(403, "session_authorization_error"):
                    client.sessions.authenticate(
                        session_token=session.session_token, authorization_check=check
                    )
            # The official SDK's local check on the JWT's roles.
            if granted:
                assert client.sessions.authenticate_jwt_local(
                    session_jwt=session.session_jwt, authorization_check=check
                )
            else:
                with pytest.raises(RBACPermissionError):
                    client.sessions.authenticate_jwt_local(
                        session_jwt=session.session_jwt, authorization_check=check
                    )
            # The Gatehouse SDK's local check.
            with Client(
                harness.server.project_id, harness.server.secret, base_url=harness.server.url
            ) as gatehouse:
                assert (
                    gatehouse.is_authorized(
                        session.session_jwt, org.organization_id, resource, action
                    )
                    is granted
                )
        # Batch checks, local (the JWT's roles) and on the server (the session's roles now).
        with Client(
            harness.server.project_id, harness.server.secret, base_url=harness.server.url
        ) as gatehouse:
            pairs = [("reports", "read"), ("reports", "write")]
            assert gatehouse.check_batch(session.session_jwt, org.organization_id, pairs) == [
                granted,
                granted,
            ]
            assert gatehouse.remote_check_batch(
                org.organization_id, pairs, session_token=session.session_token
            ) == [granted, granted]


def test_changing_a_connections_implicit_roles_applies_to_live_sessions(
    harness: Harness,
) -> None:
    client = harness.client
    org = harness.org()
    connection, idp = harness.connection(
        org.organization_id,
        saml_connection_implicit_role_assignments=[{"role_id": "sso_reader"}],
    )
    _, query = harness.sp_initiated(connection, idp, email())
    session = client.sso.authenticate(sso_token=query["token"])
    check = AuthorizationCheck(
        organization_id=org.organization_id, resource_id="reports", action="read"
    )
    client.sessions.authenticate(session_token=session.session_token, authorization_check=check)
    client.sso.saml.update_connection(
        organization_id=org.organization_id,
        connection_id=connection.connection_id,
        saml_connection_implicit_role_assignments=[],
    )
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(session_token=session.session_token, authorization_check=check)
    member = client.organizations.members.get(
        organization_id=org.organization_id, member_id=session.member_id
    ).member
    assert "sso_reader" not in [r.role_id for r in member.roles]


def test_connection_changes_and_sign_ins_are_in_the_event_log(harness: Harness) -> None:
    client, server = harness.client, harness.server
    org = harness.org()
    connection, idp = harness.connection(org.organization_id)
    key_pem, _ = _key_and_cert("sp")
    client.sso.saml.update_connection(
        organization_id=org.organization_id,
        connection_id=connection.connection_id,
        signing_private_key=key_pem,
    )
    _, query = harness.sp_initiated(connection, idp, email())
    member_id = client.sso.authenticate(sso_token=query["token"]).member_id
    client.sso.delete_connection(
        organization_id=org.organization_id, connection_id=connection.connection_id
    )
    with server.store.transaction() as tx:
        events = list(reversed(server.store.events(tx, server.project_id, limit=1000)))
    mine = [e for e in events if e["target"] in (connection.connection_id, member_id)]
    assert [e["action"] for e in mine] == [
        "sso.saml.create",
        "sso.saml.update",  # the IdP settings
        "sso.saml.update",  # the signing key
        "member.create",
        "sso.saml.assertion_accepted",
        "member.sso_authenticate",
        "sso.delete",
    ]
    key_change = mine[2]["changes"]
    assert key_change["signing_private_key"] == "[redacted]"
    assert "PRIVATE KEY" not in str([e["changes"] for e in events])
    assert mine[4]["actor"] == f"sso:{connection.connection_id}"
    assert mine[4]["changes"]["connection_id"] == connection.connection_id
