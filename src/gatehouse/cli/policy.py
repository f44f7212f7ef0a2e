"""`gatehouse policy export` and `apply`: a project's RBAC policy as a file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gatehouse.cli.shell import (
    Command,
    ConfigFile,
    caller_for,
    fail,
    load,
    policy_app,
    services,
    with_setting_flags,
)


@policy_app.command("export", cls=Command)
@with_setting_flags(["database_url"])
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
        fail(f"format `{output_format}` is not known; use `yaml` or `json`")
    with services(load(config_file, flags).settings) as gatehouse:
        caller = caller_for(gatehouse, project_id)
    document = policy_to_file(caller.environment.policy)
    if output_format == "json":
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)


def read_policy_file(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text()
    except OSError as error:
        fail(f"cannot read `{path}`: {error.strerror}")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        fail(f"`{path}` is not valid {'json' if path.suffix == '.json' else 'yaml'}: {error}")


@policy_app.command("apply", cls=Command)
@with_setting_flags(["database_url"])
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
        fail(f"the policy file {file} is invalid:\n" + "\n".join(f"  {p}" for p in problems))

    with services(load(config_file, flags).settings) as gatehouse:
        caller = caller_for(gatehouse, project_id)
        try:
            new = policy_from_file(read_policy_file(file))
        except PolicyProblems as error:
            invalid(str(p) for p in error.problems)
        changes = describe_changes(caller.environment.policy, new)
        try:
            _, version = gatehouse.rbac.set_policy(caller, new, cascade=cascade, dry_run=dry_run)
        except InvalidInput as error:
            invalid(f"{file_path(p.path)}: {p.reason}" for p in error.problems)
        except GatehouseError as error:
            fail(error.message)
    for line in changes or ["no changes"]:
        typer.echo(line)
    if dry_run:
        typer.echo(f"dry run: nothing was changed (policy version stays {version})")
    else:
        typer.echo(f"applied: policy version is now {version}")
