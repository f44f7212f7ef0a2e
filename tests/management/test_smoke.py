def test_the_management_client_speaks_to_the_server_over_https(tls_server):
    client = tls_server.management_client()
    projects = client.projects.get_all().projects
    assert [p.project_slug for p in projects] == [tls_server.project_slug]
    environments = client.environments.get_all(project_slug=tls_server.project_slug).environments
    assert sorted(e.type.value for e in environments) == ["LIVE", "TEST"]
    assert {e.project_id for e in environments} == {
        tls_server.project_id,
        tls_server.live_project_id,
    }
