"""Session-header enforcement of the default resources on the organization and member endpoints.

docs/spec/PRODUCT.md, "Authorization semantics": a built-in endpoint called with a member session header
(`X-Stytch-Member-Session` or `X-Stytch-Member-SessionJWT`) needs, for each field an update sets,
that field's action; member operations need the `stytch.member` action, or the same `stytch.self`
action when the session's member is the target (`is_breakglass` and `roles` have no self action);
a session of another organization gets the tenancy error; `trusted_metadata` can never be set with
a session header; all required actions are checked before anything is written. Calls made with the
project secret alone are trusted.

Everything goes through real HTTP. A DENIED row expects 403 `session_authorization_error` whose
message names the missing action, and not one database row changed (`server.snapshot()`). An
ALLOWED row expects 200 and the change visible when read back with the project secret.

The two environments of the test project hold the policies (set once per module):
- "default" (the test environment): the default policy plus test roles: one per default action
  granting exactly it (`org:<action>`, `member:<action>`, `self:<action>`), one per action granting
  every *other* action of its resource (`org:all-but:<action>`, ...), `self:all` (`*` on
  `stytch.self`), `member:all-declared` (every declared `stytch.member` action, listed) and
  `viewer` (grants nothing);
- "strict" (the live environment): the same, except that `stytch_member` grants nothing, so that a
  member can be denied an operation on itself that the default `stytch_member` allows.
Each test makes its own organization and members, so the tests stay independent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gatehouse.policy import DEFAULT_RESOURCES, Role, default_policy
from tests.api.sessions_helper import (
    Api,
    Member,
    role,
    set_project_policy,
    with_roles,
)
from tests.databases import Snapshot
from tests.server import RunningServer

ORG = "stytch.organization"
MEMBER = "stytch.member"
SELF = "stytch.self"
STYTCH_ADMIN = "stytch_admin"

_PREFIX = {ORG: "org", MEMBER: "member", SELF: "self"}
ACTIONS = {r.resource_id: r.actions for r in DEFAULT_RESOURCES if r.resource_id in _PREFIX}

SELF_ALL = "self:all"
MEMBER_ALL_DECLARED = "member:all-declared"
VIEWER = "viewer"
PHONE = "+14155550100"  # test members start with this mfa phone number (unless one is set)


def only(resource: str, action: str) -> str:
    """The test role granting exactly `action` on `resource`."""
    return f"{_PREFIX[resource]}:{action}"


def all_but(resource: str, action: str) -> str:
    """The test role granting every declared action of `resource` except `action`."""
    return f"{_PREFIX[resource]}:all-but:{action}"


def _test_roles() -> list[Role]:
    roles = [
        role(VIEWER),
        role(SELF_ALL, (SELF, ("*",))),
        role(MEMBER_ALL_DECLARED, (MEMBER, ACTIONS[MEMBER])),
    ]
    for resource, actions in ACTIONS.items():
        for action in actions:
            roles.append(role(only(resource, action), (resource, (action,))))
            others = tuple(a for a in actions if a != action)
            roles.append(role(all_but(resource, action), (resource, others)))
    return roles


@pytest.fixture(scope="module")
def apis(server: RunningServer) -> Iterator[dict[str, Api]]:
    yield from _apis(server)


def _apis(server: RunningServer) -> Iterator[dict[str, Api]]:
    extra = _test_roles()
    set_project_policy(server, server.project_id, with_roles(default_policy(), extra))
    set_project_policy(
        server, server.live_project_id, with_roles(default_policy(), extra, bare_stytch_member=True)
    )
    made = {
        "default": Api(server.url, server.project_id, server.secret),
        "strict": Api(server.url, server.live_project_id, server.live_secret),
    }
    yield made
    for api in made.values():
        api.close()


@pytest.fixture
def api(apis: dict[str, Api]) -> Api:
    return apis["default"]


# -- assertions ----------------------------------------------------------------------------------


def assert_ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status_code"] == 200
    return body


def _names(message: str, word: str) -> bool:
    """`word` appears in `message` as a whole action/field name (not inside a longer one)."""
    return re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w.-])", message) is not None


def assert_denied(
    response: httpx.Response,
    *actions: str,
    resource: str | None = None,
    error_type: str = "session_authorization_error",
) -> None:
    assert response.status_code == 403, response.text
    error = response.json()
    assert error["status_code"] == 403
    assert error["error_type"] == error_type, error
    for action in actions:
        assert _names(error["error_message"], action), f"`{action}` not named: {error}"
    if resource is not None:
        assert resource in error["error_message"], error


def assert_unchanged(before: Snapshot, after: Snapshot) -> None:
    changes = before.changes(after)
    assert not changes, f"a refused call changed the database: {changes}"


def org_path(organization_id: str) -> str:
    return f"/v1/b2b/organizations/{organization_id}"


def member_path(target: Member) -> str:
    return f"/v1/b2b/organizations/{target.organization_id}/members/{target.member_id}"


def read_org(api: Api, organization_id: str) -> dict[str, Any]:
    return assert_ok(api.organization(organization_id))["organization"]  # type: ignore[no-any-return]


def read_member(api: Api, target: Member) -> dict[str, Any]:
    return assert_ok(api.member(target.organization_id, target.member_id))["member"]  # type: ignore[no-any-return]


def role_ids(member: dict[str, Any]) -> list[str]:
    """The member's role ids as the wire lists them: stytch_member first, then sorted."""
    return [r["role_id"] for r in member["roles"]]


def assert_not_found(response: httpx.Response, error_type: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error_type"] == error_type


# == 1. organization update fields and organization delete ======================================


@dataclass(frozen=True)
class OrgField:
    field: str
    action: str  # its stytch.organization action (docs/spec/PRODUCT.md's table)
    value: Any  # differs from a new organization's value


ORG_FIELDS = [
    OrgField("organization_name", "update.info.name", "Renamed organization"),
    OrgField("organization_slug", "update.info.slug", f"renamed-{uuid.uuid4().hex[:12]}"),
    OrgField("untrusted_metadata", "update.info.untrusted_metadata", {"tier": "gold"}),
    OrgField("email_jit_provisioning", "update.info.email_jit_provisioning", "RESTRICTED"),
    OrgField("organization_logo_url", "update.info.logo_url", "https://example.com/logo.png"),
    OrgField("email_invites", "update.info.email_invites", "NOT_ALLOWED"),
    OrgField("email_allowed_domains", "update.info.allowed_domains", ["example.org"]),
    # No SSO connection exists, so "" (no default connection) is the one value that can be set.
    OrgField("sso_default_connection_id", "update.info.default_sso_connection", ""),
    OrgField("sso_jit_provisioning", "update.info.sso_jit_provisioning", "NOT_ALLOWED"),
    OrgField("mfa_policy", "update.info.mfa_policy", "REQUIRED_FOR_ALL"),
    OrgField(
        "rbac_email_implicit_role_assignments",
        "update.info.implicit_roles",
        [{"domain": "example.net", "role_id": VIEWER}],
    ),
]


def test_org_field_table_covers_every_organization_action() -> None:
    declared = set(ACTIONS[ORG])
    assert {row.action for row in ORG_FIELDS} | {"delete"} == declared
    assert len({row.field for row in ORG_FIELDS}) == len(ORG_FIELDS) == len(declared) - 1


def org_roles(grantee: str, action: str) -> tuple[str, ...]:
    return {
        "stytch_member_only": (),
        "every_other_org_action": (all_but(ORG, action),),
        "only_this_action": (only(ORG, action),),
    }[grantee]


ORG_GRANTEES = [
    pytest.param("stytch_member_only", False, id="denied-stytch_member_only"),
    pytest.param("every_other_org_action", False, id="denied-every_other_org_action"),
    pytest.param("only_this_action", True, id="allowed-only_this_action"),
]


@pytest.mark.parametrize(("grantee", "allowed"), ORG_GRANTEES)
@pytest.mark.parametrize("row", ORG_FIELDS, ids=lambda row: row.field)
def test_organization_update_field(
    server: RunningServer, api: Api, row: OrgField, grantee: str, allowed: bool
) -> None:
    org_id = api.new_org()
    actor = api.add_member(org_id, roles=org_roles(grantee, row.action))
    # .get: a new organization's wire object has no `untrusted_metadata` until one is set.
    assert read_org(api, org_id).get(row.field) != row.value
    before = server.snapshot()

    response = api.request("PUT", org_path(org_id), as_member=actor, body={row.field: row.value})

    if allowed:
        assert assert_ok(response)["organization"][row.field] == row.value
        assert read_org(api, org_id)[row.field] == row.value
    else:
        assert_denied(response, row.action, resource=ORG)
        assert_unchanged(before, server.snapshot())


@pytest.mark.parametrize(("grantee", "allowed"), ORG_GRANTEES)
def test_organization_delete(server: RunningServer, api: Api, grantee: str, allowed: bool) -> None:
    org_id = api.new_org()
    actor = api.add_member(org_id, roles=org_roles(grantee, "delete"))
    before = server.snapshot()

    response = api.request("DELETE", org_path(org_id), as_member=actor)

    if allowed:
        assert assert_ok(response)["organization_id"] == org_id
        assert_not_found(api.organization(org_id), "organization_not_found")
    else:
        assert_denied(response, "delete", resource=ORG)
        assert_unchanged(before, server.snapshot())


# == 2. member operations, on another member and on oneself =====================================

Send = Callable[[Api, Member, "Member | None"], httpx.Response]  # (api, target, as_member)
Check = Callable[[Api, Member, dict[str, Any]], None]  # (api, target, response body)


@dataclass(frozen=True)
class MemberOp:
    id: str
    member_action: str  # the stytch.member action
    self_action: str | None  # the stytch.self action that suffices on oneself; None: there is none
    send: Send
    check: Check  # read-back after an allowed call


def update_field(field: str, member_action: str, self_action: str | None, value: Any) -> MemberOp:
    def send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
        return api.request("PUT", member_path(target), as_member=as_member, body={field: value})

    def check(api: Api, target: Member, body: dict[str, Any]) -> None:
        member = read_member(api, target)
        if field == "roles":
            # `roles` replaces the direct set; stytch_member is always there.
            assert role_ids(member) == ["stytch_member", *sorted(value)]
        else:
            assert body["member"][field] == value
            assert member[field] == value

    return MemberOp(field, member_action, self_action, send, check)


MEMBER_UPDATES = [
    update_field("name", "update.info.name", "update.info.name", "Renamed Member"),
    update_field(
        "untrusted_metadata",
        "update.info.untrusted_metadata",
        "update.info.untrusted_metadata",
        {"team": "blue"},
    ),
    update_field(
        "mfa_phone_number", "update.info.mfa-phone", "update.info.mfa-phone", "+14155550123"
    ),
    update_field(
        "mfa_enrolled", "update.settings.mfa_enrolled", "update.settings.mfa_enrolled", True
    ),
    update_field("is_breakglass", "update.settings.is-breakglass", None, True),
    update_field("roles", "update.settings.roles", None, [VIEWER]),
]


def _delete_send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
    return api.request("DELETE", member_path(target), as_member=as_member)


def _delete_check(api: Api, target: Member, body: dict[str, Any]) -> None:
    assert body["member_id"] == target.member_id
    assert_not_found(api.member(target.organization_id, target.member_id), "member_not_found")


def _delete_phone_send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
    path = f"{org_path(target.organization_id)}/members/mfa_phone_numbers/{target.member_id}"
    return api.request("DELETE", path, as_member=as_member)


def _delete_phone_check(api: Api, target: Member, body: dict[str, Any]) -> None:
    assert read_member(api, target)["mfa_phone_number"] == ""


def _delete_password_send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
    path = f"{org_path(target.organization_id)}/members/passwords/{target.password_id}"
    return api.request("DELETE", path, as_member=as_member)


def _delete_password_check(api: Api, target: Member, body: dict[str, Any]) -> None:
    assert read_member(api, target)["member_password_id"] == ""


def _new_email(target: Member) -> str:
    return f"new.{target.email}"


def _create_send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
    body = {"email_address": _new_email(target), "name": "Created"}
    return api.request(
        "POST", f"{org_path(target.organization_id)}/members", as_member=as_member, body=body
    )


def _create_check(api: Api, target: Member, body: dict[str, Any]) -> None:
    created = assert_ok(api.member_by_email(target.organization_id, _new_email(target)))["member"]
    assert created["member_id"] == body["member_id"]
    assert created["name"] == "Created"


def _search_send(api: Api, target: Member, as_member: Member | None) -> httpx.Response:
    body = {"organization_ids": [target.organization_id]}
    return api.request(
        "POST", "/v1/b2b/organizations/members/search", as_member=as_member, body=body
    )


def _search_check(api: Api, target: Member, body: dict[str, Any]) -> None:
    assert target.member_id in {m["member_id"] for m in body["members"]}
    assert set(body["organizations"]) == {target.organization_id}


DELETE = MemberOp("delete", "delete", "delete", _delete_send, _delete_check)
DELETE_MFA_PHONE = MemberOp(
    "delete_mfa_phone_number",
    "update.info.delete.mfa-phone",
    "update.info.delete.mfa-phone",
    _delete_phone_send,
    _delete_phone_check,
)
# stytch.member declares no `update.info.delete.password`: on another member only `*` grants it.
DELETE_PASSWORD = MemberOp(
    "delete_password",
    "update.info.delete.password",
    "update.info.delete.password",
    _delete_password_send,
    _delete_password_check,
)
CREATE = MemberOp("create", "create", None, _create_send, _create_check)
SEARCH = MemberOp("search", "search", None, _search_send, _search_check)
MEMBER_OPS = {
    op.id: op for op in (*MEMBER_UPDATES, DELETE, DELETE_MFA_PHONE, DELETE_PASSWORD, CREATE, SEARCH)
}


def test_member_tables_cover_every_member_and_self_action() -> None:
    assert {op.member_action for op in MEMBER_OPS.values()} >= set(ACTIONS[MEMBER])
    assert {op.self_action for op in MEMBER_OPS.values()} - {None} == set(ACTIONS[SELF])


@dataclass(frozen=True)
class MemberCase:
    op: MemberOp
    target: str  # "other": another member of the org; "self": the session's own member
    environment: str  # "default" or "strict" (stytch_member grants nothing)
    roles: tuple[str, ...]  # the acting member's direct roles (besides stytch_member)
    allowed: bool
    missing: str | None = None  # the action a denial must name
    missing_on: str | None = None  # the resource it must name; None: either may be named


def _case(label: str, case: MemberCase) -> Any:
    outcome = "allowed" if case.allowed else "denied"
    return pytest.param(case, id=f"{case.op.id}-{case.target}-{outcome}-{label}")


def member_cases() -> Iterator[Any]:
    for op in (*MEMBER_UPDATES, DELETE, DELETE_MFA_PHONE):
        ma, sa = op.member_action, op.self_action
        # Another member is the target: only the stytch.member action counts.
        yield _case("stytch_member_only", MemberCase(op, "other", "default", (), False, ma, MEMBER))
        yield _case(
            "every_other_member_action_and_all_self_actions",
            MemberCase(op, "other", "default", (all_but(MEMBER, ma), SELF_ALL), False, ma, MEMBER),
        )
        yield _case(
            "only_this_member_action", MemberCase(op, "other", "default", (only(MEMBER, ma),), True)
        )
        if sa is not None:
            # Oneself: the stytch.self action suffices, and so does the stytch.member one.
            yield _case("no_permissions", MemberCase(op, "self", "strict", (), False, sa))
            yield _case(
                "every_other_self_and_member_action",
                MemberCase(
                    op, "self", "strict", (all_but(SELF, sa), all_but(MEMBER, ma)), False, sa
                ),
            )
            yield _case(
                "only_this_self_action", MemberCase(op, "self", "strict", (only(SELF, sa),), True)
            )
            yield _case(
                "only_this_member_action",
                MemberCase(op, "self", "strict", (only(MEMBER, ma),), True),
            )
        else:
            # No self action: even on oneself, only the stytch.member action counts.
            yield _case(
                "all_self_actions_and_every_other_member_action",
                MemberCase(
                    op, "self", "default", (SELF_ALL, all_but(MEMBER, ma)), False, ma, MEMBER
                ),
            )
            yield _case(
                "only_this_member_action",
                MemberCase(op, "self", "default", (only(MEMBER, ma),), True),
            )

    pw = DELETE_PASSWORD.self_action
    assert pw is not None
    yield _case(
        "stytch_member_only", MemberCase(DELETE_PASSWORD, "other", "default", (), False, pw, MEMBER)
    )
    yield _case(
        "every_declared_member_action_and_all_self_actions",
        MemberCase(
            DELETE_PASSWORD, "other", "default", (MEMBER_ALL_DECLARED, SELF_ALL), False, pw, MEMBER
        ),
    )
    yield _case(
        "stytch_admin", MemberCase(DELETE_PASSWORD, "other", "default", (STYTCH_ADMIN,), True)
    )
    # The default stytch_member lacks stytch.self `update.info.delete.password`.
    yield _case("stytch_member_only", MemberCase(DELETE_PASSWORD, "self", "default", (), False, pw))
    yield _case(
        "every_other_self_action_and_every_declared_member_action",
        MemberCase(
            DELETE_PASSWORD, "self", "default", (all_but(SELF, pw), MEMBER_ALL_DECLARED), False, pw
        ),
    )
    yield _case(
        "only_this_self_action",
        MemberCase(DELETE_PASSWORD, "self", "default", (only(SELF, pw),), True),
    )

    for op in (CREATE, SEARCH):
        a = op.member_action
        yield _case("stytch_member_only", MemberCase(op, "org", "default", (), False, a, MEMBER))
        yield _case(
            "every_other_member_action_and_all_self_actions",
            MemberCase(op, "org", "default", (all_but(MEMBER, a), SELF_ALL), False, a, MEMBER),
        )
        yield _case(
            "only_this_member_action", MemberCase(op, "org", "default", (only(MEMBER, a),), True)
        )


def run_member_case(server: RunningServer, apis: dict[str, Api], case: MemberCase) -> None:
    api = apis[case.environment]
    org_id = api.new_org()
    # Setting an mfa phone number needs a member without one (Stytch refuses to overwrite).
    phone = {} if case.op.id == "mfa_phone_number" else {"mfa_phone_number": PHONE}
    actor = api.add_member(org_id, roles=case.roles, **phone)
    if case.target == "self":
        target = actor
    else:
        target = api.add_member(org_id, signed_in=False, **phone)
    before = server.snapshot()

    response = case.op.send(api, target, actor)

    if case.allowed:
        case.op.check(api, target, assert_ok(response))
    else:
        assert case.missing is not None
        assert_denied(response, case.missing, resource=case.missing_on)
        assert_unchanged(before, server.snapshot())


@pytest.mark.parametrize("case", list(member_cases()))
def test_member_operation(server: RunningServer, apis: dict[str, Api], case: MemberCase) -> None:
    run_member_case(server, apis, case)


# == 7b. what the default stytch_member may do to itself (default policy) =======================

DEFAULT_MEMBER_ON_ITSELF = [
    *(
        _case("default_stytch_member", MemberCase(MEMBER_OPS[op], "self", "default", (), True))
        for op in (
            "name",
            "untrusted_metadata",
            "mfa_phone_number",
            "mfa_enrolled",
            "delete_mfa_phone_number",
        )
    ),
    _case("default_stytch_member", MemberCase(DELETE, "self", "default", (), False, "delete")),
    _case(
        "default_stytch_member",
        MemberCase(DELETE_PASSWORD, "self", "default", (), False, "update.info.delete.password"),
    ),
    _case(
        "default_stytch_member",
        MemberCase(
            MEMBER_OPS["is_breakglass"],
            "self",
            "default",
            (),
            False,
            "update.settings.is-breakglass",
            MEMBER,
        ),
    ),
    _case(
        "default_stytch_member",
        MemberCase(
            MEMBER_OPS["roles"], "self", "default", (), False, "update.settings.roles", MEMBER
        ),
    ),
]


@pytest.mark.parametrize("case", DEFAULT_MEMBER_ON_ITSELF)
def test_default_stytch_member_on_itself(
    server: RunningServer, apis: dict[str, Api], case: MemberCase
) -> None:
    run_member_case(server, apis, case)


# == 3. tenancy: a session of organization B acting on organization A ===========================

TRUSTED = {"plan": "enterprise"}

Foreign = Callable[[Api, Member, Member], httpx.Response]  # (api, target in org A, actor in org B)

TENANCY_CALLS = [
    pytest.param(
        lambda api, t, actor: api.request(
            "PUT",
            org_path(t.organization_id),
            as_member=actor,
            body={"organization_name": "Taken over"},
        ),
        id="organization_update",
    ),
    pytest.param(
        lambda api, t, actor: api.request("DELETE", org_path(t.organization_id), as_member=actor),
        id="organization_delete",
    ),
    pytest.param(lambda api, t, actor: CREATE.send(api, t, actor), id="member_create"),
    pytest.param(
        lambda api, t, actor: api.request(
            "PUT", member_path(t), as_member=actor, body={"name": "Taken over"}
        ),
        id="member_update",
    ),
    pytest.param(lambda api, t, actor: DELETE.send(api, t, actor), id="member_delete"),
    pytest.param(lambda api, t, actor: SEARCH.send(api, t, actor), id="member_search"),
    pytest.param(
        lambda api, t, actor: api.request(
            "POST",
            "/v1/b2b/organizations/members/search",
            as_member=actor,
            body={"organization_ids": [actor.organization_id, t.organization_id]},
        ),
        id="member_search_own_and_other_org",
    ),
    pytest.param(
        lambda api, t, actor: api.request(
            "POST",
            "/v1/b2b/organizations/members/search",
            as_member=actor,
            body={"organization_ids": [t.organization_id, actor.organization_id]},
        ),
        id="member_search_other_and_own_org",
    ),
    pytest.param(
        lambda api, t, actor: api.request(
            "PUT", org_path(t.organization_id), as_member=actor, body={"trusted_metadata": TRUSTED}
        ),
        id="organization_update_trusted_metadata",
    ),
    pytest.param(
        lambda api, t, actor: api.request(
            "PUT", member_path(t), as_member=actor, body={"roles": [STYTCH_ADMIN]}
        ),
        id="member_update_roles",
    ),
]

INTRUDERS = [
    # An admin (every org and member action) of B, so that only the tenancy can refuse it ...
    pytest.param((STYTCH_ADMIN, SELF_ALL), id="admin_of_b"),
    # ... and a plain member of B, who must still get the tenancy error, never a plain denial.
    pytest.param((), id="stytch_member_of_b"),
]


@pytest.mark.parametrize("intruder_roles", INTRUDERS)
@pytest.mark.parametrize("call", TENANCY_CALLS)
def test_session_of_another_organization_gets_the_tenancy_error(
    server: RunningServer, api: Api, call: Foreign, intruder_roles: tuple[str, ...]
) -> None:
    org_a, org_b = api.new_org("Org A"), api.new_org("Org B")
    target = api.add_member(org_a, signed_in=False)
    intruder = api.add_member(org_b, roles=intruder_roles)
    before = server.snapshot()

    response = call(api, target, intruder)

    assert_denied(response, error_type="session_authorization_tenancy_error")
    assert_unchanged(before, server.snapshot())


# == 4. trusted_metadata is never settable with a session header ================================

TRUSTED_METADATA_CALLS = [
    pytest.param(
        lambda api, other, actor: api.request(
            "PUT",
            org_path(actor.organization_id),
            as_member=actor,
            body={"trusted_metadata": TRUSTED},
        ),
        id="organization_update",
    ),
    pytest.param(
        lambda api, other, actor: api.request(
            "POST",
            f"{org_path(actor.organization_id)}/members",
            as_member=actor,
            body={"email_address": f"new.{actor.email}", "trusted_metadata": TRUSTED},
        ),
        id="member_create",
    ),
    pytest.param(
        lambda api, other, actor: api.request(
            "PUT", member_path(other), as_member=actor, body={"trusted_metadata": TRUSTED}
        ),
        id="member_update_other",
    ),
    pytest.param(
        lambda api, other, actor: api.request(
            "PUT", member_path(actor), as_member=actor, body={"trusted_metadata": TRUSTED}
        ),
        id="member_update_self",
    ),
    pytest.param(
        lambda api, other, actor: api.request(
            "PUT",
            org_path(actor.organization_id),
            as_member=actor,
            body={"organization_name": "Allowed name", "trusted_metadata": TRUSTED},
        ),
        id="organization_update_with_an_allowed_field",
    ),
]


@pytest.mark.parametrize("call", TRUSTED_METADATA_CALLS)
def test_trusted_metadata_is_refused_with_a_session_even_for_an_admin(
    server: RunningServer, api: Api, call: Foreign
) -> None:
    org_id = api.new_org()
    admin = api.add_member(org_id, roles=(STYTCH_ADMIN, SELF_ALL))
    other = api.add_member(org_id, signed_in=False)
    before = server.snapshot()

    response = call(api, other, admin)

    assert_denied(response, "trusted_metadata")
    assert_unchanged(before, server.snapshot())


# == 5. all or nothing: every required action is checked before anything is written ============

ALL_OR_NOTHING = [
    pytest.param(
        "org",
        (only(ORG, "update.info.name"),),
        {"organization_name": "New name", "mfa_policy": "REQUIRED_FOR_ALL"},
        ["update.info.mfa_policy"],
        id="organization-name_held-mfa_policy_missing",
    ),
    pytest.param(
        "org",
        (),
        {"organization_name": "New name", "mfa_policy": "REQUIRED_FOR_ALL"},
        ["update.info.name", "update.info.mfa_policy"],
        id="organization-both_missing-both_named",
    ),
    pytest.param(
        "other",
        (only(MEMBER, "update.info.name"),),
        {"name": "New name", "roles": [VIEWER]},
        ["update.settings.roles"],
        id="member_other-name_held-roles_missing",
    ),
    pytest.param(
        "self",
        (),
        {"name": "New name", "roles": [VIEWER]},
        ["update.settings.roles"],
        id="member_self-name_held_by_stytch_member-roles_missing",
    ),
    pytest.param(
        "self",
        (),
        {"untrusted_metadata": {"a": 1}, "is_breakglass": True},
        ["update.settings.is-breakglass"],
        id="member_self-untrusted_metadata_held_by_stytch_member-is_breakglass_missing",
    ),
]


@pytest.mark.parametrize(("target", "roles", "body", "missing"), ALL_OR_NOTHING)
def test_update_with_one_missing_action_changes_nothing(
    server: RunningServer,
    api: Api,
    target: str,
    roles: tuple[str, ...],
    body: dict[str, Any],
    missing: list[str],
) -> None:
    org_id = api.new_org()
    actor = api.add_member(org_id, roles=roles)
    other = api.add_member(org_id, signed_in=False)
    path = {"org": org_path(org_id), "other": member_path(other), "self": member_path(actor)}[
        target
    ]
    read = {
        "org": lambda: read_org(api, org_id),
        "other": lambda: read_member(api, other),
        "self": lambda: read_member(api, actor),
    }[target]
    was = read()
    before = server.snapshot()

    response = api.request("PUT", path, as_member=actor, body=body)

    assert_denied(response, *missing)
    assert_unchanged(before, server.snapshot())
    now = read()
    for field in body:
        assert now[field] == was[field], field


# == where the acting member's roles come from; the organization named by slug ==================


def _rename(api: Api, actor: Member, ident: str, name: str) -> httpx.Response:
    return api.request("PUT", org_path(ident), as_member=actor, body={"organization_name": name})


def test_a_role_from_an_email_domain_rule_counts(server: RunningServer, api: Api) -> None:
    org_id = api.new_org()
    actor = api.add_member(org_id)  # at example.com, no direct role
    before = server.snapshot()
    assert_denied(_rename(api, actor, org_id, "Denied"), "update.info.name", resource=ORG)
    assert_unchanged(before, server.snapshot())

    rule = {"domain": "example.com", "role_id": only(ORG, "update.info.name")}
    assert_ok(
        api.request("PUT", org_path(org_id), body={"rbac_email_implicit_role_assignments": [rule]})
    )

    assert_ok(_rename(api, actor, org_id, "Renamed by an implicit role"))
    assert read_org(api, org_id)["organization_name"] == "Renamed by an implicit role"


def test_a_role_from_the_organization_policy_counts(server: RunningServer, api: Api) -> None:
    org_id = api.new_org()
    org_role = {
        "role_id": "renamer",
        "description": "may rename the organization",
        "permissions": [{"resource_id": ORG, "actions": ["update.info.name"]}],
    }
    assert_ok(
        api.request(
            "PUT",
            f"/v1/b2b/rbac/organizations/{org_id}",
            body={"org_policy": {"roles": [org_role]}},
        )
    )
    renamer = api.add_member(org_id, roles=["renamer"])
    plain = api.add_member(org_id)

    before = server.snapshot()
    assert_denied(_rename(api, plain, org_id, "Denied"), "update.info.name", resource=ORG)
    assert_unchanged(before, server.snapshot())

    assert_ok(_rename(api, renamer, org_id, "Renamed by an org role"))
    assert read_org(api, org_id)["organization_name"] == "Renamed by an org role"


def test_own_organization_named_by_slug_is_not_another_organization(
    server: RunningServer, api: Api
) -> None:
    org_id = api.new_org()
    slug = read_org(api, org_id)["organization_slug"]
    actor = api.add_member(org_id, roles=(only(ORG, "update.info.name"),))
    outsider = api.add_member(api.new_org(), roles=(STYTCH_ADMIN,))

    before = server.snapshot()
    refused = _rename(api, outsider, slug, "Taken over")
    assert_denied(refused, error_type="session_authorization_tenancy_error")
    assert_unchanged(before, server.snapshot())

    assert_ok(_rename(api, actor, slug, "Renamed by slug"))
    assert read_org(api, org_id)["organization_name"] == "Renamed by slug"


# == 6. the JWT header is enforced like the token header; the project secret is trusted =========

JWT_ROWS = [
    pytest.param(
        "organization_name",
        (only(ORG, "update.info.name"),),
        True,
        id="organization_name-allowed-only_this_action",
    ),
    pytest.param("organization_name", (), False, id="organization_name-denied-stytch_member_only"),
]


@pytest.mark.parametrize(("field", "roles", "allowed"), JWT_ROWS)
def test_session_jwt_header_is_enforced_like_the_token_header(
    server: RunningServer, api: Api, field: str, roles: tuple[str, ...], allowed: bool
) -> None:
    org_id = api.new_org()
    actor = api.add_member(org_id, roles=roles)
    before = server.snapshot()

    response = api.request(
        "PUT", org_path(org_id), as_member=actor, jwt=True, body={field: "Via JWT"}
    )

    if allowed:
        assert_ok(response)
        assert read_org(api, org_id)[field] == "Via JWT"
    else:
        assert_denied(response, "update.info.name", resource=ORG)
        assert_unchanged(before, server.snapshot())


@pytest.mark.parametrize("op", ["delete", "name"])
def test_session_jwt_header_on_member_operations(server: RunningServer, api: Api, op: str) -> None:
    """The default stytch_member, with only its JWT: may rename itself, may not delete itself."""
    org_id = api.new_org()
    actor = api.add_member(org_id)
    before = server.snapshot()
    if op == "name":
        response = api.request(
            "PUT", member_path(actor), as_member=actor, jwt=True, body={"name": "Via JWT"}
        )
        assert_ok(response)
        assert read_member(api, actor)["name"] == "Via JWT"
    else:
        response = api.request("DELETE", member_path(actor), as_member=actor, jwt=True)
        assert_denied(response, "delete")
        assert_unchanged(before, server.snapshot())


def test_session_jwt_is_checked_against_the_members_current_roles(
    server: RunningServer, api: Api
) -> None:
    """The JWT carries the roles of the moment it was minted; server-side checks use today's."""
    org_id = api.new_org()
    actor = api.add_member(org_id)  # its JWT says: stytch_member only
    assert_ok(
        api.request("PUT", member_path(actor), body={"roles": [only(ORG, "update.info.name")]})
    )

    granted = api.request(
        "PUT", org_path(org_id), as_member=actor, jwt=True, body={"organization_name": "Granted"}
    )
    assert_ok(granted)

    assert_ok(api.request("PUT", member_path(actor), body={"roles": []}))
    before = server.snapshot()
    revoked = api.request(
        "PUT", org_path(org_id), as_member=actor, jwt=True, body={"organization_name": "Revoked"}
    )
    assert_denied(revoked, "update.info.name", resource=ORG)
    assert_unchanged(before, server.snapshot())
    assert read_org(api, org_id)["organization_name"] == "Granted"


def _every_org_field(slug: str) -> dict[str, Any]:
    return {**{row.field: row.value for row in ORG_FIELDS}, "organization_slug": slug}


def _every_member_field(roles: list[str]) -> dict[str, Any]:
    return {
        "name": "Every field",
        "untrusted_metadata": {"team": "red"},
        "mfa_phone_number": "+14155550199",
        "mfa_enrolled": True,
        "is_breakglass": True,
        "roles": roles,
    }


def test_project_secret_alone_is_trusted(api: Api) -> None:
    org_id = api.new_org()
    target = api.add_member(org_id, signed_in=False)  # no phone yet: the update sets one
    other = api.add_member(org_id, signed_in=False, mfa_phone_number=PHONE)

    org_fields = {
        **_every_org_field(f"secret-{uuid.uuid4().hex[:12]}"),
        "trusted_metadata": TRUSTED,
    }
    assert_ok(api.request("PUT", org_path(org_id), body=org_fields))
    org = read_org(api, org_id)
    for field, value in org_fields.items():
        assert org[field] == value, field

    member_fields = {**_every_member_field([STYTCH_ADMIN, VIEWER]), "trusted_metadata": TRUSTED}
    assert_ok(api.request("PUT", member_path(target), body=member_fields))
    member = read_member(api, target)
    for field, value in member_fields.items():
        if field == "roles":
            assert role_ids(member) == ["stytch_member", *sorted(value)]
        else:
            assert member[field] == value, field

    created = api.request(
        "POST",
        f"{org_path(org_id)}/members",
        body={
            "email_address": f"new.{target.email}",
            "trusted_metadata": TRUSTED,
            "roles": [STYTCH_ADMIN],
        },
    )
    assert assert_ok(created)["member"]["trusted_metadata"] == TRUSTED

    for op in (SEARCH, DELETE_MFA_PHONE, DELETE_PASSWORD, DELETE):
        op.check(api, other, assert_ok(op.send(api, other, None)))

    assert_ok(api.request("DELETE", org_path(org_id)))
    assert_not_found(api.organization(org_id), "organization_not_found")


BAD_SESSIONS = [
    pytest.param({"X-Stytch-Member-Session": "not-a-session-token"}, id="unknown_token"),
    pytest.param({"X-Stytch-Member-SessionJWT": "not.a.jwt"}, id="malformed_jwt"),
    pytest.param(None, id="revoked_token"),
]


@pytest.mark.parametrize("headers", BAD_SESSIONS)
def test_a_bad_session_header_is_refused_not_treated_as_a_trusted_call(
    server: RunningServer, api: Api, headers: dict[str, str] | None
) -> None:
    org_id = api.new_org()
    admin = api.add_member(org_id, roles=(STYTCH_ADMIN,))
    if headers is None:
        assert_ok(
            api.request(
                "POST", "/v1/b2b/sessions/revoke", body={"session_token": admin.session_token}
            )
        )
        headers = admin.headers()
    before = server.snapshot()

    response = api.http.put(org_path(org_id), json={"organization_name": "Sneaky"}, headers=headers)

    assert 400 <= response.status_code < 500, response.text
    assert_unchanged(before, server.snapshot())


# == 7. the default stytch_admin role may do every organization and member operation ===========


def test_stytch_admin_may_do_every_organization_and_member_operation(api: Api) -> None:
    org_id = api.new_org()
    # No phones yet: the updates below set one (which the mfa phone delete then removes).
    admin = api.add_member(org_id, roles=(STYTCH_ADMIN,))
    other = api.add_member(org_id, signed_in=False)

    org_fields = _every_org_field(f"admin-{uuid.uuid4().hex[:12]}")
    assert_ok(api.request("PUT", org_path(org_id), as_member=admin, body=org_fields))
    org = read_org(api, org_id)
    for field, value in org_fields.items():
        assert org[field] == value, field

    for target, roles in ((other, [VIEWER]), (admin, [STYTCH_ADMIN, VIEWER])):
        fields = _every_member_field(roles)
        assert_ok(api.request("PUT", member_path(target), as_member=admin, body=fields))
        member = read_member(api, target)
        for field, value in fields.items():
            if field == "roles":
                assert role_ids(member) == ["stytch_member", *sorted(value)]
            else:
                assert member[field] == value, (target.member_id, field)

    for op in (CREATE, SEARCH, DELETE_MFA_PHONE, DELETE_PASSWORD, DELETE):
        op.check(api, other, assert_ok(op.send(api, other, admin)))

    assert_ok(api.request("DELETE", org_path(org_id), as_member=admin))
    assert_not_found(api.organization(org_id), "organization_not_found")
