"""Forecast many series of a long frame: backtest, selection, calibrated intervals, one result frame.

One call runs every candidate over the same rolling-origin folds (global models once per fold
across all series, per-series models per series), picks per series the candidate with the lowest
mean MASE (``model="auto"``), fits the chosen models on the whole history, and puts split-conformal
intervals from each model's backtest residuals around their forecasts. Series with a short
history (cold start) get wider intervals and a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError, ModelError
from forecaster.models import PANDAS_FREQ, is_global
from forecaster.models.panel import OPEN, build_panel, regressor_columns
from forecaster.models.ensemble import NAME as ENSEMBLE, combined
from forecaster.models.intermittent import is_intermittent, zero_share

DEFAULT_CANDIDATES = ("naive", "ets", "gbm", "ensemble")
FALLBACK_MODEL = "naive"
SWITCH_MARGIN = 0.1  # how much lower a series' mean MASE must be to leave the best model over all series
COLD_START = {"D": 182, "W": 26, "M": 12}  # a series with a shorter history is new: its errors run larger
COLD_START_WIDENING = 1.3  # how much wider a new series' intervals are than its calibration says
INTERMITTENT_MODEL = "tsb"  # auto's model for series with many periods without sales
OWN_INTERVALS = frozenset({"tsb"})  # models whose own intervals cover better than conformal ones


@dataclass
class ForecastResult:
    """Forecasts of every series that could be forecast, and why the others could not."""

    forecasts: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # series -> model used
    backtest: pd.DataFrame | None = None  # the rows selection and calibration came from
    calibrations: dict = field(default_factory=dict)  # model -> the ConformalIntervals its forecasts got
    cold_start: set[str] = field(default_factory=set)  # series with less than COLD_START history: wider intervals


def choose_model(y: pd.Series, freq: str, model: str, candidates: Sequence[str], horizon: int, folds: int, params: dict) -> tuple[str, dict[str, float], str]:
    """The model to use for one series: ``model`` itself, or for ``auto`` tsb when it is intermittent, else the backtest's pick."""
    if model != "auto":
        return model, {}, "configured"
    if is_intermittent(y.to_numpy(), freq):
        return INTERMITTENT_MODEL, {}, _intermittent_note(y.to_numpy(), freq)
    from forecaster.evaluation import select_model

    selection = select_model(y, freq, [c for c in candidates if not is_global(c)], horizon=horizon, folds=folds, model_params=params)
    return selection.model, selection.scores, selection.reason


def forecast_one(
    y: pd.Series, freq: str, horizon: int, levels: Sequence[int], model: str, params: dict,
    regressors: pd.DataFrame | None = None, future_regressors: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """Fit and forecast one series (seasonal naive when the model fails); returns the frame and a fallback note.

    ``params`` maps model names to their parameters, as for ``choose_model``; the regressors are
    as for ``evaluation.forecast_series``.
    """
    from forecaster.evaluation import forecast_series

    frame, used, reason = forecast_series(y, freq, horizon, tuple(levels), model, params.get(model, {}), regressors, future_regressors)
    note = f"{model} failed ({reason}); used {used}" if reason else None
    return frame, note


def regularize(long: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every series gap-free from its first to its last period: missing periods are 0 sales, open, regressors 0.

    A frame that already is (sorted by series and date, no gap: the engine's) is returned as it is.
    """
    if _already_regular(long, freq):
        return long, {}
    frames, failures = [], {}
    offset = PANDAS_FREQ[freq]
    extra = [c for c in long.columns if c not in ("unique_id", "ds")]
    fill = {c: (1.0 if c == OPEN else 0.0) for c in extra}
    for series_id, points in long.groupby("unique_id", sort=True):
        index = pd.date_range(points["ds"].min(), points["ds"].max(), freq=offset, name="ds")
        if not pd.DatetimeIndex(points["ds"]).isin(index).all():
            failures[str(series_id)] = f"its dates are not period starts at freq {freq!r}"
            continue
        series = points.set_index("ds")[extra].reindex(index).fillna(fill).reset_index()
        frames.append(series.assign(unique_id=str(series_id)))
    columns = ["unique_id", "ds", *extra]
    return (pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)), failures


def forecast_frame(
    long: pd.DataFrame,
    horizon: int,
    freq: str = "D",
    levels: Sequence[int] = (80, 95),
    model: str = "auto",
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    folds: int = 3,
    model_params: dict | None = None,
    future: pd.DataFrame | None = None,
    calibrations: dict | None = None,
) -> ForecastResult:
    """Forecast every series of a long ``unique_id, ds, y[, regressors..., open]`` frame ``horizon`` periods ahead.

    ``future`` gives the regressors (and ``open``) over the horizon. Missing periods inside a series
    count as zero sales. A series that cannot be forecast is reported in ``failures`` and left
    out; the others still come out. With an ``open`` column the result has a ``closed`` column.
    ``calibrations`` (model -> ConformalIntervals, calibrated earlier) spare a single model its
    backtest; the result's ``calibrations`` are the ones its forecasts got.
    """
    from forecaster.backtesting import candidate_rows

    params = model_params or {}
    levels = sorted({int(v) for v in levels})
    long, failures = regularize(long, freq)
    models = list(dict.fromkeys(candidates)) if model == "auto" else [model]
    known = {m: c for m, c in (calibrations or {}).items() if len(models) == 1 and m in models and set(levels) <= set(c.levels)}
    rows, backtest_failures, members = candidate_rows(long, freq, [m for m in models if m not in known], horizon, folds, params)
    if members:
        params = {**params, ENSEMBLE: {**params.get(ENSEMBLE, {}), "members": members}}
    choices, notes, pooled_best = _choose(long, rows, models, freq)
    if model == "auto":
        for series_id, sales in _open_sales(long).items():
            if is_intermittent(sales, freq):
                choices[series_id], notes[series_id] = INTERMITTENT_MODEL, _intermittent_note(sales, freq)
    for series_id, reason in backtest_failures.items():
        notes.setdefault(series_id, f"not backtested ({reason})")
    lengths = long.groupby("unique_id").size()
    cold = lengths[lengths < COLD_START[freq]]
    frames, used_calibrations = [], {}
    for name in sorted(set(choices.values())):
        chosen = [sid for sid, m in choices.items() if m == name]
        # A series chosen for its own backtest score would calibrate its interval on its luckiest errors: use the others'.
        calibrating = rows if name == pooled_best else rows[~rows["unique_id"].isin(chosen)]
        frame, model_failures, model_notes, calibration = _forecast_with(name, long[long["unique_id"].isin(chosen)], future, freq, horizon, levels, calibrating, params, known.get(name))
        failures.update(model_failures)
        notes.update(model_notes)
        frames.append(frame)
        if calibration is not None:
            used_calibrations[name] = calibration
    columns = ["unique_id", "ds", "model", "yhat", *[f"yhat_{side}_{lv}" for lv in levels for side in ("lo", "hi")]]
    if OPEN in long.columns:
        columns.append("closed")
    out = pd.concat(frames, ignore_index=True)[columns].sort_values(["unique_id", "ds"], ignore_index=True) if frames else pd.DataFrame(columns=columns)
    used = out.groupby("unique_id")["model"].first().to_dict() if len(out) else {}
    cold = cold[cold.index.isin(used)]
    out = _widened(out, set(cold.index), levels)
    for series_id, periods in cold.items():
        notes[series_id] = joined_note(notes.get(series_id), f"{cold_start_note(periods, freq)}, intervals widened x{COLD_START_WIDENING}")
    return ForecastResult(out, failures, notes, used, rows, used_calibrations, set(cold.index))


def _already_regular(long: pd.DataFrame, freq: str) -> bool:
    """Whether ``long`` is what ``regularize`` would make of it: string ids in order, each series' period starts without a gap."""
    if long.empty or list(long.columns[:2]) != ["unique_id", "ds"] or not all(isinstance(i, str) for i in long["unique_id"].unique()):
        return False
    ids, ds = long["unique_id"].to_numpy(), pd.DatetimeIndex(long["ds"])
    offset = pd.tseries.frequencies.to_offset(PANDAS_FREQ[freq])
    same_series = ids[1:] == ids[:-1]
    ordered = bool((ids[1:][~same_series] > ids[:-1][~same_series]).all())
    on_period = all(day == day.normalize() and offset.is_on_offset(day) for day in ds.unique())
    return ordered and on_period and bool((ds[1:][same_series] == (ds[:-1] + offset)[same_series]).all())


def cold_start_note(periods: int, freq: str) -> str | None:
    """The flag of a series with less than ``COLD_START`` history; None for an older one."""
    return f"cold start: {periods} periods of history (fewer than {COLD_START[freq]})" if periods < COLD_START[freq] else None


def joined_note(*notes: str | None) -> str | None:
    """The notes that are not None, joined by "; " (None when there are none)."""
    return "; ".join(n for n in notes if n) or None


def _open_sales(long: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each series' sales per period of a regular long frame, nan where closed."""
    sales = long["y"].where(long[OPEN] != 0) if OPEN in long.columns else long["y"]
    return {str(sid): y.to_numpy(dtype=float) for sid, y in sales.groupby(long["unique_id"])}


def _intermittent_note(sales: np.ndarray, freq: str) -> str:
    return f"intermittent: {zero_share(sales, freq):.0%} of trading periods without sales; {INTERMITTENT_MODEL} with its own intervals"


def _widened(forecasts: pd.DataFrame, series: set[str], levels: list[int]) -> pd.DataFrame:
    """``forecasts`` with the intervals of ``series`` ``COLD_START_WIDENING`` times as wide around the forecast (bounds >= 0)."""
    rows = forecasts["unique_id"].isin(series).to_numpy()
    if not rows.any():
        return forecasts
    out = forecasts.copy()
    yhat = out.loc[rows, "yhat"].to_numpy(dtype=float)
    for column in [f"yhat_{side}_{level}" for level in levels for side in ("lo", "hi")]:
        out.loc[rows, column] = np.maximum(yhat + COLD_START_WIDENING * (out.loc[rows, column].to_numpy(dtype=float) - yhat), 0.0)
    return out


def _choose(long: pd.DataFrame, rows: pd.DataFrame, models: list[str], freq: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Per series, the candidate with the lowest mean backtest MASE over all series, unless another beats it on this series.

    Returns the choices, notes, and that best candidate over all series.

    A few folds make per-series scores noisy, and a series that leaves the better model on a lucky
    fold pays for it on every forecast: another candidate is chosen only when it has the lower
    MASE in every fold and a mean MASE at least ``SWITCH_MARGIN`` lower. A candidate the pooled
    best could not be backtested on wins outright.
    """
    from forecaster.backtesting import fold_mase

    ids = sorted(long["unique_id"].unique())
    if len(models) == 1:
        return {sid: models[0] for sid in ids}, {}, models[0]
    per_fold = fold_mase(rows, long, freq)
    means = per_fold.groupby(level="unique_id").mean()
    pooled = means.mean().dropna()
    pooled_best = str(pooled.idxmin()) if len(pooled) else FALLBACK_MODEL
    choices, notes = {}, {}
    for sid in ids:
        row = means.loc[sid].dropna() if sid in means.index else pd.Series(dtype=float)
        if row.empty:
            choices[sid], notes[sid] = FALLBACK_MODEL, "no candidate could be backtested; used naive"
            continue
        best = str(row.idxmin())
        if pooled_best not in row or best == pooled_best:
            choices[sid] = best
            continue
        folds = per_fold.loc[sid]
        if (folds[best] < folds[pooled_best]).all() and row[best] < (1 - SWITCH_MARGIN) * row[pooled_best]:
            choices[sid] = best
        else:
            choices[sid] = pooled_best
            notes[sid] = f"kept {pooled_best} (MASE {row[pooled_best]:.3f}): {best} ({row[best]:.3f}) was not better in every fold by {SWITCH_MARGIN:.0%}"
    return choices, notes, pooled_best


def _forecast_with(name, long, future, freq, horizon, levels, rows, params, calibration=None) -> tuple[pd.DataFrame, dict[str, str], dict[str, str], object]:
    """Forecasts of ``long``'s series by model ``name`` with conformal intervals from ``calibration``, else its backtest rows.

    Returns the frame, failures, notes and the calibration used (None: the model's own intervals).
    """
    from forecaster.intervals import ConformalIntervals

    failures, notes, reason = {}, {}, "no backtest residuals"
    if name in OWN_INTERVALS:
        frame, failures, notes = _per_series(name, long, future, freq, horizon, levels, params)
        return frame, failures, notes, None
    if calibration is None:
        residuals = rows[(rows["model"] == name) & np.isfinite(rows["y"].astype(float))] if len(rows) else rows
        try:
            calibration = ConformalIntervals.fit(residuals, levels) if len(residuals) else None
        except ModelError as exc:
            reason = str(exc)
    if calibration is None and _without_own_intervals(name, params):
        frame = _forecast_with(FALLBACK_MODEL, long, future, freq, horizon, levels, rows, params)[0]
        return frame, failures, {sid: f"{name} could not be calibrated ({reason}); used {FALLBACK_MODEL}" for sid in long["unique_id"].unique()}, None
    frame, failures, notes = _point_forecasts(name, long, future, freq, horizon, levels, params)
    if calibration is not None:
        frame = calibration.apply(frame)
    elif len(frame):
        notes.update({sid: joined_note(notes.get(sid), f"{name} intervals are the model's own ({reason})") for sid in frame["unique_id"].unique()})
    return frame, failures, notes, calibration


def _without_own_intervals(name: str, params: dict) -> bool:
    """Whether forecasts of ``name`` come without intervals: a global model's, or an ensemble's with one among its members."""
    members = params.get(ENSEMBLE, {}).get("members", []) if name == ENSEMBLE else []
    return is_global(name) or any(is_global(m) for m in members)


def _point_forecasts(name, long, future, freq, horizon, levels, params) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Forecasts of ``long``'s series by one model: a global fit, a fit per series, or an ensemble's median of its members'."""
    if name == ENSEMBLE and "members" in params.get(ENSEMBLE, {}):
        failures, notes, frames = {}, {}, []
        for member in params[ENSEMBLE]["members"]:
            frame, member_failures, member_notes = _point_forecasts(member, long, future, freq, horizon, levels, params)
            failures.update(member_failures)
            notes.update(member_notes)
            frames.append(frame)
        return combined(frames, ["unique_id", "ds"]).assign(model=ENSEMBLE), failures, notes
    if is_global(name):
        series_future = future[future["unique_id"].isin(long["unique_id"])] if future is not None else None
        panel = build_panel(long, freq, horizon, series_future)
        return _create(name, params).fit(panel).predict(panel).assign(model=name), {}, {}
    return _per_series(name, long, future, freq, horizon, levels, params)


def _create(name: str, params: dict):
    from forecaster.models import create

    return create(name, **params.get(name, {}))


def _per_series(name, long, future, freq, horizon, levels, params) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Fit ``name`` on each series (closed periods interpolated, with its regressors), with seasonal naive as fallback."""
    from forecaster.backtesting import demand, regressors

    names = regressor_columns(long)
    future_groups = dict(tuple(future.groupby("unique_id", sort=False))) if future is not None else {}
    frames, failures, notes = [], {}, {}
    for series_id, series in long.groupby("unique_id", sort=True):
        dates = pd.date_range(series["ds"].max(), periods=horizon + 1, freq=PANDAS_FREQ[freq])[1:]
        ahead = future_groups[series_id].set_index("ds").reindex(dates) if series_id in future_groups else None
        known = ahead.reindex(columns=names).reset_index(drop=True) if names and ahead is not None else None
        try:
            frame, note = forecast_one(demand(series), freq, horizon, levels, name, params, regressors(series), known)
        except ForecasterError as exc:
            failures[series_id] = str(exc)
            continue
        if note:
            notes[series_id] = note
        frame = frame.assign(unique_id=series_id, closed=False)
        if ahead is not None and OPEN in ahead.columns:
            frame["closed"] = ahead[OPEN].fillna(1.0).to_numpy() == 0
            bounds = [c for c in frame.columns if c.startswith("yhat")]
            frame.loc[frame["closed"], bounds] = 0.0
        frames.append(frame)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unique_id", "ds", "model", "yhat", "closed"])), failures, notes

