"""SAML SSO: connections, member SSO registrations, issued AuthnRequests, seen assertion ids,
SSO tokens

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.String(96)


def _env() -> sa.Column[str]:
    return sa.Column("environment_id", _ID, nullable=False)


def _env_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment_id"],
        ["environments.id"],
        name=f"fk_{table}_environment_id_environments",
        ondelete="CASCADE",
    )


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "saml_connections",
        sa.Column("id", _ID, nullable=False),
        _env(),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("signing_key", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _env_fk("saml_connections"),
        _fk("saml_connections", "organization_id", "organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_saml_connections"),
    )
    op.create_index("ix_saml_connections_organization_id", "saml_connections", ["organization_id"])
    op.create_table(
        "sso_registrations",
        sa.Column("id", _ID, nullable=False),
        _env(),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(512), nullable=False),
        sa.Column("sso_attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _env_fk("sso_registrations"),
        _fk("sso_registrations", "member_id", "members"),
        _fk("sso_registrations", "connection_id", "saml_connections"),
        sa.PrimaryKeyConstraint("id", name="pk_sso_registrations"),
        sa.UniqueConstraint(
            "connection_id", "external_id", name="uq_sso_registrations_connection_id_external_id"
        ),
        sa.UniqueConstraint(
            "connection_id", "member_id", name="uq_sso_registrations_connection_id_member_id"
        ),
    )
    op.create_index("ix_sso_registrations_member_id", "sso_registrations", ["member_id"])
    op.create_table(
        "saml_requests",
        sa.Column("id", sa.String(128), nullable=False),
        _env(),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("pkce_challenge", sa.String(128), nullable=True),
        sa.Column("login_redirect_url", sa.String(2048), nullable=True),
        sa.Column("signup_redirect_url", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        _env_fk("saml_requests"),
        _fk("saml_requests", "connection_id", "saml_connections"),
        sa.PrimaryKeyConstraint("id", name="pk_saml_requests"),
    )
    op.create_table(
        "saml_seen_assertions",
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("assertion_id", sa.String(256), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        _fk("saml_seen_assertions", "connection_id", "saml_connections"),
        sa.PrimaryKeyConstraint("connection_id", "assertion_id", name="pk_saml_seen_assertions"),
    )
    op.create_table(
        "sso_tokens",
        sa.Column("id", _ID, nullable=False),
        _env(),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("registration_id", _ID, nullable=False),
        sa.Column("pkce_challenge", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        _env_fk("sso_tokens"),
        _fk("sso_tokens", "member_id", "members"),
        _fk("sso_tokens", "registration_id", "sso_registrations"),
        sa.PrimaryKeyConstraint("id", name="pk_sso_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_sso_tokens_token_hash"),
    )


def downgrade() -> None:
    for table in (
        "sso_tokens",
        "saml_seen_assertions",
        "saml_requests",
        "sso_registrations",
        "saml_connections",
    ):
        op.drop_table(table)
