"""The independent validator: scim2-tester's checks against a connection's base_url on a real
server, every check SUCCESS for the discovery endpoints, Users and Groups."""

from __future__ import annotations

from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.sdk.support import new_org, sdk_client
from tests.server import RunningServer


def test_scim2_tester_passes(server: RunningServer) -> None:
    client: Any = sdk_client(server)
    org_id = new_org(client).organization_id
    connection = client.scim.connection.create(organization_id=org_id).connection
    with httpx2.Client(
        base_url=connection.base_url,
        headers={"Authorization": f"Bearer {connection.bearer_token}"},
    ) as http:
        results = check_server(SyncSCIMClient(http), resource_types=["User", "Group"])
    failed = [
        f"{r.status.name} {r.title}: {r.reason}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert not failed, "\n".join(failed)
    # The one check not run: `POST /.search` across every resource type, which RFC 7644
    # §3.4.3 leaves optional; the server answers it 501, as the checker expects of a server
    # that does not offer it (searching /Users/.search and /Groups/.search is checked).
    skipped = {r.title for r in results if r.status is Status.SKIPPED}
    assert skipped <= {"search_with_attributes"}, skipped
    assert sum(r.status is Status.SUCCESS for r in results) > 40
