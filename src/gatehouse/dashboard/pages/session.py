"""Signing in (password, emailed link, invitation link) and out. These pages work before anyone
is signed in, so their forms carry a pre-session CSRF token."""

from __future__ import annotations

from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard import security
from gatehouse.dashboard.security import CSRF_FIELD, PRE_COOKIE, SESSION_COOKIE
from gatehouse.dashboard.web import (
    ENDED,
    Visit,
    end_quietly,
    flash,
    gatehouse_of,
    page,
    read_form,
    refused,
    render,
    run,
    sentence,
    signed_out,
    touch,
    url,
)
from gatehouse.errors import Code, GatehouseError, Unauthorized
from gatehouse.policy import dashboard as matrix


def _pre_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    return security.csrf_matches(request.cookies.get(PRE_COOKIE), form.get(CSRF_FIELD))


def _start(request: Request, signed_in: dict[str, Any], target: str, text: str) -> Response:
    response = RedirectResponse(url(target), status_code=303)
    token = str(signed_in["session_token"])
    minutes = gatehouse_of(request).settings.dashboard_session_minutes
    security.set_cookie(request, response, SESSION_COOKIE, token, max_age=minutes * 60)
    touch(request, response, token)
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
    form = await read_form(request)
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
    form = await read_form(request)
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
    form = await read_form(request)
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
            error=sentence(error.message.split(";")[0]) + " Ask for a new sign-in link.",
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
    await run(end_quietly, visit.gatehouse, visit.token)
    response = signed_out(visit.request, None)
    flash(visit.request, response, "info", "You signed out.")
    return response


ROUTES: list[BaseRoute] = [
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-in/link", send_link, methods=["POST"]),
    Route("/authenticate", authenticate_page, methods=["GET"]),
    Route("/authenticate", authenticate, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
]
