"""The installed `gatehouse` console script, run for real in subprocesses: `--help` without loading
the service graph, and `init` then `serve` on a fresh database (settings from a config file, the
environment and a flag) answering the official Stytch SDK. The other CLI tests run in-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import pytest

from gatehouse import config
from tests.databases import throwaway_database
from tests.server import TEST_ENCRYPTION_KEY

GATEHOUSE = Path(sys.executable).with_name("gatehouse")
TIMEOUT = 60

# What `gatehouse --help` must not import: it needs typer and the settings' descriptions only.
HEAVY = [
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "pydantic",
    "yaml",
    "gatehouse.api",
    "gatehouse.policy",
    "gatehouse.services",
    "gatehouse.storage",
]


def script_env(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's `GATEHOUSE_*` settings, plus
    `settings`."""
    unset = {config.CONFIG_ENV, *(s.env_var for s in config.SETTINGS.values())}
    kept = {k: v for k, v in os.environ.items() if k not in unset}
    # The key test_cli.CLI_ENV gives `gatehouse init` too (and PostgreSQL needs one).
    kept[config.SETTINGS["encryption_keys"].env_var] = TEST_ENCRYPTION_KEY
    return kept | settings


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATEHOUSE), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_help_lists_the_commands_without_loading_the_service_graph(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path, env=script_env(PYTHONPROFILEIMPORTTIME="1"))
    assert result.returncode == 0, result.stderr
    for command in ("serve", "init", "key", "policy", "config", "dev-cert", "bench"):
        assert command in result.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "gatehouse.cli.main" in imported  # the profile covers the command's imports
    loaded = sorted(
        name
        for name in imported
        for heavy in HEAVY
        if name == heavy or name.startswith(heavy + ".")
    )
    assert loaded == []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], str]]:
    """`gatehouse init` and `gatehouse serve` on a fresh database: the database URL from the
    environment, the port and log level from a config file, the host from a flag."""
    cwd = tmp_path_factory.mktemp("serve")
    with throwaway_database(cwd) as database_url:
        env = script_env(GATEHOUSE_DATABASE_URL=database_url)
        init = run("init", "--admin-email", "a@example.com", "--json", cwd=cwd, env=env)
        assert init.returncode == 0, init.stderr
        environments = json.loads(init.stdout)["project"]["environments"]

        port = _free_port()
        (cwd / "gatehouse.toml").write_text(f'port = {port}\nlog_level = "warning"\n')
        process = subprocess.Popen(
            [str(GATEHOUSE), "serve", "--config", "gatehouse.toml", "--host", "127.0.0.1"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    _, err = process.communicate(timeout=10)
                    pytest.fail(f"gatehouse serve exited with {process.returncode}: {err}")
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                        if response.status == 200 and json.load(response) == {"status": "ok"}:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("gatehouse serve did not answer /healthz within 20 s")
                time.sleep(0.1)
            yield environments, url
        finally:
            process.terminate()
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=10)


def test_serve_answers_the_stytch_sdk(served: tuple[dict[str, Any], str]) -> None:
    import stytch

    environments, url = served
    env = environments["test"]
    client = stytch.B2BClient(env["project_id"], env["secret"], environment=f"{url}/")

    roles = [r.role_id for r in client.rbac.policy().policy.roles]
    assert roles[:2] == ["stytch_member", "stytch_admin"]

    org = client.organizations.create(organization_name="Acme Corp").organization
    assert org.organization_name == "Acme Corp"

    password = "a long and unguessable passphrase 42"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    migrated = client.passwords.migrate(
        email_address="ada@example.com",
        hash=hashed,
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    assert migrated.member.email_address == "ada@example.com"
    session = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address="ada@example.com",
        password=password,
        session_duration_minutes=30,
    )
    claims = jwt.decode(session.session_jwt, options={"verify_signature": False})
    assert claims["iss"] == url
    assert claims["sub"] == migrated.member.member_id


def test_serve_rejects_a_wrong_secret(served: tuple[dict[str, Any], str]) -> None:
    import stytch
    from stytch.core.response_base import StytchError

    environments, url = served
    client = stytch.B2BClient(
        environments["test"]["project_id"], "secret-test-wrong", environment=f"{url}/"
    )
    with pytest.raises(StytchError) as caught:
        client.rbac.policy()
    assert caught.value.details.status_code == 401


def test_a_refused_database_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    url = "postgresql+psycopg://gatehouse@127.0.0.1:1/gatehouse"
    plain = run("key", "list", "--database-url", url, cwd=tmp_path, env=script_env())
    assert plain.returncode == 1
    assert plain.stdout == ""
    assert plain.stderr.startswith(f"error: cannot use the database {url}: ")
    assert plain.stderr.count("\n") == 1, plain.stderr
    debug = run("--debug", "key", "list", "--database-url", url, cwd=tmp_path, env=script_env())
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "OperationalError" in debug.stderr
    assert list(tmp_path.iterdir()) == []
