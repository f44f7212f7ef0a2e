"""An environment's directory (the "Organizations" tab): organizations (search, view, edit), their
members (search, view with each role and its sources, edit), and the support actions on a
member's page: password reset email, revoking sessions, reactivation, impersonation.

Every page and action names its matrix row (`page(...)`), and each control is rendered only when
the role holds that row; `gatehouse.support` checks the same rows again, and impersonation also
needs the environment's `user_impersonation_enabled`. Lists are pages of the services' cursors
(never counted or loaded whole): "Next page" carries the cursor, "First page" starts again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import (
    Visit,
    environment_url,
    page,
    redirect,
    render,
    run,
)
from gatehouse.errors import NotFound
from gatehouse.policy.defaults import STYTCH_MEMBER
from gatehouse.services import addresses
from gatehouse.services.b2b import roles as member_roles
from gatehouse.services.context import MemberView

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_SEARCH = 256
MAX_CURSOR = 512

_SLUG = re.compile(r"[A-Za-z0-9._~-]{2,128}")
_ROLE_FIELD = "role:"

SOURCES = {
    "direct_assignment": "Direct assignment",
    "email_assignment": "Email domain",
    "sso_connection": "SSO connection",
    "sso_connection_group": "SSO connection group",
    "scim_connection_group": "SCIM connection group",
}
STATUSES = {
    "": "Active and pending",
    "active": "Active",
    "pending": "Pending",
    "deleted": "Deleted",
}
JIT_CHOICES = {"NOT_ALLOWED": "Not allowed", "RESTRICTED": "Allowed domains only"}
INVITE_CHOICES = {
    "ALL_ALLOWED": "Anyone",
    "RESTRICTED": "Allowed domains only",
    "NOT_ALLOWED": "Not allowed",
}
MFA_CHOICES = {"OPTIONAL": "Optional", "REQUIRED_FOR_ALL": "Required for every member"}

DIRECTORY = "/projects/{slug}/environments/{env}/organizations"
ORGANIZATION = DIRECTORY + "/{org_id}"
MEMBER = ORGANIZATION + "/members/{member_id}"


# -- where we are --------------------------------------------------------------------------------


def _where(visit: Visit) -> tuple[str, str]:
    params = visit.request.path_params
    return params["slug"], params["env"]


def _directory_path(visit: Visit) -> str:
    slug, env = _where(visit)
    return f"/projects/{quote(slug)}/environments/{quote(env)}/organizations"


def _organization_path(visit: Visit, org_id: str | None = None) -> str:
    return f"{_directory_path(visit)}/{quote(org_id or visit.request.path_params['org_id'])}"


def _member_path(visit: Visit) -> str:
    member_id = visit.request.path_params["member_id"]
    return f"{_organization_path(visit)}/members/{quote(member_id)}"


async def _header(visit: Visit) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    return await run(visit.gatehouse.support.environment_of, visit.operator, *_where(visit))


# -- paging --------------------------------------------------------------------------------------


def _limit(query: QueryParams) -> int:
    raw = query.get("limit", "")
    if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE:
        return int(raw)
    return PAGE_SIZE


def _text(query: QueryParams, name: str, longest: int = MAX_SEARCH) -> str:
    return query.get(name, "").strip()[:longest]


def _page_links(
    base: str, kept: dict[str, str], limit: int, cursor: str | None, next_cursor: str | None
) -> dict[str, str | None]:
    """The "Next page" and "First page" links of a list, keeping its search."""
    params = {name: value for name, value in kept.items() if value}
    if limit != PAGE_SIZE:
        params["limit"] = str(limit)

    def link(extra: dict[str, str]) -> str:
        query = urlencode({**params, **extra})
        return base + ("?" + query if query else "")

    return {
        "next": link({"cursor": next_cursor}) if next_cursor else None,
        "first": link({}) if cursor else None,
    }


# -- organizations -------------------------------------------------------------------------------


@page("directory.view")
async def organizations(visit: Visit) -> Response:
    query = visit.request.query_params
    search = {"name": _text(query, "name"), "slug": _text(query, "slug")}
    cursor = _text(query, "cursor", MAX_CURSOR) or None
    limit = _limit(query)
    project, environment = await _header(visit)
    found = await run(
        visit.gatehouse.support.list_organizations,
        visit.operator,
        *_where(visit),
        search,
        cursor,
        limit,
        False,  # never counted: a count reads every matching row
    )
    base = environment_url(project["slug"], environment["slug"], "/organizations")
    return render(
        visit.request,
        "organizations.html",
        visit,
        project=project,
        environment=environment,
        tab="Organizations",
        organizations=found.organizations,
        search=search,
        searched=any(search.values()),
        paged=cursor is not None,
        links=_page_links(base, search, limit, cursor, found.next_cursor),
    )


def _settings(org: Mapping[str, Any]) -> dict[str, Any]:
    settings = org["settings"]
    return {
        "organization_logo_url": settings.get("organization_logo_url", ""),
        "email_allowed_domains": list(settings.get("email_allowed_domains", [])),
        "email_jit_provisioning": settings.get("email_jit_provisioning", "NOT_ALLOWED"),
        "email_invites": settings.get("email_invites", "ALL_ALLOWED"),
        "mfa_policy": settings.get("mfa_policy", "OPTIONAL"),
        "rbac_email_implicit_role_assignments": list(
            settings.get("rbac_email_implicit_role_assignments", [])
        ),
    }


def _form_of(org: Mapping[str, Any]) -> dict[str, str]:
    """The edit form's values for the organization as it is."""
    settings = _settings(org)
    return {
        "name": org["name"],
        "slug": org["slug"],
        "logo_url": settings["organization_logo_url"],
        "allowed_domains": ", ".join(settings["email_allowed_domains"]),
        "email_jit_provisioning": settings["email_jit_provisioning"],
        "email_invites": settings["email_invites"],
        "mfa_policy": settings["mfa_policy"],
        "implicit_roles": "\n".join(
            f"{rule['domain']} {rule['role_id']}"
            for rule in settings["rbac_email_implicit_role_assignments"]
        ),
    }


async def _organization_page(
    visit: Visit,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    query = visit.request.query_params
    org_id = visit.request.path_params["org_id"]
    search = {"email": _text(query, "email"), "status": query.get("status", "")}
    if search["status"] not in STATUSES:
        search["status"] = ""
    cursor = _text(query, "cursor", MAX_CURSOR) or None
    limit = _limit(query)
    project, environment = await _header(visit)
    support = visit.gatehouse.support
    org = await run(support.get_organization, visit.operator, *_where(visit), org_id)
    found = await run(
        support.list_members,
        visit.operator,
        *_where(visit),
        org["id"],
        search,
        cursor,
        limit,
        False,
    )
    base = environment_url(project["slug"], environment["slug"], f"/organizations/{org['id']}")
    return render(
        visit.request,
        "organization.html",
        visit,
        status=400 if errors else 200,
        project=project,
        environment=environment,
        tab="Organizations",
        org=org,
        settings=_settings(org),
        form=values or _form_of(org),
        errors=errors or {},
        members=found.members,
        search=search,
        searched=bool(search["email"] or search["status"]),
        paged=cursor is not None,
        links=_page_links(base, search, limit, cursor, found.next_cursor),
        statuses=STATUSES,
        jit_choices=JIT_CHOICES,
        invite_choices=INVITE_CHOICES,
        mfa_choices=MFA_CHOICES,
    )


@page("directory.view")
async def organization(visit: Visit) -> Response:
    return await _organization_page(visit)


def _organization_changes(
    form: dict[str, str], org: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields of the B2B organization update the form asks for (only those that change),
    and every problem with it, by form field."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    now = _settings(org)

    name = form.get("name", "").strip()
    if not 1 <= len(name) <= 256:
        errors["name"] = "Give the organization a name (up to 256 characters)."
    elif name != org["name"]:
        fields["organization_name"] = name

    slug = form.get("slug", "").strip()
    if not _SLUG.fullmatch(slug):
        errors["slug"] = "2 to 128 characters: letters, digits, -, ., _ or ~."
    elif slug != org["slug"]:
        fields["organization_slug"] = slug

    logo = form.get("logo_url", "").strip()
    if len(logo) > 2048:
        errors["logo_url"] = "At most 2048 characters."
    elif logo and not re.match(r"https?://[^\s/]+", logo):
        errors["logo_url"] = "An absolute http(s) URL, or nothing."
    elif logo != now["organization_logo_url"]:
        fields["organization_logo_url"] = logo

    domains = [d.lower() for d in re.split(r"[\s,]+", form.get("allowed_domains", "")) if d]
    bad = [d for d in domains if not addresses.is_domain(d)]
    if bad:
        errors["allowed_domains"] = f"Not an email domain: {', '.join(bad[:5])}."
    elif len(domains) > 100:
        errors["allowed_domains"] = "At most 100 domains."
    elif domains != now["email_allowed_domains"]:
        fields["email_allowed_domains"] = list(dict.fromkeys(domains))

    for name_, choices, key in (
        ("email_jit_provisioning", JIT_CHOICES, "email_jit_provisioning"),
        ("email_invites", INVITE_CHOICES, "email_invites"),
        ("mfa_policy", MFA_CHOICES, "mfa_policy"),
    ):
        value = form.get(name_, "")
        if value not in choices:
            errors[name_] = "Choose one of the options."
        elif value != now[key]:
            fields[key] = value

    rules: list[dict[str, str]] = []
    for number, line in enumerate(form.get("implicit_roles", "").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not addresses.is_domain(parts[0]) or len(parts[1]) > 128:
            errors["implicit_roles"] = (
                f"Line {number}: write an email domain and a role id, like example.com editor."
            )
            break
        rules.append({"domain": parts[0].lower(), "role_id": parts[1]})
    if "implicit_roles" not in errors:
        if len(rules) > 100:
            errors["implicit_roles"] = "At most 100 rules."
        elif rules != now["rbac_email_implicit_role_assignments"]:
            fields["rbac_email_implicit_role_assignments"] = rules
    return fields, errors


@page("directory.manage", back=ORGANIZATION)
async def edit_organization(visit: Visit) -> Response:
    support = visit.gatehouse.support
    org_id = visit.request.path_params["org_id"]
    org = await run(support.get_organization, visit.operator, *_where(visit), org_id)
    fields, errors = _organization_changes(visit.form, org)
    if errors:
        return await _organization_page(visit, errors, visit.form)
    if not fields:
        return redirect(visit, _organization_path(visit), "info", "Nothing to change.")
    updated = await run(
        support.update_organization, visit.operator, *_where(visit), org["id"], fields
    )
    return redirect(
        visit,
        _organization_path(visit, updated["id"]),
        "success",
        f"Saved the organization {updated['name']}.",
    )


# -- members -------------------------------------------------------------------------------------


async def _member_view(visit: Visit) -> MemberView:
    """The member named by the path, deleted ones included (they can be reactivated)."""
    support = visit.gatehouse.support
    params = visit.request.path_params
    where = (*_where(visit), params["org_id"])
    try:
        return await run(support.get_member, visit.operator, *where, params["member_id"])
    except NotFound:
        deleted = await run(
            support.list_members,
            visit.operator,
            *where,
            {"member_ids": [params["member_id"]], "status": "deleted"},
            None,
            1,
            False,
        )
        if not deleted.members:
            raise
        return deleted.members[0]


def _roles_of(view: MemberView) -> list[dict[str, Any]]:
    """The member's roles as the B2B API reports them, each source in words."""
    shown = []
    for role in member_roles.member_roles(
        view.member, list(view.direct_roles), view.org, view.sso_grants
    ):
        sources = []
        for source in role["sources"]:
            text = SOURCES.get(source["type"], source["type"])
            details = source.get("details") or {}
            if source["type"] == "email_assignment" and details.get("email_domain"):
                text += f" ({details['email_domain']})"
            elif role["role_id"] == STYTCH_MEMBER and STYTCH_MEMBER not in view.direct_roles:
                text += " (every member holds it)"
            sources.append({"type": source["type"], "text": text})
        shown.append({"role_id": role["role_id"], "sources": sources})
    return shown


async def _member_page(visit: Visit) -> Response:
    view = await _member_view(visit)
    project, environment = await _header(visit)
    choices: list[tuple[str, str]] = []
    if visit.may("directory.manage"):
        offered = await run(
            visit.gatehouse.support.role_choices, visit.operator, *_where(visit), view.org["id"]
        )
        choices = [(role_id, text) for role_id, text in offered if role_id != STYTCH_MEMBER]
    return render(
        visit.request,
        "directory_member.html",
        visit,
        project=project,
        environment=environment,
        tab="Organizations",
        org=view.org,
        member=view.member,
        direct_roles=set(view.direct_roles),
        roles=_roles_of(view),
        choices=choices,
        reset_url=environment["settings"].get("reset_password_redirect_url") or "",
        impersonation_on=environment["user_impersonation_enabled"],
        member_path=environment_url(
            project["slug"],
            environment["slug"],
            f"/organizations/{view.org['id']}/members/{view.member['id']}",
        ),
    )


@page("directory.view")
async def member(visit: Visit) -> Response:
    return await _member_page(visit)


@page("directory.manage", back=MEMBER)
async def edit_member(visit: Visit) -> Response:
    view = await _member_view(visit)
    form = visit.form
    name = form.get("name", "").strip()
    if len(name) > 256:
        return redirect(visit, _member_path(visit), "error", "The name is too long (256 at most).")
    chosen = [key[len(_ROLE_FIELD) :] for key in form if key.startswith(_ROLE_FIELD)]
    if STYTCH_MEMBER in view.direct_roles and STYTCH_MEMBER not in chosen:
        chosen.append(STYTCH_MEMBER)  # every member holds it: the form does not offer it
    if len(chosen) > 100 or any(not 1 <= len(r) <= 128 for r in chosen):
        return redirect(visit, _member_path(visit), "error", "Choose at most 100 roles.")
    fields: dict[str, Any] = {}
    if name != view.member["name"]:
        fields["name"] = name
    if sorted(chosen) != sorted(view.direct_roles):
        fields["roles"] = chosen
    breakglass = form.get("is_breakglass") == "on"
    if breakglass != view.member["is_breakglass"]:
        fields["is_breakglass"] = breakglass
    if not fields:
        return redirect(visit, _member_path(visit), "info", "Nothing to change.")
    updated = await run(
        visit.gatehouse.support.update_member,
        visit.operator,
        *_where(visit),
        view.org["id"],
        view.member["id"],
        fields,
    )
    return redirect(
        visit, _member_path(visit), "success", f"Saved the member {updated.member['email']}."
    )


# -- support actions -----------------------------------------------------------------------------


@page("support.password_reset", back=MEMBER)
async def password_reset(visit: Visit) -> Response:
    redirect_url = visit.form.get("redirect_url", "").strip() or None
    if redirect_url is not None and (
        len(redirect_url) > 2048 or not re.match(r"https?://[^\s/]+", redirect_url)
    ):
        return redirect(
            visit,
            _member_path(visit),
            "error",
            "The reset page must be an absolute http(s) URL of your application.",
        )
    params = visit.request.path_params
    view, expires_at = await run(
        visit.gatehouse.support.send_password_reset,
        visit.operator,
        *_where(visit),
        params["org_id"],
        params["member_id"],
        redirect_url,
        None,
    )
    return redirect(
        visit,
        _member_path(visit),
        "success",
        f"Sent a password reset link to {view.member['email']}; it works once, until {expires_at}.",
    )


async def _confirm(visit: Visit, action: str) -> Response:
    view = await _member_view(visit)
    project, environment = await _header(visit)
    return render(
        visit.request,
        "confirm_member_action.html",
        visit,
        project=project,
        environment=environment,
        tab="Organizations",
        action=action,
        org=view.org,
        member=view.member,
        member_path=environment_url(
            project["slug"],
            environment["slug"],
            f"/organizations/{view.org['id']}/members/{view.member['id']}",
        ),
    )


@page("support.sessions_revoke", back=MEMBER)
async def confirm_revoke(visit: Visit) -> Response:
    return await _confirm(visit, "revoke")


@page("support.sessions_revoke", back=MEMBER)
async def revoke_sessions(visit: Visit) -> Response:
    params = visit.request.path_params
    view = await run(
        visit.gatehouse.support.revoke_sessions,
        visit.operator,
        *_where(visit),
        params["org_id"],
        params["member_id"],
    )
    return redirect(
        visit,
        _member_path(visit),
        "success",
        f"Revoked every session of {view.member['email']}; they must sign in again.",
    )


@page("support.emails_reactivate", back=MEMBER)
async def reactivate(visit: Visit) -> Response:
    params = visit.request.path_params
    view = await run(
        visit.gatehouse.support.reactivate,
        visit.operator,
        *_where(visit),
        params["org_id"],
        params["member_id"],
    )
    return redirect(visit, _member_path(visit), "success", f"Reactivated {view.member['email']}.")


@page("impersonation.use", back=MEMBER)
async def confirm_impersonate(visit: Visit) -> Response:
    return await _confirm(visit, "impersonate")


@page("impersonation.use", back=MEMBER)
async def impersonate(visit: Visit) -> Response:
    """Opens the session and shows its token once (rendered, never put in a cookie or URL)."""
    params = visit.request.path_params
    project, environment = await _header(visit)
    signed_in = await run(
        visit.gatehouse.support.impersonate,
        visit.operator,
        *_where(visit),
        params["org_id"],
        params["member_id"],
    )
    active = signed_in.active
    return render(
        visit.request,
        "impersonated.html",
        visit,
        project=project,
        environment=environment,
        tab="Organizations",
        org=active.org,
        member=active.member,
        session=active.row,
        session_token=signed_in.session_token,
        session_jwt=signed_in.session_jwt,
        member_path=environment_url(
            project["slug"],
            environment["slug"],
            f"/organizations/{active.org['id']}/members/{active.member['id']}",
        ),
    )


ROUTES: list[BaseRoute] = [
    Route(DIRECTORY, organizations, methods=["GET"]),
    Route(ORGANIZATION, organization, methods=["GET"]),
    Route(ORGANIZATION, edit_organization, methods=["POST"]),
    Route(MEMBER, member, methods=["GET"]),
    Route(MEMBER, edit_member, methods=["POST"]),
    Route(MEMBER + "/password-reset", password_reset, methods=["POST"]),
    Route(MEMBER + "/revoke-sessions", confirm_revoke, methods=["GET"]),
    Route(MEMBER + "/revoke-sessions", revoke_sessions, methods=["POST"]),
    Route(MEMBER + "/reactivate", reactivate, methods=["POST"]),
    Route(MEMBER + "/impersonate", confirm_impersonate, methods=["GET"]),
    Route(MEMBER + "/impersonate", impersonate, methods=["POST"]),
]
