"""Signed SAML AuthnRequests: `/v1/public/sso/start` signs the HTTP-Redirect request with the
connection's SP key (RSA-SHA256, pysaml2), the SP metadata says `AuthnRequestsSigned="true"`
and lists the signing certificate, and a pysaml2 IdP that wants signed requests (configured
with that metadata) accepts the request, refuses it altered, and refuses it once the SP key was
replaced (until it reads the new metadata).
"""

from __future__ import annotations

import base64
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from saml2 import BINDING_HTTP_REDIRECT
from saml2.response import IncorrectlySigned

from tests.sdk.saml_idp import (
    Harness,
    Idp,
    _key_and_cert,
    idp_response,
    make_idp,
    serve_harness,
)
from tests.sdk.support import email

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is missing")

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serve_harness(tmp_path_factory) as harness:
        yield harness


@pytest.fixture
def target(harness: Harness) -> tuple[Any, Idp]:
    org = harness.org()
    return harness.connection(org.organization_id, want_authn_requests_signed=True)


def _query(harness: Harness, connection: Any) -> dict[str, str]:
    location, _ = harness.start(connection)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _parse(idp: Idp, query: dict[str, str]) -> Any:
    return idp.server.parse_authn_request(
        query["SAMLRequest"],
        BINDING_HTTP_REDIRECT,
        relay_state=query.get("RelayState"),
        sigalg=query.get("SigAlg"),
        signature=query.get("Signature"),
    )


def _inflate(saml_request: str) -> str:
    return zlib.decompress(base64.b64decode(saml_request), -15).decode()


def _deflate(xml: str) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml.encode()) + compressor.flush()).decode()


def test_the_sp_metadata_says_requests_are_signed_and_lists_the_certificate(
    target: tuple[Any, Idp],
) -> None:
    connection, _ = target
    metadata = httpx.get(connection.audience_uri).text
    assert 'AuthnRequestsSigned="true"' in metadata
    [published] = re.findall(
        r'<md:KeyDescriptor use="signing">.*?<ds:X509Certificate>(.*?)</ds:X509Certificate>',
        metadata,
        re.S,
    )
    [certificate] = connection.signing_certificates
    body = "".join(
        line for line in certificate.certificate.splitlines() if not line.startswith("-----")
    )
    assert published == body


def test_an_idp_that_wants_signed_requests_accepts_the_request_and_signs_the_member_in(
    harness: Harness, target: tuple[Any, Idp]
) -> None:
    connection, idp = target
    query = _query(harness, connection)
    assert query["SigAlg"] == RSA_SHA256 and query["Signature"]
    request = _parse(idp, query)
    assert request.message.assertion_consumer_service_url == connection.acs_url
    address = email()
    saml_response = idp_response(idp, connection, address, request.message.id)
    _, token = harness.token_from(harness.post_acs(connection, saml_response))
    assert harness.client.sso.authenticate(sso_token=token["token"]).member.email_address == address


@pytest.mark.parametrize("tamper", ["relay_state", "request", "unsigned", "sigalg"])
def test_an_altered_request_fails_the_idps_check(
    harness: Harness, target: tuple[Any, Idp], tamper: str
) -> None:
    connection, idp = target
    query = _query(harness, connection)
    if tamper == "relay_state":
        query["RelayState"] = "https://attacker.example.test/"
    elif tamper == "request":
        # The ACS URL changed to the attacker's, the signature kept.
        xml = _inflate(query["SAMLRequest"]).replace(
            connection.acs_url, "https://attacker.example.test/acs"
        )
        assert "attacker" in xml
        query["SAMLRequest"] = _deflate(xml)
    elif tamper == "unsigned":
        del query["Signature"], query["SigAlg"]
    else:
        query["SigAlg"] = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    with pytest.raises(IncorrectlySigned):
        _parse(idp, query)


def test_a_new_sp_key_signs_requests_the_new_metadata_verifies(
    harness: Harness, target: tuple[Any, Idp], tmp_path: Path
) -> None:
    connection, idp = target
    key_pem, _ = _key_and_cert("sp-new")
    harness.client.sso.saml.update_connection(
        organization_id=connection.organization_id,
        connection_id=connection.connection_id,
        signing_private_key=key_pem,
    )
    query = _query(harness, connection)
    # The IdP still holds the old SP certificate: refused.
    with pytest.raises(IncorrectlySigned):
        _parse(idp, query)
    # The same IdP, given the new metadata, verifies it.
    fresh = make_idp(
        tmp_path,
        connection.audience_uri,
        connection.acs_url,
        idp.entity_id.rsplit("/", 1)[1],
        want_authn_requests_signed=True,
    )
    assert _parse(fresh, query).message.id
