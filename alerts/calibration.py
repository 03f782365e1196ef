"""Bands from the series' own record: conformal bounds on the forecast errors judged before.

A model's intervals say how uncertain the model believes it is; the deviations the monitor has
already judged say how far off its forecasts, issued ``lead`` periods ahead, really were. Each
period's 80% and 95% bounds are replaced by the conformal quantiles of ``actual / expected``
over the series' earlier periods within ``days`` (not excused, expected above 0), once
there are enough of them for the level (9 for 80%, 39 for 95%); until then the model's bounds
stay. Periods from ``before`` on (an open incident's evidence) are left out, so a drop does not
widen the band that should show it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from alerts.deviation import Deviation


def needed(level: int) -> int:
    """Earlier errors needed for finite conformal bounds of a central ``level``% band."""
    return math.ceil(round(200 / (100 - level), 9)) - 1


def ratio_bounds(ratios: np.ndarray, level: int) -> tuple[float, float]:
    """Conformal lower and upper quantiles of ``ratios`` for a central ``level``% band."""
    n = len(ratios)
    tail = (1 - level / 100) / 2
    ordered = np.sort(ratios)
    lower = ordered[max(1, math.floor((n + 1) * tail)) - 1]
    upper = ordered[min(n, math.ceil((n + 1) * (1 - tail))) - 1]
    return float(min(lower, 1.0)), float(max(upper, 1.0))


def calibrated(deviations: Sequence[Deviation], days: int, before: dt.date | None = None) -> list[Deviation]:
    """``deviations`` (one series, oldest first), each with bounds from the errors of the ``days`` before it."""
    if days <= 0:
        return list(deviations)
    return [calibrate(dev, deviations[:i], days, before) for i, dev in enumerate(deviations)]


def calibrate(deviation: Deviation, earlier: Sequence[Deviation], days: int, before: dt.date | None = None) -> Deviation:
    """``deviation`` with bounds from the errors of ``earlier`` deviations within ``days`` before it (and before ``before``)."""
    start = deviation.period_start - dt.timedelta(days=days)
    ratios = np.array([
        d.actual / d.expected for d in earlier
        if d.excused is None and d.expected > 0 and start <= d.period_start < deviation.period_start
        and (before is None or d.period_start < before)
    ])
    bounds = dict(deviation.bounds)
    for level in bounds:
        if len(ratios) >= needed(level):
            low, high = ratio_bounds(ratios, level)
            bounds[level] = (max(deviation.expected * low, 0.0), deviation.expected * high)
    return replace(deviation, bounds=bounds)
