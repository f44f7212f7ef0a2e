"""HTTP-level hardening, over a real server on loopback: request bodies refused at the size limit
while they stream, slow or silent connections timed out, a connection cap that still answers,
NUL refused before any query, bounded search filter lists, event-log times out of range, and a
JWKS served from memory with an entity tag.

Every refusal asserts its status and error_type and that nothing changed in the database. Waits
are bounded loops; nothing asserts on timing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatehouse.api.gatehouse_schemas import MAX_BATCH_BYTES
from gatehouse.api.parsing import MAX_BODY_BYTES
from gatehouse.services.b2b.queries import MAX_FILTER_VALUES, MAX_QUERY_VALUES
from gatehouse.services.security.signing import new_signing_key
from tests.databases import throwaway_database
from tests.sdk.test_node_cache import statements
from tests.server import FAST_ARGON2, RunningServer, running_server

ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}
WAIT_BOUND_SECONDS = 15.0  # a loop bound, far above what any wait here needs
ORGS = "/v1/b2b/organizations"
ENVIRONMENT = "/pwa/v3/projects/{slug}/environments/test"

# The tight server: small limits, so that the tests reach them quickly.
HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 1
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(
            url,
            http_header_timeout_seconds=HEADER_TIMEOUT,
            http_keepalive_timeout_seconds=KEEPALIVE_TIMEOUT,
            max_connections=MAX_CONNECTIONS,
            **FAST_ARGON2,
        ) as running,
    ):
        yield running


# -- raw HTTP ---------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _address(server: RunningServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=WAIT_BOUND_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket) -> Answer:
    """One response: status, headers and a body of `content-length` bytes (or up to EOF)."""
    data = b""
    deadline = time.monotonic() + WAIT_BOUND_SECONDS
    while b"\r\n\r\n" not in data:
        assert time.monotonic() < deadline, f"no complete response head: {data[:200]!r}"
        chunk = sock.recv(65536)
        assert chunk, f"the server closed without answering: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while (length < 0 or len(body) < length) and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body[: length if length >= 0 else None])


def _closed_by_server(sock: socket.socket) -> bool:
    """Wait (bounded) until the server closes `sock`; True if it did."""
    deadline = time.monotonic() + WAIT_BOUND_SECONDS
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _assert_error(answer: Answer | httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    status_code = answer.status if isinstance(answer, Answer) else answer.status_code
    body = answer.json()
    assert (status_code, body.get("error_type")) == (status, error_type), body
    assert set(body) == ERROR_KEYS and body["status_code"] == status
    return dict(body)


# -- 1. request bodies: refused at the limit, while they stream -------------------------------

SEND_AT_MOST = 40_000_000  # the client gives up sending after this many bytes
CHUNK = 65_536


def _send_oversized(
    server: RunningServer, path: str, auth: str | None, chunked: bool
) -> tuple[Answer, int, int]:
    """POST a body far over the limit, a chunk at a time, stopping as soon as the server
    answers. Returns the answer, the bytes of body sent, and the body's declared size."""
    declared = 300_000_000
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = auth
    if chunked:
        headers["transfer-encoding"] = "chunked"
    else:
        headers["content-length"] = str(declared)
    sock = _connect(server)
    try:
        sock.sendall(_head("POST", path, headers))
        payload = b"[" + b"1," * (CHUNK // 2 - 1) + b"1"
        frame = b"%x\r\n" % len(payload) + payload + b"\r\n" if chunked else payload
        sent = 0
        while sent < SEND_AT_MOST:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading: its answer is waiting
            sent += len(payload)
        else:
            pytest.fail(f"no answer after {sent} bytes of body: the server is reading it all")
        return _read_answer(sock), sent, declared
    finally:
        sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "limit", "authenticated"),
    [
        ("/pwa/v3/auth/magic_links/send", MAX_BODY_BYTES, False),
        ("/v1/b2b/gatehouse/authorize", MAX_BATCH_BYTES, True),
    ],
    ids=["unauthenticated-route", "batch-authorize"],
)
def test_an_oversized_body_is_refused_at_the_limit_not_after_reading_it(
    server: RunningServer, path: str, limit: int, authenticated: bool, chunked: bool
) -> None:
    before = server.snapshot()
    auth = _basic(server.project_id, server.secret) if authenticated else None
    answer, sent, declared = _send_oversized(server, path, auth, chunked)
    body = _assert_error(answer, 413, "request_too_large")
    assert str(limit) in body["error_message"]
    # The server answered while the body was still being sent (the client stops at the answer,
    # having sent at most SEND_AT_MOST of the declared 300 MB): it did not wait to read it all.
    assert sent < SEND_AT_MOST < declared
    assert answer.headers["connection"] == "close"
    assert server.snapshot() == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_just_within_the_limit_still_works(server: RunningServer, chunked: bool) -> None:
    body = json.dumps({"organization_name": f"padded {chunked}"}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    content: Any = (
        iter([body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]) if chunked else body
    )
    response = httpx.post(
        server.url + ORGS,
        content=content,
        headers={"content-type": "application/json"},
        auth=(server.project_id, server.secret),
    )
    assert response.status_code == 200, response.text


# -- 2. slow and silent connections, and the connection cap -----------------------------------


def test_a_half_sent_request_head_is_closed_by_the_server(tight: RunningServer) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # never finished
        assert _closed_by_server(sock)
    finally:
        sock.close()


def test_a_silent_connection_is_closed_by_the_server(tight: RunningServer) -> None:
    sock = _connect(tight)
    try:
        assert _closed_by_server(sock)
    finally:
        sock.close()


def test_a_kept_alive_connection_that_starts_a_head_and_stalls_is_closed(
    tight: RunningServer,
) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(_head("GET", "/healthz", {}))
        assert _read_answer(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request's head, stalled
        assert _closed_by_server(sock)
    finally:
        sock.close()


def test_an_idle_kept_alive_connection_is_closed_by_the_server(tight: RunningServer) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(_head("GET", "/healthz", {}))
        assert _read_answer(sock).status == 200
        assert _closed_by_server(sock)
    finally:
        sock.close()


def test_at_the_connection_cap_a_request_is_answered_503_and_service_resumes(
    tight: RunningServer,
) -> None:
    jwks = f"/v1/b2b/sessions/jwks/{tight.project_id}"
    before = tight.snapshot()
    idle = [_connect(tight) for _ in range(MAX_CONNECTIONS)]
    try:
        sock = _connect(tight)
        try:
            sock.sendall(_head("GET", jwks, {}))
            answer = _read_answer(sock)
        finally:
            sock.close()
        _assert_error(answer, 503, "server_busy")
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.headers["connection"] == "close"
        assert tight.snapshot() == before
        # The idle connections are timed out, and then every request is served again.
        assert all(_closed_by_server(s) for s in idle)
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + WAIT_BOUND_SECONDS
    while (status := httpx.get(tight.url + jwks).status_code) == 503:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == 200


# -- 3. NUL in credentials and path ids: refused before any query -------------------------------


def _refused_before_any_query(
    server: RunningServer, method: str, path: str, auth: str | None, status: int, error_type: str
) -> None:
    before = server.snapshot()
    headers = {"authorization": auth} if auth else {}
    with statements(server) as seen:
        response = httpx.request(method, server.url + path, headers=headers)
    _assert_error(response, status, error_type)
    assert seen == [], f"a refused request ran SQL: {seen}"
    assert server.snapshot() == before


@pytest.mark.parametrize("where", ["project_id", "secret"])
def test_nul_in_basic_auth_credentials_is_refused_before_any_query(
    server: RunningServer, where: str
) -> None:
    project_id = server.project_id + ("\x00" if where == "project_id" else "")
    secret = server.secret + ("\x00" if where == "secret" else "")
    _refused_before_any_query(
        server,
        "GET",
        ORGS + "/organization-test-x",
        _basic(project_id, secret),
        401,
        "unauthorized_credentials",
    )


def test_nul_in_a_management_key_id_is_refused_before_any_query(server: RunningServer) -> None:
    key = server.management_key
    _refused_before_any_query(
        server,
        "GET",
        "/pwa/v3/projects",
        _basic(key["key_id"] + "\x00", key["secret"]),
        401,
        "unauthorized_credentials",
    )


NUL_PATHS = [
    ("GET", "/pwa/v3/projects/%00"),
    ("DELETE", "/pwa/v3/projects/a%00b"),
    ("GET", "/pwa/v3/projects/{slug}/environments/%00"),
    ("GET", "/pwa/v3/projects/{slug}/environments/test/secrets/%00"),
    ("DELETE", "/pwa/v3/workspace/keys/%00"),
    ("DELETE", "/pwa/v3/workspace/members/%00"),
    ("PUT", "/pwa/v3/workspace/domains/%00"),
    ("GET", "/pwa/v3/projects/{slug}/environments/test/organizations/%00"),
    ("GET", ORGS + "/%00"),
    ("GET", ORGS + "/x/members/%00"),
    ("GET", "/v1/b2b/sessions/jwks/%00"),
]


@pytest.mark.parametrize(("method", "path"), NUL_PATHS, ids=[f"{m} {p}" for m, p in NUL_PATHS])
@pytest.mark.parametrize("credentials", ["management-key", "project-secret", "none"])
def test_nul_in_a_path_id_is_refused_before_any_query(
    server: RunningServer, method: str, path: str, credentials: str
) -> None:
    auth = {
        "management-key": _basic(server.management_key["key_id"], server.management_key["secret"]),
        "project-secret": _basic(server.project_id, server.secret),
        "none": None,
    }[credentials]
    _refused_before_any_query(
        server, method, path.format(slug=server.project_slug), auth, 400, "invalid_request"
    )


# -- 4. search filter lists are bounded ---------------------------------------------------------


def _search(server: RunningServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, auth=(server.project_id, server.secret))


@pytest.fixture(scope="module")
def org_id(server: RunningServer) -> str:
    response = httpx.post(
        server.url + ORGS,
        json={"organization_name": "Searched"},
        auth=(server.project_id, server.secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["organization"]["organization_id"])


@pytest.mark.parametrize(
    ("path", "filter_name", "extra"),
    [
        (ORGS + "/search", "organization_ids", {}),
        (ORGS + "/search", "member_emails", {}),
        (ORGS + "/members/search", "member_ids", {"organization_ids": ["ORG"]}),
        (ORGS + "/members/search", "member_roles", {"organization_ids": ["ORG"]}),
    ],
)
def test_a_filter_list_over_the_limit_is_refused_naming_the_filter(
    server: RunningServer, org_id: str, path: str, filter_name: str, extra: dict[str, Any]
) -> None:
    extra = {k: [org_id if v == "ORG" else v for v in vs] for k, vs in extra.items()}
    values = [f"v{i}@example.com" for i in range(MAX_FILTER_VALUES + 1)]
    query = {"operator": "OR", "operands": [{"filter_name": filter_name, "filter_value": values}]}
    before = server.snapshot()
    body = _assert_error(_search(server, path, {"query": query, **extra}), 400, "invalid_request")
    assert "query.operands[0].filter_value" in body["error_message"]
    assert f"`{filter_name}`" in body["error_message"]
    assert str(MAX_FILTER_VALUES) in body["error_message"]
    assert server.snapshot() == before
    # At the limit it is an ordinary search.
    query["operands"][0]["filter_value"] = values[:MAX_FILTER_VALUES]
    assert _search(server, path, {"query": query, **extra}).status_code == 200


def test_filter_lists_over_the_limit_together_are_refused(server: RunningServer) -> None:
    per = MAX_FILTER_VALUES
    operands = [
        {"filter_name": "organization_ids", "filter_value": [f"o{n}-{i}" for i in range(per)]}
        for n in range(MAX_QUERY_VALUES // per + 1)
    ]
    before = server.snapshot()
    body = _assert_error(
        _search(server, ORGS + "/search", {"query": {"operator": "OR", "operands": operands}}),
        400,
        "invalid_request",
    )
    assert str(MAX_QUERY_VALUES) in body["error_message"]
    assert server.snapshot() == before


# -- 5. event-log times whose offset leaves the calendar ----------------------------------------


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_an_event_log_time_out_of_range_in_utc_is_a_400(
    server: RunningServer, name: str, value: str
) -> None:
    key = server.management_key
    before = server.snapshot()
    response = httpx.get(
        server.url + ENVIRONMENT.format(slug=server.project_slug) + "/events",
        params={name: value},
        auth=(key["key_id"], key["secret"]),
    )
    body = _assert_error(response, 400, "invalid_request")
    assert name in body["error_message"]
    assert server.snapshot() == before


# -- 6. the JWKS, from memory, with an entity tag -----------------------------------------------


def test_a_warm_jwks_runs_no_sql_and_revalidates_with_304(server: RunningServer) -> None:
    url = f"{server.url}/v1/b2b/sessions/jwks/{server.project_id}"
    first = httpx.get(url)  # may load it
    assert first.status_code == 200
    with statements(server) as seen:
        warm = httpx.get(url)
        etag = warm.headers["etag"]
        again = httpx.get(url, headers={"if-none-match": etag})
        listed = httpx.get(url, headers={"if-none-match": f'"other", {etag}'})
        other = httpx.get(url, headers={"if-none-match": 'W/"not-this-one"'})
    assert seen == [], f"a warm JWKS request ran SQL: {seen}"
    assert warm.status_code == 200 and warm.json()["keys"] == first.json()["keys"]
    assert etag == first.headers["etag"] and etag.startswith('W/"')
    assert warm.headers["cache-control"] == "public, max-age=300"
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag and again.headers["cache-control"]
    assert listed.status_code == 304
    assert other.status_code == 200 and other.json()["keys"] == first.json()["keys"]


def test_a_new_signing_key_is_published_at_once_with_a_new_etag(tmp_path: Path) -> None:
    with throwaway_database(tmp_path) as db, running_server(db, **FAST_ARGON2) as server:
        url = f"{server.url}/v1/b2b/sessions/jwks/{server.project_id}"
        first = httpx.get(url)
        assert len(first.json()["keys"]) == 1
        store = server.store
        with store.transaction() as tx:
            store.insert_signing_key(
                tx,
                new_signing_key(
                    server.project_id, dt.datetime.now(dt.UTC), server.gatehouse.runtime.sealer
                ),
            )
        after = httpx.get(url, headers={"if-none-match": first.headers["etag"]})
        assert after.status_code == 200
        assert len(after.json()["keys"]) == 2
        assert after.headers["etag"] != first.headers["etag"]


def test_an_unknown_project_jwks_is_still_a_404(server: RunningServer) -> None:
    before = server.snapshot()
    response = httpx.get(
        f"{server.url}/v1/b2b/sessions/jwks/project-test-00000000-0000-4000-8000-000000000000"
    )
    _assert_error(response, 404, "project_not_found")
    assert "etag" not in response.headers
    assert server.snapshot() == before
