"""The SAML service provider side, through pysaml2 (signatures checked by Debian's `xmlsec1`):
each connection's SP signing key and certificate, IdP metadata (parsed from a document, or
built from the connection's settings), the AuthnRequest (HTTP-Redirect binding, signed with the
connection's SP key) and the verification of the IdP's `SAMLResponse` (its `EncryptedAssertion`
decrypted with the connection's encryption keys).

No signature or encryption code is written here: pysaml2 signs the request, decrypts and checks
the signatures (through xmlsec1), the audience, recipient, destination and validity window.
pysaml2 reads private keys from files: they are written for the one call, mode 0600 in a
private temporary directory, and removed right after. What it leaves to its caller is done by `services/b2b/sso.py`:
an `InResponseTo` must name an AuthnRequest this server issued (once), and an assertion id is
accepted once (until the assertion expires).
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
# pysaml2's redirect-binding signers are module globals that are handed the key just before
# signing (`saml2.sigver.SIGNER_ALGS`): one signature at a time, or two connections' keys mix.
_SIGNING = threading.Lock()


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


def _key_descriptors(use: str, certificates: list[str]) -> str:
    return "".join(
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{escape(_cert_body(pem))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"</md:KeyDescriptor>"
        for pem in certificates
    )


def sp_metadata(sp: Sp, signing_certificates: list[str], encryption_certificates: list[str]) -> str:
    """The SP metadata document of a connection (what an IdP admin uploads): its signing
    certificates (AuthnRequests are signed) and, when it has encryption keys, the certificates an
    IdP encrypts assertions to."""
    keys = _key_descriptors("signing", signing_certificates) + _key_descriptors(
        "encryption", encryption_certificates
    )
    services = "".join(
        f"<md:AssertionConsumerService Binding={quoteattr(_POST)} Location={quoteattr(url)} "
        f'index="{i}"/>'
        for i, url in enumerate(sp.acs_urls)
    )
    return (
        f'<md:EntityDescriptor xmlns:md="{_MD}" xmlns:ds="{_DS}" '
        f"entityID={quoteattr(sp.audience_uris[0])}>"
        f'<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
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


@contextmanager
def _key_files(pems: list[str]) -> Iterator[list[str]]:
    """`pems` as files for pysaml2 / xmlsec1 (mode 0600, in a directory only this process can
    read), removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="gatehouse-saml-") as directory:
        paths = []
        for i, pem in enumerate(pems):
            path = os.path.join(directory, f"{i}.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(pem)
            paths.append(path)
        yield paths


def _client(
    audience_uri: str,
    acs_urls: list[str],
    metadata: str,
    allow_unsolicited: bool,
    *,
    signing: tuple[str, str] | None = None,
    encryption_key_files: list[str] | None = None,
) -> Any:
    """A pysaml2 SP; `signing` = (key file, certificate file) signs AuthnRequests,
    `encryption_key_files` decrypt `EncryptedAssertion`s."""
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    keys: dict[str, Any] = {}
    if signing is not None:
        keys["key_file"], keys["cert_file"] = signing
    if encryption_key_files:
        keys["encryption_keypairs"] = [{"key_file": path} for path in encryption_key_files]
    config = SPConfig()
    config.load(
        {
            "entityid": audience_uri,
            "xmlsec_binary": xmlsec_binary(),
            "metadata": {"inline": [metadata]},
            "accepted_time_diff": TIME_SLACK_SECONDS,
            "allow_unknown_attributes": True,
            "signing_algorithm": SIG_RSA_SHA256,
            **keys,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(u, _POST) for u in acs_urls]},
                    "allow_unsolicited": allow_unsolicited,
                    # Every assertion must carry its own signature (a decrypted one too); a
                    # response signature, when present, must verify too.
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": signing is not None,
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
    # The SP signing key (PKCS#1 PEM) and its certificate: AuthnRequests are signed with them.
    signing_key: str = ""
    signing_certificate: str = ""
    # The private keys `EncryptedAssertion`s are decrypted with (PEM), newest last.
    encryption_keys: list[str] = field(default_factory=list)


def authn_request(sp: Sp) -> tuple[str, str]:
    """A new AuthnRequest for the HTTP-Redirect binding: (its ID, the IdP URL to redirect to),
    signed (`Signature` and `SigAlg` query parameters, RSA-SHA256) when `sp` has a signing key."""
    metadata = idp_metadata(sp.idp_entity_id, sp.idp_sso_url, sp.certificates)
    pems = [sp.signing_key, sp.signing_certificate] if sp.signing_key else []
    with _key_files(pems) as files:
        # pysaml2 reads the key here; the redirect signature is made from it in memory.
        client = _client(
            sp.audience_uris[0],
            sp.acs_urls,
            metadata,
            False,
            signing=(files[0], files[1]) if files else None,
        )
    with _SIGNING:
        request_id, info = client.prepare_for_authenticate(
            entityid=sp.idp_entity_id,
            relay_state="",
            binding=_REDIRECT,
            nameid_format=sp.nameid_format,
            assertion_consumer_service_url=sp.acs_urls[0],
            sign=bool(pems),
            sigalg=SIG_RSA_SHA256 if pems else None,
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
    metadata = idp_metadata(sp.idp_entity_id, sp.idp_sso_url, sp.certificates)
    with _key_files(sp.encryption_keys) as key_files:
        for audience in sp.audience_uris:
            client = _client(
                audience,
                sp.acs_urls,
                metadata,
                allow_unsolicited,
                encryption_key_files=key_files,
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
                last = ValueError("no assertion (or one no key decrypts)")
                continue
            return _verified(response)
    log.info("SAML response refused: %s: %s", type(last).__name__, last)
    raise invalid("did not verify")


def _verified(response: Any) -> Verified:
    from saml2.time_util import str_to_time

    assertion = response.assertion
    # One assertion per response: a second one (signed or not, plain or encrypted) is a
    # wrapping attempt. pysaml2 lists the plain and the decrypted ones in `assertions`; an
    # encrypted one it could not decrypt stays in the response's `encrypted_assertion`.
    inner = response.response
    if len(response.assertions or []) + len(inner.encrypted_assertion or []) != 1:
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
