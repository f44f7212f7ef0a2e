"""What a new operator meets: the first Admin and how to sign in, `admin add`, keys and secrets,
clear one-line failures (no tracebacks) for databases and TLS files, no database created by
accident, `--version`, `--debug`, help for every option, `dev-cert --force`, and policy files
whose every problem is reported in one run. In-process (typer's CliRunner), like test_cli.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from gatehouse import __version__, config
from gatehouse.cli.main import app
from gatehouse.storage.sql import tables
from tests.cli.test_cli import (
    CLI_ENV,
    Project,
    _rows,
    assert_clean_failure,
    gatehouse,
    write_policy,
)


@pytest.fixture
def project(database_url: str, tmp_path: Path) -> Project:
    result = gatehouse(
        "init", "--admin-email", "a@example.com", "--json", database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return Project(database_url, tmp_path, json.loads(result.stdout))


def one_error_line(result: Any, *needles: str) -> str:
    """A clean failure whose message is exactly one line; the line."""
    assert_clean_failure(result, *needles)
    assert result.stderr.count("\n") == 1, result.stderr
    return str(result.stderr)


def members(database_url: str) -> dict[str, Any]:
    return {m["email"]: m for m in _rows(database_url)[tables.workspace_members.name]}


# -- 1. the first Admin, and `gatehouse admin add` ----------------------------------------------


def test_init_names_the_first_admin_and_how_to_sign_in(database_url: str, tmp_path: Path) -> None:
    result = gatehouse(
        "init", "--admin-email", "Ops@Example.com", database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "first Admin: ops@example.com (another: `gatehouse init --admin-email` on a new "
        "database; later: `gatehouse admin add EMAIL`)"
    ) in lines
    sign_in = [line for line in lines if line.startswith("sign in: ")]
    assert sign_in == [
        "sign in: POST http://127.0.0.1:8080/pwa/v3/auth/magic_links/send "
        '{"email_address": "ops@example.com"} emails a link (without SMTP it is in the server '
        'log); POST http://127.0.0.1:8080/pwa/v3/auth/magic_links/authenticate {"token": "..."} '
        'returns a session_token (README.md, "Inviting your first colleague")'
    ]
    assert (
        'dashboard: open http://127.0.0.1:8080/dashboard/ and choose "Email me a sign-in link" '
        "with ops@example.com"
    ) in lines
    assert members(database_url)["ops@example.com"]["role"] == "admin"


def test_scripts_serve_chooses_the_admin_from_gatehouse_admin_email() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts" / "serve").read_text()
    assert '--admin-email "${GATEHOUSE_ADMIN_EMAIL:-admin@example.com}"' in script
    assert 'exec gatehouse serve --mail-to-log "$@"' in script


def test_admin_add_adds_raises_and_is_idempotent(project: Project) -> None:
    url = project.database_url
    added = project.run("admin", "add", "Ana@Example.com")
    assert added.returncode == 0, added.stderr
    assert (
        added.stdout.splitlines()[0] == "ana@example.com is now an Admin (added to the workspace)"
    )
    assert added.stdout.splitlines()[1].startswith("sign in: POST ")
    ana = members(url)["ana@example.com"]
    assert (ana["role"], ana["status"], ana["email_verified"]) == ("admin", "active", False)

    before = project.snapshot()
    again = project.run("admin", "add", "ana@example.com")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "ana@example.com is already an Admin; nothing changed\n"
    assert project.snapshot() == before

    key = json.loads(project.run("key", "create", "--role", "admin", "--json").stdout)
    assert key["key_id"]
    # Someone with a lower explicit role is raised, and the change is in the event log.
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import open_store

    store = open_store(url)
    try:
        services = Gatehouse(store)
        operator = services.workspace.operator_from_key(key["key_id"], key["secret"])
        services.dashboard_auth.invite(operator, "dev@example.com", "developer")
    finally:
        store.engine.dispose()
    raised = project.run("admin", "add", "dev@example.com")
    assert raised.returncode == 0, raised.stderr
    assert raised.stdout.splitlines()[0] == "dev@example.com is now an Admin (was developer)"
    assert members(url)["dev@example.com"]["role"] == "admin"
    events = _rows(url)[tables.events.name]
    assert any(
        e["action"] == "workspace_member.role_change" and e["actor"] == "cli" for e in events
    )


@pytest.mark.parametrize("email", ["not-an-email", "ana@", ""])
def test_admin_add_refuses_a_non_email(project: Project, email: str) -> None:
    before = project.snapshot()
    result = project.run("admin", "add", email)
    assert one_error_line(result) == f"error: `{email}` is not an email address\n"
    assert project.snapshot() == before


# -- 3. serving an uninitialised database, PostgreSQL's `postgres` database -------------------


def _serve_without_serving(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`serve` runs up to uvicorn, which records its arguments instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def test_serve_warns_when_the_database_is_not_initialised(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve_without_serving(monkeypatch)
    result = gatehouse("serve", database_url=database_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1
    shown = config.shown("database_url", database_url)
    assert result.stderr == (
        f"warning: the database {shown} is not initialised: the B2B API has no projects to "
        "serve; run `gatehouse init --admin-email EMAIL` on it\n"
    )

    init = gatehouse(
        "init", "--admin-email", "a@example.com", database_url=database_url, cwd=tmp_path
    )
    assert init.returncode == 0, init.stderr
    quiet = gatehouse("serve", database_url=database_url, cwd=tmp_path)
    assert (quiet.returncode, quiet.stderr) == (0, "")


MAINTENANCE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize("command", [("serve",), ("init", "--admin-email", "a@example.com")])
def test_the_postgres_maintenance_database_is_refused(
    command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve_without_serving(monkeypatch)
    result = gatehouse(*command, database_url=MAINTENANCE, cwd=tmp_path)
    assert one_error_line(result) == (
        f"error: the database URL {MAINTENANCE} names PostgreSQL's shared `postgres` "
        "maintenance database; create a database for Gatehouse (`createdb gatehouse`) and name "
        "it (`--database-url postgresql+psycopg://USER@HOST/gatehouse`), or pass "
        "--allow-postgres-database (GATEHOUSE_ALLOW_POSTGRES_DATABASE=true) to use it anyway\n"
    )
    assert calls == []


def test_the_maintenance_database_refusal_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The override lets `serve` go on to open the database (here: a port nothing listens on,
    so the next failure is the connection's, and nothing is served)."""
    calls = _serve_without_serving(monkeypatch)
    url = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    result = gatehouse("serve", "--allow-postgres-database", database_url=url, cwd=tmp_path)
    one_error_line(result, "cannot use the database", "Connection refused")
    assert calls == []


# -- 4. one `error:` line for database and TLS problems; `--debug` shows the traceback ----------


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "postgresql+psycopg://gatehouse@127.0.0.1:1/gatehouse",
            "error: cannot use the database postgresql+psycopg://gatehouse@127.0.0.1:1/gatehouse: "
            'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection '
            "refused; check that the server runs, the database exists and the URL "
            "(--database-url or GATEHOUSE_DATABASE_URL) is right\n",
        ),
        (
            "postgresql+psycopg://gatehouse@127.0.0.1:port/gatehouse",
            "error: the database URL postgresql+psycopg://gatehouse@127.0.0.1:port/gatehouse "
            "cannot be parsed (invalid literal for int() with base 10: 'port'); use "
            "`sqlite:///PATH` or `postgresql+psycopg://USER@HOST:PORT/DB`\n",
        ),
        (
            "nosuchdb://somewhere/gatehouse",
            "error: the database URL nosuchdb://somewhere/gatehouse names a backend SQLAlchemy "
            "does not know (Can't load plugin: sqlalchemy.dialects:nosuchdb); use "
            "`sqlite:///PATH` or `postgresql+psycopg://USER@HOST/DB`\n",
        ),
        (
            "postgresql+psycopg2://gatehouse@127.0.0.1/gatehouse",
            "error: the database driver for postgresql+psycopg2://gatehouse@127.0.0.1/gatehouse "
            "is not installed (No module named 'psycopg2'); install it into Gatehouse's "
            "environment, or use `postgresql+psycopg://` (installed with Gatehouse)\n",
        ),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ("init", "--admin-email", "a@example.com"),
        ("key", "list"),
        ("policy", "export", "--project-id", "project-test-x"),
    ],
)
def test_database_problems_are_one_line(
    url: str, line: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    if "psycopg2" in url and importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here")
    result = gatehouse(*command, database_url=url, cwd=tmp_path)
    assert one_error_line(result) == line
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    url = "postgresql+psycopg://gatehouse@127.0.0.1:1/gatehouse"
    with pytest.raises(OperationalError):
        gatehouse("--debug", "key", "list", database_url=url, cwd=tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ("key", "list"),
        ("key", "create", "--role", "admin"),
        ("key", "revoke", "workspace-key-x"),
        ("secret", "create", "--project-id", "project-test-x"),
        ("admin", "add", "a@example.com"),
        ("policy", "export", "--project-id", "project-test-x"),
    ],
)
def test_commands_other_than_init_and_serve_create_no_database(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """Run from another directory with the default database URL: nothing is created, and the
    message names the database it looked for."""
    result = gatehouse(*command, database_url=None, cwd=tmp_path)
    expected = tmp_path / "gatehouse-data" / "gatehouse.db"
    assert one_error_line(result) == (
        f"error: the database {expected} does not exist (database URL "
        "sqlite:///gatehouse-data/gatehouse.db); run `gatehouse init --admin-email EMAIL` to "
        "create it, or name an existing one with --database-url or GATEHOUSE_DATABASE_URL\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_sqlite_directory_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nowhere/gatehouse.db"
    result = gatehouse("key", "list", database_url=url, cwd=tmp_path)
    one_error_line(result, f"{tmp_path}/nowhere/gatehouse.db does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_unknown_project_names_the_database(project: Project) -> None:
    result = project.run("policy", "export", "--project-id", "project-test-nope")
    shown = config.shown("database_url", project.database_url)
    assert one_error_line(result) == (
        f"error: project `project-test-nope` was not found in the database {shown}; pass an "
        "environment's project id (project-test-...) from `gatehouse init`, or name the right "
        "database with --database-url\n"
    )


def test_a_missing_tls_certificate_is_named(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("key")
    result = gatehouse(
        "serve",
        "--tls-cert",
        "missing-cert.pem",
        "--tls-key",
        str(key),
        database_url=None,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "error: invalid configuration: tls_cert: is not a file; name an existing PEM file "
        "(`gatehouse dev-cert` makes a pair) (got 'missing-cert.pem' from --tls-cert)\n"
    )
    assert list(tmp_path.iterdir()) == [key]


def test_an_unusable_tls_certificate_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve_without_serving(monkeypatch)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    result = gatehouse(
        "serve", "--tls-cert", str(cert), "--tls-key", str(key), database_url=None, cwd=tmp_path
    )
    line = one_error_line(result, f"the certificate {cert} and the key {key}", "gatehouse dev-cert")
    assert line.startswith("error: cannot serve HTTPS with the certificate ")
    assert calls == []
    assert sorted(tmp_path.iterdir()) == [cert, key]  # no database created either


# -- 5. port, --version, flag metavars, help everywhere ----------------------------------------


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"], env=CLI_ENV)
    assert (result.exit_code, result.stdout) == (0, f"gatehouse {__version__}\n")


def _commands() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []

    def walk(name: str, command: Any) -> None:
        out.append((name, command))
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(f"{name} {sub_name}".strip(), sub)

    walk("", typer.main.get_command(app))
    return out


def test_every_option_of_every_command_has_help() -> None:
    from typer._click.core import Context

    missing = []
    for name, command in _commands():
        with Context(command) as ctx:
            for param in command.get_params(ctx):
                if not (getattr(param, "help", None) or "").strip():
                    missing.append(f"gatehouse {name} {param.name}")
    assert missing == []
    names = {name for name, _ in _commands()}
    assert {"admin add", "key list", "key revoke", "secret create", "dev-cert"} <= names


def test_help_shows_no_bool_metavars(tmp_path: Path) -> None:
    for name, _ in _commands():
        result = gatehouse(*name.split(), "--help", database_url=None, cwd=tmp_path)
        assert result.returncode == 0, (name, result.stderr)
        assert "<bool>" not in result.stdout, name
        assert "--help" in result.stdout


def test_port_out_of_range_is_refused(tmp_path: Path) -> None:
    result = gatehouse("serve", "--port", "83646", database_url=None, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: invalid configuration: port: must be between 1 and 65535 (got '83646' from --port)\n"
    )
    assert list(tmp_path.iterdir()) == []


# -- 6. dev-cert refuses to overwrite -----------------------------------------------------------


def test_dev_cert_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    args = ("dev-cert", "--cert", str(cert), "--key", str(key))
    assert gatehouse(*args, database_url=None, cwd=tmp_path).returncode == 0
    first = (cert.read_bytes(), key.read_bytes())
    again = gatehouse(*args, database_url=None, cwd=tmp_path)
    assert one_error_line(again) == (
        f"error: {cert} and {key} already exist; pass --force to replace (clients that trust "
        "the old certificate must then trust the new)\n"
    )
    assert (cert.read_bytes(), key.read_bytes()) == first
    key.unlink()
    only_cert = gatehouse(*args, database_url=None, cwd=tmp_path)
    one_error_line(only_cert, f"{cert} already exists;")
    assert not key.exists()
    forced = gatehouse(*args, "--force", database_url=None, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert cert.read_bytes() != first[0]


# -- 8. keys and secrets ------------------------------------------------------------------------


def test_key_list_and_revoke(project: Project) -> None:
    admin_key = project.output["management_key"]
    made = json.loads(
        project.run("key", "create", "--role", "developer", "--name", "ci", "--json").stdout
    )
    listed = project.run("key", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert [k["key_id"] for k in keys] == [admin_key["key_id"], made["key_id"]]
    assert all(set(k) == {"key_id", "role", "name", "created_at", "revoked_at"} for k in keys)
    assert [(k["role"], k["name"], k["revoked_at"]) for k in keys] == [
        ("admin", "created by gatehouse init", None),
        ("developer", "ci", None),
    ]
    text = project.run("key", "list").stdout
    assert text.splitlines()[0].split() == ["KEY_ID", "ROLE", "NAME", "CREATED", "REVOKED"]
    for secret in (admin_key["secret"], made["secret"]):
        assert secret not in listed.stdout + text
        assert secret[-4:] not in listed.stdout + text

    revoked = project.run("key", "revoke", made["key_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"revoked key {made['key_id']}\n"
    rows = {k["id"]: k for k in _rows(project.database_url)[tables.workspace_keys.name]}
    assert rows[made["key_id"]]["revoked_at"] is not None
    assert rows[admin_key["key_id"]]["revoked_at"] is None
    after = json.loads(project.run("key", "list", "--json").stdout)
    assert after[1]["revoked_at"] is not None

    before = project.snapshot()
    again = project.run("key", "revoke", made["key_id"])
    assert again.returncode == 0
    assert again.stdout == (
        f"key {made['key_id']} was already revoked at {after[1]['revoked_at']}; nothing changed\n"
    )
    assert project.snapshot() == before

    unknown = project.run("key", "revoke", "workspace-key-nope")
    shown = config.shown("database_url", project.database_url)
    assert one_error_line(unknown) == (
        f"error: key `workspace-key-nope` was not found in the database {shown}; "
        "`gatehouse key list` shows the keys\n"
    )
    assert project.snapshot() == before


def test_secret_create_prints_a_new_secret_once(project: Project) -> None:
    result = project.run("secret", "create", "--project-id", project.test_id, "--json")
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    assert made["project_id"] == project.test_id
    assert made["secret"].startswith("secret-test-")
    stored = _rows(project.database_url)[tables.api_secrets.name]
    mine = [s for s in stored if s["id"] == made["secret_id"]]
    assert len(mine) == 1 and mine[0]["last_four"] == made["secret"][-4:]
    assert all(made["secret"] not in json.dumps(s, default=str) for s in stored)
    assert len(stored) == 3  # the first two keep working

    # The new secret authenticates the B2B API caller.
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import open_store

    store = open_store(project.database_url)
    try:
        caller = Gatehouse(store).callers.resolve(project.test_id, made["secret"], None, None)
        assert caller.environment.id == project.test_id
    finally:
        store.engine.dispose()

    text = project.run("secret", "create", "--project-id", project.live_id)
    assert text.returncode == 0, text.stderr
    first, second = text.stdout.splitlines()
    assert first.startswith(f"project_id={project.live_id} secret_id=secret-live-")
    assert " secret=secret-live-" in first
    assert second == "the secret is shown once; store it now (older secrets keep working)"

    before = project.snapshot()
    unknown = project.run("secret", "create", "--project-id", "project-test-nope")
    one_error_line(unknown, "`project-test-nope` was not found in the database")
    assert project.snapshot() == before


# -- 9. policy files: every problem in one run ---------------------------------------------------


def test_a_mistyped_key_is_named_with_the_semantic_problems(project: Project) -> None:
    path = write_policy(
        project.cwd / "typo.yaml",
        {
            "stytch_member": {"permisions": [{"resource_id": "stytch.self", "actions": ["*"]}]},
            "custom_resources": [{"resource_id": "stytch.docs", "available_actions": ["read"]}],
        },
    )
    before = project.snapshot()
    result = project.apply(path)
    assert_clean_failure(result)
    assert result.stderr.splitlines() == [
        f"error: the policy file {path} is invalid:",
        "  stytch_member.permissions: is required",
        "  stytch_member.permisions: is not a known field; did you mean `permissions`?",
        "  custom_resources[0].resource_id: custom resource id `stytch.docs` must not start with "
        "`stytch`; choose another id",
    ]
    assert project.snapshot() == before


def test_the_readme_policy_example_keeps_the_defaults(project: Project) -> None:
    """README's example file, applied, changes only what it adds: its default roles are the
    defaults (a file replaces the whole policy)."""
    import re

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = next(
        block
        for block in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if "stytch_member:" in block
    )
    path = project.cwd / "example.yaml"
    path.write_text(example)
    result = project.apply(path, "--dry-run")
    assert result.returncode == 0, result.stderr
    changes = result.stdout.splitlines()[:-1]
    assert changes and all(line.startswith(("+", "~ role `editor`")) for line in changes)
    assert not any("stytch_member" in line or "stytch_admin" in line for line in changes)
    document = yaml.safe_load(example)
    exported = project.export()
    assert document["stytch_member"] == exported["stytch_member"]
    assert document["stytch_admin"] == exported["stytch_admin"]


def test_a_database_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    url = f"sqlite:///{tmp_path}/file/sub/gatehouse.db"
    for command in (("init", "--admin-email", "a@example.com"), ("serve",)):
        result = gatehouse(*command, database_url=url, cwd=tmp_path)
        one_error_line(result, f"cannot create the database {url}", "choose a directory")
