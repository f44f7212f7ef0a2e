"""Policy documents on the wire and on disk, parsed into the model and written back.

Two shapes are spoken:
- the B2B API shape (`GET /v1/b2b/rbac/policy`): `{resources, roles, scopes}` with every default
  resource and role listed;
- the Management API / policy-file shape: `{stytch_member, stytch_admin, custom_roles,
  custom_resources, custom_scopes}` (plus the read-only `stytch_resources`), where defaults are
  implied and custom resources list `available_actions`.

Parsing checks shape only (types, required and unknown fields) and reports every problem at once;
`validate` checks meaning.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import pydantic

from gatehouse.policy import defaults
from gatehouse.policy.model import (
    OrgPolicy,
    Permission,
    Policy,
    PolicyProblems,
    Problem,
    Resource,
    Role,
    Scope,
)
from gatehouse.policy.validate import validate_policy

_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)


class _Permission(pydantic.BaseModel):
    model_config = _STRICT
    resource_id: str
    actions: list[str]


class _Resource(pydantic.BaseModel):
    model_config = _STRICT
    resource_id: str
    description: str = ""
    actions: list[str]


class _Role(pydantic.BaseModel):
    model_config = _STRICT
    role_id: str
    description: str = ""
    permissions: list[_Permission] = []


class _Scope(pydantic.BaseModel):
    model_config = _STRICT
    scope: str
    description: str = ""
    permissions: list[_Permission] = []


class _Policy(pydantic.BaseModel):
    model_config = _STRICT
    resources: list[_Resource] = []
    roles: list[_Role] = []
    scopes: list[_Scope] = []


class _OrgPolicy(pydantic.BaseModel):
    model_config = _STRICT
    roles: list[_Role]


class _FileResource(pydantic.BaseModel):
    model_config = _STRICT
    resource_id: str
    description: str = ""
    available_actions: list[str]


class _DefaultRole(pydantic.BaseModel):
    model_config = _STRICT
    permissions: list[_Permission]
    # Stytch manages a default role's id and description; a file may carry them, unread.
    role_id: str | None = None
    description: str | None = None


class _FilePolicy(pydantic.BaseModel):
    model_config = _STRICT
    stytch_member: _DefaultRole | None = None
    stytch_admin: _DefaultRole | None = None
    custom_roles: list[_Role] = []
    custom_resources: list[_FileResource] = []
    custom_scopes: list[_Scope] = []
    # Read-only; accepted so that an exported file can be applied unchanged, then ignored.
    stytch_resources: list[_FileResource] | None = None


def _model_at(
    model: type[pydantic.BaseModel], loc: tuple[int | str, ...]
) -> type[pydantic.BaseModel] | None:
    """The model that holds the last key of `loc` (None when the path leaves the models)."""
    current: type[pydantic.BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current is not None else None
        if field is None:
            return None
        current = next(
            (
                candidate
                for candidate in (field.annotation, *_arguments(field.annotation))
                if isinstance(candidate, type) and issubclass(candidate, pydantic.BaseModel)
            ),
            None,
        )
    return current


def _arguments(annotation: Any) -> list[Any]:
    """Every type named inside `annotation` (`list[X] | None` gives X)."""
    out: list[Any] = []
    for argument in typing.get_args(annotation):
        out += [argument, *_arguments(argument)]
    return out


def _hint(key: str, known: list[str]) -> str:
    """`; did you mean ...?` for an unknown key close to (or part of) a known one."""
    close = (
        difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        or [name for name in known if key in name][:1]
    )
    return f"; did you mean `{close[0]}`?" if close else ""


def problems_from_validation_error(
    error: pydantic.ValidationError,
    prefix: str = "",
    model: type[pydantic.BaseModel] | None = None,
) -> tuple[Problem, ...]:
    """Turn pydantic's error list into our path + reason problems; given the `model` parsed,
    an unknown key close to a field of its place names that field (`did you mean ...?`)."""
    out: list[Problem] = []
    for item in error.errors(include_url=False):
        reason = _reason(item)
        if item["type"] == "extra_forbidden" and model is not None and item["loc"]:
            holder = _model_at(model, item["loc"])
            if holder is not None:
                reason += _hint(str(item["loc"][-1]), list(holder.model_fields))
        out.append(Problem(_path(prefix, item["loc"]), reason))
    return tuple(out)


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _reason(item: Any) -> str:
    kind = item["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("string_type", "str_type"):
        return "must be a string"
    if kind == "list_type":
        return "must be a list"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be an object"
    if kind in ("bool_type",):
        return "must be a boolean"
    if kind in ("int_type",):
        return "must be an integer"
    return str(item["msg"]).lower()


def _perms(items: list[_Permission]) -> tuple[Permission, ...]:
    return tuple(Permission(p.resource_id, tuple(p.actions)) for p in items)


def _role(item: _Role) -> Role:
    return Role(item.role_id, item.description, _perms(item.permissions))


def _scope(item: _Scope) -> Scope:
    return Scope(item.scope, item.description, _perms(item.permissions))


def policy_from_wire(data: Any) -> Policy:
    """Parse the B2B API shape. Raises PolicyProblems listing every shape problem."""
    try:
        parsed = _Policy.model_validate(data)
    except pydantic.ValidationError as error:
        raise PolicyProblems(problems_from_validation_error(error)) from None
    return Policy(
        resources=tuple(
            Resource(r.resource_id, r.description, tuple(r.actions)) for r in parsed.resources
        ),
        roles=tuple(_role(r) for r in parsed.roles),
        scopes=tuple(_scope(s) for s in parsed.scopes),
    )


def org_policy_from_wire(data: Any, prefix: str = "org_policy") -> OrgPolicy:
    try:
        parsed = _OrgPolicy.model_validate(data)
    except pydantic.ValidationError as error:
        raise PolicyProblems(problems_from_validation_error(error, prefix)) from None
    return OrgPolicy(roles=tuple(_role(r) for r in parsed.roles))


def policy_from_file(data: Any, prefix: str = "") -> Policy:
    """Parse the Management API / policy-file shape, filling in the defaults it implies.

    A default role left out keeps the seed's default permissions. A file of the wrong shape
    raises PolicyProblems with every problem at once: the shape's (unknown keys named, with a
    hint when close to a known one) and the meaning's (`validate_policy`) of every part whose
    shape is right, each at its place in the file.
    """
    try:
        parsed = _FilePolicy.model_validate(data)
    except pydantic.ValidationError as error:
        problems = problems_from_validation_error(error, prefix, _FilePolicy)
        if isinstance(data, dict):
            problems += _meaning_of_the_rest(data, prefix)
        raise PolicyProblems(problems) from None
    return _from_parsed(parsed)


def _from_parsed(parsed: _FilePolicy) -> Policy:
    default_roles = {role.role_id: role for role in defaults.DEFAULT_ROLES}
    for role_id, given in (
        (defaults.STYTCH_MEMBER, parsed.stytch_member),
        (defaults.STYTCH_ADMIN, parsed.stytch_admin),
    ):
        if given is not None:
            default_roles[role_id] = Role(
                role_id, defaults.DEFAULT_ROLE_DESCRIPTIONS[role_id], _perms(given.permissions)
            )
    return Policy(
        resources=defaults.DEFAULT_RESOURCES
        + tuple(
            Resource(r.resource_id, r.description, tuple(r.available_actions))
            for r in parsed.custom_resources
        ),
        roles=tuple(default_roles[r.role_id] for r in defaults.DEFAULT_ROLES)
        + tuple(_role(r) for r in parsed.custom_roles),
        scopes=tuple(_scope(s) for s in parsed.custom_scopes),
    )


_LISTS: dict[str, type[pydantic.BaseModel]] = {
    "custom_resources": _FileResource,
    "custom_roles": _Role,
    "custom_scopes": _Scope,
}
_LISTED = re.compile(r"^(custom_resources|custom_roles|custom_scopes)\[(\d+)\]")


def _meaning_of_the_rest(data: dict[str, Any], prefix: str) -> tuple[Problem, ...]:
    """`validate_policy`'s problems with the parts of a misshapen file whose shape is right (a
    misshapen entry is left out), at their places in the file."""
    fields: dict[str, Any] = {}
    for name in ("stytch_member", "stytch_admin"):
        if data.get(name) is not None:
            try:
                fields[name] = _DefaultRole.model_validate(data[name])
            except pydantic.ValidationError:
                pass
    if not isinstance(data.get("custom_resources", []), list):
        return ()  # every use of a custom resource would look wrong
    kept: dict[str, list[int]] = {}  # entry i of the partial policy is entry kept[name][i]
    left_out: set[str] = set()  # the ids of misshapen entries: their uses are not judged
    for name, model in _LISTS.items():
        entries = data.get(name)
        good, kept[name] = [], []
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            try:
                good.append(model.model_validate(entry))
            except pydantic.ValidationError:
                if isinstance(entry, dict):
                    left_out.update(
                        str(entry[key])
                        for key in ("resource_id", "role_id", "scope")
                        if isinstance(entry.get(key), str)
                    )
                continue
            kept[name].append(index)
        fields[name] = good
    policy = _from_parsed(_FilePolicy.model_construct(**fields))

    def placed(path: str) -> str:
        path = file_path(path)
        match = _LISTED.match(path)
        if match is not None:
            index = kept[match.group(1)][int(match.group(2))]
            path = f"{match.group(1)}[{index}]" + path[match.end() :]
        return _path(prefix, (path,)) if prefix else path

    return tuple(
        Problem(placed(p.path), p.reason)
        for p in validate_policy(policy)
        if not any(f"`{id}`" in p.reason for id in left_out)
    )


_FILE_PATH = re.compile(r"^(resources|roles|scopes)\[(\d+)\](\.actions)?(.*)$")


def file_path(path: str) -> str:
    """Where a problem found in a policy parsed by `policy_from_file` sits in the file itself.

    `policy_from_file` puts the default resources and roles first, so indexes shift back by them.
    """
    match = _FILE_PATH.match(path)
    if match is None:
        return path
    kind, index, actions, rest = match.group(1), int(match.group(2)), match.group(3), match.group(4)
    if kind == "resources":
        defaults_count = len(defaults.DEFAULT_RESOURCES)
        if index < defaults_count:
            return path.replace("resources", "stytch_resources", 1)
        head = f"custom_resources[{index - defaults_count}]"
        return head + (".available_actions" if actions else "") + rest
    tail = (actions or "") + rest
    if kind == "roles":
        default_ids = [r.role_id for r in defaults.DEFAULT_ROLES]
        if index < len(default_ids):
            return default_ids[index] + tail
        return f"custom_roles[{index - len(default_ids)}]" + tail
    return f"custom_scopes[{index}]" + tail


def _perms_to_wire(perms: tuple[Permission, ...]) -> list[dict[str, Any]]:
    return [{"resource_id": p.resource_id, "actions": list(p.actions)} for p in perms]


def role_to_wire(role: Role) -> dict[str, Any]:
    return {
        "role_id": role.role_id,
        "description": role.description,
        "permissions": _perms_to_wire(role.permissions),
    }


def policy_to_wire(policy: Policy) -> dict[str, Any]:
    return {
        "resources": [
            {"resource_id": r.resource_id, "description": r.description, "actions": list(r.actions)}
            for r in policy.resources
        ],
        "roles": [role_to_wire(r) for r in policy.roles],
        "scopes": [
            {
                "scope": s.scope,
                "description": s.description,
                "permissions": _perms_to_wire(s.permissions),
            }
            for s in policy.scopes
        ],
    }


def org_policy_to_wire(org_policy: OrgPolicy) -> dict[str, Any]:
    return {"roles": [role_to_wire(r) for r in org_policy.roles]}


def policy_to_file(policy: Policy) -> dict[str, Any]:
    """The Management API / policy-file shape of a policy."""

    def file_resource(r: Resource) -> dict[str, Any]:
        return {
            "resource_id": r.resource_id,
            "description": r.description,
            "available_actions": list(r.actions),
        }

    by_id = {role.role_id: role for role in policy.roles}
    out: dict[str, Any] = {
        "stytch_member": {"permissions": _perms_to_wire(by_id[defaults.STYTCH_MEMBER].permissions)}
        if defaults.STYTCH_MEMBER in by_id
        else None,
        "stytch_admin": {"permissions": _perms_to_wire(by_id[defaults.STYTCH_ADMIN].permissions)}
        if defaults.STYTCH_ADMIN in by_id
        else None,
        "custom_roles": [
            role_to_wire(r) for r in policy.roles if r.role_id not in defaults.DEFAULT_ROLE_IDS
        ],
        "custom_resources": [
            file_resource(r)
            for r in policy.resources
            if r.resource_id not in defaults.DEFAULT_RESOURCE_IDS
        ],
        "custom_scopes": policy_to_wire(policy)["scopes"],
        "stytch_resources": [
            file_resource(r)
            for r in policy.resources
            if r.resource_id in defaults.DEFAULT_RESOURCE_IDS
        ],
    }
    return out
