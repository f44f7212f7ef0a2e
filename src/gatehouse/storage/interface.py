"""What services need from storage: one Protocol per domain, and transactions typed by what they
may do. `sql.store.SqlStore` implements them all for SQLite and PostgreSQL, and the conformance
suite in tests/storage (`test_conformance*.py`, with `test_change_feed.py` for the ChangeFeed)
holds every backend to them: `test_conformance_guard.py` checks that every method of every
Protocol here is exercised there.

    Transactions      read() -> ReadTx, transaction() -> WriteTx (SpiceDB's Reader / ReadWriteTx)
    ChangeFeed        record_change, on_commit, listen_changes
    ProjectStore      the workspace's projects, environments (policy), secrets and signing keys
    OrganizationStore, MemberStore, SessionStore, EventStore   the B2B data of an environment
    EmailFlowStore    member email tokens and codes, intermediate sessions, redirect URLs
    ScimStore         SCIM connections, their provisioned users and groups
    MfaStore          members' TOTP registrations (sealed) and recovery codes (digests)
    WorkspaceStore    people, email-domain rules, management keys, dashboard sessions, email tokens
    Store             all of the above

A method that writes takes a `WriteTx`; one that only reads takes a `ReadTx`, which a `WriteTx`
also is. Rows are the TypedDicts of `storage.rows`.

Errors raised here (the storage layer's edge):

    StorageError
     └── Conflict          an integrity rule refused the write; names the constraint
          └── DuplicateValue   ...a uniqueness rule the API promises: also an `errors.Duplicate`,
                               so the caller gets that rule's Stytch error (storage/sql/constraints.py)
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from gatehouse.errors import Code, Duplicate
from gatehouse.storage.rows import (
    DashboardSessionRow,
    DashboardSessionValues,
    DomainRow,
    EmailTokenRow,
    EnvironmentHead,
    EnvironmentInfo,
    EnvironmentRow,
    EnvironmentValues,
    EventRow,
    IntermediateSessionRow,
    JsonObject,
    MemberEmailRow,
    MemberEmailTokenRow,
    MemberRow,
    MemberValues,
    NewEvent,
    OidcConnectionRow,
    OidcRequestRow,
    OrganizationRow,
    OrganizationValues,
    ProjectRow,
    ProjectValues,
    RecoveryCodeRow,
    RedirectUrlRow,
    SamlConnectionRow,
    SamlRequestRow,
    ScimConnectionRow,
    ScimConnectionValues,
    ScimGroupRow,
    ScimUserRow,
    SecretRow,
    SessionRow,
    SessionValues,
    SigningKeyRow,
    SsoRegistrationRow,
    SsoTokenRow,
    TotpRow,
    WorkspaceKeyRow,
    WorkspaceKeyValues,
    WorkspaceMemberRow,
    WorkspaceMemberValues,
    WorkspaceRow,
    WorkspaceValues,
)
from gatehouse.storage.search import SearchQuery


class ReadTx:
    """A transaction that may only read (opaque: backends subclass it)."""

    __slots__ = ()


class WriteTx(ReadTx):
    """A transaction that may read and write; what it records is announced at commit."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Change:
    """A committed write that may make cached answers stale. `kind` is one of `policy`,
    `environment` (secrets, settings, deletion), `organization`, `member`, `session`; `key` is
    the id of the changed thing."""

    environment_id: str
    kind: str
    key: str


class StorageError(Exception):
    pass


class Conflict(StorageError):
    """An integrity rule refused the write and no API rule translates it (the uniqueness rules
    the API promises become their `Duplicate` errors instead: storage/sql/constraints.py)."""

    def __init__(self, constraint: str, detail: str = "") -> None:
        super().__init__(f"`{constraint}` refused the write: {detail}" if detail else constraint)
        self.constraint = constraint


class Busy(StorageError):
    """The database stayed locked past the wait limit (SQLite `database is locked`, PostgreSQL
    `lock_timeout`, a serialization failure or a deadlock): nothing was written; retry later."""


class DuplicateValue(Duplicate, Conflict):
    """A uniqueness rule the API promises refused the write: the caller sees the `Duplicate`
    error of that rule (it is a `GatehouseError` first), storage code may catch a `Conflict`."""

    def __init__(self, constraint: str, code: Code, field: str, value: str, message: str) -> None:
        Duplicate.__init__(self, code, field, value, message)
        self.constraint = constraint


class Transactions(Protocol):
    @property
    def dialect(self) -> str: ...

    def transaction(self) -> AbstractContextManager[WriteTx]: ...
    def read(self) -> AbstractContextManager[ReadTx]: ...
    def close(self) -> None: ...
    # For operators (readiness, metrics): cheap, and never inside a transaction.
    def ping(self) -> None: ...
    def schema_at_head(self) -> bool: ...
    def pool_checked_out(self) -> int: ...


class ChangeFeed(Protocol):
    """Writes below record their own changes; these are for the node machinery."""

    def record_change(self, tx: WriteTx, change: Change) -> None: ...
    def on_commit(self, subscriber: Callable[[list[Change]], None]) -> None: ...
    def listen_changes(
        self,
        on_change: Callable[[Change], None],
        on_reset: Callable[[], None],
        on_ready: Callable[[], None],
        stop: threading.Event,
        on_lag: Callable[[float], None] | None = None,
    ) -> None: ...


class ProjectStore(Protocol):
    def workspace_exists(self, tx: ReadTx) -> bool: ...
    def insert_workspace(self, tx: WriteTx, row: WorkspaceRow) -> None: ...
    def insert_project(self, tx: WriteTx, row: ProjectRow) -> None: ...
    def list_projects(self, tx: ReadTx, workspace_id: str) -> list[ProjectRow]: ...
    def get_project_by_slug(
        self, tx: ReadTx, workspace_id: str, slug: str
    ) -> ProjectRow | None: ...
    def update_project(self, tx: WriteTx, project_id: str, values: ProjectValues) -> None: ...
    def delete_project(self, tx: WriteTx, project_id: str) -> None: ...
    def insert_environment(self, tx: WriteTx, row: EnvironmentRow) -> None: ...
    def get_environment(self, tx: ReadTx, environment_id: str) -> EnvironmentRow | None: ...
    def environment_head(self, tx: ReadTx, environment_id: str) -> EnvironmentHead | None: ...
    def list_environments(self, tx: ReadTx) -> list[EnvironmentRow]: ...
    def environments_of(self, tx: ReadTx, project_id: str) -> list[EnvironmentInfo]: ...
    def get_environment_by_slug(
        self, tx: ReadTx, project_id: str, slug: str
    ) -> EnvironmentInfo | None: ...
    def update_environment(
        self, tx: WriteTx, environment_id: str, values: EnvironmentValues
    ) -> None: ...
    def delete_environment(self, tx: WriteTx, environment_id: str) -> None: ...
    def set_policy(
        self, tx: WriteTx, environment_id: str, expected_version: int, policy: JsonObject
    ) -> bool: ...
    def insert_secret(self, tx: WriteTx, row: SecretRow) -> None: ...
    def secrets(self, tx: ReadTx, environment_id: str) -> list[SecretRow]: ...
    def get_secret(self, tx: ReadTx, environment_id: str, secret_id: str) -> SecretRow | None: ...
    def delete_secret(self, tx: WriteTx, environment_id: str, secret_id: str) -> bool: ...
    def insert_signing_key(self, tx: WriteTx, row: SigningKeyRow) -> None: ...
    def signing_keys(self, tx: ReadTx, environment_id: str) -> list[SigningKeyRow]: ...
    def all_signing_keys(self, tx: ReadTx) -> list[SigningKeyRow]: ...
    def replace_signing_key_pem(self, tx: WriteTx, kid: str, old: str, new: str) -> bool:
        """Set a key's stored private key to `new` if it is still `old`."""
        ...


class OrganizationStore(Protocol):
    def insert_organization(self, tx: WriteTx, row: OrganizationRow) -> None: ...
    def update_organization(
        self, tx: WriteTx, organization_id: str, values: OrganizationValues
    ) -> None: ...
    def delete_organization(self, tx: WriteTx, organization_id: str) -> None: ...
    def find_organization(
        self, tx: ReadTx, environment_id: str, ident: str
    ) -> OrganizationRow | None: ...
    def get_organizations(
        self, tx: ReadTx, environment_id: str, ids: Iterable[str]
    ) -> list[OrganizationRow]: ...
    def organizations_in(self, tx: ReadTx, environment_id: str) -> list[OrganizationRow]: ...
    def search_organizations(
        self,
        tx: ReadTx,
        environment_id: str,
        query: SearchQuery | None,
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> tuple[list[OrganizationRow], int | None, str | None]: ...


class MemberStore(Protocol):
    def insert_member(self, tx: WriteTx, row: MemberRow) -> None: ...
    def update_member(self, tx: WriteTx, member_id: str, values: MemberValues) -> None: ...
    def get_member(self, tx: ReadTx, organization_id: str, member_id: str) -> MemberRow | None: ...
    def get_member_by_id(
        self, tx: ReadTx, environment_id: str, member_id: str
    ) -> MemberRow | None: ...
    def find_member_by_email(
        self, tx: ReadTx, organization_id: str, email: str, *, include_deleted: bool = False
    ) -> MemberRow | None: ...
    def find_member_by_external_id(
        self, tx: ReadTx, organization_id: str, external_id: str
    ) -> MemberRow | None: ...
    def find_member(self, tx: ReadTx, organization_id: str, ident: str) -> MemberRow | None: ...
    def retire_member_email(
        self, tx: WriteTx, member: MemberRow, email_id: str, now: dt.datetime
    ) -> None: ...
    def retired_emails(
        self, tx: ReadTx, member_ids: Iterable[str]
    ) -> dict[str, list[MemberEmailRow]]: ...
    def find_member_by_password_id(
        self, tx: ReadTx, organization_id: str, password_id: str
    ) -> MemberRow | None: ...
    def search_members(
        self,
        tx: ReadTx,
        environment_id: str,
        organization_ids: list[str],
        query: SearchQuery | None,
        cursor: str | None,
        limit: int,
        include_deleted: bool,
        count: bool = True,
    ) -> tuple[list[MemberRow], int | None, str | None]: ...
    def direct_roles(self, tx: ReadTx, member_ids: Iterable[str]) -> dict[str, list[str]]: ...
    def set_direct_roles(
        self, tx: WriteTx, environment_id: str, member_id: str, role_ids: Iterable[str]
    ) -> None: ...
    def members_with_direct_role(
        self, tx: ReadTx, environment_id: str, role_id: str
    ) -> list[str]: ...
    def remove_direct_role(self, tx: WriteTx, environment_id: str, role_id: str) -> None: ...


class SessionStore(Protocol):
    def insert_session(self, tx: WriteTx, row: SessionRow) -> None: ...
    def get_session(
        self, tx: ReadTx, environment_id: str, session_id: str
    ) -> SessionRow | None: ...
    def find_session_by_token_hash(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> SessionRow | None: ...
    def update_session(self, tx: WriteTx, session_id: str, values: SessionValues) -> None: ...
    def active_sessions(self, tx: ReadTx, member_id: str, now: dt.datetime) -> list[SessionRow]: ...
    def revoke_member_sessions(self, tx: WriteTx, member_id: str, now: dt.datetime) -> int: ...


class EventStore(Protocol):
    def insert_event(self, tx: WriteTx, row: NewEvent) -> None: ...
    def events(self, tx: ReadTx, environment_id: str, limit: int = 100) -> list[EventRow]: ...
    def query_events(
        self,
        tx: ReadTx,
        scope_id: str,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[EventRow]:
        """The scope's events, newest first (by id); `before`: only ids below it (the keyset
        cursor of the next page: the last id of this one)."""
        ...


class EmailFlowStore(Protocol):
    """What the member email flows keep: the tokens and codes they email (digests only), the
    intermediate sessions of discovery, and each environment's redirect URLs."""

    def insert_member_email_token(self, tx: WriteTx, row: MemberEmailTokenRow) -> None: ...
    def find_member_email_token(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> MemberEmailTokenRow | None: ...
    def latest_member_email_token(
        self,
        tx: ReadTx,
        environment_id: str,
        organization_id: str | None,
        email: str,
        purpose: str,
    ) -> MemberEmailTokenRow | None:
        """The newest token of `purpose` sent to `email` (any case) for that organization
        (None: discovery), used or not."""
        ...

    def use_member_email_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool:
        """Mark used; False if it already was (of two racing redemptions, one wins)."""
        ...

    def count_member_email_token_attempt(self, tx: WriteTx, token_id: str) -> int:
        """One more failed attempt at a code; returns the new count."""
        ...

    def insert_intermediate_session(self, tx: WriteTx, row: IntermediateSessionRow) -> None: ...
    def find_intermediate_session(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> IntermediateSessionRow | None: ...
    def use_intermediate_session(self, tx: WriteTx, session_id: str, now: dt.datetime) -> bool:
        """Mark used; False if it already was."""
        ...

    def members_by_email(self, tx: ReadTx, environment_id: str, email: str) -> list[MemberRow]:
        """The environment's members (not deleted) with this address, any case, oldest first:
        the organizations discovery finds for it."""
        ...

    def redirect_urls(self, tx: ReadTx, environment_id: str) -> list[RedirectUrlRow]: ...
    def put_redirect_url(
        self, tx: WriteTx, environment_id: str, url: str, types: dict[str, bool], now: dt.datetime
    ) -> None:
        """Make `url`'s types exactly `types` (type -> is_default). A default of a type that
        another URL holds is a `Conflict` (clear that one first)."""
        ...

    def clear_redirect_default(self, tx: WriteTx, environment_id: str, url_type: str) -> None: ...
    def delete_redirect_url(self, tx: WriteTx, environment_id: str, url: str) -> bool: ...


class ScimStore(Protocol):
    """SCIM connections (one per organization, token digests only) and what they provision."""

    def insert_scim_connection(self, tx: WriteTx, row: ScimConnectionRow) -> None:
        """A second connection for the organization: DuplicateValue."""
        ...

    def find_scim_connection(
        self, tx: ReadTx, organization_id: str
    ) -> ScimConnectionRow | None: ...
    def scim_connection_by_id(self, tx: ReadTx, connection_id: str) -> ScimConnectionRow | None: ...
    def update_scim_connection(
        self, tx: WriteTx, connection_id: str, values: ScimConnectionValues
    ) -> None: ...
    def delete_scim_connection(self, tx: WriteTx, connection_id: str) -> None:
        """With its users' and groups' rows (the members stay)."""
        ...

    def scim_users(self, tx: ReadTx, connection_id: str) -> list[ScimUserRow]:
        """Oldest first."""
        ...

    def insert_scim_user(self, tx: WriteTx, row: ScimUserRow) -> None:
        """A `userName` the connection already has (any case): DuplicateValue."""
        ...

    def update_scim_user(
        self,
        tx: WriteTx,
        user_id: str,
        user_name_lower: str,
        resource: JsonObject,
        now: dt.datetime,
    ) -> None: ...
    def delete_scim_user(self, tx: WriteTx, user_id: str) -> None: ...
    def scim_groups(self, tx: ReadTx, connection_id: str) -> list[ScimGroupRow]:
        """Oldest first."""
        ...

    def insert_scim_group(self, tx: WriteTx, row: ScimGroupRow) -> None: ...
    def update_scim_group(
        self, tx: WriteTx, group_id: str, display_name: str, resource: JsonObject, now: dt.datetime
    ) -> None: ...
    def delete_scim_group(self, tx: WriteTx, group_id: str) -> None: ...
    def scim_group_members(self, tx: ReadTx, connection_id: str) -> dict[str, list[str]]:
        """Each group id of the connection -> its member ids (every group, empty ones too)."""
        ...

    def set_scim_group_members(self, tx: WriteTx, group_id: str, member_ids: list[str]) -> None:
        """Make the group's members exactly `member_ids`."""
        ...


class WorkspaceStore(Protocol):
    """The workspace's people, email-domain rules, management keys, dashboard sessions and
    one-time email tokens (Gatehouse runs one workspace per database)."""

    def get_workspace(self, tx: ReadTx) -> WorkspaceRow | None: ...
    def lock_workspace(self, tx: WriteTx, workspace_id: str) -> None: ...
    def update_workspace(self, tx: WriteTx, workspace_id: str, values: WorkspaceValues) -> None: ...
    def insert_workspace_member(self, tx: WriteTx, row: WorkspaceMemberRow) -> None: ...
    def get_workspace_member(self, tx: ReadTx, member_id: str) -> WorkspaceMemberRow | None: ...
    def find_workspace_member_by_email(
        self, tx: ReadTx, workspace_id: str, email: str
    ) -> WorkspaceMemberRow | None: ...
    def list_workspace_members(self, tx: ReadTx, workspace_id: str) -> list[WorkspaceMemberRow]: ...
    def update_workspace_member(
        self, tx: WriteTx, member_id: str, values: WorkspaceMemberValues
    ) -> None: ...
    def delete_workspace_member(self, tx: WriteTx, member_id: str) -> None: ...
    def list_domains(self, tx: ReadTx, workspace_id: str) -> list[DomainRow]: ...
    def put_domain(self, tx: WriteTx, row: DomainRow) -> None: ...
    def delete_domain(self, tx: WriteTx, workspace_id: str, domain: str) -> bool: ...
    def insert_workspace_key(self, tx: WriteTx, row: WorkspaceKeyRow) -> None: ...
    def get_workspace_key(self, tx: ReadTx, key_id: str) -> WorkspaceKeyRow | None: ...
    def list_workspace_keys(self, tx: ReadTx, workspace_id: str) -> list[WorkspaceKeyRow]: ...
    def update_workspace_key(
        self, tx: WriteTx, key_id: str, values: WorkspaceKeyValues
    ) -> None: ...
    def insert_dashboard_session(self, tx: WriteTx, row: DashboardSessionRow) -> None: ...
    def find_dashboard_session(self, tx: ReadTx, token_hash: str) -> DashboardSessionRow | None: ...
    def revoke_dashboard_sessions(self, tx: WriteTx, member_id: str, now: dt.datetime) -> None: ...
    def update_dashboard_session(
        self, tx: WriteTx, session_id: str, values: DashboardSessionValues
    ) -> None: ...
    def insert_email_token(self, tx: WriteTx, row: EmailTokenRow) -> None: ...
    def find_email_token(self, tx: ReadTx, token_hash: str) -> EmailTokenRow | None: ...
    def use_email_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool: ...


class SsoStore(Protocol):
    """What SSO keeps: SAML and OIDC connections, member registrations, the AuthnRequests and
    OIDC authorization requests issued, the assertion ids accepted (until they expire) and the
    one-time SSO tokens (digests only)."""

    def insert_saml_connection(self, tx: WriteTx, row: SamlConnectionRow) -> None: ...
    def get_saml_connection(
        self, tx: ReadTx, environment_id: str | None, connection_id: str
    ) -> SamlConnectionRow | None:
        """By id, in that environment (None: in any: the public SSO endpoints)."""
        ...

    def saml_connections(self, tx: ReadTx, organization_id: str) -> list[SamlConnectionRow]: ...
    def update_saml_connection(
        self, tx: WriteTx, connection_id: str, values: Mapping[str, Any]
    ) -> None: ...
    def delete_saml_connection(self, tx: WriteTx, connection_id: str) -> None: ...
    def insert_sso_registration(self, tx: WriteTx, row: SsoRegistrationRow) -> None: ...
    def update_sso_registration(
        self, tx: WriteTx, registration_id: str, values: Mapping[str, Any]
    ) -> None: ...
    def find_sso_registration(
        self, tx: ReadTx, connection_id: str, external_id: str
    ) -> SsoRegistrationRow | None: ...
    def get_sso_registration(
        self, tx: ReadTx, registration_id: str
    ) -> SsoRegistrationRow | None: ...
    def sso_registrations(
        self, tx: ReadTx, member_ids: Sequence[str]
    ) -> dict[str, list[SsoRegistrationRow]]: ...
    def insert_saml_request(self, tx: WriteTx, row: SamlRequestRow) -> None: ...
    def find_saml_request(self, tx: ReadTx, request_id: str) -> SamlRequestRow | None: ...
    def use_saml_request(self, tx: WriteTx, request_id: str, now: dt.datetime) -> bool: ...
    def remember_assertion(
        self,
        tx: WriteTx,
        connection_id: str,
        assertion_id: str,
        expires_at: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        """Record an accepted assertion id; False when it was already seen."""
        ...

    def insert_sso_token(self, tx: WriteTx, row: SsoTokenRow) -> None: ...
    def find_sso_token(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> SsoTokenRow | None: ...
    def use_sso_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool: ...
    def insert_oidc_connection(self, tx: WriteTx, row: OidcConnectionRow) -> None: ...
    def get_oidc_connection(
        self, tx: ReadTx, environment_id: str | None, connection_id: str
    ) -> OidcConnectionRow | None:
        """By id, in that environment (None: in any: the public SSO endpoints)."""
        ...

    def oidc_connections(self, tx: ReadTx, organization_id: str) -> list[OidcConnectionRow]: ...
    def update_oidc_connection(
        self, tx: WriteTx, connection_id: str, values: Mapping[str, Any]
    ) -> None: ...
    def delete_oidc_connection(self, tx: WriteTx, connection_id: str) -> None:
        """The connection, its registrations and their SSO tokens."""
        ...

    def insert_oidc_request(self, tx: WriteTx, row: OidcRequestRow) -> None: ...
    def find_oidc_request(self, tx: ReadTx, request_id: str) -> OidcRequestRow | None: ...
    def use_oidc_request(self, tx: WriteTx, request_id: str, now: dt.datetime) -> bool: ...


class MfaStore(Protocol):
    """Members' second factors: TOTP registrations (sealed secrets) and recovery codes
    (digests)."""

    def insert_totp(self, tx: WriteTx, row: TotpRow) -> None: ...
    def member_totp(self, tx: ReadTx, member_id: str) -> TotpRow | None: ...
    def delete_member_totp(self, tx: WriteTx, member_id: str) -> bool: ...
    def verify_totp(self, tx: WriteTx, totp_id: str) -> None: ...
    def use_totp_step(self, tx: WriteTx, totp_id: str, step: int) -> bool:
        """Record `step` as used; False when it (or a later one) already was."""
        ...

    def sealed_totp_secrets(self, tx: ReadTx) -> list[tuple[str, str]]:
        """(id, secret_sealed) of every TOTP registration, for re-sealing at start-up."""
        ...

    def replace_totp_secret(self, tx: WriteTx, totp_id: str, old: str, new: str) -> int:
        """Swap the sealed secret if it is still `old`; returns rows changed (0 or 1)."""
        ...

    def replace_recovery_codes(
        self, tx: WriteTx, member_id: str, rows: list[RecoveryCodeRow]
    ) -> None: ...
    def recovery_codes_left(self, tx: ReadTx, member_id: str) -> int: ...
    def use_recovery_code(
        self, tx: WriteTx, member_id: str, code_hash: str, now: dt.datetime
    ) -> bool:
        """Mark the member's unused code with this digest used; False when there is none."""
        ...


class Store(
    Transactions,
    ChangeFeed,
    ProjectStore,
    OrganizationStore,
    MemberStore,
    SessionStore,
    EventStore,
    WorkspaceStore,
    EmailFlowStore,
    ScimStore,
    SsoStore,
    MfaStore,
    Protocol,
):
    """Everything a node's services need, over one database."""
