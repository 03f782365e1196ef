"""Orders, sync watermarks and the series points derived from orders (and from opportunities: KPI series)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from forecaster.batches import batches
from forecaster.data.series import KPI_PREFIX
from forecaster.store import utc_aware, utc_naive
from forecaster.store.tables import orders, points, sync_state

_FIELDS = ["amount", "status", "counted", "segments", "updated_at", "ordered_at"]
_CHUNK = 500


class OrderRepository:
    """Idempotent order upserts and the points table."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def watermark(self, source: str) -> dt.datetime | None:
        """The last committed sync watermark of ``source``."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sync_state.c.watermark).where(sync_state.c.source == source)).scalar()
        return utc_aware(value)

    def upsert(self, source: str, batch: pd.DataFrame, watermark: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        """Insert new orders, update changed ones, and advance the watermark, in one transaction.

        Returns the earliest ``ordered_at`` touched (old or new value), or None when nothing changed.
        """
        rows = _rows(batch)
        earliest: dt.datetime | None = None
        synced = utc_naive(now)
        with self.engine.begin() as conn:
            for chunk in batches(rows, _CHUNK):
                ids = [r["order_id"] for r in chunk]
                existing = {
                    r.order_id: r
                    for r in conn.execute(
                        sa.select(orders.c.order_id, *[orders.c[f] for f in _FIELDS]).where(
                            orders.c.source == source, orders.c.order_id.in_(ids)
                        )
                    )
                }
                inserts, updates = [], []
                for row in chunk:
                    old = existing.get(row["order_id"])
                    if old is None:
                        inserts.append({**row, "source": source, "synced_at": synced})
                    elif any(_differs(getattr(old, f), row[f]) for f in _FIELDS):
                        updates.append({**row, "b_source": source, "b_order_id": row["order_id"], "synced_at": synced})
                        earliest = min(filter(None, [earliest, old.ordered_at]))
                    else:
                        continue
                    earliest = min(filter(None, [earliest, row["ordered_at"]]))
                if inserts:
                    conn.execute(orders.insert(), inserts)
                if updates:
                    conn.execute(
                        orders.update()
                        .where(orders.c.source == sa.bindparam("b_source"), orders.c.order_id == sa.bindparam("b_order_id"))
                        .values({f: sa.bindparam(f) for f in [*_FIELDS, "synced_at"]}),
                        updates,
                    )
            self._set_watermark(conn, source, watermark, synced)
        return utc_aware(earliest)

    def _set_watermark(self, conn, source: str, watermark: dt.datetime | None, synced: dt.datetime) -> None:
        values = {"watermark": utc_naive(watermark) if watermark else None, "synced_at": synced}
        done = conn.execute(sync_state.update().where(sync_state.c.source == source).values(values)).rowcount
        if not done:
            conn.execute(sync_state.insert().values(source=source, **values))

    def load(self, source: str, since: dt.datetime | None = None) -> pd.DataFrame:
        """Orders of ``source`` placed at or after ``since`` (UTC-aware timestamps)."""
        query = sa.select(orders.c.order_id, orders.c.ordered_at, orders.c.amount, orders.c.status, orders.c.counted, orders.c.segments).where(
            orders.c.source == source
        )
        if since is not None:
            query = query.where(orders.c.ordered_at >= utc_naive(since))
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"]).dt.tz_localize("UTC")
        frame["counted"] = frame["counted"].astype(bool)
        return frame

    def replace_points(self, frame: pd.DataFrame, since: pd.Timestamp | None = None, kpis: bool = False) -> None:
        """Replace the orders series' points (with ``kpis``, the KPI series' ones), all or those with
        ``ds >= since``, by ``frame`` (unique_id, ds, y)."""
        if since is not None:
            frame = frame[frame["ds"] >= since]
        rows = [{"series_id": r.unique_id, "ds": r.ds.date(), "y": float(r.y)} for r in frame.itertuples(index=False)]
        is_kpi = points.c.series_id.startswith(KPI_PREFIX, autoescape=True)
        with self.engine.begin() as conn:
            delete = points.delete().where(is_kpi if kpis else ~is_kpi)
            if since is not None:
                delete = delete.where(points.c.ds >= since.date())
            conn.execute(delete)
            for chunk in batches(rows, 5000):
                conn.execute(points.insert(), chunk)

    def points(self, end: dt.date | None = None, series: list[str] | None = None, start: dt.date | None = None) -> pd.DataFrame:
        """Points from ``start`` up to ``end`` as ``unique_id, ds, y`` (ds as datetime64)."""
        query = sa.select(points.c.series_id.label("unique_id"), points.c.ds, points.c.y)
        if end is not None:
            query = query.where(points.c.ds <= end)
        if start is not None:
            query = query.where(points.c.ds >= start)
        if series is not None:
            query = query.where(points.c.series_id.in_(series))
        with self.engine.connect() as conn:
            result = conn.execute(query.order_by(points.c.series_id, points.c.ds))
            # The driver's rows as they are (dates as SQLite's text or the driver's dates), converted
            # a column at a time: SQLAlchemy's row processing was most of a large read.
            rows = result.cursor.fetchall()
            result.close()
        frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
        return frame.astype({"unique_id": str, "y": float}).assign(ds=pd.to_datetime(frame["ds"]))

    def series_sizes(self, end: dt.date, since: dt.date) -> pd.Series:
        """Every series with points up to ``end``, with the sum of its points after ``since`` (0 when none), by id."""
        recent = sa.func.sum(sa.case((points.c.ds > since, points.c.y), else_=0.0))
        query = sa.select(points.c.series_id, recent.label("size")).where(points.c.ds <= end).group_by(points.c.series_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.Series({r.series_id: float(r.size or 0.0) for r in rows}, dtype=float).sort_index()


def _rows(batch: pd.DataFrame) -> list[dict]:
    """Batch rows as table rows; times to the second, as every supported database keeps them."""
    out = []
    for r in batch.itertuples(index=False):
        out.append(
            {
                "order_id": r.order_id,
                "ordered_at": utc_naive(r.ordered_at.to_pydatetime()).replace(microsecond=0),
                "amount": float(r.amount),
                "status": r.status,
                "counted": bool(r.counted),
                "segments": r.segments,
                "updated_at": utc_naive(r.updated_at.to_pydatetime()).replace(microsecond=0),
            }
        )
    return out


def _differs(old, new) -> bool:
    if isinstance(new, float):
        return abs(float(old) - new) > 1e-9
    if isinstance(new, dt.datetime) and isinstance(old, dt.datetime):
        return abs((old - new).total_seconds()) >= 1e-3
    return old != new
