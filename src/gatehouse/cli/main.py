"""The `gatehouse` command: serve, init, admin add, key create / list / revoke, secret create,
policy export / apply, config show, dev-cert, bench.

Importing this module stays cheap, so `gatehouse --help` is quick: each command imports the
services, storage and web code it needs. Commands reach the database through the services only,
and only `init` and `serve` may create one. Settings come from `gatehouse.config` (defaults,
config file, `GATEHOUSE_*` variables, flags); `serve` and `config show` take a flag for every
setting, the others `--database-url`.

An expected failure is one `error: ...` line on stderr (a `{"error": {...}}` object on stdout
with `--json`) and a non-zero exit status; `gatehouse --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
from typer._click.core import Context, Parameter  # the click typer vendors and builds on

from gatehouse import __version__, config

if TYPE_CHECKING:
    from gatehouse.services.context import Caller
    from gatehouse.services.wiring import Gatehouse


def _no_flag_metavars(params: list[Parameter]) -> list[Parameter]:
    """A flag takes no value, so its help shows none (typer's rich help would print `<bool>`)."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _no_flag_metavars(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _no_flag_metavars(super().get_params(ctx))


def _typer(help: str) -> typer.Typer:
    return typer.Typer(help=help, no_args_is_help=True, cls=_Group)


app = _typer("Gatehouse: a self-hosted, Stytch-compatible B2B authorization service.")
policy_app = _typer("Export and apply a project's RBAC policy file.")
app.add_typer(policy_app, name="policy")
key_app = _typer(
    "Workspace management keys (create, list, revoke), JWT signing keys (rotate-signing) and "
    "encryption keys."
)
app.add_typer(key_app, name="key")
secret_app = _typer("API secrets of a project's environments.")
app.add_typer(secret_app, name="secret")
admin_app = _typer("Workspace Admins, for an operator with the database.")
app.add_typer(admin_app, name="admin")
config_app = _typer("The settings (docs/CONFIGURATION.md): each value and where it came from.")
app.add_typer(config_app, name="config")


@dataclass
class _State:
    """Set per invocation: `--debug`, whether failures are JSON, the database being used."""

    debug: bool = False
    json_errors: bool = False
    database: str = ""


_state = _State()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gatehouse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            expose_value=False,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On a failure, show the traceback (for a bug report)."),
    ] = False,
) -> None:
    """Gatehouse: a self-hosted, Stytch-compatible B2B authorization service."""
    global _state
    _state = _State(debug=debug)


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


def _fail(message: str, code: int = 1, kind: str = "failed", **details: Any) -> NoReturn:
    """Stop with one `error: ...` line on stderr, or `{"error": {...}}` on stdout for a command
    given `--json`."""
    if _state.json_errors:
        typer.echo(json.dumps({"error": {"code": kind, "message": message, **details}}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config_file: Path | None, flags: Flags) -> config.Loaded:
    """The settings, or exit 2 naming every problem."""
    try:
        return config.load(config_file, flags)
    except config.ConfigError as error:
        _fail(str(error), code=2, kind="invalid_configuration", problems=error.problems)


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _refuse_maintenance_database(settings: config.Settings) -> None:
    """`serve` and `init` do not fill PostgreSQL's shared `postgres` database with tables."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(settings.database_url)
    except Exception:  # reported, with the rest, when the database is opened
        return
    if (
        parsed.get_backend_name() == "postgresql"
        and parsed.database == "postgres"
        and not settings.allow_postgres_database
    ):
        _fail(
            f"the database URL {_state.database} names PostgreSQL's shared `postgres` "
            "maintenance database; create a database for Gatehouse (`createdb gatehouse`) and "
            "name it (`--database-url postgresql+psycopg://USER@HOST/gatehouse`), or pass "
            "--allow-postgres-database (GATEHOUSE_ALLOW_POSTGRES_DATABASE=true) to use it anyway",
            kind="maintenance_database",
        )


def _first_line(error: BaseException) -> str:
    """The driver's own words for a database error, without SQLAlchemy's wrapping."""
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0].strip().rstrip(".")


@contextmanager
def _database_errors(*, opening: bool) -> Iterator[None]:
    """Turn the ways a database can be unusable into one `error:` line naming it: while
    `opening`, a bad URL or a missing driver too; always, a refused or failed connection."""
    if _state.debug:
        yield
        return
    from sqlalchemy import exc

    where = _state.database
    try:
        yield
    except exc.NoSuchModuleError as error:
        if not opening:
            raise
        _fail(
            f"the database URL {where} names a backend SQLAlchemy does not know "
            f"({_first_line(error)}); use `sqlite:///PATH` or `postgresql+psycopg://USER@HOST/DB`",
            kind="database_url",
        )
    except (exc.ArgumentError, ValueError) as error:
        if not opening:
            raise
        _fail(
            f"the database URL {where} cannot be parsed ({_first_line(error)}); use "
            "`sqlite:///PATH` or `postgresql+psycopg://USER@HOST:PORT/DB`",
            kind="database_url",
        )
    except ImportError as error:
        if not opening:
            raise
        _fail(
            f"the database driver for {where} is not installed ({_first_line(error)}); install "
            "it into Gatehouse's environment, or use `postgresql+psycopg://` (installed with "
            "Gatehouse)",
            kind="database_driver",
        )
    except OSError as error:
        if not opening:
            raise
        _fail(
            f"cannot create the database {where}: {error.strerror or error}"
            f"{f' ({error.filename})' if error.filename else ''}; choose a directory Gatehouse "
            "may write to",
            kind="database_unavailable",
        )
    except exc.DBAPIError as error:
        _fail(
            f"cannot use the database {where}: {_first_line(error)}; check that the server "
            "runs, the database exists and the URL (--database-url or GATEHOUSE_DATABASE_URL) "
            "is right",
            kind="database_unavailable",
        )


@contextmanager
def _services(settings: config.Settings, *, create: bool = False) -> Iterator[Gatehouse]:
    """Every service over the configured database (migrated first), closed afterwards.

    Only `init` and `serve` pass `create`: every other command needs a database that exists and
    was initialised, and creates nothing (no SQLite file, no tables) when it is not there."""
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import SqlStore, has_schema, make_engine, migrate

    _state.database = str(config.shown("database_url", settings.database_url))
    with _database_errors(opening=True):
        if not create:
            path = _sqlite_file(settings.database_url)
            if path is not None and not path.is_file():
                _fail(
                    f"the database {path.absolute()} does not exist (database URL "
                    f"{_state.database}); run `gatehouse init --admin-email EMAIL` to create "
                    "it, or name an existing one with --database-url or GATEHOUSE_DATABASE_URL",
                    kind="database_missing",
                )
        engine = make_engine(settings.database_url, settings.database_busy_timeout_seconds)
    try:
        with _database_errors(opening=True):
            if not create and not has_schema(engine):
                _fail(
                    f"the database {_state.database} is not initialised; run `gatehouse init "
                    "--admin-email EMAIL` on it first",
                    kind="not_initialised",
                )
            migrate(engine)
            gatehouse = Gatehouse(SqlStore(engine), settings)
        with _database_errors(opening=False):
            yield gatehouse
    finally:
        engine.dispose()


def _not_initialised() -> NoReturn:
    _fail(
        f"the database {_state.database} has no workspace yet; run `gatehouse init "
        "--admin-email EMAIL` on it first",
        kind="not_initialised",
    )


def _check_tls(settings: config.Settings) -> None:
    """Refuse, before serving, a certificate and key that TLS cannot use (the files exist:
    the settings' checks made sure)."""
    if not settings.tls_cert:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert, settings.tls_key
        )
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        _fail(
            f"cannot serve HTTPS with the certificate {settings.tls_cert} and the key "
            f"{settings.tls_key} ({reason}); pass a PEM certificate and its private key "
            "(`gatehouse dev-cert` makes a pair for local use)",
            kind="tls",
        )


@app.command(cls=_Command)
@_with_setting_flags(config.SETTINGS)
def serve(config_file: ConfigFile = None, **flags: str | bool | None) -> None:
    """Apply migrations and serve the API (every setting: docs/CONFIGURATION.md)."""
    settings = _load(config_file, flags).settings
    _state.database = str(config.shown("database_url", settings.database_url))
    _refuse_maintenance_database(settings)
    _check_tls(settings)

    import uvicorn

    from gatehouse.api.app import create_app
    from gatehouse.api.protocol import uvicorn_options

    # Migrations run once, here, before any worker starts.
    with _services(settings, create=True) as gatehouse:
        if not gatehouse.provisioning.is_initialised():
            typer.echo(
                f"warning: the database {_state.database} is not initialised: the B2B API has "
                "no projects to serve; run `gatehouse init --admin-email EMAIL` on it",
                err=True,
            )
        application: Any = create_app(gatehouse)
        if settings.workers > 1:
            from gatehouse.api import worker

            worker.prepare(settings)
            application = "gatehouse.api.worker:create_from_environment"
        uvicorn.run(
            application,
            factory=settings.workers > 1,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=5,
            ssl_certfile=settings.tls_cert or None,
            ssl_keyfile=settings.tls_key or None,
            **uvicorn_options(settings),
        )


@config_app.command("show", cls=_Command)
@_with_setting_flags(config.SETTINGS)
def config_show(
    config_file: ConfigFile = None, as_json: AsJson = False, **flags: str | bool | None
) -> None:
    """Print every setting as `serve` would read it, and where its value came from."""
    _state.json_errors = as_json
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


@app.command("dev-cert", cls=_Command)
def dev_cert(
    cert: Annotated[Path, typer.Option(help="Where to write the certificate.")] = Path(
        "gatehouse-data/dev-cert.pem"
    ),
    key: Annotated[Path, typer.Option(help="Where to write the private key.")] = Path(
        "gatehouse-data/dev-key.pem"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Replace a certificate or key that already exists.")
    ] = False,
) -> None:
    """Make a self-signed certificate for 127.0.0.1 and localhost, for local HTTPS."""
    from gatehouse.tls import write_self_signed

    existing = [str(path) for path in (cert, key) if path.exists()]
    if existing and not force:
        _fail(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass "
            "--force to replace (clients that trust the old certificate must then trust the new)",
            kind="exists",
        )
    write_self_signed(cert, key)
    typer.echo(
        f"wrote {cert} and {key}; serve with: gatehouse serve --tls-cert {cert} --tls-key {key}"
    )


def _trusted_failure(error: Exception) -> NoReturn:
    """A service's refusal, as one line naming the database when it lacks something."""
    from gatehouse.errors import GatehouseError

    if isinstance(error, GatehouseError) and error.code == "not_initialised":
        _not_initialised()
    if isinstance(error, GatehouseError):
        _fail(error.message, kind=str(error.code))
    raise error


@key_app.command("encryption", cls=_Command)
def key_encryption() -> None:
    """Print a new key for the `encryption_keys` setting (put it first to rotate)."""
    from gatehouse.services.security.sealing import new_key

    typer.echo(new_key())


@key_app.command("create", cls=_Command)
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

    _state.json_errors = as_json
    if role not in dashboard.ROLES:
        _fail(
            f"role `{role}` is not a dashboard role; use one of {', '.join(dashboard.ROLES)}",
            kind="invalid_role",
        )
    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            key = gatehouse.workspace.create_key_trusted(role, name, "cli")
        except GatehouseError as error:
            _trusted_failure(error)
    if as_json:
        typer.echo(json.dumps({"key_id": key["key_id"], "secret": key["secret"]}))
    else:
        typer.echo(f"key_id={key['key_id']} secret={key['secret']} role={role}")


@key_app.command("list", cls=_Command)
@_with_setting_flags(["database_url"])
def key_list(
    as_json: AsJson = False, config_file: ConfigFile = None, **flags: str | bool | None
) -> None:
    """List the management keys: id, role, name, created, revoked (never a secret)."""
    from gatehouse.errors import GatehouseError

    _state.json_errors = as_json
    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            keys = gatehouse.workspace.list_keys_trusted()
        except GatehouseError as error:
            _trusted_failure(error)
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    header = {"key_id": "KEY_ID", "role": "ROLE", "name": "NAME", "created_at": "CREATED"}
    header["revoked_at"] = "REVOKED"
    rows = [header] + [{k: str(v or "-") for k, v in key.items()} for key in keys]
    widths = {column: max(len(row[column]) for row in rows) for column in header}
    for row in rows:
        typer.echo("  ".join(f"{row[c]:{widths[c]}}" for c in header).rstrip())


@key_app.command("revoke", cls=_Command)
@_with_setting_flags(["database_url"])
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (workspace-key-...).")],
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Revoke a management key: it stops working at once."""
    from gatehouse.errors import GatehouseError

    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            revoked_before = gatehouse.workspace.revoke_key_trusted(key_id)
        except GatehouseError as error:
            if error.code == "workspace_key_not_found":
                _fail(
                    f"key `{key_id}` was not found in the database {_state.database}; "
                    "`gatehouse key list` shows the keys",
                    kind=str(error.code),
                )
            _trusted_failure(error)
    if revoked_before:
        typer.echo(f"key {key_id} was already revoked at {revoked_before}; nothing changed")
    else:
        typer.echo(f"revoked key {key_id}")


@key_app.command("rotate-signing", cls=_Command)
@_with_setting_flags(["database_url"])
def key_rotate_signing(
    project_id: Annotated[
        str,
        typer.Option(help="The environment's project id (project-test-... or project-live-...)."),
    ],
    signs_after: Annotated[
        int,
        typer.Option(
            min=0,
            help="Seconds from now until the new key signs (it is published at once), so apps' "
            "cached JWKS hold it first; 0: at once.",
        ),
    ] = 300,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Add a new JWT signing key to an environment: published in the JWKS at once, it signs new
    JWTs from --signs-after seconds on; the older keys stay published, so JWTs they signed still
    verify until they expire."""
    from gatehouse.errors import GatehouseError
    from gatehouse.services import clock

    _state.json_errors = as_json
    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            kid, signs_from, kids = gatehouse.provisioning.rotate_signing_key_trusted(
                project_id, signs_after
            )
        except GatehouseError as error:
            if error.code == "environment_not_found":
                _project_not_found(project_id)
            _trusted_failure(error)
    when = clock.iso(signs_from)
    if as_json:
        typer.echo(
            json.dumps(
                {"project_id": project_id, "kid": kid, "signs_from": when, "published": kids}
            )
        )
        return
    typer.echo(f"project_id={project_id} signing key kid={kid} signs_from={when}")
    typer.echo(
        f"the JWKS publishes {len(kids)} key(s): {', '.join(kids)}; every node signs new JWTs "
        f"with {kid} from {when} on"
    )


@secret_app.command("create", cls=_Command)
@_with_setting_flags(["database_url"])
def secret_create(
    project_id: Annotated[
        str,
        typer.Option(help="The environment's project id (project-test-... or project-live-...)."),
    ],
    as_json: AsJson = False,
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Create a new API secret for an environment (when its secret is lost); older ones keep
    working."""
    from gatehouse.errors import GatehouseError

    _state.json_errors = as_json
    with _services(_load(config_file, flags).settings) as gatehouse:
        try:
            secret_id, secret = gatehouse.provisioning.create_secret_trusted(project_id)
        except GatehouseError as error:
            if error.code == "environment_not_found":
                _project_not_found(project_id)
            _trusted_failure(error)
    if as_json:
        typer.echo(json.dumps({"project_id": project_id, "secret_id": secret_id, "secret": secret}))
        return
    typer.echo(f"project_id={project_id} secret_id={secret_id} secret={secret}")
    typer.echo("the secret is shown once; store it now (older secrets keep working)")


@admin_app.command("add", cls=_Command)
@_with_setting_flags(["database_url"])
def admin_add(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Make EMAIL a workspace Admin: adds the person, or raises their role (an operator with the
    database is trusted)."""
    from gatehouse.errors import GatehouseError
    from gatehouse.services import addresses

    if not addresses.is_email(email):
        _fail(f"`{email}` is not an email address", kind="invalid_email")
    settings = _load(config_file, flags).settings
    with _services(settings) as gatehouse:
        try:
            outcome, before = gatehouse.workspace.make_admin_trusted(email)
        except GatehouseError as error:
            _trusted_failure(error)
    email = email.lower()
    if outcome == "unchanged":
        typer.echo(f"{email} is already an Admin; nothing changed")
        return
    if outcome == "added":
        typer.echo(f"{email} is now an Admin (added to the workspace)")
    else:
        typer.echo(f"{email} is now an Admin (was {before or 'a domain member'})")
    typer.echo(_sign_in_hint(email, settings))


def _sign_in_hint(email: str, settings: config.Settings) -> str:
    url = settings.public_url
    return (
        f"sign in: POST {url}/pwa/v3/auth/magic_links/send "
        f'{{"email_address": "{email}"}} emails a link (without SMTP it is in the server log); '
        f'POST {url}/pwa/v3/auth/magic_links/authenticate {{"token": "..."}} returns a '
        'session_token (README.md, "Inviting your first colleague")'
    )


@app.command(cls=_Command)
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

    _state.json_errors = as_json
    if not addresses.is_email(admin_email):
        _fail(f"`{admin_email}` is not an email address", kind="invalid_email")
    settings = _load(config_file, flags).settings
    _state.database = str(config.shown("database_url", settings.database_url))
    _refuse_maintenance_database(settings)
    with _services(settings, create=True) as gatehouse:
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
            _fail(error.message, kind=str(error.code))
    admin = admin_email.lower()
    if as_json:
        typer.echo(json.dumps({**result, "admin": {"email_address": admin}}, indent=2))
        return
    typer.echo(f"workspace {result['workspace']['workspace_id']} created")
    for kind, env in result["project"]["environments"].items():
        typer.echo(f"{kind:5} project_id={env['project_id']} secret={env['secret']}")
    key = result["management_key"]
    typer.echo(f"admin management key: key_id={key['key_id']} secret={key['secret']}")
    typer.echo("the secrets are shown once; store them now")
    typer.echo(
        f"first Admin: {admin} (another: `gatehouse init --admin-email` on a new database; "
        "later: `gatehouse admin add EMAIL`)"
    )
    typer.echo(_sign_in_hint(admin, settings))
    typer.echo(
        f"dashboard: open {settings.public_url}/dashboard/ and choose "
        f'"Email me a sign-in link" with {admin}'
    )


def _project_not_found(project_id: str) -> NoReturn:
    _fail(
        f"project `{project_id}` was not found in the database {_state.database}; pass an "
        "environment's project id (project-test-...) from `gatehouse init`, or name the right "
        "database with --database-url",
        kind="project_not_found",
    )


def _caller(gatehouse: Gatehouse, project_id: str) -> Caller:
    from gatehouse.services.context import Caller

    environment = gatehouse.provisioning.find_environment(project_id)
    if environment is None:
        _project_not_found(project_id)
    return Caller(environment, "cli")


@policy_app.command("export", cls=_Command)
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

    if output_format not in ("yaml", "json"):
        _fail(f"format `{output_format}` is not known; use `yaml` or `json`")
    with _services(_load(config_file, flags).settings) as gatehouse:
        caller = _caller(gatehouse, project_id)
    document = policy_to_file(caller.environment.policy)
    if output_format == "json":
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)


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


@policy_app.command("apply", cls=_Command)
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
    """Validate a policy file and apply it atomically (or show what would change). The file is
    the whole policy: what it leaves out is removed (start from `gatehouse policy export`)."""
    from gatehouse.errors import GatehouseError, InvalidInput
    from gatehouse.policy import PolicyProblems, policy_from_file
    from gatehouse.policy.diff import describe_changes
    from gatehouse.policy.document import file_path

    def invalid(problems: Iterable[str]) -> NoReturn:
        _fail(f"the policy file {file} is invalid:\n" + "\n".join(f"  {p}" for p in problems))

    with _services(_load(config_file, flags).settings) as gatehouse:
        caller = _caller(gatehouse, project_id)
        try:
            new = policy_from_file(_read_policy_file(file))
        except PolicyProblems as error:
            invalid(str(p) for p in error.problems)
        changes = describe_changes(caller.environment.policy, new)
        try:
            _, version = gatehouse.rbac.set_policy(caller, new, cascade=cascade, dry_run=dry_run)
        except InvalidInput as error:
            invalid(f"{file_path(p.path)}: {p.reason}" for p in error.problems)
        except GatehouseError as error:
            _fail(error.message)
    for line in changes or ["no changes"]:
        typer.echo(line)
    if dry_run:
        typer.echo(f"dry run: nothing was changed (policy version stays {version})")
    else:
        typer.echo(f"applied: policy version is now {version}")


@app.command(cls=_Command)
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller samples: each section in seconds.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="SECTIONS",
            help=(
                "Comma-separated sections to run (default all): "
                "engine,http,scale,propagation,dashboard."
            ),
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


from gatehouse.cli import backup as _backup  # noqa: E402, F401 (registers `gatehouse backup`)
