"""The scale bench's data is real data: bulk-seeded members are what the services see, seeded
sessions authenticate with the verdicts their roles give, and a tiny run yields its table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatehouse.api import wire
from gatehouse.bench import scale, seed
from gatehouse.bench.suite import BenchOptions
from gatehouse.errors import GatehouseError
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store
from tests.databases import throwaway_database

# A benchmark: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow

MEMBERS, ORGANIZATIONS, SAMPLE = 250, 7, 40


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, seed.Seeded]]:
    with throwaway_database(tmp_path_factory.mktemp("scale")) as url:
        yield url, seed.seed(url, MEMBERS, ORGANIZATIONS, SAMPLE)


@pytest.fixture(scope="module")
def node(seeded: tuple[str, seed.Seeded]) -> Iterator[tuple[Gatehouse, Caller]]:
    url, data = seeded
    gatehouse = Gatehouse(open_store(url, apply_migrations=False))
    yield gatehouse, gatehouse.callers.resolve(data.project_id, data.secret, None, None)
    gatehouse.close()


def _org_ids(gatehouse: Gatehouse, caller: Caller) -> list[str]:
    page = gatehouse.organizations.search(caller, None, None, 1000)
    return [org["id"] for org in page.organizations]


def test_every_seeded_member_is_visible_through_the_members_service(
    node: tuple[Gatehouse, Caller],
) -> None:
    gatehouse, caller = node
    org_ids = _org_ids(gatehouse, caller)
    assert len(org_ids) == ORGANIZATIONS
    page = gatehouse.members.search(caller, org_ids, None, None, 1000)
    members, total = [wire.member_of(view) for view in page.members], page.total
    assert total == len(members) == MEMBERS
    assert len({m["member_id"] for m in members}) == MEMBERS
    assert all(m["member_id"].startswith("member-test-") for m in members)
    per_org = [gatehouse.members.search(caller, [o], None, None, 1).total for o in org_ids]
    # Round-robin: organization k holds members k, k + 7, k + 14, ...
    assert sorted(per_org) == sorted(len(range(k, MEMBERS, ORGANIZATIONS)) for k in range(7))
    admins = [m for m in members if any(r["role_id"] == "stytch_admin" for r in m["roles"])]
    assert len(admins) == len(range(0, MEMBERS, seed.ADMIN_EVERY))


def test_seeded_sessions_authenticate_with_the_verdicts_of_their_roles(
    seeded: tuple[str, seed.Seeded], node: tuple[Gatehouse, Caller]
) -> None:
    gatehouse, caller = node
    sessions = seeded[1].sessions
    assert len(sessions) == SAMPLE + 1
    assert any(s.admin for s in sessions) and not all(s.admin for s in sessions)
    other_org = next(o for o in _org_ids(gatehouse, caller) if o != sessions[0].organization_id)

    def check(session: seed.SampleSession, resource_id: str, action: str, org: str = "") -> str:
        try:
            done = gatehouse.sessions.authenticate(
                caller,
                session.token,
                None,
                None,
                None,
                {
                    "organization_id": org or session.organization_id,
                    "resource_id": resource_id,
                    "action": action,
                },
            )
        except GatehouseError as error:
            return error.code
        active, token, decision = done.active, done.session_token, done.decision
        if decision is not None and not decision.allowed:
            return "session_authorization_error"  # what the server answers for it
        assert (active.member_id, active.organization_id, token) == (
            session.member_id,
            session.organization_id,
            session.token,
        )
        assert decision is not None and decision.allowed
        return "allowed"

    for session in sessions:
        assert check(session, *scale.CHECK) == "allowed"
        expected = "allowed" if session.admin else "session_authorization_error"
        assert check(session, *scale.ADMIN_CHECK) == expected
    assert check(sessions[0], *scale.CHECK, org=other_org) == "session_authorization_tenancy_error"


def test_a_quick_run_on_a_tiny_size_returns_its_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(scale, "QUICK_GRID", (scale.Size(1_000, 10), scale.Size(300, 3)))
    monkeypatch.setattr(scale, "QUICK_SAMPLE", 30)
    [table] = scale.run(BenchOptions(quick=True))
    assert table.columns == scale.COLUMNS
    assert [row[:3] for row in table.rows] == [
        ["sqlite", "1,000", "10"],
        ["sqlite", "300", "3"],
    ]
    assert table.rows[0][6] == "1.000×"
    for row in table.rows:
        cold_p50, warm_p50 = (float(row[i].split(" / ")[0].replace(",", "")) for i in (4, 5))
        assert cold_p50 > 0 and warm_p50 > 0
    assert not any(note.startswith("WARNING") for note in table.notes), table.notes
