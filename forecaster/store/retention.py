"""Retention: forget forecasts of long-past periods, old pipeline snapshots and deliveries sent long ago."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from forecaster.batches import batches
from forecaster.store.tables import deliveries, forecasts, messages, pipeline_snapshots


def prune(engine: sa.Engine, cutoff: dt.datetime) -> dict[str, int]:
    """Delete forecast rows for periods before ``cutoff`` (naive UTC), pipeline snapshots of days before
    it, sent deliveries older than it, and messages left without deliveries; returns rows deleted per table.

    Pending, retrying and dead deliveries are kept whatever their age: they still need a person.
    """
    with engine.begin() as conn:
        removed = {
            "forecasts": conn.execute(forecasts.delete().where(forecasts.c.ds < cutoff.date())).rowcount,
            "pipeline_snapshots": conn.execute(pipeline_snapshots.delete().where(pipeline_snapshots.c.snapshot_date < cutoff.date())).rowcount,
            "deliveries": conn.execute(deliveries.delete().where(deliveries.c.status == "sent", deliveries.c.sent_at < cutoff)).rowcount,
        }
        orphans = sa.select(messages.c.key).where(
            messages.c.created_at < cutoff, ~sa.exists().where(deliveries.c.message_key == messages.c.key)
        )
        keys = [r.key for r in conn.execute(orphans)]
        for chunk in batches(keys, 500):
            conn.execute(messages.delete().where(messages.c.key.in_(chunk)))
        removed["messages"] = len(keys)
    return removed
