"""SCIM connections and the users and groups they provision

`scim_connections`: at most one per organization; only digests of its bearer tokens (the current
one and, during a rotation, the next). `scim_users`: the SCIM User resource of a provisioned member
(one per member; `userName` unique per connection). `scim_groups` and `scim_group_members`: the
connection's groups and who is in them. `members.scim`: the member's registration and group ids,
kept beside the member so that its roles are computed from the rows a session already reads.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.String(96)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "scim_connections",
        sa.Column("id", _ID, nullable=False),
        sa.Column("environment_id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("identity_provider", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("token_last_four", sa.String(4), nullable=False),
        sa.Column("token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("next_token_hash", sa.String(128), nullable=True),
        sa.Column("next_token_last_four", sa.String(4), nullable=False),
        sa.Column("next_token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("group_roles", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("scim_connections", "environment_id", "environments"),
        _fk("scim_connections", "organization_id", "organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_scim_connections"),
        sa.UniqueConstraint("organization_id", name="uq_scim_connections_organization_id"),
        sa.UniqueConstraint("token_hash", name="uq_scim_connections_token_hash"),
        sa.UniqueConstraint("next_token_hash", name="uq_scim_connections_next_token_hash"),
    )
    op.create_table(
        "scim_users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("user_name_lower", sa.String(320), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("scim_users", "connection_id", "scim_connections"),
        _fk("scim_users", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name="pk_scim_users"),
        sa.UniqueConstraint("member_id", name="uq_scim_users_member_id"),
        sa.UniqueConstraint(
            "connection_id", "user_name_lower", name="uq_scim_users_connection_id_user_name_lower"
        ),
    )
    op.create_table(
        "scim_groups",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("scim_groups", "connection_id", "scim_connections"),
        sa.PrimaryKeyConstraint("id", name="pk_scim_groups"),
    )
    op.create_index("ix_scim_groups_connection_id", "scim_groups", ["connection_id"])
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        _fk("scim_group_members", "group_id", "scim_groups"),
        _fk("scim_group_members", "member_id", "members"),
        sa.PrimaryKeyConstraint("group_id", "member_id", name="pk_scim_group_members"),
    )
    op.create_index("ix_scim_group_members_member_id", "scim_group_members", ["member_id"])
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("scim", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("scim")
    op.drop_index("ix_scim_group_members_member_id", table_name="scim_group_members")
    op.drop_table("scim_group_members")
    op.drop_index("ix_scim_groups_connection_id", table_name="scim_groups")
    op.drop_table("scim_groups")
    op.drop_table("scim_users")
    op.drop_table("scim_connections")
