"""What an operator sees of a running node, over real HTTP: the access log (`gatehouse.access`),
`GET /metrics` (Prometheus text) and `GET /readyz`; and a sign-in link the SMTP server refused
(the event log and a metric, while the API answered 200)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatehouse.api.observability import ACCESS_LOGGER, caller_kind
from tests.api.sessions_helper import Api, Member
from tests.databases import backend, throwaway_database
from tests.server import FAST_ARGON2, RunningServer, running_server

ORG_ROUTE = "/v1/b2b/organizations/{organization_id}"
ALLOWED = ("stytch.self", "update.info.name")  # stytch_member may
DENIED = ("stytch.organization", "update.info.name")  # stytch_member may not


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A node logging every request as JSON lines."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url, access_log="all", log_format="json", **FAST_ARGON2) as running,
    ):
        yield running


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]


def api(server: RunningServer, secret: str | None = None) -> Api:
    return Api(server.url, server.project_id, secret or server.secret)


def check_body(member: Member, resource_action: tuple[str, str], org: str = "") -> dict[str, Any]:
    resource_id, action = resource_action
    return {
        "session_token": member.session_token,
        "authorization_check": {
            "organization_id": org or member.organization_id,
            "resource_id": resource_id,
            "action": action,
        },
    }


def wait_for(predicate: Any, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)


# -- the access log ------------------------------------------------------------------------------


def test_every_request_is_a_json_line_with_the_route_template(json_server, access):
    b2b = api(json_server)
    try:
        org = b2b.new_org()
        member = b2b.add_member(org)
        found = b2b.request("GET", f"/v1/b2b/organizations/{org}")
        assert found.status_code == 200
        queried = b2b.request("GET", f"/v1/b2b/organizations/{org}", params={"q": "secret-query"})
        assert queried.status_code == 400  # an unknown parameter: refused, and logged without it
        missing = b2b.request("GET", "/v1/b2b/organizations/organization-test-nope")
        assert missing.status_code == 404
        checked = b2b.request(
            "POST", "/v1/b2b/sessions/authenticate", body=check_body(member, DENIED)
        )
        assert checked.status_code == 403
    finally:
        b2b.close()
    wait_for(lambda: len(lines(access)) >= 6, "six access log lines")
    entries = [json.loads(line) for line in lines(access)]
    for entry in entries:
        assert set(entry) == {
            "time",
            "request_id",
            "method",
            "route",
            "status",
            "duration_ms",
            "caller",
        }
        assert entry["duration_ms"] >= 0
    by_status = {(e["route"], e["status"]): e for e in entries}
    ok = by_status[(ORG_ROUTE, 200)]
    assert (ok["method"], ok["caller"]) == ("GET", "secret")
    assert ok["request_id"] == found.json()["request_id"]
    not_found = by_status[(ORG_ROUTE, 404)]
    assert not_found["request_id"] == missing.json()["request_id"]
    denied = by_status[("/v1/b2b/sessions/authenticate", 403)]
    assert denied["request_id"] == checked.json()["request_id"]
    # Never a secret, a token, a query string or an id from the path.
    text = "\n".join(lines(access))
    for secret in (json_server.secret, member.session_token, "secret-query", org):
        assert secret not in text


def test_by_default_only_errors_are_logged_as_text(server, access):
    b2b = api(server)
    try:
        assert b2b.request("GET", "/v1/b2b/organizations/organization-test-x").status_code == 404
    finally:
        b2b.close()
    assert httpx.get(server.url + "/healthz").status_code == 200
    wrong = api(server, "secret-test-wrong")
    try:
        assert wrong.request("GET", "/v1/b2b/organizations/organization-test-x").status_code == 401
    finally:
        wrong.close()
    unrouted = httpx.get(server.url + "/no/such/path?token=abc")
    assert unrouted.status_code == 404
    # Only this test's routes: a connection another test left (a change stream) may log as it ends.
    ours = ("route=" + ORG_ROUTE + " ", "route=unmatched ", "route=/healthz ")

    def logged_here() -> list[str]:
        return [line for line in lines(access) if any(route in line for route in ours)]

    wait_for(lambda: len(logged_here()) >= 3, "three access log lines")
    logged = logged_here()
    assert len(logged) == 3, logged  # the 200 of /healthz is not logged
    assert all(r.levelno == logging.INFO for r in access.records if r.name == ACCESS_LOGGER)
    fields = [dict(part.split("=", 1) for part in line.split(" ")) for line in logged]
    assert [(f["route"], f["status"], f["caller"]) for f in fields] == [
        (ORG_ROUTE, "404", "secret"),
        (ORG_ROUTE, "401", "secret"),
        ("unmatched", "404", "anonymous"),
    ]
    assert fields[2]["request_id"] == unrouted.json()["request_id"]
    assert "abc" not in logged[2] and "secret-test-wrong" not in logged[1]


def test_an_unhandled_error_is_logged_with_the_request_id_its_500_names(
    json_server, access, monkeypatch
):
    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(json_server.gatehouse.organizations, "get", broken)
    b2b = api(json_server)
    try:
        response = b2b.request("GET", "/v1/b2b/organizations/organization-test-any")
    finally:
        b2b.close()
    assert response.status_code == 500
    rid = response.json()["request_id"]
    wait_for(lambda: any(rid in line for line in lines(access)), "the 500's access log line")
    (entry,) = [json.loads(line) for line in lines(access) if rid in line]
    assert (entry["route"], entry["status"], entry["caller"]) == (ORG_ROUTE, 500, "secret")
    assert rid in response.json()["error_message"]


def test_an_access_log_that_is_off_logs_nothing(tmp_path, access):
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, access_log="off", **FAST_ARGON2) as running,
    ):
        assert httpx.get(running.url + "/nothing-here").status_code == 404
    assert lines(access) == []


@pytest.mark.parametrize(
    ("path", "headers", "kind"),
    [
        ("/v1/b2b/organizations", [], "anonymous"),
        ("/v1/b2b/organizations", [(b"authorization", b"Basic eDp5")], "secret"),
        (
            "/v1/b2b/organizations",
            [(b"authorization", b"Basic eDp5"), (b"x-stytch-member-session", b"t")],
            "member_session",
        ),
        (
            "/v1/b2b/organizations",
            [(b"authorization", b"Basic eDp5"), (b"x-stytch-member-sessionjwt", b"j")],
            "member_session",
        ),
        ("/pwa/v3/projects", [(b"authorization", b"Basic eDp5")], "management_key"),
        ("/pwa/v3/projects", [(b"authorization", b"Bearer token")], "dashboard"),
        ("/pwa/v3/projects", [(b"authorization", b"Digest x")], "anonymous"),
    ],
)
def test_the_caller_kind_is_read_from_the_headers(path, headers, kind):
    assert caller_kind({"path": path, "headers": headers}) == kind


def test_management_and_dashboard_callers_are_named(server, access):
    key = server.management_key
    with httpx.Client(base_url=server.url) as http:
        http.get("/pwa/v3/projects/nope", auth=(key["key_id"], key["secret"]))
        http.get("/pwa/v3/projects/nope", headers={"authorization": "Bearer not-a-session"})
    wait_for(lambda: len(lines(access)) >= 2, "two access log lines")
    kinds = [line.rsplit("caller=", 1)[1] for line in lines(access)]
    assert kinds == ["management_key", "dashboard"]
    assert key["secret"] not in "\n".join(lines(access))


# -- /metrics ------------------------------------------------------------------------------------


def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_decisions_and_the_node(json_server):
    b2b = api(json_server)
    try:
        org = b2b.new_org()
        other = b2b.new_org()
        member = b2b.add_member(org)
        b2b.request("GET", f"/v1/b2b/organizations/{org}")  # warm the caches
        before = scrape(json_server)
        assert b2b.request("GET", f"/v1/b2b/organizations/{org}").status_code == 200
        authenticate = "/v1/b2b/sessions/authenticate"
        assert (
            b2b.request("POST", authenticate, body=check_body(member, ALLOWED)).status_code == 200
        )
        assert b2b.request("POST", authenticate, body=check_body(member, DENIED)).status_code == 403
        tenancy = b2b.request("POST", authenticate, body=check_body(member, ALLOWED, other))
        assert tenancy.json()["error_type"] == "session_authorization_tenancy_error"
        checks = [{"resource_id": r, "action": a} for r, a in (ALLOWED, DENIED, DENIED)]
        batch = b2b.request(
            "POST",
            "/v1/b2b/gatehouse/authorize",
            body={"organization_id": org, "session_token": member.session_token, "checks": checks},
        )
        assert batch.json()["results"] == [True, False, False]
        renamed = b2b.request(
            "PUT", f"/v1/b2b/organizations/{other}", body={"organization_name": "R"}
        )
        assert renamed.status_code == 200  # a change the feed delivers (to this node too)
        events = "gatehouse_change_feed_events_total"
        wait_for(lambda: value(scrape(json_server), events) > value(before, events), "a feed event")
        after = scrape(json_server)
    finally:
        b2b.close()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "gatehouse_http_request_duration_seconds_count"
    assert moved(requests, route=ORG_ROUTE, method="GET", status="200") == 1
    assert moved(requests, route="/v1/b2b/sessions/authenticate", method="POST", status="403") == 2
    assert (
        value(
            after,
            "gatehouse_http_request_duration_seconds_bucket",
            route=ORG_ROUTE,
            method="GET",
            status="200",
            le="+Inf",
        )
        >= 2
    )
    decisions = "gatehouse_authorization_decisions_total"
    assert moved(decisions, endpoint="check", decision="allowed") == 1
    assert moved(decisions, endpoint="check", decision="denied") == 1
    assert moved(decisions, endpoint="check", decision="tenancy") == 1
    assert moved(decisions, endpoint="batch", decision="allowed") == 1
    assert moved(decisions, endpoint="batch", decision="denied") == 2
    # The warm calls were answered from memory: the credentials and the session.
    assert moved("gatehouse_node_cache_hits_total", cache="credential") >= 4
    assert moved("gatehouse_node_cache_hits_total", cache="session") >= 3
    assert ("gatehouse_node_cache_misses_total", (("cache", "session"),)) in after
    assert value(after, "gatehouse_change_feed_connected") == 1
    assert ("gatehouse_change_feed_reconnects_total", ()) in after
    lag = "gatehouse_change_feed_lag_seconds"
    if backend() == "sqlite":  # the feed row's time: write to delivery
        assert moved(lag + "_count") >= 1
        assert 0 <= moved(lag + "_sum") / moved(lag + "_count") < 5
    else:  # a NOTIFY carries no time: events only
        assert value(after, lag + "_count") == 0
    assert ("gatehouse_database_pool_checked_out", ()) in after
    assert ("gatehouse_password_hashes_in_flight", ()) in after
    assert ("gatehouse_email_delivery_failures_total", ()) in after


# -- /readyz -------------------------------------------------------------------------------------


def test_ready_until_the_change_feed_stops(tmp_path):
    with throwaway_database(tmp_path) as url, running_server(url, **FAST_ARGON2) as running:
        ready = httpx.get(running.url + "/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "change_feed": "ok"},
        }
        assert httpx.get(running.url + "/healthz").json() == {"status": "ok"}
        running.gatehouse.runtime.stop()
        stopped = httpx.get(running.url + "/readyz")
        assert stopped.status_code == 503
        body = stopped.json()
        assert (body["status"], body["failed"]) == ("not_ready", ["change_feed"])
        assert body["checks"]["change_feed"] == "the change feed is not connected"
        assert value(scrape(running), "gatehouse_change_feed_connected") == 0
        assert httpx.get(running.url + "/healthz").status_code == 200  # alive, not ready
        running.gatehouse.runtime.start()
        wait_for(lambda: httpx.get(running.url + "/readyz").status_code == 200, "ready again")


# -- a sign-in link the SMTP server refused --------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failed_sign_in_email_is_an_event_and_a_metric(tmp_path: Path, caplog):
    caplog.set_level(logging.ERROR, logger="gatehouse.services.workspace.sign_in")
    with (
        throwaway_database(tmp_path) as url,
        running_server(
            url, smtp_host="127.0.0.1", smtp_port=_closed_port(), **FAST_ARGON2
        ) as running,
    ):
        before = value(scrape(running), "gatehouse_email_delivery_failures_total")
        sent = httpx.post(
            running.url + "/pwa/v3/auth/magic_links/send",
            json={"email_address": "admin@example.com"},
        )
        assert sent.status_code == 200  # the caller is never told

        def failures() -> list[dict[str, Any]]:
            store = running.store
            with store.read() as tx:
                workspace = store.get_workspace(tx)
                assert workspace is not None
                events = store.events(tx, workspace["id"], limit=100)
            return [dict(e) for e in events if e["action"] == "email.delivery_failed"]

        wait_for(failures, "the email.delivery_failed event")
        (event,) = failures()
        assert (event["actor"], event["target"]) == ("gatehouse", "example.com")
        assert "token" not in json.dumps(event, default=str)
        assert value(scrape(running), "gatehouse_email_delivery_failures_total") == before + 1
    assert any("could not send the sign-in link" in r.getMessage() for r in caplog.records)
