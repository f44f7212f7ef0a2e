"""Joining by email domain (JIT) and domains' automatic roles (docs/spec/dashboard-permissions.md):
someone who proves an address at an allowed domain joins as Support Agent, or as the domain's
automatic role; the automatic role applies to every verified member at that domain, at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.test_sign_in import ADMIN, Dashboard, dashboard_server, token_in

SEND = "/pwa/v3/auth/magic_links/send"
AUTHENTICATE = "/pwa/v3/auth/magic_links/authenticate"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with dashboard_server(tmp_path_factory.mktemp("db")) as running:
        yield running


def _roles(member: dict) -> tuple[str, str, str | None, str]:
    return (
        member["role"],
        member["explicit_role"],
        member["domain_role"],
        member["role_source"],
    )


def test_jit_joins_as_support_agent_by_default(dash):
    dash.put_domain("jit.example", jit_enabled=True)
    signed_in = dash.sign_in_by_link("Sam@JIT.example")
    member = signed_in["member"]
    assert (member["email_address"], member["status"], member["email_verified"]) == (
        "sam@jit.example",
        "active",
        True,
    )
    # No explicit role: they follow the domain rule, whose default is Support Agent.
    assert _roles(member) == ("support_agent", None, None, "jit_default")
    assert dash.me(signed_in["session_token"])["role"] == "support_agent"
    assert _roles(dash.members()["sam@jit.example"]) == _roles(member)
    actor = f"workspace_member:{member['member_id']}"
    logged = [(e["actor"], e["actor_role"], e["action"]) for e in dash.events()[-3:]]
    assert logged == [
        ("email:sam@jit.example", None, "workspace.join_link_send"),
        (actor, "support_agent", "workspace_member.join"),
        (actor, "support_agent", "workspace_member.sign_in"),
    ]
    assert dash.events()[-2]["changes"] == {
        "email": "sam@jit.example",
        "role": "support_agent",
        "via": "jit",
        "domain": "jit.example",
    }


def test_jit_joins_with_the_domains_automatic_role(dash):
    dash.put_domain("jit-dev.example", jit_enabled=True, auto_role="developer")
    member = dash.sign_in_by_link("tia@jit-dev.example")["member"]
    assert _roles(member) == ("developer", None, "developer", "domain")


@pytest.mark.parametrize("rule", [None, {"jit_enabled": False, "auto_role": "developer"}])
def test_no_jit_without_an_enabled_rule(dash, rule):
    if rule is not None:
        dash.put_domain("closed.example", **rule)
    address = "uli@closed.example" if rule else "uli@no-rule.example"
    before = dash.server.snapshot()
    assert dash.call("POST", SEND, {"email_address": address}).status_code == 200
    assert dash.server.snapshot() == before  # no link stored, no member, no event
    dash.send_link(ADMIN)  # a later message arrives, the first never does
    dash.mailbox.take(ADMIN)
    assert dash.mailbox.sent_to(address) == []
    assert address not in dash.members()


def test_a_link_sent_before_jit_was_switched_off_does_not_join(dash):
    dash.put_domain("late.example", jit_enabled=True)
    dash.send_link("vic@late.example")
    token = token_in(dash.mailbox.take("vic@late.example"))
    dash.put_domain("late.example", jit_enabled=False)
    refused = dash.refused(403, "forbidden", "POST", AUTHENTICATE, {"token": token})
    assert "late.example" in refused["error_message"]
    dash.ok("DELETE", "/pwa/v3/workspace/domains/late.example", token=dash.admin)
    dash.refused(403, "forbidden", "POST", AUTHENTICATE, {"token": token})
    assert "vic@late.example" not in dash.members()


def test_a_domain_role_reaches_earlier_members_at_once_and_goes_with_the_rule(dash):
    # Two verified members who joined by invitation before the domain had a rule.
    dash.invite("wes@acme.example", "no_access")
    wes = dash.redeem(token_in(dash.mailbox.take("wes@acme.example")))["session_token"]
    dash.invite("xia@acme.example", "developer")
    dash.redeem(token_in(dash.mailbox.take("xia@acme.example")))
    dash.invite("yan@acme.example", "no_access")  # invited, not yet verified
    dash.mailbox.take("yan@acme.example")
    keys = "/pwa/v3/workspace/keys"  # Admins only
    dash.refused(403, "forbidden", "GET", keys, token=wes)

    dash.put_domain("acme.example", jit_enabled=False, auto_role="admin")
    members = dash.members()
    assert _roles(members["wes@acme.example"]) == ("admin", "no_access", "admin", "domain")
    assert _roles(members["xia@acme.example"]) == ("admin", "developer", "admin", "domain")
    assert _roles(members["yan@acme.example"]) == ("no_access", "no_access", None, "explicit")
    assert dash.me(wes)["role"] == "admin"
    dash.ok("GET", keys, token=wes)  # the session acts with the new role at once

    dash.put_domain("acme.example", jit_enabled=False, auto_role="support_agent")
    members = dash.members()
    assert _roles(members["wes@acme.example"]) == (
        "support_agent",
        "no_access",
        "support_agent",
        "domain",
    )
    # The explicit role is the more privileged: it stays in force.
    assert _roles(members["xia@acme.example"]) == (
        "developer",
        "developer",
        "support_agent",
        "explicit",
    )
    dash.refused(403, "forbidden", "GET", keys, token=wes)

    dash.ok("DELETE", "/pwa/v3/workspace/domains/acme.example", token=dash.admin)
    members = dash.members()
    assert _roles(members["wes@acme.example"]) == ("no_access", "no_access", None, "explicit")
    assert _roles(members["xia@acme.example"]) == ("developer", "developer", None, "explicit")
    assert dash.me(wes)["role"] == "no_access"


def test_a_jit_member_is_an_ordinary_member_afterwards(dash):
    dash.put_domain("again.example", jit_enabled=True)
    first = dash.sign_in_by_link("zoe@again.example")["member"]
    second = dash.sign_in_by_link("zoe@again.example")["member"]
    assert first["member_id"] == second["member_id"]
    assert [m for m in dash.members() if m == "zoe@again.example"] == ["zoe@again.example"]
    assert dash.events()[-1]["action"] == "workspace_member.sign_in"
    assert dash.events()[-2]["action"] == "workspace_member.sign_in_link_send"
