"""Intermittent sales (many periods without any): Croston's method in the Teunter-Syntetos-Babai form."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.base import Model

SMOOTHING = (0.05, 0.1, 0.2, 0.3)  # candidate weights for the demand probability and the demand size
MIN_DEMANDS = 2  # periods with sales needed to say anything about their size
RECENT_SIZES = 100  # the sizes the interval quantiles come from


class TSB(Model):
    """Forecast = probability of a sale in a period x the size of a sale, each exponentially smoothed.

    Unlike Croston's original, the probability decays in periods without sales, so a series that
    stops selling is forecast towards zero instead of keeping its last rate. Both weights are
    chosen from ``SMOOTHING`` by one-step-ahead squared error. The forecast is flat; the interval
    of each period is the mixture of "no sale" (probability 1 - p) and the recent sale sizes
    rescaled to the current size, so its lower bound is 0 whenever a period without sales is that
    likely.
    """

    name = "tsb"

    def _fit(self, y: pd.Series, freq: str) -> None:
        values = y.to_numpy()
        if (values < 0).any():
            raise ModelError(f"tsb: sales cannot be negative, got {values.min()} on {y.index[values.argmin()].date()}")
        sizes = values[values > 0]
        if len(sizes) < MIN_DEMANDS:
            raise ModelError(f"tsb: needs at least {MIN_DEMANDS} periods with sales, got {len(sizes)}")
        best = min(
            (_smooth(values, alpha, beta) for alpha, beta in itertools.product(SMOOTHING, SMOOTHING)),
            key=lambda fit: fit[2],
        )
        self._probability, self._size = best[0], best[1]
        recent = sizes[-RECENT_SIZES:]
        self._relative_sizes = recent / recent.mean()

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        p, size = self._probability, self._size
        frame = pd.DataFrame({"yhat": np.full(horizon, p * size)})
        for level in levels:
            tail = (1 - level / 100) / 2
            frame[f"yhat_lo_{level}"] = self._quantile(tail)
            frame[f"yhat_hi_{level}"] = self._quantile(1 - tail)
        return frame

    def _quantile(self, q: float) -> float:
        """The ``q`` quantile of one period's sales: 0 with probability 1 - p, else a rescaled recent size."""
        p = self._probability
        if q <= 1 - p:
            return 0.0
        return float(self._size * np.quantile(self._relative_sizes, (q - (1 - p)) / p))


def _smooth(values: np.ndarray, alpha: float, beta: float) -> tuple[float, float, float]:
    """Final probability and size after smoothing ``values`` with weights ``alpha`` (size), ``beta`` (probability), and the one-step squared error."""
    sold = values > 0
    p = float(np.mean(sold))
    size = float(values[sold][0])
    error = 0.0
    for value, has_sale in zip(values, sold):
        error += (value - p * size) ** 2
        p += beta * (has_sale - p)
        if has_sale:
            size += alpha * (value - size)
    return p, size, error
