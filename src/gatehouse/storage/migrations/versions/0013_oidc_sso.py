"""OIDC SSO: connections and the authorization requests sent to providers

`oidc_connections`: an organization's OIDC connections; the provider settings as JSON, the client
secret sealed ("" until set).
`oidc_requests`: the authorization requests `sso/start` sent, keyed by the digest of their
`state`, each spent once by the callback; the PKCE verifier sealed.
`sso_registrations.connection_id` loses its foreign key to `saml_connections`: a registration
names a SAML or an OIDC connection, and the store deletes a connection's registrations with it.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.String(96)
_REGISTRATION_FK = "fk_sso_registrations_connection_id_saml_connections"


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
        "oidc_connections",
        sa.Column("id", _ID, nullable=False),
        _env(),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _env_fk("oidc_connections"),
        _fk("oidc_connections", "organization_id", "organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_connections"),
    )
    op.create_index("ix_oidc_connections_organization_id", "oidc_connections", ["organization_id"])
    op.create_table(
        "oidc_requests",
        sa.Column("id", sa.String(128), nullable=False),
        _env(),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=False),
        sa.Column("pkce_challenge", sa.String(128), nullable=True),
        sa.Column("login_redirect_url", sa.String(2048), nullable=True),
        sa.Column("signup_redirect_url", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        _env_fk("oidc_requests"),
        _fk("oidc_requests", "connection_id", "oidc_connections"),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_requests"),
    )
    with op.batch_alter_table("sso_registrations") as batch:
        batch.drop_constraint(_REGISTRATION_FK, type_="foreignkey")


def downgrade() -> None:
    op.execute(
        "DELETE FROM sso_registrations WHERE connection_id NOT IN (SELECT id FROM saml_connections)"
    )
    with op.batch_alter_table("sso_registrations") as batch:
        batch.create_foreign_key(
            _REGISTRATION_FK,
            "saml_connections",
            ["connection_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_table("oidc_requests")
    op.drop_table("oidc_connections")
