"""workspace dashboard

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:49:56.316217
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_tokens",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("workspace_id", sa.String(length=96), nullable=True),
        sa.Column("environment_id", sa.String(length=96), nullable=True),
        sa.Column("subject_id", sa.String(length=96), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_tokens_token_hash")),
    )
    op.create_table(
        "workspace_domains",
        sa.Column("workspace_id", sa.String(length=96), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("jit_enabled", sa.Boolean(), nullable=False),
        sa.Column("auto_role", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_domains_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "domain", name=op.f("pk_workspace_domains")),
    )
    op.create_table(
        "workspace_keys",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("workspace_id", sa.String(length=96), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("last_four", sa.String(length=4), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_keys")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("member_id", sa.String(length=96), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["workspace_members.id"],
            name=op.f("fk_dashboard_sessions_member_id_workspace_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sessions_token_hash")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_sessions_member_id"), ["member_id"], unique=False
        )

    # Slugs for existing rows: an environment is named by its kind, a project by its id.
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=128), nullable=True))
    op.execute("UPDATE environments SET slug = kind")
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=128), nullable=False)
        batch_op.add_column(
            sa.Column(
                "user_impersonation_enabled",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("settings", sa.JSON(), server_default="{}", nullable=False))
        batch_op.create_unique_constraint(
            batch_op.f("uq_environments_project_id_slug"), ["project_id", "slug"]
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_role", sa.String(length=32), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=128), nullable=True))
    op.execute("UPDATE projects SET slug = id")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=128), nullable=False)
        batch_op.add_column(
            sa.Column("vertical", sa.String(length=16), server_default="B2B", nullable=False)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_projects_workspace_id_slug"), ["workspace_id", "slug"]
        )

    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=256), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch_op.add_column(
            sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("password_hash", sa.Text(), nullable=True))

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("settings")

    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
        batch_op.drop_column("email_verified")
        batch_op.drop_column("status")
        batch_op.drop_column("name")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_projects_workspace_id_slug"), type_="unique")
        batch_op.drop_column("vertical")
        batch_op.drop_column("slug")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("actor_role")

    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_environments_project_id_slug"), type_="unique")
        batch_op.drop_column("settings")
        batch_op.drop_column("user_impersonation_enabled")
        batch_op.drop_column("slug")

    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_member_id"))

    op.drop_table("dashboard_sessions")
    op.drop_table("workspace_keys")
    op.drop_table("workspace_domains")
    op.drop_table("email_tokens")
