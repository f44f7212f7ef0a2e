"""organization identifiers unique across id, slug and external id; members' retired addresses

`organization_identifiers`: an organization is looked up by id, slug or external id in one lookup,
so the three share one namespace per environment. Filled from the organizations there are: every
id first (an exact id always wins), then each organization's slug and external id, oldest
organization first, skipping an identifier already taken. An identifier two organizations held
before this revision (one's slug, another's external id) keeps resolving to the older one; the
newer simply is not found by it.

`member_emails`: each member's current address (while not deleted) and the addresses it retired
by changing its email, unique per organization. Filled from the members not deleted (unique
already, by 0005); nothing was retired before this revision.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from gatehouse.storage.sql.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_organizations = sa.table(
    "organizations",
    sa.column("id", sa.String(96)),
    sa.column("environment_id", sa.String(96)),
    sa.column("slug", sa.String(128)),
    sa.column("external_id", sa.String(128)),
    sa.column("created_at", UTCDateTime()),
)
_members = sa.table(
    "members",
    sa.column("id", sa.String(96)),
    sa.column("organization_id", sa.String(96)),
    sa.column("email", sa.String(320)),
    sa.column("email_lower", sa.String(320)),
    sa.column("status", sa.String(16)),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    identifiers = op.create_table(
        "organization_identifiers",
        sa.Column("environment_id", sa.String(96), nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("organization_id", sa.String(96), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_identifiers_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("environment_id", "identifier", name="pk_organization_identifiers"),
    )
    op.create_index(
        "ix_organization_identifiers_organization_id",
        "organization_identifiers",
        ["organization_id"],
    )
    emails = op.create_table(
        "member_emails",
        sa.Column("organization_id", sa.String(96), nullable=False),
        sa.Column("email_lower", sa.String(320), nullable=False),
        sa.Column("member_id", sa.String(96), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_id", sa.String(96), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_member_emails_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_member_emails_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "email_lower", name="pk_member_emails"),
    )
    op.create_index("ix_member_emails_member_id", "member_emails", ["member_id"])

    bind = op.get_bind()
    orgs = bind.execute(
        sa.select(_organizations).order_by(_organizations.c.created_at, _organizations.c.id)
    ).all()
    taken: set[tuple[str, str]] = set()
    rows: list[dict[str, str]] = []

    def claim(org: sa.Row[tuple[str, str, str, str | None, object]], ident: str, kind: str) -> None:
        key = (org.environment_id, ident)
        if key not in taken:
            taken.add(key)
            rows.append(
                {
                    "environment_id": org.environment_id,
                    "identifier": ident,
                    "organization_id": org.id,
                    "kind": kind,
                }
            )

    for org in orgs:
        claim(org, org.id, "id")
    for org in orgs:
        claim(org, org.slug, "slug")
        if org.external_id is not None:
            claim(org, org.external_id, "external_id")
    if rows:
        op.bulk_insert(identifiers, rows)

    members = bind.execute(
        sa.select(_members).where(_members.c.status != "deleted").order_by(_members.c.created_at)
    ).all()
    if members:
        op.bulk_insert(
            emails,
            [
                {
                    "organization_id": m.organization_id,
                    "email_lower": m.email_lower,
                    "member_id": m.id,
                    "email": m.email,
                    "email_id": None,
                    "retired": False,
                    "created_at": m.created_at,
                }
                for m in members
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_member_emails_member_id", table_name="member_emails")
    op.drop_table("member_emails")
    op.drop_index(
        "ix_organization_identifiers_organization_id", table_name="organization_identifiers"
    )
    op.drop_table("organization_identifiers")
