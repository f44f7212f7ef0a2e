"""An environment's RBAC policy: the matrix of who may do what (everyone who may view project
configuration), and the editor (those who may manage it).

The editor edits the policy as a whole, as the policy file of `gatehouse policy export` /
`gatehouse policy apply` (YAML; JSON is YAML too). Submitting it goes to a preview: the whole
document validated, every problem listed with its path and its line, or, when it is valid, the
changes as `gatehouse policy apply --dry-run` prints them. Nothing is saved until "Save policy",
and a save is refused when the policy moved on after the preview.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import yaml
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import Visit, page, redirect, render, run
from gatehouse.errors import Code, GatehouseError, InvalidInput
from gatehouse.policy import (
    WILDCARD,
    Policy,
    Problem,
    default_policy,
    policy_from_file,
    policy_to_file,
)
from gatehouse.policy.defaults import DEFAULT_RESOURCE_IDS, DEFAULT_ROLE_IDS

PATH = "/projects/{slug}/environments/{env}/policy"
MAX_DOCUMENT = 256 * 1024  # characters of policy text the editor takes
FORM_LIMIT = 4 * MAX_DOCUMENT  # bytes of form: the text, URL-encoded


# -- the matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRow:
    action: str
    cells: tuple[str, ...]  # per role: "yes" (named), "wildcard" (through `*`) or "no"


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    resource_id: str
    description: str
    default: bool
    rows: tuple[ActionRow, ...]


def _granted(permissions: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for permission in permissions:
        out.setdefault(permission.resource_id, set()).update(permission.actions)
    return out


def matrix_of(policy: Policy) -> list[ResourceGroup]:
    """Resources × actions (rows) against the roles (columns): the custom resources first (the
    ones people come to look at), then the default ones; otherwise in the policy's order."""
    grants = [_granted(role.permissions) for role in policy.roles]
    groups = []
    custom_first = sorted(policy.resources, key=lambda r: r.resource_id in DEFAULT_RESOURCE_IDS)
    for resource in custom_first:
        rows = []
        for action in resource.actions:
            cells = []
            for granted in grants:
                held = granted.get(resource.resource_id, set())
                cells.append("yes" if action in held else "wildcard" if WILDCARD in held else "no")
            rows.append(ActionRow(action, tuple(cells)))
        groups.append(
            ResourceGroup(
                resource.resource_id,
                resource.description,
                resource.resource_id in DEFAULT_RESOURCE_IDS,
                tuple(rows),
            )
        )
    return groups


def _permissions_text(permissions: Any) -> list[tuple[str, str]]:
    return [(p.resource_id, ", ".join(p.actions)) for p in permissions]


async def _environment(visit: Visit) -> tuple[Any, Any]:
    params = visit.request.path_params
    found = await run(
        visit.gatehouse.projects.get_environment, visit.operator, params["slug"], params["env"]
    )
    return found.project, found.environment


@page("project_config.view")
async def show(visit: Visit) -> Response:
    project, environment = await _environment(visit)
    document = await run(
        visit.gatehouse.projects.get_policy, visit.operator, project["slug"], environment["slug"]
    )
    policy = policy_from_file(document)
    return render(
        visit.request,
        "policy.html",
        visit,
        project=project,
        environment=environment,
        tab="RBAC policy",
        roles=[
            (role.role_id, role.description, role.role_id in DEFAULT_ROLE_IDS)
            for role in policy.roles
        ],
        groups=matrix_of(policy),
        scopes=[
            (scope.scope, scope.description, _permissions_text(scope.permissions))
            for scope in policy.scopes
        ],
    )


# -- the editor ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """A problem as the editor shows it: where (path, and line in the text when known), why."""

    path: str
    reason: str  # `code` in backquotes
    line: int | None = None
    snippet: str = ""  # the text of that line


def _document(text: str) -> tuple[Any, list[Shown]]:
    """The policy text parsed (YAML, which JSON is too), or the reasons it cannot be."""
    if not text.strip():
        return None, [
            Shown("", "The policy document is empty: start from the current policy.", None)
        ]
    if len(text) > MAX_DOCUMENT:
        return None, [Shown("", f"The document is longer than {MAX_DOCUMENT} characters.", None)]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        try:
            data = json.loads(text)  # JSON that YAML does not take (tabs)
        except ValueError:
            mark = getattr(error, "problem_mark", None)
            problem = getattr(error, "problem", None) or "it cannot be read"
            line = mark.line + 1 if mark is not None else None
            reason = f"This is not valid YAML or JSON: {problem}."
            return None, [Shown("", reason, line, _snippet(text, line))]
    if not isinstance(data, dict):
        return None, [Shown("", "The document must be a mapping of the policy's fields.", None)]
    return data, []


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _line_of(text: str, path: str) -> int | None:
    """The line of `text` where the value at `path` (`custom_roles[0].permissions[1]`) starts, or
    the nearest enclosing one that is there."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _PART.findall(path):
        if node is None:
            break
        if isinstance(node, yaml.MappingNode) and name:
            entry = next((kv for kv in node.value if kv[0].value == name), None)
            if entry is None:
                break
            line = entry[0].start_mark.line + 1
            node = entry[1]
        elif isinstance(node, yaml.SequenceNode) and index:
            position = int(index)
            if position >= len(node.value):
                break
            node = node.value[position]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _sentence(text: str) -> str:
    """`text` as a sentence, its `code` kept (the template shows it as code)."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _snippet(text: str, line: int | None) -> str:
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines):
        return ""
    found = lines[line - 1].strip()
    return found if len(found) <= 90 else found[:89] + "…"


def _shown(text: str, problems: tuple[Problem, ...]) -> list[Shown]:
    shown = []
    for problem in problems:
        line = _line_of(text, problem.path)
        shown.append(Shown(problem.path, _sentence(problem.reason), line, _snippet(text, line)))
    return shown


def _editor(
    visit: Visit,
    project: Any,
    environment: Any,
    text: str,
    cascade: bool,
    problems: list[Shown] | None = None,
    error: str | None = None,
) -> Response:
    failed = bool(problems) or error is not None
    return render(
        visit.request,
        "policy_edit.html",
        visit,
        status=400 if failed else 200,
        project=project,
        environment=environment,
        tab="RBAC policy",
        text=text,
        cascade=cascade,
        problems=problems or [],
        error=error,
        max_document=MAX_DOCUMENT,
    )


def _export(document: dict[str, Any]) -> str:
    """The policy file, without the default resources (read-only: the matrix shows them)."""
    editable = {key: value for key, value in document.items() if key != "stytch_resources"}
    text: str = yaml.safe_dump(editable, sort_keys=False, default_flow_style=None, width=100)
    return text


_DEFAULT_RESOURCES = policy_to_file(default_policy())["stytch_resources"]


def _read_only_changed(text: str, data: dict[str, Any]) -> list[Shown]:
    """A file may carry the default resources as exported (they are ignored); changed, they
    would be silently ignored, so say that they are read-only."""
    if data.get("stytch_resources") in (None, _DEFAULT_RESOURCES):
        return []
    line = _line_of(text, "stytch_resources")
    reason = (
        "The default resources and their actions are read-only: leave `stytch_resources` out "
        "(or as exported) and declare your own under `custom_resources`."
    )
    return [Shown("stytch_resources", reason, line, _snippet(text, line))]


@page("project_config.manage", form_limit=FORM_LIMIT)
async def edit(visit: Visit) -> Response:
    """The editor: with the current policy (GET), or with the text sent back from a preview."""
    project, environment = await _environment(visit)
    if visit.request.method == "POST":
        text = visit.form.get("document", "")
    else:
        document = await run(
            visit.gatehouse.projects.get_policy,
            visit.operator,
            project["slug"],
            environment["slug"],
        )
        text = _export(document)
    return _editor(visit, project, environment, text, visit.form.get("cascade") == "yes")


async def _checked(
    visit: Visit, project: Any, environment: Any, save: bool
) -> tuple[Response | None, Any]:
    """Parse and check (or, with `save`, apply) the submitted text; a response when it fails."""
    text = visit.form.get("document", "")
    cascade = visit.form.get("cascade") == "yes"
    data, unreadable = _document(text)
    if unreadable:
        return _editor(visit, project, environment, text, cascade, unreadable), None
    read_only = _read_only_changed(text, data)
    projects = visit.gatehouse.projects
    try:
        if read_only:
            await run(
                projects.preview_policy,
                visit.operator,
                project["slug"],
                environment["slug"],
                data,
                cascade=cascade,
            )
            return _editor(visit, project, environment, text, cascade, read_only), None
        if not save:
            return None, await run(
                projects.preview_policy,
                visit.operator,
                project["slug"],
                environment["slug"],
                data,
                cascade=cascade,
            )
        version = visit.form.get("version", "")
        return None, await run(
            projects.set_policy,
            visit.operator,
            project["slug"],
            environment["slug"],
            data,
            cascade=cascade,
            expected_version=int(version) if version.isdigit() else None,
        )
    except InvalidInput as error:
        if error.problems:
            shown = read_only + _shown(text, error.problems)
            return _editor(visit, project, environment, text, cascade, shown), None
        return _editor(
            visit, project, environment, text, cascade, error=_sentence(error.message)
        ), None
    except GatehouseError as error:
        if error.code not in (Code.POLICY_IN_USE, Code.POLICY_CONFLICT):
            raise
        message = _sentence(error.message)
        if error.code == Code.POLICY_IN_USE and not cascade:
            message += " Here: tick the box below the document to remove those uses with it."
        return _editor(visit, project, environment, text, cascade, error=message), None


@page("project_config.manage", form_limit=FORM_LIMIT)
async def preview(visit: Visit) -> Response:
    project, environment = await _environment(visit)
    failed, checked = await _checked(visit, project, environment, save=False)
    if failed is not None:
        return failed
    return render(
        visit.request,
        "policy_preview.html",
        visit,
        project=project,
        environment=environment,
        tab="RBAC policy",
        text=visit.form.get("document", ""),
        cascade=visit.form.get("cascade") == "yes",
        changes=[(line[:1], line[2:]) for line in checked.changes],
        version=checked.version,
    )


@page("project_config.manage", form_limit=FORM_LIMIT)
async def save(visit: Visit) -> Response:
    project, environment = await _environment(visit)
    failed, _ = await _checked(visit, project, environment, save=True)
    if failed is not None:
        return failed
    where = f"{project['name']} · {environment['name']}"
    return redirect(
        visit,
        f"/projects/{quote(project['slug'])}/environments/{quote(environment['slug'])}/policy",
        "success",
        f"Saved the RBAC policy of {where}. The B2B API serves it now.",
    )


ROUTES: list[BaseRoute] = [
    Route(PATH, show, methods=["GET"]),
    Route(PATH + "/edit", edit, methods=["GET", "POST"]),
    Route(PATH + "/preview", preview, methods=["POST"]),
    Route(PATH, save, methods=["POST"]),
]
