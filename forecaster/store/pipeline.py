"""Pipeline snapshots: the open opportunities as they stood on each day a run read them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from forecaster.batches import batches
from forecaster.store.tables import pipeline_snapshots

SNAPSHOT_COLUMNS = ["opportunity_id", "stage", "amount", "expected_close", "owner", "created_at"]


class PipelineSnapshots:
    """One snapshot per day; saving a day again replaces it, so a repeated run stores nothing twice."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def save(self, day: dt.date, open_deals: pd.DataFrame) -> int:
        """Store ``open_deals`` (normalized opportunities) as the snapshot of ``day``; returns the rows stored."""
        frame = open_deals[SNAPSHOT_COLUMNS].astype(object).where(open_deals[SNAPSHOT_COLUMNS].notna(), None)
        rows = [
            {**row, "snapshot_date": day, "expected_close": _date(row["expected_close"]), "created_at": _date(row["created_at"])}
            for row in frame.to_dict("records")
        ]
        with self.engine.begin() as conn:
            conn.execute(pipeline_snapshots.delete().where(pipeline_snapshots.c.snapshot_date == day))
            for chunk in batches(rows, 1000):
                conn.execute(pipeline_snapshots.insert(), chunk)
        return len(rows)

    def days(self) -> list[dt.date]:
        """The days with a snapshot, oldest first."""
        with self.engine.connect() as conn:
            query = sa.select(pipeline_snapshots.c.snapshot_date).distinct().order_by(pipeline_snapshots.c.snapshot_date)
            return [row.snapshot_date for row in conn.execute(query)]

    def on(self, day: dt.date) -> pd.DataFrame:
        """The snapshot of ``day`` (empty when there is none), dates as timestamps."""
        with self.engine.connect() as conn:
            query = sa.select(*[pipeline_snapshots.c[c] for c in SNAPSHOT_COLUMNS]).where(pipeline_snapshots.c.snapshot_date == day)
            frame = pd.DataFrame(conn.execute(query).all(), columns=SNAPSHOT_COLUMNS)
        for column in ("expected_close", "created_at"):
            frame[column] = pd.to_datetime(frame[column])
        frame["amount"] = frame["amount"].astype(float)
        return frame.sort_values("opportunity_id", ignore_index=True)


    def history(self) -> pd.DataFrame:
        """Every stored snapshot row as ``snapshot_date, opportunity_id, stage, amount`` (dates as timestamps), in day order."""
        columns = [pipeline_snapshots.c[c] for c in ("snapshot_date", "opportunity_id", "stage", "amount")]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).order_by(pipeline_snapshots.c.snapshot_date, pipeline_snapshots.c.opportunity_id)).all()
        frame = pd.DataFrame(rows, columns=["snapshot_date", "opportunity_id", "stage", "amount"])
        return frame.assign(snapshot_date=pd.to_datetime(frame["snapshot_date"]), amount=frame["amount"].astype(float))


def _date(value) -> dt.date | None:
    return None if value is None else pd.Timestamp(value).date()
