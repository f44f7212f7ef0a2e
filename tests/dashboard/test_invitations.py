"""Inviting colleagues: an Admin (or an Admin management key) invites an address with a role; the
emailed link signs the invitee in, verified and active, with that role."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.dashboard.test_sign_in import ADMIN, Dashboard, Mailbox, dashboard_server, token_in
from tests.databases import throwaway_database
from tests.server import FAST_ARGON2, running_server

INVITE = "/pwa/v3/workspace/invitations"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with dashboard_server(tmp_path_factory.mktemp("db")) as running:
        yield running


def test_an_admin_invites_a_colleague_with_a_chosen_role(dash):
    invited = dash.invite("Ivy@Invite.example", "developer")
    assert (invited["email_address"], invited["status"], invited["email_verified"]) == (
        "ivy@invite.example",
        "invited",
        False,
    )
    assert dash.members()["ivy@invite.example"]["status"] == "invited"
    message = dash.mailbox.take("ivy@invite.example")
    assert message["Subject"] == "Join Tests on Gatehouse"
    assert "Developer dashboard role" in message.get_content()

    signed_in = dash.redeem(token_in(message))
    member = signed_in["member"]
    assert (member["member_id"], member["status"], member["email_verified"]) == (
        invited["member_id"],
        "active",
        True,
    )
    assert (member["role"], member["explicit_role"], member["role_source"]) == (
        "developer",
        "developer",
        "explicit",
    )
    assert dash.me(signed_in["session_token"])["role"] == "developer"
    assert dash.members()["ivy@invite.example"]["status"] == "active"

    admin_id = dash.members()[ADMIN]["member_id"]
    ivy = f"workspace_member:{invited['member_id']}"
    logged = [
        (e["actor"], e["actor_role"], e["action"], e["changes"])
        for e in dash.events()
        if e["target"] == invited["member_id"]
    ]
    assert logged == [
        (
            f"workspace_member:{admin_id}",
            "admin",
            "workspace_member.invite",
            {"email": "ivy@invite.example", "role": "developer"},
        ),
        (
            ivy,
            "developer",
            "workspace_member.invitation_accept",
            {"status": ["invited", "active"], "email_verified": [False, True]},
        ),
        (ivy, "developer", "workspace_member.sign_in", {"method": "invitation"}),
    ]


def test_the_invitation_link_works_once(dash):
    dash.invite("jo@invite.example", "support_agent")
    token = token_in(dash.mailbox.take("jo@invite.example"))
    dash.redeem(token)
    path = "/pwa/v3/auth/magic_links/authenticate"
    dash.refused(401, "email_link_used", "POST", path, {"token": token})


def test_an_invited_person_may_ask_for_a_sign_in_link_instead(dash):
    dash.invite("kai@invite.example", "support_manager")
    dash.mailbox.take("kai@invite.example")  # lost, or expired
    member = dash.sign_in_by_link("kai@invite.example")["member"]
    assert (member["status"], member["email_verified"], member["role"]) == (
        "active",
        True,
        "support_manager",
    )


def test_a_member_or_pending_invitee_cannot_be_invited_again(dash):
    dash.invite("lee@invite.example", "no_access")
    dash.mailbox.take("lee@invite.example")
    for address in ("lee@invite.example", "LEE@invite.example", ADMIN):
        body = {"email_address": address, "role": "admin"}
        dash.refused(409, "duplicate_workspace_member", "POST", INVITE, body, token=dash.admin)
    assert dash.mailbox.sent_to("lee@invite.example") == []


def test_only_those_who_manage_members_invite(dash):
    body = {"email_address": "max@invite.example", "role": "developer"}
    for role in ("developer", "support_manager", "support_agent", "no_access"):
        address = f"{role}@staff.example"
        dash.invite(address, role)
        token = dash.redeem(token_in(dash.mailbox.take(address)))["session_token"]
        refused = dash.refused(403, "forbidden", "POST", INVITE, body, token=token)
        assert "workspace.members.manage" in refused["error_message"]
    dash.refused(401, "unauthorized_credentials", "POST", INVITE, body)
    dash.refused(401, "unauthorized_credentials", "POST", INVITE, body, token="made-up")
    assert dash.mailbox.sent_to("max@invite.example") == []


def test_an_admin_management_key_invites_too(dash):
    body = {"email_address": "nia@invite.example", "role": "support_agent"}
    member = dash.ok("POST", INVITE, body, key=True)["member"]
    event = dash.events()[-1]
    assert (event["actor"], event["actor_role"], event["action"]) == (
        f"workspace_key:{dash.server.management_key['key_id']}",
        "admin",
        "workspace_member.invite",
    )
    signed_in = dash.redeem(token_in(dash.mailbox.take("nia@invite.example")))
    assert signed_in["member"]["member_id"] == member["member_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"email_address": "oz@invite.example", "role": "owner"},
        {"email_address": "not an email", "role": "developer"},
        {"email_address": "oz@invite.example"},
        {"role": "developer"},
        {"email_address": "oz@invite.example", "role": "developer", "name": "Oz"},
        {"email_address": "oz@invite.example", "role": None},
    ],
)
def test_a_bad_invitation_is_refused(dash, body):
    dash.refused(400, "invalid_request", "POST", INVITE, body, token=dash.admin)


def test_a_withdrawn_invitation_no_longer_signs_in(dash):
    invited = dash.invite("pia@invite.example", "developer")
    token = token_in(dash.mailbox.take("pia@invite.example"))
    dash.ok("DELETE", f"/pwa/v3/workspace/members/{invited['member_id']}", token=dash.admin)
    path = "/pwa/v3/auth/magic_links/authenticate"
    refused = dash.refused(404, "email_link_not_found", "POST", path, {"token": token})
    assert "withdrawn" in refused["error_message"]
    assert "pia@invite.example" not in dash.members()


def test_a_domain_role_applies_to_an_invitee_once_verified(dash):
    dash.put_domain("auto-invite.example", jit_enabled=False, auto_role="support_manager")
    dash.invite("quin@auto-invite.example", "no_access")
    listed = dash.members()["quin@auto-invite.example"]
    assert (listed["role"], listed["explicit_role"], listed["domain_role"]) == (
        "no_access",
        "no_access",
        None,
    )
    member = dash.redeem(token_in(dash.mailbox.take("quin@auto-invite.example")))["member"]
    expected = ("support_manager", "no_access", "support_manager", "domain")
    assert (
        member["role"],
        member["explicit_role"],
        member["domain_role"],
        member["role_source"],
    ) == expected
    listed = dash.members()["quin@auto-invite.example"]
    assert (
        listed["role"],
        listed["explicit_role"],
        listed["domain_role"],
        listed["role_source"],
    ) == expected


def test_a_mail_server_failure_invites_nobody(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, smtp_host="127.0.0.1", smtp_port=closed_port, **FAST_ARGON2) as server,
    ):
        dash = Dashboard(server, Mailbox())
        try:
            body = {"email_address": "ray@invite.example", "role": "developer"}
            refused = dash.refused(502, "email_delivery_failed", "POST", INVITE, body, key=True)
            assert "nobody was invited" in refused["error_message"]
        finally:
            dash.http.close()
