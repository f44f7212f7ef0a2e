"""Directory and support actions for dashboard users in one environment, each gated by its row of
the dashboard matrix: look up and edit organizations and members, send a password reset email,
revoke a member's sessions, reactivate a member, impersonate a member, read the event log.

Work on an environment's data goes through the B2B services with a `Caller` whose actor is the
operator, so the rules and the event log are those of the B2B API. The one B2B call that lives here
is the completion of a password reset (`POST /v1/b2b/passwords/email/reset`).

Impersonation needs both `impersonation.use` and the environment's `user_impersonation_enabled`;
the session it opens carries an `impersonated` factor naming the impersonator, and lives
`impersonation_minutes`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gatehouse.errors import (
    Code,
    Denied,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
)
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import mfa
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.b2b.passwords import password_factor
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import (
    Caller,
    Environment,
    MemberPage,
    MemberView,
    OrganizationPage,
    SignIn,
)
from gatehouse.services.mail import Mailer
from gatehouse.services.security import credentials, password_hashes
from gatehouse.services.workspace.operators import Operator
from gatehouse.services.workspace.people import Workspace
from gatehouse.services.workspace.projects import EnvironmentView, Projects
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    ReadTx,
    SessionStore,
    Transactions,
    WorkspaceStore,
)
from gatehouse.storage.rows import (
    EmailTokenRow,
    EnvironmentInfo,
    EventRow,
    MemberRow,
    MemberValues,
    OrganizationRow,
    ProjectRow,
)


class _Store(
    Transactions, OrganizationStore, MemberStore, SessionStore, WorkspaceStore, EventStore, Protocol
):
    """The storage this service uses."""


RESET_PURPOSE = "member_password_reset"
RESET_TOKEN_TYPE = "multi_tenant_passwords"

# A listing's optional filters, as the organization and member search filters they stand for.
ORGANIZATION_FILTERS = {"name": "organization_name_fuzzy", "slug": "organization_slug_fuzzy"}
MEMBER_FILTERS = {"email": "member_email_fuzzy", "member_ids": "member_ids"}


def _search_query(filters: dict[str, str], given: dict[str, Any]) -> dict[str, Any] | None:
    operands = [
        {"filter_name": filters[name], "filter_value": value}
        for name, value in given.items()
        if name in filters and value
    ]
    return {"operator": "AND", "operands": operands} if operands else None


def check_redirect_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"`reset_password_redirect_url` `{url[:200]}` must be an absolute http(s) url"
        )
    return url


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _invalid_reset_token() -> GatehouseError:
    return Unauthorized(
        "the password reset token is unknown, expired or already used; send a new reset email",
        code=Code.INVALID_PASSWORD_RESET_TOKEN,
    )


def _unsupported(name: str, why: str) -> GatehouseError:
    return InvalidInput(f"`{name}` is not supported: {why}", code=Code.UNSUPPORTED_FEATURE)


class Support:
    def __init__(
        self,
        workspace: Workspace,
        projects: Projects,
        organizations: Organizations,
        members: Members,
        sessions: Sessions,
        mailer: Mailer,
    ) -> None:
        self.workspace = workspace
        self.projects = projects
        self.organizations = organizations
        self.members = members
        self.sessions = sessions
        self.mailer = mailer
        self.runtime = workspace.runtime
        self.store: _Store = workspace.runtime.store

    # -- where an operator acts ------------------------------------------------------------

    def _scope(
        self, tx: ReadTx, operator: Operator, project_slug: str, environment_slug: str
    ) -> tuple[Caller, EnvironmentInfo]:
        """The B2B caller for the operator in an environment, and the environment's row."""
        _, environment = self.projects.environment(tx, operator, project_slug, environment_slug)
        loaded = self.runtime.load_environment(tx, environment["id"])
        assert loaded is not None
        return Caller(loaded, operator.actor, actor_role=operator.role), environment

    def _caller(
        self, operator: Operator, permission: str, project_slug: str, environment_slug: str
    ) -> Caller:
        operator.require(permission)
        with self.store.read() as tx:
            return self._scope(tx, operator, project_slug, environment_slug)[0]

    def _member(
        self, tx: ReadTx, environment: Environment, org_ident: str, member_id: str
    ) -> tuple[OrganizationRow, MemberRow]:
        """(organization, member) for a member of that organization who is not deleted."""
        org = self.organizations.find(tx, environment, org_ident)
        member = self.store.get_member(tx, org["id"], member_id)
        if member is None or member["status"] == "deleted":
            raise NotFound(Kind.MEMBER, member_id)
        return org, member

    # -- directory.view / directory.manage ---------------------------------------------------

    def environment_of(
        self, operator: Operator, project_slug: str, environment_slug: str
    ) -> tuple[ProjectRow, EnvironmentInfo]:
        """The project and environment a directory page is in (its header, whether it allows
        impersonation, its reset page): for anyone with `directory.view`."""
        operator.require("directory.view")
        with self.store.read() as tx:
            return self.projects.environment(tx, operator, project_slug, environment_slug)

    def role_choices(
        self, operator: Operator, project_slug: str, environment_slug: str, org_ident: str
    ) -> list[tuple[str, str]]:
        """(role_id, description) of every role a member of the organization can be given: the
        project policy's roles, then the organization's own."""
        operator.require("directory.view")
        with self.store.read() as tx:
            caller = self._scope(tx, operator, project_slug, environment_slug)[0]
            org = self.organizations.find(tx, caller.environment, org_ident)
        project_roles = [(r.role_id, r.description) for r in caller.environment.policy.roles]
        own = [(str(r["role_id"]), str(r.get("description", ""))) for r in org["custom_roles"]]
        return project_roles + own

    def list_organizations(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        filters: dict[str, Any],
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> OrganizationPage:
        caller = self._caller(operator, "directory.view", project_slug, environment_slug)
        query = _search_query(ORGANIZATION_FILTERS, filters)
        return self.organizations.search(caller, query, cursor, limit, count)

    def get_organization(
        self, operator: Operator, project_slug: str, environment_slug: str, org_ident: str
    ) -> OrganizationRow:
        caller = self._caller(operator, "directory.view", project_slug, environment_slug)
        return self.organizations.get(caller, org_ident)

    def update_organization(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        fields: dict[str, Any],
    ) -> OrganizationRow:
        caller = self._caller(operator, "directory.manage", project_slug, environment_slug)
        return self.organizations.update(caller, org_ident, fields)

    def list_members(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        filters: dict[str, Any],
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> MemberPage:
        caller = self._caller(operator, "directory.view", project_slug, environment_slug)
        query = _search_query(MEMBER_FILTERS, filters)
        if filters.get("status"):
            query = query or {"operator": "AND", "operands": []}
            query["operands"].append(
                {"filter_name": "statuses", "filter_value": [filters["status"]]}
            )
        return self.members.search(caller, [org_ident], query, cursor, limit, count)

    def get_member(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
    ) -> MemberView:
        caller = self._caller(operator, "directory.view", project_slug, environment_slug)
        return self.members.get(caller, org_ident, member_id, None)

    def update_member(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
        fields: dict[str, Any],
    ) -> MemberView:
        caller = self._caller(operator, "directory.manage", project_slug, environment_slug)
        return self.members.update(caller, org_ident, member_id, fields)

    # -- support.sessions_revoke / support.emails_reactivate ---------------------------------

    def revoke_sessions(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
    ) -> MemberView:
        caller = self._caller(operator, "support.sessions_revoke", project_slug, environment_slug)
        # The member must be in the organization named by the path, not just in the environment.
        return self.sessions.revoke_member(caller, org_ident, member_id)

    def reactivate(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
    ) -> MemberView:
        caller = self._caller(operator, "support.emails_reactivate", project_slug, environment_slug)
        return self.members.reactivate(caller, org_ident, member_id)

    # -- support.password_reset: the email -------------------------------------------------

    def send_password_reset(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
        redirect_url: str | None,
        expiration_minutes: int | None,
    ) -> tuple[MemberView, str]:
        """Email the member a one-time link to set a new password; returns the member and when
        the link expires."""
        operator.require("support.password_reset")
        with self.store.read() as tx:
            caller, environment = self._scope(tx, operator, project_slug, environment_slug)
            org, member = self._member(tx, caller.environment, org_ident, member_id)
            view = self.members.view(tx, member, org)
        base = redirect_url or environment["settings"].get("reset_password_redirect_url")
        if not base:
            raise InvalidInput(
                "pass `reset_password_redirect_url`: the page of your application that takes "
                "the reset token and calls `POST /v1/b2b/passwords/email/reset`"
            )
        check_redirect_url(base)
        minutes = expiration_minutes or self.runtime.settings.email_link_minutes
        token = credentials.new_token()
        now = clock.now()
        expires_at = now + dt.timedelta(minutes=minutes)
        link = _with_query(base, slug=org["slug"], stytch_token_type=RESET_TOKEN_TYPE, token=token)
        self.runtime.send_limits.take(member["email"], None)  # 429 before anything is sent
        # Sent before the token is stored: a failed delivery then leaves nothing behind.
        self._send(
            member["email"],
            f"Reset your password for {org['name']}",
            f"Hello {member['name'] or member['email']},\n\n"
            f"Someone from the support team of {org['name']} started a password reset for your "
            f"account. Choose a new password here (the link works once, for {minutes} "
            f"minutes):\n\n{link}\n\n"
            f"Your reset token, if your application asks for it: {token}\n\n"
            "If you did not ask for this, ignore this email: your password has not changed.\n",
        )
        with self.store.transaction() as tx:
            self.store.insert_email_token(
                tx,
                {
                    "id": f"email-token-{uuid.uuid4()}",
                    "purpose": RESET_PURPOSE,
                    "token_hash": credentials.token_digest(token),
                    "email": member["email"],
                    "workspace_id": operator.workspace_id,
                    "environment_id": environment["id"],
                    "subject_id": member["id"],
                    "created_at": now,
                    "expires_at": expires_at,
                    "used_at": None,
                },
            )
            self.workspace.record(
                tx,
                operator,
                "member.password_reset_start",
                member["id"],
                {"email_address": member["email"], "expires_at": clock.iso(expires_at)},
                scope=environment["id"],
            )
        return view, str(clock.iso(expires_at))

    def _send(self, to: str, subject: str, body: str) -> None:
        try:
            self.mailer.send(to, subject, body)
        except OSError as error:  # smtplib's errors are OSErrors
            raise GatehouseError(
                Code.EMAIL_DELIVERY_FAILED,
                f"the email to `{to}` could not be sent ({error}); check the server's smtp "
                "settings and try again",
            ) from None

    # -- the B2B completion: POST /v1/b2b/passwords/email/reset ------------------------------

    def _reset_token(
        self, tx: ReadTx, environment: Environment, token: str
    ) -> tuple[EmailTokenRow, MemberRow]:
        """The live reset token and its member, or the one error for every kind of bad token."""
        row = self.store.find_email_token(tx, credentials.token_digest(token))
        if (
            row is None
            or row["purpose"] != RESET_PURPOSE
            or row["environment_id"] != environment.id
            or row["used_at"] is not None
            or row["expires_at"] <= clock.now()
            or not credentials.digest_matches(token, row["token_hash"])
        ):
            raise _invalid_reset_token()
        member = self.store.get_member_by_id(tx, environment.id, row["subject_id"] or "")
        # A token sent to an address the member no longer has is void.
        if (
            member is None
            or member["status"] == "deleted"
            or member["email_lower"] != row["email"].lower()
        ):
            raise _invalid_reset_token()
        # So is one issued before the member's latest reset: an older email must not undo a
        # newer password. (The store has no query for a subject's tokens; the log records it.)
        if self.store.query_events(
            tx,
            environment.id,
            action="member.password_reset",
            target=member["id"],
            since=row["created_at"],
            limit=1,
        ):
            raise _invalid_reset_token()
        return row, member

    def reset_password(self, caller: Caller, fields: dict[str, Any]) -> SignIn | mfa.Pending:
        """Set the member's password from a reset token, revoke their sessions and start a new
        one (as Stytch does), or, when the member owes a second factor, an intermediate session
        that the second factor completes."""
        for name in ("session_token", "session_jwt"):
            if fields.get(name):
                raise _unsupported(name, "a reset revokes every session of the member")
        if fields.get("intermediate_session_token"):
            raise _unsupported(
                "intermediate_session_token", "Gatehouse has no discovery or mfa flows yet"
            )
        if fields.get("code_verifier"):
            raise _unsupported("code_verifier", "Gatehouse reset emails carry no pkce challenge")
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        with self.store.read() as tx:
            token_row, member = self._reset_token(tx, environment, fields["password_reset_token"])
        strength = password_hashes.strength_check(fields["password"], member["email"])
        if not strength["valid_password"]:
            warning = strength["zxcvbn_feedback"]["warning"]
            raise InvalidInput(
                "the password is too easy to guess"
                + (f" ({warning.rstrip('.').lower()})" if warning else "")
                + "; choose a longer or less common one (see `/v1/b2b/passwords/strength_check`)",
                code=Code.WEAK_PASSWORD,
            )
        # Hashed before the write transaction, so the costly argon2id work holds no lock.
        hashed = self.runtime.passwords.hash(fields["password"])
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            now = clock.now()
            # Checked again inside the write: of two racing resets, one wins.
            token_row, member = self._reset_token(tx, environment, fields["password_reset_token"])
            if not self.store.use_email_token(tx, token_row["id"], now):
                raise _invalid_reset_token()
            org = self.store.find_organization(tx, environment.id, member["organization_id"])
            assert org is not None
            values: MemberValues = {
                "password_hash": hashed,
                "password_id": member["password_id"]
                or ids.new_id("member-password", environment.kind),
                "email_verified": True,  # the member proved they read mail at this address
                "updated_at": now,
            }
            if member["status"] == "pending":
                values["status"] = "active"
            self.store.update_member(tx, member["id"], values)
            member = {**member, **values}
            revoked = self.store.revoke_member_sessions(tx, member["id"], now)
            events.record_call(
                self.store,
                tx,
                caller,
                "member.password_reset",
                member["id"],
                {"by": "email", "sessions_revoked": revoked},
            )
            factor = password_factor(member["id"], member["email"])
            pending: mfa.Pending | None = None
            if mfa.required(org, member):
                pending = mfa.pend(self.members, tx, caller, member, org, [factor])
            else:
                row, token = self.sessions.start(
                    tx, caller, member, org, factor, duration, fields.get("session_custom_claims")
                )
                active = self.sessions.signed_in(tx, row, token, member, org)
        if pending is not None:
            pending.send()  # after the commit
            return pending
        return self.sessions.with_jwt(environment, active, token)

    # -- impersonation.use -------------------------------------------------------------------

    def _impersonator(self, tx: ReadTx, operator: Operator) -> dict[str, str]:
        if operator.member_id is not None:
            person = self.store.get_workspace_member(tx, operator.member_id)
            email = person["email"] if person is not None else ""
            return {"impersonator_id": operator.member_id, "impersonator_email_address": email}
        return {
            "impersonator_id": operator.key_id or operator.actor,
            "impersonator_email_address": "",
        }

    def impersonate(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        org_ident: str,
        member_id: str,
    ) -> SignIn:
        """A short-lived session of the member whose factor names the impersonator."""
        operator.require("impersonation.use")
        with self.store.transaction() as tx:
            caller, environment = self._scope(tx, operator, project_slug, environment_slug)
            if not environment["user_impersonation_enabled"]:
                raise Denied(
                    f"user impersonation is switched off in environment `{environment_slug}`; "
                    "a workspace Admin can switch it on (`user_impersonation_enabled`)",
                    code=Code.IMPERSONATION_DISABLED,
                )
            org, member = self._member(tx, caller.environment, org_ident, member_id)
            impersonator = self._impersonator(tx, operator)
            now = clock.iso(clock.now())
            factor = {
                "type": "impersonated",
                "delivery_method": "impersonation",
                "last_authenticated_at": now,
                "created_at": now,
                "updated_at": now,
                "impersonated_factor": impersonator,
            }
            minutes = self.runtime.settings.impersonation_minutes
            row, token = self.sessions.start(tx, caller, member, org, factor, minutes, None)
            self.workspace.record(
                tx,
                operator,
                "member.impersonate",
                member["id"],
                {
                    **impersonator,
                    "organization_id": org["id"],
                    "member_session_id": row["id"],
                    "expires_at": clock.iso(row["expires_at"]),
                },
                scope=environment["id"],
            )
            active = self.sessions.signed_in(tx, row, token, member, org)
        return self.sessions.with_jwt(caller.environment, active, token)

    # -- event_logs.view ---------------------------------------------------------------------

    def events(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        filters: dict[str, Any],
        limit: int,
    ) -> list[EventRow]:
        """The environment's events, newest first; `since` inclusive, `until` exclusive;
        `before` (an event id: the last one of the page shown) pages on to older ones."""
        operator.require("event_logs.view")
        _check_range(filters)
        with self.store.read() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, environment_slug)
            return self._query_events(tx, environment["id"], filters, limit)

    def event_log(
        self,
        operator: Operator,
        project_slug: str,
        environment_slug: str,
        filters: dict[str, Any],
        limit: int,
    ) -> tuple[EnvironmentView, list[EventRow]]:
        """`events`, with the environment and its project (the dashboard's event log page names
        them; a role may read the log without `project_config.view`)."""
        operator.require("event_logs.view")
        _check_range(filters)
        with self.store.read() as tx:
            project, environment = self.projects.environment(
                tx, operator, project_slug, environment_slug
            )
            rows = self._query_events(tx, environment["id"], filters, limit)
        return EnvironmentView(project, environment), rows

    def workspace_events(
        self, operator: Operator, filters: dict[str, Any], limit: int
    ) -> list[EventRow]:
        """The workspace's own events (people, roles, keys, projects), as `events` gives an
        environment's."""
        operator.require("event_logs.view")
        _check_range(filters)
        with self.store.read() as tx:
            return self._query_events(tx, operator.workspace_id, filters, limit)

    def _query_events(
        self, tx: ReadTx, scope_id: str, filters: dict[str, Any], limit: int
    ) -> list[EventRow]:
        return self.store.query_events(
            tx,
            scope_id,
            actor=filters.get("actor"),
            target=filters.get("target"),
            action=filters.get("action"),
            since=filters.get("since"),
            until=filters.get("until"),
            before=filters.get("before"),
            limit=limit,
        )


def _check_range(filters: dict[str, Any]) -> None:
    since, until = filters.get("since"), filters.get("until")
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` must not be later than `until`")
