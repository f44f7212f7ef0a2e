"""member email flows: email tokens and codes, intermediate sessions, redirect URLs

`member_email_tokens`: one row per magic link, invitation, password reset or one-time code
emailed to a member (or, for discovery, to an address): only a digest is stored.
`intermediate_sessions`: an address a discovery flow proved, before it picks an organization.
`redirect_urls`: the environment's registered redirect URLs, one row per (url, type), with at
most one default per type (a partial unique index).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.String(96)


def upgrade() -> None:
    op.create_table(
        "member_email_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("environment_id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=True),
        sa.Column("member_id", _ID, nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_lower", sa.String(320), nullable=False),
        sa.Column("pkce_challenge", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name="fk_member_email_tokens_environment_id_environments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_member_email_tokens_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_member_email_tokens_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_member_email_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_member_email_tokens_token_hash"),
    )
    op.create_index(
        "ix_member_email_tokens_environment_id_email_lower_purpose",
        "member_email_tokens",
        ["environment_id", "email_lower", "purpose"],
    )
    op.create_table(
        "intermediate_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("environment_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("authentication_factors", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name="fk_intermediate_sessions_environment_id_environments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intermediate_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_intermediate_sessions_token_hash"),
    )
    op.create_table(
        "redirect_urls",
        sa.Column("environment_id", _ID, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name="fk_redirect_urls_environment_id_environments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("environment_id", "url", "type", name="pk_redirect_urls"),
    )
    op.create_index(
        "uq_redirect_urls_environment_id_type_default",
        "redirect_urls",
        ["environment_id", "type"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_index("uq_redirect_urls_environment_id_type_default", table_name="redirect_urls")
    op.drop_table("redirect_urls")
    op.drop_table("intermediate_sessions")
    op.drop_index(
        "ix_member_email_tokens_environment_id_email_lower_purpose",
        table_name="member_email_tokens",
    )
    op.drop_table("member_email_tokens")
