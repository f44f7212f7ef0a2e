"""The hot path (api/hot.py) answers exactly as the ordinary stack: the same requests, good and
bad, sent over HTTP to a node with it and to a node without it (`http_hot_path = false`) over one
database, get the same status, headers and JSON (less what is per request or per node: the
request id and the session JWT); and the fixed-shape readers accept only bodies the route models
accept, reading them to the same values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gatehouse.api import hot, schemas
from gatehouse.api.gatehouse_schemas import parse_batch
from gatehouse.api.parsing import validate
from tests.api.sessions_helper import Api, Member
from tests.databases import throwaway_database
from tests.server import FAST_ARGON2, RunningServer, another_node, running_server

AUTHENTICATE = "/v1/b2b/sessions/authenticate"
AUTHORIZE = "/v1/b2b/gatehouse/authorize"


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, RunningServer]]:
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url, **FAST_ARGON2) as with_hot_path,
        another_node(with_hot_path, http_hot_path=False) as without,
    ):
        assert with_hot_path.gatehouse.settings.http_hot_path
        assert not without.gatehouse.settings.http_hot_path
        yield with_hot_path, without


@pytest.fixture(scope="module")
def member(nodes: tuple[RunningServer, RunningServer]) -> Member:
    server = nodes[0]
    api = Api(server.url, server.project_id, server.secret)
    try:
        return api.add_member(api.new_org(), roles=["stytch_admin"])
    finally:
        api.close()


def _post(server: RunningServer, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def _comparable(response: httpx.Response) -> tuple[int, list[str], str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    if isinstance(answer, dict):
        answer.pop("request_id", None)
        if "session_jwt" in answer:
            answer["session_jwt"] = bool(answer["session_jwt"])
        if isinstance(answer.get("member_session"), dict):
            answer["member_session"].pop("last_accessed_at", None)
            # Compared apart (`_expiry`): a session extended by the request expires a duration
            # after the moment each node answered, and the two answers are moments apart.
            answer["member_session"].pop("expires_at", None)
    names = sorted(n for n in response.headers if n not in ("date", "content-length"))
    return response.status_code, names, response.headers.get("content-type", ""), answer


def _expiry(response: httpx.Response) -> dt.datetime | None:
    try:
        session = response.json().get("member_session")
    except (ValueError, AttributeError):
        return None
    if not isinstance(session, dict) or "expires_at" not in session:
        return None
    return dt.datetime.fromisoformat(session["expires_at"].replace("Z", "+00:00"))


def _cases(member: Member, auth: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    json_headers = {"Authorization": auth, "Content-Type": "application/json"}
    token, jwt, org = member.session_token, member.session_jwt, member.organization_id

    def check(resource: str = "stytch.member", action: str = "create", **extra: Any) -> Any:
        return {"organization_id": org, "resource_id": resource, "action": action, **extra}

    authenticate: dict[str, Any] = {
        "allowed": {"session_token": token, "authorization_check": check()},
        "denied": {"session_token": token, "authorization_check": check("stytch.self", "delete")},
        "other organization": {
            "session_token": token,
            "authorization_check": {**check(), "organization_id": "organization-test-nope"},
        },
        "no check": {"session_token": token},
        "by jwt": {"session_jwt": jwt, "authorization_check": check()},
        "token and jwt": {"session_token": token, "session_jwt": jwt},
        "neither": {"authorization_check": check()},
        "null token": {"session_token": None, "authorization_check": check()},
        "empty token": {"session_token": "", "authorization_check": check()},
        "unknown token": {"session_token": "x" * 44, "authorization_check": check()},
        "extra field": {"session_token": token, "nope": 1},
        "check extra key": {"session_token": token, "authorization_check": check(nope="x")},
        "check missing key": {
            "session_token": token,
            "authorization_check": {"organization_id": org, "resource_id": "stytch.member"},
        },
        "check not an object": {"session_token": token, "authorization_check": "stytch.member"},
        "resource too long": {"session_token": token, "authorization_check": check("r" * 129)},
        "number for a string": {"session_token": 7},
        "nul escape": {"session_token": token + "\x00"},
        "duration": {"session_token": token, "session_duration_minutes": 60},
        "array": [token],
    }
    checks = [{"resource_id": "stytch.member", "action": "create"}] * 3
    batch: dict[str, Any] = {
        "allowed": {"session_token": token, "organization_id": org, "checks": checks},
        "mixed": {
            "session_token": token,
            "organization_id": org,
            "checks": [*checks, {"resource_id": "stytch.self", "action": "delete"}],
        },
        "by jwt": {"session_jwt": jwt, "organization_id": org, "checks": checks},
        "explain": {
            "session_token": token,
            "organization_id": org,
            "checks": checks,
            "explain": True,
        },
        "explain false": {
            "session_token": token,
            "organization_id": org,
            "checks": checks,
            "explain": False,
        },
        "other organization": {
            "session_token": token,
            "organization_id": "organization-test-nope",
            "checks": checks,
        },
        "null jwt": {
            "session_token": token,
            "session_jwt": None,
            "organization_id": org,
            "checks": checks,
        },
        "no checks": {"session_token": token, "organization_id": org, "checks": []},
        "check extra key": {
            "session_token": token,
            "organization_id": org,
            "checks": [{"resource_id": "r", "action": "a", "x": "y"}],
        },
        "check empty action": {
            "session_token": token,
            "organization_id": org,
            "checks": [{"resource_id": "r", "action": ""}],
        },
        "both": {
            "session_token": token,
            "session_jwt": jwt,
            "organization_id": org,
            "checks": checks,
        },
        "extra field": {"session_token": token, "organization_id": org, "checks": checks, "x": 1},
    }
    cases = [
        (f"authenticate: {name}", AUTHENTICATE, json.dumps(body).encode(), json_headers)
        for name, body in authenticate.items()
    ]
    cases += [
        (f"authorize: {name}", AUTHORIZE, json.dumps(body).encode(), json_headers)
        for name, body in batch.items()
    ]
    allowed = json.dumps(authenticate["allowed"]).encode()
    for path in (AUTHENTICATE, AUTHORIZE):
        cases += [
            (f"{path}: malformed json", path, b'{"session_token": ', json_headers),
            (f"{path}: empty body", path, b"", json_headers),
            (f"{path}: text/plain", path, allowed, {**json_headers, "Content-Type": "text/plain"}),
            (f"{path}: no auth", path, allowed, {"Content-Type": "application/json"}),
            (
                f"{path}: wrong secret",
                path,
                allowed,
                {**json_headers, "Authorization": "Basic eDp5"},
            ),
            (f"{path}: bearer", path, allowed, {**json_headers, "Authorization": "Bearer x"}),
            (f"{path}: invalid utf-8", path, b'{"session_token":"\xff"}', json_headers),
        ]
    cases.append(
        (
            "authenticate: session header",
            AUTHENTICATE,
            allowed,
            {**json_headers, "X-Stytch-Member-Session": token},
        )
    )
    return cases


def test_every_request_gets_the_same_answer_with_and_without_the_hot_path(nodes, member):
    with_hot_path, without = nodes
    auth = httpx.BasicAuth(with_hot_path.project_id, with_hot_path.secret)
    header = auth._auth_header  # "Basic ..."
    for name, path, body, headers in _cases(member, header):
        # Asked twice, so that both nodes answer the second time from warm caches.
        for _ in range(2):
            hot_answer = _post(with_hot_path, path, body, headers)
            ordinary = _post(without, path, body, headers)
        assert _comparable(hot_answer) == _comparable(ordinary), name
        hot_expiry, ordinary_expiry = _expiry(hot_answer), _expiry(ordinary)
        assert (hot_expiry is None) == (ordinary_expiry is None), name
        if hot_expiry is not None and ordinary_expiry is not None:
            # The same expiry, up to the moments between the two answers.
            assert abs(hot_expiry - ordinary_expiry) < dt.timedelta(minutes=1), name
        assert hot_answer.headers["content-length"] == str(len(hot_answer.content)), name


def test_the_fast_readers_accept_only_what_the_models_accept_with_the_same_values():
    token, org = "t" * 44, "organization-test-1"
    check = {"organization_id": org, "resource_id": "stytch.member", "action": "create"}
    accepted = [
        {"session_token": token, "authorization_check": check},
        {"session_jwt": "a.b.c"},
        {"session_token": token},
    ]
    for body in accepted:
        raw = json.dumps(body).encode()
        given = validate(schemas.SessionAuthenticate, body).given()
        expected = (
            given.get("session_token"),
            given.get("session_jwt"),
            given.get("authorization_check"),
        )
        assert hot.authenticate_body(raw) == expected
    for raw in (
        b'{"session_token": "\\u0041"}',
        b'{"session_token": ""}',
        b'{"session_token": null}',
        b'{"session_token": "a", "session_jwt": "b"}',
        b'{"session_token": "a", "session_duration_minutes": 5}',
        b'{"session_token": "a", "authorization_check": {"organization_id": "o"}}',
        b"[]",
        b"{}",
        b"",
        b" ",
    ):
        with pytest.raises(hot._Unsure):
            hot.authenticate_body(raw)
    checks = [{"resource_id": "r", "action": "a"}] * 2
    batch = {"session_token": token, "organization_id": org, "checks": checks}
    raw = json.dumps(batch).encode()
    read = parse_batch(raw, "application/json")
    assert hot.authorize_body(raw) == (token, None, org, read.checks)
    for body in (
        {**batch, "explain": True},
        {**batch, "session_jwt": None},
        {**batch, "checks": []},
        {**batch, "checks": [{"resource_id": "r"}]},
        {**batch, "checks": [{"resource_id": "r", "action": "a", "x": "y"}]},
        {**batch, "organization_id": ""},
        {**batch, "x": 1},
    ):
        with pytest.raises(hot._Unsure):
            hot.authorize_body(json.dumps(body).encode())
