"""Member sign-in by email through the official `stytch` SDK against a real server and a real
SMTP server (aiosmtpd): magic links (login, signup, invitations, PKCE), email one-time codes,
discovery with intermediate sessions, session exchange, and the organization rules
(`email_jit_provisioning`, `email_invites`, `email_allowed_domains`, `auth_methods`).

Every link and code is read from the email the SMTP server received. Every refusal is checked
by status and `error_type`, and that it changed nothing (`server.snapshot()`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stytch
from aiosmtpd.controller import Controller
from sqlalchemy import update
from stytch.b2b.models.organizations import UpdateRequestOptions as OrgUpdateOptions
from stytch.shared.method_options import Authorization

from gatehouse.services import clock
from gatehouse.storage.sql import tables
from tests.dashboard.test_sign_in import Mailbox, _free_port
from tests.databases import throwaway_database
from tests.sdk.support import PASSWORD, email, register_redirect_url, stytch_error, unique
from tests.server import RunningServer, running_server

LOGIN_URL = "https://app.example.test/authenticate"
SIGNUP_URL = "https://app.example.test/signup"
INVITE_URL = "https://app.example.test/invite"
DISCOVERY_URL = "https://app.example.test/discovery"
RESET_URL = "https://app.example.test/reset"
OTHER_LOGIN_URL = "http://localhost:3000/login"
_LINK = re.compile(r"(https?://\S+[?&]token=[A-Za-z0-9_-]+)")
_CODE = re.compile(r"^[ \t]+([0-9]{6})\s*$", re.MULTILINE)


class Harness:
    def __init__(self, server: RunningServer, mailbox: Mailbox) -> None:
        self.server = server
        self.mailbox = mailbox
        self.client = stytch.B2BClient(
            server.project_id, server.secret, environment=server.url + "/"
        )

    def link(self, address: str) -> tuple[str, dict[str, str], EmailMessage]:
        """The link in the next email to `address`: (url without query, query, message)."""
        message = self.mailbox.take(address)
        body = message.get_body(("plain",))
        assert body is not None
        found = _LINK.search(body.get_content())
        assert found, body.get_content()
        parts = urlsplit(found.group(1))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return f"{parts.scheme}://{parts.netloc}{parts.path}", query, message

    def token(self, address: str) -> str:
        return self.link(address)[1]["token"]

    def code(self, address: str) -> str:
        message = self.mailbox.take(address)
        body = message.get_body(("plain",))
        assert body is not None
        found = _CODE.search(body.get_content())
        assert found, body.get_content()
        return found.group(1)

    def org(self, **settings: Any) -> Any:
        name = unique("Org")
        return self.client.organizations.create(
            organization_name=name, organization_slug=name.lower(), **settings
        ).organization

    def member(self, org_id: str, address: str, **fields: Any) -> Any:
        return self.client.organizations.members.create(
            organization_id=org_id, email_address=address, **fields
        ).member

    def expire_tokens(self) -> None:
        past = clock.now().replace(year=2000)
        with self.server.store.engine.begin() as conn:
            conn.execute(update(tables.member_email_tokens).values(expires_at=past))
            conn.execute(update(tables.intermediate_sessions).values(expires_at=past))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        with (
            throwaway_database(tmp_path_factory.mktemp("db")) as url,
            running_server(url, smtp_host="127.0.0.1", smtp_port=smtp.port) as server,
        ):
            register_redirect_url(server, LOGIN_URL, ["LOGIN"])
            register_redirect_url(server, SIGNUP_URL, ["SIGNUP"])
            register_redirect_url(server, INVITE_URL, ["INVITE"])
            register_redirect_url(server, DISCOVERY_URL, ["DISCOVERY"])
            register_redirect_url(server, RESET_URL, ["RESET_PASSWORD"])
            key = server.management_key
            response = httpx.post(
                f"{server.url}/pwa/v3/projects/{server.project_slug}/environments/test/redirect_urls",
                auth=(key["key_id"], key["secret"]),
                json={"url": OTHER_LOGIN_URL, "valid_types": [{"type": "LOGIN"}]},
            )
            assert response.status_code == 200
            yield Harness(server, mailbox)
    finally:
        smtp.stop()


@pytest.fixture
def server(harness: Harness) -> RunningServer:
    return harness.server


def _verifier_and_challenge() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _events(server: RunningServer, action: str) -> list[Any]:
    with server.store.read() as tx:
        return server.store.query_events(tx, server.project_id, action=action, limit=1000)


# -- magic links: login -----------------------------------------------------------------------


def test_a_login_link_signs_the_member_in_once(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    member = harness.member(org.organization_id, address)
    assert member.email_address_verified is False
    sent = c.magic_links.email.login_or_signup(
        organization_id=org.organization_id, email_address=address
    )
    assert sent.member_created is False and sent.member_id == member.member_id
    url, query, message = harness.link(address)
    assert url == LOGIN_URL and query["stytch_token_type"] == "multi_tenant_magic_links"
    assert org.organization_name in message["Subject"]
    done = c.magic_links.authenticate(magic_links_token=query["token"])
    assert done.member_id == member.member_id and done.organization_id == org.organization_id
    assert done.member_authenticated is True and done.intermediate_session_token == ""
    assert done.member.email_address_verified is True and done.member.status == "active"
    assert [f.type for f in done.member_session.authentication_factors] == ["magic_link"]
    assert c.sessions.authenticate(session_token=done.session_token).member.member_id == (
        member.member_id
    )
    assert _events(server, "member.magic_link_authenticate")
    # Used once; a tampered or unknown token is refused the same way; nothing changes.
    before = server.snapshot()
    for bad in (query["token"], query["token"][:-2] + "xx", "not-a-token"):
        with stytch_error(401, "unable_to_auth_magic_link"):
            c.magic_links.authenticate(magic_links_token=bad)
    assert server.snapshot() == before


def test_an_expired_link_is_refused(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    harness.member(org.organization_id, address)
    c.magic_links.email.login_or_signup(
        organization_id=org.organization_id, email_address=address, login_expiration_minutes=5
    )
    token = harness.token(address)
    harness.expire_tokens()
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_magic_link"):
        c.magic_links.authenticate(magic_links_token=token)
    assert server.snapshot() == before


def test_a_registered_redirect_url_is_used_and_an_unregistered_one_refused(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    harness.member(org.organization_id, address)
    c.magic_links.email.login_or_signup(
        organization_id=org.organization_id,
        email_address=address,
        login_redirect_url=OTHER_LOGIN_URL + "?next=%2Fhome",
    )
    url, query, _ = harness.link(address)
    assert url == OTHER_LOGIN_URL and query["next"] == "/home"
    before = server.snapshot()
    for unregistered in ("https://evil.example.test/authenticate", SIGNUP_URL):
        with stytch_error(400, "no_match_for_provided_magic_link_url"):
            c.magic_links.email.login_or_signup(
                organization_id=org.organization_id,
                email_address=address,
                login_redirect_url=unregistered,
            )
    assert server.snapshot() == before
    assert harness.mailbox.sent_to(address) == []


def test_pkce_needs_the_verifier_of_the_challenge(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    harness.member(org.organization_id, address)
    verifier, challenge = _verifier_and_challenge()
    c.magic_links.email.login_or_signup(
        organization_id=org.organization_id, email_address=address, pkce_code_challenge=challenge
    )
    token = harness.token(address)
    before = server.snapshot()
    with stytch_error(400, "pkce_mismatch"):
        c.magic_links.authenticate(magic_links_token=token)
    with stytch_error(400, "pkce_mismatch"):
        c.magic_links.authenticate(
            magic_links_token=token, pkce_code_verifier=_verifier_and_challenge()[0]
        )
    assert server.snapshot() == before
    done = c.magic_links.authenticate(magic_links_token=token, pkce_code_verifier=verifier)
    assert done.member.email_address == address


def test_a_link_adds_its_factor_to_the_members_session(harness: Harness) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    harness.member(org.organization_id, address)
    c.passwords.migrate(
        email_address=address,
        hash=_bcrypt(PASSWORD),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    c.magic_links.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    first = c.magic_links.authenticate(magic_links_token=harness.token(address))
    c.magic_links.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    again = c.magic_links.authenticate(
        magic_links_token=harness.token(address),
        session_token=first.session_token,
        session_duration_minutes=120,
    )
    assert again.member_session.member_session_id == first.member_session.member_session_id
    assert again.session_token == first.session_token


# -- magic links: signup (email JIT provisioning) -----------------------------------------------


def test_signup_needs_jit_provisioning_restricted_to_the_domain(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    domain = f"{unique('acme')}.test"
    open_org = harness.org(email_jit_provisioning="RESTRICTED", email_allowed_domains=[domain])
    closed_org = harness.org()  # NOT_ALLOWED by default
    address = email(domain)
    before = server.snapshot()
    with stytch_error(403, "email_jit_provisioning_not_allowed"):
        c.magic_links.email.login_or_signup(
            organization_id=closed_org.organization_id, email_address=address
        )
    with stytch_error(403, "email_jit_provisioning_not_allowed"):
        c.magic_links.email.login_or_signup(
            organization_id=open_org.organization_id, email_address=email("elsewhere.test")
        )
    assert server.snapshot() == before
    sent = c.magic_links.email.login_or_signup(
        organization_id=open_org.organization_id, email_address=address
    )
    assert sent.member_created is True and sent.member.status == "pending"
    url, query, message = harness.link(address)
    assert url == SIGNUP_URL and open_org.organization_name in message["Subject"]
    done = c.magic_links.authenticate(magic_links_token=query["token"])
    assert done.member.status == "active" and done.member.email_address_verified is True


def test_consumer_domains_cannot_be_allowed(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org = harness.org()
    before = server.snapshot()
    with stytch_error(400, "invalid_email_allowed_domains"):
        c.organizations.create(
            organization_name=unique("Org"), email_allowed_domains=["example.com", "gmail.com"]
        )
    with stytch_error(400, "invalid_email_allowed_domains"):
        c.organizations.update(
            organization_id=org.organization_id, email_allowed_domains=["Outlook.com"]
        )
    assert server.snapshot() == before


# -- magic links: invitations -------------------------------------------------------------------


def test_an_invitation_makes_an_invited_member_who_becomes_active(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    invited = c.magic_links.email.invite(
        organization_id=org.organization_id,
        email_address=address,
        name="Ada",
        roles=["stytch_admin"],
        locale="fr",
    )
    assert invited.member.status == "invited" and invited.member.name == "Ada"
    assert "stytch_admin" in {r.role_id for r in invited.member.roles}
    url, query, message = harness.link(address)
    assert url == INVITE_URL and message["Subject"].startswith("Vous êtes invité")
    assert org.organization_name in message["Subject"]
    done = c.magic_links.authenticate(magic_links_token=query["token"])
    assert done.member.status == "active" and done.member.email_address_verified is True
    assert _events(server, "member.invite")
    before = server.snapshot()
    with stytch_error(409, "duplicate_member_email"):
        c.magic_links.email.invite(organization_id=org.organization_id, email_address=address)
    with stytch_error(400, "role_not_found"):
        c.magic_links.email.invite(
            organization_id=org.organization_id, email_address=email(), roles=["nope"]
        )
    assert server.snapshot() == before


def test_email_invites_rules(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    domain = f"{unique('acme')}.test"
    restricted = harness.org(email_invites="RESTRICTED", email_allowed_domains=[domain])
    closed = harness.org(email_invites="NOT_ALLOWED")
    before = server.snapshot()
    with stytch_error(403, "email_invites_not_allowed"):
        c.magic_links.email.invite(organization_id=closed.organization_id, email_address=email())
    with stytch_error(403, "email_invites_not_allowed"):
        c.magic_links.email.invite(
            organization_id=restricted.organization_id, email_address=email("other.test")
        )
    assert server.snapshot() == before
    address = email(domain)
    c.magic_links.email.invite(organization_id=restricted.organization_id, email_address=address)
    assert harness.link(address)[0] == INVITE_URL


# -- auth methods -------------------------------------------------------------------------------


def test_auth_methods_restricted_refuses_other_methods_except_for_breakglass(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    passwords_only = harness.org(auth_methods="RESTRICTED", allowed_auth_methods=["password"])
    links_only = harness.org(auth_methods="RESTRICTED", allowed_auth_methods=["magic_link"])
    address, glass = email(), email()
    harness.member(passwords_only.organization_id, address)
    harness.member(passwords_only.organization_id, glass, is_breakglass=True)
    for org in (links_only,):
        c.passwords.migrate(
            email_address=address,
            hash=_bcrypt(PASSWORD),
            hash_type="bcrypt",
            organization_id=org.organization_id,
        )
    before = server.snapshot()
    with stytch_error(403, "auth_method_not_allowed"):
        c.magic_links.email.login_or_signup(
            organization_id=passwords_only.organization_id, email_address=address
        )
    with stytch_error(403, "auth_method_not_allowed"):
        c.otps.email.login_or_signup(
            organization_id=passwords_only.organization_id, email_address=address
        )
    with stytch_error(403, "auth_method_not_allowed"):
        c.passwords.authenticate(
            organization_id=links_only.organization_id, email_address=address, password=PASSWORD
        )
    assert server.snapshot() == before
    # A breakglass member may use any method.
    c.magic_links.email.login_or_signup(
        organization_id=passwords_only.organization_id, email_address=glass
    )
    done = c.magic_links.authenticate(magic_links_token=harness.token(glass))
    assert done.member.is_breakglass is True
    # The allowed method works.
    c.magic_links.email.login_or_signup(
        organization_id=links_only.organization_id, email_address=address
    )
    assert c.magic_links.authenticate(magic_links_token=harness.token(address)).member_id


def _bcrypt(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


# -- discovery ----------------------------------------------------------------------------------


def test_a_new_address_creates_an_organization_through_discovery(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    address = email(f"{unique('new')}.test")
    c.magic_links.email.discovery.send(email_address=address)
    url, query, message = harness.link(address)
    assert url == DISCOVERY_URL and query["stytch_token_type"] == "discovery"
    found = c.magic_links.discovery.authenticate(discovery_magic_links_token=query["token"])
    assert found.email_address == address and found.discovered_organizations == []
    assert found.intermediate_session_token
    name = unique("Founded")
    created = c.discovery.organizations.create(
        intermediate_session_token=found.intermediate_session_token, organization_name=name
    )
    assert created.organization.organization_name == name
    assert created.member.email_address == address and created.member.status == "active"
    assert created.member.email_address_verified is True
    assert created.member_authenticated is True and created.intermediate_session_token == ""
    roles = {r.role_id: {s.type for s in r.sources} for r in created.member.roles}
    assert roles["stytch_admin"] == {"direct_assignment"}
    assert set(roles) == {"stytch_admin", "stytch_member"}
    # Its session may now rename the organization (stytch.organization:update.info.name).
    renamed = c.organizations.update(
        organization_id=created.organization.organization_id,
        organization_name=name + " Inc",
        method_options=OrgUpdateOptions(
            authorization=Authorization(session_token=created.session_token)
        ),
    )
    assert renamed.organization.organization_name == name + " Inc"
    # The intermediate session is spent; the discovery link was too.
    before = server.snapshot()
    with stytch_error(404, "intermediate_session_not_found"):
        c.discovery.organizations.create(
            intermediate_session_token=found.intermediate_session_token,
            organization_name=unique("Again"),
        )
    with stytch_error(401, "unable_to_auth_magic_link"):
        c.magic_links.discovery.authenticate(discovery_magic_links_token=query["token"])
    assert server.snapshot() == before


def test_discovery_finds_every_membership_type_and_exchanges_into_one(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    domain = f"{unique('corp')}.test"
    address = email(domain)
    active_org, invited_org, pending_org = harness.org(), harness.org(), harness.org()
    eligible = harness.org(email_jit_provisioning="RESTRICTED", email_allowed_domains=[domain])
    closed = harness.org()
    harness.member(active_org.organization_id, address)
    harness.member(pending_org.organization_id, address, create_member_as_pending=True)
    c.magic_links.email.invite(organization_id=invited_org.organization_id, email_address=address)
    harness.mailbox.take(address)
    verifier, challenge = _verifier_and_challenge()
    c.magic_links.email.discovery.send(email_address=address, pkce_code_challenge=challenge)
    token = harness.token(address)
    with stytch_error(400, "pkce_mismatch"):
        c.magic_links.discovery.authenticate(discovery_magic_links_token=token)
    found = c.magic_links.discovery.authenticate(
        discovery_magic_links_token=token, pkce_code_verifier=verifier
    )
    types = {
        d.organization.organization_id: d.membership.type for d in found.discovered_organizations
    }
    assert types[active_org.organization_id] == "active_member"
    assert types[invited_org.organization_id] == "invited_member"
    assert types[pending_org.organization_id] == "pending_member"
    assert types[eligible.organization_id] == "eligible_to_join_by_email_domain"
    assert closed.organization_id not in types
    listed = c.discovery.organizations.list(
        intermediate_session_token=found.intermediate_session_token
    )
    assert {d.organization.organization_id for d in listed.discovered_organizations} == set(types)
    ist = found.intermediate_session_token
    # Not a member and not eligible: refused, nothing changed.
    before = server.snapshot()
    with stytch_error(403, "email_jit_provisioning_not_allowed"):
        c.discovery.intermediate_sessions.exchange(
            intermediate_session_token=ist, organization_id=closed.organization_id
        )
    with stytch_error(404, "intermediate_session_not_found"):
        c.discovery.intermediate_sessions.exchange(
            intermediate_session_token="nope", organization_id=eligible.organization_id
        )
    assert server.snapshot() == before
    joined = c.discovery.intermediate_sessions.exchange(
        intermediate_session_token=ist, organization_id=eligible.organization_id
    )
    assert joined.member.email_address == address and joined.member.status == "active"
    assert joined.organization.organization_id == eligible.organization_id
    # sessions.exchange: into the organization that invited the address.
    moved = c.sessions.exchange(
        organization_id=invited_org.organization_id, session_token=joined.session_token
    )
    assert moved.organization.organization_id == invited_org.organization_id
    assert moved.member.status == "active" and moved.member.email_address_verified is True
    listed = c.discovery.organizations.list(session_token=moved.session_token)
    assert listed.email_address == address
    before = server.snapshot()
    with stytch_error(404, "member_not_found"):
        c.sessions.exchange(
            organization_id=closed.organization_id, session_token=moved.session_token
        )
    with stytch_error(404, "intermediate_session_not_found"):
        c.discovery.intermediate_sessions.exchange(
            intermediate_session_token=ist, organization_id=active_org.organization_id
        )
    assert server.snapshot() == before


def test_an_expired_intermediate_session_is_refused(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    address = email()
    c.magic_links.email.discovery.send(email_address=address)
    found = c.magic_links.discovery.authenticate(discovery_magic_links_token=harness.token(address))
    harness.expire_tokens()
    before = server.snapshot()
    with stytch_error(404, "intermediate_session_not_found"):
        c.discovery.organizations.create(
            intermediate_session_token=found.intermediate_session_token,
            organization_name=unique("Late"),
        )
    assert server.snapshot() == before


# -- email one-time codes -----------------------------------------------------------------------


def test_an_email_code_signs_the_member_in_once(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    org, other = harness.org(), harness.org()
    address = email()
    member = harness.member(org.organization_id, address)
    harness.member(other.organization_id, address)
    sent = c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    assert sent.member_created is False
    code = harness.code(address)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.authenticate(
            organization_id=org.organization_id, email_address=address, code=wrong
        )
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_otp_code"):  # the right code, another organization
        c.otps.email.authenticate(
            organization_id=other.organization_id, email_address=address, code=code
        )
    assert server.snapshot() == before
    done = c.otps.email.authenticate(
        organization_id=org.organization_id, email_address=address, code=code
    )
    assert done.member_id == member.member_id and done.member_authenticated is True
    assert [f.type for f in done.member_session.authentication_factors] == ["otp"]
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.authenticate(
            organization_id=org.organization_id, email_address=address, code=code
        )
    assert server.snapshot() == before


def test_an_email_code_dies_after_five_wrong_guesses_and_when_expired(harness: Harness) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    harness.member(org.organization_id, address)
    c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    code = harness.code(address)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with stytch_error(401, "unable_to_auth_otp_code"):
            c.otps.email.authenticate(
                organization_id=org.organization_id, email_address=address, code=wrong
            )
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.authenticate(
            organization_id=org.organization_id, email_address=address, code=code
        )
    c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    code = harness.code(address)
    harness.expire_tokens()
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.authenticate(
            organization_id=org.organization_id, email_address=address, code=code
        )


def test_email_code_signup_and_discovery(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    domain = f"{unique('acme')}.test"
    org = harness.org(email_jit_provisioning="RESTRICTED", email_allowed_domains=[domain])
    address = email(domain)
    sent = c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    assert sent.member_created is True
    done = c.otps.email.authenticate(
        organization_id=org.organization_id, email_address=address, code=harness.code(address)
    )
    assert done.member.status == "active" and done.member.email_address_verified is True
    c.otps.email.discovery.send(email_address=address, locale="fr")
    message_code = harness.code(address)
    found = c.otps.email.discovery.authenticate(email_address=address, code=message_code)
    assert {d.membership.type for d in found.discovered_organizations} == {"active_member"}
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.discovery.authenticate(email_address=address, code=message_code)
    assert server.snapshot() == before
    joined = c.discovery.intermediate_sessions.exchange(
        intermediate_session_token=found.intermediate_session_token,
        organization_id=org.organization_id,
    )
    assert [f.type for f in joined.member_session.authentication_factors] == ["otp"]


def test_sends_are_rate_limited_per_address_and_never_log_a_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, emails_per_address_per_hour=2) as server,
    ):
        c = stytch.B2BClient(server.project_id, server.secret, environment=server.url + "/")
        register_redirect_url(server, DISCOVERY_URL, ["DISCOVERY"])
        address = email()
        c.magic_links.email.discovery.send(email_address=address)
        c.otps.email.discovery.send(email_address=address)
        # Without an SMTP server the log says an email was not sent, and never what it held.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            unsent = [r for r in caplog.records if "was not sent" in r.getMessage()]
            if len(unsent) == 2:
                break
            time.sleep(0.05)
        assert len(unsent) == 2
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "token=" not in logged and not re.search(r"\b[0-9]{6}\b", logged)
        before = server.snapshot()
        with stytch_error(429, "too_many_requests"):
            c.magic_links.email.discovery.send(email_address=address)
        assert server.snapshot() == before
        # Another address is not held back.
        c.magic_links.email.discovery.send(email_address=email())


def test_invitations_and_sends_with_a_session_header_are_enforced(
    harness: Harness, server: RunningServer
) -> None:
    from stytch.b2b.models.magic_links_email import InviteRequestOptions

    c = harness.client
    org, other = harness.org(), harness.org()
    admin_address, plain_address = email(), email()
    harness.member(org.organization_id, admin_address, roles=["stytch_admin"])
    harness.member(org.organization_id, plain_address)
    sessions = {}
    for address in (admin_address, plain_address):
        c.magic_links.email.login_or_signup(
            organization_id=org.organization_id, email_address=address
        )
        sessions[address] = c.magic_links.authenticate(
            magic_links_token=harness.token(address)
        ).session_token

    def as_member(address: str) -> InviteRequestOptions:
        return InviteRequestOptions(authorization=Authorization(session_token=sessions[address]))

    before = server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        c.magic_links.email.invite(
            organization_id=org.organization_id,
            email_address=email(),
            method_options=as_member(plain_address),
        )
    with stytch_error(403, "session_authorization_tenancy_error"):
        c.magic_links.email.invite(
            organization_id=other.organization_id,
            email_address=email(),
            method_options=as_member(admin_address),
        )
    assert server.snapshot() == before
    invited = email()
    done = c.magic_links.email.invite(
        organization_id=org.organization_id,
        email_address=invited,
        method_options=as_member(admin_address),
    )
    assert done.member.status == "invited"
    assert harness.link(invited)[0] == INVITE_URL


def test_a_deleted_member_cannot_use_a_link_sent_before(
    harness: Harness, server: RunningServer
) -> None:
    c = harness.client
    org = harness.org()
    address = email()
    member = harness.member(org.organization_id, address)
    c.magic_links.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    token = harness.token(address)
    c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    code = harness.code(address)
    c.organizations.members.delete(organization_id=org.organization_id, member_id=member.member_id)
    before = server.snapshot()
    with stytch_error(401, "unable_to_auth_magic_link"):
        c.magic_links.authenticate(magic_links_token=token)
    with stytch_error(401, "unable_to_auth_otp_code"):
        c.otps.email.authenticate(
            organization_id=org.organization_id, email_address=address, code=code
        )
    # Deleted, the address is no member: signing up again needs JIT provisioning.
    with stytch_error(403, "email_jit_provisioning_not_allowed"):
        c.magic_links.email.login_or_signup(
            organization_id=org.organization_id, email_address=address
        )
    assert server.snapshot() == before


def test_every_flow_writes_its_events(harness: Harness, server: RunningServer) -> None:
    c = harness.client
    domain = f"{unique('ev')}.test"
    org = harness.org(email_jit_provisioning="RESTRICTED", email_allowed_domains=[domain])
    address = email(domain)
    c.magic_links.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    signed = c.magic_links.authenticate(magic_links_token=harness.token(address))
    c.otps.email.login_or_signup(organization_id=org.organization_id, email_address=address)
    c.otps.email.authenticate(
        organization_id=org.organization_id, email_address=address, code=harness.code(address)
    )
    other = harness.org()
    c.magic_links.email.invite(organization_id=other.organization_id, email_address=address)
    harness.mailbox.take(address)
    c.sessions.exchange(organization_id=other.organization_id, session_token=signed.session_token)
    c.magic_links.email.discovery.send(email_address=address)
    found = c.magic_links.discovery.authenticate(discovery_magic_links_token=harness.token(address))
    c.discovery.intermediate_sessions.exchange(
        intermediate_session_token=found.intermediate_session_token,
        organization_id=org.organization_id,
    )
    c.otps.email.discovery.send(email_address=address)
    found = c.otps.email.discovery.authenticate(email_address=address, code=harness.code(address))
    c.discovery.organizations.create(
        intermediate_session_token=found.intermediate_session_token,
        organization_name=unique("Events"),
    )
    for action in (
        "member.magic_link_send",
        "member.magic_link_authenticate",
        "member.email_otp_send",
        "member.email_otp_authenticate",
        "member.invite",
        "discovery.magic_link_send",
        "discovery.magic_link_authenticate",
        "discovery.otp_send",
        "discovery.otp_authenticate",
        "discovery.intermediate_session_exchange",
        "discovery.organization_create",
        "session.exchange",
    ):
        events = _events(server, action)
        assert events, action
        # No event holds a token or a code.
        for event in events:
            assert "token" not in str(event["changes"]).lower()
