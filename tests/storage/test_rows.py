"""The typed rows (`storage/rows.py`) name exactly the columns of the schema (`sql/tables.py`),
with their nullability, so that a misspelled column is a type error, not a runtime KeyError."""

from __future__ import annotations

import types
import typing

import pytest
from sqlalchemy import Table

from gatehouse.storage import rows
from gatehouse.storage.sql import tables

ROWS = {
    "workspaces": rows.WorkspaceRow,
    "workspace_members": rows.WorkspaceMemberRow,
    "workspace_domains": rows.DomainRow,
    "workspace_keys": rows.WorkspaceKeyRow,
    "dashboard_sessions": rows.DashboardSessionRow,
    "email_tokens": rows.EmailTokenRow,
    "projects": rows.ProjectRow,
    "environments": rows.EnvironmentRow,
    "api_secrets": rows.SecretRow,
    "signing_keys": rows.SigningKeyRow,
    "organizations": rows.OrganizationRow,
    "organization_identifiers": rows.OrganizationIdentifierRow,
    "members": rows.MemberRow,
    "member_emails": rows.MemberEmailRow,
    "member_roles": rows.MemberRoleRow,
    "member_sessions": rows.SessionRow,
    "events": rows.EventRow,
    "member_email_tokens": rows.MemberEmailTokenRow,
    "intermediate_sessions": rows.IntermediateSessionRow,
    "member_totps": rows.TotpRow,
    "member_recovery_codes": rows.RecoveryCodeRow,
    "redirect_urls": rows.RedirectUrlRow,
    "scim_connections": rows.ScimConnectionRow,
    "scim_users": rows.ScimUserRow,
    "scim_groups": rows.ScimGroupRow,
    "scim_group_members": rows.ScimGroupMemberRow,
    "saml_connections": rows.SamlConnectionRow,
    "sso_registrations": rows.SsoRegistrationRow,
    "saml_requests": rows.SamlRequestRow,
    "saml_seen_assertions": rows.SamlSeenAssertionRow,
    "sso_tokens": rows.SsoTokenRow,
    "oidc_connections": rows.OidcConnectionRow,
    "oidc_requests": rows.OidcRequestRow,
}
VALUES = {
    "workspaces": rows.WorkspaceValues,
    "workspace_members": rows.WorkspaceMemberValues,
    "workspace_keys": rows.WorkspaceKeyValues,
    "dashboard_sessions": rows.DashboardSessionValues,
    "projects": rows.ProjectValues,
    "environments": rows.EnvironmentValues,
    "organizations": rows.OrganizationValues,
    "members": rows.MemberValues,
    "member_sessions": rows.SessionValues,
    "scim_connections": rows.ScimConnectionValues,
}


def _nullable(annotation: object) -> bool:
    return isinstance(annotation, types.UnionType) and type(None) in typing.get_args(annotation)


def _table(name: str) -> Table:
    return tables.metadata.tables[name]


def test_every_table_but_the_feed_has_a_row_type() -> None:
    assert set(ROWS) == set(tables.metadata.tables) - {"changes"}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_row_type_names_every_column_with_its_nullability(name: str) -> None:
    hints = typing.get_type_hints(ROWS[name])
    columns = _table(name).columns
    assert list(hints) == [c.name for c in columns]
    assert {k: _nullable(v) for k, v in hints.items()} == {c.name: c.nullable for c in columns}
    assert ROWS[name].__required_keys__ == frozenset(hints)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_an_update_type_names_every_column_but_the_key_and_requires_none(name: str) -> None:
    hints = typing.get_type_hints(VALUES[name])
    assert list(hints) == [c.name for c in _table(name).columns if not c.primary_key]
    assert VALUES[name].__required_keys__ == frozenset()
    assert hints == {k: v for k, v in typing.get_type_hints(ROWS[name]).items() if k in hints}


def test_the_partial_shapes_are_subsets_of_their_rows() -> None:
    environment = typing.get_type_hints(rows.EnvironmentRow)
    for shape in (rows.EnvironmentHead, rows.EnvironmentInfo):
        hints = typing.get_type_hints(shape)
        assert hints == {k: environment[k] for k in hints}
    assert "policy" not in typing.get_type_hints(rows.EnvironmentInfo)
    event = typing.get_type_hints(rows.EventRow)
    assert typing.get_type_hints(rows.NewEvent) == {k: v for k, v in event.items() if k != "id"}
