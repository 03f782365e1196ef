"""Accuracy metrics, rolling-origin backtests, model selection and forecasting with a fallback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.metrics import coverage, mase
from forecaster.models import SEASON_LENGTH, create, validate_series
from forecaster.models.ensemble import NAME as ENSEMBLE, best_members, combined, combines

FALLBACK_MODEL = "naive"
TOO_SHORT = "history too short for a backtest"


def backtest_forecasts(
    y: pd.Series,
    freq: str,
    models: Sequence[str],
    horizon: int,
    folds: int = 3,
    levels: Sequence[int] = (80, 95),
    model_params: dict[str, dict] | None = None,
    regressors: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, int], str]]:
    """Rolling-origin forecasts over the last ``folds`` windows of ``horizon`` periods.

    Each model is fit on everything before a window (and the ``regressors``, one row per period
    of ``y``, there) and forecasts it (knowing the regressors in it). Returns the rows ``model,
    fold (1 = oldest window), cutoff (last training date), step, ds, y, yhat, yhat_lo_<level>,
    yhat_hi_<level>`` and, per (model, fold) that failed, why.
    """
    values = validate_series(y, freq)
    if not models:
        raise ModelError("backtest needs at least one model")
    if horizon < 1 or folds < 1:
        raise ModelError(f"backtest needs horizon >= 1 and folds >= 1, got horizon={horizon}, folds={folds}")
    if len(values) <= folds * horizon:
        raise ModelError(f"{len(values)} points are too few for {folds} folds of {horizon} periods")
    model_params = model_params or {}
    for name in models:
        # Unknown names and bad parameters are configuration errors: raise them before any fitting.
        create(name, **model_params.get(name, {}))
    frames, errors = [], {}
    for fold in range(1, folds + 1):
        origin = len(values) - (folds - fold + 1) * horizon
        train, test = values.iloc[:origin], values.iloc[origin : origin + horizon].to_numpy()
        known, ahead = (None, None) if regressors is None else (regressors.iloc[:origin], regressors.iloc[origin : origin + horizon])
        for name in models:
            try:
                frame = create(name, **model_params.get(name, {})).fit(train, freq, known).predict(horizon, levels, ahead)
            except ModelError as exc:
                errors[(name, fold)] = str(exc)
                continue
            frame.insert(0, "model", name)
            frame.insert(1, "fold", fold)
            frame.insert(2, "cutoff", train.index[-1])
            frame.insert(3, "step", np.arange(1, horizon + 1))
            frame.insert(5, "y", test)
            frames.append(frame)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), errors


def backtest(
    y: pd.Series,
    freq: str,
    models: Sequence[str],
    horizon: int,
    folds: int = 3,
    levels: Sequence[int] = (80, 95),
    model_params: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest over the last ``folds`` windows of ``horizon`` periods.

    One row per (model, fold): model, fold (1 = oldest window), cutoff (last training date), mase,
    coverage_<level> per level, error (None, or why that model failed on that fold). Among other
    models, ``ensemble`` is not fitted: it is the median of the best (lowest mean MASE) of them.
    """
    combine = combines(models)
    fitted = [m for m in models if not (combine and m == ENSEMBLE)]
    rows_of, errors = backtest_forecasts(y, freq, fitted, horizon, folds, levels, model_params)
    values = validate_series(y, freq)

    def fold_rows(name: str, rows_of: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for fold in range(1, folds + 1):
            origin = len(values) - (folds - fold + 1) * horizon
            row: dict[str, Any] = {"model": name, "fold": fold, "cutoff": values.index[origin - 1], "mase": np.nan}
            row.update({f"coverage_{level}": np.nan for level in levels})
            row["error"] = errors.get((name, fold))
            if row["error"] is None:
                frame = rows_of[(rows_of["model"] == name) & (rows_of["fold"] == fold)]
                row["mase"] = mase(frame["y"], frame["yhat"], values.iloc[:origin].to_numpy(), SEASON_LENGTH[freq])
                for level in levels:
                    row[f"coverage_{level}"] = coverage(frame["y"], frame[f"yhat_lo_{level}"], frame[f"yhat_hi_{level}"])
            out.append(row)
        return out

    table = pd.DataFrame([row for name in fitted for row in fold_rows(name, rows_of)])
    if combine:
        members = best_members(_mean_mase(table))
        if len(members) < 2:
            errors.update({(ENSEMBLE, fold): f"fewer than two members succeeded ({members})" for fold in range(1, folds + 1)})
        else:
            member_rows = [rows_of[rows_of["model"] == m] for m in members]
            rows_of = pd.concat([rows_of, combined(member_rows, ["fold", "step"]).assign(model=ENSEMBLE)], ignore_index=True)
        table = pd.concat([table, pd.DataFrame(fold_rows(ENSEMBLE, rows_of))], ignore_index=True)
    return table


def _mean_mase(table: pd.DataFrame) -> dict[str, float]:
    """Per model of a ``backtest`` table, the mean MASE over its folds (nan when any fold failed)."""
    failed = table["error"].notna() | table["mase"].isna()
    return {str(name): float("nan") if failed[rows.index].any() else float(rows["mase"].mean()) for name, rows in table.groupby("model", sort=False)}


def absolute_percentage_error(actual, predicted) -> np.ndarray:
    """``|actual - predicted| / |actual|`` per value, in percent; nan where ``actual`` is 0."""
    actual, predicted = (np.asarray(a, dtype=float) for a in (actual, predicted))
    if actual.shape != predicted.shape:
        raise ValueError(f"actual has shape {actual.shape} but predicted has shape {predicted.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(actual != 0, 100.0 * np.abs(actual - predicted) / np.abs(actual), np.nan)


def vintage_accuracy(forecasts: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """How well each stored forecast vintage matched the actuals that followed it.

    ``forecasts`` holds vintages as ``ForecastRepository.issued_before`` returns them (``series_id,
    issued_at, ds, yhat, lo80, hi80``); ``actuals`` holds points ``unique_id, ds, y``. Only periods
    with an actual are scored. One row per (series_id, issued_at), oldest first: ``periods`` scored,
    ``mape`` (mean absolute percentage error over periods with non-zero sales, nan when none),
    ``bias_pct`` (total forecast minus total actual, in percent of the actual) and ``coverage_80``.
    """
    scored = forecasts.merge(actuals.rename(columns={"unique_id": "series_id"}), on=["series_id", "ds"], how="inner")
    scored = scored.assign(
        ape=absolute_percentage_error(scored["y"], scored["yhat"]),
        inside=(scored["y"] >= scored["lo80"]) & (scored["y"] <= scored["hi80"]),
    )
    grouped = scored.groupby(["series_id", "issued_at"], sort=True)
    out = grouped.agg(periods=("ds", "size"), mape=("ape", "mean"), yhat=("yhat", "sum"), y=("y", "sum"), coverage_80=("inside", "mean"))
    out["bias_pct"] = np.where(out["y"] != 0, 100.0 * (out["yhat"] - out["y"]) / out["y"].abs(), np.nan)
    return out.reset_index()[["series_id", "issued_at", "periods", "mape", "bias_pct", "coverage_80"]]


@dataclass(frozen=True)
class Selection:
    """The model chosen for a series, the mean backtest MASE of each candidate, and why."""

    model: str
    scores: dict[str, float]
    reason: str


def select_model(
    y: pd.Series,
    freq: str,
    candidates: Sequence[str],
    horizon: int,
    folds: int = 3,
    model_params: dict[str, dict] | None = None,
) -> Selection:
    """Pick the candidate with the lowest mean backtest MASE among those that never failed.

    Seasonal naive is chosen when the history cannot hold ``folds`` windows plus one season of
    training, or when no candidate succeeded on every fold with a finite MASE.
    """
    if not candidates:
        raise ModelError("select_model needs at least one candidate model")
    if len(validate_series(y, freq)) < folds * horizon + SEASON_LENGTH[freq]:
        return Selection(FALLBACK_MODEL, {}, TOO_SHORT)
    results = backtest(y, freq, candidates, horizon, folds, model_params=model_params)
    scores = _mean_mase(results)
    eligible = {name: score for name, score in scores.items() if not np.isnan(score)}
    if not eligible:
        failures = results["error"].dropna()
        why = failures.iloc[0] if len(failures) else "MASE undefined (constant history)"
        return Selection(FALLBACK_MODEL, scores, f"no candidate succeeded on all {folds} folds: {why}")
    best = min(eligible, key=eligible.__getitem__)
    others = ", ".join(f"{name} {score:.3f}" for name, score in scores.items() if name != best)
    name = f"{best} of {', '.join(best_members(scores))}" if best == ENSEMBLE else best
    reason = f"lowest mean MASE over {folds} folds of {horizon} periods: {name} {scores[best]:.3f}"
    return Selection(best, scores, f"{reason} (vs {others})" if others else reason)


def forecast_series(
    y: pd.Series,
    freq: str,
    horizon: int,
    levels: Sequence[int] = (80, 95),
    model: str = "naive",
    model_params: dict[str, Any] | None = None,
    regressors: pd.DataFrame | None = None,
    future_regressors: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, str, str | None]:
    """Fit ``model`` on ``y`` and forecast ``horizon`` periods; return (frame, model used, failure reason).

    ``regressors`` (one row per period of ``y``) and ``future_regressors`` (one per period ahead)
    reach the models that use them.

    When the model fails to fit or forecast, seasonal naive is used instead and the reason is
    returned. Unknown model names and invalid parameters raise ModelError, as does a series that
    even seasonal naive cannot use. The frame has a ``model`` column naming the model used.
    """
    params = model_params or {}
    chosen = create(model, **params)
    used, reason = model, None
    try:
        frame = chosen.fit(y, freq, regressors).predict(horizon, levels, future_regressors)
    except ModelError as exc:
        if model == FALLBACK_MODEL:
            raise
        fallback = create(FALLBACK_MODEL, nonnegative=chosen.nonnegative)
        frame = fallback.fit(y, freq).predict(horizon, levels)
        used, reason = FALLBACK_MODEL, str(exc)
    frame.insert(1, "model", used)
    return frame, used, reason
