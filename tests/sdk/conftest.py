"""Fixtures for the SDK modules: a client over a server with support.PROJECT_POLICY installed,
and an organization with signed-in members.

Both are module-scoped like the `server` they use: each module gets a server of its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sdk.support import (
    PROJECT_POLICY,
    Tenant,
    email,
    install_policy,
    new_org,
    sdk_client,
    sign_in,
)
from tests.server import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    install_policy(server, PROJECT_POLICY)
    return sdk_client(server)


@pytest.fixture(scope="module")
def acme(client: Any) -> Tenant:
    """Shared by a module's tests: they may rename members and the organization, but must not
    change these members' roles or sessions."""
    org_id = new_org(client).organization_id
    return Tenant(
        org_id=org_id,
        admin=sign_in(client, org_id, email(), ["stytch_admin"]),
        editor=sign_in(client, org_id, email(), ["editor", "viewer"]),
        plain=sign_in(client, org_id, email()),
        outsider=sign_in(client, new_org(client).organization_id, email(), ["stytch_admin"]),
    )
