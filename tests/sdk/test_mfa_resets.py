# ruff: noqa: F811 (tests take the fixtures imported from test_email_flows)
"""Password resets of a member who needs MFA, through the official `stytch` SDK against a real
server and a real SMTP server: the reset changes the password but answers
`member_authenticated: false` with an intermediate session token and `mfa_required`; a TOTP
code (computed with pyotp) completes the sign-in with both factors. A session passed to the
reset (it already has its factors) gets the password factor added directly."""

from __future__ import annotations

import time
from typing import Any

import pyotp

from tests.sdk.support import PASSWORD, email, stytch_error
from tests.sdk.test_email_flows import (  # noqa: F401 (the module's fixtures)
    Harness,
    _bcrypt,
    harness,
    server,
)
from tests.server import RunningServer

NEW_PASSWORD = "quiet-Meadow-42-compass"
NEWER_PASSWORD = "amber-Harbour-77-lantern"


def _code(secret: str, step: int) -> str:
    """A TOTP code `step` 30 s steps ahead (within the server's skew window; each code is
    usable once, so successive sign-ins take later steps)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * step)


def _wrong_code(secret: str) -> str:
    """A code that no step inside the skew window accepts."""
    near = {_code(secret, step) for step in range(-2, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def _factors(session: Any) -> list[tuple[str, str]]:
    return [(f.type, f.delivery_method) for f in session.authentication_factors]


def _enrolled(harness: Harness) -> tuple[Any, str, Any, str, Any]:
    """An organization with `mfa_policy: REQUIRED_FOR_ALL` and a member with a password and a
    TOTP: (org, address, member, totp secret, the member's full session)."""
    c = harness.client
    org = harness.org(mfa_policy="REQUIRED_FOR_ALL")
    address = email()
    member = harness.member(org.organization_id, address)
    c.passwords.migrate(
        email_address=address,
        hash=_bcrypt(PASSWORD),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    pending = c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )
    assert pending.member_authenticated is False
    token = pending.intermediate_session_token
    created = c.totps.create(
        organization_id=org.organization_id,
        member_id=member.member_id,
        intermediate_session_token=token,
    )
    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_code(created.secret, 0),
        intermediate_session_token=token,
    )
    assert done.session_token
    return org, address, member, created.secret, done


def _owes_mfa(answer: Any, member: Any) -> None:
    assert answer.member_id == member.member_id
    assert answer.member_authenticated is False
    assert answer.session_token == "" and answer.session_jwt == ""
    assert answer.member_session is None
    assert answer.intermediate_session_token
    assert answer.mfa_required is not None
    assert answer.mfa_required.member_options.totp_registration_id


def test_an_emailed_reset_owes_the_second_factor(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, address, member, secret, old = _enrolled(harness)
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    _, query, _ = harness.link(address)
    reset = c.passwords.email.reset(password_reset_token=query["token"], password=NEW_PASSWORD)
    _owes_mfa(reset, member)
    assert reset.member.email_address_verified is True
    # The password changed at once and the member's sessions were revoked.
    with stytch_error(404, "session_not_found"):
        c.sessions.authenticate(session_token=old.session_token)
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=PASSWORD
        )
    # A wrong code is refused and changes nothing; the right one completes the sign-in.
    before = server.snapshot()
    with stytch_error(401, "invalid_totp_code"):
        c.totps.authenticate(
            organization_id=org.organization_id,
            member_id=member.member_id,
            code=_wrong_code(secret),
            intermediate_session_token=reset.intermediate_session_token,
        )
    assert server.snapshot() == before
    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_code(secret, 1),
        intermediate_session_token=reset.intermediate_session_token,
    )
    assert done.session_token
    assert _factors(done.member_session) == [
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]
    assert c.sessions.authenticate(session_token=done.session_token).member.member_id == (
        member.member_id
    )
    # The link is used up; the new password signs in (and owes the second factor again).
    with stytch_error(401, "invalid_password_reset_token"):
        c.passwords.email.reset(password_reset_token=query["token"], password=NEWER_PASSWORD)
    again = c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
    )
    _owes_mfa(again, member)


def test_an_existing_password_reset_owes_the_second_factor(harness: Harness) -> None:
    c = harness.client
    org, address, member, secret, _ = _enrolled(harness)
    reset = c.passwords.existing_password.reset(
        email_address=address,
        existing_password=PASSWORD,
        new_password=NEW_PASSWORD,
        organization_id=org.organization_id,
    )
    _owes_mfa(reset, member)
    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_code(secret, 1),
        intermediate_session_token=reset.intermediate_session_token,
    )
    assert _factors(done.member_session) == [
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=PASSWORD
        )
    _owes_mfa(
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
        ),
        member,
    )


def test_a_reset_with_a_full_session_needs_no_second_step(harness: Harness) -> None:
    c = harness.client
    org, address, member, _, full = _enrolled(harness)
    # Within the session: the session already has its second factor.
    reset = c.passwords.sessions.reset(
        organization_id=org.organization_id,
        password=NEW_PASSWORD,
        session_token=full.session_token,
    )
    assert reset.member_authenticated is True and reset.intermediate_session_token == ""
    assert reset.mfa_required is None
    assert ("totp", "authenticator_app") in _factors(reset.member_session)
    # By email with the session passed: the same.
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    _, query, _ = harness.link(address)
    by_email = c.passwords.email.reset(
        password_reset_token=query["token"],
        password=NEWER_PASSWORD,
        session_token=full.session_token,
    )
    assert by_email.member_authenticated is True
    assert by_email.session_token == full.session_token
    assert by_email.member_id == member.member_id
    assert ("totp", "authenticator_app") in _factors(by_email.member_session)


def test_without_mfa_a_reset_still_signs_in(harness: Harness) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    member = harness.member(org.organization_id, address)
    c.passwords.migrate(
        email_address=address,
        hash=_bcrypt(PASSWORD),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    _, query, _ = harness.link(address)
    done = c.passwords.email.reset(password_reset_token=query["token"], password=NEW_PASSWORD)
    assert done.member_authenticated is True and done.session_token
    assert done.intermediate_session_token == "" and done.mfa_required is None
    assert _factors(done.member_session) == [("password", "knowledge")]
    assert done.member_id == member.member_id


def _discovery_token(harness: Harness, address: str) -> str:
    """A discovery intermediate session of `address` holding an email-code factor."""
    c = harness.client
    c.otps.email.discovery.send(email_address=address)
    found = c.otps.email.discovery.authenticate(email_address=address, code=harness.code(address))
    return str(found.intermediate_session_token)


def _member_with_password(harness: Harness, org_id: str) -> tuple[str, Any]:
    address = email()
    member = harness.member(org_id, address)
    harness.client.passwords.migrate(
        email_address=address, hash=_bcrypt(PASSWORD), hash_type="bcrypt", organization_id=org_id
    )
    return address, member


def test_a_reset_adds_its_factor_to_an_intermediate_session(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org = harness.org()
    address, member = _member_with_password(harness, org.organization_id)
    ist = _discovery_token(harness, address)
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    _, query, _ = harness.link(address)
    # Someone else's intermediate session, or one with a session too: refused, nothing changed.
    stranger = _discovery_token(harness, email())
    before = server.snapshot()
    with stytch_error(400, "session_member_mismatch"):
        c.passwords.email.reset(
            password_reset_token=query["token"],
            password=NEW_PASSWORD,
            intermediate_session_token=stranger,
        )
    with stytch_error(400, "invalid_request"):
        c.passwords.email.reset(
            password_reset_token=query["token"],
            password=NEW_PASSWORD,
            intermediate_session_token=ist,
            session_token="x" * 44,
        )
    assert server.snapshot() == before
    done = c.passwords.email.reset(
        password_reset_token=query["token"], password=NEW_PASSWORD, intermediate_session_token=ist
    )
    assert done.member_authenticated is True and done.session_token
    assert done.member_id == member.member_id
    assert _factors(done.member_session) == [("otp", "email"), ("password", "knowledge")]
    # The intermediate session is spent.
    with stytch_error(404, "intermediate_session_not_found"):
        c.discovery.organizations.list(intermediate_session_token=ist)


def test_an_intermediate_session_reset_still_owes_mfa(harness: Harness) -> None:
    c = harness.client
    org, address, member, secret, _ = _enrolled(harness)
    ist = _discovery_token(harness, address)
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    _, query, _ = harness.link(address)
    reset = c.passwords.email.reset(
        password_reset_token=query["token"], password=NEW_PASSWORD, intermediate_session_token=ist
    )
    _owes_mfa(reset, member)
    done = c.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=_code(secret, 1),
        intermediate_session_token=reset.intermediate_session_token,
    )
    assert _factors(done.member_session) == [
        ("otp", "email"),
        ("password", "knowledge"),
        ("totp", "authenticator_app"),
    ]


def test_discovery_lists_where_the_member_owes_mfa(harness: Harness) -> None:
    c = harness.client
    org, address, _, _, full = _enrolled(harness)
    plain = harness.org()
    c.passwords.migrate(
        email_address=address,
        hash=_bcrypt(PASSWORD),
        hash_type="bcrypt",
        organization_id=plain.organization_id,
    )
    ist = _discovery_token(harness, address)
    found = {
        d.organization.organization_id: d
        for d in c.discovery.organizations.list(
            intermediate_session_token=ist
        ).discovered_organizations
    }
    owed = found[org.organization_id]
    assert owed.member_authenticated is False and owed.primary_required is None
    assert owed.mfa_required is not None
    assert owed.mfa_required.member_options.totp_registration_id
    assert found[plain.organization_id].member_authenticated is True
    assert found[plain.organization_id].mfa_required is None
    # With the member's full session of that organization, it has passed MFA there.
    listed = c.discovery.organizations.list(session_token=full.session_token)
    mine = {d.organization.organization_id: d for d in listed.discovered_organizations}
    assert mine[org.organization_id].member_authenticated is True
    assert mine[org.organization_id].mfa_required is None
