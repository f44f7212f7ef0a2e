"""What every `gatehouse` command shares: the typer app and its command groups, the `--debug`
state, one flag per setting, loading the settings, opening the services over the database, and
failing with one `error: ...` line (or a JSON error object with `--json`).

The commands live in their own modules (server, keys, policy, benchmarks, backup), each
registering on `app`; `gatehouse.cli.main` imports them all.
"""

from __future__ import annotations

import inspect
import json
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


def no_flag_metavars(params: list[Parameter]) -> list[Parameter]:
    """A flag takes no value, so its help shows none (typer's rich help would print `<bool>`)."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return no_flag_metavars(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return no_flag_metavars(super().get_params(ctx))


def new_typer(help: str) -> typer.Typer:
    return typer.Typer(help=help, no_args_is_help=True, cls=Group)


app = new_typer("Gatehouse: a self-hosted, Stytch-compatible B2B authorization service.")
policy_app = new_typer("Export and apply a project's RBAC policy file.")
app.add_typer(policy_app, name="policy")
key_app = new_typer(
    "Workspace management keys (create, list, revoke), JWT signing keys (rotate-signing) and "
    "encryption keys."
)
app.add_typer(key_app, name="key")
secret_app = new_typer("API secrets of a project's environments.")
app.add_typer(secret_app, name="secret")
admin_app = new_typer("Workspace Admins, for an operator with the database.")
app.add_typer(admin_app, name="admin")
config_app = new_typer("The settings (docs/CONFIGURATION.md): each value and where it came from.")
app.add_typer(config_app, name="config")


@dataclass
class State:
    """Set per invocation: `--debug`, whether failures are JSON, the database being used."""

    debug: bool = False
    json_errors: bool = False
    database: str = ""


state = State()


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"gatehouse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=print_version,
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
    state.debug, state.json_errors, state.database = debug, False, ""


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
CommandFn = TypeVar("CommandFn", bound=Callable[..., None])


def setting_option(setting: config.SettingInfo) -> Any:
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


def with_setting_flags(names: Iterable[str]) -> Callable[[CommandFn], CommandFn]:
    """Give a command taking `**flags` one flag per setting in `names` (typer reads the
    signature); the command gets each as `flags[name]`."""

    def decorate(command: CommandFn) -> CommandFn:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=setting_option(config.SETTINGS[name]),
            )
            for name in names
        ]
        command.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        return command

    return decorate


def fail(message: str, code: int = 1, kind: str = "failed", **details: Any) -> NoReturn:
    """Stop with one `error: ...` line on stderr, or `{"error": {...}}` on stdout for a command
    given `--json`."""
    if state.json_errors:
        typer.echo(json.dumps({"error": {"code": kind, "message": message, **details}}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load(config_file: Path | None, flags: Flags) -> config.Loaded:
    """The settings, or exit 2 naming every problem."""
    try:
        return config.load(config_file, flags)
    except config.ConfigError as error:
        fail(str(error), code=2, kind="invalid_configuration", problems=error.problems)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def first_line(error: BaseException) -> str:
    """The driver's own words for a database error, without SQLAlchemy's wrapping."""
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0].strip().rstrip(".")


@contextmanager
def database_errors(*, opening: bool) -> Iterator[None]:
    """Turn the ways a database can be unusable into one `error:` line naming it: while
    `opening`, a bad URL or a missing driver too; always, a refused or failed connection."""
    if state.debug:
        yield
        return
    from sqlalchemy import exc

    where = state.database
    try:
        yield
    except exc.NoSuchModuleError as error:
        if not opening:
            raise
        fail(
            f"the database URL {where} names a backend SQLAlchemy does not know "
            f"({first_line(error)}); use `sqlite:///PATH` or `postgresql+psycopg://USER@HOST/DB`",
            kind="database_url",
        )
    except (exc.ArgumentError, ValueError) as error:
        if not opening:
            raise
        fail(
            f"the database URL {where} cannot be parsed ({first_line(error)}); use "
            "`sqlite:///PATH` or `postgresql+psycopg://USER@HOST:PORT/DB`",
            kind="database_url",
        )
    except ImportError as error:
        if not opening:
            raise
        fail(
            f"the database driver for {where} is not installed ({first_line(error)}); install "
            "it into Gatehouse's environment, or use `postgresql+psycopg://` (installed with "
            "Gatehouse)",
            kind="database_driver",
        )
    except OSError as error:
        if not opening:
            raise
        fail(
            f"cannot create the database {where}: {error.strerror or error}"
            f"{f' ({error.filename})' if error.filename else ''}; choose a directory Gatehouse "
            "may write to",
            kind="database_unavailable",
        )
    except exc.DBAPIError as error:
        fail(
            f"cannot use the database {where}: {first_line(error)}; check that the server "
            "runs, the database exists and the URL (--database-url or GATEHOUSE_DATABASE_URL) "
            "is right",
            kind="database_unavailable",
        )


@contextmanager
def services(settings: config.Settings, *, create: bool = False) -> Iterator[Gatehouse]:
    """Every service over the configured database (migrated first), closed afterwards.

    Only `init` and `serve` pass `create`: every other command needs a database that exists and
    was initialised, and creates nothing (no SQLite file, no tables) when it is not there."""
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import SqlStore, has_schema, make_engine, migrate

    state.database = str(config.shown("database_url", settings.database_url))
    with database_errors(opening=True):
        if not create:
            path = sqlite_file(settings.database_url)
            if path is not None and not path.is_file():
                fail(
                    f"the database {path.absolute()} does not exist (database URL "
                    f"{state.database}); run `gatehouse init --admin-email EMAIL` to create "
                    "it, or name an existing one with --database-url or GATEHOUSE_DATABASE_URL",
                    kind="database_missing",
                )
        engine = make_engine(settings.database_url, settings.database_busy_timeout_seconds)
    try:
        with database_errors(opening=True):
            if not create and not has_schema(engine):
                fail(
                    f"the database {state.database} is not initialised; run `gatehouse init "
                    "--admin-email EMAIL` on it first",
                    kind="not_initialised",
                )
            migrate(engine)
            gatehouse = Gatehouse(SqlStore(engine), settings)
        with database_errors(opening=False):
            yield gatehouse
    finally:
        engine.dispose()


def not_initialised() -> NoReturn:
    fail(
        f"the database {state.database} has no workspace yet; run `gatehouse init "
        "--admin-email EMAIL` on it first",
        kind="not_initialised",
    )


def trusted_failure(error: Exception) -> NoReturn:
    """A service's refusal, as one line naming the database when it lacks something."""
    from gatehouse.errors import GatehouseError

    if isinstance(error, GatehouseError) and error.code == "not_initialised":
        not_initialised()
    if isinstance(error, GatehouseError):
        fail(error.message, kind=str(error.code))
    raise error


def project_not_found(project_id: str) -> NoReturn:
    fail(
        f"project `{project_id}` was not found in the database {state.database}; pass an "
        "environment's project id (project-test-...) from `gatehouse init`, or name the right "
        "database with --database-url",
        kind="project_not_found",
    )


def caller_for(gatehouse: Gatehouse, project_id: str) -> Caller:
    from gatehouse.services.context import Caller

    environment = gatehouse.provisioning.find_environment(project_id)
    if environment is None:
        project_not_found(project_id)
    return Caller(environment, "cli")
