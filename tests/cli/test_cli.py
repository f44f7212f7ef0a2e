"""The `gatehouse` CLI, run in-process (typer's CliRunner) over throwaway databases.

Every call passes an explicit `--database-url` and sees none of the developer's `GATEHOUSE_*`
settings (only the suite's low argon2 cost). The database is inspected directly (every row of every table) to check what a command
stored, and that a refused command changed nothing. tests/cli/test_console_script.py runs the
installed script itself, `serve` included.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import MetaData, create_engine, select
from typer.testing import CliRunner

from gatehouse import config
from gatehouse.cli.main import app
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store
from gatehouse.storage.sql import tables
from tests.server import FAST_ARGON2, TEST_ENCRYPTION_KEY

# Every variable the settings are read from, unset for the duration of a call; then the suite's
# low argon2 cost (tests/server.py): building the services hashes once at that cost, and no
# command here hashes a member password.
CLI_ENV: dict[str, str | None] = {
    config.CONFIG_ENV: None,
    **{setting.env_var: None for setting in config.SETTINGS.values()},
    **{config.SETTINGS[name].env_var: str(value) for name, value in FAST_ARGON2.items()},
    # Required with PostgreSQL (config.py); on SQLite it replaces the generated key file.
    config.SETTINGS["encryption_keys"].env_var: TEST_ENCRYPTION_KEY,
}

DEFAULT_RESOURCE_IDS = ["stytch.organization", "stytch.member", "stytch.sso", "stytch.self"]
FILE_KEYS = [
    "stytch_member",
    "stytch_admin",
    "custom_roles",
    "custom_resources",
    "custom_scopes",
    "stytch_resources",
]

CUSTOM_POLICY: dict[str, Any] = {
    "custom_resources": [
        {
            "resource_id": "documents",
            "description": "Shared documents",
            "available_actions": ["read", "write"],
        }
    ],
    "custom_roles": [
        {
            "role_id": "editor",
            "description": "Reads and writes documents",
            "permissions": [{"resource_id": "documents", "actions": ["read", "write"]}],
        }
    ],
}
# The same resource, without the role: applying this removes `editor`.
WITHOUT_EDITOR: dict[str, Any] = {"custom_resources": CUSTOM_POLICY["custom_resources"]}

EXPECTED_DIFF = [
    "+ resource `documents` with actions `read`, `write`",
    "+ role `editor`",
    "~ role `editor`: + `read` on `documents`",
    "~ role `editor`: + `write` on `documents`",
]


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """What a run of the command left: its exit status and its two streams."""

    returncode: int
    stdout: str
    stderr: str


def gatehouse(
    *args: str, database_url: str | None, cwd: Path, env: dict[str, str] | None = None
) -> Ran:
    """Run the `gatehouse` command in-process from `cwd`, with the `GATEHOUSE_*` settings of
    CLI_ENV and `env`. An exception the command did not turn into an exit status fails the
    test."""
    command = list(args)
    if database_url is not None:
        command += ["--database-url", database_url]
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(
            app, command, env={**CLI_ENV, **(env or {})}, catch_exceptions=False
        )
    return Ran(result.exit_code, result.stdout, result.stderr)


def assert_clean_failure(result: Ran, *needles: str) -> None:
    """Non-zero exit, an `error:` message on stderr naming `needles`, no traceback, no stdout."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert "applied" not in result.stdout


def _rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table actually in the database (alembic's included)."""
    engine = create_engine(database_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                out[table.name] = [dict(r._mapping) for r in conn.execute(select(table)).all()]
        return out
    finally:
        engine.dispose()


def snapshot(database_url: str) -> dict[str, list[str]]:
    """Canonical serialisation of every row: equal snapshots mean nothing changed."""
    return {
        name: sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)
        for name, rows in _rows(database_url).items()
    }


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def export(database_url: str, project_id: str, cwd: Path, fmt: str = "json") -> dict[str, Any]:
    result = gatehouse(
        "policy",
        "export",
        "--project-id",
        project_id,
        "--format",
        fmt,
        database_url=database_url,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    assert isinstance(parsed, dict)
    return parsed


def write_policy(path: Path, document: Any) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(document, indent=2))
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Project:
    database_url: str
    cwd: Path
    output: dict[str, Any]

    @property
    def environments(self) -> dict[str, Any]:
        return dict(self.output["project"]["environments"])

    @property
    def test_id(self) -> str:
        return str(self.environments["test"]["project_id"])

    @property
    def live_id(self) -> str:
        return str(self.environments["live"]["project_id"])

    def run(self, *args: str) -> Ran:
        return gatehouse(*args, database_url=self.database_url, cwd=self.cwd)

    def apply(self, path: Path, *flags: str) -> Ran:
        return self.run("policy", "apply", str(path), "--project-id", self.test_id, *flags)

    def snapshot(self) -> dict[str, list[str]]:
        return snapshot(self.database_url)

    def export(self, fmt: str = "json", project_id: str | None = None) -> dict[str, Any]:
        return export(self.database_url, project_id or self.test_id, self.cwd, fmt)


@pytest.fixture
def project(database_url: str, tmp_path: Path) -> Project:
    result = gatehouse(
        "init", "--admin-email", "a@example.com", "--json", database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return Project(database_url, tmp_path, json.loads(result.stdout))


def assign_editor(database_url: str, project_id: str) -> str:
    """In-process: an organization with a member holding `editor` directly; the member's id."""
    store = open_store(database_url)
    try:
        services = Gatehouse(store)
        with store.transaction() as tx:
            environment = services.runtime.load_environment(tx, project_id)
        assert environment is not None
        caller = Caller(environment, "test")
        org = services.organizations.create(caller, {"organization_name": "Acme"})
        view = services.members.create(
            caller, org["id"], {"email_address": "ed@example.com", "roles": ["editor"]}
        )
        return str(view.member["id"])
    finally:
        store.engine.dispose()


def direct_roles(database_url: str) -> set[tuple[str, str]]:
    return {(r["member_id"], r["role_id"]) for r in _rows(database_url)[tables.member_roles.name]}


# -- init ------------------------------------------------------------------------------------


def test_init_prints_credentials_for_both_environments(project: Project) -> None:
    output = project.output
    assert output["workspace"]["workspace_id"]
    environments = project.environments
    assert set(environments) == {"test", "live"}
    for kind in ("test", "live"):
        env = environments[kind]
        assert env["project_id"].startswith(f"project-{kind}-"), env
        assert env["secret"].startswith(f"secret-{kind}-"), env
        assert len(env["secret"]) > len(f"secret-{kind}-") + 16
    assert environments["test"]["secret"] != environments["live"]["secret"]
    assert environments["test"]["project_id"] != environments["live"]["project_id"]


def test_init_stores_the_secrets_only_as_hashes(project: Project) -> None:
    rows = _rows(project.database_url)
    secrets = [env["secret"] for env in project.environments.values()]
    # The random part alone must not be stored either (e.g. with its prefix stripped).
    needles = secrets + [s.split("-", 2)[2] for s in secrets]
    scanned = 0
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if value is None:
                    continue
                scanned += 1
                text = _text(value)
                for needle in needles:
                    assert needle not in text, f"plaintext secret found in {table}.{column}"
    assert scanned > 0
    stored = rows[tables.api_secrets.name]
    assert len(stored) == 2
    assert {r["last_four"] for r in stored} == {s[-4:] for s in secrets}
    assert all(r["secret_hash"] and r["secret_hash"] not in secrets for r in stored)


def test_init_runs_once_per_database(project: Project) -> None:
    before = project.snapshot()
    again = project.run("init", "--admin-email", "b@example.com")
    assert_clean_failure(again, "already")
    assert again.stdout == ""
    assert project.snapshot() == before


def test_init_json_reports_its_errors_as_json(project: Project) -> None:
    before = project.snapshot()
    again = project.run("init", "--admin-email", "b@example.com", "--json")
    assert again.returncode == 1
    assert again.stderr == ""
    assert json.loads(again.stdout) == {
        "error": {
            "code": "already_initialised",
            "message": "this database already holds a workspace; `gatehouse init` runs once "
            "per database",
        }
    }
    assert project.snapshot() == before

    bad = project.run("init", "--admin-email", "nobody", "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout) == {
        "error": {"code": "invalid_email", "message": "`nobody` is not an email address"}
    }
    refused = gatehouse(
        "init",
        "--admin-email",
        "a@example.com",
        "--json",
        "--database-url",
        "nope",
        database_url=None,
        cwd=project.cwd,
    )
    assert refused.returncode == 2
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "invalid_configuration"
    assert error["problems"] == [
        "database_url: must be a SQLAlchemy URL such as `sqlite:///PATH` or "
        "`postgresql+psycopg://USER@HOST/DB` (got from --database-url)"
    ]
    assert project.snapshot() == before


def test_init_exists_ok_succeeds_quietly_and_changes_nothing(project: Project) -> None:
    before = project.snapshot()
    again = project.run("init", "--admin-email", "b@example.com", "--exists-ok")
    assert again.returncode == 0, again.stderr
    assert "already initialised" in again.stdout
    assert "secret-" not in again.stdout
    assert project.snapshot() == before


@pytest.mark.parametrize("email", ["not-an-email", "@example.com", "alice@", ""])
def test_init_refuses_a_bad_email(email: str, database_url: str, tmp_path: Path) -> None:
    result = gatehouse("init", "--admin-email", email, database_url=database_url, cwd=tmp_path)
    assert_clean_failure(result, "email")
    assert result.stdout == ""
    rows = _rows(database_url)
    assert rows.get(tables.workspaces.name, []) == []
    assert rows.get(tables.environments.name, []) == []


def test_init_text_output_shows_each_environment(database_url: str, tmp_path: Path) -> None:
    result = gatehouse(
        "init", "--admin-email", "a@example.com", database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "project_id=project-test-" in result.stdout
    assert "project_id=project-live-" in result.stdout
    assert "secret=secret-test-" in result.stdout
    assert "secret=secret-live-" in result.stdout


# -- policy export ---------------------------------------------------------------------------


def test_export_yaml_is_the_default_and_holds_the_defaults(project: Project) -> None:
    result = project.run("policy", "export", "--project-id", project.test_id)
    assert result.returncode == 0, result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)  # YAML block style, not JSON
    document = yaml.safe_load(result.stdout)
    assert list(document) == FILE_KEYS
    assert document["custom_roles"] == []
    assert document["custom_resources"] == []
    assert document["custom_scopes"] == []
    admin = {p["resource_id"]: p["actions"] for p in document["stytch_admin"]["permissions"]}
    assert admin == {"stytch.organization": ["*"], "stytch.member": ["*"], "stytch.sso": ["*"]}
    member = document["stytch_member"]["permissions"]
    assert [p["resource_id"] for p in member] == ["stytch.self"]
    assert "update.info.name" in member[0]["actions"]
    assert "delete" not in member[0]["actions"]
    assert [r["resource_id"] for r in document["stytch_resources"]] == DEFAULT_RESOURCE_IDS
    for resource in document["stytch_resources"]:
        assert set(resource) == {"resource_id", "description", "available_actions"}
        assert resource["available_actions"]
        assert resource["description"]
    sso = document["stytch_resources"][2]
    assert sso["available_actions"] == ["create", "update", "delete"]


def test_export_json_matches_yaml(project: Project) -> None:
    as_json = project.export("json")
    assert list(as_json) == FILE_KEYS
    assert as_json == project.export("yaml")
    # The live environment starts from the same defaults.
    assert project.export("json", project.live_id) == as_json


def test_export_unknown_project_fails_clearly(project: Project) -> None:
    result = project.run("policy", "export", "--project-id", "project-test-nope")
    assert_clean_failure(result, "`project-test-nope`", "not found")
    assert result.stdout == ""


def test_export_unknown_format_fails_clearly(project: Project) -> None:
    result = project.run("policy", "export", "--project-id", project.test_id, "--format", "xml")
    assert_clean_failure(result, "xml")


def test_exported_file_applies_unchanged(project: Project) -> None:
    exported = project.run("policy", "export", "--project-id", project.test_id)
    path = project.cwd / "exported.yaml"
    path.write_text(exported.stdout)
    result = project.apply(path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "no changes"


# -- policy apply ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_apply_adds_a_custom_resource_and_role(project: Project, suffix: str) -> None:
    path = write_policy(project.cwd / f"policy{suffix}", CUSTOM_POLICY)
    result = project.apply(path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == EXPECTED_DIFF
    assert lines[-1] == "applied: policy version is now 2"

    for fmt in ("json", "yaml"):
        document = project.export(fmt)
        assert document["custom_resources"] == CUSTOM_POLICY["custom_resources"]
        assert document["custom_roles"] == CUSTOM_POLICY["custom_roles"]
        assert [r["resource_id"] for r in document["stytch_resources"]] == DEFAULT_RESOURCE_IDS
    # Only the test environment changed.
    assert project.export("json", project.live_id)["custom_roles"] == []


def test_apply_dry_run_shows_the_diff_and_changes_nothing(project: Project) -> None:
    path = write_policy(project.cwd / "policy.yaml", CUSTOM_POLICY)
    before = project.snapshot()
    dry = project.apply(path, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    dry_lines = dry.stdout.splitlines()
    assert dry_lines[:-1] == EXPECTED_DIFF
    assert "nothing was changed" in dry_lines[-1]
    assert "1" in dry_lines[-1]  # the version stays 1
    assert project.snapshot() == before
    assert project.export()["custom_roles"] == []

    real = project.apply(path)
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[:-1] == dry_lines[:-1]


INVALID_POLICY: dict[str, Any] = {
    "custom_resources": [
        {
            "resource_id": "stytch.documents",  # reserved prefix
            "description": "Documents",
            "available_actions": ["read", "*"],  # `*` declared as an action
        },
    ],
    "custom_roles": [
        {
            "role_id": "editor",
            "description": "Edits",
            "permissions": [
                {"resource_id": "stytch.documents", "actions": ["read", "write"]}  # undeclared
            ],
        }
    ],
}


@pytest.mark.parametrize("flags", [(), ("--dry-run",)])
def test_apply_invalid_file_lists_every_problem_and_changes_nothing(
    project: Project, flags: tuple[str, ...]
) -> None:
    path = write_policy(project.cwd / "invalid.yaml", INVALID_POLICY)
    before = project.snapshot()
    result = project.apply(path, *flags)
    assert_clean_failure(
        result,
        "`stytch.documents` must not start with `stytch`",
        "`*` is reserved and cannot be declared as an action",
        "action `write` is not declared on resource `stytch.documents`",
    )
    assert project.snapshot() == before


def test_apply_invalid_file_problems_name_their_place_in_the_file(project: Project) -> None:
    """Each problem's path must point into the file the user wrote (custom_resources[0]...),
    as shape problems already do, not into the merged internal policy (resources[4]...)."""
    path = write_policy(project.cwd / "invalid.yaml", INVALID_POLICY)
    result = project.apply(path)
    assert result.returncode != 0
    lines = result.stderr.splitlines()

    def line_with(path_text: str, reason: str) -> bool:
        return any(path_text in line and reason in line for line in lines)

    assert line_with("custom_resources[0].resource_id", "must not start with `stytch`"), lines
    assert line_with("custom_resources[0].available_actions[1]", "`*` is reserved"), lines
    assert line_with(
        "custom_roles[0].permissions[0].actions[1]", "action `write` is not declared"
    ), lines


def test_apply_file_of_the_wrong_shape_lists_every_problem(project: Project) -> None:
    path = write_policy(
        project.cwd / "shape.json",
        {"custom_roles": [{"role_id": 3}], "bogus": True},
    )
    before = project.snapshot()
    result = project.apply(path)
    assert_clean_failure(
        result,
        "custom_roles[0].role_id: must be a string",
        "bogus: is not a known field",
    )
    assert project.snapshot() == before


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("malformed.yaml", "custom_roles: [\n  - editor\n", "not valid yaml"),
        ("malformed.json", '{"custom_roles": [', "not valid json"),
        ("list.yaml", "- custom_roles\n", "must be an object"),
    ],
)
def test_apply_unparseable_file_fails_clearly(
    project: Project, name: str, text: str, needle: str
) -> None:
    path = project.cwd / name
    path.write_text(text)
    before = project.snapshot()
    result = project.apply(path)
    assert_clean_failure(result, needle)
    if "valid" in needle:
        assert name in result.stderr
    assert project.snapshot() == before


def test_apply_missing_file_fails_clearly(project: Project) -> None:
    before = project.snapshot()
    result = project.apply(project.cwd / "missing.yaml")
    assert_clean_failure(result, "missing.yaml", "cannot read")
    assert project.snapshot() == before


def test_apply_unknown_project_fails_clearly(project: Project) -> None:
    path = write_policy(project.cwd / "policy.yaml", CUSTOM_POLICY)
    before = project.snapshot()
    result = project.run("policy", "apply", str(path), "--project-id", "project-test-nope")
    assert_clean_failure(result, "`project-test-nope`", "not found")
    assert project.snapshot() == before


def test_removing_an_assigned_role_is_refused_then_cascades(project: Project) -> None:
    applied = project.apply(write_policy(project.cwd / "with.yaml", CUSTOM_POLICY))
    assert applied.returncode == 0, applied.stderr
    member_id = assign_editor(project.database_url, project.test_id)
    assert (member_id, "editor") in direct_roles(project.database_url)
    without = write_policy(project.cwd / "without.yaml", WITHOUT_EDITOR)

    for flags in [(), ("--dry-run",)]:
        before = project.snapshot()
        refused = project.apply(without, *flags)
        assert_clean_failure(refused, "`editor`", f"`{member_id}`", "cascade")
        assert project.snapshot() == before

    # A cascading dry run shows the change and still changes nothing.
    before = project.snapshot()
    dry = project.apply(without, "--cascade", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "- role `editor`" in dry.stdout.splitlines()
    assert "nothing was changed" in dry.stdout
    assert project.snapshot() == before

    cascaded = project.apply(without, "--cascade")
    assert cascaded.returncode == 0, cascaded.stderr
    lines = cascaded.stdout.splitlines()
    assert "- role `editor`" in lines
    assert lines[-1] == "applied: policy version is now 3"
    assert (member_id, "editor") not in direct_roles(project.database_url)
    members = _rows(project.database_url)[tables.members.name]
    assert [m["id"] for m in members] == [member_id]  # the member stays; only the role went
    document = project.export()
    assert document["custom_roles"] == []
    assert document["custom_resources"] == CUSTOM_POLICY["custom_resources"]
