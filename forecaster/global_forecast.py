"""A run's forecasts from one global model (``forecast.model: gbm``) fitted across every pending series.

A global model learns from all series at once, so it cannot run as one job per series as
``series_job`` does. The engine hands it every history. It lays them out as one panel with the
known-future inputs (``forecast.known_future``; public holidays with ``holidays_country``) and
each day's open flag, and ``forecast_frame`` fits the model and forecasts. Without an open column
in the file, the monitor's calendar decides: past days without sales that were closed days, and
the days ahead the store will most likely be closed, are neither learned from nor forecast as
demand. The intervals are calibrated on a backtest of the same panel, a fit per fold; the engine
keeps the calibration and refreshes it every ``forecast.reselect_every`` periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alerts.calendar import Calendar
from forecaster.data.series import PANDAS_FREQ, next_period
from forecaster.forecasting import forecast_frame
from forecaster.intervals import ConformalIntervals
from forecaster.models.panel import OPEN
from forecaster.regressors import add_holidays, horizon_rows
from forecaster.series_job import SeriesForecast
from forecaster.trading_days import closed_days, will_close

MODEL = "gbm"


@dataclass(frozen=True)
class GlobalJob:
    """How to forecast: the frequency, horizon, levels, backtest folds, calendar and inputs."""

    freq: str
    horizon: int
    levels: tuple[int, ...]
    folds: int
    calendar: Calendar
    known: pd.DataFrame | None = None  # ``read_known_future``'s frame
    known_source: str = ""  # the file it came from, for messages
    holidays_country: str | None = None
    calibration: ConformalIntervals | None = None  # calibrated in an earlier run: no backtest in this one
    threads: int | None = None  # OpenMP threads of the trees; None: every core


@dataclass(frozen=True)
class GlobalForecast:
    """Forecasts and failures by series, and the intervals' calibration (None when the model fell back)."""

    forecasts: dict[str, SeriesForecast]
    failures: dict[str, str]
    calibration: ConformalIntervals | None


def forecast_global(histories: dict[str, pd.Series], job: GlobalJob) -> GlobalForecast:
    """Forecast every series of ``histories`` (regular, by id) with one fit.

    Its intervals come from ``job.calibration``, else from a backtest of the same panel. A series
    whose known future does not cover the horizon fails with the file and the first missing day;
    the others are still forecast.
    """
    long, future, failures = _panel_frames(histories, job)
    if long.empty:
        return GlobalForecast({}, failures, None)
    import sklearn.ensemble  # noqa: F401  (loads OpenMP, which a limit reaches only once loaded)
    from threadpoolctl import threadpool_limits

    earlier = {MODEL: job.calibration} if job.calibration is not None else None
    with threadpool_limits(job.threads, user_api="openmp"):
        result = forecast_frame(long, job.horizon, freq=job.freq, levels=job.levels, model=MODEL, folds=job.folds, future=future, calibrations=earlier)
    failures.update(result.failures)
    forecasts = {
        str(series_id): SeriesForecast(frame.drop(columns=["unique_id", "closed"]).reset_index(drop=True), result.notes.get(str(series_id)), None)
        for series_id, frame in result.forecasts.groupby("unique_id", sort=False)
    }
    return GlobalForecast(forecasts, failures, result.calibrations.get(MODEL))


def _panel_frames(histories: dict[str, pd.Series], job: GlobalJob) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The long history frame and the future frame of every series the known future covers, with open flags."""
    ends = pd.Series({series_id: y.index[-1] for series_id, y in histories.items()}, dtype="datetime64[ns]")
    failures: dict[str, str] = {}
    if job.known is not None:
        ahead, gaps = horizon_rows(job.known, ends, job.horizon, job.freq)
        failures = {series_id: f"{job.known_source}: series {series_id!r} {gap}" for series_id, gap in gaps.items()}
    else:
        ahead = pd.DataFrame([(s, day) for s, end in ends.items() for day in _after(end, job.horizon, job.freq)], columns=["unique_id", "ds"])
    kept = {series_id: y for series_id, y in histories.items() if series_id not in failures}
    if not kept:
        return pd.DataFrame(), ahead, failures
    long = pd.concat([pd.DataFrame({"unique_id": series_id, "ds": y.index, "y": y.to_numpy(dtype=float)}) for series_id, y in kept.items()], ignore_index=True)
    flags = np.concatenate([~closed_days(y, job.calendar, job.freq) for y in kept.values()]).astype(float)
    if job.known is not None:
        inputs = [c for c in job.known.columns if c not in ("unique_id", "ds", OPEN)]
        long = long.merge(job.known, on=["unique_id", "ds"], how="left").fillna({c: 0.0 for c in inputs})
    long[OPEN] = long[OPEN].fillna(pd.Series(flags, index=long.index)) if OPEN in long.columns else flags
    if OPEN not in ahead.columns:
        ahead[OPEN] = np.concatenate([
            np.where(will_close(pd.DatetimeIndex(rows["ds"]).date, kept[series_id], job.calendar, job.freq), 0.0, 1.0)
            for series_id, rows in ahead.groupby("unique_id", sort=False)
        ])
    if job.holidays_country:
        long, ahead = add_holidays(long, job.holidays_country), add_holidays(ahead, job.holidays_country)
    return long, ahead, failures


def _after(end: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The ``horizon`` periods after ``end``."""
    return pd.date_range(next_period(end, freq), periods=horizon, freq=PANDAS_FREQ[freq])
