"""indexes for listing organizations and members page by page in creation order

A page of an environment's organizations, or of an organization's members, is read in the
cursor's order (`created_at`, `id`); without an index in that order every matching row was read
and sorted for each page. The indexes also carry the columns the counts and the substring
searches read (organizations: `name`, `slug`; members: `status`, `email`), so those read the
index alone instead of fetching every row in index order.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ORGANIZATIONS = "ix_organizations_listing"
MEMBERS = "ix_members_listing"


def upgrade() -> None:
    op.create_index(
        ORGANIZATIONS, "organizations", ["environment_id", "created_at", "id", "name", "slug"]
    )
    op.create_index(
        MEMBERS,
        "members",
        ["environment_id", "organization_id", "created_at", "id", "status", "email_lower"],
    )


def downgrade() -> None:
    op.drop_index(MEMBERS, table_name="members")
    op.drop_index(ORGANIZATIONS, table_name="organizations")
