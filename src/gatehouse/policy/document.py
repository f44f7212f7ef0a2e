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

import re
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
    model_config = pydantic.ConfigDict(extra="ignore", strict=True)
    permissions: list[_Permission]


class _FilePolicy(pydantic.BaseModel):
    model_config = _STRICT
    stytch_member: _DefaultRole | None = None
    stytch_admin: _DefaultRole | None = None
    custom_roles: list[_Role] = []
    custom_resources: list[_FileResource] = []
    custom_scopes: list[_Scope] = []
    # Read-only; accepted so that an exported file can be applied unchanged, then ignored.
    stytch_resources: list[_FileResource] | None = None


def problems_from_validation_error(
    error: pydantic.ValidationError, prefix: str = ""
) -> tuple[Problem, ...]:
    """Turn pydantic's error list into our path + reason problems."""
    out: list[Problem] = []
    for item in error.errors(include_url=False):
        out.append(Problem(_path(prefix, item["loc"]), _reason(item)))
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

    A default role left out keeps the seed's default permissions.
    """
    try:
        parsed = _FilePolicy.model_validate(data)
    except pydantic.ValidationError as error:
        raise PolicyProblems(problems_from_validation_error(error, prefix)) from None
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
