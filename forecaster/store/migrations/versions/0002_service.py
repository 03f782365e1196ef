"""The service: leader lease, claimed job ticks, and indexes for the monitor, status and retention.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = [
    ("ix_forecasts_ds", "forecasts", ["ds"]),
    ("ix_forecasts_issued_at", "forecasts", ["issued_at"]),
    ("ix_runs_job_started", "runs", ["job", "started_at"]),
    ("ix_deliveries_message", "deliveries", ["message_key"]),
    ("ix_deliveries_sent", "deliveries", ["status", "sent_at"]),
]


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "job_ticks",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("scheduled_at", sa.DateTime, primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("finished_at", sa.DateTime),
    )
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("job_ticks")
    op.drop_table("leases")
