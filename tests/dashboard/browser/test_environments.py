"""Projects and environments in a real browser: what each of the five roles sees and may use on a
project's page and an environment's Overview, creating, renaming and deleting test environments
and projects (after a confirmation), API keys (the secret shown once, working against the B2B API
through the official `stytch` SDK, refused once deleted), the impersonation switch, and the server
refusing forged posts with 403, changing nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from stytch.core.response_base import StytchError

from gatehouse.dashboard import security
from gatehouse.policy import dashboard as matrix
from tests.dashboard.browser import test_pages
from tests.dashboard.browser.test_pages import (
    ROLES,
    _admin_with_password,
    _csrf,
    _flash,
    _person,
    _shot,
    sign_in,
)
from tests.dashboard.test_sign_in import ADMIN, Dashboard

page = test_pages.page  # the fixture: a fresh context that fails the test on console errors

pytestmark = pytest.mark.timeout(180)

PROJECT = "Test project"  # the project `gatehouse init` made in tests/server.py
TABS = {  # the environment tabs and the matrix row that shows each
    "Overview": "projects.view_names",
    "RBAC policy": "project_config.view",
    "Organizations": "directory.view",
    "Event log": "event_logs.view",
}


def _env(dash: Dashboard, env: str = "test", suffix: str = "") -> str:
    return f"/dashboard/projects/{dash.server.project_slug}/environments/{env}{suffix}"


def _count(locator: Any) -> int:
    return int(locator.count())


def _calls_b2b(dash: Dashboard, project_id: str, secret: str) -> bool:
    """Whether the B2B API, through the official SDK, takes that project ID and secret."""
    client = dash.server.b2b_client(project_id, secret)
    try:
        client.rbac.policy()
    except StytchError as error:
        assert (error.details.status_code, error.details.error_type) == (
            401,
            "unauthorized_credentials",
        )
        return False
    return True


def _logged(
    dash: Dashboard, action: str, target: str | None = None, scope: str | None = None
) -> dict[str, Any]:
    """The newest event of `action` (on `target`) in the workspace's log, or in the log of the
    environment `scope`."""
    if scope is None:
        logged = dash.events()
    else:
        with dash.server.store.read() as tx:
            logged = list(reversed(dash.server.store.events(tx, scope, limit=10_000)))
    events = [e for e in logged if e["action"] == action]
    if target is not None:
        events = [e for e in events if e["target"] == target]
    assert events, action
    return events[-1]


# -- what each role sees -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_environment_controls_its_matrix_row_allows(
    page, dash, role, screenshots
):
    def may(permission: str) -> bool:
        return matrix.allows(role, permission)

    sign_in(page, _person(dash, role))

    # Every role reaches each environment from the projects list.
    page.goto("/dashboard/projects")
    listed = page.locator("tr", has=page.get_by_role("cell", name=PROJECT, exact=True))
    listed = listed.get_by_role("list")
    assert listed.get_by_role("link").all_inner_texts() == ["live", "test"]
    _shot(page, screenshots, f"projects-{role}")
    listed.get_by_role("link", name="test").click()
    assert page.url.endswith(_env(dash))
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.split() == [*PROJECT.split(), "·", "test", "Test"]

    tabs = page.get_by_role("navigation", name="Environment", exact=True).get_by_role("link")
    assert tabs.all_inner_texts() == [label for label, row in TABS.items() if may(row)]
    if may("directory.view"):  # a Support Agent's way to the organizations and the event log
        organizations = page.get_by_role("link", name="Organizations")
        assert organizations.get_attribute("href") == _env(dash, suffix="/organizations")
    switcher = page.get_by_role("navigation", name=f"Environments of {PROJECT}")
    assert switcher.get_by_role("link").all_inner_texts() == ["live", "test"]

    main = page.inner_text("main")
    config = may("project_config.view")
    assert (dash.server.project_id in main) == config
    assert (_count(page.get_by_text("Project ID for the B2B API")) == 1) == config
    cannot = "cannot see this environment's configuration"
    assert (cannot in main) == (not config)
    if role == "no_access":
        assert "It shows the names of projects and environments only" in main
    if role == "support_agent":
        assert "It may open this environment's Organizations and Event log tabs" in main

    keys = may("api_keys.test.manage")
    assert _count(page.get_by_role("button", name="Create API key")) == int(keys)
    assert _count(page.get_by_role("columnheader", name="Key ID")) == int(keys)
    if config and not keys:
        assert "Your role cannot see or manage this environment's API keys" in main
    switch = may("impersonation_config.manage")
    assert _count(page.get_by_label("Allow support staff to impersonate members")) == int(switch)
    assert _count(page.get_by_role("button", name="Save impersonation setting")) == int(switch)
    assert ("Impersonation of members: Off" in main) == (config and not switch)
    manage = may("project_config.manage")
    assert _count(page.get_by_role("button", name="Rename environment")) == int(manage)
    deletes = may("environments.test.delete")
    assert _count(page.get_by_role("link", name="Delete environment…")) == int(deletes)
    _shot(page, screenshots, f"environment-{role}")

    # The live environment: live keys are the Admins'; it is never deleted.
    switcher.get_by_role("link", name="live").click()
    assert page.url.endswith(_env(dash, "live"))
    main = page.inner_text("main")
    live_keys = may("api_keys.live.manage")
    assert _count(page.get_by_role("button", name="Create API key")) == int(live_keys)
    assert _count(page.get_by_role("link", name="Delete environment…")) == 0
    assert ("The live environment cannot be deleted" in main) == config
    if config and not live_keys:
        assert "only Admins manage live API keys" in main
    _shot(page, screenshots, f"environment-live-{role}")

    # The project's page, for those who see its configuration.
    opened = page.goto(f"/dashboard/projects/{dash.server.project_slug}")
    assert opened is not None and opened.status == (200 if config else 403)
    if config:
        assert _count(page.get_by_role("button", name="Rename project")) == int(manage)
        creates = may("environments.test.create")
        assert _count(page.get_by_role("button", name="Create test environment")) == int(creates)
        assert _count(page.get_by_role("link", name="Delete project…")) == int(
            may("projects.delete")
        )
        row = page.locator("tr", has=page.get_by_role("link", name="test", exact=True))
        assert _count(row.get_by_role("link", name="Delete…")) == int(deletes)
        assert _count(row.get_by_role("button", name="Rename")) == int(manage)
        live = page.locator("tr", has=page.get_by_role("link", name="live", exact=True))
        assert _count(live.get_by_role("link", name="Delete…")) == 0
        if deletes:
            assert "Live: cannot be deleted" in live.inner_text()
        _shot(page, screenshots, f"project-{role}")


# -- environments --------------------------------------------------------------------------------


def test_an_admin_creates_renames_and_deletes_a_test_environment(page, dash, screenshots):
    sign_in(page, _admin_with_password(dash))
    page.goto(f"/dashboard/projects/{dash.server.project_slug}")
    page.get_by_label("Environment name").fill("Staging")
    page.get_by_role("button", name="Create test environment").click()
    assert "Created the test environment Staging." in _flash(page)
    assert page.url.endswith(_env(dash, "staging"))
    assert page.get_by_role("heading", level=1).inner_text().split()[-2:] == ["Staging", "Test"]
    assert "No API keys yet." in page.inner_text("main")
    _shot(page, screenshots, "environment-created")
    made = _logged(dash, "environment.create")
    assert (made["actor_role"], made["changes"]) == (
        "admin",
        {"slug": "staging", "name": "Staging"},
    )

    # Renamed from the project's page...
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=PROJECT).click()
    page.get_by_label("New name for Staging").fill("QA")
    page.get_by_role("button", name="Rename").nth(1).click()
    assert "Renamed the environment Staging to QA." in _flash(page)
    assert page.url.endswith(f"/dashboard/projects/{dash.server.project_slug}")
    row = page.locator("tr[data-environment=staging]")
    assert row.locator("td").first.inner_text() == "QA"
    # ...and from its own page.
    row.get_by_role("link", name="QA").click()
    page.get_by_label("Environment name").fill("QA 2")
    page.get_by_role("button", name="Rename environment").click()
    assert "Renamed the environment QA to QA 2." in _flash(page)
    assert page.get_by_role("heading", level=1).inner_text().split()[-3:] == ["QA", "2", "Test"]
    renamed = _logged(dash, "environment.update", made["target"], scope=made["target"])
    assert (renamed["actor_role"], renamed["changes"]) == ("admin", {"name": "QA 2"})

    # Deleting asks first, naming what is lost.
    page.get_by_role("link", name="Delete environment…").click()
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Delete the test environment QA 2?"
    )
    assert made["target"] in page.inner_text("main")  # the project ID that stops working
    _shot(page, screenshots, "delete-environment")
    page.get_by_role("link", name="Cancel").click()
    assert _count(page.locator("tr[data-environment=staging]")) == 1
    page.locator("tr[data-environment=staging]").get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete environment").click()
    assert "Deleted the test environment QA 2" in _flash(page)
    assert _count(page.locator("tr[data-environment=staging]")) == 0
    assert _logged(dash, "environment.delete", made["target"])["actor_role"] == "admin"
    assert page.request.get(_env(dash, "staging")).status == 404


def test_the_live_environment_cannot_be_deleted_and_the_page_says_so(page, dash):
    sign_in(page, _admin_with_password(dash))
    before = dash.server.snapshot()
    page.goto(_env(dash, "live", "/delete"))
    assert page.url.endswith(_env(dash, "live"))
    assert "The live environment cannot be deleted; delete the project instead." in _flash(page)
    answer = page.request.post(
        _env(dash, "live", "/delete"), form={security.CSRF_FIELD: _csrf(page)}, max_redirects=0
    )
    assert answer.status == 303
    page.goto(_env(dash, "live"))
    assert "The live environment cannot be deleted" in _flash(page)
    assert dash.server.snapshot() == before


def test_a_blank_environment_name_is_refused_and_changes_nothing(page, dash):
    sign_in(page, _person(dash, "developer"))
    page.goto(f"/dashboard/projects/{dash.server.project_slug}")
    before = dash.server.snapshot()
    for path in (
        f"/dashboard/projects/{dash.server.project_slug}/environments",
        _env(dash, "test", "/rename"),
        f"/dashboard/projects/{dash.server.project_slug}/rename",
    ):
        answer = page.request.post(path, form={security.CSRF_FIELD: _csrf(page), "name": "  "})
        assert answer.status == 200 and "a name (up to 256 characters)" in answer.text(), path
    assert dash.server.snapshot() == before


# -- API keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["test", "live"])
def test_an_admin_creates_an_api_key_sees_its_secret_once_and_deletes_it(
    page, dash, kind, screenshots
):
    project_id = dash.server.project_id if kind == "test" else dash.server.live_project_id
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, _admin_with_password(dash))
    page.goto(_env(dash, kind))
    page.get_by_role("button", name="Create API key").click()
    assert page.url.endswith(_env(dash, kind, "/keys/created"))
    assert "Copy its secret now: it is shown only once." in _flash(page)
    secret = page.get_by_label("Secret", exact=True).input_value()
    secret_id = page.get_by_label("Key ID").input_value()
    assert secret.startswith(f"secret-{kind}-") and secret_id.startswith(f"secret-{kind}-")
    assert page.get_by_label("Project ID").input_value() == project_id
    _shot(page, screenshots, f"secret-created-{kind}")
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()  # the clipboard answers asynchronously
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert _calls_b2b(dash, project_id, secret)
    created = _logged(dash, "secret.create", secret_id, scope=project_id)
    assert (created["actor"].split(":")[0], created["actor_role"]) == ("workspace_member", "admin")
    assert secret not in str(created)

    # Shown once: a reload (or coming back) shows it no more, and creates no second key.
    before = dash.server.snapshot()
    page.reload()
    assert page.get_by_role("heading", name="The secret is not shown again").is_visible()
    assert secret not in page.content()
    _shot(page, screenshots, "secret-not-shown-again")
    assert dash.server.snapshot() == before
    page.get_by_role("link", name="Back to the API keys").click()
    assert secret not in page.content()
    row = page.locator(f"tr[data-secret='{secret_id}']")
    assert row.locator("td").nth(1).inner_text() == "…" + secret[-4:]

    # Deleting asks first; then the secret no longer works.
    row.get_by_role("link", name="Delete…").click()
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == f"Delete the API key ending in {secret[-4:]}?"
    _shot(page, screenshots, f"delete-key-{kind}")
    page.get_by_role("link", name="Cancel").click()
    assert _calls_b2b(dash, project_id, secret)
    page.locator(f"tr[data-secret='{secret_id}']").get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete API key").click()
    assert f"Deleted the API key {secret_id}: its secret no longer works." in _flash(page)
    assert _count(page.locator(f"tr[data-secret='{secret_id}']")) == 0
    assert not _calls_b2b(dash, project_id, secret)
    assert _logged(dash, "secret.delete", secret_id, scope=project_id)["actor_role"] == "admin"


def test_without_javascript_the_secret_is_in_a_readonly_field(browser, dash):
    _admin_with_password(dash)
    context = browser.new_context(base_url=dash.server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, _admin_with_password(dash))
        page.goto(_env(dash))
        page.get_by_role("button", name="Create API key").click()
        field = page.get_by_label("Secret", exact=True)
        assert field.get_attribute("readonly") is not None
        assert _calls_b2b(dash, dash.server.project_id, field.input_value())
        assert not page.get_by_role("button", name="Copy").is_visible()  # it needs the script
    finally:
        context.close()


def test_the_new_secret_crosses_its_redirect_sealed_to_the_session(page, browser, dash):
    sign_in(page, _admin_with_password(dash))
    page.goto(_env(dash))
    answer = page.request.post(
        _env(dash, "test", "/keys"), form={security.CSRF_FIELD: _csrf(page)}, max_redirects=0
    )
    assert (answer.status, answer.headers["location"]) == (303, _env(dash, "test", "/keys/created"))
    cookies = [h["value"] for h in answer.headers_array if h["name"].lower() == "set-cookie"]
    sealed = next(c for c in cookies if c.startswith("gatehouse_dashboard_new_secret="))
    flags = {part.strip().lower() for part in sealed.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/dashboard", "max-age=300"} <= flags
    value = sealed.split(";")[0].split("=", 1)[1]
    assert "secret-test-" not in value and "secret-test-" not in _base64_text(value)

    # Another session of the same person cannot open it...
    other = browser.new_context(base_url=dash.server.url)
    try:
        theirs = other.new_page()
        sign_in(theirs, ADMIN)
        other.add_cookies(
            [
                {
                    "name": "gatehouse_dashboard_new_secret",
                    "value": value,
                    "url": dash.server.url + "/dashboard",
                }
            ]
        )
        theirs.goto(_env(dash, "test", "/keys/created"))
        assert theirs.get_by_role("heading", name="The secret is not shown again").is_visible()
    finally:
        other.close()
    # ...the session that created the key does, once.
    page.goto(_env(dash, "test", "/keys/created"))
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert _calls_b2b(dash, dash.server.project_id, secret)
    page.reload()
    assert secret not in page.content()


def _base64_text(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("latin-1")


def test_a_developer_manages_test_keys_and_a_forged_live_key_post_is_refused(page, dash):
    sign_in(page, _person(dash, "developer"))
    page.goto(_env(dash, "test"))
    page.get_by_role("button", name="Create API key").click()
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert _calls_b2b(dash, dash.server.project_id, secret)
    created = _logged(dash, "secret.create", scope=dash.server.project_id)
    assert created["actor_role"] == "developer"

    page.goto(_env(dash, "live"))
    assert _count(page.get_by_role("button", name="Create API key")) == 0
    assert _count(page.get_by_role("link", name="Delete…")) == 0
    token = _csrf(page)  # a valid one, from the developer's own page
    live_secret = dash.server.gatehouse.projects.list_secrets(
        dash.server.gatehouse.workspace.operator_from_session(dash.admin),
        dash.server.project_slug,
        "live",
    )[0]["id"]
    before = dash.server.snapshot()
    for path in (
        _env(dash, "live", "/keys"),
        _env(dash, "live", f"/keys/{live_secret}/delete"),
        _env(dash, "live", "/impersonation"),
        _env(dash, "test", "/impersonation"),
        f"/dashboard/projects/{dash.server.project_slug}/delete",
    ):
        answer = page.request.post(
            path,
            form={
                security.CSRF_FIELD: token,
                "user_impersonation_enabled": "on",
                "confirm": PROJECT,
            },
            max_redirects=0,
        )
        assert answer.status == 403, path
        assert "may not" in answer.text() or "does not allow this" in answer.text(), path
    for path in (
        _env(dash, "live", "/keys/created"),
        _env(dash, "live", f"/keys/{live_secret}/delete"),
    ):
        assert page.request.get(path).status == 403, path
    assert dash.server.snapshot() == before
    assert _calls_b2b(dash, dash.server.live_project_id, dash.server.live_secret)


def test_a_support_manager_sees_configuration_but_no_keys_and_forged_posts_are_refused(page, dash):
    sign_in(page, _person(dash, "support_manager"))
    page.goto(_env(dash, "test"))
    token = _csrf(page)
    before = dash.server.snapshot()
    for path, form in (
        (_env(dash, "test", "/keys"), {}),
        (_env(dash, "test", "/rename"), {"name": "mine"}),
        (_env(dash, "test", "/delete"), {}),
        (f"/dashboard/projects/{dash.server.project_slug}/environments", {"name": "mine"}),
        (f"/dashboard/projects/{dash.server.project_slug}/rename", {"name": "mine"}),
    ):
        answer = page.request.post(path, form={security.CSRF_FIELD: token, **form}, max_redirects=0)
        assert answer.status == 403, path
    assert dash.server.snapshot() == before


# -- projects ------------------------------------------------------------------------------------


def test_an_admin_renames_a_project_and_deletes_it_after_typing_its_name(page, dash, screenshots):
    sign_in(page, _admin_with_password(dash))
    page.get_by_label("Project name").fill("Doomed app")
    page.get_by_role("button", name="Create project").click()
    project_url = page.url
    slug = project_url.rsplit("/", 1)[-1]
    page.get_by_label("Project name").fill("Doomed portal")
    page.get_by_role("button", name="Rename project").click()
    assert "Renamed the project Doomed app to Doomed portal." in _flash(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Doomed portal"
    assert page.url == project_url  # the slug stays
    renamed = _logged(dash, "project.update")
    assert (renamed["actor_role"], renamed["changes"]) == ("admin", {"name": "Doomed portal"})
    _shot(page, screenshots, "project-admin-own")

    page.get_by_role("link", name="Delete project…").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Delete the project Doomed portal?"
    lost = page.locator("ul.lost li").all_inner_texts()
    assert [text.split(":")[0] for text in lost] == [
        "the live environment live",
        "the test environment test",
    ]
    _shot(page, screenshots, "delete-project")

    before = dash.server.snapshot()
    page.get_by_label("Type the project name, Doomed portal, to confirm").fill("Doomed")
    page.get_by_role("button", name="Delete project").click()
    assert "Type the project's name, Doomed portal, exactly to delete it." in _flash(page)
    assert page.url.endswith(f"/dashboard/projects/{slug}/delete")
    assert dash.server.snapshot() == before

    page.get_by_label("Type the project name, Doomed portal, to confirm").fill("Doomed portal")
    page.get_by_role("button", name="Delete project").click()
    assert "Deleted the project Doomed portal" in _flash(page)
    assert page.url.endswith("/dashboard/projects")
    assert _count(page.get_by_role("cell", name="Doomed portal")) == 0
    assert _count(page.get_by_role("cell", name=PROJECT)) == 1
    deleted = _logged(dash, "project.delete")
    assert (deleted["actor_role"], deleted["changes"]) == ("admin", {"slug": slug})
    assert page.request.get(f"/dashboard/projects/{slug}").status == 404


# -- impersonation -------------------------------------------------------------------------------


def _impersonation_enabled(dash: Dashboard) -> bool:
    found = dash.ok(
        "GET",
        f"/pwa/v3/projects/{dash.server.project_slug}/environments/test",
        token=dash.admin,
    )
    return bool(found["environment"]["user_impersonation_enabled"])


def test_an_admin_switches_impersonation_on_and_off_and_a_developer_only_sees_it(
    page, browser, dash, screenshots
):
    sign_in(page, _admin_with_password(dash))
    page.goto(_env(dash))
    switch = page.get_by_label("Allow support staff to impersonate members")
    assert not switch.is_checked()
    switch.check()
    page.get_by_role("button", name="Save impersonation setting").click()
    assert "Support staff may now impersonate members in this environment." in _flash(page)
    assert page.get_by_label("Allow support staff to impersonate members").is_checked()
    assert _impersonation_enabled(dash)
    changed = _logged(
        dash, "environment.update", dash.server.project_id, scope=dash.server.project_id
    )
    assert (changed["actor_role"], changed["changes"]) == (
        "admin",
        {"user_impersonation_enabled": True},
    )
    _shot(page, screenshots, "impersonation-on")

    developer = browser.new_context(base_url=dash.server.url)
    try:
        theirs = developer.new_page()
        sign_in(theirs, _person(dash, "developer"))
        theirs.goto(_env(dash))
        assert "Impersonation of members: On" in theirs.inner_text("main")
        assert _count(theirs.get_by_label("Allow support staff to impersonate members")) == 0
        assert _count(theirs.get_by_role("button", name="Save impersonation setting")) == 0

        page.get_by_label("Allow support staff to impersonate members").uncheck()
        page.get_by_role("button", name="Save impersonation setting").click()
        assert "Impersonation is now off in this environment" in _flash(page)
        assert not page.get_by_label("Allow support staff to impersonate members").is_checked()
        assert not _impersonation_enabled(dash)
        theirs.reload()
        assert "Impersonation of members: Off" in theirs.inner_text("main")
    finally:
        developer.close()
