"""The operator's CLI for the Management API: init's Admin key, `key create` and `dev-cert`
(in-process), and the installed script's `serve --tls-cert/--tls-key` answering the official
`stytch-management` client over HTTPS."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from stytch_management import Client
from stytch_management.errors import StytchError

from gatehouse.storage.sql import tables
from tests.cli.test_cli import _rows, assert_clean_failure, gatehouse
from tests.cli.test_console_script import GATEHOUSE, script_env

SESSIONS: list[requests.Session] = []


def _client(port: int, cert: Path, key_id: str, secret: str) -> Client:
    session = requests.Session()
    SESSIONS.append(session)
    session.trust_env = False
    session.verify = str(cert)
    return Client(key_id, secret, base_url=f"https://127.0.0.1:{port}/", session=session)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_keys_from_init_and_key_create_drive_the_management_api_over_https(database_url, tmp_path):
    init = gatehouse(
        "init",
        "--admin-email",
        "ops@example.com",
        "--json",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert init.returncode == 0, init.stderr
    admin = json.loads(init.stdout)["management_key"]
    assert admin["key_id"].startswith("workspace-key-") and admin["secret"]

    created = gatehouse(
        "key",
        "create",
        "--role",
        "support_agent",
        "--json",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    agent = json.loads(created.stdout)
    assert set(agent) == {"key_id", "secret"}
    refused = gatehouse(
        "key", "create", "--role", "owner", "--json", database_url=database_url, cwd=tmp_path
    )
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "invalid_role"
    assert_clean_failure(
        gatehouse("key", "create", "--role", "owner", database_url=database_url, cwd=tmp_path),
        "owner",
    )

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = gatehouse(
        "dev-cert", "--cert", str(cert), "--key", str(key), database_url=None, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")

    port = _free_port()
    server = subprocess.Popen(
        [
            str(GATEHOUSE),
            "serve",
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # wait for the port before speaking TLS to it
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gatehouse serve --tls-cert did not come up")
                time.sleep(0.2)
        admin_client = _client(port, cert, admin["key_id"], admin["secret"])
        projects = admin_client.projects.get_all().projects
        assert len(projects) == 1
        slug = projects[0].project_slug
        assert admin_client.secrets.get_all(project_slug=slug, environment_slug="live").secrets

        agent_client = _client(port, cert, agent["key_id"], agent["secret"])
        assert [p.project_slug for p in agent_client.projects.get_all().projects] == [slug]
        with pytest.raises(StytchError) as denied:
            agent_client.secrets.get_all(project_slug=slug, environment_slug="live")
        details = denied.value.details
        # The traceback holds the refused response and its connection, which the server would
        # wait for when it shuts down.
        del denied
        assert (details.status_code, details.error_type) == (403, "forbidden")
    finally:
        for session in SESSIONS:
            session.close()
        server.terminate()
        try:
            server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate(timeout=10)


def test_key_create_before_init_fails_clearly_and_stores_no_key(database_url, tmp_path):
    """A database that does not exist is not created (SQLite); one that exists but was never
    initialised gets no tables (PostgreSQL); either way the message names it and `init`."""
    result = gatehouse("key", "create", "--role", "admin", database_url=database_url, cwd=tmp_path)
    assert_clean_failure(result, "`gatehouse init --admin-email EMAIL`")
    assert result.stdout == ""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        assert result.stderr == (
            f"error: the database {path} does not exist (database URL {database_url}); run "
            "`gatehouse init --admin-email EMAIL` to create it, or name an existing one with "
            "--database-url or GATEHOUSE_DATABASE_URL\n"
        )
        assert not Path(path).exists()
    else:
        assert "is not initialised" in result.stderr
        assert _rows(database_url) == {}


def test_key_create_on_a_migrated_database_without_a_workspace_names_it(database_url, tmp_path):
    from gatehouse.storage import open_store

    open_store(database_url).engine.dispose()  # what `serve` leaves before `init`
    result = gatehouse("key", "create", "--role", "admin", database_url=database_url, cwd=tmp_path)
    assert_clean_failure(result, "has no workspace yet", "`gatehouse init")
    assert _rows(database_url)[tables.workspace_keys.name] == []
