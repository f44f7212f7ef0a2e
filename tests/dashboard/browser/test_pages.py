"""The dashboard in a real browser: signing in (password, emailed link, invitation), signing out and
idling out, what each of the five roles sees, the members and projects pages, and the server
refusing forged and CSRF-less posts with 403, changing nothing. Controls are found by their
visible labels and roles, as a person finds them."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatehouse.dashboard import security, web
from gatehouse.policy import dashboard as matrix
from tests.dashboard.test_sign_in import ADMIN, STRONG, Dashboard, dashboard_server, token_in

pytestmark = pytest.mark.timeout(180)

ROLES = ("admin", "developer", "support_manager", "support_agent", "no_access")
NAV = ("Projects", "Workspace members", "Roles and permissions", "Account")
_LINK = re.compile(r"http://\S+/dashboard/authenticate\?token=[A-Za-z0-9_-]+")


@pytest.fixture
def page(browser: Any, dash: Dashboard) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the test server; fails the test on any console
    error, a CSP violation or a missing asset included (the refusals pages are tested to give,
    400, 401, 403 and 429, are not errors here)."""
    context = browser.new_context(base_url=dash.server.url, viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    opened = context.new_page()
    expected = re.compile(r"status of (400|401|403|429) ")
    opened.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and not expected.search(m.text) else None
        ),
    )
    opened.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], errors


def _member(dash: Dashboard, address: str, role: str) -> str:
    """An active member with password STRONG (made through the API); returns the address."""
    if address not in dash.members():
        dash.invite(address, role)
        token = dash.redeem(token_in(dash.mailbox.take(address)))["session_token"]
        dash.ok("POST", "/pwa/v3/auth/password/set", {"password": STRONG}, token=token)
    return address


def _admin_with_password(dash: Dashboard) -> str:
    dash.ok("POST", "/pwa/v3/auth/password/set", {"password": STRONG}, token=dash.admin)
    return ADMIN


def _person(dash: Dashboard, role: str) -> str:
    return (
        _admin_with_password(dash) if role == "admin" else _member(dash, f"{role}@b.example", role)
    )


def sign_in(page: Any, address: str, password: str = STRONG) -> None:
    page.goto("/dashboard/sign-in")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _session_cookie(page: Any) -> dict[str, Any] | None:
    cookies = page.context.cookies()
    return next((c for c in cookies if c["name"] == security.SESSION_COOKIE), None)


def _csrf(page: Any) -> str:
    return str(page.locator(f"input[name={security.CSRF_FIELD}]").first.get_attribute("value"))


def _flash(page: Any) -> str:
    return str(page.locator(".flash").all_inner_texts())


# Every visible form control with no visible <label> (buttons: no visible text).
_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden' && !el.hidden)
  .filter(el => el.tagName === 'BUTTON'
    ? !el.innerText.trim()
    : ![...el.labels].some(l => l.offsetParent !== null && l.innerText.trim()))
  .map(el => el.outerHTML)"""


def _shot(page: Any, screenshots: Path, name: str) -> None:
    """Save a screenshot of the page, and check every control on it has a visible label."""
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    assert page.evaluate(_UNLABELLED) == [], name


# -- the shell -----------------------------------------------------------------------------------


def test_root_redirects_to_the_dashboard_and_pages_carry_the_security_headers(dash):
    root = httpx.get(dash.server.url + "/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (302, "/dashboard/")
    unsigned = httpx.get(dash.server.url + "/dashboard/", follow_redirects=False)
    assert (unsigned.status_code, unsigned.headers["location"]) == (303, "/dashboard/sign-in")
    for path in ("/dashboard/sign-in", "/dashboard/static/dashboard.css", "/dashboard/"):
        response = httpx.get(dash.server.url + path, follow_redirects=False)
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'none'"
        assert directives["script-src"] == "'self'"  # no inline scripts, no other origin
        assert directives["default-src"] == "'none'"
        assert "http" not in csp and "*" not in csp and "unsafe" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    page = httpx.get(dash.server.url + "/dashboard/sign-in").text
    assert "<script" not in page and "style=" not in page and "://" not in page


# -- signing in ----------------------------------------------------------------------------------


def test_an_admin_signs_in_with_a_password(page, dash, screenshots):
    page.goto("/dashboard/sign-in")
    _shot(page, screenshots, "sign-in")
    sign_in(page, _admin_with_password(dash))
    assert page.url.endswith("/dashboard/projects")
    assert page.locator("header .workspace").inner_text() == "Tests"
    assert page.locator("header .role-badge").inner_text() == "Admin"
    assert "Signed in as admin@example.com." in _flash(page)
    cookie = _session_cookie(page)
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"], cookie["path"]) == (
        True,
        "Lax",
        False,  # plain http here; see the TLS test
        "/dashboard",
    )
    _shot(page, screenshots, "projects")
    page.reload()
    assert page.locator(".flash").count() == 0  # a flash shows once


def test_a_wrong_password_shows_an_error_and_sets_no_session_cookie(page, dash):
    _admin_with_password(dash)
    before = dash.server.snapshot()
    page.goto("/dashboard/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(STRONG + "!")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert page.get_by_role("alert").inner_text().startswith("That email and password do not match")
    assert page.get_by_label("Email").input_value() == ADMIN
    assert _session_cookie(page) is None
    assert dash.server.snapshot() == before


def test_password_sign_in_is_throttled_as_the_apis_is(page, dash):
    address = _member(dash, "throttled@b.example", "support_agent")
    for _ in range(10):
        sign_in(page, address, "not the password at all")
    sign_in(page, address)  # the right password, too late
    assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
    assert _session_cookie(page) is None


def test_a_person_signs_in_with_an_emailed_link(page, dash, screenshots):
    address = _member(dash, "linda@b.example", "support_manager")
    page.goto("/dashboard/sign-in")
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Email me a sign-in link").click()
    assert f"If {address} may sign in here, a sign-in link is on its way" in _flash(page)
    assert _session_cookie(page) is None
    message = dash.mailbox.take(address)
    link = _LINK.search(message.get_content())
    assert link, message.get_content()
    page.goto(link.group(0))
    _shot(page, screenshots, "authenticate")
    page.get_by_role("button", name="Continue").click()
    assert page.url.endswith("/dashboard/projects")
    assert page.locator("header .role-badge").inner_text() == "Support Manager"
    assert _session_cookie(page) is not None
    # The link works once.
    page.context.clear_cookies()
    page.goto(link.group(0))
    page.get_by_role("button", name="Continue").click()
    assert "already used" in page.get_by_role("alert").inner_text()
    assert _session_cookie(page) is None


def test_signing_out_ends_the_session(page, dash):
    sign_in(page, _person(dash, "developer"))
    token = _session_cookie(page)["value"]  # type: ignore[index]
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/dashboard/sign-in")
    assert "You signed out." in _flash(page)
    assert _session_cookie(page) is None
    assert dash.events()[-1]["action"] == "workspace_member.sign_out"
    # The old token is dead on the server too, not just forgotten by the browser.
    page.context.add_cookies(
        [{"name": security.SESSION_COOKIE, "value": token, "url": dash.server.url + "/dashboard"}]
    )
    page.goto("/dashboard/members")
    assert "/dashboard/sign-in" in page.url
    assert dash.call("GET", "/pwa/v3/auth/me", token=token).status_code == 401


def test_an_idle_session_is_signed_out_and_the_page_says_so(page, dash, screenshots):
    sign_in(page, _person(dash, "support_agent"))
    token = _session_cookie(page)["value"]  # type: ignore[index]
    idle = dash.server.gatehouse.settings.dashboard_idle_minutes
    long_ago = time.time() - idle * 60 - 5
    page.context.add_cookies(
        [
            {
                "name": security.SEEN_COOKIE,
                "value": security.seen_value(token, long_ago),
                "url": dash.server.url + "/dashboard",
                "httpOnly": True,
            }
        ]
    )
    page.goto("/dashboard/members")
    assert page.url.endswith("/dashboard/sign-in?ended=idle")
    assert f"You were signed out after {idle} minutes without activity" in page.inner_text("main")
    _shot(page, screenshots, "signed-out-idle")
    assert _session_cookie(page) is None
    refused = dash.call("GET", "/pwa/v3/auth/me", token=token)
    assert refused.status_code == 401  # ended on the server


# -- invitations and the members page ------------------------------------------------------------


def test_an_admin_invites_the_invitee_accepts_and_the_admin_changes_their_role(
    page, browser, dash, screenshots
):
    sign_in(page, _admin_with_password(dash))
    page.get_by_role("link", name="Workspace members").click()
    page.get_by_label("Email address").fill("ines@invited.example")
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_role("button", name="Send invitation").click()
    assert "Invited ines@invited.example as Developer" in _flash(page)
    row = page.locator("tr", has_text="ines@invited.example")
    assert row.locator("td").nth(1).inner_text() == "Invited"

    # The invitee opens the emailed link in their own browser.
    message = dash.mailbox.take("ines@invited.example")
    link = _LINK.search(message.get_content())
    assert link and link.group(0).startswith(dash.server.url + "/dashboard/authenticate?token=")
    invitee = browser.new_context(base_url=dash.server.url)
    try:
        theirs = invitee.new_page()
        theirs.goto(link.group(0))
        theirs.get_by_role("button", name="Continue").click()
        assert theirs.locator("header .role-badge").inner_text() == "Developer"
        assert "with the Developer role" in _flash(theirs)
        # ...and sets a password on the Account page, then signs in with it.
        theirs.get_by_role("link", name="Account").click()
        _shot(theirs, screenshots, "account")
        theirs.get_by_label("New password").fill("password1234")
        theirs.get_by_label("Confirm password").fill("password1234")
        theirs.get_by_role("button", name="Set password").click()
        assert "The password is too easy to guess" in _flash(theirs)
        theirs.get_by_label("New password").fill(STRONG)
        theirs.get_by_label("Confirm password").fill(STRONG)
        theirs.get_by_role("button", name="Set password").click()
        assert "Your password is set" in _flash(theirs)
        theirs.get_by_role("button", name="Sign out").click()
        sign_in(theirs, "ines@invited.example")
        assert theirs.locator("header .role-badge").inner_text() == "Developer"
    finally:
        invitee.close()

    page.reload()
    row = page.locator("tr", has_text="ines@invited.example")
    assert row.locator("td").nth(1).inner_text() == "Active"
    assert row.locator("td").nth(2).inner_text() == "Developer"
    row.get_by_label("New role for ines@invited.example").select_option(label="Support Manager")
    row.get_by_role("button", name="Change role").click()
    assert "ines@invited.example now has the Support Manager role." in _flash(page)
    row = page.locator("tr", has_text="ines@invited.example")
    assert row.locator("td").nth(2).inner_text() == "Support Manager"
    assert row.locator("td").nth(3).inner_text() == "Set by an Admin"
    _shot(page, screenshots, "members")

    ines = dash.members()["ines@invited.example"]["member_id"]
    admin = f"workspace_member:{dash.members()[ADMIN]['member_id']}"
    logged = [
        (e["actor"], e["actor_role"], e["action"], e["changes"])
        for e in dash.events()
        if e["target"] == ines
        and e["action"] in ("workspace_member.invite", "workspace_member.role_change")
    ]
    assert logged == [
        (
            admin,
            "admin",
            "workspace_member.invite",
            {"email": "ines@invited.example", "role": "developer"},
        ),
        (
            admin,
            "admin",
            "workspace_member.role_change",
            {"role": ["developer", "support_manager"]},
        ),
    ]


def test_the_members_page_shows_a_domain_rules_automatic_role_and_its_source(page, dash):
    member = _member(dash, "dora@auto.example", "support_agent")
    dash.put_domain("auto.example", False, "developer")
    try:
        sign_in(page, _admin_with_password(dash))
        page.goto("/dashboard/members")
        row = page.locator("tr", has_text=member)
        assert row.locator("td").nth(2).inner_text() == "Developer"
        source = row.locator("td").nth(3).inner_text()
        assert source == "Automatic role of the email domain (set: Support Agent)"
    finally:
        dash.ok("DELETE", "/pwa/v3/workspace/domains/auto.example", token=dash.admin)


def test_removing_a_member_asks_first(page, dash, screenshots):
    doomed = _member(dash, "doomed@b.example", "no_access")
    sign_in(page, _admin_with_password(dash))
    page.goto("/dashboard/members")
    page.locator("tr", has_text=doomed).get_by_role("link", name="Remove…").click()
    assert page.get_by_role("heading", level=1).inner_text() == f"Remove {doomed}?"
    _shot(page, screenshots, "remove-member")
    page.get_by_role("link", name="Cancel").click()
    assert doomed in dash.members()
    page.locator("tr", has_text=doomed).get_by_role("link", name="Remove…").click()
    page.get_by_role("button", name="Remove member").click()
    assert f"Removed {doomed} from the workspace." in _flash(page)
    assert page.locator("tr", has_text=doomed).count() == 0
    assert doomed not in dash.members()


def test_the_last_admin_cannot_be_removed_and_the_page_says_why(page, dash):
    sign_in(page, _admin_with_password(dash))
    admin_id = dash.members()[ADMIN]["member_id"]
    page.goto(f"/dashboard/members/{admin_id}/remove")
    before = dash.server.snapshot()
    page.get_by_role("button", name="Remove member").click()
    assert "last Admin cannot be removed" in _flash(page)
    assert dash.server.snapshot() == before


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_pages_and_controls_its_matrix_row_allows(page, dash, role, screenshots):
    sign_in(page, _person(dash, role))
    nav = page.get_by_role("navigation", name="Main")
    shown = [label for label, _, needs in web.NAV if needs is None or matrix.allows(role, needs)]
    assert set(NAV) <= set(shown)  # every role views these rows
    assert nav.get_by_role("link").all_inner_texts() == shown
    assert page.locator("header .role-badge").inner_text() == matrix.ROLE_NAMES[role]

    page.goto("/dashboard/members")
    manage = matrix.allows(role, "workspace.members.manage")
    assert manage == (role == "admin")
    expect = 1 if manage else 0
    assert page.get_by_role("button", name="Send invitation").count() == expect
    assert page.get_by_label("Email address").count() == expect
    assert (page.get_by_role("button", name="Change role").count() > 0) == manage
    assert (page.get_by_role("link", name="Remove…").count() > 0) == manage
    assert page.locator("tr", has_text=ADMIN).count() == 1  # everyone sees the members
    _shot(page, screenshots, f"members-{role}")

    page.goto("/dashboard/projects")
    creates = matrix.allows(role, "projects.create")
    assert page.get_by_role("button", name="Create project").count() == (1 if creates else 0)
    views_config = matrix.allows(role, "project_config.view")
    assert page.get_by_role("link", name="Test project").count() == (1 if views_config else 0)
    assert page.get_by_role("cell", name="Test project").count() == 1

    project = page.goto(f"/dashboard/projects/{dash.server.project_slug}")
    assert project is not None and project.status == (200 if views_config else 403)
    if not views_config:
        assert "does not allow this (View Project Configurations)" in page.inner_text("main")
        _shot(page, screenshots, f"refused-{role}")


def test_the_roles_page_renders_the_one_matrix(page, dash, screenshots):
    sign_in(page, _person(dash, "support_agent"))
    page.get_by_role("link", name="Roles and permissions").click()
    headers = page.locator("table.matrix thead th").all_inner_texts()
    assert headers == [
        "Permission",
        "Admin",
        "Developer",
        "Support Manager",
        "Support Agent",
        "No Access",
    ]
    rows = page.locator("table.matrix tbody tr")
    assert rows.count() == len(matrix.MATRIX)
    for i, (key, (description, holders)) in enumerate(matrix.MATRIX.items()):
        row = rows.nth(i)
        assert row.locator("th").inner_text().split() == f"{description} {key}".split()
        marks = row.locator("td").all_inner_texts()
        assert marks == ["✓" if r in holders else "–" for r in reversed(matrix.ROLES)]
    assert page.locator("thead th.mine").inner_text() == "Support Agent"
    _shot(page, screenshots, "roles")


# -- projects ------------------------------------------------------------------------------------


def test_a_developer_creates_a_project_and_sees_its_environments(page, dash, screenshots):
    sign_in(page, _person(dash, "developer"))
    page.get_by_label("Project name").fill("Billing portal")
    page.get_by_role("button", name="Create project").click()
    assert "Created the project Billing portal" in _flash(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Billing portal"
    rows = page.locator("tbody tr")
    assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())] == [
        "Live",
        "Test",
    ]
    _shot(page, screenshots, "project")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Projects").click()
    assert page.get_by_role("link", name="Billing portal").count() == 1
    event = dash.events()[-1]
    assert (event["action"], event["actor_role"]) == ("project.create", "developer")


# -- the server enforces ---------------------------------------------------------------------------


def test_a_forged_post_to_a_denied_action_is_refused_and_changes_nothing(page, dash):
    sign_in(page, _person(dash, "developer"))
    page.goto("/dashboard/members")
    token = _csrf(page)  # a valid one, from the developer's own page
    target = dash.members()[_person(dash, "support_agent")]["member_id"]
    before = dash.server.snapshot()
    for path, form in [
        (f"/dashboard/members/{target}/role", {"role": "admin"}),
        (f"/dashboard/members/{target}/remove", {}),
        ("/dashboard/members/invite", {"email": "sneaky@b.example", "role": "admin"}),
    ]:
        answer = page.request.post(path, form={security.CSRF_FIELD: token, **form}, max_redirects=0)
        assert answer.status == 403, path
        assert "does not allow this" in answer.text()
    assert dash.server.snapshot() == before
    assert dash.mailbox.sent_to("sneaky@b.example") == []


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(page, dash):
    sign_in(page, _admin_with_password(dash))
    page.goto("/dashboard/members")
    browser_token = _csrf(page)
    tampered = browser_token[:-1] + ("1" if browser_token[-1] == "0" else "0")
    before = dash.server.snapshot()
    forms: list[dict[str, str]] = [
        {"email": "csrf@b.example", "role": "admin"},
        {"email": "csrf@b.example", "role": "admin", security.CSRF_FIELD: ""},
        {"email": "csrf@b.example", "role": "admin", security.CSRF_FIELD: tampered},
        # a well-formed token of another session is not this session's
        {"email": "csrf@b.example", "role": "admin", security.CSRF_FIELD: security.csrf_token("x")},
    ]
    for form in forms:
        answer = page.request.post("/dashboard/members/invite", form=form, max_redirects=0)
        assert answer.status == 403
        assert "security token" in answer.text()
    answer = page.request.post("/dashboard/sign-out", form={}, max_redirects=0)
    assert answer.status == 403
    assert dash.server.snapshot() == before
    # The same form with the token goes through.
    answer = page.request.post(
        "/dashboard/members/invite",
        form={"email": "csrf@b.example", "role": "no_access", security.CSRF_FIELD: browser_token},
        max_redirects=0,
    )
    assert answer.status == 303
    assert "csrf@b.example" in dash.members()


def test_a_sign_in_post_without_the_pre_session_token_is_refused(dash):
    _admin_with_password(dash)
    before = dash.server.snapshot()
    with httpx.Client(base_url=dash.server.url) as client:
        answer = client.post("/dashboard/sign-in", data={"email": ADMIN, "password": STRONG})
        assert answer.status_code == 403
        assert security.SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert dash.server.snapshot() == before


def test_over_tls_the_session_cookie_is_secure(tmp_path):
    with dashboard_server(tmp_path, tls_dir=tmp_path) as secure:
        assert secure.server.tls_cert is not None
        secure.http.close()
        trusted = ssl.create_default_context(cafile=str(secure.server.tls_cert))
        secure.http = httpx.Client(base_url=secure.server.url, verify=trusted)
        secure.ok("POST", "/pwa/v3/auth/password/set", {"password": STRONG}, token=secure.admin)
        assert secure.server.tls_cert is not None
        with httpx.Client(base_url=secure.server.url, verify=trusted) as client:
            form = client.get("/dashboard/sign-in")
            assert "Secure" in form.headers["set-cookie"]
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token
            signed_in = client.post(
                "/dashboard/sign-in",
                data={"email": ADMIN, "password": STRONG, "csrf_token": token.group(1)},
            )
            assert signed_in.status_code == 303
            cookies = signed_in.headers.get_list("set-cookie")
            session = next(c for c in cookies if c.startswith(security.SESSION_COOKIE + "="))
            flags = {part.strip().lower() for part in session.split(";")[1:]}
            assert {"httponly", "secure", "samesite=lax", "path=/dashboard"} <= flags
