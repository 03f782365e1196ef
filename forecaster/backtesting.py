"""Rolling-origin backtests of every candidate over many series, and their scores.

Per-series models are refit on each series for each fold (``evaluation.backtest_forecasts``);
a global model is refit once per fold on all series cut at that fold's origin. Both give the
same rows (``unique_id, model, fold, step, ds, y, yhat``), which feed model selection, conformal
calibration and the ``backtest`` command's report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.evaluation import backtest_forecasts
from forecaster.metrics import bias, coverage, mase, relative_width, rmspe, rmsse, smape
from forecaster.models import SEASON_LENGTH, create, is_global
from forecaster.models.ensemble import NAME as ENSEMBLE, best_members, combined, combines
from forecaster.models.panel import OPEN, build_panel, regressor_columns

ROW_COLUMNS = ["unique_id", "model", "fold", "step", "ds", "y", "yhat"]


def demand(series: pd.DataFrame) -> pd.Series:
    """One regular series' demand for per-series models: closed periods interpolated from open neighbours."""
    y = series.set_index("ds")["y"].astype(float)
    if OPEN not in series.columns:
        return y
    is_open = series[OPEN].to_numpy(dtype=float) != 0
    if not is_open.any():
        raise ModelError("every period of the series is closed")
    return y.where(is_open).interpolate(limit_direction="both")


def regressors(series: pd.DataFrame) -> pd.DataFrame | None:
    """The regressor columns of one regular series, a row per period (None when it has none)."""
    names = regressor_columns(series)
    return series[names].reset_index(drop=True) if names else None


def series_rows(long: pd.DataFrame, freq: str, models: Sequence[str], horizon: int, folds: int, params: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """Backtest rows of per-series ``models`` on every series of a regular long frame, and failures by series."""
    frames, failures = [], {}
    for series_id, series in long.groupby("unique_id", sort=True):
        try:
            rows, errors = backtest_forecasts(demand(series), freq, models, horizon, folds, (), params, regressors(series))
        except ModelError as exc:
            failures[str(series_id)] = str(exc)
            continue
        if OPEN in series.columns and len(rows):
            closed = series.set_index("ds")[OPEN].reindex(rows["ds"]).to_numpy() == 0
            rows.loc[closed, "y"] = np.nan
        frames.append(rows.assign(unique_id=str(series_id)))
    rows = pd.concat(frames, ignore_index=True)[ROW_COLUMNS] if frames else pd.DataFrame(columns=ROW_COLUMNS)
    return rows, failures


def cut(long: pd.DataFrame, periods: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split every series of a regular long frame into history and its last ``periods`` periods."""
    rank = long.groupby("unique_id").cumcount(ascending=False)
    return long[rank >= periods], long[rank < periods]


def global_rows(long: pd.DataFrame, freq: str, model: str, horizon: int, folds: int, params: dict) -> pd.DataFrame:
    """Backtest rows of a global model: fold k refits on all series cut ``(folds - k + 1) * horizon`` periods early."""
    frames = []
    for fold in range(1, folds + 1):
        past, later = cut(long, (folds - fold + 1) * horizon)
        later = later.groupby("unique_id").head(horizon)
        enough = past.groupby("unique_id")["ds"].transform("size") > 2 * SEASON_LENGTH[freq]
        past = past[enough]
        if past.empty:
            continue
        future = later[later["unique_id"].isin(past["unique_id"])]
        panel = build_panel(past, freq, horizon, future.drop(columns="y"))
        try:
            forecast = create(model, **params.get(model, {})).fit(panel).predict(panel)
        except ModelError:
            continue
        scored = forecast.merge(future[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
        scored.loc[scored["closed"], "y"] = np.nan
        scored["step"] = scored.groupby("unique_id").cumcount() + 1
        frames.append(scored.assign(model=model, fold=fold))
    return pd.concat(frames, ignore_index=True)[ROW_COLUMNS] if frames else pd.DataFrame(columns=ROW_COLUMNS)


def candidate_rows(long: pd.DataFrame, freq: str, models: Sequence[str], horizon: int, folds: int, params: dict) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Backtest rows of every candidate, global and per-series, on the same folds; failures by series.

    Among other candidates, ``ensemble`` is not fitted but combines the best of them
    (``with_ensemble``); its members are returned (empty when there is no such ensemble).
    """
    combine = combines(models)
    fitted = [m for m in models if not (combine and m == ENSEMBLE)]
    local = [m for m in fitted if not is_global(m)]
    rows, failures = series_rows(long, freq, local, horizon, folds, params) if local else (pd.DataFrame(columns=ROW_COLUMNS), {})
    frames = [rows] + [global_rows(long, freq, m, horizon, folds, params) for m in fitted if is_global(m)]
    rows = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else rows
    if combine and len(rows):
        rows, members = with_ensemble(rows, long, freq)
        return rows, failures, members
    return rows, failures, []


def with_ensemble(rows: pd.DataFrame, long: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, list[str]]:
    """``rows`` with the ensemble's: the median of the (up to three) candidates with the lowest mean MASE over all series.

    Returns the rows and those members (none when fewer than two candidates were backtested).
    """
    pooled = fold_mase(rows, long, freq).groupby(level="unique_id").mean().mean()
    members = best_members(pooled.to_dict())
    if len(members) < 2:
        return rows, []
    ensemble = combined([rows[rows["model"] == m] for m in members], ["unique_id", "fold", "step"])
    return pd.concat([rows, ensemble.assign(model=ENSEMBLE)], ignore_index=True), members


def with_intervals(rows: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """``rows`` with conformal bounds on every fold after the first, calibrated on the earlier folds only.

    So the coverage a backtest reports is measured on data the calibration has not seen; the first
    fold has no bounds (nan).
    """
    from forecaster.intervals import ConformalIntervals

    frames = []
    for (model, fold), group in rows.sort_values(["model", "fold", "unique_id", "step"]).groupby(["model", "fold"], sort=True):
        earlier = rows[(rows["model"] == model) & (rows["fold"] < fold) & np.isfinite(rows["y"].astype(float))]
        try:
            group = ConformalIntervals.fit(earlier, levels).apply(group) if len(earlier) else group
        except ModelError:
            pass  # too few earlier residuals: this fold stays without bounds
        frames.append(group)
    out = pd.concat(frames, ignore_index=True) if frames else rows.copy()
    for level in levels:
        for side in ("lo", "hi"):
            if f"yhat_{side}_{level}" not in out.columns:
                out[f"yhat_{side}_{level}"] = np.nan
    return out


def fold_mase(rows: pd.DataFrame, long: pd.DataFrame, freq: str) -> pd.DataFrame:
    """MASE per (unique_id, fold) and model, each fold scaled by the history before it; open periods only."""
    m = SEASON_LENGTH[freq]
    history = {sid: demand_history(s) for sid, s in long.groupby("unique_id")}
    scored = rows[np.isfinite(rows["y"].astype(float))]
    out = [
        {"unique_id": sid, "fold": fold, "model": model, "mase": mase(group["y"], group["yhat"], _before(history[sid], group), m)}
        for (sid, model, fold), group in scored.groupby(["unique_id", "model", "fold"], sort=True)
    ]
    return pd.DataFrame(out, columns=["unique_id", "fold", "model", "mase"]).pivot(index=["unique_id", "fold"], columns="model", values="mase")


def _before(history: pd.Series, fold: pd.DataFrame) -> np.ndarray:
    """The observed history before a fold's first period: the in-sample data its errors are scaled by."""
    return history[history.index < fold["ds"].min()].dropna().to_numpy()


def demand_history(series: pd.DataFrame) -> pd.Series:
    """One series' demand by date, nan on closed periods (which do not count in error scales)."""
    y = series.set_index("ds")["y"].astype(float)
    return y.where(series[OPEN].to_numpy() != 0) if OPEN in series.columns else y


def score(rows: pd.DataFrame, long: pd.DataFrame, freq: str, levels: Sequence[int] = (80, 95)) -> pd.DataFrame:
    """Per (unique_id, model): MASE, RMSSE (means over folds), RMSPE, sMAPE, bias, coverage and relative width per level."""
    m = SEASON_LENGTH[freq]
    history = {sid: demand_history(s) for sid, s in long.groupby("unique_id")}
    out = []
    for (series_id, model), group in rows.groupby(["unique_id", "model"], sort=True):
        group = group[np.isfinite(group["y"])]
        scaled = {"mase": [], "rmsse": []}
        for _, fold in group.groupby("fold"):
            insample = _before(history[series_id], fold)
            scaled["mase"].append(mase(fold["y"], fold["yhat"], insample, m))
            scaled["rmsse"].append(rmsse(fold["y"], fold["yhat"], insample, m))
        row = {
            "unique_id": series_id, "model": model, "periods": len(group),
            "mase": float(np.mean(scaled["mase"])) if scaled["mase"] else np.nan,
            "rmsse": float(np.mean(scaled["rmsse"])) if scaled["rmsse"] else np.nan,
            "rmspe": rmspe(group["y"], group["yhat"]), "smape": smape(group["y"], group["yhat"]),
            "bias": bias(group["y"], group["yhat"]),
        }
        for level in levels:
            judged = group[np.isfinite(group[f"yhat_lo_{level}"])]
            lo, hi = judged[f"yhat_lo_{level}"], judged[f"yhat_hi_{level}"]
            row[f"coverage_{level}"] = coverage(judged["y"], lo, hi)
            row[f"width_{level}"] = relative_width(judged["y"], lo, hi)
        out.append(row)
    return pd.DataFrame(out)
