"""Forecast vintages (never overwritten) and the model chosen per series."""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa

from forecaster.store import utc_naive
from forecaster.store.tables import forecasts, model_choices

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

    def add_vintage(self, series_id: str, issued_at: dt.datetime, frame: pd.DataFrame) -> bool:
        """Store a vintage; a vintage already stored for this series and time is kept, never overwritten."""
        issued = utc_naive(issued_at)
        rows = [
            {
                "series_id": series_id,
                "issued_at": issued,
                "ds": pd.Timestamp(r["ds"]).date(),
                "model": r["model"],
                "yhat": float(r["yhat"]),
                **{col: float(r[name]) for col, name in _BOUNDS.items()},
            }
            for r in frame.to_dict("records")
        ]
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(sa.func.count()).select_from(forecasts).where(forecasts.c.series_id == series_id, forecasts.c.issued_at == issued)
            ).scalar()
            if exists:
                return False
            conn.execute(forecasts.insert(), rows)
        return True

    def issued_before(self, series: list[str], first: dt.date, last: dt.date) -> pd.DataFrame:
        """Every stored forecast for periods ``first..last`` of ``series``, all vintages, for the monitor to pick from."""
        query = sa.select(forecasts).where(forecasts.c.series_id.in_(series), forecasts.c.ds >= first, forecasts.c.ds <= last)
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        frame["ds"] = pd.to_datetime(frame["ds"])
        frame["issued_at"] = pd.to_datetime(frame["issued_at"]).dt.tz_localize("UTC")
        return frame

    def choice(self, series_id: str) -> ModelChoice | None:
        """The model chosen for a series, when, with its scores and reason."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(model_choices).where(model_choices.c.series_id == series_id)).first()
        return ModelChoice(row.model, row.selected_for, json.loads(row.scores), row.reason) if row else None

    def save_choice(self, series_id: str, model: str, scores: dict[str, float], reason: str, selected_for: dt.date) -> None:
        """Record a model selection with its backtest scores."""
        values = {"model": model, "scores": json.dumps(scores), "reason": reason, "selected_for": selected_for}
        with self.engine.begin() as conn:
            done = conn.execute(model_choices.update().where(model_choices.c.series_id == series_id).values(values)).rowcount
            if not done:
                conn.execute(model_choices.insert().values(series_id=series_id, **values))
