"""The `gatehouse` command: serve, init, key create, policy export / apply, config show, dev-cert,
bench.

Importing this module stays cheap, so `gatehouse --help` is quick: each command imports the
services, storage and web code it needs. Commands reach the database through the services only.
Settings come from `gatehouse.config` (defaults, config file, `GATEHOUSE_*` variables, flags);
`serve` and `config show` take a flag for every setting, the others `--database-url`.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from gatehouse import config

if TYPE_CHECKING:
    from gatehouse.services.context import Caller
    from gatehouse.services.wiring import Gatehouse

app = typer.Typer(
    help="Gatehouse: a self-hosted, Stytch-compatible B2B authorization service.",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    help="Export and apply a project's RBAC policy file.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
key_app = typer.Typer(help="Workspace management keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")
config_app = typer.Typer(
    help="The settings (docs/CONFIGURATION.md): each value and where it came from.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help=f"TOML file of settings (docs/CONFIGURATION.md); default: ${config.CONFIG_ENV}.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Flags = Mapping[str, str | bool | None]

_METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: ""}
Command = TypeVar("Command", bound=Callable[..., None])


def _setting_option(setting: config.SettingInfo) -> Any:
    """The flag of one setting: given as text (None: not given) for `config.load` to check, so
    that a bad flag is reported with every other problem."""
    # Backslashes keep rich (typer's help formatter) from taking the brackets for markup.
    help = setting.help
    if setting.default not in ("", False) or setting.default_text:
        help += f" \\[default: {(setting.default_text or str(setting.default)).replace('`', '')}]"
    help += f" \\[env: {setting.env_var}]"
    if setting.type is bool:
        option = typer.Option(f"{setting.flag}/--no-{setting.flag[2:]}", help=help)
        return Annotated[bool | None, option]
    option = typer.Option(setting.flag, metavar=_METAVARS[setting.type], help=help)
    return Annotated[str | None, option]


def _with_setting_flags(names: Iterable[str]) -> Callable[[Command], Command]:
    """Give a command taking `**flags` one flag per setting in `names` (typer reads the
    signature); the command gets each as `flags[name]`."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=_setting_option(config.SETTINGS[name]),
            )
            for name in names
        ]
        command.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        return command

    return decorate


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config_file: Path | None, flags: Flags) -> config.Loaded:
    """The settings, or exit 2 naming every problem."""
    try:
        return config.load(config_file, flags)
    except config.ConfigError as error:
        _fail(str(error), code=2)


@contextmanager
def _services(settings: config.Settings) -> Iterator[Gatehouse]:
    """Every service over the configured database (migrated first), closed afterwards."""
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import open_store

    store = open_store(
        settings.database_url, busy_timeout_seconds=settings.database_busy_timeout_seconds
    )
    try:
        yield Gatehouse(store, settings)
    finally:
        store.engine.dispose()


@app.command()
@_with_setting_flags(config.SETTINGS)
def serve(config_file: ConfigFile = None, **flags: str | bool | None) -> None:
    """Apply migrations and serve the API (every setting: docs/CONFIGURATION.md)."""
    settings = _load(config_file, flags).settings

    import uvicorn

    from gatehouse.api.app import create_app
    from gatehouse.api.protocol import PROTOCOL

    with _services(settings) as gatehouse:  # applies migrations once, before any worker starts
        application: Any = create_app(gatehouse)
        if settings.workers > 1:
            from gatehouse.api import worker

            worker.prepare(settings)
            application = "gatehouse.api.worker:create_from_environment"
        uvicorn.run(
            application,
            http=PROTOCOL,
            factory=settings.workers > 1,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=5,
            ssl_certfile=settings.tls_cert or None,
            ssl_keyfile=settings.tls_key or None,
        )


@config_app.command("show")
@_with_setting_flags(config.SETTINGS)
def config_show(
    config_file: ConfigFile = None, as_json: AsJson = False, **flags: str | bool | None
) -> None:
    """Print every setting as `serve` would read it, and where its value came from."""
    loaded = _load(config_file, flags)
    rows = {
        name: (config.shown(name, getattr(loaded.settings, name)), loaded.origins[name])
        for name in config.SETTINGS
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    name: {"value": value, "source": origin.kind, "from": origin.where}
                    for name, (value, origin) in rows.items()
                },
                indent=2,
            )
        )
        return
    texts = {name: json.dumps(value) for name, (value, _) in rows.items()}
    name_width = max(map(len, rows))
    value_width = max(map(len, texts.values()))
    for name, (_, origin) in rows.items():
        typer.echo(f"{name:{name_width}}  {texts[name]:{value_width}}  {origin.where}".rstrip())


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


@key_app.command("encryption")
def key_encryption() -> None:
    """Print a new key for the `encryption_keys` setting (put it first to rotate)."""
    from gatehouse.services.security.sealing import new_key

    typer.echo(new_key())


@key_app.command("create")
@_with_setting_flags(["database_url"])
def key_create(
    role: Annotated[
        str, typer.Option(help="admin, developer, support_manager, support_agent or no_access.")
    ],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "created with the cli",
    as_json: AsJson = False,
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Create a management key with a dashboard role (an operator with the database is trusted)."""
    from gatehouse.errors import GatehouseError
    from gatehouse.policy import dashboard

    if role not in dashboard.ROLES:
        _fail(f"role `{role}` is not a dashboard role; use one of {', '.join(dashboard.ROLES)}")
    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            key = gatehouse.workspace.create_key_trusted(role, name, "cli")
        except GatehouseError as error:
            if error.code == "not_initialised":
                _fail("this database has no workspace yet; run `gatehouse init` first")
            _fail(error.message)
    if as_json:
        typer.echo(json.dumps({"key_id": key["key_id"], "secret": key["secret"]}))
    else:
        typer.echo(f"key_id={key['key_id']} secret={key['secret']} role={role}")


@app.command()
@_with_setting_flags(["database_url"])
def init(
    admin_email: Annotated[str, typer.Option(help="Email of the workspace's first Admin.")],
    workspace_name: Annotated[str, typer.Option(help="Workspace name.")] = "My workspace",
    project_name: Annotated[str, typer.Option(help="Name of the first project.")] = "My project",
    as_json: AsJson = False,
    exists_ok: Annotated[
        bool,
        typer.Option(
            "--exists-ok", help="Succeed quietly when the database is already initialised."
        ),
    ] = False,
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Create the workspace and a first project with live and test environments (once)."""
    from gatehouse.errors import GatehouseError
    from gatehouse.services import addresses

    if not addresses.is_email(admin_email):
        _fail(f"`{admin_email}` is not an email address")
    with _services(_load(config_file, flags).settings) as gatehouse:
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
    from gatehouse.services.context import Caller

    environment = gatehouse.provisioning.find_environment(project_id)
    if environment is None:
        _fail(
            f"project `{project_id}` was not found; pass an environment's project id (project-test-...)"
        )
    return Caller(environment, "cli")


@policy_app.command("export")
@_with_setting_flags(["database_url"])
def policy_export(
    project_id: Annotated[str, typer.Option(help="The environment's project id.")],
    output_format: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Print the policy in the Management API / policy-file shape."""
    import yaml

    from gatehouse.policy import policy_to_file

    with _services(_load(config_file, flags).settings) as gatehouse:
        caller = _caller(gatehouse, project_id)
    document = policy_to_file(caller.environment.policy)
    if output_format == "json":
        typer.echo(json.dumps(document, indent=2))
    elif output_format == "yaml":
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)
    else:
        _fail(f"format `{output_format}` is not known; use `yaml` or `json`")


def _read_policy_file(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text()
    except OSError as error:
        _fail(f"cannot read `{path}`: {error.strerror}")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        _fail(f"`{path}` is not valid {'json' if path.suffix == '.json' else 'yaml'}: {error}")


@policy_app.command("apply")
@_with_setting_flags(["database_url"])
def policy_apply(
    file: Annotated[Path, typer.Argument(help="Policy file (YAML or JSON).")],
    project_id: Annotated[str, typer.Option(help="The environment's project id.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes; change nothing.")
    ] = False,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="Also remove uses of removed roles/resources.")
    ] = False,
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Validate a policy file and apply it atomically (or show what would change)."""
    from gatehouse.errors import GatehouseError, InvalidInput
    from gatehouse.policy import PolicyProblems, policy_from_file
    from gatehouse.policy.diff import describe_changes
    from gatehouse.policy.document import file_path

    with _services(_load(config_file, flags).settings) as gatehouse:
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
