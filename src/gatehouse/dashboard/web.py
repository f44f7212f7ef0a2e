"""What every dashboard page shares: who is signed in (`Visit`), the `page(...)` decorator that
checks the matrix permission a page or action needs (and the CSRF token of a POST), rendering,
flash messages and redirects.

Every page and action names the matrix permission it needs: a page is shown, and a control
rendered, only when the signed-in person's effective role holds it, and each action is checked here
and again by the service it calls, all from `gatehouse.policy.dashboard`. Pages call the workspace
services (through `Gatehouse`), never storage.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gatehouse.dashboard import security
from gatehouse.dashboard.security import (
    CSRF_FIELD,
    FLASH_COOKIE,
    PRE_COOKIE,
    SEEN_COOKIE,
    SESSION_COOKIE,
)
from gatehouse.errors import Denied, GatehouseError, NotFound, Unauthorized
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
    ("Email domains", "/domains", "workspace.members.view"),
    ("Management keys", "/keys", "workspace.members.manage"),
    ("Workspace settings", "/settings", "workspace.members.view"),
    ("Billing", "/billing", "workspace.billing.manage"),
    ("Event log", "/events", "event_logs.view"),
    ("Account", "/account", None),
)

# The tabs of an environment's pages (`/projects/{slug}/environments/{env}` + suffix), each with
# the matrix permission that shows it; templates/_environment.html draws them.
ENVIRONMENT_TABS: tuple[tuple[str, str, str], ...] = (
    ("Overview", "", "projects.view_names"),
    ("RBAC policy", "/policy", "project_config.view"),
    ("Organizations", "/organizations", "directory.view"),
    ("Event log", "/events", "event_logs.view"),
)


def environment_url(project_slug: str, environment_slug: str, suffix: str = "") -> str:
    """The dashboard URL of an environment's page (quoted path segments)."""
    return url(f"/projects/{quote(project_slug)}/environments/{quote(environment_slug)}{suffix}")


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


def end_quietly(gatehouse: Gatehouse, token: str) -> None:
    try:
        gatehouse.dashboard_auth.sign_out(token)
    except GatehouseError:
        pass  # already ended


def signed_out(request: Request, ended: str | None) -> Response:
    target = url("/sign-in") + (f"?ended={ended}" if ended else "")
    response = RedirectResponse(target, status_code=303)
    for name in (SESSION_COOKIE, SEEN_COOKIE):
        security.clear_cookie(request, response, name)
    return response


async def _visit(request: Request) -> Visit | Response:
    gatehouse = gatehouse_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return signed_out(request, None)
    idle = security.idle_for(token, request.cookies.get(SEEN_COOKIE))
    if idle is None or idle > gatehouse.settings.dashboard_idle_minutes * 60:
        await run(end_quietly, gatehouse, token)
        return signed_out(request, "idle")
    try:
        operator, me, name = await run(_whoami, gatehouse, token)
    except Unauthorized:
        return signed_out(request, "expired")
    return Visit(request, gatehouse, token, operator, me, name)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """A plain HTML form (application/x-www-form-urlencoded); the last value of a repeated field."""
    body = await request.body()
    if len(body) > limit:
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
        environment_url=environment_url,
        environment_tabs=ENVIRONMENT_TABS,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if flashes:
        security.clear_cookie(request, response, FLASH_COOKIE)
    if visit is not None:
        touch(request, response, visit.token)
    elif pre is not None and request.cookies.get(PRE_COOKIE) != pre:
        security.set_cookie(request, response, PRE_COOKIE, pre)
    return response


def redirect(visit: Visit, path: str, kind: str | None = None, text: str = "") -> Response:
    response = RedirectResponse(url(path), status_code=303)
    if kind is not None:
        flash(visit.request, response, kind, text)
    touch(visit.request, response, visit.token)
    return response


def touch(request: Request, response: Response, token: str) -> None:
    """Record that the session was used now. The cookie lasts as long as the session may, so an
    idle one is still there to say so (and a closed browser keeps it, as it keeps the session)."""
    minutes = gatehouse_of(request).settings.dashboard_session_minutes
    value = security.seen_value(token)
    security.set_cookie(request, response, SEEN_COOKIE, value, max_age=minutes * 60)


def refused(request: Request, visit: Visit | None, message: str) -> HTMLResponse:
    return render(request, "refused.html", visit, status=403, message=message)


Page = Callable[[Visit], Awaitable[Response]]


def page(
    permission: str | None, back: str | None = None, form_limit: int = MAX_FORM_BYTES
) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A page or action for people signed in whose effective role holds `permission` (None:
    everyone signed in). A POST must carry the session's CSRF token. A refused action answers 403;
    another error of a POST is flashed on the page at `back` (a path, formatted with the path
    parameters). A form longer than `form_limit` bytes is read as empty."""

    def decorate(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            visit = await _visit(request)
            if isinstance(visit, Response):
                return visit
            if request.method == "POST":
                visit.form = await read_form(request, form_limit)
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
                return refused(request, visit, sentence(error.message))
            except GatehouseError as error:
                if request.method != "POST" or back is None:
                    status = 404 if isinstance(error, NotFound) else 400
                    return render(
                        request,
                        "refused.html",
                        visit,
                        status=status,
                        title="Not found" if status == 404 else "Something is wrong",
                        message=sentence(error.message),
                    )
                return redirect(
                    visit, back.format(**request.path_params), "error", sentence(error.message)
                )

        return endpoint

    return decorate


def _denied_text(operator: Operator, permission: str) -> str:
    description = matrix.MATRIX[permission][0]
    return (
        f"Your role, {matrix.ROLE_NAMES[operator.role]}, does not allow this "
        f"({description}). Nothing was changed; ask a workspace Admin if you need it."
    )


def sentence(message: str) -> str:
    text = message.replace("`", "")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
