"""Incident actions: acknowledge, snooze and feedback, with their audit trail.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = {"acknowledged_at": sa.DateTime, "snoozed_until": sa.DateTime, "feedback": sa.String(16)}


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name, kind in _COLUMNS.items():
            batch.add_column(sa.Column(name, kind))
    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(400), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_incident_actions_incident_id", "incident_actions", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_actions_incident_id", table_name="incident_actions")
    op.drop_table("incident_actions")
    with op.batch_alter_table("incidents") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
