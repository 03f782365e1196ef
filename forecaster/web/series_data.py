"""What the dashboard shows of the series: actuals, forecast vintages, the forecast each period was
held against, and how accurate past vintages were. Reads the store through its repositories only.

"Expected" for a period is the latest vintage issued at or before the period began (local
midnight in the configured time zone): the best forecast anyone had before the actuals existed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.batches import SERIES_PER_READ, batches
from forecaster.data.series import last_complete, period_span, regular
from forecaster.evaluation import vintage_accuracy
from forecaster.metrics import coverage, mase
from forecaster.models import SEASON_LENGTH
from forecaster.settings import Settings
from forecaster.store import Store
from forecaster.store.forecasts import ModelChoice

_FAR = dt.date(9999, 12, 31)
RECENT_PERIODS = 14  # how far back the overview looks for a series' latest judged period


def expected_before(vintages: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Per (series, period), the row of the latest vintage issued at or before the period began."""
    if vintages.empty:
        return vintages
    starts = vintages["ds"].dt.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward").dt.tz_convert("UTC")
    eligible = vintages[vintages["issued_at"] <= starts]
    return eligible.sort_values("issued_at").groupby(["series_id", "ds"]).tail(1).sort_values(["series_id", "ds"]).reset_index(drop=True)


def last_judgeable(settings: Settings, store: Store) -> pd.Timestamp | None:
    """The last complete period as of the latest run (a period still under way is never compared); None before any run."""
    run = store.runs.latest()
    if run is None:
        return None
    return last_complete(run["as_of"], settings.timezone, settings.series.freq, settings.monitor.completeness_delay_hours)


def overview(settings: Settings, store: Store) -> pd.DataFrame:
    """One row per forecast series: its latest period against what was expected, band, the model of
    its newest forecast, open incidents, feedback.

    The latest period is the last with a forecast among the last ``RECENT_PERIODS`` (blank when a
    series has none that recent); vintages are read a block of series at a time.
    """
    end = last_judgeable(settings, store)
    newest = store.forecasts.newest() if end is not None else {}
    if not newest:
        return pd.DataFrame()
    freq = settings.series.freq
    first = (end - period_span(RECENT_PERIODS, freq)).date()
    # A period without a point had no sales: its actual is 0.
    points = store.orders.points(end=end.date(), start=first)
    series = sorted(newest)
    latest = pd.concat([_latest_judged(store, settings.timezone, block, first, end, points) for block in batches(series, SERIES_PER_READ)]).set_index("unique_id")
    open_counts = pd.Series([i.series_id for i in store.incidents.list("open")], dtype=object).value_counts()
    feedback = store.incidents.feedback_counts()
    rows = []
    for series_id in series:
        issued, model = newest[series_id]
        row = {"series": series_id, "model": model, "last_forecast_issued": pd.Timestamp(issued, tz="UTC")}
        if series_id in latest.index:
            r = latest.loc[series_id]
            row.update(period=r.ds.date(), actual=r.y, expected=r.yhat, lo80=r.lo80, hi80=r.hi80,
                       deviation_pct=100 * (r.y / r.yhat - 1) if r.yhat else np.nan, inside_80=bool(r.lo80 <= r.y <= r.hi80))
        row["open_incidents"] = int(open_counts.get(series_id, 0))
        row["feedback"] = ", ".join(f"{label} {n}" for label, n in sorted(feedback.get(series_id, {}).items()))
        rows.append(row)
    columns = ["series", "period", "actual", "expected", "deviation_pct", "lo80", "hi80", "inside_80", "open_incidents", "feedback", "model", "last_forecast_issued"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _latest_judged(store: Store, timezone: str, series: list[str], first: dt.date, end: pd.Timestamp, points: pd.DataFrame) -> pd.DataFrame:
    """Per series, its last period from ``first`` to ``end`` with a forecast: ``unique_id, ds, y, yhat, lo80, hi80``."""
    began = end.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward").to_pydatetime()
    vintages = store.forecasts.issued_before(series, first, end.date(), until=began)
    expected = expected_before(vintages, timezone).rename(columns={"series_id": "unique_id"})
    judged = expected.merge(points, on=["unique_id", "ds"], how="left").fillna({"y": 0.0})
    return judged.groupby("unique_id").tail(1)[["unique_id", "ds", "y", "yhat", "lo80", "hi80"]]


@dataclass
class SeriesData:
    """Everything the series page draws: actuals, vintages, expected-before, incidents, model, accuracy."""

    series_id: str
    actuals: pd.DataFrame
    vintages: pd.DataFrame
    expected: pd.DataFrame
    incidents: list
    choice: ModelChoice | None
    accuracy: pd.DataFrame

    @property
    def latest_vintage(self) -> pd.DataFrame:
        """The newest vintage (all its periods)."""
        if self.vintages.empty:
            return self.vintages
        return self.vintages[self.vintages["issued_at"] == self.vintages["issued_at"].max()]


def series_data(settings: Settings, store: Store, series_id: str, days: int = 120) -> SeriesData | None:
    """The series page's data over the last ``days`` of actuals; None when the store has no such series."""
    end = last_judgeable(settings, store)
    points = store.orders.points(end=end.date(), series=[series_id]) if end is not None else pd.DataFrame()
    if points.empty:
        return None
    history = regular(points, settings.series.freq, end).reset_index().assign(unique_id=series_id)
    first = history["ds"].max() - pd.Timedelta(days=days)
    vintages = store.forecasts.issued_before([series_id], first.date(), _FAR)
    accuracy = vintage_scores(vintages, history, settings.series.freq)
    return SeriesData(
        series_id=series_id,
        actuals=history[history["ds"] >= first].reset_index(drop=True),
        vintages=vintages,
        expected=expected_before(vintages, settings.timezone),
        incidents=store.incidents.list(series_id=series_id),
        choice=store.forecasts.choice(series_id),
        accuracy=accuracy,
    )


def vintage_scores(vintages: pd.DataFrame, history: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Per vintage: periods scored, MASE (scaled by the history before it was issued), bias %, 80% and 95% coverage."""
    columns = ["issued_at", "periods", "mase", "bias_pct", "mape", "coverage_80", "coverage_95"]
    if vintages.empty:
        return pd.DataFrame(columns=columns)
    base = vintage_accuracy(vintages, history)
    scored = vintages.merge(history.rename(columns={"unique_id": "series_id"}), on=["series_id", "ds"], how="inner")
    extra = []
    for issued_at, group in scored.groupby("issued_at"):
        insample = history.loc[history["ds"] < issued_at.tz_convert(None).normalize(), "y"].to_numpy()
        extra.append({
            "issued_at": issued_at,
            "mase": mase(group["y"], group["yhat"], insample, SEASON_LENGTH[freq]),
            "coverage_95": coverage(group["y"], group["lo95"], group["hi95"]),
        })
    table = base.merge(pd.DataFrame(extra, columns=["issued_at", "mase", "coverage_95"]), on="issued_at", how="left")
    return table.sort_values("issued_at", ascending=False).reindex(columns=columns).reset_index(drop=True)
