"""Fixtures for the SCIM tests: the official SDK over a server with the test policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sdk.support import PROJECT_POLICY, install_policy, sdk_client
from tests.server import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    install_policy(server, PROJECT_POLICY)
    return sdk_client(server)
