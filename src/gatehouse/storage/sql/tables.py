"""The relational schema, shared by SQLite and PostgreSQL. Alembic migrations mirror it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false, text
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            # The backends would read a naive value differently; refuse it at the source.
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is not None:
            value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value


ID = String(96)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Billing profile and other workspace-wide settings, keyed by their API names.
    Column("settings", JSON, nullable=False, server_default="{}"),
)

workspace_members = Table(
    "workspace_members",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),  # stored lowercased
    # The explicitly set dashboard role (null for someone who joined through a domain rule and
    # was never given one); the effective role also weighs the domain's automatic role.
    Column("role", String(32), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("name", String(256), nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("email_verified", Boolean, nullable=False, server_default=false()),
    Column("password_hash", Text, nullable=True),
    UniqueConstraint("workspace_id", "email"),
)

workspace_domains = Table(
    "workspace_domains",
    metadata,
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("jit_enabled", Boolean, nullable=False),
    Column("auto_role", String(32), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

workspace_keys = Table(
    "workspace_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("last_four", String(4), nullable=False),
    Column("role", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("member_id", ID, ForeignKey("workspace_members.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index(None, "member_id"),
)

# One-time tokens sent by email: sign-in links, invitations, member password resets.
email_tokens = Table(
    "email_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("workspace_id", ID, nullable=True),
    Column("environment_id", ID, nullable=True),
    Column("subject_id", ID, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("slug", String(128), nullable=False),
    Column("vertical", String(16), nullable=False, server_default="B2B"),
    UniqueConstraint("workspace_id", "slug"),
)

# An environment's id is the `project_id` API callers use (project-live-..., project-test-...).
environments = Table(
    "environments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("name", String(256), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("policy", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("slug", String(128), nullable=False),
    Column("user_impersonation_enabled", Boolean, nullable=False, server_default=false()),
    # The Management API's other environment settings, keyed by their wire names.
    Column("settings", JSON, nullable=False, server_default="{}"),
    UniqueConstraint("project_id", "slug"),
    # A project has exactly one live environment.
    Index(
        "uq_environments_project_id_live",
        "project_id",
        unique=True,
        sqlite_where=text("kind = 'live'"),
        postgresql_where=text("kind = 'live'"),
    ),
)

api_secrets = Table(
    "api_secrets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("last_four", String(4), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "environment_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("private_key_pem", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "environment_id"),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("slug", String(128), nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("trusted_metadata", JSON, nullable=False),
    # Every other Organization field of the wire object, keyed by its wire name.
    Column("settings", JSON, nullable=False),
    # The organization's own custom roles (its org policy), in the B2B wire shape.
    Column("custom_roles", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("environment_id", "slug"),
    UniqueConstraint("environment_id", "external_id"),
    # Listing pages in creation order (the cursor's order) without sorting every row; name and
    # slug make it cover the substring searches too.
    Index("ix_organizations_listing", "environment_id", "created_at", "id", "name", "slug"),
)

# Every identifier an organization is looked up by (its id, slug and external id share one lookup),
# unique across all three within an environment: no organization can take another's identifier.
# Kept in step with `organizations` by the store, in the same transaction.
organization_identifiers = Table(
    "organization_identifiers",
    metadata,
    Column("environment_id", ID, primary_key=True),
    Column("identifier", String(128), primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(16), nullable=False),  # id, slug or external_id
    Index(None, "organization_id"),
)

members = Table(
    "members",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("email", String(320), nullable=False),
    Column("email_lower", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("name", String(256), nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("is_breakglass", Boolean, nullable=False),
    Column("email_verified", Boolean, nullable=False),
    Column("mfa_enrolled", Boolean, nullable=False),
    Column("mfa_phone_number", String(32), nullable=False),
    Column("mfa_phone_verified", Boolean, nullable=False),
    Column("default_mfa_method", String(32), nullable=False),
    Column("trusted_metadata", JSON, nullable=False),
    Column("untrusted_metadata", JSON, nullable=False),
    Column("password_id", ID, nullable=True),
    Column("password_hash", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # A SCIM-provisioned member's registration and group ids (migration 0010), else null.
    Column("scim", JSON, nullable=True),
    # Issue 12: the member's verified TOTP registration, "" when none.
    Column("totp_registration_id", String(96), nullable=False, server_default=""),
    Index(None, "organization_id", "email_lower"),
    Index(None, "environment_id", "email_lower"),
    # Listing an organization's members in creation order (the cursor's order) without sorting
    # them all; status and email_lower make it cover the count and the email substring search
    # too (a page then reads only the rows it shows).
    Index(
        "ix_members_listing",
        "environment_id",
        "organization_id",
        "created_at",
        "id",
        "status",
        "email_lower",
    ),
    # One member per address among those not deleted; one per external id (any status).
    Index(
        "uq_members_organization_id_email_lower",
        "organization_id",
        "email_lower",
        unique=True,
        sqlite_where=text("status <> 'deleted'"),
        postgresql_where=text("status <> 'deleted'"),
    ),
    Index(
        "uq_members_organization_id_external_id",
        "organization_id",
        "external_id",
        unique=True,
        sqlite_where=text("external_id IS NOT NULL"),
        postgresql_where=text("external_id IS NOT NULL"),
    ),
)

# The addresses members of an organization hold: each one's current address (while not deleted) and
# the addresses it retired by changing its email, which no other member of the organization may
# take. Kept in step with `members` by the store, in the same transaction.
member_emails = Table(
    "member_emails",
    metadata,
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("email_lower", String(320), primary_key=True),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    # A retired address's id (a current address's id is derived from its member's).
    Column("email_id", ID, nullable=True),
    Column("retired", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "member_id"),
)

member_roles = Table(
    "member_roles",
    metadata,
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", String(128), primary_key=True),
    Column("environment_id", ID, nullable=False),
    Index(None, "environment_id", "role_id"),
)

member_sessions = Table(
    "member_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("authentication_factors", JSON, nullable=False),
    Column("custom_claims", JSON, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("last_accessed_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index(None, "member_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment_id", ID, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(128), nullable=False),
    Column("target", String(256), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # The dashboard role the actor acted with (people and management keys); null otherwise.
    Column("actor_role", String(32), nullable=True),
    Index(None, "environment_id", "created_at"),
    # The event log's pages: newest first by id, whole or by one filter (migration 0008).
    Index(None, "environment_id", "id"),
    Index(None, "environment_id", "actor", "id"),
    Index(None, "environment_id", "target", "id"),
    Index(None, "environment_id", "action", "id"),
)

# Member email tokens (issue 11): magic links (login, signup, invite, discovery), password
# resets and email one-time codes, one row per email sent. Only a digest of the token (or, for a
# code, of the row id and the code) is stored. `organization_id` is null for discovery tokens.
member_email_tokens = Table(
    "member_email_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True
    ),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
    Column("purpose", String(32), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("email_lower", String(320), nullable=False),
    Column("pkce_challenge", String(128), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index(None, "environment_id", "email_lower", "purpose"),
)

# Intermediate sessions: an email address proven by a discovery flow, not yet a member session.
intermediate_sessions = Table(
    "intermediate_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("authentication_factors", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    # Set when a primary factor signed in a member who must still complete MFA (issue 12).
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True
    ),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
)

# A member's TOTP registration (issue 12): the secret sealed with `encryption_keys`; the last
# time step a code was accepted for, so each code works once.
member_totps = Table(
    "member_totps",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    Column("secret_sealed", String(1024), nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("last_used_step", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# A member's recovery codes, digests only; each is used once.
member_recovery_codes = Table(
    "member_recovery_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index(None, "member_id"),
)

# Redirect URLs per environment, one row per (url, type); at most one default per type.
redirect_urls = Table(
    "redirect_urls",
    metadata,
    Column(
        "environment_id",
        ID,
        ForeignKey("environments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("url", String(2048), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(
        "uq_redirect_urls_environment_id_type_default",
        "environment_id",
        "type",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
)

# The change feed SQLite nodes poll to drop stale cache entries (PostgreSQL nodes use NOTIFY, so
# the table stays empty there). Written in the transaction of the change it names; rows older than
# the poll horizon are pruned. AUTOINCREMENT: a sequence number is never reused, even after pruning.
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("environment_id", ID, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", ID, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

# SCIM connections (migration 0010): at most one per organization; digests of the bearer tokens.
scim_connections = Table(
    "scim_connections",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id",
        ID,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("display_name", String(256), nullable=False),
    Column("identity_provider", String(32), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("token_last_four", String(4), nullable=False),
    Column("token_expires_at", UTCDateTime(), nullable=True),
    Column("next_token_hash", String(128), nullable=True, unique=True),
    Column("next_token_last_four", String(4), nullable=False),
    Column("next_token_expires_at", UTCDateTime(), nullable=True),
    Column("group_roles", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The SCIM User resource of each provisioned member; `userName` unique per connection.
scim_users = Table(
    "scim_users",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "connection_id", ID, ForeignKey("scim_connections.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    Column("user_name_lower", String(320), nullable=False),
    Column("resource", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("connection_id", "user_name_lower"),
)

scim_groups = Table(
    "scim_groups",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "connection_id", ID, ForeignKey("scim_connections.id", ondelete="CASCADE"), nullable=False
    ),
    Column("display_name", String(256), nullable=False),
    Column("resource", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "connection_id"),
)

scim_group_members = Table(
    "scim_group_members",
    metadata,
    Column("group_id", ID, ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "member_id"),
)

# SAML SSO connections (issue 13). The IdP settings, implicit role rules and certificates are one
# JSON document (`config`); the SP signing key's PEM is sealed (services/security/sealing.py).
saml_connections = Table(
    "saml_connections",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("signing_key", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_saml_connections_organization_id", "organization_id"),
)

# A member's link to an SSO connection: the IdP's subject for them and the attributes it sent.
sso_registrations = Table(
    "sso_registrations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    # A SAML or an OIDC connection (0013 dropped the foreign key to saml_connections): deleting
    # either kind deletes its registrations (storage/sql/sso_store.py).
    Column("connection_id", ID, nullable=False),
    Column("external_id", String(512), nullable=False),
    Column("sso_attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("connection_id", "external_id"),
    UniqueConstraint("connection_id", "member_id"),
    Index("ix_sso_registrations_member_id", "member_id"),
)

# AuthnRequests issued (SP-initiated sign-in): a response's InResponseTo must name one, once.
saml_requests = Table(
    "saml_requests",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "connection_id", ID, ForeignKey("saml_connections.id", ondelete="CASCADE"), nullable=False
    ),
    Column("pkce_challenge", String(128), nullable=True),
    Column("login_redirect_url", String(2048), nullable=True),
    Column("signup_redirect_url", String(2048), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

# Assertion ids already accepted, kept until the assertion expires (replay refused).
saml_seen_assertions = Table(
    "saml_seen_assertions",
    metadata,
    Column(
        "connection_id",
        ID,
        ForeignKey("saml_connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("assertion_id", String(256), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# One-time tokens the ACS hands the app (`stytch_token_type=sso`), spent by sso.authenticate.
sso_tokens = Table(
    "sso_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column(
        "registration_id",
        ID,
        ForeignKey("sso_registrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("pkce_challenge", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

# OIDC SSO connections (issue 13). The provider settings are one JSON document (`config`); the
# client secret is sealed (services/security/sealing.py), "" until one is set.
oidc_connections = Table(
    "oidc_connections",
    metadata,
    Column("id", ID, primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("client_secret", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_oidc_connections_organization_id", "organization_id"),
)

# Authorization requests sent to an OIDC provider (`sso/start`): keyed by the digest of their
# `state`, spent once by the callback; the PKCE verifier between Gatehouse and the provider is
# sealed.
oidc_requests = Table(
    "oidc_requests",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("environment_id", ID, ForeignKey("environments.id", ondelete="CASCADE"), nullable=False),
    Column(
        "connection_id", ID, ForeignKey("oidc_connections.id", ondelete="CASCADE"), nullable=False
    ),
    Column("nonce", String(128), nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("pkce_challenge", String(128), nullable=True),
    Column("login_redirect_url", String(2048), nullable=True),
    Column("signup_redirect_url", String(2048), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)
