"""Multi-factor authentication through the official `stytch` SDK against a real server: TOTP
(codes computed here with pyotp from the secret the server returned), recovery codes, SMS codes
read from a real local HTTP server acting as the webhook sender's gateway, the organization's
`mfa_policy` forcing a second step after password, magic-link, email-code and discovery
sign-in, and the seed's MFA actions under a member session header.

Every refusal is checked by status and `error_type`, and that it changed nothing
(`server.snapshot()`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import re
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pyotp
import pytest
import stytch
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from stytch.b2b.models.organizations import UpdateRequestOptions as OrgUpdateOptions
from stytch.b2b.models.organizations_members import (
    DeleteMFAPhoneNumberRequestOptions,
    DeleteTOTPRequestOptions,
)
from stytch.b2b.models.organizations_members import UpdateRequestOptions as MemberUpdateOptions
from stytch.shared.method_options import Authorization

from gatehouse.services import clock
from gatehouse.services.sms import LogSender
from gatehouse.storage.sql import tables
from tests.dashboard.test_sign_in import Mailbox, _free_port
from tests.databases import throwaway_database
from tests.sdk.support import (
    PASSWORD,
    bcrypt_hash,
    email,
    register_redirect_url,
    stytch_error,
    unique,
)
from tests.server import RunningServer, another_node, running_server

SMS_SECRET = "gateway-shared-secret"
LOGIN_URL = "https://app.example.test/authenticate"
DISCOVERY_URL = "https://app.example.test/discovery"
_LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")
_EMAIL_CODE = re.compile(r"^[ \t]+([0-9]{6})\s*$", re.MULTILINE)
_SMS_CODE = re.compile(r"\b([0-9]{6})\b")


class Gateway:
    """An SMS gateway: a real HTTP server on 127.0.0.1 that keeps the texts it is POSTed,
    after checking their signature."""

    def __init__(self) -> None:
        self.texts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.bad_signatures = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = (
                    "sha256=" + hmac.new(SMS_SECRET.encode(), body, hashlib.sha256).hexdigest()
                )
                if not hmac.compare_digest(self.headers.get("X-Gatehouse-Signature", ""), expected):
                    gateway.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                gateway.texts.put(json.loads(body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/texts"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def take(self, number: str) -> str:
        """The code in the next text to `number`."""
        text = self.texts.get(timeout=10)
        assert text["to"] == number, text
        found = _SMS_CODE.search(text["body"])
        assert found, text
        return found.group(1)

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class World:
    def __init__(self, server: RunningServer, mailbox: Mailbox, gateway: Gateway) -> None:
        self.server = server
        self.mailbox = mailbox
        self.gateway = gateway
        self.client = stytch.B2BClient(
            server.project_id, server.secret, environment=server.url + "/"
        )

    def org(self, **settings: Any) -> Any:
        name = unique("Org")
        return self.client.organizations.create(
            organization_name=name, organization_slug=name.lower(), **settings
        ).organization

    def member(self, org_id: str, address: str | None = None, **fields: Any) -> Any:
        """A member with a password (PASSWORD)."""
        address = address or email()
        roles = fields.pop("roles", None)
        if fields:
            self.client.organizations.members.create(
                organization_id=org_id, email_address=address, **fields
            )
        return self.client.passwords.migrate(
            email_address=address,
            hash=bcrypt_hash(),
            hash_type="bcrypt",
            organization_id=org_id,
            **({"roles": roles} if roles else {}),
        ).member

    def password(self, org_id: str, address: str) -> Any:
        return self.client.passwords.authenticate(
            organization_id=org_id, email_address=address, password=PASSWORD
        )

    def email_body(self, address: str) -> str:
        message = self.mailbox.take(address)
        body = message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def expire_codes(self) -> None:
        past = clock.now().replace(year=2000)
        with self.server.store.engine.begin() as conn:
            conn.execute(update(tables.member_email_tokens).values(expires_at=past))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    gateway = Gateway()
    try:
        with (
            throwaway_database(tmp_path_factory.mktemp("db")) as url,
            running_server(
                url,
                smtp_host="127.0.0.1",
                smtp_port=smtp.port,
                sms_sender="webhook",
                sms_webhook_url=gateway.url,
                sms_webhook_secret=SMS_SECRET,
            ) as server,
        ):
            register_redirect_url(server, LOGIN_URL, ["LOGIN"])
            register_redirect_url(server, DISCOVERY_URL, ["DISCOVERY"])
            yield World(server, mailbox, gateway)
    finally:
        gateway.stop()
        smtp.stop()


def _assert_square_png(data_url: str) -> None:
    """A QR code an authenticator app can scan from an `<img src>`: a PNG data URL of a square
    image at least 21 modules (QR version 1) wide."""
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix), data_url[:40]
    png = base64.b64decode(data_url[len(prefix) :], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height >= 21


def _now_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def _next_code(secret: str) -> str:
    # The next 30 s step: inside the server's one-step skew, and later than any code used yet.
    return pyotp.TOTP(secret).at(time.time() + 30)


def _factors(session: Any) -> list[tuple[str, str]]:
    return [(f.type, f.delivery_method) for f in session.authentication_factors]


def _events(server: RunningServer, action: str) -> list[Any]:
    with server.store.read() as tx:
        return server.store.query_events(tx, server.project_id, action=action, limit=1000)


# -- TOTP --------------------------------------------------------------------------------------


def test_totp_enrolment_then_every_sign_in_needs_a_code(world: World) -> None:
    c, server = world.client, world.server
    org = world.org()
    address = email()
    member = world.member(org.organization_id, address)
    signed_in = world.password(org.organization_id, address)
    assert signed_in.member_authenticated is True and signed_in.mfa_required is None

    created = c.totps.create(
        organization_id=org.organization_id,
        member_id=member.member_id,
        session_token=signed_in.session_token,
    )
    assert created.secret and len(created.recovery_codes) == 10
    assert created.member.totp_registration_id == ""  # not verified yet
    _assert_square_png(created.qr_code)
    secret = created.secret

    enrolled = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_now_code(secret),
        session_token=signed_in.session_token,
        set_mfa_enrollment="enroll",
        set_default_mfa=True,
    )
    assert enrolled.session_token == signed_in.session_token
    assert enrolled.member.mfa_enrolled is True
    assert enrolled.member.default_mfa_method == "totp"
    assert enrolled.member.totp_registration_id == created.totp_registration_id
    assert _factors(enrolled.member_session) == [
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]
    assert _events(server, "member.totp_authenticate")

    # The code just used is refused the second time; so is a wrong one; nothing changes.
    before = server.snapshot()
    for bad in (_now_code(secret), "000000" if _now_code(secret) != "000000" else "111111"):
        with stytch_error(401, "invalid_totp_code"):
            c.totps.authenticate(
                organization_id=org.organization_id,
                member_id=member.member_id,
                code=bad,
                session_token=signed_in.session_token,
            )
    assert server.snapshot() == before

    # Enrolled: a password opens no session, only an intermediate session.
    pending = world.password(org.organization_id, address)
    assert pending.member_authenticated is False
    assert pending.session_token == "" and pending.session_jwt == ""
    assert pending.member_session is None and pending.intermediate_session_token
    assert pending.mfa_required is not None
    assert pending.mfa_required.member_options is not None
    assert pending.mfa_required.member_options.totp_registration_id == (
        created.totp_registration_id
    )
    assert pending.mfa_required.secondary_auth_initiated is None

    # A code from two steps ago is outside the window.
    before = server.snapshot()
    with stytch_error(401, "invalid_totp_code"):
        c.totps.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code=pyotp.TOTP(secret).at(time.time() - 90),
            intermediate_session_token=pending.intermediate_session_token,
        )
    assert server.snapshot() == before

    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_next_code(secret),
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert done.session_token and done.session_jwt
    assert _factors(done.member_session) == [
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]
    assert c.sessions.authenticate(session_token=done.session_token).member_session.member_id == (
        member.member_id
    )
    # The intermediate session is spent.
    before = server.snapshot()
    with stytch_error(404, "intermediate_session_not_found"):
        c.totps.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code=_now_code(secret),
            intermediate_session_token=pending.intermediate_session_token,
        )
    assert server.snapshot() == before

    # A second registration while one is active is refused.
    with stytch_error(400, "active_totp_exists"):
        c.totps.create(organization_id=org.organization_id, member_id=member.member_id)


def test_the_totp_secret_is_sealed_and_recovery_codes_are_digests(world: World) -> None:
    c, server = world.client, world.server
    org = world.org()
    member = world.member(org.organization_id)
    created = c.totps.create(organization_id=org.organization_id, member_id=member.member_id)
    with server.store.engine.connect() as conn:
        sealed = conn.execute(
            select(tables.member_totps.c.secret_sealed).where(
                tables.member_totps.c.member_id == member.member_id
            )
        ).scalar_one()
        hashes = (
            conn.execute(
                select(tables.member_recovery_codes.c.code_hash).where(
                    tables.member_recovery_codes.c.member_id == member.member_id
                )
            )
            .scalars()
            .all()
        )
    assert sealed.startswith("fernet:") and created.secret not in sealed
    assert len(hashes) == 10
    for code in created.recovery_codes:
        assert all(code not in h for h in hashes)
    url = server.store.engine.url
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        for path in database.parent.glob(database.name + "*"):  # the file, its WAL
            raw = path.read_bytes()
            assert created.secret.encode() not in raw
            for code in created.recovery_codes:
                assert code.encode() not in raw
    # Never shown again: the member object has no secret, and `get` shows the codes masked.
    member_now = c.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert created.secret not in member_now.model_dump_json()


def test_totp_migrate_and_recovery_codes(world: World) -> None:
    c, server = world.client, world.server
    org = world.org()
    address = email()
    member = world.member(org.organization_id, address, mfa_enrolled=True)
    secret = pyotp.random_base32()
    codes = [f"abcd-efgh-{n:04d}" for n in range(3)]
    migrated = c.totps.migrate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        secret=secret,
        recovery_codes=codes,
    )
    assert migrated.recovery_codes == codes
    assert migrated.member.totp_registration_id == migrated.totp_registration_id

    pending = world.password(org.organization_id, address)
    assert pending.member_authenticated is False
    recovered = c.recovery_codes.recover(
        organization_id=org.organization_id,
        member_id=member.member_id,
        recovery_code=codes[0],
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert recovered.recovery_codes_remaining == 2
    assert recovered.session_token and recovered.member_session is not None
    assert _factors(recovered.member_session) == [
        ("password", "knowledge"),
        ("recovery_codes", "recovery_code"),
    ]

    # Used once: refused with a fresh intermediate session, which stays unspent.
    pending = world.password(org.organization_id, address)
    before = server.snapshot()
    for bad in (codes[0], "zzzz-zzzz-zzzz"):
        with stytch_error(401, "invalid_recovery_code"):
            c.recovery_codes.recover(
                organization_id=org.organization_id,
                member_id=member.member_id,
                recovery_code=bad,
                intermediate_session_token=pending.intermediate_session_token,
            )
    assert server.snapshot() == before

    shown = c.recovery_codes.get(organization_id=org.organization_id, member_id=member.member_id)
    assert len(shown.recovery_codes) == 2 and all("*" in s for s in shown.recovery_codes)

    rotated = c.recovery_codes.rotate(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert len(rotated.recovery_codes) == 10 and not set(rotated.recovery_codes) & set(codes)
    with stytch_error(401, "invalid_recovery_code"):
        c.recovery_codes.recover(
            organization_id=org.organization_id,
            member_id=member.member_id,
            recovery_code=codes[1],
            intermediate_session_token=pending.intermediate_session_token,
        )
    done = c.recovery_codes.recover(
        organization_id=org.organization_id,
        member_id=member.member_id,
        recovery_code=rotated.recovery_codes[0],
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert done.recovery_codes_remaining == 9

    # The migrated secret works for TOTP too (computed here).
    pending = world.password(org.organization_id, address)
    totp = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_now_code(secret),
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert totp.member_session.member_id == member.member_id

    # delete_totp: the registration and its codes go; sign-in then owes enrolment again.
    deleted = c.organizations.members.delete_totp(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert deleted.member.totp_registration_id == ""
    with stytch_error(404, "totp_not_found"):
        c.recovery_codes.get(organization_id=org.organization_id, member_id=member.member_id)
    again = world.password(org.organization_id, address)
    assert again.member_authenticated is False and again.mfa_required.member_options is None


# -- SMS ---------------------------------------------------------------------------------------


def test_sms_codes_through_the_webhook_gateway(world: World) -> None:
    c, server, gateway = world.client, world.server, world.gateway
    org = world.org(mfa_policy="REQUIRED_FOR_ALL")
    address = email()
    member = world.member(org.organization_id, address)
    number = "+15555550" + f"{int(time.time() * 1000) % 1000:03d}"

    pending = world.password(org.organization_id, address)
    assert pending.member_authenticated is False
    assert pending.mfa_required.member_options is None  # nothing enrolled yet

    before = server.snapshot()
    with pytest.raises(stytch.core.response_base.StytchError) as refused:
        c.otps.sms.send(
            organization_id=org.organization_id,
            member_id=member.member_id,
            mfa_phone_number="12345",
        )
    assert refused.value.details.status_code == 400
    assert server.snapshot() == before

    sent = c.otps.sms.send(
        organization_id=org.organization_id,
        member_id=member.member_id,
        mfa_phone_number=number,
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert sent.member.mfa_phone_number == number
    assert sent.member.mfa_phone_number_verified is False
    code = gateway.take(number)
    assert gateway.bad_signatures == 0

    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.sms.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code="000000" if code != "000000" else "111111",
            intermediate_session_token=pending.intermediate_session_token,
        )
    # A wrong guess counts against the code (its attempts), and nothing else changes.
    with server.store.engine.connect() as conn:
        attempts = conn.execute(
            select(tables.member_email_tokens.c.attempts).where(
                tables.member_email_tokens.c.member_id == member.member_id,
                tables.member_email_tokens.c.purpose == "sms_otp",
            )
        ).scalar_one()
    assert attempts == 1
    assert not _events(server, "member.sms_otp_authenticate") or all(
        e["target"] != member.member_id for e in _events(server, "member.sms_otp_authenticate")
    )

    done = c.otps.sms.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=code,
        intermediate_session_token=pending.intermediate_session_token,
        set_mfa_enrollment="enroll",
    )
    assert done.member.mfa_phone_number_verified is True and done.member.mfa_enrolled is True
    assert _factors(done.member_session) == [("password", "knowledge"), ("otp", "sms")]
    assert done.member_session.authentication_factors[1].phone_number_factor.phone_number == number
    # The event log has each step, never the code.
    logged = [
        e
        for action in ("member.sms_otp_send", "member.sms_otp_authenticate", "member.mfa_required")
        for e in _events(server, action)
        if e["target"] == member.member_id
    ]
    assert {e["action"] for e in logged} == {
        "member.sms_otp_send",
        "member.sms_otp_authenticate",
        "member.mfa_required",
    }
    assert all(code not in json.dumps(e["changes"]) for e in logged)

    # Reused: refused, nothing changes.
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.sms.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code=code,
            session_token=done.session_token,
        )
    assert server.snapshot() == before

    # Enrolled with a verified number: the primary factor texts a code by itself.
    second = world.password(org.organization_id, address)
    assert second.mfa_required.member_options.mfa_phone_number == number
    assert second.mfa_required.secondary_auth_initiated == "sms_otp"
    auto = gateway.take(number)

    # With a verified number, texting again needs proof of the member.
    before = server.snapshot()
    with stytch_error(400, "invalid_request"):
        c.otps.sms.send(organization_id=org.organization_id, member_id=member.member_id)
    assert server.snapshot() == before
    assert gateway.texts.empty()

    again = c.otps.sms.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=auto,
        intermediate_session_token=second.intermediate_session_token,
        set_default_mfa=True,
    )
    assert _factors(again.member_session) == [("password", "knowledge"), ("otp", "sms")]
    assert again.member.default_mfa_method == "sms_otp"
    second = world.password(org.organization_id, address)
    assert gateway.take(number)

    # Expired: refused, nothing changes.
    c.otps.sms.send(
        organization_id=org.organization_id,
        member_id=member.member_id,
        intermediate_session_token=second.intermediate_session_token,
    )
    late = gateway.take(number)
    world.expire_codes()
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.sms.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code=late,
            intermediate_session_token=second.intermediate_session_token,
        )
    assert server.snapshot() == before

    # Another number than the member's is refused; after deleting it, a new one may be set.
    before = server.snapshot()
    with stytch_error(409, "member_phone_number_already_set"):
        c.otps.sms.send(
            organization_id=org.organization_id,
            member_id=member.member_id,
            mfa_phone_number="+15555559999",
            intermediate_session_token=second.intermediate_session_token,
        )
    assert server.snapshot() == before
    cleared = c.organizations.members.delete_mfa_phone_number(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert cleared.member.mfa_phone_number == ""
    assert cleared.member.default_mfa_method == ""
    c.otps.sms.send(
        organization_id=org.organization_id,
        member_id=member.member_id,
        mfa_phone_number="+15555559999",
    )
    assert gateway.take("+15555559999")


# -- the policy after each primary factor -----------------------------------------------------


def _enrol_totp(world: World, org_id: str, member_id: str, pending: Any) -> tuple[str, Any]:
    """Enrol a TOTP with the intermediate session a primary factor answered: returns the secret
    and the completed sign-in."""
    c = world.client
    token = pending.intermediate_session_token
    created = c.totps.create(
        organization_id=org_id, member_id=member_id, intermediate_session_token=token
    )
    done = c.totps.authenticate(
        organization_id=org_id,
        member_id=member_id,
        code=_now_code(created.secret),
        intermediate_session_token=token,
    )
    return created.secret, done


def test_required_for_all_after_magic_link_email_code_and_discovery(world: World) -> None:
    c = world.client
    org = world.org(mfa_policy="REQUIRED_FOR_ALL")

    # Magic link.
    address = email()
    member = world.member(org.organization_id, address)
    c.magic_links.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    token = _LINK_TOKEN.search(world.email_body(address))
    assert token
    pending = c.magic_links.authenticate(magic_links_token=token.group(1))
    assert pending.member_authenticated is False and pending.session_token == ""
    assert pending.member_session is None and pending.intermediate_session_token
    secret, done = _enrol_totp(world, org.organization_id, member.member_id, pending)
    assert _factors(done.member_session) == [("magic_link", "email"), ("totp", "authenticator_app")]

    # Email one-time code, same member (now with a TOTP).
    c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    code = _EMAIL_CODE.search(world.email_body(address))
    assert code
    pending = c.otps.email.authenticate(
        organization_id=org.organization_id, email_address=address, code=code.group(1)
    )
    assert pending.member_authenticated is False
    assert pending.mfa_required.member_options.totp_registration_id
    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_next_code(secret),
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert _factors(done.member_session) == [("otp", "email"), ("totp", "authenticator_app")]

    # Discovery: the exchange into the organization owes the second factor too.
    other = email()
    second = world.member(org.organization_id, other)
    c.magic_links.email.discovery.send(email_address=other)
    token = _LINK_TOKEN.search(world.email_body(other))
    assert token
    found = c.magic_links.discovery.authenticate(discovery_magic_links_token=token.group(1))
    exchanged = c.discovery.intermediate_sessions.exchange(
        intermediate_session_token=found.intermediate_session_token,
        organization_id=org.organization_id,
    )
    assert exchanged.member_authenticated is False and exchanged.session_token == ""
    assert exchanged.intermediate_session_token != found.intermediate_session_token
    _, done = _enrol_totp(world, org.organization_id, second.member_id, exchanged)
    assert _factors(done.member_session) == [("magic_link", "email"), ("totp", "authenticator_app")]

    # A breakglass member skips MFA.
    glass = email()
    world.member(org.organization_id, glass, is_breakglass=True)
    assert world.password(org.organization_id, glass).member_authenticated is True


def test_a_second_factor_needs_the_members_own_proof(world: World) -> None:
    c, server = world.client, world.server
    org = world.org(mfa_policy="REQUIRED_FOR_ALL")
    one, two = email(), email()
    first = world.member(org.organization_id, one)
    other = world.member(org.organization_id, two)
    c.totps.migrate(
        organization_id=org.organization_id,
        member_id=first.member_id,
        secret=pyotp.random_base32(),
        recovery_codes=["abcd-efgh-ijkl"],
    )
    pending = world.password(org.organization_id, one)
    before = server.snapshot()
    with stytch_error(400, "session_member_mismatch"):
        c.totps.create(
            organization_id=org.organization_id,
            member_id=other.member_id,
            intermediate_session_token=pending.intermediate_session_token,
        )
    # A right code with no intermediate session or session: refused, and still unused.
    with stytch_error(400, "invalid_request"):
        c.recovery_codes.recover(
            organization_id=org.organization_id,
            member_id=first.member_id,
            recovery_code="abcd-efgh-ijkl",
        )
    assert server.snapshot() == before
    done = c.recovery_codes.recover(
        organization_id=org.organization_id,
        member_id=first.member_id,
        recovery_code="abcd-efgh-ijkl",
        intermediate_session_token=pending.intermediate_session_token,
    )
    assert done.recovery_codes_remaining == 0


# -- the seed's MFA actions under a member session header -------------------------------------


def test_mfa_settings_are_enforced_with_a_member_session(world: World) -> None:
    c, server = world.client, world.server
    org = world.org()
    admin_address, plain_address, target_address = email(), email(), email()
    world.member(org.organization_id, admin_address, roles=["stytch_admin"])
    plain = world.member(org.organization_id, plain_address)
    target = world.member(org.organization_id, target_address, mfa_phone_number="+15555550111")
    admin_session = world.password(org.organization_id, admin_address).session_token
    plain_session = world.password(org.organization_id, plain_address).session_token

    def auth(token: str) -> Authorization:
        return Authorization(session_token=token)

    before = server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        c.organizations.update(
            organization_id=org.organization_id,
            mfa_policy="REQUIRED_FOR_ALL",
            method_options=OrgUpdateOptions(authorization=auth(plain_session)),
        )
    with stytch_error(403, "session_authorization_error"):
        c.organizations.members.update(
            organization_id=org.organization_id,
            member_id=target.member_id,
            mfa_enrolled=True,
            method_options=MemberUpdateOptions(authorization=auth(plain_session)),
        )
    with stytch_error(403, "session_authorization_error"):
        c.organizations.members.delete_mfa_phone_number(
            organization_id=org.organization_id,
            member_id=target.member_id,
            method_options=DeleteMFAPhoneNumberRequestOptions(authorization=auth(plain_session)),
        )
    assert server.snapshot() == before
    c.totps.create(organization_id=org.organization_id, member_id=target.member_id)
    after_create = server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        c.organizations.members.delete_totp(
            organization_id=org.organization_id,
            member_id=target.member_id,
            method_options=DeleteTOTPRequestOptions(authorization=auth(plain_session)),
        )
    assert server.snapshot() == after_create

    # The self twins: a member may change their own MFA settings.
    own = c.organizations.members.update(
        organization_id=org.organization_id,
        member_id=plain.member_id,
        mfa_enrolled=True,
        mfa_phone_number="+15555550112",
        method_options=MemberUpdateOptions(authorization=auth(plain_session)),
    )
    assert own.member.mfa_enrolled is True
    cleared = c.organizations.members.delete_mfa_phone_number(
        organization_id=org.organization_id,
        member_id=plain.member_id,
        method_options=DeleteMFAPhoneNumberRequestOptions(authorization=auth(plain_session)),
    )
    assert cleared.member.mfa_phone_number == ""

    # stytch_admin may do all of it.
    updated = c.organizations.update(
        organization_id=org.organization_id,
        mfa_policy="REQUIRED_FOR_ALL",
        method_options=OrgUpdateOptions(authorization=auth(admin_session)),
    )
    assert updated.organization.mfa_policy == "REQUIRED_FOR_ALL"
    c.organizations.members.update(
        organization_id=org.organization_id,
        member_id=target.member_id,
        mfa_enrolled=True,
        method_options=MemberUpdateOptions(authorization=auth(admin_session)),
    )
    c.organizations.members.delete_mfa_phone_number(
        organization_id=org.organization_id,
        member_id=target.member_id,
        method_options=DeleteMFAPhoneNumberRequestOptions(authorization=auth(admin_session)),
    )
    c.organizations.members.delete_totp(
        organization_id=org.organization_id,
        member_id=target.member_id,
        method_options=DeleteTOTPRequestOptions(authorization=auth(admin_session)),
    )
    # The policy now applies: the target's next password sign-in owes a second factor.
    assert world.password(org.organization_id, target_address).member_authenticated is False


# -- operations: key rotation, the per-number limit, the log sender --------------------------


def test_totp_secrets_are_resealed_when_the_encryption_key_rotates(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = pyotp.random_base32()
    with (
        throwaway_database(tmp_path_factory.mktemp("rotate")) as url,
        running_server(url, encryption_keys=old) as first,
    ):
        c = stytch.B2BClient(first.project_id, first.secret, environment=first.url + "/")
        org_id = c.organizations.create(
            organization_name="Rotate", organization_slug=unique("rotate").lower()
        ).organization.organization_id
        address = email()
        member = c.passwords.migrate(
            email_address=address, hash=bcrypt_hash(), hash_type="bcrypt", organization_id=org_id
        ).member
        c.totps.migrate(
            organization_id=org_id,
            member_id=member.member_id,
            secret=secret,
            recovery_codes=["rota-tion-0001"],
        )
        # A node started with the new key first seals the secret again with it...
        with another_node(first, encryption_keys=f"{new},{old}"):
            pass
        # ...so a node with only the new key still opens it.
        with another_node(first, encryption_keys=new) as rotated:
            r = stytch.B2BClient(rotated.project_id, rotated.secret, environment=rotated.url + "/")
            signed_in = r.passwords.authenticate(
                organization_id=org_id, email_address=address, password=PASSWORD
            )
            done = r.totps.authenticate(
                organization_id=org_id,
                member_id=member.member_id,
                code=_now_code(secret),
                session_token=signed_in.session_token,
            )
            assert _factors(done.member_session) == [
                ("password", "knowledge"),
                ("totp", "authenticator_app"),
            ]


def test_texts_are_limited_per_number(tmp_path_factory: pytest.TempPathFactory) -> None:
    gateway = Gateway()
    try:
        with (
            throwaway_database(tmp_path_factory.mktemp("limits")) as url,
            running_server(
                url,
                sms_sender="webhook",
                sms_webhook_url=gateway.url,
                sms_webhook_secret=SMS_SECRET,
                texts_per_number_per_hour=2,
            ) as server,
        ):
            c = stytch.B2BClient(server.project_id, server.secret, environment=server.url + "/")
            org_id = c.organizations.create(
                organization_name="Limits", organization_slug="limits"
            ).organization.organization_id
            member = c.organizations.members.create(
                organization_id=org_id, email_address=email(), mfa_phone_number="+15555550177"
            ).member
            for _ in range(2):
                c.otps.sms.send(organization_id=org_id, member_id=member.member_id)
                assert gateway.take("+15555550177")
            before = server.snapshot()
            with stytch_error(429, "too_many_requests"):
                c.otps.sms.send(organization_id=org_id, member_id=member.member_id)
            assert server.snapshot() == before
            assert gateway.texts.empty()
    finally:
        gateway.stop()


def test_the_log_sender_shows_codes_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gatehouse.services.sms")
    LogSender(show_texts=False).send("+15555550100", "Your code is 123456.")
    LogSender(show_texts=True).send("+15555550101", "Your code is 654321.")
    hidden, shown = caplog.records
    assert "+15555550100" in hidden.getMessage() and "123456" not in hidden.getMessage()
    assert "654321" in shown.getMessage()


def test_a_discovery_session_completes_with_a_second_factor_where_its_method_is_allowed(
    world: World,
) -> None:
    c, server = world.client, world.server
    open_org = world.org()
    strict = world.org(auth_methods="RESTRICTED", allowed_auth_methods=["password"])
    address = email()
    secrets_of = {}
    for org in (open_org, strict):
        member = world.member(org.organization_id, address)
        secret = pyotp.random_base32()
        c.totps.migrate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            secret=secret,
            recovery_codes=[unique("code")],
        )
        secrets_of[org.organization_id] = (member.member_id, secret)

    c.magic_links.email.discovery.send(email_address=address)
    token = _LINK_TOKEN.search(world.email_body(address))
    assert token
    found = c.magic_links.discovery.authenticate(discovery_magic_links_token=token.group(1))

    member_id, secret = secrets_of[strict.organization_id]
    before = server.snapshot()
    with stytch_error(403, "auth_method_not_allowed"):
        c.totps.authenticate(
            organization_id=strict.organization_id,
            member_id=member_id,
            code=_now_code(secret),
            intermediate_session_token=found.intermediate_session_token,
        )
    assert server.snapshot() == before

    member_id, secret = secrets_of[open_org.organization_id]
    done = c.totps.authenticate(
        organization_id=open_org.organization_id,
        member_id=member_id,
        code=_now_code(secret),
        intermediate_session_token=found.intermediate_session_token,
    )
    assert _factors(done.member_session) == [("magic_link", "email"), ("totp", "authenticator_app")]
    assert done.member.email_address == address


def test_allowed_mfa_methods_restrict_the_second_factor(world: World) -> None:
    c, server = world.client, world.server
    org = world.org(
        mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"]
    )
    address = email()
    member = world.member(org.organization_id, address)
    pending = world.password(org.organization_id, address)
    before = server.snapshot()
    with stytch_error(403, "auth_method_not_allowed"):
        c.otps.sms.send(
            organization_id=org.organization_id,
            member_id=member.member_id,
            mfa_phone_number="+15555550188",
            intermediate_session_token=pending.intermediate_session_token,
        )
    assert server.snapshot() == before
    assert world.gateway.texts.empty()
    _, done = _enrol_totp(world, org.organization_id, member.member_id, pending)
    assert _factors(done.member_session) == [
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]
