"""Settings as an operator meets them: a flag, a `GATEHOUSE_*` variable and a config-file key for
every setting, later sources winning, every problem reported at once (exit status 2), the
reference in docs/CONFIGURATION.md kept current, and the same settings in every worker.

The CLI runs in-process (typer's CliRunner) with none of the developer's `GATEHOUSE_*` variables;
`gatehouse config show --json` reports what a command would run with and where each value came
from, so most checks need no server and no database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
import typer.main
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from gatehouse import config
from gatehouse.api import schemas, worker
from gatehouse.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_KEY = "c2FtcGxlLWVuY3J5cHRpb24ta2V5LW9mLTMyLWJ5dGU="
UNSET: dict[str, str | None] = {
    config.CONFIG_ENV: None,
    **{setting.env_var: None for setting in config.SETTINGS.values()},
}


@dataclasses.dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def shown(self) -> dict[str, Any]:
        """The output of `config show --json`."""
        assert self.returncode == 0, self.stderr
        parsed = json.loads(self.stdout)
        assert isinstance(parsed, dict)
        return parsed


def gatehouse(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(
            app, list(args), env={**UNSET, **(env or {})}, catch_exceptions=False
        )
    return Ran(result.exit_code, result.stdout, result.stderr)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else repr(value)


def write_toml(path: Path, values: dict[str, Any]) -> Path:
    path.write_text("".join(f"{name} = {toml_value(v)}\n" for name, v in values.items()))
    return path


def assert_refused(result: Ran, *lines: str) -> None:
    """Exit status 2, one `error:` message holding each of `lines`, nothing on stdout: one line
    for one problem, else a line per problem under `error: invalid configuration:`."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    one = "error: invalid configuration: "
    if result.stderr.startswith(one):
        assert result.stderr.count("\n") == 1, result.stderr
        problems = [result.stderr.removeprefix(one)]
    else:
        assert result.stderr.startswith("error: invalid configuration:\n"), result.stderr
        problems = result.stderr.splitlines()[1:]
        assert len(problems) > 1, result.stderr
    for line in lines:
        assert any(line in problem for problem in problems), (line, result.stderr)


def samples(tmp_path: Path) -> dict[str, Any]:
    """A valid value, not the default, for every setting (a new setting needs one here)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("certificate")
    key.write_text("key")
    return {
        "database_url": f"sqlite:///{tmp_path / 'elsewhere.db'}",
        "allow_postgres_database": True,
        "host": "0.0.0.0",
        "port": 9443,
        "workers": 3,
        "public_url": "https://auth.example.com",
        "tls_cert": str(cert),
        "tls_key": str(key),
        "log_level": "debug",
        "access_log": "all",
        "log_format": "json",
        "http_header_timeout_seconds": 2.5,
        "http_hot_path": False,
        "http_keepalive_timeout_seconds": 75,
        "max_connections": 4000,
        "jwt_lifetime_seconds": 600,
        "jwt_reuse_seconds": 10.5,
        "default_session_minutes": 120,
        "argon2_time_cost": 2,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 2,
        "smtp_host": "mail.example.com",
        "smtp_port": 587,
        "smtp_username": "gatehouse",
        "smtp_password": "hunter2",
        "smtp_starttls": True,
        "smtp_from": "Gatehouse <auth@example.com>",
        "dashboard_session_minutes": 60,
        "dashboard_idle_minutes": 15,
        "email_link_minutes": 10,
        "impersonation_minutes": 5,
        "cache_max_sessions": 500,
        "cache_ttl_seconds": 60.0,
        "database_busy_timeout_seconds": 2.5,
        "mail_to_log": True,
        "sms_sender": "webhook",
        "sms_webhook_url": "https://sms.example.com/send",
        "sms_webhook_secret": "sms-shared-secret",
        "sms_to_log": True,
        "texts_per_number_per_hour": 3,
        "password_hash_concurrency": 3,
        "password_hash_wait_seconds": 0.5,
        "sign_in_failures_per_client": 40,
        "sign_in_failures_per_account_client": 3,
        "sign_in_failures_per_account": 7,
        "emails_per_address_per_hour": 2,
        "emails_per_client_per_hour": 9,
        "outbound_allow_private_networks": True,
        "encryption_keys": f"{SAMPLE_KEY},{SAMPLE_KEY}",
    }


def as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- every setting, from every source ---------------------------------------------------------


def test_every_setting_has_a_config_file_key_an_environment_variable_and_a_flag(
    tmp_path: Path,
) -> None:
    values = samples(tmp_path)
    assert set(values) == set(config.SETTINGS)
    hidden = {"smtp_password", "encryption_keys", "sms_webhook_secret"}
    expected = {name: "***" if name in hidden else v for name, v in values.items()}

    path = write_toml(tmp_path / "gatehouse.toml", values)
    from_file = gatehouse("config", "show", "--json", "--config", str(path), cwd=tmp_path).shown()
    env = {config.SETTINGS[name].env_var: as_text(v) for name, v in values.items()}
    from_env = gatehouse("config", "show", "--json", cwd=tmp_path, env=env).shown()
    flags: list[str] = []
    for name, value in values.items():
        setting = config.SETTINGS[name]
        if isinstance(value, bool):
            flags.append(setting.flag if value else "--no-" + setting.flag[2:])
        else:
            flags += [setting.flag, as_text(value)]
    from_flags = gatehouse("config", "show", "--json", *flags, cwd=tmp_path).shown()

    for name, setting in config.SETTINGS.items():
        assert from_file[name] == {"value": expected[name], "source": "file", "from": str(path)}
        assert from_env[name] == {"value": expected[name], "source": "env", "from": setting.env_var}
        assert from_flags[name] == {"value": expected[name], "source": "flag", "from": setting.flag}


def _options(*path: str) -> set[str]:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_serve_has_a_flag_for_every_setting_and_the_other_commands_find_the_database() -> None:
    flags = {s.flag for s in config.SETTINGS.values()}
    negated = {"--no-" + s.flag[2:] for s in config.SETTINGS.values() if s.type is bool}
    assert _options("serve") == flags | negated | {"--config"}
    assert _options("config", "show") == _options("serve") | {"--json"}
    for command in [("init",), ("key", "create"), ("policy", "export"), ("policy", "apply")]:
        options = _options(*command)
        assert {"--config", "--database-url"} <= options, command
        assert not (options & (flags - {"--database-url"})), command


def test_serve_help_names_each_flag_with_its_variable_and_default(tmp_path: Path) -> None:
    result = gatehouse("serve", "--help", cwd=tmp_path, env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    for setting in config.SETTINGS.values():
        assert setting.flag in result.stdout
        assert f"[env: {setting.env_var}]" in result.stdout
    assert "[default: 8080]" in result.stdout


def test_later_sources_win_defaults_file_environment_flags(tmp_path: Path) -> None:
    defaults = gatehouse("config", "show", "--json", cwd=tmp_path).shown()
    assert defaults["port"] == {"value": 8080, "source": "default", "from": "default"}
    assert defaults["database_url"]["value"] == "sqlite:///gatehouse-data/gatehouse.db"
    assert defaults["public_url"]["value"] == "http://127.0.0.1:8080"
    for name, setting in config.SETTINGS.items():
        if name != "public_url":
            assert defaults[name]["value"] == setting.default, name

    path = write_toml(tmp_path / "gatehouse.toml", {"port": 1111, "workers": 2})
    file = ("--config", str(path))
    shown = gatehouse("config", "show", "--json", *file, cwd=tmp_path).shown()
    assert (shown["port"]["value"], shown["port"]["source"]) == (1111, "file")

    env = {"GATEHOUSE_PORT": "2222"}
    shown = gatehouse("config", "show", "--json", *file, cwd=tmp_path, env=env).shown()
    assert (shown["port"]["value"], shown["port"]["source"]) == (2222, "env")
    assert (shown["workers"]["value"], shown["workers"]["source"]) == (2, "file")

    shown = gatehouse(
        "config", "show", "--json", *file, "--port", "3333", cwd=tmp_path, env=env
    ).shown()
    assert (shown["port"]["value"], shown["port"]["source"]) == (3333, "flag")
    assert shown["public_url"]["value"] == "http://127.0.0.1:3333"


def test_gatehouse_config_names_the_file_unless_config_is_given(tmp_path: Path) -> None:
    named = write_toml(tmp_path / "named.toml", {"port": 1111})
    given = write_toml(tmp_path / "given.toml", {"workers": 4})
    env = {"GATEHOUSE_CONFIG": str(named)}
    shown = gatehouse("config", "show", "--json", cwd=tmp_path, env=env).shown()
    assert shown["port"] == {"value": 1111, "source": "file", "from": str(named)}
    shown = gatehouse("config", "show", "--json", "--config", str(given), cwd=tmp_path, env=env)
    assert shown.shown()["port"]["source"] == "default"
    assert shown.shown()["workers"]["value"] == 4


def test_environment_variables_empty_means_unset_and_booleans_have_several_spellings(
    tmp_path: Path,
) -> None:
    shown = gatehouse(
        "config", "show", "--json", cwd=tmp_path, env={"GATEHOUSE_PORT": "", "GATEHOUSE_HOST": ""}
    ).shown()
    assert shown["port"]["source"] == shown["host"]["source"] == "default"
    for spelling, value in [("true", True), ("YES", True), ("1", True), ("on", True)] + [
        ("false", False),
        ("no", False),
        ("0", False),
        ("Off", False),
    ]:
        env = {"GATEHOUSE_SMTP_STARTTLS": spelling}
        shown = gatehouse("config", "show", "--json", cwd=tmp_path, env=env).shown()
        assert shown["smtp_starttls"]["value"] is value, spelling
    shown = gatehouse(
        "config",
        "show",
        "--json",
        "--no-smtp-starttls",
        cwd=tmp_path,
        env={"GATEHOUSE_SMTP_STARTTLS": "true"},
    ).shown()
    assert shown["smtp_starttls"] == {"value": False, "source": "flag", "from": "--smtp-starttls"}


def test_config_show_prints_a_table_of_values_and_sources(tmp_path: Path) -> None:
    result = gatehouse("config", "show", "--port", "9000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert list(rows) == list(config.SETTINGS)
    assert rows["port"] == ["9000", "--port"]
    assert rows["host"] == ['"127.0.0.1"', "default"]


# -- problems ----------------------------------------------------------------------------------


def test_serve_reports_every_problem_at_once_naming_setting_and_source(tmp_path: Path) -> None:
    path = tmp_path / "gatehouse.toml"
    path.write_text('prot = 8080\njwt_lifetime_seconds = "300"\nsmtp_starttls = 1\n[server]\n')
    database = tmp_path / "never.db"
    result = gatehouse(
        "serve",
        "--config",
        str(path),
        "--workers",
        "two",
        "--log-level",
        "loud",
        cwd=tmp_path,
        env={
            "GATEHOUSE_DATABASE_URL": f"sqlite:///{database}",
            "GATEHOUSE_PORT": "70000",
            "GATEHOUSE_CACHE_TTL_SECONDS": "0",
        },
    )
    assert_refused(
        result,
        f"prot: not a setting (in {path}); did you mean `port`?",
        f"server: not a setting (in {path})",
        f"jwt_lifetime_seconds: must be an integer (got '300' from `jwt_lifetime_seconds` in {path})",
        f"smtp_starttls: must be true or false (got 1 from `smtp_starttls` in {path})",
        "port: must be between 1 and 65535 (got '70000' from GATEHOUSE_PORT)",
        "cache_ttl_seconds: must be more than 0 (got '0' from GATEHOUSE_CACHE_TTL_SECONDS)",
        "workers: must be an integer (got 'two' from --workers)",
        "log_level: must be one of critical, error, warning, info, debug, trace "
        "(got 'loud' from --log-level)",
    )
    assert len(result.stderr.splitlines()) == 1 + 8
    assert not database.exists()  # nothing started


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--port", "0"], "port: must be between 1 and 65535"),
        (["--smtp-port", "65536"], "smtp_port: must be between 1 and 65535"),
        (["--workers", "0"], "workers: must be between 1 and 1024"),
        (["--jwt-lifetime-seconds", "0"], "jwt_lifetime_seconds: must be between 1 and 86400"),
        (["--jwt-reuse-seconds", "-1"], "jwt_reuse_seconds: must be at least 0"),
        (["--jwt-reuse-seconds", "nan"], "jwt_reuse_seconds: must be a finite number"),
        (["--default-session-minutes", "4"], "default_session_minutes: must be between 5 and"),
        (["--default-session-minutes", "527041"], "must be between 5 and 527040"),
        (["--dashboard-session-minutes", "0"], "dashboard_session_minutes: must be between 1"),
        (["--email-link-minutes", "-5"], "email_link_minutes: must be between 1"),
        (["--impersonation-minutes", "0"], "impersonation_minutes: must be between 1"),
        (["--cache-max-sessions", "0"], "cache_max_sessions: must be at least 1"),
        (["--argon2-time-cost", "0"], "argon2_time_cost: must be between 1 and 4294967295"),
        (
            ["--argon2-parallelism", "16777216"],
            "argon2_parallelism: must be between 1 and 16777215",
        ),
        (["--argon2-memory-kib", "7"], "argon2_memory_kib: must be between 8 and 4294967295"),
        (["--public-url", "ftp://example.com"], "public_url: must be an http:// or https:// URL"),
        (["--public-url", "example.com"], "public_url: must be an http:// or https:// URL"),
        (["--database-url", "gatehouse.db"], "database_url: must be a SQLAlchemy URL"),
        (["--host", " "], "host: must not be empty"),
        (["--smtp-from", "nobody"], "smtp_from: must be an email address"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.pem"], "tls_cert: is not a file"),
    ],
)
def test_a_value_out_of_range_is_refused(tmp_path: Path, flags: list[str], problem: str) -> None:
    assert_refused(gatehouse("serve", *flags, cwd=tmp_path), problem)


def test_settings_that_disagree_are_refused(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("certificate")
    assert_refused(
        gatehouse("serve", "--tls-cert", str(cert), cwd=tmp_path),
        f"tls_key: must be set with tls_cert (tls_cert = '{cert}' from --tls-cert)",
    )
    assert_refused(
        gatehouse(
            "serve",
            "--argon2-memory-kib",
            "16",
            cwd=tmp_path,
            env={"GATEHOUSE_ARGON2_PARALLELISM": "4"},
        ),
        "argon2_memory_kib: must be at least 8 × argon2_parallelism = 32 "
        "(argon2_memory_kib = 16 from --argon2-memory-kib, "
        "argon2_parallelism = 4 from GATEHOUSE_ARGON2_PARALLELISM)",
    )
    assert_refused(
        gatehouse("serve", "--jwt-reuse-seconds", "300", cwd=tmp_path),
        "jwt_reuse_seconds: must be less than jwt_lifetime_seconds = 300 "
        "(jwt_reuse_seconds = 300.0 from --jwt-reuse-seconds, "
        "jwt_lifetime_seconds = 300 from the default)",
    )


def test_a_missing_or_malformed_config_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert_refused(
        gatehouse("serve", "--config", str(missing), cwd=tmp_path),
        f"config file {missing} (--config): cannot read it: No such file or directory",
    )
    assert_refused(
        gatehouse(
            "init",
            "--admin-email",
            "a@example.com",
            cwd=tmp_path,
            env={"GATEHOUSE_CONFIG": str(missing)},
        ),
        f"config file {missing} (GATEHOUSE_CONFIG): cannot read it",
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    assert_refused(
        gatehouse("serve", "--config", str(broken), "--port", "0", cwd=tmp_path),
        f"config file {broken} (--config): not valid TOML",
        "port: must be between 1 and 65535 (got '0' from --port)",
    )


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    refused = gatehouse(
        "serve", cwd=tmp_path, env={"GATEHOUSE_DATABASE_URL": "s3cret-password-not-a-url"}
    )
    assert_refused(refused, "database_url: must be a SQLAlchemy URL")
    assert "GATEHOUSE_DATABASE_URL" in refused.stderr
    assert "s3cret" not in refused.stderr

    env = {
        "GATEHOUSE_DATABASE_URL": "postgresql+psycopg://gatehouse:s3cret@db.internal/gatehouse",
        "GATEHOUSE_SMTP_PASSWORD": "s3cret",
        "GATEHOUSE_ENCRYPTION_KEYS": SAMPLE_KEY,
    }
    for output in ["--json"], []:
        shown = gatehouse("config", "show", *output, cwd=tmp_path, env=env)
        assert shown.returncode == 0, shown.stderr
        assert "s3cret" not in shown.stdout
        assert SAMPLE_KEY not in shown.stdout
        assert "postgresql+psycopg://gatehouse:***@db.internal/gatehouse" in shown.stdout


def test_public_url_follows_host_port_and_tls_unless_set(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("certificate")
    key.write_text("key")

    def public_url(*flags: str) -> Any:
        return gatehouse("config", "show", "--json", *flags, cwd=tmp_path).shown()["public_url"]

    assert public_url("--host", "10.0.0.1", "--port", "9000")["value"] == "http://10.0.0.1:9000"
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    assert public_url(*tls)["value"] == "https://127.0.0.1:8080"
    given = public_url("--public-url", "https://auth.example.com/")
    assert given == {"value": "https://auth.example.com", "source": "flag", "from": "--public-url"}


# -- one loader for every command and every worker ---------------------------------------------


def _workspaces(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM workspaces")).scalar_one())
    finally:
        engine.dispose()


def test_init_key_create_and_policy_find_the_database_through_the_same_sources(
    database_url: str, tmp_path: Path
) -> None:
    init = gatehouse(
        "init",
        "--admin-email",
        "a@example.com",
        "--json",
        cwd=tmp_path,
        env={"GATEHOUSE_DATABASE_URL": database_url, "GATEHOUSE_ENCRYPTION_KEYS": SAMPLE_KEY},
    )
    assert init.returncode == 0, init.stderr
    assert _workspaces(database_url) == 1
    project_id = json.loads(init.stdout)["project"]["environments"]["test"]["project_id"]

    path = write_toml(
        tmp_path / "gatehouse.toml", {"database_url": database_url, "encryption_keys": SAMPLE_KEY}
    )
    exported = gatehouse(
        "policy", "export", "--project-id", project_id, "--config", str(path), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    assert "stytch_admin" in exported.stdout

    elsewhere = tmp_path / "elsewhere.db"
    key = gatehouse(
        "key",
        "create",
        "--role",
        "developer",
        "--database-url",
        database_url,
        cwd=tmp_path,
        env={
            "GATEHOUSE_DATABASE_URL": f"sqlite:///{elsewhere}",
            "GATEHOUSE_ENCRYPTION_KEYS": SAMPLE_KEY,
        },
    )
    assert key.returncode == 0, key.stderr  # the flag won: this database has the workspace
    assert not elsewhere.exists()

    bad = gatehouse(
        "policy",
        "export",
        "--project-id",
        project_id,
        cwd=tmp_path,
        env={
            "GATEHOUSE_DATABASE_URL": database_url,
            "GATEHOUSE_PORT": "http",
            "GATEHOUSE_ENCRYPTION_KEYS": SAMPLE_KEY,
        },
    )
    assert_refused(bad, "port: must be an integer (got 'http' from GATEHOUSE_PORT)")


def test_workers_get_the_settings_of_the_parent(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(worker.SETTINGS, "")  # restored afterwards
    loaded = config.load(
        flags={
            "database_url": database_url,
            "port": "9000",
            "smtp_starttls": True,
            "encryption_keys": SAMPLE_KEY,  # required with PostgreSQL
        },
        environ={},
    )
    worker.prepare(loaded.settings)
    application = worker.create_from_environment()
    services = application.state.gatehouse
    try:
        assert services.settings == loaded.settings
        assert services.settings.public_url == "http://127.0.0.1:9000"
    finally:
        services.close()

    tampered = json.loads(config.to_json(loaded.settings)) | {"workers": 0, "colour": "blue"}
    monkeypatch.setenv(worker.SETTINGS, json.dumps(tampered))
    with pytest.raises(config.ConfigError) as refused:
        worker.create_from_environment()
    assert refused.value.problems == [
        "workers: must be between 1 and 1024 (got 0 from GATEHOUSE_WORKER_SETTINGS)",
        "colour: not a setting (in GATEHOUSE_WORKER_SETTINGS)",
    ]


# -- the reference and the bounds it documents -------------------------------------------------


def test_the_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    assert committed == config.reference(), (
        "docs/CONFIGURATION.md is not what src/gatehouse/config.py generates; "
        "regenerate it with scripts/config-reference"
    )
    for setting in config.SETTINGS.values():
        assert f"| `{setting.name}` |" in committed
        assert f"`{setting.env_var}`" in committed
        assert f"`{setting.flag}`" in committed


def test_session_lengths_are_stytchs_5_to_527040_minutes() -> None:
    minutes = pydantic.TypeAdapter(schemas.SessionMinutes)
    assert minutes.validate_python(5) == 5
    assert minutes.validate_python(527_040) == 527_040
    for refused in (4, 527_041):
        with pytest.raises(pydantic.ValidationError):
            minutes.validate_python(refused)


def test_the_access_log_settings_take_only_their_choices(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as refused:
        config.load(None, {"access_log": "some", "log_format": "xml"}, environ={})
    message = str(refused.value)
    assert "must be one of errors, all, off" in message
    assert "must be one of text, json" in message


def test_postgresql_needs_encryption_keys_and_keys_must_be_fernet_keys() -> None:
    pg = {"database_url": "postgresql+psycopg://gatehouse@db.internal/gatehouse"}
    with pytest.raises(config.ConfigError) as missing:
        config.resolve([config.Layer("file", "gatehouse.toml", pg)])
    assert "encryption_keys: must be set" in str(missing.value)
    assert "gatehouse key encryption" in str(missing.value)
    keyed = {**pg, "encryption_keys": f" {SAMPLE_KEY} , {SAMPLE_KEY}"}
    settings = config.resolve([config.Layer("file", "gatehouse.toml", keyed)]).settings
    assert config.encryption_key_list(settings.encryption_keys) == [SAMPLE_KEY, SAMPLE_KEY]
    with pytest.raises(config.ConfigError) as bad:
        config.resolve([config.Layer("env", "env", {"encryption_keys": "short"}, strings=True)])
    assert "encryption_keys: key 1 is not 32 bytes" in str(bad.value)
    assert "short" not in str(bad.value)  # a secret is never echoed
