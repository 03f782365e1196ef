"""Seasonal naive: repeat the last season, intervals from seasonal-difference residuals."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from forecaster.models.base import SeasonalModel

# Below this many residuals the empirical quantiles of a 95% interval are too noisy: use a normal approximation.
MIN_EMPIRICAL_RESIDUALS = 50


class SeasonalNaive(SeasonalModel):
    """Forecast each period by the same period one season earlier.

    Intervals come from the empirical distribution of the seasonal differences over the fit window,
    widened with sqrt(k) for the k-th season ahead. A history shorter than one season falls back to
    the last value with random-walk intervals from the first differences.
    """

    name = "naive"
    cleans_spikes = True

    def _fit(self, y: pd.Series, freq: str) -> None:
        m = self._season(freq)
        values = y.to_numpy()
        self._last_season = values[-m:] if len(values) >= m else values[-1:]
        if len(values) > m:
            self._residuals = values[m:] - values[:-m]
        elif len(values) > 1:
            # Too short for seasonal differences: step-to-step changes give a wide, random-walk interval.
            self._residuals = np.diff(values)
        else:
            self._residuals = np.abs(values)

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        m = len(self._last_season)
        steps = np.arange(horizon)
        yhat = self._last_season[steps % m]
        widen = np.sqrt(steps // m + 1)
        frame = pd.DataFrame({"yhat": yhat})
        for level in levels:
            lo_q, hi_q = self._quantiles(level)
            frame[f"yhat_lo_{level}"] = yhat + lo_q * widen
            frame[f"yhat_hi_{level}"] = yhat + hi_q * widen
        return frame

    def _quantiles(self, level: int) -> tuple[float, float]:
        """Lower and upper residual quantiles for a central interval of ``level`` percent."""
        tail = (1 - level / 100) / 2
        residuals = self._residuals
        if len(residuals) >= MIN_EMPIRICAL_RESIDUALS:
            lo, hi = np.quantile(residuals, [tail, 1 - tail])
            return float(lo), float(hi)
        sigma = float(np.sqrt(np.mean(residuals**2))) if len(residuals) else 0.0
        z = NormalDist().inv_cdf(1 - tail)
        return -z * sigma, z * sigma
