"""One case, every layer: every check in tests/cases/*.yaml must get the same answer from

1. the engine: `gatehouse.policy` compiled from the case, asked directly;
2. the HTTP API: `sessions.authenticate` with an `authorization_check`, through the SDK (403 =
   denied);
3. the official SDK's local path: `sessions.authenticate_jwt` with an `authorization_check`, which
   decides in-process from the cached policy and the roles in the session JWT;
4. the Gatehouse SDK (`gatehouse.client`) locally, from its cached compiled policy and the JWT's
   roles, naming the same granting roles;
5. the batch endpoint (`POST /v1/b2b/gatehouse/authorize`), through the Gatehouse SDK.

A case file holds a project policy (policy-file shape, custom resources and roles only), optional
organization custom roles (`org_roles`) and email-domain rules (`email_implicit_roles`), named
members (email, direct `roles`) and `checks: [{member, resource_id, action, allowed}]`. Each case
gets a server and database of its own, as the cases' project policies differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from stytch.b2b.models.sessions import AuthorizationCheck
from stytch.core.response_base import StytchError
from stytch.shared.rbac_local import RBACPermissionError

from gatehouse.client import Client
from gatehouse.policy import (
    CompiledPolicy,
    compile_policy,
    org_policy_from_wire,
    policy_from_file,
    policy_to_wire,
    validate_org_policy,
    validate_policy,
)
from tests.databases import throwaway_database
from tests.sdk.support import install_policy, sdk_client, sign_in
from tests.server import FAST_ARGON2, running_server

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
CASE_KEYS = {"description", "policy", "org_roles", "email_implicit_roles", "members", "checks"}


@dataclass(frozen=True)
class Case:
    name: str
    policy: dict[str, Any]
    members: dict[str, dict[str, Any]]
    checks: list[dict[str, Any]]
    org_roles: list[dict[str, Any]] = field(default_factory=list)
    email_implicit_roles: list[dict[str, Any]] = field(default_factory=list)

    def compiled(self) -> CompiledPolicy:
        """The engine's view: the project policy with the organization's roles on top."""
        org_roles = org_policy_from_wire({"roles": self.org_roles}).roles
        return compile_policy(policy_from_file(self.policy)).with_roles(org_roles)

    def roles_of(self, member: str) -> frozenset[str]:
        """docs/spec/PRODUCT.md's role assignment: stytch_member, direct roles, email-domain rules."""
        email = self.members[member]["email"]
        domain = email.rpartition("@")[2].lower()
        implicit = [
            r["role_id"] for r in self.email_implicit_roles if r["domain"].lower() == domain
        ]
        return frozenset({"stytch_member", *self.members[member].get("roles", []), *implicit})


def load_case(path: Path) -> Case:
    data = yaml.safe_load(path.read_text())
    unknown = set(data) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    return Case(
        name=path.stem,
        policy=data["policy"],
        members=data["members"],
        checks=data["checks"],
        org_roles=data.get("org_roles", []),
        email_implicit_roles=data.get("email_implicit_roles", []),
    )


CASES = {case.name: case for case in map(load_case, sorted(CASES_DIR.glob("*.yaml")))}
CHECKS = [
    pytest.param(
        name, check, id=f"{name}:{check['member']}:{check['resource_id']}:{check['action']}"
    )
    for name, case in CASES.items()
    for check in case.checks
]


@dataclass
class World:
    """A case set up on its own server: one organization, each member signed in once."""

    case: Case
    org_id: str
    client: Any  # for server-side checks
    local: Any  # a client of its own, so its policy cache is filled only by local checks
    sessions: dict[str, Any]  # member name -> passwords.authenticate response
    gatehouse: Client  # the Gatehouse SDK, polling only (push is tested in tests/client)


@contextmanager
def open_world(case: Case, tmp_dir: Path) -> Iterator[World]:
    with throwaway_database(tmp_dir) as url, running_server(url, **FAST_ARGON2) as server:
        install_policy(server, case.policy)
        client = sdk_client(server)
        org_id = client.organizations.create(
            organization_name=case.name
        ).organization.organization_id
        if case.org_roles:
            client.rbac.organizations.set_org_policy(org_id, {"roles": case.org_roles})
        if case.email_implicit_roles:
            client.organizations.update(
                org_id, rbac_email_implicit_role_assignments=case.email_implicit_roles
            )
        sessions = {
            name: sign_in(client, org_id, member["email"], member.get("roles", []))
            for name, member in case.members.items()
        }
        with Client(
            server.project_id, server.secret, server.url, push=False, poll_seconds=3600
        ) as gatehouse:
            yield World(case, org_id, client, sdk_client(server), sessions, gatehouse)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], World]]:
    """Each case's world, set up the first time a test asks for it and kept for the module.

    (A parametrized module-scoped fixture would do, but pytest does not keep tests that share
    an indirect parameter together when each test also has a parameter of its own.)
    """
    with ExitStack() as stack:
        opened: dict[str, World] = {}

        def world(name: str) -> World:
            if name not in opened:
                tmp_dir = tmp_path_factory.mktemp(name)
                opened[name] = stack.enter_context(open_world(CASES[name], tmp_dir))
            return opened[name]

        yield world


def _check(world: World, check: dict[str, Any]) -> AuthorizationCheck:
    return AuthorizationCheck(
        organization_id=world.org_id, resource_id=check["resource_id"], action=check["action"]
    )


def engine_decision(case: Case, check: dict[str, Any]) -> Any:
    compiled = case.compiled()
    roles = case.roles_of(check["member"])
    decision = compiled.authorize(roles, check["resource_id"], check["action"])
    assert compiled.check(roles, check["resource_id"], check["action"]) == decision.allowed
    return decision


def http_verdict(world: World, check: dict[str, Any]) -> tuple[bool, list[str]]:
    """(allowed, granting roles) from the server, through sessions.authenticate."""
    try:
        answer = world.client.sessions.authenticate(
            session_token=world.sessions[check["member"]].session_token,
            authorization_check=_check(world, check),
        )
    except StytchError as error:
        details = error.details
        assert (details.status_code, details.error_type) == (403, "session_authorization_error"), (
            details.error_message
        )
        return False, []
    assert answer.verdict.authorized
    return True, sorted(answer.verdict.granting_roles)


def local_allows(world: World, check: dict[str, Any]) -> bool:
    try:
        world.local.sessions.authenticate_jwt(
            world.sessions[check["member"]].session_jwt, authorization_check=_check(world, check)
        )
    except RBACPermissionError:
        return False
    return True


@pytest.mark.parametrize("name, check", CHECKS)
def test_engine_http_api_and_sdk_agree(worlds: Any, name: str, check: dict[str, Any]) -> None:
    world = worlds(name)
    decision = engine_decision(world.case, check)
    http_allowed, granting = http_verdict(world, check)
    session_jwt = world.sessions[check["member"]].session_jwt
    gatehouse_local = world.gatehouse.authorize(
        session_jwt, world.org_id, check["resource_id"], check["action"]
    )
    (batch_allowed,) = world.gatehouse.remote_check_batch(
        world.org_id, [(check["resource_id"], check["action"])], session_jwt=session_jwt
    )
    verdicts = {
        "engine": decision.allowed,
        "http api": http_allowed,
        "sdk local": local_allows(world, check),
        "gatehouse sdk local": gatehouse_local.allowed,
        "gatehouse batch endpoint": batch_allowed,
    }
    assert verdicts == dict.fromkeys(verdicts, check["allowed"]), decision.reason
    assert granting == sorted(decision.granting_roles)
    assert sorted(gatehouse_local.granting_roles) == granting


@pytest.mark.parametrize("name", list(CASES))
def test_the_server_holds_the_cases_policy_and_roles(worlds: Any, name: str) -> None:
    world = worlds(name)
    served = world.client.rbac.policy().policy.model_dump()
    assert served == policy_to_wire(policy_from_file(world.case.policy))
    org_policy = world.client.rbac.organizations.get_org_policy(world.org_id).org_policy
    assert [r.model_dump() for r in org_policy.roles] == world.case.org_roles
    for name, signed_in in world.sessions.items():
        assert {r.role_id for r in signed_in.member.roles} == world.case.roles_of(name), name
        assert set(signed_in.member_session.roles) == world.case.roles_of(name), name


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_the_case_file_is_valid(case: Case) -> None:
    policy = policy_from_file(case.policy)
    assert validate_policy(policy) == []
    assert validate_org_policy(policy, org_policy_from_wire({"roles": case.org_roles})) == []
    assert {c["member"] for c in case.checks} <= set(case.members)
    assert all(isinstance(c["allowed"], bool) for c in case.checks)
    assert {c["allowed"] for c in case.checks} == {True, False}


def test_there_are_three_to_five_case_files() -> None:
    assert 3 <= len(CASES) <= 5
