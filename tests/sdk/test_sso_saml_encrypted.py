"""Encrypted SAML assertions through the official `stytch` SDK against a real server: a
connection given a `saml_encryption_private_key` publishes its certificate in the SP metadata,
the pysaml2 IdP encrypts its signed assertion to it (xmlsec1), and the ACS decrypts it (pysaml2,
xmlsec1) and still requires the inner assertion's signature. An assertion encrypted to another
key, or sent after the key is deleted, or unsigned inside its encryption, is refused with
nothing changed.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saml2 import BINDING_HTTP_REDIRECT

from tests.sdk.saml_idp import (
    Harness,
    Idp,
    _key_and_cert,
    crafted_response,
    idp_response,
    make_idp,
    serve_harness,
)
from tests.sdk.support import email

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is missing")

ENCRYPTED = {"encrypt_assertion": True, "encrypt_assertion_self_contained": True}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serve_harness(tmp_path_factory) as harness:
        yield harness


def _public_numbers(pem: str) -> Any:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.public_key().public_numbers()  # type: ignore[union-attr]


def encryption_certificates(metadata: str) -> list[x509.Certificate]:
    """The certificates of the SP metadata's KeyDescriptor use="encryption" elements."""
    found = re.findall(
        r'<md:KeyDescriptor use="encryption">.*?<ds:X509Certificate>(.*?)</ds:X509Certificate>',
        metadata,
        re.S,
    )
    return [x509.load_der_x509_certificate(base64.b64decode(body)) for body in found]


@pytest.fixture
def encrypted(harness: Harness) -> tuple[Any, Idp, str]:
    """An active connection with an encryption key, its IdP configured from the SP metadata that
    lists the key's certificate: (connection, IdP, the key)."""
    key_pem, _ = _key_and_cert("sp-encryption")
    org = harness.org()
    connection, idp = harness.connection(
        org.organization_id, before_idp={"saml_encryption_private_key": key_pem}
    )
    return connection, idp, key_pem


def _sp_request_id(harness: Harness, connection: Any, idp: Idp) -> str:
    location, _ = harness.start(connection)
    saml_request = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
    return str(idp.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT).message.id)


def _xml(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def _refused(harness: Harness, connection: Any, saml_response: str) -> None:
    before = harness.server.snapshot()
    response = harness.post_acs(connection, saml_response)
    assert response.status_code == 400, response.text
    assert response.json()["error_type"] == "invalid_saml_response"
    assert harness.server.snapshot() == before


def test_the_encryption_key_is_sealed_listed_without_its_key_and_published_as_a_certificate(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, _, key_pem = encrypted
    listed = harness.client.sso.get_connections(organization_id=connection.organization_id)
    [found] = listed.saml_connections
    [entry] = found.encryption_private_keys
    assert entry.private_key_id and entry.private_key == "" and entry.created_at is not None
    assert "PRIVATE KEY" not in found.model_dump_json()
    with harness.server.store.read() as tx:
        row = harness.server.store.get_saml_connection(tx, None, connection.connection_id)
    assert row is not None
    [stored] = row["config"]["encryption_private_keys"]
    assert "PRIVATE KEY" not in stored["private_key"]  # sealed

    metadata = httpx.get(connection.audience_uri).text
    [certificate] = encryption_certificates(metadata)
    assert certificate.public_key().public_numbers() == _public_numbers(key_pem)  # type: ignore[union-attr]


def test_a_key_saved_without_its_certificate_is_still_published(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    # Keys saved before certificates were kept beside them: the certificate is made from the key.
    connection, _, key_pem = encrypted
    store = harness.server.store
    with store.transaction() as tx:
        row = store.get_saml_connection(tx, None, connection.connection_id)
        assert row is not None
        config = dict(row["config"])
        config["encryption_private_keys"] = [
            {k: v for k, v in entry.items() if k != "certificate"}
            for entry in config["encryption_private_keys"]
        ]
        store.update_saml_connection(tx, row["id"], {"config": config})
    [certificate] = encryption_certificates(httpx.get(connection.audience_uri).text)
    assert certificate.public_key().public_numbers() == _public_numbers(key_pem)  # type: ignore[union-attr]


def test_an_encrypted_assertion_signs_the_member_in(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, idp, _ = encrypted
    address = email()
    request_id = _sp_request_id(harness, connection, idp)
    # The IdP encrypts to the certificate it read from the SP metadata.
    saml_response = idp_response(idp, connection, address, request_id, **ENCRYPTED)
    xml = _xml(saml_response)
    assert "EncryptedAssertion" in xml and address not in xml
    _, query = harness.token_from(harness.post_acs(connection, saml_response))
    done = harness.client.sso.authenticate(sso_token=query["token"])
    assert done.member.email_address == address
    [factor] = done.member_session.authentication_factors
    assert factor.saml_sso_factor.provider_id == connection.connection_id


def test_a_signed_plaintext_assertion_is_still_accepted(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    # docs/DECISIONS.md: an encryption key lets the IdP encrypt; it does not require it.
    connection, idp, _ = encrypted
    address = email()
    request_id = _sp_request_id(harness, connection, idp)
    saml_response = idp_response(idp, connection, address, request_id)
    assert "EncryptedAssertion" not in _xml(saml_response)
    _, query = harness.token_from(harness.post_acs(connection, saml_response))
    assert harness.client.sso.authenticate(sso_token=query["token"]).member.email_address == address


def test_an_assertion_encrypted_to_another_key_is_refused(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, idp, _ = encrypted
    address = email()
    request_id = _sp_request_id(harness, connection, idp)
    _, other_certificate = _key_and_cert("someone-else")
    saml_response = idp_response(
        idp, connection, address, request_id, encrypt_cert_assertion=other_certificate, **ENCRYPTED
    )
    _refused(harness, connection, saml_response)
    members = harness.client.organizations.members.search(
        organization_ids=[connection.organization_id]
    ).members
    assert address not in [m.email_address for m in members]
    # The request was not spent: the IdP can still answer it properly.
    good = idp_response(idp, connection, address, request_id, **ENCRYPTED)
    harness.token_from(harness.post_acs(connection, good))


def test_an_unsigned_assertion_inside_an_encrypted_one_is_refused(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, idp, _ = encrypted
    request_id = _sp_request_id(harness, connection, idp)
    # The Response is signed, the assertion it encrypts is not.
    saml_response = idp_response(
        idp, connection, email(), request_id, sign_assertion=False, **ENCRYPTED
    )
    assert "EncryptedAssertion" in _xml(saml_response)
    _refused(harness, connection, saml_response)


def test_an_encrypted_assertion_signed_by_another_key_is_refused(
    harness: Harness, encrypted: tuple[Any, Idp, str], tmp_path: Any
) -> None:
    # An impostor with the IdP's entity id but its own key, encrypting to the right certificate.
    connection, idp, _ = encrypted
    name = idp.entity_id.rsplit("/", 1)[1]
    impostor = make_idp(tmp_path, connection.audience_uri, connection.acs_url, name)
    assert impostor.entity_id == idp.entity_id and impostor.cert_pem != idp.cert_pem
    request_id = _sp_request_id(harness, connection, idp)
    saml_response = idp_response(impostor, connection, email(), request_id, **ENCRYPTED)
    _refused(harness, connection, saml_response)


def test_a_plain_assertion_beside_an_encrypted_one_is_refused(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    # Each verifies on its own; together they are a wrapping attempt.
    connection, idp, _ = encrypted
    victim, attacker = email(), email()
    saml_response = idp_response(idp, connection, victim, sign_response=False, **ENCRYPTED)
    plain, _ = crafted_response(idp, connection, attacker)
    signed_assertion = re.search(r"<saml:Assertion .*</saml:Assertion>", plain, re.S)
    assert signed_assertion is not None
    xml = _xml(saml_response)
    closing = xml.rindex("</")
    both = xml[:closing] + signed_assertion.group(0) + xml[closing:]
    _refused(harness, connection, base64.b64encode(both.encode()).decode())


def test_after_the_key_is_deleted_an_encrypted_assertion_is_refused(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, idp, _ = encrypted
    [entry] = (
        harness.client.sso.get_connections(organization_id=connection.organization_id)
        .saml_connections[0]
        .encryption_private_keys
    )
    deleted = harness.client.sso.saml.delete_encryption_private_key(
        organization_id=connection.organization_id,
        connection_id=connection.connection_id,
        private_key_id=entry.private_key_id,
    )
    assert deleted.private_key_id == entry.private_key_id
    assert encryption_certificates(httpx.get(connection.audience_uri).text) == []
    # The IdP still encrypts to the certificate it was given.
    request_id = _sp_request_id(harness, connection, idp)
    _refused(harness, connection, idp_response(idp, connection, email(), request_id, **ENCRYPTED))
    # A signed plaintext assertion still signs in.
    harness.token_from(
        harness.post_acs(connection, idp_response(idp, connection, email(), request_id))
    )


def test_a_bad_encryption_key_is_refused_and_changes_nothing(
    harness: Harness, encrypted: tuple[Any, Idp, str]
) -> None:
    connection, _, _ = encrypted
    before = harness.server.snapshot()
    for bad in (
        "not a key",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    ):
        response = httpx.put(
            f"{harness.server.url}/v1/b2b/sso/saml/{connection.organization_id}"
            f"/connections/{connection.connection_id}",
            auth=(harness.server.project_id, harness.server.secret),
            json={"saml_encryption_private_key": bad},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error_type"] == "invalid_request"
    assert harness.server.snapshot() == before
