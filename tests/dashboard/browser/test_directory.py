"""The directory in a real browser (an environment's "Organizations" tab): searching and paging
organizations and members, editing them, each member's roles with their sources, and the support
actions: a password reset through the real SMTP mailbox, revoking sessions (the official SDK then
refuses the member's token), reactivating, and impersonating where the environment allows it.
Controls a role does not hold are absent, and forged posts to them are refused with 403 and
change nothing. Organizations and members are made through the official `stytch` SDK."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gatehouse.dashboard import security
from gatehouse.policy import dashboard as matrix
from tests.dashboard.browser import test_pages
from tests.dashboard.browser.test_pages import _csrf, _flash, _person, _shot, sign_in
from tests.dashboard.test_sign_in import Dashboard
from tests.sdk.support import PROJECT_POLICY, install_policy, new_org, stytch_error, unique
from tests.sdk.support import sign_in as member_signs_in

pytestmark = pytest.mark.timeout(240)

page = test_pages.page  # the browser page fixture (fails a test on any console error)

REDIRECT = "https://app.example.test/reset?from=support"
NEW_PASSWORD = "quartz-Meadow-91-lantern-owl"


@pytest.fixture(scope="module")
def client(dash: Dashboard) -> Any:
    return dash.server.b2b_client()


def directory(dash: Dashboard, environment: str = "test") -> str:
    return (
        f"/dashboard/projects/{dash.server.project_slug}/environments/{environment}/organizations"
    )


def member_url(dash: Dashboard, org_id: str, member_id: str) -> str:
    return f"{directory(dash)}/{org_id}/members/{member_id}"


def set_impersonation(dash: Dashboard, on: bool) -> None:
    path = f"/pwa/v3/projects/{dash.server.project_slug}/environments/test"
    body = dash.ok("PATCH", path, {"user_impersonation_enabled": on}, token=dash.admin)
    assert body["environment"]["user_impersonation_enabled"] is on


def column(page: Any, index: int) -> list[str]:
    return [
        str(t) for t in page.locator(f"main table tbody tr td:nth-child({index})").all_inner_texts()
    ]


def every_page(page: Any, index: int) -> list[str]:
    """Column `index` of the list on this page and every page after it ("Next page")."""
    seen = column(page, index)
    while page.get_by_role("link", name="Next page »").count():
        page.get_by_role("link", name="Next page »").click()
        assert page.get_by_role("link", name="« First page").count() == 1
        seen += column(page, index)
    return seen


def role_sources(page: Any) -> dict[str, list[str]]:
    rows = page.locator("table.roles-of-member tbody tr")
    return {
        rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i)
        .locator(".tag.source")
        .all_inner_texts()
        for i in range(rows.count())
    }


def environment_events(dash: Dashboard, action: str, target: str) -> list[dict[str, Any]]:
    store = dash.server.store
    with store.read() as tx:
        return list(store.query_events(tx, dash.server.project_id, action=action, target=target))


def actor(dash: Dashboard, role: str) -> str:
    return f"workspace_member:{dash.members()[_person(dash, role)]['member_id']}"


@pytest.fixture
def signed_in_member(client: Any) -> Iterator[tuple[Any, Any]]:
    """(organization, passwords.authenticate response) of a fresh member signed in by password."""
    org = new_org(client)
    yield org, member_signs_in(client, org.organization_id, f"{unique('m')}@members.example")


# -- organizations and members: search and pages ---------------------------------------------------


def test_an_empty_environment_says_how_to_make_an_organization(page, dash, screenshots):
    sign_in(page, _person(dash, "support_agent"))
    page.goto(directory(dash, "live"))
    assert page.get_by_role("link", name="Organizations").get_attribute("aria-current") == "page"
    empty = page.locator(".empty").inner_text()
    assert "No organizations yet: create one with the B2B API" in empty
    assert "client.organizations.create(" in empty
    _shot(page, screenshots, "directory-empty")


def test_organizations_are_searched_by_name_and_slug_and_paged(page, dash, client, screenshots):
    tag = unique("paging")
    made = {
        client.organizations.create(
            organization_name=f"Paging {tag} {i:02}", organization_slug=f"{tag}-slug-{i:02}"
        ).organization.organization_name
        for i in range(30)
    }
    sign_in(page, _person(dash, "support_agent"))
    page.goto(directory(dash))
    page.get_by_label("Name contains").fill(f"paging {tag.upper()}")  # any case, any part
    page.get_by_role("button", name="Search").click()
    assert page.get_by_label("Name contains").input_value() == f"paging {tag.upper()}"
    assert len(column(page, 1)) == 25  # the default page size
    _shot(page, screenshots, "directory-organizations")
    names = every_page(page, 1)
    assert sorted(names) == sorted(made)  # every one once, in creation order across pages
    assert names == sorted(names)
    _shot(page, screenshots, "directory-organizations-page-2")
    page.get_by_role("link", name="« First page").click()
    assert column(page, 1) == names[:25]

    # A smaller page size keeps the search across pages.
    page.goto(f"{directory(dash)}?name={tag}&limit=7")
    assert every_page(page, 1) == names

    page.goto(directory(dash))
    page.get_by_label("Slug contains").fill(f"{tag}-slug-07")
    page.get_by_role("button", name="Search").click()
    assert column(page, 1) == [f"Paging {tag} 07"]
    assert page.get_by_role("link", name="Next page »").count() == 0

    page.get_by_label("Slug contains").fill("no-such-organization-anywhere")
    page.get_by_role("button", name="Search").click()
    assert "No organization matches this search." in page.locator(".empty").inner_text()
    _shot(page, screenshots, "directory-no-match")
    page.get_by_role("link", name="Clear search").click()
    assert len(column(page, 1)) == 25


def test_members_are_searched_by_email_and_paged(page, dash, client, screenshots):
    org = new_org(client)
    tag = unique("pager")
    for i in range(30):
        client.organizations.members.create(
            organization_id=org.organization_id,
            email_address=f"{tag}-{i:02}@members.example",
            name=f"Member {i}",
        )
    client.organizations.members.create(
        organization_id=org.organization_id, email_address="someone-else@members.example"
    )
    sign_in(page, _person(dash, "support_agent"))
    page.goto(directory(dash))
    page.get_by_label("Slug contains").fill(org.organization_slug)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=org.organization_name).click()
    assert org.organization_slug in page.locator("dl.facts").inner_text()
    assert len(column(page, 1)) == 25
    _shot(page, screenshots, "directory-organization-agent")
    assert len(every_page(page, 1)) == 31

    page.goto(f"{directory(dash)}/{org.organization_id}")
    page.get_by_label("Email contains").fill(tag.upper())
    page.get_by_role("button", name="Search members").click()
    emails = every_page(page, 1)
    assert sorted(emails) == [f"{tag}-{i:02}@members.example" for i in range(30)]
    page.goto(f"{directory(dash)}/{org.organization_id}?email={tag}-1&limit=4")
    assert every_page(page, 1) == [f"{tag}-1{i}@members.example" for i in range(10)]


# -- what a Support Agent may and may not do ---------------------------------------------------------


def test_a_support_agent_revokes_a_members_sessions(
    page, dash, client, signed_in_member, screenshots
):
    org, signed_in = signed_in_member
    member = signed_in.member
    assert client.sessions.authenticate(session_token=signed_in.session_token).member_session
    sign_in(page, _person(dash, "support_agent"))
    page.goto(member_url(dash, org.organization_id, member.member_id))
    assert page.get_by_role("heading", name=member.email_address).count() == 1
    assert role_sources(page) == {"stytch_member": ["Direct assignment (every member holds it)"]}
    _shot(page, screenshots, "directory-member-agent")
    page.get_by_role("link", name="Revoke sessions…").click()
    assert page.get_by_role("heading", name=f"Revoke every session of {member.email_address}?")
    _shot(page, screenshots, "directory-confirm-revoke")
    page.get_by_role("link", name="Cancel").click()
    assert client.sessions.authenticate(session_token=signed_in.session_token).member_session

    page.get_by_role("link", name="Revoke sessions…").click()
    page.get_by_role("button", name="Revoke sessions").click()
    assert f"Revoked every session of {member.email_address}" in _flash(page)
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_jwt=signed_in.session_jwt)
    (event,) = environment_events(dash, "session.revoke", member.member_id)
    assert (event["actor"], event["actor_role"]) == (actor(dash, "support_agent"), "support_agent")


def test_a_support_agent_has_no_edit_controls_and_a_forged_edit_is_refused(
    page, dash, client, signed_in_member
):
    org, signed_in = signed_in_member
    member = signed_in.member
    sign_in(page, _person(dash, "support_agent"))
    page.goto(f"{directory(dash)}/{org.organization_id}")
    assert page.get_by_role("button", name="Save organization").count() == 0
    assert page.get_by_label("Organization name").count() == 0
    page.goto(member_url(dash, org.organization_id, member.member_id))
    assert page.get_by_role("button", name="Save member").count() == 0
    assert page.get_by_label("Name", exact=True).count() == 0
    assert page.get_by_role("link", name="Impersonate…").count() == 0  # no impersonation.use
    token = _csrf(page)  # a valid one, from the agent's own page
    before = dash.server.snapshot()
    for path, form in [
        (
            member_url(dash, org.organization_id, member.member_id),
            {"name": "Forged", "role:stytch_admin": "on"},
        ),
        (f"{directory(dash)}/{org.organization_id}", {"name": "Forged", "slug": "forged-slug"}),
        (member_url(dash, org.organization_id, member.member_id) + "/impersonate", {}),
    ]:
        answer = page.request.post(path, form={security.CSRF_FIELD: token, **form}, max_redirects=0)
        assert answer.status == 403, path
        assert "does not allow this" in answer.text()
    assert dash.server.snapshot() == before
    fetched = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    ).member
    assert (fetched.name, [r.role_id for r in fetched.roles]) == ("", ["stytch_member"])


def test_a_password_reset_email_arrives_and_resets_the_password(
    page, dash, client, signed_in_member
):
    org, signed_in = signed_in_member
    member = signed_in.member
    sign_in(page, _person(dash, "support_agent"))
    page.goto(member_url(dash, org.organization_id, member.member_id))
    page.get_by_label("Your app's reset page").fill(REDIRECT)
    page.get_by_role("button", name="Send password reset").click()
    assert f"Sent a password reset link to {member.email_address}" in _flash(page)
    message = dash.mailbox.take(member.email_address)
    assert org.organization_name in message["Subject"]
    link = re.search(r"https://app\.example\.test/reset\?\S+", message.get_content())
    assert link, message.get_content()
    query = parse_qs(urlsplit(link.group(0)).query)
    assert query["from"] == ["support"] and query["slug"] == [org.organization_slug]
    reset = client.passwords.email.reset(
        password_reset_token=query["token"][0], password=NEW_PASSWORD
    )
    assert reset.member_id == member.member_id
    with stytch_error(404, "session_not_found"):  # a reset ends the older sessions
        client.sessions.authenticate(session_token=signed_in.session_token)


def test_a_bad_reset_page_is_refused_and_sends_nothing(page, dash, signed_in_member):
    org, signed_in = signed_in_member
    sign_in(page, _person(dash, "support_agent"))
    page.goto(member_url(dash, org.organization_id, signed_in.member.member_id))
    before = dash.server.snapshot()
    page.get_by_label("Your app's reset page").fill("")  # the environment has none set
    page.get_by_role("button", name="Send password reset").click()
    assert "reset_password_redirect_url" in _flash(page)
    assert dash.server.snapshot() == before
    assert dash.mailbox.sent_to(signed_in.member.email_address) == []


def test_a_support_agent_reactivates_a_deleted_member(
    page, dash, client, signed_in_member, screenshots
):
    org, signed_in = signed_in_member
    member = signed_in.member
    client.organizations.members.delete(org.organization_id, member.member_id)
    sign_in(page, _person(dash, "support_agent"))
    page.goto(f"{directory(dash)}/{org.organization_id}")
    assert member.email_address not in column(page, 1)  # deleted members are listed on demand
    page.get_by_label("Status").select_option(label="Deleted")
    page.get_by_role("button", name="Search members").click()
    page.get_by_role("link", name=member.email_address).click()
    assert page.locator("h2.title .tag").inner_text() == "Deleted"
    assert page.get_by_role("link", name="Revoke sessions…").count() == 0
    _shot(page, screenshots, "directory-member-deleted")
    page.get_by_role("button", name="Reactivate").click()
    assert f"Reactivated {member.email_address}." in _flash(page)
    assert page.locator("h2.title .tag").inner_text() == "Active"
    assert page.get_by_role("button", name="Reactivate").count() == 0
    fetched = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert fetched.member.status == "active"


# -- a Support Manager edits -------------------------------------------------------------------------


def test_a_support_manager_edits_an_organization_and_bad_input_changes_nothing(
    page, dash, client, screenshots
):
    org = new_org(client)
    sign_in(page, _person(dash, "support_manager"))
    page.goto(f"{directory(dash)}/{org.organization_id}")
    _shot(page, screenshots, "directory-organization-manager")
    before = dash.server.snapshot()
    page.get_by_label("Organization slug").fill("x")
    page.get_by_label("Allowed email domains (comma-separated)").fill("good.example, not a domain")
    page.get_by_label('Roles by email domain (one "domain role_id" a line)').fill("just-one-word")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save organization").click()
    assert answer.value.status == 400
    assert "Nothing was saved" in page.get_by_role("alert").inner_text()
    assert "2 to 128 characters" in page.locator("#slug-error").inner_text()
    assert (
        "Not an email domain: not, a, domain" in page.locator("#allowed_domains-error").inner_text()
    )
    assert "Line 1" in page.locator("#implicit_roles-error").inner_text()
    assert page.get_by_label("Organization slug").input_value() == "x"  # kept for fixing
    _shot(page, screenshots, "directory-organization-errors")
    assert dash.server.snapshot() == before

    renamed = unique("Renamed")
    page.get_by_label("Organization name").fill(renamed)
    page.get_by_label("Organization slug").fill(renamed.lower())
    page.get_by_label("Allowed email domains (comma-separated)").fill("good.example")
    page.get_by_label('Roles by email domain (one "domain role_id" a line)').fill("")
    page.get_by_label("MFA policy").select_option(label="Required for every member")
    page.get_by_role("button", name="Save organization").click()
    assert f"Saved the organization {renamed}." in _flash(page)
    fetched = client.organizations.get(organization_id=org.organization_id).organization
    assert (fetched.organization_name, fetched.organization_slug) == (renamed, renamed.lower())
    assert fetched.email_allowed_domains == ["good.example"]
    assert fetched.mfa_policy == "REQUIRED_FOR_ALL"
    (event,) = environment_events(dash, "organization.update", org.organization_id)
    assert event["actor_role"] == "support_manager"
    assert event["changes"]["organization_name"] == renamed


def test_a_support_manager_edits_a_members_roles_and_sees_their_sources(
    page, dash, client, screenshots
):
    install_policy(dash.server, PROJECT_POLICY)  # roles editor and viewer
    org = new_org(client)
    address = f"{unique('m')}@roles.example"
    member = client.organizations.members.create(
        organization_id=org.organization_id, email_address=address
    ).member
    sign_in(page, _person(dash, "support_manager"))
    page.goto(member_url(dash, org.organization_id, member.member_id))
    _shot(page, screenshots, "directory-member-manager")
    page.get_by_label("Name", exact=True).fill("Rosa Roles")
    page.get_by_label("editor").check()
    page.get_by_role("button", name="Save member").click()
    assert f"Saved the member {address}." in _flash(page)
    assert role_sources(page) == {
        "stytch_member": ["Direct assignment (every member holds it)"],
        "editor": ["Direct assignment"],
    }
    assert page.get_by_label("editor").is_checked()
    fetched = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    ).member
    assert fetched.name == "Rosa Roles"
    assert {r.role_id: [s.type for s in r.sources] for r in fetched.roles} == {
        "stytch_member": ["direct_assignment"],
        "editor": ["direct_assignment"],
    }

    # A role from the organization's email-domain rule shows that source.
    page.goto(f"{directory(dash)}/{org.organization_id}")
    page.get_by_label('Roles by email domain (one "domain role_id" a line)').fill(
        "roles.example editor\nroles.example viewer"
    )
    page.get_by_role("button", name="Save organization").click()
    assert "Saved the organization" in _flash(page)
    page.goto(member_url(dash, org.organization_id, member.member_id))
    assert role_sources(page) == {
        "stytch_member": ["Direct assignment (every member holds it)"],
        "editor": ["Direct assignment", "Email domain (roles.example)"],
        "viewer": ["Email domain (roles.example)"],
    }
    _shot(page, screenshots, "directory-member-sources")

    # An unknown role is refused by the service and changes nothing.
    token = _csrf(page)
    before = dash.server.snapshot()
    answer = page.request.post(
        member_url(dash, org.organization_id, member.member_id),
        form={security.CSRF_FIELD: token, "name": "Rosa Roles", "role:no-such-role": "on"},
    )
    assert answer.ok  # back on the member page, with the error flashed
    assert "no-such-role" in answer.text()
    assert dash.server.snapshot() == before


# -- impersonation -----------------------------------------------------------------------------------


def test_impersonation_only_where_the_environment_allows_it(
    page, dash, client, signed_in_member, screenshots
):
    org, signed_in = signed_in_member
    member = signed_in.member
    url = member_url(dash, org.organization_id, member.member_id)
    set_impersonation(dash, False)
    sign_in(page, _person(dash, "support_manager"))
    page.goto(url)
    assert page.get_by_role("link", name="Impersonate…").count() == 0
    assert "Impersonation is switched off in this environment" in page.inner_text("main")
    token = _csrf(page)
    before = dash.server.snapshot()
    answer = page.request.post(url + "/impersonate", form={security.CSRF_FIELD: token})
    assert answer.status == 403
    assert "switched off" in answer.text()
    assert dash.server.snapshot() == before

    set_impersonation(dash, True)
    try:
        page.goto(url)
        page.get_by_role("link", name="Impersonate…").click()
        assert page.get_by_role("heading", name=f"Impersonate {member.email_address}?")
        _shot(page, screenshots, "directory-confirm-impersonate")
        page.get_by_role("button", name="Impersonate").click()
        assert f"Opened an impersonation session for {member.email_address}" in page.inner_text(
            "main"
        )
        session_token = page.locator("#session-token").inner_text().strip()
        session_jwt = page.locator("#session-jwt").inner_text().strip()
        _shot(page, screenshots, "directory-impersonated")
        authenticated = client.sessions.authenticate(session_token=session_token)
        assert authenticated.member.member_id == member.member_id
        factor = authenticated.member_session.authentication_factors[0]
        assert factor.type.value == "impersonated"
        assert client.sessions.authenticate(session_jwt=session_jwt).member.member_id == (
            member.member_id
        )
    finally:
        set_impersonation(dash, False)


# -- every role --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", test_pages.ROLES)
def test_each_role_sees_the_directory_controls_its_matrix_row_allows(
    page, dash, client, signed_in_member, role, screenshots
):
    org, signed_in = signed_in_member
    deleted = client.organizations.members.create(
        organization_id=org.organization_id, email_address=f"{unique('gone')}@members.example"
    ).member
    client.organizations.members.delete(org.organization_id, deleted.member_id)
    set_impersonation(dash, True)
    try:
        sign_in(page, _person(dash, role))
        answer = page.goto(f"{directory(dash)}/{org.organization_id}")
        assert answer is not None
        if not matrix.allows(role, "directory.view"):
            assert answer.status == 403
            assert "does not allow this (View Users, Members and Organizations)" in page.inner_text(
                "main"
            )
            page.goto(directory(dash))
            assert page.get_by_role("link", name="Organizations").count() == 0
            return
        manage = matrix.allows(role, "directory.manage")
        assert page.get_by_role("button", name="Save organization").count() == int(manage)
        page.goto(member_url(dash, org.organization_id, signed_in.member.member_id))
        assert page.get_by_role("button", name="Save member").count() == int(manage)
        for name, permission in [
            ("Send password reset", "support.password_reset"),
        ]:
            assert page.get_by_role("button", name=name).count() == int(
                matrix.allows(role, permission)
            )
        assert page.get_by_role("link", name="Revoke sessions…").count() == int(
            matrix.allows(role, "support.sessions_revoke")
        )
        assert page.get_by_role("link", name="Impersonate…").count() == int(
            matrix.allows(role, "impersonation.use")
        )
        assert page.get_by_role("button", name="Reactivate").count() == 0  # not deleted
        _shot(page, screenshots, f"directory-member-{role}")
        page.goto(member_url(dash, org.organization_id, deleted.member_id))
        assert page.get_by_role("button", name="Reactivate").count() == int(
            matrix.allows(role, "support.emails_reactivate")
        )
        assert page.get_by_role("button", name="Save member").count() == 0
    finally:
        set_impersonation(dash, False)


def test_unknown_organizations_members_and_cursors_say_so(page, dash, client):
    org = new_org(client)
    sign_in(page, _person(dash, "support_agent"))
    # Through the page's own request context (its cookies), so the expected 404s are not
    # console errors.
    for path, status, text in [
        (f"{directory(dash)}/organization-test-no-such-one", 404, "Not found"),
        (member_url(dash, org.organization_id, "member-test-no-such-one"), 404, "Not found"),
        (f"{directory(dash)}?cursor=not-a-cursor", 400, "cursor"),
        (directory(dash).replace("/environments/test/", "/environments/nope/"), 404, "Not found"),
    ]:
        answer = page.request.get(path)
        assert answer.status == status, path
        assert text in answer.text(), path
