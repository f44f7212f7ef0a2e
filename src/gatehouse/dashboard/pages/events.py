"""The event logs: an environment's (its B2B data and settings) and the workspace's own (people,
roles, keys, projects). Newest first, filtered by actor, target, action and time, a page at a time
by a keyset cursor (`before`: the id of the last event shown); each entry opens to show what
changed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import Visit, environment_url, page, render, run, url

PAGE_SIZE = 50
MAX_TEXT = 256
TEXT_FILTERS = ("actor", "target", "action")
TIME_FILTERS = {"since": "From", "until": "Until"}
ACTOR_KINDS = {
    "workspace_member": "Workspace member",
    "workspace_key": "Management key",
    "secret": "API secret",
}


@dataclass
class Query:
    """The filters as typed (shown back in the form), what the service is asked, and what is
    wrong with them."""

    typed: dict[str, str] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def href(self, base: str, **extra: str) -> str:
        given = {k: v for k, v in self.typed.items() if v} | extra
        return base + ("?" + urlencode(given) if given else "")


def _query(visit: Visit, people: dict[str, str]) -> Query:
    params = visit.request.query_params
    query = Query()
    for name in (*TEXT_FILTERS, *TIME_FILTERS):
        value = params.get(name, "").strip()
        query.typed[name] = value
        if not value:
            continue
        if len(value) > MAX_TEXT:
            query.problems.append(f"The {name} filter is too long (up to {MAX_TEXT} characters).")
        elif name in TIME_FILTERS:
            instant = _instant(value)
            if instant is None:
                query.problems.append(
                    f"“{TIME_FILTERS[name]}” must be a date and time, like 2026-01-31T09:30."
                )
            else:
                query.filters[name] = instant
        elif name == "actor" and "@" in value:
            member_id = people.get(value.lower())
            if member_id is None:
                query.problems.append(f"No workspace member has the email address {value}.")
            else:
                query.filters["actor"] = f"workspace_member:{member_id}"
        else:
            query.filters[name] = value
    since, until = query.filters.get("since"), query.filters.get("until")
    if since is not None and until is not None and since > until:
        query.problems.append("“From” must not be later than “Until”.")
    before = params.get("before", "")
    if before:
        if before.isdigit() and 0 < int(before) <= 2**53:
            query.filters["before"] = int(before)
        else:
            query.problems.append("The page link is broken: start again from the newest events.")
    return query


def _instant(value: str) -> dt.datetime | None:
    """A datetime-local value (`2026-01-31T09:30`, seconds optional), in UTC; an explicit offset
    is honoured."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        return None


def _iso(instant: dt.datetime, precise: bool = False) -> str:
    at = instant.astimezone(dt.UTC)
    text = at.isoformat(timespec="microseconds" if precise else "seconds")
    return text.replace("+00:00", "Z")


def _entry(row: dict[str, Any], emails: dict[str, str]) -> dict[str, Any]:
    kind, _, ident = row["actor"].partition(":")
    return {
        "id": row["id"],
        "at": _iso(row["created_at"]),
        "at_precise": _iso(row["created_at"], precise=True),
        "action": row["action"],
        "target": row["target"],
        "target_name": emails.get(row["target"]),  # a workspace member's email address
        "actor": row["actor"],
        "actor_name": emails.get(ident) if kind == "workspace_member" else None,
        "actor_kind": ACTOR_KINDS.get(kind, kind or "Unknown"),
        # Without a name: the kind, and the id's end (the whole id is in the details).
        "actor_short": f"{ACTOR_KINDS[kind]} …{ident[-6:]}"
        if kind in ACTOR_KINDS
        else row["actor"],
        "actor_role": row["actor_role"],
        # Each value as JSON text (escaped by the template, as every value is).
        "changes": [
            (k, json.dumps(v, ensure_ascii=False)) for k, v in sorted(row["changes"].items())
        ],
    }


async def _people(visit: Visit) -> tuple[dict[str, str], dict[str, str]]:
    """The workspace's members: email (lowercased) -> id, and id -> email."""
    listed = await run(visit.gatehouse.workspace.list_members, visit.operator)
    by_email = {m["email_address"].lower(): m["member_id"] for m in listed}
    return by_email, {v: k for k, v in by_email.items()}


def _page(
    visit: Visit,
    query: Query,
    rows: list[Any],
    base: str,
    emails: dict[str, str],
    **context: Any,
) -> Response:
    shown = rows[:PAGE_SIZE]
    older = query.href(base, before=str(shown[-1]["id"])) if len(rows) > PAGE_SIZE else None
    return render(
        visit.request,
        "events.html",
        visit,
        status=400 if query.problems else 200,
        query=query,
        entries=[_entry(row, emails) for row in shown],
        filtered=any(query.typed.values()),
        paged="before" in query.filters,
        older=older,
        newest=query.href(base),
        clear=base,
        **context,
    )


@page("event_logs.view")
async def environment_events(visit: Visit) -> Response:
    slug, env = visit.request.path_params["slug"], visit.request.path_params["env"]
    by_email, emails = await _people(visit)
    query = _query(visit, by_email)
    # With filters it cannot read, the page still names the environment, and lists nothing.
    readable = not query.problems
    found, rows = await run(
        visit.gatehouse.support.event_log,
        visit.operator,
        slug,
        env,
        query.filters if readable else {},
        PAGE_SIZE + 1 if readable else 0,
    )
    return _page(
        visit,
        query,
        rows,
        environment_url(found.project["slug"], found.environment["slug"], "/events"),
        emails,
        project=found.project,
        environment=found.environment,
        tab="Event log",
    )


@page("event_logs.view")
async def workspace_events(visit: Visit) -> Response:
    by_email, emails = await _people(visit)
    query = _query(visit, by_email)
    rows = []
    if not query.problems:
        rows = await run(
            visit.gatehouse.support.workspace_events,
            visit.operator,
            query.filters,
            PAGE_SIZE + 1,
        )
    return _page(visit, query, rows, url("/events"), emails, project=None, environment=None)


ROUTES: list[BaseRoute] = [
    Route("/events", workspace_events, methods=["GET"]),
    Route("/projects/{slug}/environments/{env}/events", environment_events, methods=["GET"]),
]
