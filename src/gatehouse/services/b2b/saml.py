"""The SAML service provider side, through pysaml2 (signatures checked by Debian's `xmlsec1`):
each connection's SP signing key and certificate, IdP metadata (parsed from a document, or
built from the connection's settings), the AuthnRequest (HTTP-Redirect binding) and the
verification of the IdP's `SAMLResponse`.

No signature code is written here: pysaml2 checks the signatures, the audience, recipient,
destination and validity window. What it leaves to its caller is done by `services/b2b/sso.py`:
an `InResponseTo` must name an AuthnRequest this server issued (once), and an assertion id is
accepted once (until the assertion expires).
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gatehouse.errors import Code, InvalidInput

log = logging.getLogger(__name__)

NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
# Clock skew tolerated on NotBefore / NotOnOrAfter, in seconds.
TIME_SLACK_SECONDS = 60
MAX_RESPONSE_BYTES = 256 * 1024


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise RuntimeError("xmlsec1 is missing: install Debian's xmlsec1 (apt-get install xmlsec1)")
    return found


def new_signing_key(common_name: str, now: dt.datetime) -> tuple[str, str]:
    """A fresh RSA key (PKCS#1 PEM) and its self-signed certificate (PEM), valid ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pem(key), certificate_for(key, common_name, now)


def certificate_for(key: rsa.RSAPrivateKey, common_name: str, now: dt.datetime) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def load_private_key(pem: str, field: str) -> rsa.RSAPrivateKey:
    """A PKCS#1 RSA private key as Stytch takes it, or 400 naming `field`."""
    if "BEGIN RSA PRIVATE KEY" not in pem:
        raise InvalidInput(
            f"`{field}` must be a PKCS#1 RSA private key (-----BEGIN RSA PRIVATE KEY-----)",
            code=Code.INVALID_REQUEST,
        )
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput(
            f"`{field}` is not a readable RSA private key", code=Code.INVALID_REQUEST
        )
    return key


@dataclass(frozen=True, slots=True)
class Certificate:
    pem: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime


def read_certificate(pem: str, field: str = "x509_certificate") -> Certificate:
    text = pem.strip()
    if "BEGIN CERTIFICATE" not in text:
        # A bare base64 body, as metadata documents carry it.
        body = "".join(text.split())
        text = (
            "-----BEGIN CERTIFICATE-----\n"
            + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
            + "\n-----END CERTIFICATE-----"
        )
    try:
        cert = x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise InvalidInput(
            f"`{field}` is not a PEM X.509 certificate", code=Code.INVALID_REQUEST
        ) from None
    issuer = ", ".join(a.rfc4514_string() for a in cert.issuer) or "unknown"
    return Certificate(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        issuer,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )


def _cert_body(pem: str) -> str:
    return "".join(
        line for line in pem.strip().splitlines() if line and not line.startswith("-----")
    )


def idp_metadata(entity_id: str, sso_url: str, certificates: list[str]) -> str:
    """An IdP metadata document built from a connection's settings (what pysaml2 reads)."""
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{escape(_cert_body(pem))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"</md:KeyDescriptor>"
        for pem in certificates
    )
    return (
        f'<md:EntityDescriptor xmlns:md="{_MD}" xmlns:ds="{_DS}" entityID={quoteattr(entity_id)}>'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}"
        f"<md:SingleSignOnService Binding={quoteattr(_REDIRECT)} Location={quoteattr(sso_url)}/>"
        f"</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def sp_metadata(sp: Sp, signing_certificates: list[str]) -> str:
    """The SP metadata document of a connection (what an IdP admin uploads)."""
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{escape(_cert_body(pem))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"</md:KeyDescriptor>"
        for pem in signing_certificates
    )
    services = "".join(
        f"<md:AssertionConsumerService Binding={quoteattr(_POST)} Location={quoteattr(url)} "
        f'index="{i}"/>'
        for i, url in enumerate(sp.acs_urls)
    )
    return (
        f'<md:EntityDescriptor xmlns:md="{_MD}" xmlns:ds="{_DS}" '
        f"entityID={quoteattr(sp.audience_uris[0])}>"
        f'<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" '
        f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}<md:NameIDFormat>{escape(sp.nameid_format)}</md:NameIDFormat>{services}"
        f"</md:SPSSODescriptor></md:EntityDescriptor>"
    )


@dataclass(frozen=True, slots=True)
class IdpSettings:
    entity_id: str
    sso_url: str
    certificates: list[str]


def parse_idp_metadata(document: bytes) -> IdpSettings:
    """The IdP's entity id, HTTP-Redirect SSO URL and signing certificates from a metadata
    document (parsed by pysaml2), or 400."""
    from saml2 import md
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS  # noqa: F401  (loads saml2's schemas)

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"the IdP metadata {why}", code=Code.INVALID_SAML_METADATA)

    try:
        entity = md.entity_descriptor_from_string(document.decode("utf-8"))
    except Exception:  # pysaml2 raises many kinds on malformed XML
        entity = None
    if entity is None:
        raise bad("is not a SAML EntityDescriptor document")
    descriptors = entity.idpsso_descriptor or []
    if not descriptors:
        raise bad("has no IDPSSODescriptor")
    idp = descriptors[0]
    sso_url = next(
        (s.location for s in idp.single_sign_on_service or [] if s.binding == _REDIRECT), None
    )
    if not entity.entity_id or not sso_url:
        raise bad("names no entityID or no HTTP-Redirect SingleSignOnService")
    certificates = []
    for key in idp.key_descriptor or []:
        if key.use not in (None, "signing"):
            continue
        for data in key.key_info.x509_data or []:
            body = data.x509_certificate.text if data.x509_certificate else None
            if body:
                certificates.append(read_certificate(body, "metadata certificate").pem)
    return IdpSettings(entity.entity_id, sso_url, certificates)


def _client(audience_uri: str, acs_urls: list[str], metadata: str, allow_unsolicited: bool) -> Any:
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    config = SPConfig()
    config.load(
        {
            "entityid": audience_uri,
            "xmlsec_binary": xmlsec_binary(),
            "metadata": {"inline": [metadata]},
            "accepted_time_diff": TIME_SLACK_SECONDS,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(u, _POST) for u in acs_urls]},
                    "allow_unsolicited": allow_unsolicited,
                    # Every assertion must carry its own signature; a response signature, when
                    # present, must verify too.
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": False,
                    "only_use_keys_in_metadata": True,
                    "name_id_format_allow_create": True,
                }
            },
        }
    )
    return Saml2Client(config=config)


@dataclass(frozen=True, slots=True)
class Sp:
    """What the SP side of one connection needs."""

    audience_uris: list[str]  # the first is the entityID used in AuthnRequests
    acs_urls: list[str]  # the first is the AssertionConsumerServiceURL requested
    idp_entity_id: str
    idp_sso_url: str
    certificates: list[str]
    nameid_format: str


def authn_request(sp: Sp) -> tuple[str, str]:
    """A new AuthnRequest for the HTTP-Redirect binding: (its ID, the IdP URL to redirect to)."""
    client = _client(
        sp.audience_uris[0],
        sp.acs_urls,
        idp_metadata(sp.idp_entity_id, sp.idp_sso_url, sp.certificates),
        False,
    )
    request_id, info = client.prepare_for_authenticate(
        entityid=sp.idp_entity_id,
        relay_state="",
        nameid_format=sp.nameid_format,
        assertion_consumer_service_url=sp.acs_urls[0],
    )
    location = dict(info["headers"])["Location"]
    return str(request_id), str(location)


@dataclass(frozen=True, slots=True)
class Verified:
    """A response that verified: who it names, and what the caller still has to check."""

    name_id: str
    attributes: dict[str, list[str]]
    in_response_to: str | None
    assertion_id: str
    expires_at: dt.datetime


def verify_response(sp: Sp, saml_response: str, allow_unsolicited: bool) -> Verified:
    """Check the base64 `SAMLResponse` with pysaml2, or raise 400 `invalid_saml_response` (the
    reason is logged, not told)."""
    if len(saml_response) > MAX_RESPONSE_BYTES:
        raise invalid("is too large")
    try:
        base64.b64decode(saml_response, validate=False)
    except ValueError:
        raise invalid("is not base64") from None
    from saml2 import BINDING_HTTP_POST

    last: Exception | None = None
    for audience in sp.audience_uris:
        client = _client(
            audience,
            sp.acs_urls,
            idp_metadata(sp.idp_entity_id, sp.idp_sso_url, sp.certificates),
            allow_unsolicited,
        )
        try:
            # Without `conv_info`, pysaml2 does not check the SubjectConfirmationData's
            # Recipient; with it, the recipient must be one of our ACS URLs.
            response = client.parse_authn_request_response(
                saml_response,
                BINDING_HTTP_POST,
                outstanding={},
                conv_info={"entity_id": sp.acs_urls[0]},
            )
        except Exception as error:  # pysaml2's refusals are many exception types
            last = error
            continue
        if response is None or response.assertion is None:
            last = ValueError("no assertion")
            continue
        return _verified(response)
    log.info("SAML response refused: %s: %s", type(last).__name__, last)
    raise invalid("did not verify")


def _verified(response: Any) -> Verified:
    from saml2.time_util import str_to_time

    assertion = response.assertion
    # One assertion per response: a second one (signed or not) is a wrapping attempt.
    inner = response.response
    if len(inner.assertion or []) + len(inner.encrypted_assertion or []) != 1:
        raise invalid("carries more than one assertion")
    if response.issuer() is None:
        raise invalid("names no issuer")
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    conditions = assertion.conditions
    if conditions is not None and conditions.not_on_or_after:
        parsed = str_to_time(conditions.not_on_or_after)
        expires = dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
    name_id = response.name_id.text if response.name_id is not None else ""
    if not name_id or not assertion.id:
        raise invalid("names no subject")
    in_response_to = response.in_response_to or None
    for confirmation in assertion.subject.subject_confirmation or []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.in_response_to:
            if in_response_to is not None and data.in_response_to != in_response_to:
                raise invalid("answers two different requests")
            in_response_to = data.in_response_to
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [v.text.strip() for v in attribute.attribute_value or [] if v.text is not None]
            attributes.setdefault(attribute.name, []).extend(values)
    return Verified(name_id.strip(), attributes, in_response_to, str(assertion.id), expires)


def invalid(why: str) -> InvalidInput:
    return InvalidInput(
        f"the SAML response {why}: sign in again from the start",
        code=Code.INVALID_SAML_RESPONSE,
    )
