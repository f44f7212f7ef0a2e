"""Fixtures of the storage conformance suite (the `store` and `database_url` fixtures come from
tests/conftest.py)."""

from __future__ import annotations

import pytest

from gatehouse.storage import Store
from tests.storage.rows import Tenant, at, environment_row, project_row, workspace_row


@pytest.fixture
def tenant(store: Store) -> Tenant:
    """A workspace with one project and two environments: `test` and (a second later) `live`."""
    workspace = workspace_row()
    project = project_row(workspace["id"])
    environment = environment_row(project["id"])
    other = environment_row(project["id"], kind="live", name="Live", created_at=at(1))
    with store.transaction() as tx:
        store.insert_workspace(tx, workspace)
        store.insert_project(tx, project)
        store.insert_environment(tx, environment)
        store.insert_environment(tx, other)
    return Tenant(workspace["id"], project["id"], environment["id"], other["id"])
