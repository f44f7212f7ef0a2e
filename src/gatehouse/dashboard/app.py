"""The dashboard's routes, mounted by `gatehouse.api.app` under `/dashboard` (and `/` redirects here).

Every page and action names the matrix permission it needs (`page(...)`): a page is shown, and a
control rendered, only when the signed-in person's effective role holds it, and each action is
checked here and again by the service it calls, all from `gatehouse.policy.dashboard`. Pages call
the workspace services (through `Gatehouse`), never storage.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gatehouse.dashboard import security
from gatehouse.dashboard.security import (
    CSRF_FIELD,
    FLASH_COOKIE,
    PRE_COOKIE,
    SEEN_COOKIE,
    SESSION_COOKIE,
)
from gatehouse.errors import Code, Denied, GatehouseError, NotFound, Unauthorized
from gatehouse.policy import dashboard as matrix
from gatehouse.services.wiring import Gatehouse
from gatehouse.services.workspace.operators import Operator

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = security.PATH
MAX_FORM_BYTES = 64 * 1024

# The pages in the navigation, each with the matrix permission its row needs (None: anyone
# signed in).
NAV: tuple[tuple[str, str, str | None], ...] = (
    ("Projects", "/projects", "projects.view_names"),
    ("Workspace members", "/members", "workspace.members.view"),
    ("Roles and permissions", "/roles", "workspace.members.view"),
    ("Account", "/account", None),
)

ROLE_SOURCES = {
    "explicit": "Set by an Admin",
    "domain": "Automatic role of the email domain",
    "jit_default": "Joined through the email domain (default role)",
}

ENDED = {
    "idle": "You were signed out after {minutes} minutes without activity. Sign in again.",
    "expired": "Your dashboard session has ended. Sign in again.",
}

_templates = Environment(
    loader=PackageLoader("gatehouse.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Services do blocking database work; keep it off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def gatehouse_of(request: Request) -> Gatehouse:
    gatehouse: Gatehouse = request.app.state.gatehouse
    return gatehouse


def url(path: str) -> str:
    return PREFIX + path


# -- flash messages ------------------------------------------------------------------------------


def flash(request: Request, response: Response, kind: str, text: str) -> None:
    """Show `text` on the next page rendered (kind: success, error or info)."""
    messages = [*_flashes(request), [kind, text]][-5:]
    encoded = base64.urlsafe_b64encode(json.dumps(messages).encode()).decode()
    security.set_cookie(request, response, FLASH_COOKIE, encoded)


def _flashes(request: Request) -> list[list[str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError):
        return []
    if not isinstance(decoded, list):
        return []
    return [
        [m[0], m[1]]
        for m in decoded
        if isinstance(m, list)
        and len(m) == 2
        and m[0] in ("success", "error", "info")
        and isinstance(m[1], str)
    ]


# -- who is signed in ----------------------------------------------------------------------------


@dataclass
class Visit:
    """A request from a signed-in person: who they are, and the form they sent (on POST)."""

    request: Request
    gatehouse: Gatehouse
    token: str
    operator: Operator
    me: dict[str, Any]
    workspace_name: str
    form: dict[str, str] = field(default_factory=dict)

    def may(self, permission: str) -> bool:
        return self.operator.may(permission)


def _whoami(gatehouse: Gatehouse, token: str) -> tuple[Operator, dict[str, Any], str]:
    operator = gatehouse.workspace.operator_from_session(token)
    me = gatehouse.dashboard_auth.me(operator)
    name = str(gatehouse.workspace.get_settings(operator)["name"])
    return operator, me, name


def _end_quietly(gatehouse: Gatehouse, token: str) -> None:
    try:
        gatehouse.dashboard_auth.sign_out(token)
    except GatehouseError:
        pass  # already ended


def _signed_out(request: Request, ended: str | None) -> Response:
    target = url("/sign-in") + (f"?ended={ended}" if ended else "")
    response = RedirectResponse(target, status_code=303)
    for name in (SESSION_COOKIE, SEEN_COOKIE):
        security.clear_cookie(request, response, name)
    return response


async def _visit(request: Request) -> Visit | Response:
    gatehouse = gatehouse_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return _signed_out(request, None)
    idle = security.idle_for(token, request.cookies.get(SEEN_COOKIE))
    if idle is None or idle > gatehouse.settings.dashboard_idle_minutes * 60:
        await run(_end_quietly, gatehouse, token)
        return _signed_out(request, "idle")
    try:
        operator, me, name = await run(_whoami, gatehouse, token)
    except Unauthorized:
        return _signed_out(request, "expired")
    return Visit(request, gatehouse, token, operator, me, name)


async def _form(request: Request) -> dict[str, str]:
    """A plain HTML form (application/x-www-form-urlencoded); the last value of a repeated field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


# -- rendering -----------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    visit: Visit | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page; with `visit`, inside the signed-in layout. Shows (and clears) the flash messages."""
    flashes = _flashes(request)
    pre = None
    if visit is not None:
        secret = visit.token
    else:
        pre = request.cookies.get(PRE_COOKIE) or security.new_pre_session()
        secret = pre
    nav = []
    if visit is not None:
        nav = [
            (label, url(path), request.url.path.startswith(url(path)))
            for label, path, permission in NAV
            if permission is None or visit.may(permission)
        ]
    html = _templates.get_template(template).render(
        visit=visit,
        nav=nav,
        flashes=flashes,
        csrf_field=CSRF_FIELD,
        csrf_token=security.csrf_token(secret),
        role_names=matrix.ROLE_NAMES,
        url=url,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if flashes:
        security.clear_cookie(request, response, FLASH_COOKIE)
    if visit is not None:
        _touch(request, response, visit.token)
    elif pre is not None and request.cookies.get(PRE_COOKIE) != pre:
        security.set_cookie(request, response, PRE_COOKIE, pre)
    return response


def redirect(visit: Visit, path: str, kind: str | None = None, text: str = "") -> Response:
    response = RedirectResponse(url(path), status_code=303)
    if kind is not None:
        flash(visit.request, response, kind, text)
    _touch(visit.request, response, visit.token)
    return response


def _touch(request: Request, response: Response, token: str) -> None:
    """Record that the session was used now. The cookie lasts as long as the session may, so an
    idle one is still there to say so (and a closed browser keeps it, as it keeps the session)."""
    minutes = gatehouse_of(request).settings.dashboard_session_minutes
    value = security.seen_value(token)
    security.set_cookie(request, response, SEEN_COOKIE, value, max_age=minutes * 60)


def refused(request: Request, visit: Visit | None, message: str) -> HTMLResponse:
    return render(request, "refused.html", visit, status=403, message=message)


Page = Callable[[Visit], Awaitable[Response]]


def page(
    permission: str | None, back: str | None = None
) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A page or action for people signed in whose effective role holds `permission` (None:
    everyone signed in). A POST must carry the session's CSRF token. A refused action answers 403;
    another error of a POST is flashed on the page at `back` (a path, formatted with the path
    parameters)."""

    def decorate(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            visit = await _visit(request)
            if isinstance(visit, Response):
                return visit
            if request.method == "POST":
                visit.form = await _form(request)
                if not security.csrf_matches(visit.token, visit.form.get(CSRF_FIELD)):
                    return refused(
                        request,
                        visit,
                        "The form was missing its security token or it had expired; nothing "
                        "was changed. Go back, reload the page and try again.",
                    )
            if permission is not None and not visit.may(permission):
                return refused(request, visit, _denied_text(visit.operator, permission))
            try:
                return await handler(visit)
            except Denied as error:
                return refused(request, visit, _sentence(error.message))
            except GatehouseError as error:
                if request.method != "POST" or back is None:
                    status = 404 if isinstance(error, NotFound) else 400
                    return render(
                        request,
                        "refused.html",
                        visit,
                        status=status,
                        title="Not found" if status == 404 else "Something is wrong",
                        message=_sentence(error.message),
                    )
                return redirect(
                    visit, back.format(**request.path_params), "error", _sentence(error.message)
                )

        return endpoint

    return decorate


def _denied_text(operator: Operator, permission: str) -> str:
    description = matrix.MATRIX[permission][0]
    return (
        f"Your role, {matrix.ROLE_NAMES[operator.role]}, does not allow this "
        f"({description}). Nothing was changed; ask a workspace Admin if you need it."
    )


def _sentence(message: str) -> str:
    text = message.replace("`", "")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# -- signing in and out --------------------------------------------------------------------------


def _pre_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    return security.csrf_matches(request.cookies.get(PRE_COOKIE), form.get(CSRF_FIELD))


def _start(request: Request, signed_in: dict[str, Any], target: str, text: str) -> Response:
    response = RedirectResponse(url(target), status_code=303)
    token = str(signed_in["session_token"])
    minutes = gatehouse_of(request).settings.dashboard_session_minutes
    security.set_cookie(request, response, SESSION_COOKIE, token, max_age=minutes * 60)
    _touch(request, response, token)
    security.clear_cookie(request, response, PRE_COOKIE)
    flash(request, response, "success", text)
    return response


def _sign_in_page(
    request: Request, status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    ended = ENDED.get(request.query_params.get("ended", ""))
    minutes = gatehouse_of(request).settings.dashboard_idle_minutes
    return render(
        request,
        "sign_in.html",
        status=status,
        error=error,
        email=email,
        ended=ended.format(minutes=minutes) if ended else None,
    )


async def sign_in_page(request: Request) -> Response:
    return _sign_in_page(request)


async def sign_in(request: Request) -> Response:
    form = await _form(request)
    if not _pre_csrf_ok(request, form):
        return refused(request, None, "The sign-in form had expired. Reload the page and retry.")
    email, password = form.get("email", "").strip(), form.get("password", "")
    if not email or not password or len(email) > 320 or len(password) > 1024:
        return _sign_in_page(request, 400, "Enter your email address and password.", email)
    try:
        signed_in = await run(
            gatehouse_of(request).dashboard_auth.sign_in_with_password,
            email,
            password,
            _client(request),
        )
    except GatehouseError as error:
        if error.code == Code.TOO_MANY_REQUESTS:
            text = (
                "Too many failed sign-ins for this email address. Wait a few minutes, or use "
                "Email me a sign-in link."
            )
            return _sign_in_page(request, 429, text, email)
        if isinstance(error, Unauthorized):
            text = "That email and password do not match. Try again, or email yourself a link."
            return _sign_in_page(request, 401, text, email)
        raise
    return _start(request, signed_in, "/", f"Signed in as {signed_in['member']['email_address']}.")


def _client(request: Request) -> str:
    """The caller's address, for the per-client sign-in and send limits (as the API's)."""
    return request.client.host if request.client is not None and request.client.host else "unknown"


async def send_link(request: Request) -> Response:
    form = await _form(request)
    if not _pre_csrf_ok(request, form):
        return refused(request, None, "The sign-in form had expired. Reload the page and retry.")
    email = form.get("email", "").strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        return _sign_in_page(request, 400, "Enter the email address you were invited with.", email)
    mail = await run(
        gatehouse_of(request).dashboard_auth.send_sign_in_link, email, _client(request)
    )
    response = RedirectResponse(url("/sign-in"), status_code=303)
    minutes = gatehouse_of(request).settings.email_link_minutes
    flash(
        request,
        response,
        "info",
        f"If {email} may sign in here, a sign-in link is on its way to it. "
        f"It works once, within {minutes} minutes.",
    )
    if mail is not None:
        # Mailed after the response: neither its timing nor a mail failure tells who is a member.
        response.background = BackgroundTask(mail)
    return response


async def authenticate_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    return render(request, "authenticate.html", token=token, error=None)


async def authenticate(request: Request) -> Response:
    form = await _form(request)
    if not _pre_csrf_ok(request, form):
        return refused(request, None, "The page had expired. Open the link from your email again.")
    token = form.get("token", "")
    try:
        if not token or len(token) > 512:
            raise GatehouseError(Code.EMAIL_LINK_NOT_FOUND, "the sign-in link is not valid")
        signed_in = await run(gatehouse_of(request).dashboard_auth.redeem, token)
    except GatehouseError as error:
        return render(
            request,
            "authenticate.html",
            status=400 if error.code == Code.EMAIL_LINK_NOT_FOUND else 401,
            token="",
            error=_sentence(error.message.split(";")[0]) + " Ask for a new sign-in link.",
        )
    member = signed_in["member"]
    return _start(
        request,
        signed_in,
        "/",
        f"Signed in as {member['email_address']}, with the "
        f"{matrix.ROLE_NAMES[member['role']]} role.",
    )


@page(None)
async def sign_out(visit: Visit) -> Response:
    await run(_end_quietly, visit.gatehouse, visit.token)
    response = _signed_out(visit.request, None)
    flash(visit.request, response, "info", "You signed out.")
    return response


# -- pages ---------------------------------------------------------------------------------------


@page(None)
async def home(visit: Visit) -> Response:
    return redirect(visit, "/projects")


@page("projects.view_names")
async def projects(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.projects.list_projects, visit.operator)
    return render(visit.request, "projects.html", visit, projects=listed)


@page("projects.create", back="/projects")
async def create_project(visit: Visit) -> Response:
    name = visit.form.get("name", "").strip()
    if not name or len(name) > 256:
        return redirect(
            visit, "/projects", "error", "Give the project a name (up to 256 characters)."
        )
    created = await run(visit.gatehouse.projects.create_project, visit.operator, name, None, "B2B")
    return redirect(
        visit,
        f"/projects/{quote(created['slug'])}",
        "success",
        f"Created the project {created['name']}, with a live and a test environment.",
    )


@page("project_config.view")
async def project(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    found = await run(visit.gatehouse.projects.get_project, visit.operator, slug)
    environments = await run(visit.gatehouse.projects.list_environments, visit.operator, slug)
    return render(
        visit.request,
        "project.html",
        visit,
        project=found,
        environments=[e.environment for e in environments],
    )


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


# -- the routes ----------------------------------------------------------------------------------


async def to_dashboard(request: Request) -> Response:
    return RedirectResponse(PREFIX + "/", status_code=302)


def routes() -> list[BaseRoute]:
    """`/` and `/dashboard/...` for `gatehouse.api.app`."""
    pages = [
        Route("/", home, methods=["GET"]),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-in/link", send_link, methods=["POST"]),
        Route("/authenticate", authenticate_page, methods=["GET"]),
        Route("/authenticate", authenticate, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/projects", projects, methods=["GET"]),
        Route("/projects", create_project, methods=["POST"]),
        Route("/projects/{slug}", project, methods=["GET"]),
        Route("/members", members, methods=["GET"]),
        Route("/members/invite", invite, methods=["POST"]),
        Route("/members/{member_id}/role", change_role, methods=["POST"]),
        Route("/members/{member_id}/remove", confirm_removal, methods=["GET"]),
        Route("/members/{member_id}/remove", remove, methods=["POST"]),
        Route("/roles", roles, methods=["GET"]),
        Route("/account", account, methods=["GET"]),
        Route("/account/password", set_password, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=Path(__file__).parent / "static")),
    ]
    return [
        Route("/", to_dashboard, methods=["GET"]),
        Mount(PREFIX, app=security.SecurityHeaders(Router(pages))),
    ]
