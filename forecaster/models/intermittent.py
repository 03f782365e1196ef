"""What counts as intermittent sales: a history where many trading periods have none at all."""

from __future__ import annotations

import numpy as np

INTERMITTENT_ZERO_SHARE = 0.3  # a history with a larger share of zero trading periods is intermittent
CLOSED_WEEKDAY_SHARE = 0.9  # a weekday without sales this often is a closing day, not a lack of demand


def zero_share(values: np.ndarray, freq: str) -> float:
    """The share of trading periods without sales: missing values and, for daily series, closing weekdays left out."""
    trading = np.isfinite(values)
    if freq == "D":
        weekday = np.arange(len(values)) % 7  # a regular daily series: equal positions mod 7 are one weekday
        for day in range(7):
            same = trading & (weekday == day)
            if same.sum() >= 4 and np.mean(values[same] == 0) > CLOSED_WEEKDAY_SHARE:
                trading &= weekday != day
    return float(np.mean(values[trading] == 0)) if trading.any() else 0.0


def is_intermittent(values: np.ndarray, freq: str) -> bool:
    """Whether more than ``INTERMITTENT_ZERO_SHARE`` of the trading periods have no sales."""
    return zero_share(values, freq) > INTERMITTENT_ZERO_SHARE
