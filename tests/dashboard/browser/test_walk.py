"""Each of the five roles signs in through the sign-in page and walks the whole dashboard the way a
person does: following every link it is shown, from the first page on. For every role:

- every page it is shown answers 200, without a console error, with every control labelled, and
  looking at a page (GET) changes nothing in the database;
- every page an Admin reaches but the role is never shown a link to is refused with 403 when the
  role opens its URL anyway (a page is shown to a role exactly when its matrix row allows it);
- every form an Admin is shown but the role is not, posted anyway with the role's own valid CSRF
  token, is refused with 403 and changes nothing.

The walk follows what the pages render, so a page added later is walked (and held to the same
rules) without changing this test.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gatehouse.dashboard import security
from tests.dashboard.browser.test_pages import _UNLABELLED, _person, sign_in
from tests.dashboard.test_sign_in import Dashboard

pytestmark = pytest.mark.timeout(600)

ROLES = ("admin", "developer", "support_manager", "support_agent", "no_access")
# Pages of one shape (the same route with other ids) walked at most this often.
PER_SHAPE = 2
MAX_PAGES = 120
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|\d+")


@dataclass
class Form:
    action: str
    fields: dict[str, str]
    label: str


@dataclass
class Walk:
    pages: list[str] = field(default_factory=list)
    forms: dict[str, Form] = field(default_factory=dict)


def _shape(path: str) -> str:
    """A path with its ids replaced, so `/orgs/a1b2...` and `/orgs/c3d4...` count as one page."""
    return "/".join(_ID.sub("*", part) for part in path.split("/"))


_FORMS = """() => [...document.querySelectorAll('main form[method=post], header form[method=post]')]
  .map(f => ({
    action: new URL(f.action, location.href).pathname,
    fields: Object.fromEntries([...f.elements].filter(e => e.name).map(e => [e.name, e.value])),
    label: (f.querySelector('button[type=submit], button:not([type])') || {}).innerText || '',
  }))"""

_LINKS = """() => [...document.querySelectorAll('a[href]')]
  .map(a => new URL(a.getAttribute('href'), location.href))
  .filter(u => u.origin === location.origin)
  .map(u => u.pathname + u.search)"""


def _walk(page: Any, dash: Dashboard, role: str, screenshots: Path) -> Walk:
    """Follow every dashboard link shown to the signed-in person, breadth first."""
    walk = Walk()
    queue, seen, shapes = ["/dashboard/"], set(), Counter[str]()
    before = dash.server.snapshot()
    while queue and len(walk.pages) < MAX_PAGES:
        target = queue.pop(0)
        path = urlsplit(target).path
        if (
            target in seen
            or path.startswith("/dashboard/static")
            or shapes[_shape(path)] >= PER_SHAPE
        ):
            continue
        seen.add(target)
        shapes[_shape(path)] += 1
        answer = page.goto(target)
        assert answer is not None and answer.status == 200, (role, target, answer and answer.status)
        landed = urlsplit(page.url)
        walk.pages.append(landed.path + (f"?{landed.query}" if landed.query else ""))
        assert page.evaluate(_UNLABELLED) == [], (role, target)
        name = re.sub(r"[^a-z0-9]+", "-", landed.path.lower()).strip("-")
        page.screenshot(path=str(screenshots / f"walk-{role}-{name}.png"), full_page=True)
        for form in page.evaluate(_FORMS):
            walk.forms.setdefault(form["action"], Form(**form))
        queue += [link for link in page.evaluate(_LINKS) if link.startswith("/dashboard")]
    assert dash.server.snapshot() == before, f"looking at pages as {role} changed the database"
    return walk


def _walk_as(browser: Any, dash: Dashboard, role: str, address: str, screenshots: Path) -> Walk:
    context = browser.new_context(base_url=dash.server.url, viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    opened = context.new_page()
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    try:
        sign_in(opened, address)
        walked = _walk(opened, dash, role, screenshots)
    finally:
        context.close()
    assert errors == [], (role, errors)
    return walked


def _organization_with_a_member(dash: Dashboard) -> None:
    """An organization with one member in the test environment, made through the B2B API."""
    b2b = httpx.Client(base_url=dash.server.url, auth=(dash.server.project_id, dash.server.secret))
    with b2b:
        made = b2b.post("/v1/b2b/organizations", json={"organization_name": "Walked Inc"})
        assert made.status_code == 200, made.text
        organization_id = made.json()["organization"]["organization_id"]
        member = b2b.post(
            f"/v1/b2b/organizations/{organization_id}/members",
            json={"email_address": "walked@walked.example", "name": "Walked Member"},
        )
        assert member.status_code == 200, member.text


@pytest.fixture(scope="module")
def walks(browser: Any, dash: Dashboard, screenshots: Path) -> dict[str, Walk]:
    people = {role: _person(dash, role) for role in ROLES}  # everyone exists before anyone walks
    _organization_with_a_member(dash)  # so the directory's organization and member pages exist
    return {role: _walk_as(browser, dash, role, people[role], screenshots) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_walks_every_page_it_is_shown(walks, role):
    walk = walks[role]
    assert "/dashboard/projects" in walk.pages  # every role views project names
    assert "/dashboard/account" in walk.pages
    # An Admin holds every permission: no role is shown a page or a form an Admin is not.
    admin = walks["admin"]
    shapes = {_shape(urlsplit(p).path) for p in admin.pages}
    assert {_shape(urlsplit(p).path) for p in walk.pages} <= shapes
    assert set(walk.forms) - set(admin.forms) == set()


@pytest.mark.parametrize("role", ROLES[1:])
def test_pages_a_role_is_not_shown_are_refused_to_it(browser, dash, walks, role):
    shown = {_shape(urlsplit(p).path) for p in walks[role].pages}
    hidden = [p for p in walks["admin"].pages if _shape(urlsplit(p).path) not in shown]
    if role in ("no_access", "support_agent"):
        assert hidden, "an Admin sees pages these roles do not"
    context = browser.new_context(base_url=dash.server.url)
    try:
        opened = context.new_page()
        sign_in(opened, _person(dash, role))
        for path in hidden:
            answer = opened.request.get(path, max_redirects=0)
            assert answer.status == 403, (role, path, answer.status)
            assert "<h1>Not allowed</h1>" in answer.text(), (role, path)
    finally:
        context.close()


@pytest.mark.parametrize("role", ROLES[1:])
def test_forms_a_role_is_not_shown_are_refused_to_it_and_change_nothing(browser, dash, walks, role):
    hidden = [f for action, f in walks["admin"].forms.items() if action not in walks[role].forms]
    assert hidden, "an Admin has forms every other role does not"
    context = browser.new_context(base_url=dash.server.url)
    try:
        opened = context.new_page()
        sign_in(opened, _person(dash, role))
        opened.goto("/dashboard/account")
        token = str(
            opened.locator(f"input[name={security.CSRF_FIELD}]").first.get_attribute("value")
        )
        before = dash.server.snapshot()
        for form in hidden:
            forged = {**form.fields, security.CSRF_FIELD: token}
            answer = opened.request.post(form.action, form=forged, max_redirects=0)
            assert answer.status == 403, (role, form.action, form.label, answer.status)
        assert dash.server.snapshot() == before, role
    finally:
        context.close()
