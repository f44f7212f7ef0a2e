# ruff: noqa: F811  (the `page` fixture, imported from test_pages, is every test's argument)
"""The RBAC policy pages of an environment in a real browser: the matrix of who may do what, the
editor that validates the whole document (every problem shown, nothing saved), the preview of the
changes as `gatehouse policy apply --dry-run` prints them, and the save that the B2B API (the
official `stytch` SDK's `rbac.policy()`) then serves. Roles that may only view see no edit
controls, and the server refuses their forged posts, changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gatehouse.dashboard import security
from gatehouse.policy import policy_from_file, policy_to_file
from gatehouse.policy.diff import describe_changes
from tests.dashboard.browser.test_pages import (  # noqa: F401  (page: the fixture)
    _csrf,
    _flash,
    _person,
    _shot,
    page,
    sign_in,
)
from tests.dashboard.test_sign_in import Dashboard
from tests.sdk.support import install_policy

pytestmark = pytest.mark.timeout(180)

INVALID = """\
stytch_member:
  permissions:
    - resource_id: stytch.self
      actions: [update.info.name]
custom_resources:
  - {resource_id: documents, description: Documents, available_actions: [read, write]}
  - {resource_id: documents, description: Again, available_actions: [read]}
custom_roles:
  - role_id: editor
    description: Edits documents
    permissions:
      - {resource_id: invoices, actions: [read]}
custom_scopes:
  - scope: "bad scope!"
    description: A scope
    permissions: [{resource_id: documents, actions: [fly]}]
stytch_resources:
  - {resource_id: stytch.member, description: Members, available_actions: [create, fly]}
"""

VALID = """\
custom_resources:
  - resource_id: documents
    description: Shared documents
    available_actions: [read, write, share]
custom_roles:
  - role_id: editor
    description: Edits documents
    permissions:
      - {resource_id: documents, actions: [read, write]}
      - {resource_id: stytch.member, actions: [search]}
  - role_id: owner
    description: Owns documents
    permissions:
      - {resource_id: documents, actions: ["*"]}
custom_scopes:
  - scope: "read:documents"
    description: Read documents
    permissions: [{resource_id: documents, actions: [read]}]
"""


def _policy_url(dash: Dashboard, suffix: str = "") -> str:
    return f"/dashboard/projects/{dash.server.project_slug}/environments/test/policy{suffix}"


def _served(dash: Dashboard) -> dict[str, Any]:
    """The policy as the B2B API serves it to the official SDK."""
    policy = dash.server.b2b_client().rbac.policy().policy
    return {
        "resources": {r.resource_id: list(r.actions) for r in policy.resources},
        "roles": {
            r.role_id: {p.resource_id: list(p.actions) for p in r.permissions} for r in policy.roles
        },
        "scopes": {
            s.scope: {p.resource_id: list(p.actions) for p in s.permissions} for s in policy.scopes
        },
    }


def _cells(shown: Any, resource: str, action: str) -> dict[str, str]:
    """The matrix row of `action` on `resource`: role id -> the mark in its cell."""
    heads = shown.locator("table.grants thead th").all_inner_texts()[1:]
    roles = [h.split()[0] for h in heads]
    row = shown.locator(f'table.grants tr[data-resource="{resource}"]').filter(
        has=shown.get_by_role("rowheader", name=action, exact=True)
    )
    assert row.count() == 1, (resource, action)
    return dict(zip(roles, row.locator("td").all_inner_texts(), strict=True))


def _problems(shown: Any) -> list[tuple[str, str, str, str]]:
    """The listed problems: (path, line, reason, the text of that line)."""
    out = []
    for item in shown.locator("#policy-problems li").all():
        parts = []
        for part in ("path", "line", "reason", "snippet"):
            found = item.locator(f".{part}")
            parts.append(" ".join(found.inner_text().split()) if found.count() else "")
        out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def test_a_developer_sees_every_problem_then_previews_and_saves_a_valid_policy(
    page,
    dash,
    screenshots,
):
    sign_in(page, _person(dash, "developer"))
    served_before = _served(dash)
    page.goto(_policy_url(dash))
    tabs = page.get_by_role("navigation", name="Environment")
    assert tabs.get_by_role("link", name="RBAC policy").get_attribute("aria-current") == "page"
    # The defaults, at a glance: stytch_admin holds stytch.member through `*`, stytch_member holds
    # stytch.self's actions by name but not `delete`.
    assert _cells(page, "stytch.member", "search") == {"stytch_member": "–", "stytch_admin": "✓*"}
    assert _cells(page, "stytch.self", "update.info.name")["stytch_member"] == "✓"
    assert _cells(page, "stytch.self", "delete")["stytch_member"] == "–"
    resource_rows = page.locator("table.grants tr.resource").all_inner_texts()
    assert all("default · read-only" in text for text in resource_rows)
    _shot(page, screenshots, "policy-matrix-defaults")

    page.get_by_role("link", name="Edit policy").click()
    editor = page.get_by_label("Policy document")
    assert "stytch_member:" in editor.input_value()
    _shot(page, screenshots, "policy-editor")

    # An invalid policy: every problem at once, each with its path and line; nothing saved.
    before = dash.server.snapshot()
    editor.fill(INVALID)
    page.get_by_role("button", name="Preview changes").click()
    problems = _problems(page)
    assert problems == [
        (
            "stytch_resources",
            "line 17",
            "The default resources and their actions are read-only: leave stytch_resources out "
            "(or as exported) and declare your own under custom_resources.",
            "stytch_resources:",
        ),
        (
            "custom_resources[1].resource_id",
            "line 7",
            "Resource documents is declared twice.",
            "- {resource_id: documents, description: Again, available_actions: [read]}",
        ),
        (
            "custom_roles[0].permissions[0].resource_id",
            "line 12",
            "Resource invoices does not exist.",
            "- {resource_id: invoices, actions: [read]}",
        ),
        (
            "custom_scopes[0].scope",
            "line 14",
            "Scope bad scope! must be 1-128 characters, no spaces.",
            '- scope: "bad scope!"',
        ),
        (
            "custom_scopes[0].permissions[0].actions[0]",
            "line 16",
            "Action fly is not declared on resource documents.",
            "permissions: [{resource_id: documents, actions: [fly]}]",
        ),
    ]
    assert page.get_by_role("heading", name="5 problems; nothing was saved").count() == 1
    assert page.get_by_label("Policy document").input_value() == INVALID  # kept to fix
    assert page.get_by_role("button", name="Save policy").count() == 0
    _shot(page, screenshots, "policy-editor-problems")
    # Not YAML at all: said so, with the line.
    page.get_by_label("Policy document").fill("custom_roles: [\n  {role_id: x\n")
    page.get_by_role("button", name="Preview changes").click()
    assert "This is not valid YAML or JSON" in _problems(page)[0][2]
    assert dash.server.snapshot() == before
    assert _served(dash) == served_before

    # A valid one: the preview shows the changes as the CLI's --dry-run prints them.
    page.get_by_label("Policy document").fill(VALID)
    page.get_by_role("button", name="Preview changes").click()
    assert page.get_by_role("heading", name="Review the changes").count() == 1
    current = policy_from_file({})  # the defaults, which the environment still has
    changes = describe_changes(current, policy_from_file(yaml.safe_load(VALID)))
    expected = [line.replace("`", "") for line in changes]
    listed = page.get_by_role("list", name="Changes").locator("li").all_inner_texts()
    shown = [" ".join(text.split()) for text in listed]
    assert shown == expected
    assert "+ resource documents with actions read, write, share" in shown
    assert "+ role owner" in shown and "~ role editor: + write on documents" in shown
    _shot(page, screenshots, "policy-preview")
    assert dash.server.snapshot() == before  # a preview saves nothing

    # Back to editing keeps the text; preview again, then save.
    page.get_by_role("button", name="Back to editing").click()
    assert page.get_by_label("Policy document").input_value().strip() == VALID.strip()
    assert dash.server.snapshot() == before
    page.get_by_role("button", name="Preview changes").click()
    page.get_by_role("button", name="Save policy").click()
    assert page.url.endswith(_policy_url(dash))
    assert "Saved the RBAC policy of Test project · test." in _flash(page)

    served = _served(dash)
    assert served["resources"]["documents"] == ["read", "write", "share"]
    assert served["roles"]["editor"] == {
        "documents": ["read", "write"],
        "stytch.member": ["search"],
    }
    assert served["roles"]["owner"] == {"documents": ["*"]}
    assert served["scopes"] == {"read:documents": {"documents": ["read"]}}
    assert served["roles"]["stytch_admin"] == served_before["roles"]["stytch_admin"]

    # The matrix shows the new resource and roles.
    assert _cells(page, "documents", "share") == {
        "stytch_member": "–",
        "stytch_admin": "–",
        "editor": "–",
        "owner": "✓*",
    }
    assert _cells(page, "documents", "write")["editor"] == "✓"
    assert _cells(page, "stytch.member", "search")["editor"] == "✓"
    custom = page.locator("table.grants tr.resource", has_text="documents").inner_text()
    assert "custom" in custom and "read-only" not in custom
    assert page.get_by_role("cell", name="read:documents").count() == 1
    _shot(page, screenshots, "policy-matrix")
    page.reload()  # without the flash, for the README's picture
    second_group = page.locator("table.grants tbody").nth(1).bounding_box()
    assert second_group is not None  # the custom resource, then the first default one
    height = second_group["y"] + second_group["height"] + 1
    clip = {"x": 0, "y": 0, "width": 1280, "height": height}
    page.screenshot(path=str(screenshots / "dashboard-rbac-matrix.png"), clip=clip, full_page=True)

    # The save is in the environment's event log, with the developer as the actor.
    developer = dash.members()[_person(dash, "developer")]["member_id"]
    store = dash.server.store
    with store.read() as tx:
        logged = store.events(tx, dash.server.project_id, limit=10)
    saves = [e for e in logged if e["action"] == "rbac_policy.update"]
    assert saves and saves[0]["actor"] == f"workspace_member:{developer}"
    assert saves[0]["actor_role"] == "developer"
    assert saves[0]["changes"]["changes"] == changes  # what changed, as the preview showed it


def test_a_save_after_the_policy_moved_on_is_refused_and_changes_nothing(page, dash):
    sign_in(page, _person(dash, "developer"))
    page.goto(_policy_url(dash, "/edit"))
    text = page.get_by_label("Policy document").input_value()
    page.get_by_label("Policy document").fill(text + "# a comment changes nothing\n")
    page.get_by_role("button", name="Preview changes").click()
    assert page.get_by_text("No changes.").count() == 1
    assert page.get_by_role("button", name="Save policy").count() == 0

    page.get_by_role("button", name="Back to editing").click()
    late = {"scope": "late:scope", "description": "Added meanwhile", "permissions": []}
    page.get_by_label("Policy document").fill(
        text.replace("custom_scopes: []", "custom_scopes:\n- {scope: 'mine:scope'}")
        if "custom_scopes: []" in text
        else text.replace("custom_scopes:\n", "custom_scopes:\n- {scope: 'mine:scope'}\n", 1)
    )
    page.get_by_role("button", name="Preview changes").click()
    assert "+ scope mine:scope" in page.get_by_role("list", name="Changes").inner_text()
    # Meanwhile, someone else changes the policy (through the CLI's path, as an operator would).
    document = policy_from_file({**yaml.safe_load(text), "custom_scopes": [late]})
    install_policy(dash.server, policy_to_file(document))
    before = dash.server.snapshot()
    page.get_by_role("button", name="Save policy").click()
    assert "The policy changed since version" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Policy document").input_value().count("mine:scope") == 1
    assert dash.server.snapshot() == before
    assert "mine:scope" not in _served(dash)["scopes"]


def test_removing_a_role_still_in_use_is_refused_unless_its_uses_go_too(page, dash, screenshots):
    install_policy(dash.server, yaml.safe_load(VALID))
    client = dash.server.b2b_client()
    org = client.organizations.create(organization_name="Cascade Inc").organization
    member = client.organizations.members.create(
        org.organization_id, email_address="ed@cascade.example", roles=["editor"]
    ).member
    sign_in(page, _person(dash, "developer"))
    page.goto(_policy_url(dash, "/edit"))
    document = yaml.safe_load(page.get_by_label("Policy document").input_value())
    document["custom_roles"] = [r for r in document["custom_roles"] if r["role_id"] != "editor"]
    page.get_by_label("Policy document").fill(yaml.safe_dump(document, sort_keys=False))
    before = dash.server.snapshot()
    page.get_by_role("button", name="Preview changes").click()
    refusal = page.get_by_role("alert").inner_text()
    assert "still in use" in refusal and "editor" in refusal, refusal
    _shot(page, screenshots, "policy-editor-in-use")
    assert dash.server.snapshot() == before

    page.get_by_label("Also remove what still uses the roles and resources it removes").check()
    page.get_by_role("button", name="Preview changes").click()
    assert "- role editor" in page.get_by_role("list", name="Changes").inner_text()
    assert "cascade" in page.inner_text("main")
    assert dash.server.snapshot() == before
    page.get_by_role("button", name="Save policy").click()
    assert "Saved the RBAC policy" in _flash(page)
    assert "editor" not in _served(dash)["roles"]
    roles = client.organizations.members.get(
        org.organization_id, member_id=member.member_id
    ).member.roles
    assert [r.role_id for r in roles] == ["stytch_member"]


@pytest.mark.parametrize("role", ["support_manager"])
def test_a_role_that_only_views_sees_the_matrix_and_no_edit_controls(
    page,
    dash,
    screenshots,
    role,
):
    sign_in(page, _person(dash, role))
    answer = page.goto(_policy_url(dash))
    assert answer is not None and answer.status == 200
    assert page.locator("table.grants").count() == 1
    assert page.get_by_role("link", name="Edit policy").count() == 0
    assert page.locator("textarea, form[action$='/policy'], form[action$='/preview']").count() == 0
    assert "Edit policy" not in page.inner_text("main")
    _shot(page, screenshots, f"policy-matrix-{role}")

    token = _csrf(page)  # valid: from the person's own page (the sign-out form)
    before = dash.server.snapshot()
    served = _served(dash)
    for path in ("", "/preview", "/edit"):
        forged = page.request.post(
            _policy_url(dash, path),
            form={security.CSRF_FIELD: token, "document": VALID, "version": "1"},
            max_redirects=0,
        )
        assert forged.status == 403, path
        assert "does not allow this (Manage Project Configurations)" in forged.text()
    assert page.request.get(_policy_url(dash, "/edit"), max_redirects=0).status == 403
    assert dash.server.snapshot() == before
    assert _served(dash) == served


@pytest.mark.parametrize("role", ["support_agent", "no_access"])
def test_roles_without_project_configuration_have_no_policy_page(
    page,
    dash,
    screenshots,
    role,
):
    sign_in(page, _person(dash, role))
    answer = page.goto(_policy_url(dash))
    assert answer is not None and answer.status == 403
    assert "does not allow this (View Project Configurations)" in page.inner_text("main")
    assert page.get_by_role("link", name="RBAC policy").count() == 0
    assert page.locator("table.grants").count() == 0
    _shot(page, screenshots, f"policy-refused-{role}")
