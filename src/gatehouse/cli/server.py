"""`gatehouse serve`, `init`, `admin add`, `config show` and `dev-cert`: starting a server and
setting up its database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gatehouse import config
from gatehouse.cli.shell import (
    AsJson,
    Command,
    ConfigFile,
    admin_app,
    app,
    config_app,
    fail,
    load,
    services,
    state,
    trusted_failure,
    with_setting_flags,
)


@app.command(cls=Command)
@with_setting_flags(config.SETTINGS)
def serve(config_file: ConfigFile = None, **flags: str | bool | None) -> None:
    """Apply migrations and serve the API (every setting: docs/CONFIGURATION.md)."""
    settings = load(config_file, flags).settings
    state.database = str(config.shown("database_url", settings.database_url))
    refuse_maintenance_database(settings)
    check_tls(settings)

    import uvicorn

    from gatehouse.api.app import create_app
    from gatehouse.api.protocol import uvicorn_options

    # Migrations run once, here, before any worker starts.
    with services(settings, create=True) as gatehouse:
        if not gatehouse.provisioning.is_initialised():
            typer.echo(
                f"warning: the database {state.database} is not initialised: the B2B API has "
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


@config_app.command("show", cls=Command)
@with_setting_flags(config.SETTINGS)
def config_show(
    config_file: ConfigFile = None, as_json: AsJson = False, **flags: str | bool | None
) -> None:
    """Print every setting as `serve` would read it, and where its value came from."""
    state.json_errors = as_json
    loaded = load(config_file, flags)
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


@app.command("dev-cert", cls=Command)
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
        fail(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass "
            "--force to replace (clients that trust the old certificate must then trust the new)",
            kind="exists",
        )
    write_self_signed(cert, key)
    typer.echo(
        f"wrote {cert} and {key}; serve with: gatehouse serve --tls-cert {cert} --tls-key {key}"
    )


@admin_app.command("add", cls=Command)
@with_setting_flags(["database_url"])
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
        fail(f"`{email}` is not an email address", kind="invalid_email")
    settings = load(config_file, flags).settings
    with services(settings) as gatehouse:
        try:
            outcome, before = gatehouse.workspace.make_admin_trusted(email)
        except GatehouseError as error:
            trusted_failure(error)
    email = email.lower()
    if outcome == "unchanged":
        typer.echo(f"{email} is already an Admin; nothing changed")
        return
    if outcome == "added":
        typer.echo(f"{email} is now an Admin (added to the workspace)")
    else:
        typer.echo(f"{email} is now an Admin (was {before or 'a domain member'})")
    typer.echo(sign_in_hint(email, settings))


def sign_in_hint(email: str, settings: config.Settings) -> str:
    url = settings.public_url
    return (
        f"sign in: POST {url}/pwa/v3/auth/magic_links/send "
        f'{{"email_address": "{email}"}} emails a link (without SMTP it is in the server log); '
        f'POST {url}/pwa/v3/auth/magic_links/authenticate {{"token": "..."}} returns a '
        'session_token (README.md, "Inviting your first colleague")'
    )


@app.command(cls=Command)
@with_setting_flags(["database_url"])
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

    state.json_errors = as_json
    if not addresses.is_email(admin_email):
        fail(f"`{admin_email}` is not an email address", kind="invalid_email")
    settings = load(config_file, flags).settings
    state.database = str(config.shown("database_url", settings.database_url))
    refuse_maintenance_database(settings)
    with services(settings, create=True) as gatehouse:
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
            fail(error.message, kind=str(error.code))
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
    typer.echo(sign_in_hint(admin, settings))
    typer.echo(
        f"dashboard: open {settings.public_url}/dashboard/ and choose "
        f'"Email me a sign-in link" with {admin}'
    )


def refuse_maintenance_database(settings: config.Settings) -> None:
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
        fail(
            f"the database URL {state.database} names PostgreSQL's shared `postgres` "
            "maintenance database; create a database for Gatehouse (`createdb gatehouse`) and "
            "name it (`--database-url postgresql+psycopg://USER@HOST/gatehouse`), or pass "
            "--allow-postgres-database (GATEHOUSE_ALLOW_POSTGRES_DATABASE=true) to use it anyway",
            kind="maintenance_database",
        )


def check_tls(settings: config.Settings) -> None:
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
        fail(
            f"cannot serve HTTPS with the certificate {settings.tls_cert} and the key "
            f"{settings.tls_key} ({reason}); pass a PEM certificate and its private key "
            "(`gatehouse dev-cert` makes a pair for local use)",
            kind="tls",
        )
