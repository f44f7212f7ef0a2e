def test_server_answers_the_sdk(server):
    client = server.b2b_client()
    roles = [r.role_id for r in client.rbac.policy().policy.roles]
    assert roles[:2] == ["stytch_member", "stytch_admin"]
