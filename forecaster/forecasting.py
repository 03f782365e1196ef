"""Forecast many series of a long frame: model selection, fallback, one result frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from forecaster.data.series import regular
from forecaster.errors import ForecasterError

DEFAULT_CANDIDATES = ("naive", "ets")


@dataclass
class ForecastResult:
    """Forecasts of every series that could be forecast, and why the others could not."""

    forecasts: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def choose_model(y: pd.Series, freq: str, model: str, candidates: Sequence[str], horizon: int, folds: int, params: dict) -> tuple[str, dict[str, float], str]:
    """The model to use for one series: ``model`` itself, or for ``auto`` the backtest's pick."""
    if model != "auto":
        return model, {}, "configured"
    from forecaster.evaluation import select_model

    selection = select_model(y, freq, list(candidates), horizon=horizon, folds=folds, model_params=params)
    return selection.model, selection.scores, selection.reason


def forecast_one(y: pd.Series, freq: str, horizon: int, levels: Sequence[int], model: str, params: dict) -> tuple[pd.DataFrame, str | None]:
    """Fit and forecast one series (seasonal naive when the model fails); returns the frame and a fallback note."""
    from forecaster.evaluation import forecast_series

    frame, used, reason = forecast_series(y, freq, horizon, levels=tuple(levels), model=model, model_params=params)
    note = f"{model} failed ({reason}); used {used}" if reason else None
    return frame, note


def forecast_frame(
    long: pd.DataFrame,
    horizon: int,
    freq: str = "D",
    levels: Sequence[int] = (80, 95),
    model: str = "auto",
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    folds: int = 3,
    model_params: dict | None = None,
) -> ForecastResult:
    """Forecast every series of a long ``unique_id, ds, y`` frame ``horizon`` periods past its end.

    Missing periods inside a series count as zero sales. A series that cannot be forecast is
    reported in ``failures`` and left out; the others still come out.
    """
    params = model_params or {}
    frames, failures, notes = [], {}, {}
    for series_id, points in long.groupby("unique_id", sort=True):
        try:
            y = regular(points, freq, points["ds"].max())
            chosen, _, _ = choose_model(y, freq, model, candidates, horizon, folds, params)
            frame, note = forecast_one(y, freq, horizon, levels, chosen, params)
        except ForecasterError as exc:
            failures[str(series_id)] = str(exc)
            continue
        if note:
            notes[str(series_id)] = note
        frames.append(frame.assign(unique_id=series_id))
    columns = ["unique_id", "ds", "model", "yhat", *[f"yhat_{side}_{lv}" for lv in levels for side in ("lo", "hi")]]
    out = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return ForecastResult(out, failures, notes)
