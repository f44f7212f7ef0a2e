"""Abuse limits and secrets at rest, against a real server over SQLite or PostgreSQL.

1. Lock contention answers 503 `database_busy` with `Retry-After` (never 500), and password
   hashing is capped per node (429 beyond the cap, after a short wait).
2. Email sends are limited per address and per client.
3. Failed sign-ins limit the failing client, never the owner signing in from elsewhere.
4. Signing keys are sealed at rest; tokens reach the log only with `mail_to_log`; a line break
   in a workspace or organization name does not break an email.

Different clients are different loopback source addresses (127.0.0.2, 127.0.0.3, ...): the
server sees each as its own IP address.
"""

from __future__ import annotations

import base64
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from sqlalchemy import create_engine, select, text, update

from gatehouse.storage.sql import tables
from tests.dashboard.test_sign_in import ADMIN, STRONG, dashboard_server, token_in
from tests.databases import backend, throwaway_database
from tests.server import FAST_ARGON2, RunningServer, another_node, running_server

PASSWORD = "the right passphrase 8e3"
OWNER, ATTACKER, OTHER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def http(server: RunningServer, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client of `server` whose connections come from the loopback address `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def b2b_auth(server: RunningServer) -> dict[str, str]:
    pair = f"{server.project_id}:{server.secret}".encode()
    return {"authorization": "Basic " + base64.b64encode(pair).decode()}


def refused(
    server: RunningServer, response_of: Any, status: int, error_type: str
) -> httpx.Response:
    """`response_of()` fails with `status` and `error_type` and changes nothing."""
    before = server.snapshot()
    response = response_of()
    assert (response.status_code, response.json()["error_type"]) == (status, error_type), (
        response.text
    )
    assert server.snapshot() == before
    return response


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


def new_org(server: RunningServer, slug: str) -> str:
    with http(server) as client:
        response = client.post(
            "/v1/b2b/organizations",
            json={"organization_name": slug.title(), "organization_slug": slug},
            headers=b2b_auth(server),
        )
    assert response.status_code == 200, response.text
    return str(response.json()["organization"]["organization_id"])


def migrate_member(server: RunningServer, org_id: str, email: str) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with http(server) as client:
        response = client.post(
            "/v1/b2b/passwords/migrate",
            json={
                "email_address": email,
                "hash": hashed,
                "hash_type": "bcrypt",
                "organization_id": org_id,
            },
            headers=b2b_auth(server),
        )
    assert response.status_code == 200, response.text


def b2b_sign_in(
    server: RunningServer, client: httpx.Client, org_id: str, email: str, password: str
) -> httpx.Response:
    return client.post(
        "/v1/b2b/passwords/authenticate",
        json={"organization_id": org_id, "email_address": email, "password": password},
        headers=b2b_auth(server),
    )


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with throwaway_database(tmp_path) as url:
        yield url


# -- 1. lock contention and the hashing cap ------------------------------------------------------


@contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    """Another connection holds the database's write lock (SQLite) or an EXCLUSIVE lock on
    `organizations` (PostgreSQL: reads go on, writes to it wait)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE organizations IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def test_a_write_that_waits_too_long_for_a_lock_answers_503_and_reads_go_on(db_url):
    with running_server(db_url, database_busy_timeout_seconds=0.3, **FAST_ARGON2) as server:
        org_id = new_org(server, "before-the-lock")
        before = server.snapshot()  # (the snapshot itself is a write transaction on SQLite)
        with http(server) as client, write_lock_held(db_url):
            started = time.monotonic()
            response = client.post(
                "/v1/b2b/organizations",
                json={"organization_name": "Blocked", "organization_slug": "blocked"},
                headers=b2b_auth(server),
            )
            assert time.monotonic() - started < 5  # a bounded wait, not a hang
            assert (response.status_code, response.json()["error_type"]) == (503, "database_busy")
            assert retry_after(response) >= 1
            assert "busy" in response.json()["error_message"]
            read = client.get(f"/v1/b2b/organizations/{org_id}", headers=b2b_auth(server))
            assert read.status_code == 200, read.text
        assert server.snapshot() == before
        with http(server) as client:  # the lock gone, the same write goes through
            again = client.post(
                "/v1/b2b/organizations",
                json={"organization_name": "Blocked", "organization_slug": "blocked"},
                headers=b2b_auth(server),
            )
            assert again.status_code == 200, again.text


def test_password_hashing_is_capped_per_node(db_url):
    with running_server(
        db_url, password_hash_concurrency=1, password_hash_wait_seconds=0.2, **FAST_ARGON2
    ) as server:
        org_id = new_org(server, "capped")
        migrate_member(server, org_id, "member@capped.example")
        passwords = server.gatehouse.runtime.passwords
        assert passwords.concurrency == 1
        in_progress = threading.Event()
        release = threading.Event()

        def slow_sign_in() -> None:  # one sign-in holds the only slot while it hashes
            with passwords.slot():
                in_progress.set()
                release.wait(10)

        holder = threading.Thread(target=slow_sign_in)
        holder.start()
        try:
            assert in_progress.wait(5)
            with http(server) as client:
                started = time.monotonic()
                response = refused(
                    server,
                    lambda: b2b_sign_in(server, client, org_id, "member@capped.example", PASSWORD),
                    429,
                    "too_many_requests",
                )
                assert time.monotonic() - started < 3  # waited briefly, did not queue
                assert retry_after(response) >= 1
                dashboard = refused(
                    server,
                    lambda: client.post(
                        "/pwa/v3/auth/password",
                        json={"email_address": ADMIN, "password": STRONG},
                    ),
                    429,
                    "too_many_requests",
                )
                assert retry_after(dashboard) >= 1
        finally:
            release.set()
            holder.join()
        with http(server) as client:
            signed_in = b2b_sign_in(server, client, org_id, "member@capped.example", PASSWORD)
            assert signed_in.status_code == 200, signed_in.text


def test_a_sign_in_finds_the_only_hashing_slot_taken_by_a_slow_one_and_gets_429(db_url):
    with running_server(
        db_url, password_hash_concurrency=1, password_hash_wait_seconds=0.2, **FAST_ARGON2
    ) as server:
        org_id = new_org(server, "slow-hash")
        migrate_member(server, org_id, "fast@slow-hash.example")
        slow = bcrypt.hashpw(
            PASSWORD.encode(), bcrypt.gensalt(13)
        ).decode()  # a second or more a check
        with http(server) as client:
            migrated = client.post(
                "/v1/b2b/passwords/migrate",
                json={
                    "email_address": "slow@slow-hash.example",
                    "hash": slow,
                    "hash_type": "bcrypt",
                    "organization_id": org_id,
                },
                headers=b2b_auth(server),
            )
            assert migrated.status_code == 200, migrated.text
        slots = server.gatehouse.runtime.passwords._slots
        results: list[int] = []

        def slow_sign_in() -> None:
            with http(server) as own:
                response = b2b_sign_in(server, own, org_id, "slow@slow-hash.example", PASSWORD)
                results.append(response.status_code)

        first = threading.Thread(target=slow_sign_in)
        first.start()
        try:
            deadline = time.monotonic() + 10
            while slots._value > 0:  # the semaphore's free slots
                assert time.monotonic() < deadline, "the slow sign-in never started hashing"
                time.sleep(0.005)
            with http(server) as client:
                response = refused(
                    server,
                    lambda: b2b_sign_in(server, client, org_id, "fast@slow-hash.example", PASSWORD),
                    429,
                    "too_many_requests",
                )
                assert retry_after(response) >= 1
        finally:
            first.join()
        assert results == [200]


# -- 2. email sends ------------------------------------------------------------------------------


def test_sign_in_link_sends_are_limited_per_address_and_per_client(db_url):
    with running_server(
        db_url, emails_per_address_per_hour=3, emails_per_client_per_hour=5, **FAST_ARGON2
    ) as server:
        send = "/pwa/v3/auth/magic_links/send"
        with http(server, ATTACKER) as attacker, http(server, OTHER) as other:
            for _ in range(3):
                assert attacker.post(send, json={"email_address": ADMIN}).status_code == 200
            with server.store.engine.connect() as conn:
                assert len(conn.execute(select(tables.email_tokens)).all()) == 3
            flood = refused(
                server,
                lambda: attacker.post(send, json={"email_address": ADMIN}),
                429,
                "too_many_requests",
            )
            assert retry_after(flood) > 60  # the bucket refills 3 an hour
            # The address is limited whoever asks.
            refused(
                server,
                lambda: other.post(send, json={"email_address": ADMIN.upper()}),
                429,
                "too_many_requests",
            )
            # The client is limited whatever it asks for (members or not: no difference shows).
            for n in range(2):
                ok = attacker.post(send, json={"email_address": f"nobody{n}@example.org"})
                assert ok.status_code == 200
            refused(
                server,
                lambda: attacker.post(send, json={"email_address": "nobody9@example.org"}),
                429,
                "too_many_requests",
            )
            assert (
                other.post(send, json={"email_address": "someone@example.org"}).status_code == 200
            )


# -- 3. lockout as a weapon ----------------------------------------------------------------------


def test_an_attacker_cannot_lock_a_member_out(db_url):
    with running_server(db_url, **FAST_ARGON2) as server:
        org_id = new_org(server, "targeted")
        email = "owner@targeted.example"
        migrate_member(server, org_id, email)
        attackers = [http(server, f"127.0.0.{n}") for n in (3, 4, 5)]
        owner = http(server, OWNER)
        try:
            first = attackers[0]
            for _ in range(5):  # sign_in_failures_per_account_client
                wrong = b2b_sign_in(server, first, org_id, email, "a wrong guess")
                assert wrong.json()["error_type"] == "unauthorized_credentials"
            throttled = refused(
                server,
                lambda: b2b_sign_in(server, first, org_id, email, PASSWORD),
                429,
                "too_many_requests",
            )
            assert retry_after(throttled) > 60
            signed_in = b2b_sign_in(server, owner, org_id, email, PASSWORD)
            assert signed_in.status_code == 200, signed_in.text

            # Ten failures for the account from two clients: a third, clean client gets one try;
            # after it failed it is out too, while the owner still signs in.
            for _ in range(5):
                b2b_sign_in(server, attackers[1], org_id, email, "a wrong guess")
            assert b2b_sign_in(server, attackers[2], org_id, email, "x").status_code == 401
            refused(
                server,
                lambda: b2b_sign_in(server, attackers[2], org_id, email, PASSWORD),
                429,
                "too_many_requests",
            )
            again = b2b_sign_in(server, owner, org_id, email, PASSWORD)
            assert again.status_code == 200, again.text
        finally:
            for client in (*attackers, owner):
                client.close()


def test_an_attacker_cannot_lock_a_dashboard_user_out(db_url):
    with running_server(db_url, **FAST_ARGON2) as server:
        hashed = server.gatehouse.runtime.passwords.hash(STRONG)
        with server.store.engine.begin() as conn:
            t = tables.workspace_members
            conn.execute(update(t).where(t.c.email == ADMIN).values(password_hash=hashed))
        path = "/pwa/v3/auth/password"
        with http(server, ATTACKER) as attacker, http(server, OWNER) as owner:
            for _ in range(5):
                wrong = attacker.post(path, json={"email_address": ADMIN, "password": "guess"})
                assert wrong.status_code == 401
            refused(
                server,
                lambda: attacker.post(path, json={"email_address": ADMIN, "password": STRONG}),
                429,
                "too_many_requests",
            )
            signed_in = owner.post(path, json={"email_address": ADMIN, "password": STRONG})
            assert signed_in.status_code == 200, signed_in.text
            assert signed_in.json()["session_token"]


def test_a_client_failing_on_many_accounts_is_refused_on_every_account(db_url):
    with running_server(db_url, sign_in_failures_per_client=3, **FAST_ARGON2) as server:
        path = "/pwa/v3/auth/password"
        with http(server, ATTACKER) as attacker, http(server, OWNER) as owner:
            for n in range(3):
                body = {"email_address": f"person{n}@example.org", "password": "guess"}
                assert attacker.post(path, json=body).status_code == 401
            refused(
                server,
                lambda: attacker.post(path, json={"email_address": ADMIN, "password": "x"}),
                429,
                "too_many_requests",
            )
            body = {"email_address": "person0@example.org", "password": "guess"}
            assert owner.post(path, json=body).status_code == 401  # another client: its own count


# -- 4. secrets at rest and in logs --------------------------------------------------------------


def _stored_private_keys(server: RunningServer) -> list[str]:
    with server.store.engine.connect() as conn:
        return [r.private_key_pem for r in conn.execute(select(tables.signing_keys)).all()]


def test_signing_keys_are_sealed_at_rest_and_clear_ones_are_resealed(db_url):
    with running_server(db_url, **FAST_ARGON2) as server:
        stored = _stored_private_keys(server)
        assert stored
        for value in stored:
            assert value.startswith("fernet:")
            assert "PRIVATE KEY" not in value and "-----BEGIN" not in value
        if backend() == "sqlite":  # no key configured: one generated beside the database
            key_file = Path(db_url.split("///", 1)[1]).parent / "encryption.key"
            assert key_file.stat().st_mode & 0o077 == 0
        org_id = new_org(server, "sealed")
        migrate_member(server, org_id, "m@sealed.example")
        with http(server) as client:
            signed_in = b2b_sign_in(server, client, org_id, "m@sealed.example", PASSWORD)
            assert signed_in.status_code == 200 and signed_in.json()["session_jwt"]

        # A key stored in clear, as before this change, keeps working and is sealed at start-up.
        sealer = server.gatehouse.runtime.sealer
        with server.store.engine.begin() as conn:
            t = tables.signing_keys
            for row in conn.execute(select(t)).all():
                clear = sealer.open(row.private_key_pem)
                conn.execute(update(t).where(t.c.kid == row.kid).values(private_key_pem=clear))
        assert all("PRIVATE KEY" in v for v in _stored_private_keys(server))
        with another_node(server) as second, http(second) as client:
            assert all(v.startswith("fernet:") for v in _stored_private_keys(server))
            signed_in = b2b_sign_in(second, client, org_id, "m@sealed.example", PASSWORD)
            assert signed_in.status_code == 200 and signed_in.json()["session_jwt"]


_TOKEN_IN_LOG = re.compile(r"token=[A-Za-z0-9_-]{20,}|token is: [A-Za-z0-9_-]{20,}")


@pytest.mark.parametrize("mail_to_log", [False, True])
def test_tokens_reach_the_log_only_with_mail_to_log(db_url, caplog, mail_to_log):
    caplog.set_level(logging.DEBUG)
    with running_server(db_url, mail_to_log=mail_to_log, **FAST_ARGON2) as server:
        with http(server) as client:
            sent = client.post("/pwa/v3/auth/magic_links/send", json={"email_address": ADMIN})
            assert sent.status_code == 200
        deadline = time.monotonic() + 5
        while not any(r.name == "gatehouse.services.mail" for r in caplog.records):
            assert time.monotonic() < deadline, "nothing was logged"
            time.sleep(0.02)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ADMIN in logged
    if mail_to_log:
        assert _TOKEN_IN_LOG.search(logged)
    else:
        assert "was not sent" in logged
        assert not _TOKEN_IN_LOG.search(logged), logged
        assert "/dashboard/authenticate" not in logged


def test_a_line_break_in_a_workspace_or_organization_name_does_not_break_an_email(tmp_path):
    with dashboard_server(tmp_path) as dash:
        server = dash.server
        with server.store.engine.begin() as conn:
            conn.execute(
                update(tables.workspaces).values(name="Acme\r\nBcc: victim@example.org\nCorp")
            )
        # A sign-in link: the subject names the workspace.
        dash.send_link(ADMIN)
        message = dash.mailbox.take(ADMIN)
        assert message["Subject"] == "Sign in to Acme Bcc: victim@example.org Corp on Gatehouse"
        assert message["Bcc"] is None and message["Date"] and message["Message-ID"]
        assert message["To"] == ADMIN
        session = dash.redeem(token_in(message))["session_token"]
        dash._admin_token = session

        # An invitation.
        invited = "invitee@example.com"
        dash.invite(invited, "developer")
        invitation = dash.mailbox.take(invited)
        assert invitation["Subject"] == "Join Acme Bcc: victim@example.org Corp on Gatehouse"
        assert invitation["Bcc"] is None and invitation["Message-ID"]
        assert dash.redeem(token_in(invitation))["member"]["status"] == "active"

        # A support password reset: the subject names the organization.
        org_id = new_org(server, "broken-name")
        with server.store.engine.begin() as conn:
            t = tables.organizations
            conn.execute(update(t).where(t.c.id == org_id).values(name="Evil\nX-Injected: 1"))
        with http(server) as client:
            created = client.post(
                f"/v1/b2b/organizations/{org_id}/members",
                json={"email_address": "member@broken.example"},
                headers=b2b_auth(server),
            )
            assert created.status_code == 200, created.text
            member_id = created.json()["member"]["member_id"]
        path = (
            f"/pwa/v3/projects/{server.project_slug}/environments/test/organizations/{org_id}"
            f"/members/{member_id}/password_reset"
        )
        dash.ok(
            "POST",
            path,
            {"reset_password_redirect_url": "https://app.example.com/reset"},
            token=session,
        )
        reset = dash.mailbox.take("member@broken.example")
        assert reset["Subject"] == "Reset your password for Evil X-Injected: 1"
        assert reset["X-Injected"] is None and reset["Date"]
        body = reset.get_body(("plain",))
        assert body is not None and "token=" in body.get_content()
