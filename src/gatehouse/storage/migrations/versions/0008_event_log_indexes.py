"""indexes for the event log's pages: newest first by id, per scope and per filter

The event log is read newest first by id, a page at a time (`before`: the last id of the page
shown), whole or filtered by actor, target or action. The index on (environment_id, created_at)
could not give that order, so the database sorted the scope's events for every page: at 100,000
events a page took tens of milliseconds. Each of these indexes answers its query in id order,
reading only the page's rows.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_events_environment_id_id": ["environment_id", "id"],
    "ix_events_environment_id_actor_id": ["environment_id", "actor", "id"],
    "ix_events_environment_id_target_id": ["environment_id", "target", "id"],
    "ix_events_environment_id_action_id": ["environment_id", "action", "id"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "events", columns, unique=False)


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name="events")
