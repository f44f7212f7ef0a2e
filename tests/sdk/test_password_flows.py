# ruff: noqa: F811 (tests take the fixtures imported from test_email_flows)
"""Member password resets through the official `stytch` SDK against a real server and a real
SMTP server: `passwords.email.reset_start` / `reset` (with PKCE), `passwords.existing_password
.reset`, `passwords.sessions.reset`, `passwords.email.require_reset`; refusals change nothing."""

from __future__ import annotations

from typing import Any

from tests.sdk.support import PASSWORD, WRONG_PASSWORD, email, stytch_error
from tests.sdk.test_email_flows import (  # noqa: F401 (the module's fixtures)
    RESET_URL,
    Harness,
    _bcrypt,
    _verifier_and_challenge,
    harness,
    server,
)
from tests.server import RunningServer

NEW_PASSWORD = "quiet-Meadow-42-compass"


def _with_password(harness: Harness, **org_settings: Any) -> tuple[Any, str, Any]:
    c = harness.client
    org = harness.org(**org_settings)
    address = email()
    member = harness.member(org.organization_id, address)
    c.passwords.migrate(
        email_address=address,
        hash=_bcrypt(PASSWORD),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    return org, address, member


def test_an_emailed_reset_sets_the_password_once(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, address, member = _with_password(harness)
    old = c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )
    verifier, challenge = _verifier_and_challenge()
    started = c.passwords.email.reset_start(
        organization_id=org.organization_id, email_address=address, code_challenge=challenge
    )
    assert started.member_id == member.member_id and started.member_email_id
    url, query, message = harness.link(address)
    assert url == RESET_URL and query["stytch_token_type"] == "multi_tenant_passwords"
    assert org.organization_name in message["Subject"]
    token = query["token"]
    before = server.snapshot()
    with stytch_error(400, "pkce_mismatch"):
        c.passwords.email.reset(password_reset_token=token, password=NEW_PASSWORD)
    with stytch_error(400, "weak_password"):
        c.passwords.email.reset(
            password_reset_token=token, password="password", code_verifier=verifier
        )
    with stytch_error(401, "invalid_password_reset_token"):
        c.passwords.email.reset(password_reset_token=token[:-2] + "zz", password=NEW_PASSWORD)
    assert server.snapshot() == before
    done = c.passwords.email.reset(
        password_reset_token=token, password=NEW_PASSWORD, code_verifier=verifier
    )
    assert done.member_id == member.member_id and done.member_authenticated is True
    assert done.member.email_address_verified is True
    # The reset revoked the older session; the new password works, the old does not.
    with stytch_error(404, "session_not_found"):
        c.sessions.authenticate(session_token=old.session_token)
    c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
    )
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=PASSWORD
        )
    before = server.snapshot()
    with stytch_error(401, "invalid_password_reset_token"):
        c.passwords.email.reset(
            password_reset_token=token, password=NEW_PASSWORD + "!", code_verifier=verifier
        )
    assert server.snapshot() == before


def test_reset_start_refusals(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, address, _ = _with_password(harness)
    links_only = harness.org(auth_methods="RESTRICTED", allowed_auth_methods=["magic_link"])
    other = email()
    harness.member(links_only.organization_id, other)
    before = server.snapshot()
    with stytch_error(404, "member_not_found"):
        c.passwords.email.reset_start(organization_id=org.organization_id, email_address=email())
    with stytch_error(400, "no_match_for_provided_magic_link_url"):
        c.passwords.email.reset_start(
            organization_id=org.organization_id,
            email_address=address,
            reset_password_redirect_url="https://evil.example.test/reset",
        )
    with stytch_error(403, "auth_method_not_allowed"):
        c.passwords.email.reset_start(
            organization_id=links_only.organization_id, email_address=other
        )
    assert server.snapshot() == before
    assert harness.mailbox.sent_to(address) == []


def test_an_expired_reset_is_refused(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, address, _ = _with_password(harness)
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    token = harness.token(address)
    harness.expire_tokens()
    before = server.snapshot()
    with stytch_error(401, "invalid_password_reset_token"):
        c.passwords.email.reset(password_reset_token=token, password=NEW_PASSWORD)
    assert server.snapshot() == before


def test_existing_password_reset(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, address, member = _with_password(harness)
    before = server.snapshot()
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.existing_password.reset(
            email_address=address,
            existing_password=WRONG_PASSWORD,
            new_password=NEW_PASSWORD,
            organization_id=org.organization_id,
        )
    with stytch_error(400, "weak_password"):
        c.passwords.existing_password.reset(
            email_address=address,
            existing_password=PASSWORD,
            new_password="password1",
            organization_id=org.organization_id,
        )
    assert server.snapshot() == before
    done = c.passwords.existing_password.reset(
        email_address=address,
        existing_password=PASSWORD,
        new_password=NEW_PASSWORD,
        organization_id=org.organization_id,
    )
    assert done.member_id == member.member_id and done.session_token
    c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
    )


def test_session_reset_keeps_the_session_and_revokes_the_others(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org, address, _ = _with_password(harness)
    other_org = harness.org()
    first = c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )
    second = c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )
    before = server.snapshot()
    with stytch_error(400, "session_member_mismatch"):
        c.passwords.sessions.reset(
            organization_id=other_org.organization_id,
            password=NEW_PASSWORD,
            session_token=second.session_token,
        )
    with stytch_error(404, "session_not_found"):
        c.passwords.sessions.reset(
            organization_id=org.organization_id, password=NEW_PASSWORD, session_token="nope"
        )
    assert server.snapshot() == before
    done = c.passwords.sessions.reset(
        organization_id=org.organization_id,
        password=NEW_PASSWORD,
        session_token=second.session_token,
    )
    assert done.member_session.member_session_id == second.member_session.member_session_id
    c.sessions.authenticate(session_token=second.session_token)
    with stytch_error(404, "session_not_found"):
        c.sessions.authenticate(session_token=first.session_token)


def test_require_reset_stops_the_password_until_reset(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org, address, member = _with_password(harness)
    plain = email()
    harness.member(org.organization_id, plain)
    before = server.snapshot()
    with stytch_error(404, "member_password_not_found"):
        c.passwords.email.require_reset(email_address=plain, organization_id=org.organization_id)
    with stytch_error(404, "member_not_found"):
        c.passwords.email.require_reset(email_address=email(), organization_id=org.organization_id)
    assert server.snapshot() == before
    c.passwords.email.require_reset(email_address=address, organization_id=org.organization_id)
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=PASSWORD
        )
    got = c.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert got.member.member_password_id  # there is still a password to reset
    c.passwords.email.reset_start(organization_id=org.organization_id, email_address=address)
    c.passwords.email.reset(password_reset_token=harness.token(address), password=NEW_PASSWORD)
    c.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
    )


def test_discovery_password_reset_and_sign_in(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    first, address, member = _with_password(harness)
    second = harness.org()
    links_only = harness.org(auth_methods="RESTRICTED", allowed_auth_methods=["magic_link"])
    harness.member(second.organization_id, address)
    harness.member(links_only.organization_id, address)
    verifier, challenge = _verifier_and_challenge()
    c.passwords.discovery.email.reset_start(email_address=address, pkce_code_challenge=challenge)
    url, query, _ = harness.link(address)
    assert url == RESET_URL
    token = query["token"]
    before = server.snapshot()
    with stytch_error(400, "pkce_mismatch"):
        c.passwords.discovery.email.reset(password_reset_token=token, password=NEW_PASSWORD)
    with stytch_error(401, "invalid_password_reset_token"):
        c.passwords.discovery.email.reset(password_reset_token="nope", password=NEW_PASSWORD)
    assert server.snapshot() == before
    found = c.passwords.discovery.email.reset(
        password_reset_token=token, password=NEW_PASSWORD, pkce_code_verifier=verifier
    )
    by_org = {d.organization.organization_id: d for d in found.discovered_organizations}
    assert set(by_org) == {
        first.organization_id,
        second.organization_id,
        links_only.organization_id,
    }
    assert by_org[links_only.organization_id].member_authenticated is False
    assert by_org[links_only.organization_id].primary_required.allowed_auth_methods == [
        "magic_link"
    ]
    # The new password works in each organization that allows passwords.
    for org in (first, second):
        c.passwords.authenticate(
            organization_id=org.organization_id, email_address=address, password=NEW_PASSWORD
        )
    before = server.snapshot()
    with stytch_error(401, "unauthorized_credentials"):
        c.passwords.discovery.authenticate(email_address=address, password=PASSWORD)
    with stytch_error(403, "auth_method_not_allowed"):
        c.discovery.intermediate_sessions.exchange(
            intermediate_session_token=found.intermediate_session_token,
            organization_id=links_only.organization_id,
        )
    assert server.snapshot() == before
    signed = c.passwords.discovery.authenticate(email_address=address, password=NEW_PASSWORD)
    assert signed.email_address == address
    joined = c.discovery.intermediate_sessions.exchange(
        intermediate_session_token=signed.intermediate_session_token,
        organization_id=second.organization_id,
    )
    assert [f.type for f in joined.member_session.authentication_factors] == ["password"]
    assert joined.member_id != member.member_id  # the address's member of `second`
