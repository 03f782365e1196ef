"""Forecast vintages (never overwritten) and the model chosen per series."""

from __future__ import annotations

import datetime as dt
import json
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecaster.store import utc_naive
from forecaster.store.tables import forecasts, interval_calibrations, model_choices

_BOUNDS = {"lo80": "yhat_lo_80", "hi80": "yhat_hi_80", "lo95": "yhat_lo_95", "hi95": "yhat_hi_95"}


class ModelChoice(NamedTuple):
    """The model picked for a series, the period it was picked at, its backtest scores (mean MASE per candidate) and why."""

    model: str
    selected_for: dt.date
    scores: dict[str, float]
    reason: str


class ForecastRepository:
    """Stores each run's forecasts as a vintage keyed by its issue time."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def issued(self, issued_at: dt.datetime) -> set[str]:
        """Series that already have a vintage issued at ``issued_at``."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(forecasts.c.series_id).distinct().where(forecasts.c.issued_at == utc_naive(issued_at)))
            return {r.series_id for r in rows}

    def newest(self) -> dict[str, tuple[dt.datetime, str]]:
        """Each series' newest vintage: its issue time (naive UTC) and the model that made it, by series."""
        last = sa.select(forecasts.c.series_id, sa.func.max(forecasts.c.issued_at).label("issued_at")).group_by(forecasts.c.series_id).subquery()
        query = (
            sa.select(forecasts.c.series_id, forecasts.c.issued_at, sa.func.min(forecasts.c.model))
            .join(last, (forecasts.c.series_id == last.c.series_id) & (forecasts.c.issued_at == last.c.issued_at))
            .group_by(forecasts.c.series_id, forecasts.c.issued_at)
        )
        with self.engine.connect() as conn:
            return {series_id: (issued_at, model) for series_id, issued_at, model in conn.execute(query)}

    def add_vintage(self, series_id: str, issued_at: dt.datetime, frame: pd.DataFrame) -> bool:
        """Store a vintage; a vintage already stored for this series and time is kept, never overwritten."""
        return bool(self.add_vintages(issued_at, {series_id: frame}))

    def add_vintages(self, issued_at: dt.datetime, frames: Mapping[str, pd.DataFrame]) -> set[str]:
        """Store the vintages of many series issued at one time, in one transaction; returns the series added.

        A series that already has a vintage at ``issued_at`` keeps it (never overwritten).
        """
        issued = utc_naive(issued_at)
        with self.engine.begin() as conn:
            stored = conn.execute(
                sa.select(forecasts.c.series_id).distinct().where(forecasts.c.issued_at == issued, forecasts.c.series_id.in_(list(frames)))
            ).scalars()
            added = set(frames) - set(stored)
            if added:
                conn.execute(forecasts.insert(), _rows(issued, {series_id: frames[series_id] for series_id in sorted(added)}))
        return added

    def issued_before(self, series: list[str], first: dt.date, last: dt.date, until: dt.datetime | None = None) -> pd.DataFrame:
        """Every vintage's forecasts for periods ``first..last`` of ``series`` (issued by ``until`` when given).

        Columns ``series_id, issued_at (UTC), ds, yhat, lo80, hi80, lo95, hi95``, for the monitor and
        the dashboard to pick from.
        """
        columns = ["series_id", "issued_at", "ds", "yhat", "lo80", "hi80", "lo95", "hi95"]
        query = sa.select(*(forecasts.c[c] for c in columns)).where(
            forecasts.c.series_id.in_(series), forecasts.c.ds >= first, forecasts.c.ds <= last
        )
        if until is not None:
            query = query.where(forecasts.c.issued_at <= utc_naive(until))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            # The driver's rows converted a column at a time (SQLAlchemy's row processing costs
            # more than the read, and a frame of rows holds a Python object per value).
            rows = result.cursor.fetchall()
            result.close()
        frame = pd.DataFrame(rows, columns=columns).astype({"series_id": str, **{c: float for c in columns[3:]}})
        del rows
        frame["ds"] = pd.to_datetime(frame["ds"])
        frame["issued_at"] = pd.to_datetime(frame["issued_at"]).dt.tz_localize("UTC")
        return frame

    def at_cutoffs(self, series: list[str], cutoffs: dict[dt.date, dt.datetime]) -> pd.DataFrame:
        """``series_id, ds, yhat`` of, for each period ``ds``, the latest vintage issued at or before its cutoff.

        The issue times are looked up first, so only one vintage's row per period is read (a
        series without a vintage at that time has no row for the period).
        """
        empty = pd.DataFrame(columns=["series_id", "ds", "yhat"])
        if not series or not cutoffs:
            return empty
        earliest = utc_naive(min(cutoffs.values())) - dt.timedelta(days=31)
        with self.engine.connect() as conn:
            times = sorted(r[0] for r in conn.execute(
                sa.select(forecasts.c.issued_at).distinct().where(forecasts.c.issued_at >= earliest, forecasts.c.issued_at <= utc_naive(max(cutoffs.values())))
            ))
            pairs = []
            for ds, cutoff in cutoffs.items():
                eligible = [t for t in times if t <= utc_naive(cutoff)]
                if eligible:
                    pairs.append((eligible[-1], ds))
            if not pairs:
                return empty
            query = sa.select(forecasts.c.series_id, forecasts.c.ds, forecasts.c.yhat).where(
                forecasts.c.series_id.in_(series), sa.tuple_(forecasts.c.issued_at, forecasts.c.ds).in_(pairs)
            )
            frame = pd.read_sql(query, conn)
        frame["ds"] = pd.to_datetime(frame["ds"])
        return frame

    def choice(self, series_id: str) -> ModelChoice | None:
        """The model chosen for a series, when, with its scores and reason."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(model_choices).where(model_choices.c.series_id == series_id)).first()
        return ModelChoice(row.model, row.selected_for, json.loads(row.scores), row.reason) if row else None

    def choices(self) -> dict[str, ModelChoice]:
        """Every series' model choice, by series."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(model_choices)).all()
        return {row.series_id: ModelChoice(row.model, row.selected_for, json.loads(row.scores), row.reason) for row in rows}

    def save_choice(self, series_id: str, model: str, scores: dict[str, float], reason: str, selected_for: dt.date) -> None:
        """Record a model selection with its backtest scores."""
        values = {"model": model, "scores": json.dumps(scores), "reason": reason, "selected_for": selected_for}
        with self.engine.begin() as conn:
            done = conn.execute(model_choices.update().where(model_choices.c.series_id == series_id).values(values)).rowcount
            if not done:
                conn.execute(model_choices.insert().values(series_id=series_id, **values))

    def calibration(self, model: str) -> tuple[dt.date, dict] | None:
        """The intervals last calibrated for a global ``model`` (as saved) and the period they were calibrated for."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(interval_calibrations).where(interval_calibrations.c.model == model)).first()
        return (row.calibrated_for, json.loads(row.intervals)) if row else None

    def save_calibration(self, model: str, calibrated_for: dt.date, intervals: dict) -> None:
        """Keep a global model's calibrated intervals (JSON-ready) until the next calibration."""
        values = {"calibrated_for": calibrated_for, "intervals": json.dumps(intervals)}
        with self.engine.begin() as conn:
            done = conn.execute(interval_calibrations.update().where(interval_calibrations.c.model == model).values(values)).rowcount
            if not done:
                conn.execute(interval_calibrations.insert().values(model=model, **values))


def _rows(issued: dt.datetime, frames: Mapping[str, pd.DataFrame]) -> list[dict]:
    """Forecast frames, by series, as rows of the forecasts table (each column converted once for all series)."""

    def column(name: str, dtype=None) -> list:
        return np.concatenate([frame[name].to_numpy(dtype=dtype) for frame in frames.values()]).tolist()

    columns = {
        "series_id": [series_id for series_id, frame in frames.items() for _ in range(len(frame))],
        "ds": pd.DatetimeIndex(column("ds", "datetime64[ns]")).date.tolist(),
        "model": column("model"),
        "yhat": column("yhat", float),
        **{col: column(name, float) for col, name in _BOUNDS.items()},
    }
    return [{"issued_at": issued, **dict(zip(columns, values))} for values in zip(*columns.values())]
