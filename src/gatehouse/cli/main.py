"""The `gatehouse` command: serve, init, policy export / apply."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from gatehouse.config import Settings
from gatehouse.errors import GatehouseError, InvalidInput
from gatehouse.policy import PolicyProblems, policy_from_file, policy_to_file
from gatehouse.policy.diff import describe_changes
from gatehouse.policy.document import file_path
from gatehouse.services import addresses
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import default_database_url, open_store

app = typer.Typer(
    help="Gatehouse: a self-hosted, Stytch-compatible B2B authorization service.",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    help="Export and apply a project's RBAC policy file.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="GATEHOUSE_DATABASE_URL",
        help="SQLAlchemy URL; default: SQLite under ./gatehouse-data/",
    ),
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _gatehouse(database_url: str | None, settings: Settings | None = None) -> Gatehouse:
    return Gatehouse(open_store(database_url or default_database_url()), settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    database_url: DatabaseUrl = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="URL clients use to reach this server; the session JWT issuer."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each a node with its own caches).")
    ] = 1,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (needs --tls-key)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")
    ] = None,
    smtp_host: Annotated[
        str,
        typer.Option(
            envvar="GATEHOUSE_SMTP_HOST", help="SMTP server for outgoing email; none: log it."
        ),
    ] = "",
    smtp_port: Annotated[int, typer.Option(envvar="GATEHOUSE_SMTP_PORT")] = 25,
    smtp_username: Annotated[str, typer.Option(envvar="GATEHOUSE_SMTP_USERNAME")] = "",
    smtp_password: Annotated[
        str, typer.Option(envvar="GATEHOUSE_SMTP_PASSWORD", show_default=False)
    ] = "",
    smtp_starttls: Annotated[bool, typer.Option(envvar="GATEHOUSE_SMTP_STARTTLS")] = False,
    smtp_from: Annotated[str, typer.Option(envvar="GATEHOUSE_SMTP_FROM")] = "gatehouse@localhost",
) -> None:
    """Apply migrations and serve the API."""
    import uvicorn

    from gatehouse.api.app import create_app
    from gatehouse.api.protocol import PROTOCOL

    if (tls_cert is None) != (tls_key is None):
        _fail("pass both --tls-cert and --tls-key, or neither")
    scheme = "https" if tls_cert else "http"
    settings = Settings(
        public_url=(public_url or f"{scheme}://{host}:{port}").rstrip("/"),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_username=smtp_username,
        smtp_password=smtp_password,
        smtp_starttls=smtp_starttls,
        smtp_from=smtp_from,
    )
    url = database_url or default_database_url()
    gatehouse = _gatehouse(url, settings)  # applies migrations once, before any worker starts
    app: Any = create_app(gatehouse)
    if workers > 1:
        from gatehouse.api import worker

        worker.prepare(url, settings)
        app = "gatehouse.api.worker:create_from_environment"
    uvicorn.run(
        app,
        http=PROTOCOL,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )


@app.command("dev-cert")
def dev_cert(
    cert: Annotated[Path, typer.Option(help="Where to write the certificate.")] = Path(
        "gatehouse-data/dev-cert.pem"
    ),
    key: Annotated[Path, typer.Option(help="Where to write the private key.")] = Path(
        "gatehouse-data/dev-key.pem"
    ),
) -> None:
    """Make a self-signed certificate for 127.0.0.1 and localhost, for local HTTPS."""
    from gatehouse.tls import write_self_signed

    write_self_signed(cert, key)
    typer.echo(
        f"wrote {cert} and {key}; serve with: gatehouse serve --tls-cert {cert} --tls-key {key}"
    )


key_app = typer.Typer(help="Workspace management keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("create")
def key_create(
    role: Annotated[
        str, typer.Option(help="admin, developer, support_manager, support_agent or no_access.")
    ],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "created with the cli",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a management key with a dashboard role (an operator with the database is trusted)."""
    from gatehouse.policy import dashboard

    if role not in dashboard.ROLES:
        _fail(f"role `{role}` is not a dashboard role; use one of {', '.join(dashboard.ROLES)}")
    gatehouse = _gatehouse(database_url)
    with gatehouse.store.transaction() as tx:
        workspace = gatehouse.store.get_workspace(tx)
        if workspace is None:
            _fail("this database has no workspace yet; run `gatehouse init` first")
        assert workspace is not None
        key = gatehouse.workspace.create_key(tx, workspace["id"], role, name, "cli")
    if as_json:
        typer.echo(json.dumps({"key_id": key["key_id"], "secret": key["secret"]}))
    else:
        typer.echo(f"key_id={key['key_id']} secret={key['secret']} role={role}")


@app.command()
def init(
    admin_email: Annotated[str, typer.Option(help="Email of the workspace's first Admin.")],
    workspace_name: Annotated[str, typer.Option(help="Workspace name.")] = "My workspace",
    project_name: Annotated[str, typer.Option(help="Name of the first project.")] = "My project",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    exists_ok: Annotated[
        bool,
        typer.Option(
            "--exists-ok", help="Succeed quietly when the database is already initialised."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create the workspace and a first project with live and test environments (once)."""
    if not addresses.is_email(admin_email):
        _fail(f"`{admin_email}` is not an email address")
    gatehouse = _gatehouse(database_url)
    try:
        result = gatehouse.initialise(admin_email, workspace_name, project_name)
    except GatehouseError as error:
        if exists_ok and error.code == "already_initialised":
            if as_json:
                typer.echo(json.dumps({"already_initialised": True}))
            else:
                typer.echo(
                    "already initialised; the project ids and secrets were shown on the first run"
                )
            return
        _fail(error.message)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"workspace {result['workspace']['workspace_id']} created")
    for kind, env in result["project"]["environments"].items():
        typer.echo(f"{kind:5} project_id={env['project_id']} secret={env['secret']}")
    key = result["management_key"]
    typer.echo(f"admin management key: key_id={key['key_id']} secret={key['secret']}")
    typer.echo("the secrets are shown once; store them now")


def _caller(gatehouse: Gatehouse, project_id: str) -> Caller:
    with gatehouse.store.read() as tx:
        environment = gatehouse.runtime.load_environment(tx, project_id)
    if environment is None:
        _fail(
            f"project `{project_id}` was not found; pass an environment's project id (project-test-...)"
        )
    assert environment is not None
    return Caller(environment, "cli")


@policy_app.command("export")
def policy_export(
    project_id: Annotated[str, typer.Option(help="The environment's project id.")],
    output_format: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    database_url: DatabaseUrl = None,
) -> None:
    """Print the policy in the Management API / policy-file shape."""
    caller = _caller(_gatehouse(database_url), project_id)
    document = policy_to_file(caller.environment.policy)
    if output_format == "json":
        typer.echo(json.dumps(document, indent=2))
    elif output_format == "yaml":
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)
    else:
        _fail(f"format `{output_format}` is not known; use `yaml` or `json`")


def _read_policy_file(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        _fail(f"cannot read `{path}`: {error.strerror}")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        _fail(f"`{path}` is not valid {'json' if path.suffix == '.json' else 'yaml'}: {error}")


@policy_app.command("apply")
def policy_apply(
    file: Annotated[Path, typer.Argument(help="Policy file (YAML or JSON).")],
    project_id: Annotated[str, typer.Option(help="The environment's project id.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes; change nothing.")
    ] = False,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="Also remove uses of removed roles/resources.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Validate a policy file and apply it atomically (or show what would change)."""
    gatehouse = _gatehouse(database_url)
    caller = _caller(gatehouse, project_id)
    try:
        new = policy_from_file(_read_policy_file(file))
    except PolicyProblems as error:
        _fail("the policy file is invalid:\n" + "\n".join(f"  {p}" for p in error.problems))
    changes = describe_changes(caller.environment.policy, new)
    try:
        _, version = gatehouse.rbac.set_policy(caller, new, cascade=cascade, dry_run=dry_run)
    except InvalidInput as error:
        _fail(
            "the policy file is invalid:\n"
            + "\n".join(f"  {file_path(p.path)}: {p.reason}" for p in error.problems)
        )
    except GatehouseError as error:
        _fail(error.message)
    for line in changes or ["no changes"]:
        typer.echo(line)
    if dry_run:
        typer.echo(f"dry run: nothing was changed (policy version stays {version})")
    else:
        typer.echo(f"applied: policy version is now {version}")


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller samples: each section in seconds.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="SECTIONS",
            help="Comma-separated sections to run (default all): engine,http,scale,propagation.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A PostgreSQL server URL sections may create throwaway databases on; "
            "default: SQLite only.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", metavar="FILE", help="Also write the tables as markdown."),
    ] = None,
) -> None:
    """Benchmark Gatehouse: the engine against its peers, and the server (figures as ratios)."""

    from gatehouse.bench.report import print_tables, to_markdown, wide_console
    from gatehouse.bench.suite import SECTIONS, BenchOptions, machine_facts, run_sections

    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        _fail(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(SECTIONS)}"
        )
    console = wide_console()
    header = machine_facts()
    console.print(header, markup=False, highlight=False)
    tables = run_sections(
        names,
        BenchOptions(quick=quick, database_url=database_url),
        each=lambda section: print_tables(section, console),
    )
    if markdown is not None:
        markdown.write_text(to_markdown(tables, header=header), encoding="utf-8")
        typer.echo(f"wrote {markdown}")


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
