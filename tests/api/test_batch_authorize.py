"""`POST /v1/b2b/gatehouse/authorize` (many checks for one session) and
`GET /v1/b2b/gatehouse/policy` (the policy with its version), over real HTTP.

Every batch verdict is compared with the single check of the official SDK
(`sessions.authenticate(..., authorization_check=...)`), which is the reference: the batch must
never disagree with it. Refused requests must answer the error JSON and change nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stytch.core.response_base import StytchError

from tests.client.world import (
    PAIRS,
    World,
    build_world,
    server_verdict,
    set_policy_over_http,
)
from tests.client.world import POLICY as WORLD_POLICY
from tests.sdk.support import check, email, sign_in
from tests.server import RunningServer

AUTHORIZE = "/v1/b2b/gatehouse/authorize"
POLICY = "/v1/b2b/gatehouse/policy"
ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    return build_world(server)


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    # A fresh connection per request: on a kept-alive loopback connection a request body sent in
    # a second write waits for the server's delayed ACK.
    with httpx.Client(
        base_url=server.url,
        auth=(server.project_id, server.secret),
        timeout=60,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        yield client


def batch(
    http: httpx.Client, org_id: str, pairs: list[tuple[str, str]], **session: Any
) -> httpx.Response:
    checks = [{"resource_id": r, "action": a} for r, a in pairs]
    return http.post(AUTHORIZE, json={"organization_id": org_id, "checks": checks, **session})


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def refused(server: RunningServer, send: Any, status: int, error_type: str) -> dict[str, Any]:
    """Call `send()`; expect the error JSON with `status` and `error_type`, and no change."""
    before = server.snapshot()
    response = send()
    body = response.json()
    assert (response.status_code, body.get("error_type")) == (status, error_type), body
    assert set(body) == ERROR_KEYS and body["status_code"] == status
    assert body["error_message"] and not body["error_message"][0].isupper()
    assert server.snapshot() == before
    return body  # type: ignore[no-any-return]


# -- verdicts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["session_token", "session_jwt"])
def test_every_result_equals_the_single_check(
    server: RunningServer, http: httpx.Client, world: World, by: str
) -> None:
    for who, member in world.members.items():
        answer = ok(batch(http, world.org_id, PAIRS, **{by: getattr(member, by)}))
        expected = [
            server_verdict(world.sdk, member.session_token, world.org_id, r, a) for r, a in PAIRS
        ]
        assert answer["results"] == expected, who
        assert answer["member_id"] == member.member_id
        assert answer["organization_id"] == world.org_id
        assert "decisions" not in answer


def test_the_table_covers_both_verdicts_for_each_kind_of_grant(
    http: httpx.Client, world: World
) -> None:
    """A guard on the table itself: each member is allowed something and denied something."""
    results = {
        who: dict(
            zip(
                PAIRS,
                ok(batch(http, world.org_id, PAIRS, session_token=m.session_token))["results"],
                strict=True,
            )
        )
        for who, m in world.members.items()
    }
    assert all(any(r.values()) and not all(r.values()) for r in results.values())
    assert results["admin"][("stytch.member", "no.such.action")]  # `*` covers undeclared actions
    assert results["billing"][("billing", "refund")]  # on a custom resource too
    assert results["auditor"][("stytch.member", "search")]  # an org custom role
    assert results["implicit"][("documents", "read")]  # an email-domain implicit role
    assert not results["implicit"][("documents", "write")]
    assert not any(r[("no-such-resource", "read")] for r in results.values())


def test_results_keep_request_order_over_a_long_batch(http: httpx.Client, world: World) -> None:
    member = world.members["editor"]
    verdict = dict(
        zip(
            PAIRS,
            ok(batch(http, world.org_id, PAIRS, session_token=member.session_token))["results"],
            strict=True,
        )
    )
    pairs = random.Random(7).choices(PAIRS, k=10_000)
    answer = ok(batch(http, world.org_id, pairs, session_jwt=member.session_jwt))
    assert answer["results"] == [verdict[p] for p in pairs]


def test_explain_names_granting_roles_and_reasons(http: httpx.Client, world: World) -> None:
    admin, auditor = world.members["admin"], world.members["auditor"]
    pairs = [
        ("stytch.member", "create"),
        ("stytch.member", "no.such.action"),
        ("documents", "read"),
        ("no-such-resource", "read"),
        ("documents", "shred"),
    ]
    answer = ok(batch(http, world.org_id, pairs, session_token=admin.session_token, explain=True))
    assert answer["results"] == [d["authorized"] for d in answer["decisions"]]
    create, typo, denied, unknown, undeclared = answer["decisions"]
    assert create == {
        "authorized": True,
        "granting_roles": ["stytch_admin"],
        "reason": "granted `*` on `stytch.member` by `stytch_admin`",
    }
    assert typo["authorized"] and "`no.such.action` is not declared" in typo["reason"]
    assert not denied["authorized"] and denied["granting_roles"] == []
    assert "grants `read` on `documents`" in denied["reason"]
    assert unknown["reason"] == "resource `no-such-resource` is not in the policy"
    assert "`shred` is not declared on `documents`" in undeclared["reason"]

    granted = ok(
        batch(
            http,
            world.org_id,
            [("documents", "read")],
            session_token=auditor.session_token,
            explain=True,
        )
    )["decisions"][0]
    single = world.sdk.sessions.authenticate(
        session_token=auditor.session_token,
        authorization_check=check(world.org_id, "documents", "read"),
    )
    assert granted["granting_roles"] == single.verdict.granting_roles == ["auditor"]


def test_another_organization_is_the_single_checks_tenancy_error(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    outsider = world.outsider
    body = refused(
        server,
        lambda: batch(http, world.org_id, PAIRS, session_token=outsider.session_token),
        403,
        "session_authorization_tenancy_error",
    )
    with pytest.raises(StytchError) as single:
        world.sdk.sessions.authenticate(
            session_token=outsider.session_token,
            authorization_check=check(world.org_id, "stytch.member", "create"),
        )
    assert body["error_message"] == single.value.details.error_message


def test_a_batch_writes_nothing_and_mints_no_jwt(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    member = world.members["editor"]
    before = server.snapshot()
    answer = ok(batch(http, world.org_id, PAIRS, session_token=member.session_token))
    assert server.snapshot() == before
    assert set(answer) == {
        "status_code",
        "request_id",
        "member_id",
        "organization_id",
        "policy_version",
        "results",
    }


def test_a_revoked_session_is_not_found(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    member = sign_in(world.sdk, world.org_id, email(), ["editor"])
    assert ok(batch(http, world.org_id, PAIRS[:2], session_token=member.session_token))
    world.sdk.sessions.revoke(member_session_id=member.member_session.member_session_id)
    for session in ({"session_token": member.session_token}, {"session_jwt": member.session_jwt}):
        refused(
            server,
            lambda s=session: batch(http, world.org_id, PAIRS, **s),
            404,
            "session_not_found",
        )


def test_a_tampered_jwt_is_refused(server: RunningServer, http: httpx.Client, world: World) -> None:
    header, payload, signature = world.members["plain"].session_jwt.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    refused(
        server, lambda: batch(http, world.org_id, PAIRS, session_jwt=forged), 401, "invalid_jwt"
    )


# -- bad input --------------------------------------------------------------------------------

ONE = [{"resource_id": "documents", "action": "read"}]


def _bodies(world: World) -> dict[str, tuple[Any, str]]:
    """name -> (body, expected error_type); each body is wrong in exactly one way."""
    token = world.members["editor"].session_token
    jwt = world.members["editor"].session_jwt
    base = {"session_token": token, "organization_id": world.org_id, "checks": ONE}
    many = ONE * 10_001
    return {
        "empty checks": ({**base, "checks": []}, "invalid_request"),
        "10,001 checks": ({**base, "checks": many}, "invalid_request"),
        "checks not a list": ({**base, "checks": ONE[0]}, "invalid_request"),
        "a check not an object": ({**base, "checks": ["documents:read"]}, "invalid_request"),
        "a number for an action": (
            {**base, "checks": [{"resource_id": "documents", "action": 7}]},
            "invalid_request",
        ),
        "an empty resource id": (
            {**base, "checks": [{"resource_id": "", "action": "read"}]},
            "invalid_request",
        ),
        "a check without its action": (
            {**base, "checks": [{"resource_id": "documents"}]},
            "invalid_request",
        ),
        "an unknown field in a check": (
            {**base, "checks": [{**ONE[0], "organization_id": world.org_id}]},
            "invalid_request",
        ),
        "a null in a check": (
            {**base, "checks": [{"resource_id": None, "action": "read"}]},
            "invalid_request",
        ),
        "explain not a boolean": ({**base, "explain": "yes"}, "invalid_request"),
        "both token and jwt": ({**base, "session_jwt": jwt}, "invalid_request"),
        "neither token nor jwt": (
            {"organization_id": world.org_id, "checks": ONE},
            "invalid_request",
        ),
        "an unknown field": ({**base, "authorization_check": ONE[0]}, "invalid_request"),
        "a null field": ({**base, "session_jwt": None}, "invalid_request"),
        "no organization": ({"session_token": token, "checks": ONE}, "invalid_request"),
        "a NUL in a resource id": (
            {**base, "checks": [{"resource_id": "doc\x00", "action": "r"}]},
            "invalid_request",
        ),
        "a list for a body": ([base], "invalid_json"),
    }


BAD = [
    "empty checks",
    "10,001 checks",
    "checks not a list",
    "a check not an object",
    "a number for an action",
    "an empty resource id",
    "a check without its action",
    "an unknown field in a check",
    "a null in a check",
    "explain not a boolean",
    "both token and jwt",
    "neither token nor jwt",
    "an unknown field",
    "a null field",
    "no organization",
    "a NUL in a resource id",
    "a list for a body",
]


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_refused_and_changes_nothing(
    server: RunningServer, http: httpx.Client, world: World, name: str
) -> None:
    body, error_type = _bodies(world)[name]
    answer = refused(server, lambda: http.post(AUTHORIZE, json=body), 400, error_type)
    assert len(answer["error_message"]) < 5_000  # thousands of bad checks: the first few


def test_the_bad_input_table_is_complete(world: World) -> None:
    assert sorted(_bodies(world)) == sorted(BAD)


def test_thousands_of_bad_checks_are_reported_by_the_first_few(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    body = {
        "session_token": world.members["plain"].session_token,
        "organization_id": world.org_id,
        "checks": [{"resource_id": 1, "action": 2}] * 5000,
    }
    answer = refused(server, lambda: http.post(AUTHORIZE, json=body), 400, "invalid_request")
    assert "checks[0].resource_id" in answer["error_message"]
    assert "more problems not listed" in answer["error_message"]


@pytest.mark.parametrize(
    "raw, content_type, status, error_type",
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_request"),
        (b'{"checks": NaN}', "application/json", 400, "invalid_json"),
        (b"organization_id=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (
            b'{"organization_id": "' + b"x" * 4_000_001 + b'"}',
            "application/json",
            413,
            "request_too_large",
        ),
    ],
)
def test_unreadable_bodies_are_refused(
    server: RunningServer,
    http: httpx.Client,
    raw: bytes,
    content_type: str,
    status: int,
    error_type: str,
) -> None:
    refused(
        server,
        lambda: http.post(AUTHORIZE, content=raw, headers={"content-type": content_type}),
        status,
        error_type,
    )


def test_a_lone_surrogate_is_refused(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    raw = json.dumps(
        {
            "session_token": world.members["plain"].session_token,
            "organization_id": world.org_id,
            "checks": [{"resource_id": "\ud800", "action": "read"}],
        }
    ).encode()
    refused(
        server,
        lambda: http.post(AUTHORIZE, content=raw, headers={"content-type": "application/json"}),
        400,
        "invalid_request",
    )


def test_the_project_secret_is_required(server: RunningServer, world: World) -> None:
    body = {
        "session_token": world.members["plain"].session_token,
        "organization_id": world.org_id,
        "checks": ONE,
    }
    for auth in [None, (server.project_id, "secret-test-wrong")]:
        refused(
            server,
            lambda a=auth: httpx.post(server.url + AUTHORIZE, json=body, auth=a),
            401,
            "unauthorized_credentials",
        )


# -- the policy with its version --------------------------------------------------------------


def test_the_policy_comes_with_its_version(
    server: RunningServer, http: httpx.Client, world: World
) -> None:
    first = ok(http.get(POLICY))
    assert first["policy"] == ok(http.get("/v1/b2b/rbac/policy"))["policy"]
    member = world.members["editor"]
    assert (
        ok(batch(http, world.org_id, PAIRS[:1], session_token=member.session_token))[
            "policy_version"
        ]
        == first["policy_version"]
    )

    reviewer = {
        "role_id": "reviewer",
        "description": "Reviews documents",
        "permissions": [{"resource_id": "documents", "actions": ["read"]}],
    }
    set_policy_over_http(
        server, {**WORLD_POLICY, "custom_roles": [*WORLD_POLICY["custom_roles"], reviewer]}
    )
    second = ok(http.get(POLICY))
    assert second["policy_version"] == first["policy_version"] + 1
    assert "reviewer" in {r["role_id"] for r in second["policy"]["roles"]}
    assert second["policy"] == ok(http.get("/v1/b2b/rbac/policy"))["policy"]
    assert (
        ok(batch(http, world.org_id, PAIRS[:1], session_token=member.session_token))[
            "policy_version"
        ]
        == second["policy_version"]
    )


def test_the_policy_refuses_unknown_query_parameters(
    server: RunningServer, http: httpx.Client
) -> None:
    refused(server, lambda: http.get(POLICY, params={"version": "1"}), 400, "invalid_request")
