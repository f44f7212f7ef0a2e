"""A readable description of what changes between two policies, for dry runs and event logs."""

from __future__ import annotations

from gatehouse.policy.model import Permission, Policy, Role, Scope


def _perm_text(perms: tuple[Permission, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in perms:
        out.setdefault(p.resource_id, []).extend(p.actions)
    return {k: sorted(set(v)) for k, v in out.items()}


def _diff_perms(
    kind: str, ident: str, old: tuple[Permission, ...], new: tuple[Permission, ...]
) -> list[str]:
    before, after = _perm_text(old), _perm_text(new)
    lines = []
    for rid in sorted(set(before) | set(after)):
        added = sorted(set(after.get(rid, [])) - set(before.get(rid, [])))
        removed = sorted(set(before.get(rid, [])) - set(after.get(rid, [])))
        for action in added:
            lines.append(f"~ {kind} `{ident}`: + `{action}` on `{rid}`")
        for action in removed:
            lines.append(f"~ {kind} `{ident}`: - `{action}` on `{rid}`")
    return lines


def _diff_resources(old: Policy, new: Policy) -> list[str]:
    lines: list[str] = []
    old_res = {r.resource_id: r for r in old.resources}
    new_res = {r.resource_id: r for r in new.resources}
    for rid in sorted(set(old_res) | set(new_res)):
        a, b = old_res.get(rid), new_res.get(rid)
        if a is None and b is not None:
            lines.append(
                f"+ resource `{rid}` with actions " + ", ".join(f"`{x}`" for x in b.actions)
            )
        elif b is None:
            lines.append(f"- resource `{rid}`")
        elif a is not None and a != b:
            for action in sorted(set(b.actions) - set(a.actions)):
                lines.append(f"~ resource `{rid}`: + action `{action}`")
            for action in sorted(set(a.actions) - set(b.actions)):
                lines.append(f"~ resource `{rid}`: - action `{action}`")
            if a.description != b.description:
                lines.append(f"~ resource `{rid}`: description changed")
    return lines


def _diff_grants(
    kind: str, olds: dict[str, Role | Scope], news: dict[str, Role | Scope]
) -> list[str]:
    lines: list[str] = []
    for ident in sorted(set(olds) | set(news)):
        a, b = olds.get(ident), news.get(ident)
        if a is None and b is not None:
            lines.append(f"+ {kind} `{ident}`")
            lines += _diff_perms(kind, ident, (), b.permissions)
        elif b is None:
            lines.append(f"- {kind} `{ident}`")
        elif a is not None:
            if a.description != b.description:
                lines.append(f"~ {kind} `{ident}`: description changed")
            lines += _diff_perms(kind, ident, a.permissions, b.permissions)
    return lines


def describe_changes(old: Policy, new: Policy) -> list[str]:
    """One line per change: `+` added, `-` removed, `~` changed. Empty when nothing changes."""
    roles_before: dict[str, Role | Scope] = {r.role_id: r for r in old.roles}
    roles_after: dict[str, Role | Scope] = {r.role_id: r for r in new.roles}
    scopes_before: dict[str, Role | Scope] = {s.scope: s for s in old.scopes}
    scopes_after: dict[str, Role | Scope] = {s.scope: s for s in new.scopes}
    return (
        _diff_resources(old, new)
        + _diff_grants("role", roles_before, roles_after)
        + _diff_grants("scope", scopes_before, scopes_after)
    )
