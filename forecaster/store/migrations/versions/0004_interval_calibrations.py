"""Interval calibrations: a global model's conformal intervals, kept between their refreshes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interval_calibrations",
        sa.Column("model", sa.String(32), primary_key=True),
        sa.Column("calibrated_for", sa.Date, nullable=False),
        sa.Column("intervals", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("interval_calibrations")
