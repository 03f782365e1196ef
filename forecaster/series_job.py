"""One series' forecast in a scheduled run, as a self-contained job any parallel backend can run.

The engine reads everything a series needs from the store (its history, the model chosen
earlier) into a ``SeriesJob``; ``run_series_job`` needs nothing else, so it runs the same in
the engine's process, in a worker process or on a Dask worker, and the engine stores what
comes back. On the engine's machine a worker reads the histories itself (``histories.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alerts.calendar import Calendar
from forecaster.forecasting import choose_model, cold_start_note, forecast_one, joined_note
from forecaster.models.ensemble import NAME as ENSEMBLE, with_members
from forecaster.trading_days import close_forecast, open_demand


@dataclass(frozen=True)
class SeriesJob:
    """A series' regular history and how to forecast it (``model="auto"``: select among ``candidates`` first)."""

    y: pd.Series
    freq: str
    horizon: int
    levels: tuple[int, ...]
    model: str
    candidates: tuple[str, ...]
    folds: int
    params: dict
    calendar: Calendar


@dataclass(frozen=True)
class SeriesForecast:
    """The forecast, a note when the model fell back, and the selection made for ``auto`` (model, scores, reason)."""

    forecast: pd.DataFrame
    note: str | None
    choice: tuple[str, dict[str, float], str] | None


def run_series_job(job: SeriesJob) -> SeriesForecast:
    """Select (for ``auto``), fit on open-day demand, forecast, and zero the days the store will be closed.

    A series with a short history is flagged in the note; its model's own intervals are kept
    (seasonal naive's and ETS's already cover more than their level on new Rossmann stores).
    """
    demand = open_demand(job.y, job.calendar, job.freq)
    model, choice, params = job.model, None, job.params
    if model == "auto":
        horizon = min(job.horizon, max(1, len(demand) // (2 * job.folds)))
        choice = choose_model(demand, job.freq, "auto", job.candidates, horizon, job.folds, job.params)
        model = choice[0]
        if model == ENSEMBLE:
            params = with_members(params, choice[1])
    forecast, note = forecast_one(demand, job.freq, job.horizon, job.levels, model, params)
    note = joined_note(note, cold_start_note(len(demand), job.freq))
    return SeriesForecast(close_forecast(forecast, job.y, job.calendar, job.freq), note, choice)
