"""The event log pages in a real browser: an environment's log (events made through the B2B API
with the official SDK and through the Management API with a key) and the workspace's own log
(dashboard actions), newest first, filtered by actor, action, target and time, paged by cursor
with "Older events" and "Newest", each entry opening to show what changed. Support Agents read it;
No Access has neither the tab nor the navigation entry and is refused the URL."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import pytest

from gatehouse.dashboard.pages.events import PAGE_SIZE
from tests.dashboard.browser import test_pages
from tests.dashboard.browser.test_pages import _person, _shot, sign_in
from tests.dashboard.test_sign_in import Dashboard
from tests.sdk.support import new_org

pytestmark = pytest.mark.timeout(300)
page = test_pages.page  # the fixture: a fresh browser context failing on console errors

RENAMED = 30  # organizations created, then renamed twice, in the measured window


@dataclass
class History:
    """What the fixture made: organizations before and inside a time window [start, end)."""

    before: list[Any]
    inside: list[Any]
    start: dt.datetime
    end: dt.datetime
    secret_actor: str
    key_actor: str
    patched: str  # the organization the management key renamed


def _next_second() -> dt.datetime:
    """Wait until the next whole second (UTC) and return it: every event recorded before the call
    is earlier than it, every one after is not."""
    now = dt.datetime.now(dt.UTC)
    boundary = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep((boundary - now).total_seconds() + 0.01)
    return boundary


@pytest.fixture(scope="module")
def history(dash: Dashboard) -> History:
    client = dash.server.b2b_client()
    before = [new_org(client) for _ in range(3)]
    start = _next_second()
    inside = []
    for _ in range(RENAMED):
        org = new_org(client)
        for n in (1, 2):
            renamed = f"{org.organization_slug} renamed {n}"
            client.organizations.update(org.organization_id, organization_name=renamed)
        inside.append(org)
    patched = inside[0].organization_id
    path = f"/pwa/v3/projects/{dash.server.project_slug}/environments/test/organizations/{patched}"
    response = dash.call("PATCH", path, {"organization_name": "Named by support"}, key=True)
    assert response.status_code == 200, response.text
    end = _next_second()
    with dash.server.store.read() as tx:
        (secret,) = dash.server.store.secrets(tx, dash.server.project_id)
    return History(
        before,
        inside,
        start,
        end,
        f"secret:{secret['id']}",
        f"workspace_key:{dash.server.management_key['key_id']}",
        patched,
    )


def _log_url(dash: Dashboard) -> str:
    return f"/dashboard/projects/{dash.server.project_slug}/environments/test/events"


def _entries(page: Any) -> list[dict[str, str]]:
    """Each entry's summary line as shown, and its id (in the entry's details)."""
    out = []
    for entry in page.locator("ol.events > li").all():
        out.append(
            {
                "time": entry.locator("summary time").get_attribute("datetime"),
                "action": entry.locator("summary .action").inner_text(),
                "actor": entry.locator("summary .actor").inner_text(),
                "target": entry.locator("summary .target").inner_text(),
                "id": entry.locator(".detail dd", has_text="#").first.text_content().strip(),
            }
        )
    return out


def _filter(page: Any, **fields: str) -> None:
    labels = {
        "actor": "Actor",
        "action": "Action",
        "target": "Target",
        "since": "From (UTC)",
        "until": "Until (UTC)",
    }
    for name, value in fields.items():
        page.get_by_label(labels[name]).fill(value)
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state()


def _local(instant: dt.datetime) -> str:
    """The value of a datetime-local input (UTC, to the second)."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_the_log_is_newest_first_and_pages_older_and_back_to_newest(
    page, dash, history, screenshots
):
    sign_in(page, _person(dash, "admin"))
    page.goto(_log_url(dash))
    tabs = page.get_by_role("navigation", name="Environment")
    assert tabs.get_by_role("link", name="Event log").get_attribute("aria-current") == "page"
    first = _entries(page)
    assert len(first) == PAGE_SIZE
    newest = first[0]
    assert (newest["action"], newest["target"]) == ("organization.update", history.patched)
    _shot(page, screenshots, "event-log")

    walked = list(first)
    assert page.get_by_role("link", name="Newest").count() == 0  # already there
    while page.get_by_role("link", name="Older events").count():
        page.get_by_role("link", name="Older events").click()
        page.wait_for_load_state()
        assert "before=" in page.url
        walked += _entries(page)
    _shot(page, screenshots, "event-log-oldest-page")
    times = [e["time"] for e in walked]
    assert times == sorted(times, reverse=True)  # newest first, across pages
    assert len({e["id"] for e in walked}) == len(walked)  # no entry twice
    created = {e["target"] for e in walked if e["action"] == "organization.create"}
    assert {o.organization_id for o in history.before + history.inside} <= created
    assert len(walked) >= 3 + 3 * RENAMED + 1

    page.get_by_role("link", name="Newest").click()
    page.wait_for_load_state()
    assert "before=" not in page.url
    assert _entries(page) == first


def test_filters_by_action_actor_and_target_and_they_follow_the_pages(
    page, dash, history, screenshots
):
    sign_in(page, _person(dash, "admin"))
    page.goto(_log_url(dash))
    _filter(page, action="organization.update")
    updates = _entries(page)
    assert len(updates) == PAGE_SIZE and {e["action"] for e in updates} == {"organization.update"}
    assert page.get_by_label("Action").input_value() == "organization.update"
    page.get_by_role("link", name="Older events").click()
    page.wait_for_load_state()
    older = _entries(page)
    # The cursor link keeps the filter: only updates, none of the first page's, and all of them.
    assert {e["action"] for e in older} == {"organization.update"}
    assert not {e["id"] for e in older} & {e["id"] for e in updates}
    assert len(updates) + len(older) == 2 * RENAMED + 1
    assert page.get_by_label("Action").input_value() == "organization.update"
    page.get_by_role("link", name="Newest").click()
    page.wait_for_load_state()
    assert _entries(page) == updates

    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_load_state()
    _filter(page, actor=history.key_actor)
    by_key = _entries(page)
    assert [(e["action"], e["target"]) for e in by_key] == [
        ("organization.update", history.patched)
    ]
    assert "Admin" in by_key[0]["actor"]  # the key's dashboard role, beside it

    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_load_state()
    _filter(page, target=history.patched)
    assert [e["action"] for e in _entries(page)] == [
        *["organization.update"] * 3,
        "organization.create",
    ]
    _filter(page, actor=history.secret_actor)  # with the target still set: both apply
    assert [e["action"] for e in _entries(page)] == [
        *["organization.update"] * 2,
        "organization.create",
    ]
    _shot(page, screenshots, "event-log-filtered")

    _filter(page, actor="", target="", action="no.such.action")
    assert _entries(page) == []
    assert "No events match these filters" in page.inner_text("main")
    _shot(page, screenshots, "event-log-no-match")


def test_a_time_range_selects_the_events_between_from_and_until(page, dash, history):
    sign_in(page, _person(dash, "admin"))
    page.goto(_log_url(dash))
    _filter(page, since=_local(history.start), until=_local(history.end))
    inside = _entries(page)
    assert page.get_by_role("link", name="Older events").count() == 1
    page.get_by_role("link", name="Older events").click()
    page.wait_for_load_state()
    inside += _entries(page)
    # Chromium shows a datetime-local value at :00 seconds without them, so compare instants.
    shown = page.get_by_label("From (UTC)").input_value()
    assert dt.datetime.fromisoformat(shown) == dt.datetime.fromisoformat(_local(history.start))
    # Exactly the window's events: each organization's create and renames, and the key's rename.
    assert len(inside) == 3 * RENAMED + 1
    assert {e["target"] for e in inside} == {o.organization_id for o in history.inside}
    for entry in inside:
        at = dt.datetime.fromisoformat(entry["time"])
        assert history.start <= at < history.end

    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_load_state()
    _filter(page, until=_local(history.start))
    earlier = {e["target"] for e in _entries(page)}
    assert {o.organization_id for o in history.before} <= earlier
    assert not earlier & {o.organization_id for o in history.inside}


def test_an_entry_opens_to_show_what_changed_and_who_did_it(page, dash, history, screenshots):
    sign_in(page, _person(dash, "admin"))
    page.goto(_log_url(dash))
    _filter(page, target=history.patched)
    entry = page.locator("ol.events > li").first
    detail = entry.locator(".detail")
    assert not detail.is_visible()  # closed until asked
    entry.locator("summary").click()
    assert detail.is_visible()
    facts = detail.locator("dl").inner_text()
    assert history.key_actor in facts and "Management key" in facts
    assert "Actor's role\nAdmin" in facts
    assert "organization.update" in facts and history.patched in facts
    changed = detail.get_by_role("row", name="organization_name")
    assert '"Named by support"' in changed.inner_text()
    _shot(page, screenshots, "event-log-entry-open")

    second = page.locator("ol.events > li").nth(1)
    second.locator("summary").click()
    facts = second.locator(".detail dl").inner_text()
    assert history.secret_actor in facts and "API secret" in facts
    assert "None (not a dashboard role)" in facts


def test_bad_filters_are_named_and_list_nothing(page, dash, history, screenshots):
    sign_in(page, _person(dash, "admin"))
    answer = page.goto(_log_url(dash) + "?since=yesterday&before=first")
    assert answer is not None and answer.status == 400
    alert = page.get_by_role("alert").inner_text()
    assert "“From” must be a date and time" in alert
    assert "The page link is broken" in alert
    assert _entries(page) == []
    _filter(page, since=_local(history.end), until=_local(history.start))
    assert "“From” must not be later than “Until”" in page.get_by_role("alert").inner_text()
    _filter(page, since="", until="", actor="nobody@nowhere.example")
    assert "No workspace member has the email address nobody@nowhere.example" in (
        page.get_by_role("alert").inner_text()
    )
    _shot(page, screenshots, "event-log-bad-filters")
    # An environment that is not there (asked with the page's cookies, outside the page: the
    # fixture counts a 404 the page loads as an error).
    missing = page.context.request.get(
        f"/dashboard/projects/{dash.server.project_slug}/environments/nope/events"
    )
    assert missing.status == 404 and "nope" in missing.text()


def test_the_workspace_log_shows_dashboard_actions_by_who_did_them(page, dash, screenshots):
    sign_in(page, _person(dash, "admin"))
    page.goto("/dashboard/members")
    page.get_by_label("Email address").fill("logged@b.example")
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_load_state()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Event log").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Workspace event log").count() == 1
    invited = page.locator("ol.events > li", has_text="workspace_member.invite").first
    summary = invited.locator("summary").inner_text()
    assert "admin@example.com" in summary and "Admin" in summary
    assert "logged@b.example" in invited.locator("summary .target").inner_text()  # by address
    invited.locator("summary").click()
    assert "logged@b.example" in invited.locator(".detail table").inner_text()
    assert '"developer"' in invited.locator(".detail table").inner_text()
    _shot(page, screenshots, "workspace-event-log")

    _filter(page, actor="ADMIN@example.com", action="workspace_member.invite")
    mine = _entries(page)
    assert mine and all(e["action"] == "workspace_member.invite" for e in mine)
    assert all(e["actor"].startswith("admin@example.com") for e in mine)


def test_a_support_agent_reads_both_logs(page, dash, history, screenshots):
    sign_in(page, _person(dash, "support_agent"))
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Event log").count() == 1
    page.goto(_log_url(dash))
    tabs = page.get_by_role("navigation", name="Environment")
    assert tabs.get_by_role("link", name="Event log").count() == 1
    # The breadcrumb names the project without linking it: the role may not view its settings.
    assert page.get_by_role("navigation", name="Breadcrumb").get_by_role("link").count() == 1
    _filter(page, target=history.patched)
    assert len(_entries(page)) == 4
    _shot(page, screenshots, "event-log-support-agent")
    nav.get_by_role("link", name="Event log").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Workspace event log").count() == 1
    assert len(_entries(page)) > 0


def test_no_access_has_no_event_log_and_is_refused_its_urls(page, dash, screenshots):
    sign_in(page, _person(dash, "no_access"))
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Event log").count() == 0
    for path in (_log_url(dash), "/dashboard/events"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        assert "does not allow this (View Event Logs)" in page.inner_text("main")
        assert page.locator("ol.events").count() == 0
    _shot(page, screenshots, "event-log-refused-no-access")
