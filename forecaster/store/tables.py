"""The engine's tables. Times are stored as naive UTC, dates as local calendar dates."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()
_KEY = sa.String(255)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("ordered_at", sa.DateTime, nullable=False, index=True),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("counted", sa.Boolean, nullable=False),
    sa.Column("segments", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("synced_at", sa.DateTime, nullable=False),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("watermark", sa.DateTime),
    sa.Column("synced_at", sa.DateTime, nullable=False),
)

points = sa.Table(
    "points",
    metadata,
    sa.Column("series_id", _KEY, primary_key=True),
    sa.Column("ds", sa.Date, primary_key=True),
    sa.Column("y", sa.Float, nullable=False),
)

forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("series_id", _KEY, primary_key=True),
    sa.Column("issued_at", sa.DateTime, primary_key=True),
    sa.Column("ds", sa.Date, primary_key=True),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("yhat", sa.Float, nullable=False),
    sa.Column("lo80", sa.Float, nullable=False),
    sa.Column("hi80", sa.Float, nullable=False),
    sa.Column("lo95", sa.Float, nullable=False),
    sa.Column("hi95", sa.Float, nullable=False),
    sa.Index("ix_forecasts_series_ds", "series_id", "ds"),
    sa.Index("ix_forecasts_ds", "ds"),
    sa.Index("ix_forecasts_issued_at", "issued_at"),
)

model_choices = sa.Table(
    "model_choices",
    metadata,
    sa.Column("series_id", _KEY, primary_key=True),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("scores", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("selected_for", sa.Date, nullable=False),
)

# A global model's conformal intervals (forecaster.intervals, as JSON: one scale per series),
# refreshed every forecast.reselect_every periods; the runs between refit the model only.
interval_calibrations = sa.Table(
    "interval_calibrations",
    metadata,
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("calibrated_for", sa.Date, nullable=False),
    sa.Column("intervals", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
)

pipeline_snapshots = sa.Table(
    "pipeline_snapshots",
    metadata,
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("opportunity_id", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(255), nullable=False),
    sa.Column("amount", sa.Float),
    sa.Column("expected_close", sa.Date),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Date),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("as_of", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text),
    sa.Index("ix_runs_job_started", "job", "started_at"),
)

monitor_state = sa.Table(
    "monitor_state",
    metadata,
    sa.Column("series_id", _KEY, primary_key=True),
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("last_period", sa.Date, nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
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
    sa.Column("acknowledged_at", sa.DateTime),
    sa.Column("snoozed_until", sa.DateTime),
    sa.Column("feedback", sa.String(16)),
    sa.Index("ix_incidents_series_rule", "series_id", "rule", "status"),
)

incident_actions = sa.Table(
    "incident_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(400), sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("at", sa.DateTime, nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("key", sa.String(450), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(520), primary_key=True),
    sa.Column("message_key", sa.String(450), sa.ForeignKey("messages.key"), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", sa.DateTime),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_deliveries_message", "message_key"),
    sa.Index("ix_deliveries_sent", "status", "sent_at"),
)

# The service: one leader at a time, and each scheduled tick of a job claimed once.

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

job_ticks = sa.Table(
    "job_ticks",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("scheduled_at", sa.DateTime, primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(36)),
    sa.Column("finished_at", sa.DateTime),
)
