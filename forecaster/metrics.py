"""Accuracy metrics of a forecast against actuals: scaled errors, percentage errors, bias, intervals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _arrays(*values: npt.ArrayLike) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"actual has shape {arrays[0].shape} but predicted has shape {arrays[1].shape}")
    return arrays


def seasonal_scale(insample: npt.ArrayLike, season_length: int, power: int = 1) -> float:
    """Mean |seasonal difference|**power of the in-sample series (first differences when that is 0 or too short); nan if none."""
    insample = np.asarray(insample, dtype=float)
    for lag in (season_length, 1):
        if len(insample) > lag:
            scale = float(np.mean(np.abs(insample[lag:] - insample[:-lag]) ** power))
            if scale > 0:
                return scale
    return float("nan")


def mase(actual: npt.ArrayLike, predicted: npt.ArrayLike, insample: npt.ArrayLike, season_length: int) -> float:
    """Mean absolute error scaled by the in-sample mean absolute seasonal difference.

    When the seasonal scale is 0 (or the in-sample series is shorter than a season) the mean
    absolute first difference is used; when that is 0 too the result is nan.
    """
    actual, predicted = _arrays(actual, predicted)
    return float(np.mean(np.abs(actual - predicted))) / seasonal_scale(insample, season_length)


def rmsse(actual: npt.ArrayLike, predicted: npt.ArrayLike, insample: npt.ArrayLike, season_length: int) -> float:
    """Root mean squared error scaled by the in-sample mean squared seasonal difference (M5's RMSSE)."""
    actual, predicted = _arrays(actual, predicted)
    return float(np.sqrt(np.mean((actual - predicted) ** 2) / seasonal_scale(insample, season_length, power=2)))


def rmspe(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Root mean squared percentage error as a fraction, over actuals that are not 0 (Kaggle's Rossmann metric)."""
    actual, predicted = _arrays(actual, predicted)
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(np.sqrt(np.mean(((actual[nonzero] - predicted[nonzero]) / actual[nonzero]) ** 2)))


def smape(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Symmetric mean absolute percentage error in percent (0..200); periods where both are 0 count as 0."""
    actual, predicted = _arrays(actual, predicted)
    if actual.size == 0:
        return float("nan")
    denominator = np.abs(actual) + np.abs(predicted)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(denominator > 0, 2 * np.abs(actual - predicted) / denominator, 0.0)
    return float(100 * np.mean(terms))


def bias(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Total forecast minus total actual, as a fraction of the total actual (nan when that is 0)."""
    actual, predicted = _arrays(actual, predicted)
    total = float(np.sum(actual))
    return float(np.sum(predicted) - total) / abs(total) if total else float("nan")


def coverage(actual: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike) -> float:
    """Share of ``actual`` values inside ``[lo, hi]`` (nan when empty)."""
    actual, lo, hi = (np.asarray(a, dtype=float) for a in (actual, lo, hi))
    if actual.size == 0:
        return float("nan")
    return float(np.mean((actual >= lo) & (actual <= hi)))


def relative_width(actual: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike) -> float:
    """Mean interval width as a fraction of the mean actual (nan when that is 0)."""
    actual, lo, hi = (np.asarray(a, dtype=float) for a in (actual, lo, hi))
    level = float(np.mean(np.abs(actual))) if actual.size else 0.0
    return float(np.mean(hi - lo)) / level if level else float("nan")
