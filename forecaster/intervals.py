"""Split-conformal prediction intervals from backtest residuals, for any model.

A model forecasts past its training data in a rolling-origin backtest; the errors it made there
(data it had not seen) decide how wide its intervals are. Each error is normalised three ways:

- by the series' level (mean actual in the calibration rows), so series of any size compare;
- by a horizon profile g(step): the mean absolute error at each step relative to all steps,
  pooled over series and smoothed, so that intervals widen where errors grow;
- by the series' own spread (its mean absolute normalised error) when it has at least
  ``MIN_SERIES_RESIDUALS`` residuals, else by the pooled spread.

A series the calibration never saw (a store opened since) gets the median series' spread around
its own level, the mean of its forecast.

The tails of the resulting scores are pooled over all series: each bound is the conformal
quantile ``ceil((n + 1) q) / n`` of the signed scores, so an interval covers its level on data
that behaves like the calibration data. Bounds are clipped at 0 for sales.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import ModelError

MIN_SERIES_RESIDUALS = 10  # fewer residuals than this give the series the pooled spread
MIN_STEP_RESIDUALS = 20  # a horizon profile needs this many pooled residuals per step
PROFILE_SMOOTHING = 7  # steps in the centred moving average of the horizon profile


def min_residuals(level: int) -> int:
    """Residuals needed for a finite conformal bound at each tail of a central ``level``% interval."""
    return math.ceil(round(200 / (100 - level), 9)) - 1


@dataclass(frozen=True)
class ConformalIntervals:
    """Calibrated interval offsets, ready to put around any point forecast."""

    levels: tuple[int, ...]
    quantiles: dict[int, tuple[float, float]]  # level -> (lower, upper) score quantile
    profile: np.ndarray  # g(step) for steps 1..len(profile); the last value holds beyond
    series_scale: dict[str, float]  # level x spread per series
    pooled_spread: float  # the median series' spread, for series not calibrated here
    residuals: int

    @classmethod
    def fit(cls, residuals: pd.DataFrame, levels: Sequence[int] = (80, 95)) -> ConformalIntervals:
        """Calibrate on backtest rows ``unique_id, step, y, yhat`` (closed periods left out)."""
        missing = {"unique_id", "step", "y", "yhat"} - set(residuals.columns)
        if missing:
            raise ModelError(f"conformal calibration: residual rows lack column(s) {sorted(missing)}")
        rows = residuals[np.isfinite(residuals["y"]) & np.isfinite(residuals["yhat"])]
        levels = tuple(sorted({int(v) for v in levels}))
        need = max(min_residuals(v) for v in levels)
        if len(rows) < need:
            raise ModelError(f"conformal calibration: {len(rows)} backtest residuals are too few for {max(levels)}% intervals (need {need})")
        ids = rows["unique_id"].astype(str).to_numpy()
        level_of = rows.groupby(ids)["y"].apply(lambda y: float(np.mean(np.abs(y))))
        level_of = level_of.where(level_of > 0, 1.0)
        error = (rows["y"] - rows["yhat"]).to_numpy() / level_of.loc[ids].to_numpy()
        steps = rows["step"].to_numpy(dtype=int)
        profile = _horizon_profile(error, steps)
        error = error / profile[np.minimum(steps, len(profile)) - 1]
        spread = pd.Series(np.abs(error)).groupby(ids).agg(["mean", "size"])
        pooled_spread = float(np.mean(np.abs(error))) or 1.0
        own = spread["mean"].where((spread["size"] >= MIN_SERIES_RESIDUALS) & (spread["mean"] > 0), pooled_spread)
        scores = error / own.loc[ids].to_numpy()
        quantiles = {level: _conformal_bounds(scores, level) for level in levels}
        series_scale = {sid: float(level_of[sid] * own[sid]) for sid in own.index}
        return cls(levels, quantiles, profile, series_scale, float(np.median(own)), len(rows))

    def as_dict(self) -> dict:
        """The calibration as plain JSON-ready data (``from_dict`` reads it back)."""
        return {
            "levels": list(self.levels), "quantiles": {str(k): list(v) for k, v in self.quantiles.items()},
            "profile": self.profile.tolist(), "series_scale": self.series_scale, "pooled_spread": self.pooled_spread, "residuals": self.residuals,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ConformalIntervals:
        if "pooled_spread" not in data:
            raise ModelError("the stored interval calibration was written by an earlier version (it has no pooled_spread): calibrate again")
        return cls(
            tuple(data["levels"]), {int(k): (float(v[0]), float(v[1])) for k, v in data["quantiles"].items()},
            np.asarray(data["profile"], dtype=float), {str(k): float(v) for k, v in data["series_scale"].items()},
            float(data["pooled_spread"]), int(data["residuals"]),
        )

    def apply(self, forecasts: pd.DataFrame, nonnegative: bool = True) -> pd.DataFrame:
        """``forecasts`` (``unique_id, ds, yhat``, in step order per series) with calibrated bound columns.

        Periods flagged in a ``closed`` column get 0 for the forecast and both bounds.
        """
        out = forecasts.copy()
        ids = out["unique_id"].astype(str)
        steps = out.groupby(ids, sort=False).cumcount().to_numpy() + 1
        closed = out["closed"].to_numpy(dtype=bool) if "closed" in out.columns else np.zeros(len(out), dtype=bool)
        yhat = np.where(closed, 0.0, out["yhat"].to_numpy(dtype=float))
        own_level = pd.Series(np.where(closed, np.nan, np.abs(yhat))).groupby(ids.to_numpy()).transform("mean").fillna(0.0).to_numpy()
        scale = ids.map(self.series_scale).to_numpy(dtype=float)
        scale = np.where(np.isnan(scale), own_level * self.pooled_spread, scale)
        width = scale * self.profile[np.minimum(steps, len(self.profile)) - 1]
        out["yhat"] = yhat
        for level in self.levels:
            lower, upper = self.quantiles[level]
            lo, hi = yhat + lower * width, yhat + upper * width
            if nonnegative:
                lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
            out[f"yhat_lo_{level}"] = np.where(closed, 0.0, np.minimum(lo, yhat))
            out[f"yhat_hi_{level}"] = np.where(closed, 0.0, np.maximum(hi, yhat))
        return out


def _horizon_profile(error: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """g(step): smoothed mean |error| per step over the mean of all steps.

    Steps with fewer than ``MIN_STEP_RESIDUALS`` residuals (say, a weekday every series is closed)
    take the value of their neighbours; when most steps are that thin, the profile is flat.
    """
    horizon = int(steps.max())
    counts = np.bincount(steps, minlength=horizon + 1)[1:]
    overall = float(np.mean(np.abs(error)))
    enough = counts >= MIN_STEP_RESIDUALS
    if enough.sum() < horizon / 2 or overall <= 0:
        return np.ones(horizon)
    mean_abs = np.bincount(steps, weights=np.abs(error), minlength=horizon + 1)[1:] / np.maximum(counts, 1)
    filled = pd.Series(np.where(enough, mean_abs, np.nan)).interpolate(limit_direction="both")
    smooth = filled.rolling(PROFILE_SMOOTHING, center=True, min_periods=1).mean().to_numpy()
    return np.maximum(smooth / overall, 1e-3)


def _conformal_bounds(scores: np.ndarray, level: int) -> tuple[float, float]:
    """Lower and upper conformal quantiles of signed scores for a central ``level``% interval."""
    n = len(scores)
    tail = (1 - level / 100) / 2
    upper_rank = min(n, math.ceil((n + 1) * (1 - tail)))
    lower_rank = max(1, math.floor((n + 1) * tail))
    ordered = np.sort(scores)
    return float(min(ordered[lower_rank - 1], 0.0)), float(max(ordered[upper_rank - 1], 0.0))
