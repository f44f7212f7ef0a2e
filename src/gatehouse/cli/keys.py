"""`gatehouse key ...` (management keys, JWT signing keys, encryption keys) and `gatehouse secret
create`: credentials, for an operator with the database (trusted)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gatehouse.cli.shell import (
    AsJson,
    Command,
    ConfigFile,
    fail,
    key_app,
    load,
    project_not_found,
    secret_app,
    services,
    state,
    trusted_failure,
    with_setting_flags,
)


@key_app.command("encryption", cls=Command)
def key_encryption() -> None:
    """Print a new key for the `encryption_keys` setting (put it first to rotate)."""
    from gatehouse.services.security.sealing import new_key

    typer.echo(new_key())


@key_app.command("create", cls=Command)
@with_setting_flags(["database_url"])
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

    state.json_errors = as_json
    if role not in dashboard.ROLES:
        fail(
            f"role `{role}` is not a dashboard role; use one of {', '.join(dashboard.ROLES)}",
            kind="invalid_role",
        )
    with services(load(config_file, flags).settings) as gatehouse:
        try:
            key = gatehouse.workspace.create_key_trusted(role, name, "cli")
        except GatehouseError as error:
            trusted_failure(error)
    if as_json:
        typer.echo(json.dumps({"key_id": key["key_id"], "secret": key["secret"]}))
    else:
        typer.echo(f"key_id={key['key_id']} secret={key['secret']} role={role}")


@key_app.command("list", cls=Command)
@with_setting_flags(["database_url"])
def key_list(
    as_json: AsJson = False, config_file: ConfigFile = None, **flags: str | bool | None
) -> None:
    """List the management keys: id, role, name, created, revoked (never a secret)."""
    from gatehouse.errors import GatehouseError

    state.json_errors = as_json
    with services(load(config_file, flags).settings) as gatehouse:
        try:
            keys = gatehouse.workspace.list_keys_trusted()
        except GatehouseError as error:
            trusted_failure(error)
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    header = {"key_id": "KEY_ID", "role": "ROLE", "name": "NAME", "created_at": "CREATED"}
    header["revoked_at"] = "REVOKED"
    rows = [header] + [{k: str(v or "-") for k, v in key.items()} for key in keys]
    widths = {column: max(len(row[column]) for row in rows) for column in header}
    for row in rows:
        typer.echo("  ".join(f"{row[c]:{widths[c]}}" for c in header).rstrip())


@key_app.command("revoke", cls=Command)
@with_setting_flags(["database_url"])
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (workspace-key-...).")],
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Revoke a management key: it stops working at once."""
    from gatehouse.errors import GatehouseError

    with services(load(config_file, flags).settings) as gatehouse:
        try:
            revoked_before = gatehouse.workspace.revoke_key_trusted(key_id)
        except GatehouseError as error:
            if error.code == "workspace_key_not_found":
                fail(
                    f"key `{key_id}` was not found in the database {state.database}; "
                    "`gatehouse key list` shows the keys",
                    kind=str(error.code),
                )
            trusted_failure(error)
    if revoked_before:
        typer.echo(f"key {key_id} was already revoked at {revoked_before}; nothing changed")
    else:
        typer.echo(f"revoked key {key_id}")


@key_app.command("rotate-signing", cls=Command)
@with_setting_flags(["database_url"])
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

    state.json_errors = as_json
    with services(load(config_file, flags).settings) as gatehouse:
        try:
            kid, signs_from, kids = gatehouse.provisioning.rotate_signing_key_trusted(
                project_id, signs_after
            )
        except GatehouseError as error:
            if error.code == "environment_not_found":
                project_not_found(project_id)
            trusted_failure(error)
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


@secret_app.command("create", cls=Command)
@with_setting_flags(["database_url"])
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

    state.json_errors = as_json
    with services(load(config_file, flags).settings) as gatehouse:
        try:
            secret_id, secret = gatehouse.provisioning.create_secret_trusted(project_id)
        except GatehouseError as error:
            if error.code == "environment_not_found":
                project_not_found(project_id)
            trusted_failure(error)
    if as_json:
        typer.echo(json.dumps({"project_id": project_id, "secret_id": secret_id, "secret": secret}))
        return
    typer.echo(f"project_id={project_id} secret_id={secret_id} secret={secret}")
    typer.echo("the secret is shown once; store it now (older secrets keep working)")
