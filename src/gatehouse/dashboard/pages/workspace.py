"""The workspace: its members (invite, change role, remove), the roles and permissions matrix, and
the signed-in person's own account."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import ROLE_SOURCES, Visit, page, redirect, render, run
from gatehouse.policy import dashboard as matrix


@page("workspace.members.view")
async def members(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.workspace.list_members, visit.operator)
    return render(
        visit.request,
        "members.html",
        visit,
        members=listed,
        roles=list(reversed(matrix.ROLES)),
        sources=ROLE_SOURCES,
    )


@page("workspace.members.manage", back="/members")
async def invite(visit: Visit) -> Response:
    email = visit.form.get("email", "").strip()
    role = visit.form.get("role", "")
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        return redirect(visit, "/members", "error", "Enter the email address to invite.")
    invited = await run(visit.gatehouse.dashboard_auth.invite, visit.operator, email, role)
    return redirect(
        visit,
        "/members",
        "success",
        f"Invited {invited['email_address']} as {matrix.ROLE_NAMES[role]}; "
        "the invitation link is on its way to them.",
    )


def _member_named(listed: list[dict[str, Any]], member_id: str) -> dict[str, Any] | None:
    return next((m for m in listed if m["member_id"] == member_id), None)


@page("workspace.members.manage", back="/members")
async def change_role(visit: Visit) -> Response:
    member_id = visit.request.path_params["member_id"]
    role = visit.form.get("role", "")
    changed = await run(visit.gatehouse.workspace.set_member_role, visit.operator, member_id, role)
    text = f"{changed['email_address']} now has the {matrix.ROLE_NAMES[role]} role."
    if changed["role"] != role:
        text += (
            f" Their email domain's automatic role keeps them at "
            f"{matrix.ROLE_NAMES[changed['role']]}."
        )
    return redirect(visit, "/members", "success", text)


@page("workspace.members.manage", back="/members")
async def confirm_removal(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.workspace.list_members, visit.operator)
    member = _member_named(listed, visit.request.path_params["member_id"])
    if member is None:
        return redirect(visit, "/members", "error", "That person is no longer a member.")
    return render(visit.request, "remove_member.html", visit, member=member)


@page("workspace.members.manage", back="/members")
async def remove(visit: Visit) -> Response:
    member_id = visit.request.path_params["member_id"]
    listed = await run(visit.gatehouse.workspace.list_members, visit.operator)
    member = _member_named(listed, member_id)
    await run(visit.gatehouse.workspace.remove_member, visit.operator, member_id)
    who = member["email_address"] if member else "The member"
    return redirect(visit, "/members", "success", f"Removed {who} from the workspace.")


@page("workspace.members.view")
async def roles(visit: Visit) -> Response:
    columns = list(reversed(matrix.ROLES))
    rows = [
        (key, description, [role in holders for role in columns])
        for key, (description, holders) in matrix.MATRIX.items()
    ]
    return render(visit.request, "roles.html", visit, columns=columns, rows=rows)


@page(None)
async def account(visit: Visit) -> Response:
    return render(visit.request, "account.html", visit)


@page(None, back="/account")
async def set_password(visit: Visit) -> Response:
    password = visit.form.get("password", "")
    if password != visit.form.get("confirm", ""):
        return redirect(visit, "/account", "error", "The two passwords differ; type them again.")
    if len(password) > 1024:
        return redirect(visit, "/account", "error", "The password is too long.")
    await run(visit.gatehouse.dashboard_auth.set_password, visit.operator, password)
    return redirect(
        visit, "/account", "success", "Your password is set; sign in with it next time."
    )


ROUTES: list[BaseRoute] = [
    Route("/members", members, methods=["GET"]),
    Route("/members/invite", invite, methods=["POST"]),
    Route("/members/{member_id}/role", change_role, methods=["POST"]),
    Route("/members/{member_id}/remove", confirm_removal, methods=["GET"]),
    Route("/members/{member_id}/remove", remove, methods=["POST"]),
    Route("/roles", roles, methods=["GET"]),
    Route("/account", account, methods=["GET"]),
    Route("/account/password", set_password, methods=["POST"]),
]
