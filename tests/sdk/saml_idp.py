"""A pysaml2 identity provider for the SAML tests (tests/sdk/test_sso_saml*.py): its responses
signed (and, when asked, encrypted to the SP) by Debian's xmlsec1, crafted responses for the
attack tests, and a harness driving a real server through the official `stytch` SDK.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import stytch
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.authn_context import PASSWORD
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import pre_signature_part

from tests.databases import throwaway_database
from tests.sdk.support import register_redirect_url, unique
from tests.server import RunningServer, running_server

LOGIN_URL = "https://app.example.test/sso/login"
SIGNUP_URL = "https://app.example.test/sso/signup"
AUTHN = {"class_ref": PASSWORD, "authn_auth": "https://idp.example.test"}
MAPPING = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "groups": "groups",
}


def _key_and_cert(name: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Idp:
    """A pysaml2 IdP for one SP (connection): its server, certificate and metadata."""

    server: Server
    entity_id: str
    sso_url: str
    cert_pem: str
    metadata: str


def make_idp(
    directory: Path,
    audience: str,
    acs_url: str,
    name: str | None = None,
    *,
    want_authn_requests_signed: bool = False,
) -> Idp:
    name = name or uuid.uuid4().hex[:8]
    key_pem, cert_pem = _key_and_cert(f"idp-{name}")
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_text(key_pem)
    cert_file.write_text(cert_pem)
    # The SP metadata the server publishes at the connection's audience URI.
    answer = httpx.get(audience)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/samlmetadata+xml")
    sp_metadata = answer.text
    assert acs_url in sp_metadata
    entity_id = f"https://idp.example.test/{name}"
    sso_url = f"https://idp.example.test/{name}/sso"
    config = IdPConfig()
    config.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "metadata": {"inline": [sp_metadata]},
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "want_authn_requests_signed": want_authn_requests_signed,
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 15},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                        }
                    },
                }
            },
        }
    )
    server = Server(config=config)
    return Idp(server, entity_id, sso_url, cert_pem, str(entity_descriptor(config)))


def identity(address: str, groups: list[str] | None = None) -> dict[str, list[str]]:
    return {
        "email": [address],
        "firstName": ["Ada"],
        "lastName": ["Lovelace"],
        "groups": groups or [],
    }


def idp_response(
    idp: Idp,
    connection: Any,
    address: str,
    in_response_to: str | None = None,
    groups: list[str] | None = None,
    *,
    sign_assertion: bool = True,
    sign_response: bool = True,
    **encryption: Any,
) -> str:
    """A base64 SAMLResponse made by the pysaml2 IdP (signed with its key through xmlsec1;
    `encryption`: pysaml2's `encrypt_assertion`, `encrypt_cert_assertion`, ...)."""
    response = idp.server.create_authn_response(
        identity(address, groups),
        in_response_to=in_response_to,
        destination=connection.acs_url,
        sp_entity_id=connection.audience_uri,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=address),
        authn=AUTHN,
        sign_assertion=sign_assertion,
        sign_response=sign_response,
        **encryption,
    )
    return base64.b64encode(str(response).encode()).decode()


def _b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def _instant(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def crafted_response(
    idp: Idp,
    connection: Any,
    address: str,
    *,
    audience: str | None = None,
    recipient: str | None = None,
    destination: str | None = None,
    not_before: dt.datetime | None = None,
    not_on_or_after: dt.datetime | None = None,
    in_response_to: str | None = None,
    assertion_id: str | None = None,
    signer: Idp | None = None,
    sign: bool = True,
) -> tuple[str, str]:
    """A Response whose every field the test chooses, its assertion signed by `signer`'s key
    (default: the IdP's) through pysaml2's xmlsec1 security context. Returns (xml, assertion id)."""
    now = dt.datetime.now(dt.UTC)
    not_before = not_before or now - dt.timedelta(minutes=1)
    not_on_or_after = not_on_or_after or now + dt.timedelta(minutes=5)
    assertion_id = assertion_id or "_" + uuid.uuid4().hex
    irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
    signer = signer or idp
    signature = str(pre_signature_part(assertion_id, signer.server.sec.my_cert, 1)) if sign else ""
    attributes = "".join(
        f'<saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue>'
        "</saml:Attribute>"
        for name, value in (("email", address), ("firstName", "Eve"), ("lastName", "Mallory"))
    )
    assertion = (
        f'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{assertion_id}" '
        f'Version="2.0" IssueInstant="{_instant(now)}"><saml:Issuer>{idp.entity_id}</saml:Issuer>'
        f"{signature}"
        f'<saml:Subject><saml:NameID Format="{NAMEID_FORMAT_EMAILADDRESS}">{address}</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{_instant(not_on_or_after)}" '
        f'Recipient="{recipient or connection.acs_url}"{irt}/></saml:SubjectConfirmation>'
        "</saml:Subject>"
        f'<saml:Conditions NotBefore="{_instant(not_before)}" '
        f'NotOnOrAfter="{_instant(not_on_or_after)}"><saml:AudienceRestriction>'
        f"<saml:Audience>{audience or connection.audience_uri}</saml:Audience>"
        "</saml:AudienceRestriction></saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_instant(now)}"><saml:AuthnContext>'
        f"<saml:AuthnContextClassRef>{PASSWORD}</saml:AuthnContextClassRef></saml:AuthnContext>"
        f"</saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement>"
        "</saml:Assertion>"
    )
    if sign:
        assertion = signer.server.sec.sign_statement(
            assertion, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", node_id=assertion_id
        )
        assertion = re.sub(r"^<\?xml[^>]*>\s*", "", assertion)
    return (
        response_around(idp, assertion, destination or connection.acs_url, in_response_to),
        assertion_id,
    )


def response_around(
    idp: Idp, assertion: str, destination: str, in_response_to: str | None = None
) -> str:
    now = dt.datetime.now(dt.UTC)
    irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
    return (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_instant(now)}" '
        f'Destination="{destination}"{irt}><saml:Issuer>{idp.entity_id}</saml:Issuer>'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        f"</samlp:Status>{assertion}</samlp:Response>"
    )


class Harness:
    def __init__(self, server: RunningServer, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self.client = stytch.B2BClient(
            server.project_id, server.secret, environment=server.url + "/"
        )

    def org(self, **settings: Any) -> Any:
        name = unique("Org")
        return self.client.organizations.create(
            organization_name=name, organization_slug=name.lower(), **settings
        ).organization

    def connection(
        self,
        org_id: str,
        *,
        before_idp: dict[str, Any] | None = None,
        want_authn_requests_signed: bool = False,
        **update: Any,
    ) -> tuple[Any, Idp]:
        """An active connection of `org_id` whose IdP is a fresh pysaml2 IdP (configured with
        the SP metadata as it is after the `before_idp` update, e.g. an encryption key)."""
        created = self.client.sso.saml.create_connection(
            organization_id=org_id, display_name="Test IdP", identity_provider="generic"
        ).connection
        if before_idp:
            self.client.sso.saml.update_connection(
                organization_id=org_id, connection_id=created.connection_id, **before_idp
            )
        idp = make_idp(
            self.directory,
            created.audience_uri,
            created.acs_url,
            want_authn_requests_signed=want_authn_requests_signed,
        )
        connection = self.client.sso.saml.update_connection(
            organization_id=org_id,
            connection_id=created.connection_id,
            idp_entity_id=idp.entity_id,
            idp_sso_url=idp.sso_url,
            x509_certificate=idp.cert_pem,
            attribute_mapping=MAPPING,
            **update,
        ).connection
        assert connection.status == "active"
        return connection, idp

    def post_acs(self, connection: Any, saml_response: str) -> httpx.Response:
        return httpx.post(
            connection.acs_url, data={"SAMLResponse": saml_response}, follow_redirects=False
        )

    def start(self, connection: Any, **params: str) -> tuple[str, str]:
        """`/v1/public/sso/start`: (the AuthnRequest's ID, its ACS URL) as the IdP reads them."""
        response = httpx.get(
            self.server.url + "/v1/public/sso/start",
            params={"connection_id": connection.connection_id, **params},
            follow_redirects=False,
        )
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        return location, response.text

    def token_from(self, response: httpx.Response) -> tuple[str, dict[str, str]]:
        assert response.status_code == 303, response.text
        parts = urlsplit(response.headers["location"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["stytch_token_type"] == "sso"
        return f"{parts.scheme}://{parts.netloc}{parts.path}", query

    def sp_initiated(
        self,
        connection: Any,
        idp: Idp,
        address: str,
        groups: list[str] | None = None,
        **params: str,
    ) -> tuple[str, dict[str, str]]:
        location, _ = self.start(connection, **params)
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == idp.sso_url
        saml_request = parse_qs(parts.query)["SAMLRequest"][0]
        request = idp.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        assert request.message.assertion_consumer_service_url == connection.acs_url
        response = idp_response(idp, connection, address, request.message.id, groups)
        return self.token_from(self.post_acs(connection, response))


@contextmanager
def serve_harness(tmp_path_factory: Any) -> Iterator[Harness]:
    """A real server on a throwaway database with the app's LOGIN and SIGNUP URLs registered."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url) as server,
    ):
        register_redirect_url(server, LOGIN_URL, ["LOGIN"])
        register_redirect_url(server, SIGNUP_URL, ["SIGNUP"])
        yield Harness(server, tmp_path_factory.mktemp("idp"))
