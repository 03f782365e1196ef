"""What counts as intermittent sales: a history where many trading periods have none at all."""

from __future__ import annotations

import numpy as np

INTERMITTENT_ZERO_SHARE = 0.3  # a history with a larger share of zero trading periods is intermittent
CLOSED_WEEKDAY_SHARE = 0.9  # a weekday without sales this often is a closing day, not a lack of demand
LONG_GAP = {"D": 28, "W": 8, "M": 3}  # this many periods in a row without sales are a gap in the data or a closure


def zero_share(values: np.ndarray, freq: str) -> float:
    """The share of trading periods without sales.

    Not trading: missing (closed) periods, long runs without sales (``LONG_GAP``: a store shut for
    refurbishment, months missing from an export) and, for daily series, closing weekdays.
    """
    trading = np.isfinite(values)
    if freq == "D":
        weekday = np.arange(len(values)) % 7  # a regular daily series: equal positions mod 7 are one weekday
        for day in range(7):
            same = trading & (weekday == day)
            if same.sum() >= 4 and np.mean(values[same] == 0) > CLOSED_WEEKDAY_SHARE:
                trading &= weekday != day
    nothing = ~(values > 0)  # no sales or closed
    trading &= ~(nothing & (run_lengths(nothing) >= LONG_GAP[freq]))
    return float(np.mean(values[trading] == 0)) if trading.any() else 0.0


def is_intermittent(values: np.ndarray, freq: str) -> bool:
    """Whether more than ``INTERMITTENT_ZERO_SHARE`` of the trading periods have no sales."""
    return zero_share(values, freq) > INTERMITTENT_ZERO_SHARE


def run_lengths(mask: np.ndarray) -> np.ndarray:
    """Per position, the length of the run of True values it belongs to (0 where False)."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(int)))
    starts, ends = edges[::2], edges[1::2]
    lengths = np.zeros(len(mask), dtype=int)
    for start, end in zip(starts, ends):
        lengths[start:end] = end - start
    return lengths
