"""Administering the workspace: email-domain rules (joining without an invitation, automatic
roles), management keys (created with a role, the secret shown once, revoked), the workspace's
settings and its billing profile.

Each page and action names the matrix row the service it calls requires: viewing domain rules
and settings is `workspace.members.view` (every role); changing domain rules and everything about
management keys is `workspace.members.manage` (a rule or a key is a way into the workspace);
changing settings is `workspace.settings.manage`; billing, viewed and changed, is
`workspace.billing.manage`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import Visit, page, redirect, render, run
from gatehouse.policy import dashboard as matrix
from gatehouse.services.addresses import domain_of, is_domain
from gatehouse.services.workspace.operators import JIT_DEFAULT_ROLE
from gatehouse.services.workspace.people import PLANS

PLAN_NAMES = {"free": "Free", "pro": "Pro", "enterprise": "Enterprise"}
MAX_NAME = 256


def _roles() -> list[str]:
    """The roles, most privileged first, as the members page lists them."""
    return list(reversed(matrix.ROLES))


# -- email domains (JIT rules and automatic roles) ------------------------------------------------


def _meaning(rule: dict[str, Any]) -> str:
    """What a domain rule does, in a sentence."""
    at = "@" + rule["domain"]
    auto = rule["auto_role"]
    if rule["jit_enabled"]:
        joins = matrix.ROLE_NAMES[auto or JIT_DEFAULT_ROLE]
        text = (
            f"People who sign in with a verified address at {at} join without an invitation, "
            f"as {joins}."
        )
        if auto:
            text += (
                " Members already in the workspace with a verified address there have at "
                f"least {joins}."
            )
        return text
    if auto:
        return (
            f"Nobody joins without an invitation; members with a verified address at {at} have "
            f"at least the {matrix.ROLE_NAMES[auto]} role."
        )
    return "Nothing yet: nobody joins without an invitation, and there is no automatic role."


@page("workspace.members.view")
async def domains(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.workspace.list_domains, visit.operator)
    members = await run(visit.gatehouse.workspace.list_members, visit.operator)
    rows = [
        {
            **rule,
            "meaning": _meaning(rule),
            "members": sum(
                1
                for m in members
                if m["email_verified"] and domain_of(m["email_address"]) == rule["domain"]
            ),
        }
        for rule in listed
    ]
    return render(visit.request, "domains.html", visit, rules=rows, roles=_roles())


def _domain_given(visit: Visit) -> str:
    return visit.form.get("domain", "").strip().lstrip("@").lower()


@page("workspace.members.manage", back="/domains")
async def put_domain(visit: Visit) -> Response:
    domain = _domain_given(visit)
    if not domain:
        return redirect(visit, "/domains", "error", "Enter a domain, such as example.com.")
    if not is_domain(domain):
        return redirect(
            visit,
            "/domains",
            "error",
            f"“{domain[:253]}” is not an email domain; enter one such as example.com.",
        )
    auto_role = visit.form.get("auto_role", "") or None
    jit = visit.form.get("jit_enabled") == "on"
    known = await run(visit.gatehouse.workspace.list_domains, visit.operator)
    existed = any(rule["domain"] == domain for rule in known)
    saved = await run(visit.gatehouse.workspace.put_domain, visit.operator, domain, jit, auto_role)
    verb = "Changed" if existed else "Added"
    return redirect(
        visit,
        "/domains",
        "success",
        f"{verb} the rule for {saved['domain']}. {_meaning(saved)}",
    )


async def _rule(visit: Visit) -> dict[str, Any] | None:
    domain = visit.request.path_params["domain"].lower()
    listed = await run(visit.gatehouse.workspace.list_domains, visit.operator)
    return next((rule for rule in listed if rule["domain"] == domain), None)


@page("workspace.members.manage", back="/domains")
async def edit_domain(visit: Visit) -> Response:
    rule = await _rule(visit)
    if rule is None:
        return redirect(visit, "/domains", "error", "That domain has no rule (any more).")
    return render(visit.request, "domain_edit.html", visit, rule=rule, roles=_roles())


@page("workspace.members.manage", back="/domains")
async def confirm_domain_removal(visit: Visit) -> Response:
    rule = await _rule(visit)
    if rule is None:
        return redirect(visit, "/domains", "error", "That domain has no rule (any more).")
    return render(visit.request, "domain_remove.html", visit, rule=rule, meaning=_meaning(rule))


@page("workspace.members.manage", back="/domains")
async def remove_domain(visit: Visit) -> Response:
    domain = visit.request.path_params["domain"].lower()
    await run(visit.gatehouse.workspace.delete_domain, visit.operator, domain)
    return redirect(
        visit,
        "/domains",
        "success",
        f"Removed the rule for {domain}. People there now need an invitation, and members there "
        "keep only the role set for them.",
    )


# -- management keys ------------------------------------------------------------------------------


@page("workspace.members.manage")
async def keys(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.workspace.list_keys, visit.operator)
    active = [k for k in listed if k["revoked_at"] is None]
    revoked = [k for k in listed if k["revoked_at"] is not None]
    return render(visit.request, "keys.html", visit, active=active, revoked=revoked, roles=_roles())


@page("workspace.members.manage", back="/keys")
async def create_key(visit: Visit) -> Response:
    name = visit.form.get("name", "").strip()
    role = visit.form.get("role", "")
    if len(name) > MAX_NAME:
        return redirect(visit, "/keys", "error", f"Keep the name to {MAX_NAME} characters.")
    created = await run(visit.gatehouse.workspace.create_key_as, visit.operator, role, name)
    # The secret is on this answer and nowhere else: it is stored only as a digest.
    return render(visit.request, "key_created.html", visit, key=created)


async def _key(visit: Visit) -> dict[str, Any] | None:
    key_id = visit.request.path_params["key_id"]
    listed = await run(visit.gatehouse.workspace.list_keys, visit.operator)
    return next((k for k in listed if k["key_id"] == key_id), None)


@page("workspace.members.manage", back="/keys")
async def confirm_key_revocation(visit: Visit) -> Response:
    key = await _key(visit)
    if key is None:
        return redirect(visit, "/keys", "error", "There is no such management key.")
    if key["revoked_at"] is not None:
        return redirect(visit, "/keys", "info", f"{key['key_id']} is already revoked.")
    return render(visit.request, "key_revoke.html", visit, key=key)


@page("workspace.members.manage", back="/keys")
async def revoke_key(visit: Visit) -> Response:
    key_id = visit.request.path_params["key_id"]
    await run(visit.gatehouse.workspace.revoke_key, visit.operator, key_id)
    return redirect(
        visit,
        "/keys",
        "success",
        f"Revoked {key_id}. Requests made with it are refused from now on.",
    )


# -- settings and billing -------------------------------------------------------------------------


@page("workspace.members.view")
async def settings(visit: Visit) -> Response:
    current = await run(visit.gatehouse.workspace.get_settings, visit.operator)
    return render(visit.request, "workspace_settings.html", visit, settings=current)


@page("workspace.settings.manage", back="/settings")
async def update_settings(visit: Visit) -> Response:
    name = visit.form.get("name", "").strip()
    if not name or len(name) > MAX_NAME:
        return redirect(
            visit, "/settings", "error", f"Give the workspace a name (up to {MAX_NAME} characters)."
        )
    saved = await run(visit.gatehouse.workspace.update_settings, visit.operator, name)
    return redirect(visit, "/settings", "success", f"The workspace is now called {saved['name']}.")


@page("workspace.billing.manage")
async def billing(visit: Visit) -> Response:
    current = await run(visit.gatehouse.workspace.get_billing, visit.operator)
    return render(
        visit.request, "billing.html", visit, billing=current, plans=PLANS, plan_names=PLAN_NAMES
    )


@page("workspace.billing.manage", back="/billing")
async def update_billing(visit: Visit) -> Response:
    current = await run(visit.gatehouse.workspace.get_billing, visit.operator)
    fields: dict[str, Any] = {}
    plan = visit.form.get("plan", "")
    if plan != current["plan"]:
        fields["plan"] = plan
    email = visit.form.get("billing_email", "").strip()
    if email != current["billing_email"]:
        if not email:
            return redirect(
                visit, "/billing", "error", "Enter the email address that receives invoices."
            )
        fields["billing_email"] = email
    if not fields:
        return redirect(visit, "/billing", "info", "Nothing changed.")
    saved = await run(visit.gatehouse.workspace.update_billing, visit.operator, fields)
    text = f"Saved: the {PLAN_NAMES[saved['plan']]} plan"
    text += f", invoices to {saved['billing_email']}." if saved["billing_email"] else "."
    return redirect(visit, "/billing", "success", text)


ROUTES: list[BaseRoute] = [
    Route("/domains", domains, methods=["GET"]),
    Route("/domains", put_domain, methods=["POST"]),
    Route("/domains/{domain}/edit", edit_domain, methods=["GET"]),
    Route("/domains/{domain}/remove", confirm_domain_removal, methods=["GET"]),
    Route("/domains/{domain}/remove", remove_domain, methods=["POST"]),
    Route("/keys", keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/{key_id}/revoke", confirm_key_revocation, methods=["GET"]),
    Route("/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route("/settings", settings, methods=["GET"]),
    Route("/settings", update_settings, methods=["POST"]),
    Route("/billing", billing, methods=["GET"]),
    Route("/billing", update_billing, methods=["POST"]),
]
