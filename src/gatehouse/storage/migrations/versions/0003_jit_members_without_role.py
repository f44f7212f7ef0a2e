"""members who joined through a domain rule have no explicit role

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE workspace_members SET role = 'support_agent' WHERE role IS NULL")
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=32), nullable=False)
