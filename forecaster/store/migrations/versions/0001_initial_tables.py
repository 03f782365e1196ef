"""The engine's tables as they were before migrations existed.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_KEY = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(128), primary_key=True),
        sa.Column("ordered_at", sa.DateTime, nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False),
        sa.Column("segments", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("synced_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_orders_ordered_at", "orders", ["ordered_at"])
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.DateTime),
        sa.Column("synced_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "points",
        sa.Column("series_id", _KEY, primary_key=True),
        sa.Column("ds", sa.Date, primary_key=True),
        sa.Column("y", sa.Float, nullable=False),
    )
    op.create_table(
        "forecasts",
        sa.Column("series_id", _KEY, primary_key=True),
        sa.Column("issued_at", sa.DateTime, primary_key=True),
        sa.Column("ds", sa.Date, primary_key=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("yhat", sa.Float, nullable=False),
        sa.Column("lo80", sa.Float, nullable=False),
        sa.Column("hi80", sa.Float, nullable=False),
        sa.Column("lo95", sa.Float, nullable=False),
        sa.Column("hi95", sa.Float, nullable=False),
    )
    op.create_index("ix_forecasts_series_ds", "forecasts", ["series_id", "ds"])
    op.create_table(
        "model_choices",
        sa.Column("series_id", _KEY, primary_key=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("selected_for", sa.Date, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text),
    )
    op.create_table(
        "monitor_state",
        sa.Column("series_id", _KEY, primary_key=True),
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("last_period", sa.Date, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(400), primary_key=True),
        sa.Column("series_id", _KEY, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_period", sa.Date, nullable=False),
        sa.Column("last_period", sa.Date, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("notified_score", sa.Float, nullable=False),
        sa.Column("baseline_from", sa.Date, nullable=False),
        sa.Column("notified_event", sa.String(16), nullable=False),
        sa.Column("notified_period", sa.Date),
        sa.Column("ok_streak", sa.Integer, nullable=False),
        sa.Column("resolved_period", sa.Date),
    )
    op.create_index("ix_incidents_series_rule", "incidents", ["series_id", "rule", "status"])
    op.create_table(
        "messages",
        sa.Column("key", sa.String(450), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(520), primary_key=True),
        sa.Column("message_key", sa.String(450), sa.ForeignKey("messages.key"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("deliveries", "messages", "incidents", "monitor_state", "runs", "model_choices", "forecasts", "points", "sync_state", "orders"):
        op.drop_table(table)
