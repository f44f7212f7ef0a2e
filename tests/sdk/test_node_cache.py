"""The warm hot path: a serving node answers sessions.authenticate (token and JWT, with an
authorization check) from memory, and never serves a revoked session, a stale role or a stale
policy: at once on the node that made the change, and after the change feed delivers it on
another node over the same database (bounded waits, never timing assertions)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt as pyjwt
from sqlalchemy import event
from stytch.core.response_base import StytchError

from tests.sdk.support import (
    AUDITOR,
    PROJECT_POLICY,
    check,
    email,
    install_policy,
    new_org,
    sdk_client,
    sign_in,
    stytch_error,
)
from tests.server import RunningServer, another_node

FEED_BOUND_SECONDS = 10.0  # a loop bound, far above the feed's real latency


@contextmanager
def statements(server: RunningServer) -> Iterator[list[str]]:
    """The SQL statements the server's node runs meanwhile (observed, not intercepted), but for
    the change feed's own polling (SQLite) and bare transaction control."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "changes" not in statement and statement.split()[0] not in ("BEGIN", "COMMIT"):
            seen.append(statement)

    engine = server.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def allowed(client: Any, token: str, org_id: str, resource: str, action: str) -> bool:
    try:
        client.sessions.authenticate(
            session_token=token, authorization_check=check(org_id, resource, action)
        )
    except StytchError as error:
        if error.details.error_type == "session_authorization_error":
            return False
        raise
    return True


def session_alive(client: Any, **credential: str) -> bool:
    try:
        client.sessions.authenticate(**credential)
    except StytchError as error:
        assert error.details.error_type in ("session_not_found", "invalid_jwt")
        return False
    return True


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + FEED_BOUND_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_warm_node_answers_checks_without_the_database(server, client):
    org_id = new_org(client).organization_id
    member = sign_in(client, org_id, email(), ["editor"])
    by_jwt = client.sessions.authenticate(session_jwt=member.session_jwt)  # warm both paths
    client.sessions.authenticate(session_token=member.session_token)
    with statements(server) as seen:
        for _ in range(20):
            warm = client.sessions.authenticate(
                session_token=member.session_token,
                authorization_check=check(org_id, "documents", "write"),
            )
            assert warm.verdict.granting_roles == ["editor"]
            again = client.sessions.authenticate(
                session_jwt=by_jwt.session_jwt,
                authorization_check=check(org_id, "documents", "read"),
            )
            assert again.member_session.member_session_id == warm.member_session.member_session_id
        with stytch_error(403, "session_authorization_error"):
            client.sessions.authenticate(
                session_token=member.session_token,
                authorization_check=check(org_id, "documents", "delete"),
            )
    assert seen == []


def test_revocation_is_seen_at_once_by_the_node_that_revoked(client):
    org_id = new_org(client).organization_id
    member = sign_in(client, org_id, email())
    session_jwt = client.sessions.authenticate(session_token=member.session_token).session_jwt
    assert session_alive(client, session_jwt=session_jwt)
    client.sessions.revoke(member_session_id=member.member_session.member_session_id)
    assert not session_alive(client, session_token=member.session_token)
    assert not session_alive(client, session_jwt=session_jwt)


def test_role_and_domain_rule_changes_are_seen_at_once(client):
    org_id = new_org(client).organization_id
    member = sign_in(client, org_id, email("partner.test"), ["editor"])
    token = member.session_token
    assert allowed(client, token, org_id, "documents", "write")
    client.organizations.members.update(
        organization_id=org_id, member_id=member.member_id, roles=["viewer"]
    )
    assert not allowed(client, token, org_id, "documents", "write")
    assert allowed(client, token, org_id, "documents", "read")
    client.organizations.update(
        organization_id=org_id,
        rbac_email_implicit_role_assignments=[{"domain": "partner.test", "role_id": "editor"}],
    )
    assert allowed(client, token, org_id, "documents", "write")
    client.organizations.members.delete(organization_id=org_id, member_id=member.member_id)
    assert not session_alive(client, session_token=token)


def test_policy_and_org_policy_changes_are_seen_at_once(server, client):
    org_id = new_org(client).organization_id
    powerless = {**AUDITOR, "permissions": []}
    client.rbac.organizations.set_org_policy(
        organization_id=org_id, org_policy={"roles": [powerless]}
    )
    token = sign_in(client, org_id, email(), ["auditor"]).session_token
    assert not allowed(client, token, org_id, "documents", "read")
    client.rbac.organizations.set_org_policy(
        organization_id=org_id, org_policy={"roles": [AUDITOR]}
    )
    assert allowed(client, token, org_id, "documents", "read")
    viewer = sign_in(client, org_id, email(), ["viewer"]).session_token
    assert allowed(client, viewer, org_id, "documents", "read")
    editor, viewer_role = PROJECT_POLICY["custom_roles"]
    install_policy(
        server, {**PROJECT_POLICY, "custom_roles": [editor, {**viewer_role, "permissions": []}]}
    )
    try:
        assert not allowed(client, viewer, org_id, "documents", "read")
    finally:
        install_policy(server, PROJECT_POLICY)
    assert allowed(client, viewer, org_id, "documents", "read")


def test_the_session_jwt_is_reused_until_something_in_it_changes(client):
    org_id = new_org(client).organization_id
    member = sign_in(client, org_id, email(), ["viewer"])
    first = client.sessions.authenticate(session_token=member.session_token).session_jwt
    second = client.sessions.authenticate(session_token=member.session_token).session_jwt
    assert first == second
    client.organizations.members.update(
        organization_id=org_id, member_id=member.member_id, roles=["editor"]
    )
    third = client.sessions.authenticate(session_token=member.session_token).session_jwt
    claims = pyjwt.decode(third, options={"verify_signature": False})
    assert third != first
    assert set(claims["https://stytch.com/session"]["roles"]) == {"stytch_member", "editor"}


def test_another_node_sees_changes_through_the_feed(server, client):
    with another_node(server) as node_b:
        b = sdk_client(node_b)
        org_id = new_org(client).organization_id
        member = sign_in(client, org_id, email(), ["editor"])
        token = member.session_token
        assert allowed(b, token, org_id, "documents", "write")  # node B is warm now
        client.organizations.members.update(
            organization_id=org_id, member_id=member.member_id, roles=["viewer"]
        )
        assert eventually(lambda: not allowed(b, token, org_id, "documents", "write"))
        client.rbac.organizations.set_org_policy(
            organization_id=org_id, org_policy={"roles": [AUDITOR]}
        )
        client.organizations.members.update(
            organization_id=org_id, member_id=member.member_id, roles=["auditor"]
        )
        assert eventually(lambda: allowed(b, token, org_id, "stytch.member", "search"))
        session_jwt = b.sessions.authenticate(session_token=token).session_jwt
        assert session_alive(b, session_jwt=session_jwt)
        client.sessions.revoke(session_token=token)
        assert eventually(lambda: not session_alive(b, session_token=token))
        assert not session_alive(b, session_jwt=session_jwt)


def test_a_node_whose_feed_stopped_answers_from_the_database(server, client):
    with another_node(server) as node_b:
        b = sdk_client(node_b)
        org_id = new_org(client).organization_id
        token = sign_in(client, org_id, email()).session_token
        assert session_alive(b, session_token=token)
        node_b.gatehouse.runtime.stop()  # as if its listening connection dropped
        assert not node_b.gatehouse.runtime.cache.live
        client.sessions.revoke(session_token=token)
        assert not session_alive(b, session_token=token)  # no wait: nothing answers from memory
        node_b.gatehouse.runtime.start()


def test_node_memory_is_bounded_by_settings(server, client):
    with another_node(server, cache_max_sessions=3) as node_b:
        b = sdk_client(node_b)
        org_id = new_org(client).organization_id
        members = [sign_in(client, org_id, email(), ["viewer"]) for _ in range(6)]
        for _ in range(2):
            for member in members:
                assert allowed(b, member.session_token, org_id, "documents", "read")
                assert node_b.gatehouse.runtime.cache.stats()["sessions"] <= 3
