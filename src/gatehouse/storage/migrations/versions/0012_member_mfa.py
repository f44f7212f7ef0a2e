"""member multi-factor authentication: TOTP registrations, recovery codes, intermediate sessions
of a member who still owes a second factor

`member_totps`: one TOTP registration per member; its secret sealed (never in clear), the last
time step a code was accepted for (each code works once).
`members.totp_registration_id`: the member's verified registration ("" when none).
`member_recovery_codes`: a member's recovery codes, as digests only; each used once.
`intermediate_sessions` gains `organization_id` and `member_id`: set when a primary factor
signed in a member who must still complete MFA.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.String(96)


def upgrade() -> None:
    op.create_table(
        "member_totps",
        sa.Column("id", _ID, nullable=False),
        sa.Column("environment_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("secret_sealed", sa.String(1024), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name="fk_member_totps_environment_id_environments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_member_totps_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_member_totps"),
        sa.UniqueConstraint("member_id", name="uq_member_totps_member_id"),
    )
    op.create_table(
        "member_recovery_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_member_recovery_codes_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_member_recovery_codes"),
        sa.UniqueConstraint("code_hash", name="uq_member_recovery_codes_code_hash"),
    )
    op.create_index("ix_member_recovery_codes_member_id", "member_recovery_codes", ["member_id"])
    with op.batch_alter_table("members") as batch:
        batch.add_column(
            sa.Column("totp_registration_id", sa.String(96), nullable=False, server_default="")
        )
    with op.batch_alter_table("intermediate_sessions") as batch:
        batch.add_column(sa.Column("organization_id", _ID, nullable=True))
        batch.add_column(sa.Column("member_id", _ID, nullable=True))
        batch.create_foreign_key(
            "fk_intermediate_sessions_organization_id_organizations",
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            "fk_intermediate_sessions_member_id_members",
            "members",
            ["member_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("intermediate_sessions") as batch:
        batch.drop_constraint("fk_intermediate_sessions_member_id_members", type_="foreignkey")
        batch.drop_constraint(
            "fk_intermediate_sessions_organization_id_organizations", type_="foreignkey"
        )
        batch.drop_column("member_id")
        batch.drop_column("organization_id")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("totp_registration_id")
    op.drop_index("ix_member_recovery_codes_member_id", table_name="member_recovery_codes")
    op.drop_table("member_recovery_codes")
    op.drop_table("member_totps")
