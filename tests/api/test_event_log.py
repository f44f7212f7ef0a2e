"""Every write records an event: actor, action, target, time and what changed."""

from __future__ import annotations

import datetime as dt

import bcrypt
import pytest
from stytch.b2b.models.organizations_members import UpdateRequestOptions
from stytch.core.response_base import StytchError
from stytch.shared.method_options import Authorization


def _events(server):
    with server.store.transaction() as tx:
        return server.store.events(tx, server.project_id, limit=1000)


def _secret_actor(server):
    with server.store.transaction() as tx:
        (secret,) = server.store.secrets(tx, server.project_id)
    return f"secret:{secret['id']}"


def test_each_write_is_logged_with_actor_action_target_and_changes(server):
    client = server.b2b_client()
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    org = client.organizations.create(
        organization_name="Logged", organization_slug="logged"
    ).organization
    client.organizations.update(org.organization_id, organization_name="Logged Inc")
    member = client.organizations.members.create(
        organization_id=org.organization_id, email_address="ann@logged.example", name="Ann"
    ).member
    client.organizations.members.update(org.organization_id, member.member_id, name="Ann B")
    client.organizations.members.delete(org.organization_id, member.member_id)
    client.organizations.members.reactivate(org.organization_id, member.member_id)
    client.rbac.organizations.set_org_policy(org.organization_id, {"roles": []})
    client.organizations.delete(org.organization_id)

    actor = _secret_actor(server)
    logged = [
        (e["actor"], e["action"], e["target"])
        for e in reversed(_events(server))
        if e["target"] in (org.organization_id, member.member_id)
    ]
    assert logged == [
        (actor, "organization.create", org.organization_id),
        (actor, "organization.update", org.organization_id),
        (actor, "member.create", member.member_id),
        (actor, "member.update", member.member_id),
        (actor, "member.delete", member.member_id),
        (actor, "member.reactivate", member.member_id),
        (actor, "org_policy.update", org.organization_id),
        (actor, "organization.delete", org.organization_id),
    ]
    update = next(e for e in _events(server) if e["action"] == "organization.update")
    assert update["changes"] == {"organization_name": "Logged Inc"}
    assert all(
        e["created_at"] >= before for e in _events(server) if e["target"] == org.organization_id
    )


def test_a_session_caller_is_logged_as_its_member_and_secrets_are_never_logged(server):
    client = server.b2b_client()
    org = client.organizations.create(
        organization_name="Actors", organization_slug="actors"
    ).organization
    password = "a long enough passphrase 42"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    member_id = client.passwords.migrate(
        email_address="sam@actors.example",
        hash=hashed,
        hash_type="bcrypt",
        organization_id=org.organization_id,
    ).member_id
    session = client.passwords.authenticate(
        organization_id=org.organization_id, email_address="sam@actors.example", password=password
    )
    client.organizations.members.update(
        org.organization_id,
        member_id,
        name="Sam",
        method_options=UpdateRequestOptions(
            authorization=Authorization(session_token=session.session_token)
        ),
    )
    events = _events(server)
    update = next(e for e in events if e["action"] == "member.update" and e["target"] == member_id)
    assert update["actor"] == f"member:{member_id}"
    text = repr(events)
    assert password not in text and hashed not in text and session.session_token not in text


def test_a_refused_write_logs_nothing(server):
    client = server.b2b_client()
    org = client.organizations.create(
        organization_name="Quiet", organization_slug="quiet"
    ).organization
    count = len(_events(server))
    with pytest.raises(StytchError):
        client.organizations.members.create(
            organization_id=org.organization_id,
            email_address="x@quiet.example",
            roles=["no_such_role"],
        )
    assert len(_events(server)) == count
