"""The workspace administration pages in a real browser: email-domain rules (a colleague at the
domain then joins by emailed link with its automatic role), management keys (the secret shown once,
working against the Management API until revoked), workspace settings and billing. What each of the
five roles sees follows the matrix; forged posts from roles without the permission are refused with
403 and change nothing. Controls are found by their visible labels, as a person finds them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gatehouse.dashboard import security, web
from gatehouse.policy import dashboard as matrix
from tests.dashboard.browser import test_pages
from tests.dashboard.browser.test_pages import (
    _LINK,
    _admin_with_password,
    _csrf,
    _flash,
    _person,
    _shot,
    sign_in,
)
from tests.dashboard.test_sign_in import ADMIN, Dashboard

pytestmark = pytest.mark.timeout(180)

page = test_pages.page  # the fixture: a fresh browser context that fails on console errors
ROLES = ("admin", "developer", "support_manager", "support_agent", "no_access")


def _admin_actor(dash: Dashboard) -> str:
    return f"workspace_member:{dash.members()[ADMIN]['member_id']}"


def _management_api(key_id: str, secret: str, path: str, dash: Dashboard) -> httpx.Response:
    """A Management API call authenticated with a management key (HTTP basic auth)."""
    pair = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    return dash.http.get(path, headers={"authorization": f"Basic {pair}"})


def _rules(dash: Dashboard) -> dict[str, dict[str, Any]]:
    listed = dash.ok("GET", "/pwa/v3/workspace/domains", token=dash.admin)["domains"]
    return {rule["domain"]: rule for rule in listed}


@pytest.fixture
def a_rule(dash: Dashboard) -> Iterator[str]:
    """A domain rule nobody in the workspace has an address at, removed afterwards."""
    dash.put_domain("rule.example", True, "support_manager")
    try:
        yield "rule.example"
    finally:
        if "rule.example" in _rules(dash):
            dash.ok("DELETE", "/pwa/v3/workspace/domains/rule.example", token=dash.admin)


@pytest.fixture
def a_key(dash: Dashboard) -> dict[str, Any]:
    """A management key made through the Management API by the Admin."""
    body = {"role": "support_agent", "name": "monitoring"}
    return dict(dash.ok("POST", "/pwa/v3/workspace/keys", body, token=dash.admin)["key"])


# -- what each role sees -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_workspace_pages_and_controls_its_matrix_row_allows(
    page, dash, role, a_rule, a_key, screenshots
):
    sign_in(page, _person(dash, role))
    nav = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert nav == [
        label
        for label, _, permission in web.NAV
        if permission is None or matrix.allows(role, permission)
    ]
    manages_people = matrix.allows(role, "workspace.members.manage")
    renames = matrix.allows(role, "workspace.settings.manage")
    bills = matrix.allows(role, "workspace.billing.manage")
    assert manages_people == renames == bills == (role == "admin")
    assert ("Email domains" in nav, "Workspace settings" in nav) == (True, True)
    assert ("Management keys" in nav, "Billing" in nav) == (manages_people, bills)

    # Email domains: everyone sees the rules and what they mean; only Admins change them.
    page.get_by_role("link", name="Email domains").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Email domains"
    row = page.locator("tr", has_text="@rule.example")
    assert row.locator("td").nth(2).inner_text() == "Support Manager"
    assert row.locator("td").nth(3).inner_text() == (
        "People who sign in with a verified address at @rule.example join without an "
        "invitation, as Support Manager. Members already in the workspace with a verified "
        "address there have at least Support Manager."
    )
    expect = 1 if manages_people else 0
    assert page.get_by_role("button", name="Add domain rule").count() == expect
    assert page.get_by_label("Domain", exact=True).count() == expect
    assert row.get_by_role("link", name="Change…").count() == expect
    assert row.get_by_role("link", name="Remove…").count() == expect
    _shot(page, screenshots, f"domains-{role}")

    # Management keys: Admins only (a key is a way into the workspace).
    answer = page.goto("/dashboard/keys")
    assert answer is not None and answer.status == (200 if manages_people else 403)
    if manages_people:
        assert page.locator("tr", has_text=a_key["key_id"]).count() == 1
        assert page.get_by_role("button", name="Create key").count() == 1
        _shot(page, screenshots, f"keys-{role}")
    else:
        assert "does not allow this (Manage Workspace Members" in page.inner_text("main")
        assert a_key["key_id"] not in page.content()

    # Settings: everyone reads them; only Admins change them.
    page.goto("/dashboard/settings")
    assert page.get_by_role("heading", level=1).inner_text() == "Workspace settings"
    facts = page.locator("dl.facts").inner_text()
    assert "Tests" in facts
    assert page.get_by_role("button", name="Save settings").count() == (1 if renames else 0)
    assert page.get_by_label("Workspace name").count() == (1 if renames else 0)
    if not renames:
        assert "Only Admins change the workspace's settings." in page.inner_text("main")
    _shot(page, screenshots, f"settings-{role}")

    # Billing: Admins only, to see and to change.
    answer = page.goto("/dashboard/billing")
    assert answer is not None and answer.status == (200 if bills else 403)
    if bills:
        assert page.get_by_role("button", name="Save billing").count() == 1
        _shot(page, screenshots, f"billing-{role}")
    else:
        assert "does not allow this (Manage Workspace Billing)" in page.inner_text("main")


def test_the_domains_page_says_what_to_do_when_there_are_none(page, dash, screenshots):
    for domain in _rules(dash):
        dash.ok("DELETE", f"/pwa/v3/workspace/domains/{domain}", token=dash.admin)
    sign_in(page, _admin_with_password(dash))
    page.goto("/dashboard/domains")
    empty = page.locator(".empty").inner_text()
    assert "No email domains yet." in empty
    assert "so colleagues at your company can join without an invitation" in empty
    assert page.locator("table.domains").count() == 0
    _shot(page, screenshots, "domains-empty")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, _person(dash, "support_agent"))
    page.goto("/dashboard/domains")
    assert "An Admin can add one" in page.locator(".empty").inner_text()


# -- email domains -------------------------------------------------------------------------------


def test_an_admin_adds_a_domain_rule_and_a_colleague_there_joins_with_its_automatic_role(
    page, browser, dash, screenshots
):
    sign_in(page, _admin_with_password(dash))
    page.get_by_role("link", name="Email domains").click()
    page.get_by_label("Domain", exact=True).fill("@Join.example")
    jit = page.get_by_label("Let people at this domain join without an invitation")
    assert jit.is_checked()
    page.get_by_label("Automatic role").select_option(label="Developer")
    page.get_by_role("button", name="Add domain rule").click()
    assert (
        "Added the rule for join.example. People who sign in with a verified address at "
        "@join.example join without an invitation, as Developer." in _flash(page)
    )
    row = page.locator("tr", has_text="@join.example")
    assert row.locator("td").all_inner_texts()[:3] == ["@join.example", "Allowed", "Developer"]
    assert row.locator("td").nth(4).inner_text() == "0"  # nobody there yet
    _shot(page, screenshots, "domains")
    assert _rules(dash)["join.example"] == {
        "domain": "join.example",
        "jit_enabled": True,
        "auto_role": "developer",
    }

    # A colleague at the domain, never invited, asks for a sign-in link in their own browser.
    colleague = browser.new_context(base_url=dash.server.url)
    try:
        theirs = colleague.new_page()
        theirs.goto("/dashboard/sign-in")
        theirs.get_by_label("Email").fill("kim@join.example")
        theirs.get_by_role("button", name="Email me a sign-in link").click()
        link = _LINK.search(dash.mailbox.take("kim@join.example").get_content())
        assert link
        theirs.goto(link.group(0))
        theirs.get_by_role("button", name="Continue").click()
        assert theirs.locator("header .role-badge").inner_text() == "Developer"
        assert "with the Developer role" in _flash(theirs)

        page.goto("/dashboard/members")
        kim = page.locator("tr", has_text="kim@join.example")
        assert kim.locator("td").nth(2).inner_text() == "Developer"
        assert kim.locator("td").nth(3).inner_text() == "Automatic role of the email domain"

        # The Admin changes the rule: the colleague's role follows at once.
        page.goto("/dashboard/domains")
        assert page.locator("tr", has_text="@join.example").locator("td").nth(4).inner_text() == "1"
        page.locator("tr", has_text="@join.example").get_by_role("link", name="Change…").click()
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Change the rule for @join.example"
        )
        assert page.get_by_label("Automatic role").input_value() == "developer"
        page.get_by_label("Automatic role").select_option(label="Support Manager")
        page.get_by_label("Let people at this domain join without an invitation").uncheck()
        _shot(page, screenshots, "domain-edit")
        page.get_by_role("button", name="Save rule").click()
        assert "Changed the rule for join.example. Nobody joins without an invitation" in _flash(
            page
        )
        row = page.locator("tr", has_text="@join.example")
        assert row.locator("td").all_inner_texts()[:3] == [
            "@join.example",
            "Invitation only",
            "Support Manager",
        ]
        theirs.reload()
        assert theirs.locator("header .role-badge").inner_text() == "Support Manager"

        # Removing the rule asks first; then the colleague is back to the JIT default.
        page.locator("tr", has_text="@join.example").get_by_role("link", name="Remove…").click()
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Remove the rule for @join.example?"
        )
        _shot(page, screenshots, "domain-remove")
        page.get_by_role("link", name="Cancel").click()
        assert "join.example" in _rules(dash)
        page.locator("tr", has_text="@join.example").get_by_role("link", name="Remove…").click()
        page.get_by_role("button", name="Remove domain rule").click()
        assert "Removed the rule for join.example." in _flash(page)
        assert page.locator("tr", has_text="@join.example").count() == 0
        assert "join.example" not in _rules(dash)
        theirs.reload()
        assert theirs.locator("header .role-badge").inner_text() == "Support Agent"
    finally:
        colleague.close()

    logged = [
        (e["actor"], e["actor_role"], e["action"], e["changes"])
        for e in dash.events()
        if e["target"] == "join.example"
    ]
    admin = _admin_actor(dash)
    assert logged == [
        (
            admin,
            "admin",
            "workspace_domain.put",
            {"jit_enabled": True, "auto_role": "developer"},
        ),
        (
            admin,
            "admin",
            "workspace_domain.put",
            {"jit_enabled": False, "auto_role": "support_manager"},
        ),
        (admin, "admin", "workspace_domain.delete", {}),
    ]


def test_a_bad_domain_is_refused_with_a_clear_error_and_changes_nothing(page, dash):
    sign_in(page, _admin_with_password(dash))
    page.goto("/dashboard/domains")
    before = dash.server.snapshot()
    page.get_by_label("Domain", exact=True).fill("not a domain")
    page.get_by_role("button", name="Add domain rule").click()
    assert "“not a domain” is not an email domain; enter one such as example.com." in _flash(page)
    # A role that is not one of the five (a forged form) is refused by the service.
    answer = page.request.post(
        "/dashboard/domains",
        form={"domain": "ok.example", "auto_role": "owner", security.CSRF_FIELD: _csrf(page)},
    )
    assert answer.status == 200 and "is not a dashboard role" in answer.text()
    assert dash.server.snapshot() == before


# -- management keys -----------------------------------------------------------------------------


def test_an_admin_creates_a_key_sees_its_secret_once_uses_it_and_revokes_it(
    page, dash, screenshots
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, _admin_with_password(dash))
    page.get_by_role("link", name="Management keys").click()
    page.get_by_label("Name", exact=True).fill("CI deploys")
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_role("button", name="Create key").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Management key created"
    key_id = page.get_by_label("Key ID").input_value()
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert key_id.startswith("workspace-key-") and secret.startswith("workspace-secret-")
    assert not page.get_by_label("Secret", exact=True).is_editable()  # readonly
    page.get_by_role("button", name="Copy secret").click()
    page.get_by_role("button", name="Copied").wait_for()  # the clipboard answers asynchronously
    assert page.get_by_role("status").filter(has_text="Copied to the clipboard.").count() == 1
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _shot(page, screenshots, "key-created")

    # The key works against the Management API, with the role it was given.
    projects = _management_api(key_id, secret, "/pwa/v3/projects", dash)
    assert projects.status_code == 200, projects.text
    assert [p["name"] for p in projects.json()["projects"]] == ["Test project"]
    refused = _management_api(key_id, secret, "/pwa/v3/workspace/keys", dash)
    assert (refused.status_code, refused.json()["error_type"]) == (403, "forbidden")

    # The secret is never shown again.
    page.get_by_role("link", name="Done").click()
    row = page.locator("tr", has_text=key_id)
    assert row.locator("td").all_inner_texts()[1:4] == [
        "CI deploys",
        "Developer",
        "…" + secret[-4:],
    ]
    assert secret not in page.content()

    # Revoking asks first.
    row.get_by_role("link", name="Revoke…").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Revoke CI deploys?"
    _shot(page, screenshots, "key-revoke")
    page.get_by_role("link", name="Cancel").click()
    assert _management_api(key_id, secret, "/pwa/v3/projects", dash).status_code == 200
    page.locator("tr", has_text=key_id).get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke key").click()
    assert f"Revoked {key_id}. Requests made with it are refused from now on." in _flash(page)
    assert page.locator("table.keys.revoked tr", has_text=key_id).count() == 1
    assert page.locator("table.keys:not(.revoked) tr", has_text=key_id).count() == 0
    _shot(page, screenshots, "keys")
    gone = _management_api(key_id, secret, "/pwa/v3/projects", dash)
    assert (gone.status_code, gone.json()["error_type"]) == (401, "unauthorized_credentials")
    # Its revocation page now only says so.
    page.goto(f"/dashboard/keys/{key_id}/revoke")
    assert f"{key_id} is already revoked." in _flash(page)

    logged = [
        (e["actor"], e["actor_role"], e["action"], e["changes"])
        for e in dash.events()
        if e["target"] == key_id
    ]
    admin = _admin_actor(dash)
    assert logged == [
        (admin, "admin", "workspace_key.create", {"role": "developer", "name": "CI deploys"}),
        (admin, "admin", "workspace_key.revoke", {}),
    ]


def test_without_javascript_the_secret_is_still_there_to_copy(browser, dash, screenshots):
    context = browser.new_context(base_url=dash.server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, _admin_with_password(dash))
        page.goto("/dashboard/keys")
        page.get_by_label("Name", exact=True).fill("<b>nightly</b> export")
        page.get_by_label("Role", exact=True).select_option(label="No Access")
        page.get_by_role("button", name="Create key").click()
        secret = page.get_by_label("Secret", exact=True).input_value()
        assert secret.startswith("workspace-secret-")
        assert page.get_by_role("button", name="Copy secret").count() == 0  # hidden: no script
        # The name is shown as typed, never as markup.
        assert "(<b>nightly</b> export)" in page.get_by_role("status").first.inner_text()
        _shot(page, screenshots, "key-created-without-javascript")
        key_id = page.get_by_label("Key ID").input_value()
        me = _management_api(key_id, secret, "/pwa/v3/workspace/members", dash)
        assert me.status_code == 200  # No Access still views workspace members
    finally:
        context.close()


# -- settings and billing ------------------------------------------------------------------------


def test_an_admin_renames_the_workspace_and_changes_billing(page, dash, screenshots):
    sign_in(page, _admin_with_password(dash))
    try:
        page.get_by_role("link", name="Workspace settings").click()
        page.get_by_label("Workspace name").fill("Acme Corp")
        page.get_by_role("button", name="Save settings").click()
        assert "The workspace is now called Acme Corp." in _flash(page)
        assert page.locator("header .workspace").inner_text() == "Acme Corp"
        assert "Acme Corp" in page.locator("dl.facts").inner_text()
        _shot(page, screenshots, "settings")
        settings = dash.ok("GET", "/pwa/v3/workspace", token=dash.admin)["workspace"]
        assert settings["name"] == "Acme Corp"
        event = dash.events()[-1]
        assert (event["actor"], event["actor_role"], event["action"], event["changes"]) == (
            _admin_actor(dash),
            "admin",
            "workspace.update",
            {"name": "Acme Corp"},
        )
    finally:
        dash.ok("PATCH", "/pwa/v3/workspace", {"name": "Tests"}, token=dash.admin)

    page.get_by_role("link", name="Billing").click()
    assert page.locator("dl.facts").inner_text().split("\n") == [
        "Plan",
        "Free",
        "Invoices go to",
        "Nobody yet",
    ]
    page.get_by_label("Plan").select_option(label="Pro")
    page.get_by_label("Billing email").fill("invoices@acme.example")
    page.get_by_role("button", name="Save billing").click()
    assert "Saved: the Pro plan, invoices to invoices@acme.example." in _flash(page)
    assert "invoices@acme.example" in page.locator("dl.facts").inner_text()
    assert page.get_by_label("Plan").input_value() == "pro"
    _shot(page, screenshots, "billing")
    billing = dash.ok("GET", "/pwa/v3/workspace/billing", token=dash.admin)["billing"]
    assert billing == {"plan": "pro", "billing_email": "invoices@acme.example"}
    event = dash.events()[-1]
    assert (event["actor"], event["actor_role"], event["action"], event["changes"]) == (
        _admin_actor(dash),
        "admin",
        "workspace.billing_update",
        {"plan": "pro", "billing_email": "invoices@acme.example"},
    )

    # Saving without a change writes nothing; a bad address or plan is refused, changing nothing.
    before = dash.server.snapshot()
    page.get_by_role("button", name="Save billing").click()
    assert "Nothing changed." in _flash(page)
    token = _csrf(page)
    for form, error in [
        (
            {"plan": "pro", "billing_email": "not-an-email"},
            "The billing email not-an-email is not an email address.",
        ),
        ({"plan": "pro", "billing_email": ""}, "Enter the email address that receives invoices"),
        (
            {"plan": "gold", "billing_email": "invoices@acme.example"},
            "The plan gold is not one of free, pro, enterprise.",
        ),
    ]:
        answer = page.request.post("/dashboard/billing", form={**form, security.CSRF_FIELD: token})
        assert answer.url.endswith("/dashboard/billing") and error in answer.text(), form
    page.goto("/dashboard/settings")
    page.get_by_label("Workspace name").fill("   ")
    page.get_by_role("button", name="Save settings").click()
    assert "Give the workspace a name (up to 256 characters)." in _flash(page)
    assert dash.server.snapshot() == before


# -- the server enforces ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES[1:])
def test_forged_posts_from_a_role_without_the_permission_are_refused_and_change_nothing(
    page, dash, role, a_rule, a_key
):
    sign_in(page, _person(dash, role))
    page.goto("/dashboard/settings")  # a page every role may open
    token = _csrf(page)  # a valid one, from the person's own page
    before = dash.server.snapshot()
    for path, form in [
        ("/dashboard/domains", {"domain": "sneaky.example", "jit_enabled": "on"}),
        ("/dashboard/domains", {"domain": a_rule, "auto_role": "admin", "jit_enabled": "on"}),
        (f"/dashboard/domains/{a_rule}/remove", {}),
        ("/dashboard/keys", {"name": "mine now", "role": "admin"}),
        (f"/dashboard/keys/{a_key['key_id']}/revoke", {}),
        ("/dashboard/settings", {"name": "Taken over"}),
        ("/dashboard/billing", {"plan": "enterprise", "billing_email": "me@b.example"}),
    ]:
        answer = page.request.post(path, form={security.CSRF_FIELD: token, **form}, max_redirects=0)
        assert answer.status == 403, (role, path)
        assert "does not allow this" in answer.text(), (role, path)
        assert "workspace-secret-" not in answer.text()
    for path in (f"/dashboard/domains/{a_rule}/edit", f"/dashboard/domains/{a_rule}/remove"):
        assert page.request.get(path, max_redirects=0).status == 403, (role, path)
    assert dash.server.snapshot() == before
