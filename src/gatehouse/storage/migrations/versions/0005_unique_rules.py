"""the database enforces every uniqueness rule the API promises

Members: one member per email address in an organization among those not deleted, and one per
external id. Environments: one live environment per project. (Organization slugs and external
ids, project and environment slugs, and workspace member emails were unique already.)

A database that already holds duplicates (two concurrent creates could make them before this
revision) is not changed silently: the upgrade stops and names them, to be resolved by hand.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CHECKS = {
    "uq_members_organization_id_email_lower": (
        "SELECT organization_id, email_lower FROM members WHERE status <> 'deleted'"
        " GROUP BY organization_id, email_lower HAVING count(*) > 1"
    ),
    "uq_members_organization_id_external_id": (
        "SELECT organization_id, external_id FROM members WHERE external_id IS NOT NULL"
        " GROUP BY organization_id, external_id HAVING count(*) > 1"
    ),
    "uq_environments_project_id_live": (
        "SELECT project_id, kind FROM environments WHERE kind = 'live'"
        " GROUP BY project_id, kind HAVING count(*) > 1"
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    for name, query in _CHECKS.items():
        found = bind.execute(sa.text(query)).all()
        if found:
            listed = ", ".join(str(tuple(row)) for row in found[:10])
            raise RuntimeError(
                f"cannot add `{name}`: these rows break it: {listed}; delete or change the "
                "duplicates (keep one of each), then run the migration again"
            )
    op.create_index(
        "uq_members_organization_id_email_lower",
        "members",
        ["organization_id", "email_lower"],
        unique=True,
        sqlite_where=sa.text("status <> 'deleted'"),
        postgresql_where=sa.text("status <> 'deleted'"),
    )
    op.create_index(
        "uq_members_organization_id_external_id",
        "members",
        ["organization_id", "external_id"],
        unique=True,
        sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index(
        "uq_environments_project_id_live",
        "environments",
        ["project_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'live'"),
        postgresql_where=sa.text("kind = 'live'"),
    )


def downgrade() -> None:
    op.drop_index("uq_environments_project_id_live", table_name="environments")
    op.drop_index("uq_members_organization_id_external_id", table_name="members")
    op.drop_index("uq_members_organization_id_email_lower", table_name="members")
