"""Pipeline snapshots: the open opportunities as each day's run saw them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_snapshots",
        sa.Column("snapshot_date", sa.Date, primary_key=True),
        sa.Column("opportunity_id", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("expected_close", sa.Date),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Date),
    )


def downgrade() -> None:
    op.drop_table("pipeline_snapshots")
