"""Dashboard sign-in against a real server and a real SMTP server (aiosmtpd): passwords, emailed
one-time links, sign-out and session expiry, and the log fallback when no SMTP server is set.

`Dashboard` and `dashboard_server` are the harness the invitation and JIT tests share.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from gatehouse.services.security import credentials
from gatehouse.storage.sql import tables
from tests.databases import throwaway_database
from tests.server import FAST_ARGON2, RunningServer, running_server

ADMIN = "admin@example.com"  # the Admin `gatehouse init` made in tests/server.py
STRONG = "correct horse battery staple 7"
WAIT_SECONDS = 5.0
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def sent_to(self, address: str) -> list[EmailMessage]:
        with self._arrived:
            return [m for m in self.messages if m["To"].lower() == address.lower()]

    def take(self, address: str) -> EmailMessage:
        """The oldest message to `address`, removed from the box; waits up to WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self._arrived:
            while True:
                for message in self.messages:
                    if message["To"].lower() == address.lower():
                        self.messages.remove(message)
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email to {address} within {WAIT_SECONDS} s")
                self._arrived.wait(remaining)


def token_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = _TOKEN.search(body.get_content())
    assert found, body.get_content()
    return found.group(1)


class Dashboard:
    """A running server with a mailbox, spoken to over HTTP as the dashboard would."""

    def __init__(self, server: RunningServer, mailbox: Mailbox) -> None:
        self.server = server
        self.mailbox = mailbox
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self._admin_token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        key: bool = False,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if key:
            pair = f"{self.server.management_key['key_id']}:{self.server.management_key['secret']}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return self.http.request(method, path, json=body, headers=headers)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **auth: Any) -> Any:
        response = self.call(method, path, body, **auth)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["status_code"] == 200 and data["request_id"]
        return data

    def refused(
        self,
        status: int,
        error_type: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        **auth: Any,
    ) -> dict[str, Any]:
        """The request fails as expected and changes nothing."""
        before = self.server.snapshot()
        response = self.call(method, path, body, **auth)
        data = response.json()
        assert (response.status_code, data.get("error_type")) == (status, error_type), data
        assert data["status_code"] == status and data["error_message"]
        assert self.server.snapshot() == before
        return dict(data)

    def send_link(self, address: str) -> None:
        self.ok("POST", "/pwa/v3/auth/magic_links/send", {"email_address": address})

    def redeem(self, token: str) -> dict[str, Any]:
        return dict(self.ok("POST", "/pwa/v3/auth/magic_links/authenticate", {"token": token}))

    def sign_in_by_link(self, address: str) -> dict[str, Any]:
        self.send_link(address)
        return self.redeem(token_in(self.mailbox.take(address)))

    @property
    def admin(self) -> str:
        """A session token of the workspace's first Admin (signed in by link once)."""
        if self._admin_token is None:
            self._admin_token = self.sign_in_by_link(ADMIN)["session_token"]
        return self._admin_token

    def invite(self, address: str, role: str) -> dict[str, Any]:
        body = {"email_address": address, "role": role}
        member = self.ok("POST", "/pwa/v3/workspace/invitations", body, token=self.admin)["member"]
        return dict(member)

    def members(self) -> dict[str, dict[str, Any]]:
        listed = self.ok("GET", "/pwa/v3/workspace/members", token=self.admin)["members"]
        return {m["email_address"]: m for m in listed}

    def me(self, token: str) -> dict[str, Any]:
        return dict(self.ok("GET", "/pwa/v3/auth/me", token=token)["member"])

    def put_domain(self, domain: str, jit_enabled: bool, auto_role: str | None = None) -> None:
        body = {"jit_enabled": jit_enabled, "auto_role": auto_role}
        self.ok("PUT", f"/pwa/v3/workspace/domains/{domain}", body, token=self.admin)

    def events(self) -> list[dict[str, Any]]:
        store = self.server.store
        with store.read() as tx:
            workspace = store.get_workspace(tx)
            assert workspace is not None
            return list(reversed(store.events(tx, workspace["id"], limit=10_000)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dashboard_server(tmp_path: Path, **settings: Any) -> Iterator[Dashboard]:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        with (
            throwaway_database(tmp_path) as url,
            running_server(
                url, smtp_host="127.0.0.1", smtp_port=smtp.port, **FAST_ARGON2, **settings
            ) as server,
        ):
            dashboard = Dashboard(server, mailbox)
            try:
                yield dashboard
            finally:
                dashboard.http.close()
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with dashboard_server(tmp_path_factory.mktemp("db")) as running:
        yield running


def _with_password(dash: Dashboard, address: str, role: str = "support_agent") -> str:
    """An active member with password STRONG; returns a session token."""
    dash.invite(address, role)
    token = dash.redeem(token_in(dash.mailbox.take(address)))["session_token"]
    dash.ok("POST", "/pwa/v3/auth/password/set", {"password": STRONG}, token=token)
    return str(token)


# -- passwords ---------------------------------------------------------------------------------


def test_a_member_signs_in_with_their_password(dash):
    _with_password(dash, "pat@pw.example", "developer")
    signed_in = dash.ok(
        "POST", "/pwa/v3/auth/password", {"email_address": "Pat@PW.example", "password": STRONG}
    )
    assert signed_in["member"]["email_address"] == "pat@pw.example"
    assert signed_in["member"]["role"] == "developer"
    expires = dt.datetime.fromisoformat(signed_in["expires_at"].replace("Z", "+00:00"))
    assert expires > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=700)  # 720 by default
    assert dash.me(signed_in["session_token"])["email_address"] == "pat@pw.example"
    event = [e for e in dash.events() if e["action"] == "workspace_member.sign_in"][-1]
    member_id = signed_in["member"]["member_id"]
    assert (event["actor"], event["actor_role"], event["target"], event["changes"]) == (
        f"workspace_member:{member_id}",
        "developer",
        member_id,
        {"method": "password"},
    )


def test_wrong_password_unknown_email_and_no_password_fail_alike(dash):
    _with_password(dash, "quinn@pw.example")
    dash.invite("noel@pw.example", "developer")  # invited, never signed in, no password
    dash.mailbox.take("noel@pw.example")
    answers = [
        dash.refused(
            401,
            "unauthorized_credentials",
            "POST",
            "/pwa/v3/auth/password",
            {"email_address": address, "password": password},
        )
        for address, password in [
            ("quinn@pw.example", STRONG + "!"),
            ("nobody@pw.example", STRONG),
            ("noel@pw.example", STRONG),
            (ADMIN, STRONG),  # active, but has never set a password
        ]
    ]
    assert len({a["error_message"] for a in answers}) == 1


def test_repeated_wrong_passwords_pause_password_sign_in_for_that_client(dash):
    _with_password(dash, "sol@pw.example")
    wrong = {"email_address": "sol@pw.example", "password": "not the password"}
    for _ in range(5):  # sign_in_failures_per_account_client
        dash.refused(401, "unauthorized_credentials", "POST", "/pwa/v3/auth/password", wrong)
    right = {"email_address": "sol@pw.example", "password": STRONG}
    dash.refused(429, "too_many_requests", "POST", "/pwa/v3/auth/password", right)
    assert dash.sign_in_by_link("sol@pw.example")["member"]["status"] == "active"


def test_setting_a_password_needs_a_strong_one_and_a_person(dash):
    dash.invite("rio@pw.example", "support_agent")
    token = dash.redeem(token_in(dash.mailbox.take("rio@pw.example")))["session_token"]
    path = "/pwa/v3/auth/password/set"
    short = dash.refused(400, "weak_password", "POST", path, {"password": "Xy7!short"}, token=token)
    assert "at least 12 characters" in short["error_message"]
    weak = dash.refused(
        400, "weak_password", "POST", path, {"password": "password1234"}, token=token
    )
    assert "too easy to guess" in weak["error_message"]
    dash.refused(403, "forbidden", "POST", path, {"password": STRONG}, key=True)
    dash.refused(401, "unauthorized_credentials", "POST", path, {"password": STRONG})
    dash.refused(400, "invalid_request", "POST", path, {"password": 12345678901234}, token=token)
    dash.ok("POST", path, {"password": STRONG}, token=token)
    assert dash.events()[-1]["action"] == "workspace_member.password_set"
    assert "correct horse" not in repr(dash.events())
    body = {"email_address": "rio@pw.example", "password": STRONG}
    assert dash.ok("POST", "/pwa/v3/auth/password", body)["member"]["role"] == "support_agent"


# -- emailed sign-in links -----------------------------------------------------------------------


def _unverified_member(dash: Dashboard, address: str, role: str) -> None:
    """An active member whose email is not proven yet (like the Admin `gatehouse init` makes)."""
    store, workspace = dash.server.store, dash.server.gatehouse.workspace
    with store.transaction() as tx:
        workspace_id = workspace.workspace(tx)["id"]
        workspace.add_member(tx, workspace_id, address, role, status="active", verified=False)


def test_a_sign_in_link_proves_the_email(dash):
    address = "uma@links.example"
    _unverified_member(dash, address, "support_manager")
    assert dash.members()[address]["email_verified"] is False
    dash.send_link(address)
    message = dash.mailbox.take(address)
    assert message["Subject"] == "Sign in to Tests on Gatehouse"
    token = token_in(message)
    assert f"{dash.server.url}/dashboard/authenticate?token={token}" in message.get_content()
    signed_in = dash.redeem(token)
    member = signed_in["member"]
    assert (member["email_address"], member["status"], member["email_verified"]) == (
        address,
        "active",
        True,
    )
    assert member["role"] == "support_manager"
    assert dash.members()[address]["email_verified"] is True
    assert dash.me(signed_in["session_token"])["email_verified"] is True
    actions = [(e["actor"], e["action"]) for e in dash.events()[-3:]]
    actor = f"workspace_member:{member['member_id']}"
    assert actions == [
        (actor, "workspace_member.sign_in_link_send"),
        (actor, "workspace_member.email_verify"),
        (actor, "workspace_member.sign_in"),
    ]


def test_a_link_works_once(dash):
    dash.send_link(ADMIN)
    token = token_in(dash.mailbox.take(ADMIN))
    dash.redeem(token)
    path = "/pwa/v3/auth/magic_links/authenticate"
    refused = dash.refused(401, "email_link_used", "POST", path, {"token": token})
    assert "already used" in refused["error_message"]


def test_an_expired_link_is_refused(dash):
    dash.send_link(ADMIN)
    token = token_in(dash.mailbox.take(ADMIN))
    with dash.server.store.engine.begin() as tx:
        tx.execute(
            update(tables.email_tokens)
            .where(tables.email_tokens.c.token_hash == credentials.token_digest(token))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    path = "/pwa/v3/auth/magic_links/authenticate"
    refused = dash.refused(401, "email_link_expired", "POST", path, {"token": token})
    assert "expired" in refused["error_message"]


def test_an_unknown_or_malformed_link_is_refused(dash):
    path = "/pwa/v3/auth/magic_links/authenticate"
    dash.refused(404, "email_link_not_found", "POST", path, {"token": "not-a-token"})
    dash.refused(400, "invalid_request", "POST", path, {"token": ""})
    dash.refused(400, "invalid_request", "POST", path, {})
    dash.refused(400, "invalid_request", "POST", path, {"token": "x", "extra": 1})


def test_asking_for_a_link_never_tells_who_is_a_member(dash):
    path = "/pwa/v3/auth/magic_links/send"
    before = dash.server.snapshot()
    stranger = dash.call("POST", path, {"email_address": "stranger@nowhere.example"})
    assert stranger.status_code == 200
    assert dash.server.snapshot() == before  # no token, no event
    member = dash.call("POST", path, {"email_address": ADMIN})
    assert member.status_code == 200
    assert stranger.json().keys() == member.json().keys() == {"status_code", "request_id"}
    dash.mailbox.take(ADMIN)
    assert dash.mailbox.sent_to("stranger@nowhere.example") == []
    dash.refused(400, "invalid_request", "POST", path, {"email_address": "not an email"})


def test_signing_out_ends_the_session(dash):
    token = dash.sign_in_by_link(ADMIN)["session_token"]
    dash.ok("POST", "/pwa/v3/auth/sign_out", token=token)
    assert dash.events()[-1]["action"] == "workspace_member.sign_out"
    dash.refused(401, "unauthorized_credentials", "GET", "/pwa/v3/auth/me", token=token)
    dash.refused(401, "unauthorized_credentials", "POST", "/pwa/v3/auth/sign_out", token=token)
    dash.refused(401, "unauthorized_credentials", "POST", "/pwa/v3/auth/sign_out", key=True)
    dash.refused(401, "unauthorized_credentials", "POST", "/pwa/v3/auth/sign_out")


def test_a_session_expires(dash):
    token = dash.sign_in_by_link(ADMIN)["session_token"]
    assert dash.me(token)["email_address"] == ADMIN
    store = dash.server.store
    with store.transaction() as tx:
        session = store.find_dashboard_session(tx, credentials.token_digest(token))
        assert session is not None
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        store.update_dashboard_session(tx, session["id"], {"expires_at": past})
    dash.refused(401, "unauthorized_credentials", "GET", "/pwa/v3/auth/me", token=token)


def test_a_short_session_setting_is_honoured(tmp_path):
    with dashboard_server(tmp_path, dashboard_session_minutes=0) as short:
        token = short.sign_in_by_link(ADMIN)["session_token"]
        short.refused(401, "unauthorized_credentials", "GET", "/pwa/v3/auth/me", token=token)


def test_me_needs_a_person(dash):
    dash.refused(403, "forbidden", "GET", "/pwa/v3/auth/me", key=True)
    dash.refused(401, "unauthorized_credentials", "GET", "/pwa/v3/auth/me", token="made-up")


def test_without_smtp_the_email_goes_to_the_log(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse.services.mail")
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, mail_to_log=True, **FAST_ARGON2) as server,
    ):
        dash = Dashboard(server, Mailbox())
        try:
            dash.send_link(ADMIN)
            deadline = time.monotonic() + WAIT_SECONDS
            while not any(ADMIN in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "nothing was logged"
                time.sleep(0.02)
            (record,) = [r for r in caplog.records if r.name == "gatehouse.services.mail"]
            assert record.levelno == logging.WARNING
            assert "no SMTP server configured" in record.getMessage()
            found = _TOKEN.search(record.getMessage())
            assert found
            assert dash.redeem(found.group(1))["member"]["email_verified"] is True
        finally:
            dash.http.close()
