"""The Management API through the official `stytch-management` client, over HTTPS.

Projects, environments, secrets and the RBAC policy, each driven end to end by the real client
(`tls_server.management_client`), with the errors it raises (`StytchError.details`) checked by
status and `error_type`. A secret created here is then used with the official B2B SDK.
"""

from __future__ import annotations

import gc
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import requests
import stytch
from stytch.core.response_base import StytchError as B2BError
from stytch_management.errors import StytchError

from tests.server import RunningServer


def unique(prefix: str) -> str:
    """A name no other test uses: the module's tests share one server."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextmanager
def refused(status: int, error_type: str) -> Iterator[pytest.ExceptionInfo[StytchError]]:
    """Expect the management client to raise StytchError with this status and `error_type`."""
    with pytest.raises(StytchError) as info:
        yield info
    details = info.value.details
    assert (details.status_code, details.error_type) == (status, error_type), details.error_message


class Clients:
    """Makes SDK clients and closes their HTTP sessions at the end of the module: a kept-alive
    TLS connection left open would hold up the test server's shutdown."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.sessions: list[requests.Session] = []

    def management(self, key_id: str | None = None, secret: str | None = None) -> Any:
        client = self.server.management_client(key_id, secret)
        self.sessions.append(client._http_client._session)
        return client

    def of_role(self, role: str) -> Any:
        """A management client holding a fresh workspace key with dashboard `role`."""
        with self.server.store.transaction() as tx:
            workspace = self.server.store.get_workspace(tx)
            assert workspace is not None
            key = self.server.gatehouse.workspace.create_key(
                tx, workspace["id"], role, "test", "test"
            )
        return self.management(key["key_id"], key["secret"])

    def b2b(self, project_id: str, secret: str) -> Any:
        """The official B2B SDK over HTTPS, trusting the test certificate."""
        session = requests.Session()
        session.trust_env = False
        assert self.server.tls_cert is not None
        session.verify = str(self.server.tls_cert)
        self.sessions.append(session)
        return stytch.B2BClient(
            project_id, secret, environment=self.server.url + "/", sync_session=session
        )

    def close(self) -> None:
        # A refused call's exception holds its response in a reference cycle (traceback ->
        # frame -> response), and with it a connection the pool no longer tracks: collect it.
        gc.collect()
        for session in self.sessions:
            session.close()


@pytest.fixture(scope="module")
def clients(tls_server: RunningServer) -> Iterator[Clients]:
    made = Clients(tls_server)
    yield made
    made.close()


@pytest.fixture(scope="module")
def admin(clients: Clients) -> Any:
    return clients.management()


@pytest.fixture
def project(admin: Any) -> Iterator[str]:
    """A fresh project (with its live and test environments) for one test; its slug."""
    slug = admin.projects.create(name=unique("Project")).project.project_slug
    yield slug
    try:
        admin.projects.delete(project_slug=slug)
    except StytchError as error:  # the test deleted it already
        assert error.details.error_type == "project_not_found"


# -- projects --------------------------------------------------------------------------------


def test_projects_create_get_get_all_update_delete(admin):
    slug = unique("proj")
    created = admin.projects.create(name="Billing app", project_slug=slug, vertical="B2B")
    assert created.status_code == 200 and created.request_id
    assert created.project.project_slug == slug
    assert created.project.name == "Billing app"
    assert created.project.vertical.value == "B2B"
    assert created.project.created_at

    got = admin.projects.get(project_slug=slug).project
    assert got == created.project

    assert slug in [p.project_slug for p in admin.projects.get_all().projects]

    # A project comes with exactly one live and one test environment.
    environments = admin.environments.get_all(project_slug=slug).environments
    assert sorted(e.type.value for e in environments) == ["LIVE", "TEST"]
    assert {e.environment_slug for e in environments} == {"live", "test"}
    assert all(e.project_slug == slug for e in environments)

    updated = admin.projects.update(project_slug=slug, name="Billing app (renamed)").project
    assert updated.name == "Billing app (renamed)"
    assert admin.projects.get(project_slug=slug).project.name == "Billing app (renamed)"

    assert admin.projects.delete(project_slug=slug).status_code == 200
    with refused(404, "project_not_found"):
        admin.projects.get(project_slug=slug)
    assert slug not in [p.project_slug for p in admin.projects.get_all().projects]
    with refused(404, "project_not_found"):
        admin.environments.get_all(project_slug=slug)


def test_project_slug_is_unique_and_only_b2b_projects_are_made(tls_server, admin, project):
    before = tls_server.snapshot()
    with refused(409, "duplicate_project_slug"):
        admin.projects.create(name="again", project_slug=project)
    with refused(400, "invalid_request"):
        admin.projects.create(name="consumer app", vertical="CONSUMER")
    assert tls_server.snapshot() == before


# -- environments ----------------------------------------------------------------------------


def test_environments_create_get_get_all_update_delete(admin, project):
    env_slug = unique("staging")
    created = admin.environments.create(
        project_slug=project,
        name="Staging",
        type="TEST",
        environment_slug=env_slug,
        cross_org_passwords_enabled=True,
        user_lock_threshold=5,
    ).environment
    assert created.environment_slug == env_slug
    assert created.project_slug == project
    assert created.name == "Staging"
    assert created.type.value == "TEST"
    assert created.project_id.startswith("project-test-")
    assert created.cross_org_passwords_enabled is True
    assert created.user_lock_threshold == 5
    assert created.user_impersonation_enabled is False

    assert admin.environments.get(project_slug=project, environment_slug=env_slug).environment == (
        created
    )
    all_slugs = {
        e.environment_slug for e in admin.environments.get_all(project_slug=project).environments
    }
    assert all_slugs == {"live", "test", env_slug}

    updated = admin.environments.update(
        project_slug=project,
        environment_slug=env_slug,
        name="Staging 2",
        user_lock_ttl=600,
        cross_org_passwords_enabled=False,
    ).environment
    assert (updated.name, updated.user_lock_ttl, updated.cross_org_passwords_enabled) == (
        "Staging 2",
        600,
        False,
    )
    assert updated.user_lock_threshold == 5  # untouched settings are kept
    again = admin.environments.get(project_slug=project, environment_slug=env_slug).environment
    assert again == updated

    assert admin.environments.delete(project_slug=project, environment_slug=env_slug)
    with refused(404, "environment_not_found"):
        admin.environments.get(project_slug=project, environment_slug=env_slug)


def test_an_environment_without_a_slug_gets_one_from_its_name(admin, project):
    first = admin.environments.create(project_slug=project, name="QA").environment
    second = admin.environments.create(project_slug=project, name="QA").environment
    assert first.type.value == "TEST"
    assert first.environment_slug != second.environment_slug
    with refused(409, "duplicate_environment_slug"):
        admin.environments.create(
            project_slug=project, name="QA", environment_slug=first.environment_slug
        )


def test_a_second_live_environment_is_refused(tls_server, admin, project):
    before = tls_server.snapshot()
    with refused(400, "invalid_request"):
        admin.environments.create(project_slug=project, name="Prod 2", type="LIVE")
    assert tls_server.snapshot() == before


def test_the_live_environment_cannot_be_deleted(tls_server, admin, project):
    before = tls_server.snapshot()
    with refused(400, "live_environment_protected"):
        admin.environments.delete(project_slug=project, environment_slug="live")
    assert tls_server.snapshot() == before
    live = admin.environments.get(project_slug=project, environment_slug="live").environment
    assert live.type.value == "LIVE"


def test_impersonation_setting_needs_impersonation_config_manage(
    tls_server, clients, admin, project
):
    developer = clients.of_role("developer")
    # A Developer manages the rest of the project configuration...
    renamed = developer.environments.update(
        project_slug=project, environment_slug="test", name="Test (dev)"
    ).environment
    assert renamed.name == "Test (dev)"

    # ...but not the impersonation switch: not alone, not together with another change.
    before = tls_server.snapshot()
    with refused(403, "forbidden") as info:
        developer.environments.update(
            project_slug=project, environment_slug="test", user_impersonation_enabled=True
        )
    assert "impersonation_config.manage" in info.value.details.error_message
    with refused(403, "forbidden"):
        developer.environments.update(
            project_slug=project,
            environment_slug="test",
            name="sneaky",
            user_impersonation_enabled=True,
        )
    with refused(403, "forbidden"):
        developer.environments.create(
            project_slug=project, name="imp", user_impersonation_enabled=True
        )
    assert tls_server.snapshot() == before
    env = admin.environments.get(project_slug=project, environment_slug="test").environment
    assert (env.user_impersonation_enabled, env.name) == (False, "Test (dev)")

    # An Admin may.
    on = admin.environments.update(
        project_slug=project, environment_slug="test", user_impersonation_enabled=True
    ).environment
    assert on.user_impersonation_enabled is True
    got = admin.environments.get(project_slug=project, environment_slug="test").environment
    assert got.user_impersonation_enabled is True
    created = admin.environments.create(
        project_slug=project, name="imp", user_impersonation_enabled=True
    ).environment
    assert created.user_impersonation_enabled is True


@pytest.mark.parametrize("role", ["no_access", "support_agent", "support_manager"])
def test_an_empty_environment_update_is_still_checked_against_the_matrix(
    tls_server, clients, project, role
):
    """The client sends no body when `update` is given no fields. Whatever the body, a role
    without `project_config.manage` must be refused and nothing written (no event either)."""
    client = clients.of_role(role)
    before = tls_server.snapshot()
    with refused(403, "forbidden"):
        client.environments.update(project_slug=project, environment_slug="test")
    assert tls_server.snapshot() == before


# -- secrets ---------------------------------------------------------------------------------


def test_secrets_create_get_get_all_delete_and_use_with_the_b2b_sdk(
    tls_server, clients, admin, project
):
    environment = admin.environments.get(project_slug=project, environment_slug="test").environment
    # A project made through the Management API starts without secrets.
    assert admin.secrets.get_all(project_slug=project, environment_slug="test").secrets == []

    created = admin.secrets.create(project_slug=project, environment_slug="test").secret
    assert created.secret_id.startswith("secret-test-")
    assert created.secret.startswith("secret-test-")
    assert created.created_at

    masked = admin.secrets.get(
        project_slug=project, environment_slug="test", secret_id=created.secret_id
    ).secret
    assert masked.secret_id == created.secret_id
    assert masked.last_four == created.secret[-4:]
    listed = admin.secrets.get_all(project_slug=project, environment_slug="test").secrets
    assert [s.secret_id for s in listed] == [created.secret_id]
    # The value is shown once, at creation: never in a Get or a listing (read the raw JSON,
    # since the client's models would drop an unexpected field).
    raw = httpx.get(
        f"{tls_server.url}/pwa/v3/projects/{project}/environments/test/secrets",
        auth=(tls_server.management_key["key_id"], tls_server.management_key["secret"]),
        verify=ssl.create_default_context(cafile=str(tls_server.tls_cert)),
        trust_env=False,
    ).json()
    assert created.secret not in str(raw)
    assert set(raw["secrets"][0]) == {"secret_id", "last_four", "created_at", "used_at"}

    b2b = clients.b2b(environment.project_id, created.secret)
    policy = b2b.rbac.policy()
    assert policy.status_code == 200
    assert "stytch.member" in {r.resource_id for r in policy.policy.resources}

    assert (
        admin.secrets.delete(
            project_slug=project, environment_slug="test", secret_id=created.secret_id
        ).status_code
        == 200
    )
    with refused(404, "secret_not_found"):
        admin.secrets.get(
            project_slug=project, environment_slug="test", secret_id=created.secret_id
        )
    with pytest.raises(B2BError) as info:
        clients.b2b(environment.project_id, created.secret).rbac.policy()
    assert (info.value.details.status_code, info.value.details.error_type) == (
        401,
        "unauthorized_credentials",
    )


def test_a_secret_opens_only_its_own_environment(tls_server, clients, admin, project):
    test_secret = admin.secrets.create(project_slug=project, environment_slug="test").secret
    live = admin.environments.get(project_slug=project, environment_slug="live").environment
    with pytest.raises(B2BError) as info:
        clients.b2b(live.project_id, test_secret.secret).rbac.policy()
    assert info.value.details.status_code == 401


def test_live_secrets_are_admin_only_test_secrets_are_also_developer(
    tls_server, clients, admin, project
):
    developer = clients.of_role("developer")
    made = developer.secrets.create(project_slug=project, environment_slug="test").secret
    assert [
        s.secret_id
        for s in developer.secrets.get_all(project_slug=project, environment_slug="test").secrets
    ] == [made.secret_id]

    before = tls_server.snapshot()
    with refused(403, "forbidden"):
        developer.secrets.create(project_slug=project, environment_slug="live")
    with refused(403, "forbidden"):
        developer.secrets.get_all(project_slug=project, environment_slug="live")
    assert tls_server.snapshot() == before

    live = admin.secrets.create(project_slug=project, environment_slug="live").secret
    assert live.secret.startswith("secret-live-")
    with refused(403, "forbidden"):
        developer.secrets.get(
            project_slug=project, environment_slug="live", secret_id=live.secret_id
        )
    with refused(403, "forbidden"):
        developer.secrets.delete(
            project_slug=project, environment_slug="live", secret_id=live.secret_id
        )
    assert (
        admin.secrets.delete(
            project_slug=project, environment_slug="live", secret_id=live.secret_id
        ).status_code
        == 200
    )


# -- RBAC policy -----------------------------------------------------------------------------

DOCUMENTS = {
    "resource_id": "documents",
    "description": "Shared documents",
    "available_actions": ["read", "write"],
}
EDITOR = {
    "role_id": "editor",
    "description": "Reads and writes documents",
    "permissions": [{"resource_id": "documents", "actions": ["read", "write"]}],
}


def test_rbac_policy_get_and_set(tls_server, clients, admin, project):
    initial = admin.rbac_policy.get(project_slug=project, environment_slug="test").policy
    assert initial.custom_roles == [] and initial.custom_resources == []
    assert {r.resource_id for r in initial.stytch_resources} >= {
        "stytch.organization",
        "stytch.member",
        "stytch.self",
        "stytch.sso",
    }
    assert initial.stytch_admin is not None and initial.stytch_member is not None

    written = admin.rbac_policy.set(
        project_slug=project,
        environment_slug="test",
        custom_resources=[DOCUMENTS],
        custom_roles=[EDITOR],
    ).policy
    got = admin.rbac_policy.get(project_slug=project, environment_slug="test").policy
    assert got == written
    assert [r.model_dump() for r in got.custom_resources] == [DOCUMENTS]
    assert [r.model_dump() for r in got.custom_roles] == [EDITOR]
    # Default roles left out keep their permissions.
    assert got.stytch_admin == initial.stytch_admin
    # The other environment of the project is untouched.
    live = admin.rbac_policy.get(project_slug=project, environment_slug="live").policy
    assert live.custom_roles == [] and live.custom_resources == []

    # The B2B API of that environment serves the new policy.
    environment = admin.environments.get(project_slug=project, environment_slug="test").environment
    secret = admin.secrets.create(project_slug=project, environment_slug="test").secret.secret
    b2b = clients.b2b(environment.project_id, secret).rbac.policy().policy
    assert "editor" in {r.role_id for r in b2b.roles}
    assert "documents" in {r.resource_id for r in b2b.resources}

    # An exported policy applies unchanged (stytch_resources is accepted and ignored).
    exported = got.model_dump()
    again = admin.rbac_policy.set(
        project_slug=project,
        environment_slug="test",
        stytch_member=exported["stytch_member"],
        stytch_admin=exported["stytch_admin"],
        custom_roles=exported["custom_roles"],
        custom_resources=exported["custom_resources"],
        custom_scopes=exported["custom_scopes"],
    ).policy
    assert again == got


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        pytest.param(
            {"custom_resources": [{"resource_id": "documents", "description": "d"}]},
            "custom_resources[0].available_actions",
            id="missing-available-actions",
        ),
        pytest.param(
            {
                "custom_resources": [
                    {**DOCUMENTS, "available_actions": ["read", "read"]},
                ]
            },
            "custom_resources[0].available_actions[1]",
            id="duplicate-action",
        ),
        pytest.param(
            {
                "custom_resources": [DOCUMENTS],
                "custom_roles": [
                    {**EDITOR, "permissions": [{"resource_id": "nope", "actions": ["read"]}]}
                ],
            },
            "custom_roles[0].permissions[0].resource_id",
            id="unknown-resource",
        ),
        pytest.param(
            {
                "custom_resources": [DOCUMENTS],
                "custom_roles": [
                    {**EDITOR, "permissions": [{"resource_id": "documents", "actions": ["x"]}]}
                ],
            },
            "custom_roles[0].permissions[0].actions[0]",
            id="undeclared-action",
        ),
        pytest.param(
            {"custom_resources": [{**DOCUMENTS, "resource_id": "stytch.member"}]},
            "custom_resources[0].resource_id",
            id="reserved-resource-id",
        ),
    ],
)
def test_an_invalid_policy_is_refused_with_paths_into_the_file(
    tls_server, admin, project, fields, path
):
    admin.rbac_policy.set(
        project_slug=project, environment_slug="test", custom_resources=[DOCUMENTS]
    )
    policy_before = admin.rbac_policy.get(project_slug=project, environment_slug="test").policy
    before = tls_server.snapshot()
    with refused(400, "invalid_policy") as info:
        admin.rbac_policy.set(project_slug=project, environment_slug="test", **fields)
    assert f"{path}:" in info.value.details.error_message
    assert tls_server.snapshot() == before
    assert admin.rbac_policy.get(project_slug=project, environment_slug="test").policy == (
        policy_before
    )


def test_every_problem_of_a_policy_is_reported_at_once(admin, project):
    with refused(400, "invalid_policy") as info:
        admin.rbac_policy.set(
            project_slug=project,
            environment_slug="test",
            custom_resources=[{"resource_id": "a", "description": ""}, {"description": ""}],
        )
    message = info.value.details.error_message
    assert "custom_resources[0].available_actions" in message
    assert "custom_resources[1].resource_id" in message


# -- credentials -----------------------------------------------------------------------------


def test_unknown_or_wrong_management_credentials_get_401(tls_server, clients):
    key = tls_server.management_key
    for key_id, secret in (
        (key["key_id"], key["secret"] + "x"),
        ("workspace-key-00000000-0000-0000-0000-000000000000", key["secret"]),
        ("not-a-key", "whatever"),
    ):
        with refused(401, "unauthorized_credentials"):
            clients.management(key_id, secret).projects.get_all()


def test_deleting_an_environment_or_project_ends_its_secrets(clients, admin, project):
    environment = admin.environments.create(project_slug=project, name="doomed").environment
    slug = environment.environment_slug
    secret = admin.secrets.create(project_slug=project, environment_slug=slug).secret.secret
    assert clients.b2b(environment.project_id, secret).rbac.policy().status_code == 200
    admin.environments.delete(project_slug=project, environment_slug=slug)
    with pytest.raises(B2BError) as info:
        clients.b2b(environment.project_id, secret).rbac.policy()
    assert info.value.details.status_code == 401

    live = admin.environments.get(project_slug=project, environment_slug="live").environment
    live_secret = admin.secrets.create(project_slug=project, environment_slug="live").secret
    assert clients.b2b(live.project_id, live_secret.secret).rbac.policy().status_code == 200
    admin.projects.delete(project_slug=project)
    with pytest.raises(B2BError) as info:
        clients.b2b(live.project_id, live_secret.secret).rbac.policy()
    assert info.value.details.status_code == 401
