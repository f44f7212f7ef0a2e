"""Every cell of the dashboard permission matrix, walked through the real HTTPS surface.

TABLE maps each MATRIX key that the Management API serves to concrete requests. One table-driven
test sends each of them as each of the five roles, once as a workspace management key (basic
auth) and once as a signed-in person (`Authorization: Bearer <dashboard session>`):
- a role that holds the permission gets a 2xx; a write leaves events naming the caller and the
  role they acted with, a read changes nothing;
- a role that does not gets 403 `forbidden`, and not one database row changes.

Rows whose endpoints do not exist yet are in PENDING, with the reason; a test keeps
`TABLE ∪ PENDING == MATRIX` (and the two apart), so no row is forgotten.

Every case makes its own disposable objects (a fresh project to delete, a fresh environment to
rename, a fresh member to re-role, ...) with the module's Admin key, before it takes the snapshot.
"""

from __future__ import annotations

import gc
import json
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gatehouse.policy import dashboard
from tests.server import RunningServer

KINDS = ("key", "person")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass
class World:
    """The module's server, an Admin key to prepare objects with, the B2B API of the project's
    test environment (its secret), and factories of disposable objects. Everything a case
    prepares is its own."""

    server: RunningServer
    admin: httpx.Client
    b2b: httpx.Client
    workspace_id: str

    @property
    def project(self) -> str:
        return self.server.project_slug

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.is_success, response.text
        return response.json()  # type: ignore[no-any-return]

    def fresh_project(self) -> str:
        body = {"name": unique("Matrix project")}
        return str(
            self._ok(self.admin.post("/pwa/v3/projects", json=body))["project"]["project_slug"]
        )

    def fresh_environment(self) -> tuple[str, str]:
        """A fresh test environment of the module's project: (project slug, its slug)."""
        path = f"/pwa/v3/projects/{self.project}/environments"
        made = self._ok(self.admin.post(path, json={"name": "extra"}))
        return self.project, str(made["environment"]["environment_slug"])

    def fresh_secret(self, environment: str) -> str:
        path = f"/pwa/v3/projects/{self.project}/environments/{environment}/secrets"
        return str(self._ok(self.admin.post(path))["secret"]["secret_id"])

    def disposable_member(self) -> str:
        with self.server.store.transaction() as tx:
            member = self.server.gatehouse.workspace.add_member(
                tx,
                self.workspace_id,
                f"{unique('m')}@disposable.matrix.test",
                "support_agent",
                status="active",
                verified=True,
            )
        return str(member["id"])

    def disposable_key(self) -> str:
        with self.server.store.transaction() as tx:
            key = self.server.gatehouse.workspace.create_key(
                tx, self.workspace_id, "no_access", "disposable", "test"
            )
        return str(key["key_id"])

    def disposable_member_of_org(self, *, deleted: bool = False) -> tuple[str, str]:
        """(organization_id, member_id) of a fresh B2B organization and member in the test
        environment; the member deleted if asked (for reactivation)."""
        slug = unique("org")
        org = self._ok(
            self.b2b.post(
                "/v1/b2b/organizations",
                json={"organization_name": slug, "organization_slug": slug},
            )
        )["organization"]["organization_id"]
        member = self._ok(
            self.b2b.post(
                f"/v1/b2b/organizations/{org}/members",
                json={"email_address": f"{unique('b2b')}@customer.matrix.test"},
            )
        )["member"]["member_id"]
        if deleted:
            self._ok(self.b2b.delete(f"/v1/b2b/organizations/{org}/members/{member}"))
        return str(org), str(member)

    def disposable_domain(self) -> str:
        domain = f"{uuid.uuid4().hex[:10]}.matrix.test"
        self._ok(self.admin.put(f"/pwa/v3/workspace/domains/{domain}", json={"jit_enabled": True}))
        return domain


def env_path(project: str, environment: str, tail: str = "") -> str:
    return f"/pwa/v3/projects/{project}/environments/{environment}{tail}"


POLICY = {
    "custom_resources": [
        {"resource_id": "reports", "description": "Reports", "available_actions": ["read"]}
    ],
    "custom_roles": [
        {
            "role_id": "reader",
            "description": "Reads reports",
            "permissions": [{"resource_id": "reports", "actions": ["read"]}],
        }
    ],
}


@dataclass(frozen=True)
class Step:
    """One concrete request for a matrix row. `also` names further permissions the request
    needs besides its row (a request can need two); `writes` says whether it changes state."""

    label: str
    writes: bool
    prepare: Callable[[World], Request]
    also: tuple[str, ...] = field(default=())


def _secrets_steps(environment: str) -> list[Step]:
    return [
        Step(
            "list secrets",
            False,
            lambda w: Request("GET", env_path(w.project, environment, "/secrets")),
        ),
        Step(
            "get a secret",
            False,
            lambda w: Request(
                "GET", env_path(w.project, environment, f"/secrets/{w.fresh_secret(environment)}")
            ),
        ),
        Step(
            "create a secret",
            True,
            lambda w: Request("POST", env_path(w.project, environment, "/secrets")),
        ),
        Step(
            "delete a secret",
            True,
            lambda w: Request(
                "DELETE",
                env_path(w.project, environment, f"/secrets/{w.fresh_secret(environment)}"),
            ),
        ),
    ]


def _org_path(w: World, tail: str = "") -> str:
    org, _ = w.disposable_member_of_org()
    return env_path(w.project, "test", f"/organizations/{org}{tail}")


def _member_path(w: World, tail: str = "", *, deleted: bool = False) -> str:
    org, member = w.disposable_member_of_org(deleted=deleted)
    return env_path(w.project, "test", f"/organizations/{org}/members/{member}{tail}")


def _patch_environment(body: dict[str, Any]) -> Callable[[World], Request]:
    def prepare(w: World) -> Request:
        return Request("PATCH", env_path(*w.fresh_environment()), body)

    return prepare


# MATRIX key -> the requests that exercise it. Each must need exactly that permission (plus
# `also`) for the matrix to decide it.
TABLE: dict[str, list[Step]] = {
    "workspace.members.view": [
        Step("list members", False, lambda w: Request("GET", "/pwa/v3/workspace/members")),
        Step("list domain rules", False, lambda w: Request("GET", "/pwa/v3/workspace/domains")),
        Step("get workspace", False, lambda w: Request("GET", "/pwa/v3/workspace")),
    ],
    "projects.view_names": [
        Step("list projects", False, lambda w: Request("GET", "/pwa/v3/projects")),
        Step("get project", False, lambda w: Request("GET", f"/pwa/v3/projects/{w.project}")),
    ],
    "workspace.members.manage": [
        Step(
            "change a member's role",
            True,
            lambda w: Request(
                "PATCH", f"/pwa/v3/workspace/members/{w.disposable_member()}", {"role": "developer"}
            ),
        ),
        Step(
            "remove a member",
            True,
            lambda w: Request("DELETE", f"/pwa/v3/workspace/members/{w.disposable_member()}"),
        ),
        Step(
            "put a domain rule",
            True,
            lambda w: Request(
                "PUT",
                f"/pwa/v3/workspace/domains/{uuid.uuid4().hex[:10]}.matrix.test",
                {"jit_enabled": True, "auto_role": "support_agent"},
            ),
        ),
        Step(
            "delete a domain rule",
            True,
            lambda w: Request("DELETE", f"/pwa/v3/workspace/domains/{w.disposable_domain()}"),
        ),
        Step("list keys", False, lambda w: Request("GET", "/pwa/v3/workspace/keys")),
        Step(
            "create a key",
            True,
            lambda w: Request(
                "POST", "/pwa/v3/workspace/keys", {"role": "no_access", "name": "matrix"}
            ),
        ),
        Step(
            "invite a person",
            True,
            lambda w: Request(
                "POST",
                "/pwa/v3/workspace/invitations",
                {"email_address": f"{unique('invitee')}@matrix.test", "role": "developer"},
            ),
        ),
        Step(
            "revoke a key",
            True,
            lambda w: Request("DELETE", f"/pwa/v3/workspace/keys/{w.disposable_key()}"),
        ),
    ],
    "workspace.settings.manage": [
        Step(
            "rename the workspace",
            True,
            lambda w: Request("PATCH", "/pwa/v3/workspace", {"name": unique("Workspace")}),
        ),
    ],
    "workspace.billing.manage": [
        Step("get billing", False, lambda w: Request("GET", "/pwa/v3/workspace/billing")),
        Step(
            "update billing",
            True,
            lambda w: Request(
                "PATCH",
                "/pwa/v3/workspace/billing",
                {"plan": "pro", "billing_email": f"{unique('billing')}@matrix.test"},
            ),
        ),
    ],
    "api_keys.live.manage": _secrets_steps("live"),
    "api_keys.test.manage": _secrets_steps("test"),
    "projects.create": [
        Step(
            "create a project",
            True,
            lambda w: Request("POST", "/pwa/v3/projects", {"name": unique("Created")}),
        ),
    ],
    "projects.delete": [
        Step(
            "delete a project",
            True,
            lambda w: Request("DELETE", f"/pwa/v3/projects/{w.fresh_project()}"),
        ),
    ],
    "environments.test.create": [
        Step(
            "create a test environment",
            True,
            lambda w: Request("POST", f"/pwa/v3/projects/{w.project}/environments", {"name": "qa"}),
        ),
    ],
    "environments.test.delete": [
        Step(
            "delete a test environment",
            True,
            lambda w: Request("DELETE", env_path(*w.fresh_environment())),
        ),
    ],
    "project_config.manage": [
        Step("rename an environment", True, _patch_environment({"name": unique("renamed")})),
        Step(
            "change environment settings",
            True,
            _patch_environment({"user_lock_threshold": 3, "cross_org_passwords_enabled": True}),
        ),
        Step(
            "set the rbac policy",
            True,
            lambda w: Request("PUT", env_path(*w.fresh_environment(), "/rbac_policy"), POLICY),
        ),
        Step(
            "register a redirect url",
            True,
            lambda w: Request(
                "POST",
                env_path(*w.fresh_environment(), "/redirect_urls"),
                {"url": "https://app.example.com/cb", "valid_types": [{"type": "LOGIN"}]},
            ),
        ),
        Step(
            "rename a project",
            True,
            lambda w: Request(
                "PATCH", f"/pwa/v3/projects/{w.fresh_project()}", {"name": unique("renamed")}
            ),
        ),
    ],
    "impersonation_config.manage": [
        Step(
            "switch impersonation on",
            True,
            _patch_environment({"user_impersonation_enabled": True}),
        ),
        Step(
            "create an environment with impersonation on",
            True,
            lambda w: Request(
                "POST",
                f"/pwa/v3/projects/{w.project}/environments",
                {"name": "imp", "user_impersonation_enabled": True},
            ),
            also=("environments.test.create",),
        ),
    ],
    "project_config.view": [
        Step("get an environment", False, lambda w: Request("GET", env_path(w.project, "test"))),
        Step(
            "list environments",
            False,
            lambda w: Request("GET", f"/pwa/v3/projects/{w.project}/environments"),
        ),
        Step(
            "get the rbac policy",
            False,
            lambda w: Request("GET", env_path(w.project, "test", "/rbac_policy")),
        ),
        Step(
            "list redirect urls",
            False,
            lambda w: Request("GET", env_path(w.project, "test", "/redirect_urls/all")),
        ),
    ],
    "directory.view": [
        Step(
            "list organizations",
            False,
            lambda w: Request("GET", env_path(w.project, "test", "/organizations")),
        ),
        Step("get an organization", False, lambda w: Request("GET", _org_path(w))),
        Step(
            "list an organization's members",
            False,
            lambda w: Request("GET", _org_path(w, "/members")),
        ),
        Step("get a member", False, lambda w: Request("GET", _member_path(w))),
    ],
    "directory.manage": [
        Step(
            "rename an organization",
            True,
            lambda w: Request("PATCH", _org_path(w), {"organization_name": unique("Org")}),
        ),
        Step(
            "rename a member",
            True,
            lambda w: Request("PATCH", _member_path(w), {"name": unique("Name")}),
        ),
    ],
    "impersonation.use": [
        Step(
            "impersonate a member",
            True,
            lambda w: Request("POST", _member_path(w, "/impersonate")),
        ),
    ],
    "event_logs.view": [
        Step(
            "read the event log",
            False,
            lambda w: Request("GET", env_path(w.project, "test", "/events")),
        ),
    ],
    "support.password_reset": [
        Step(
            "send a password reset",
            True,
            lambda w: Request(
                "POST",
                _member_path(w, "/password_reset"),
                {"reset_password_redirect_url": "https://app.matrix.test/reset"},
            ),
        ),
    ],
    "support.sessions_revoke": [
        Step(
            "revoke a member's sessions",
            True,
            lambda w: Request("POST", _member_path(w, "/sessions/revoke")),
        ),
    ],
    "support.emails_reactivate": [
        Step(
            "reactivate a member",
            True,
            lambda w: Request("POST", _member_path(w, "/reactivate", deleted=True)),
        ),
    ],
}


# MATRIX keys not walked, and why. Move a row into TABLE when its endpoint exists.
PENDING: dict[str, str] = {
    "m2m_clients.manage": "M2M clients are not built (no Management API endpoint)",
    "m2m_clients.view": "M2M clients are not built (no Management API endpoint)",
    "dfp_rules.manage": "device fingerprinting (DFP) is not built (no endpoint)",
    "dfp_rules.view": "device fingerprinting (DFP) is not built (no endpoint)",
    "dfp_analytics.view": "device fingerprinting (DFP) is not built (no endpoint)",
}


# -- operators -------------------------------------------------------------------------------


@dataclass
class Operator:
    client: httpx.Client
    actor: str  # as the event log names it


def _tls(server: RunningServer) -> ssl.SSLContext:
    assert server.tls_cert is not None
    return ssl.create_default_context(cafile=str(server.tls_cert))


def _client(server: RunningServer, **auth: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=_tls(server), trust_env=False, **auth)


@pytest.fixture(scope="module")
def clients(tls_server: RunningServer) -> Iterator[list[httpx.Client]]:
    made: list[httpx.Client] = []
    yield made
    gc.collect()
    for client in made:
        client.close()


@pytest.fixture(scope="module")
def world(tls_server: RunningServer, clients: list[httpx.Client]) -> World:
    key = tls_server.management_key
    admin = _client(tls_server, auth=(key["key_id"], key["secret"]))
    b2b = _client(tls_server, auth=(tls_server.project_id, tls_server.secret))
    clients.extend((admin, b2b))
    with tls_server.store.read() as tx:
        workspace = tls_server.store.get_workspace(tx)
    assert workspace is not None
    # Impersonation is switched on in the test environment, so that `impersonation.use` is
    # decided by the role alone.
    switched = admin.patch(
        env_path(tls_server.project_slug, "test"), json={"user_impersonation_enabled": True}
    )
    assert switched.is_success, switched.text
    return World(tls_server, admin, b2b, workspace["id"])


@pytest.fixture(scope="module")
def operators(
    tls_server: RunningServer, world: World, clients: list[httpx.Client]
) -> dict[tuple[str, str], Operator]:
    """For each role, a management key and a signed-in person (verified email at a domain
    without rules, so their explicit role is the one in force)."""
    out = {}
    workspace = tls_server.gatehouse.workspace
    with tls_server.store.transaction() as tx:
        for role in dashboard.ROLES:
            key = workspace.create_key(tx, world.workspace_id, role, f"matrix {role}", "test")
            client = _client(tls_server, auth=(key["key_id"], key["secret"]))
            out[role, "key"] = Operator(client, f"workspace_key:{key['key_id']}")
            member = workspace.add_member(
                tx,
                world.workspace_id,
                f"{role}-{uuid.uuid4().hex[:8]}@people.matrix.test",
                role,
                status="active",
                verified=True,
            )
            token = workspace.start_session(tx, member)["session_token"]
            client = _client(tls_server, headers={"Authorization": f"Bearer {token}"})
            out[role, "person"] = Operator(client, f"workspace_member:{member['id']}")
    clients.extend(o.client for o in out.values())
    return out


# -- the walk --------------------------------------------------------------------------------

CASES = [
    pytest.param(key, step, id=f"{key}:{step.label}")
    for key, steps in TABLE.items()
    for step in steps
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", dashboard.ROLES)
@pytest.mark.parametrize(("key", "step"), CASES)
def test_every_cell_of_the_matrix_over_https(tls_server, world, operators, key, step, role, kind):
    request = step.prepare(world)
    operator = operators[role, kind]
    allowed = all(role in dashboard.MATRIX[k][1] for k in (key, *step.also))

    # The event rows come along only where the test looks at the ones a write added.
    rows_of = ("events",) if allowed and step.writes else ()
    before = tls_server.snapshot(rows_of=rows_of)
    response = operator.client.request(request.method, request.path, json=request.body)
    after = tls_server.snapshot(rows_of=rows_of)

    body = response.json()
    assert body["status_code"] == response.status_code
    if allowed:
        assert response.is_success, f"{role} {kind} was refused: {response.text}"
        if step.writes:
            # The write is in the event log under the caller's name and the role they acted
            # with. (Creating an environment also writes a `system` entry into the new
            # environment's own log.)
            new_events = [
                json.loads(e) for e in set(after.rows["events"]) - set(before.rows["events"])
            ]
            by_caller = [e for e in new_events if e["actor"] != "system"]
            assert by_caller, f"no event recorded for {request}"
            assert {(e["actor"], e["actor_role"]) for e in by_caller} == {(operator.actor, role)}
        else:
            assert after == before, "a read changed the database"
    else:
        assert (response.status_code, body["error_type"]) == (403, "forbidden"), (
            f"{role} {kind} was not refused: {response.text}"
        )
        assert after == before, "a refused request changed the database"


# -- nothing forgotten -----------------------------------------------------------------------


def test_every_matrix_row_is_walked_or_pending_with_a_reason():
    walked, pending = set(TABLE), set(PENDING)
    assert walked.isdisjoint(pending), walked & pending
    assert walked | pending == set(dashboard.MATRIX), set(dashboard.MATRIX) ^ (walked | pending)
    assert all(TABLE[key] for key in TABLE), "a walked row needs at least one request"
    assert all(reason.strip() for reason in PENDING.values())
