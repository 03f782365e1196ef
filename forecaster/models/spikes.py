"""Isolated spikes in a history, found against a robust baseline and replaced by it before a model fits.

A day with five times the usual sales (a bulk order, a data glitch) or with almost none (a power
cut) is not the new normal: seasonal naive would repeat it a week later and exponential
smoothing would bend its level towards it. Each period is compared with the median of its
neighbours (the same weekday in the four weeks either side for daily series, the adjacent
periods for weekly and monthly ones). A run of at most ``MAX_RUN`` periods that is far off that
baseline, in robust units of the whole series' relative deviations, is a spike; a longer run (at
half that distance) is a change the model must see, and so is a deviation that recurs a year
apart (Christmas).
"""

from __future__ import annotations

import warnings

import numpy as np

from forecaster.models.intermittent import is_intermittent, run_lengths

NEIGHBOURS = {"D": (7, 14, 21, 28), "W": (1, 2, 3), "M": (1, 2)}  # offsets either side that give the baseline
YEAR = {"D": 364, "W": 52, "M": 12}  # a deviation also seen this far away is seasonal
MAX_RUN = {"D": 2, "W": 1, "M": 1}  # longer runs of deviations are a change, not a spike
THRESHOLD = 5.0  # robust standard deviations of the relative deviations
MIN_DEVIATION = 0.5  # and at least this far from the baseline, relative to it


def spikes(values: np.ndarray, freq: str, state: np.ndarray | None = None) -> np.ndarray:
    """A boolean mask of the spikes in ``values`` (a regular series at ``freq``; nan where closed).

    ``state`` numbers what the known inputs were doing in each period (which regressors were on):
    a period is compared only with neighbours in the same state, so a promotion day with promotion
    days and a holiday, which has no such neighbours, not at all.
    """
    n = len(values)
    none = np.zeros(n, dtype=bool)
    if n < 2 * NEIGHBOURS[freq][-1] or is_intermittent(values, freq):  # an intermittent series' spikes are its sales
        return none
    baseline = _neighbour_median(values, NEIGHBOURS[freq], state)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = np.where(baseline > 0, values / baseline - 1, np.nan)
    if not np.isfinite(deviation).any():
        return none
    centre = np.nanmedian(deviation)
    spread = 1.4826 * np.nanmedian(np.abs(deviation - centre))
    if not spread > 0:
        return none
    off = np.nan_to_num(deviation - centre) / max(THRESHOLD * spread, MIN_DEVIATION)
    far = np.abs(off) > 1
    far &= ~_seen_a_year_apart(far, np.sign(off), YEAR[freq])
    # A run is measured at half the threshold, so that a drop that persists only just below it is still a change.
    run = np.where(off > 0, run_lengths(off > 0.5), run_lengths(off < -0.5))
    return far & (run <= MAX_RUN[freq])


def without_spikes(values: np.ndarray, freq: str, state: np.ndarray | None = None) -> np.ndarray:
    """``values`` with each spike replaced by the median of its neighbours (in the same ``state``)."""
    mask = spikes(values, freq, state)
    if not mask.any():
        return values
    cleaned = values.copy()
    cleaned[mask] = _neighbour_median(values, NEIGHBOURS[freq], state)[mask]
    return cleaned


def _neighbour_median(values: np.ndarray, offsets: tuple[int, ...], state: np.ndarray | None = None) -> np.ndarray:
    """Per period, the median of the values ``offsets`` periods before and after it that exist (and share its ``state``)."""
    n = len(values)
    shifted = np.full((2 * len(offsets), n), np.nan)
    for i, k in enumerate(offsets):
        if k >= n:
            continue
        before, after = values[: n - k].copy(), values[k:].copy()
        if state is not None:
            differ = state[: n - k] != state[k:]
            before[differ], after[differ] = np.nan, np.nan
        shifted[2 * i, k:], shifted[2 * i + 1, : n - k] = before, after
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a period without any such neighbour gets nan
        return np.nanmedian(shifted, axis=0)


def _seen_a_year_apart(far: np.ndarray, sign: np.ndarray, year: int) -> np.ndarray:
    """Where a deviation of the same sign is also flagged one year earlier or later."""
    seen = np.zeros(len(far), dtype=bool)
    if len(far) > year:
        same = far[year:] & far[:-year] & (sign[year:] == sign[:-year])
        seen[year:] |= same
        seen[:-year] |= same
    return seen
