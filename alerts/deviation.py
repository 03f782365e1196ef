"""The record alerts consume: one period of one series, actual against what was expected."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Deviation:
    """Actual vs. the forecast issued before the period, with the forecast's interval bounds.

    ``bounds`` maps an interval level (80, 95) to its ``(lower, upper)`` pair. ``period_end`` is
    the last day the period covers (inclusive). ``excused`` says why the period is not judged
    (a holiday, an event, a closed day; see ``alerts.calendar``): rules skip it.
    """

    series_id: str
    period_start: dt.date
    period_end: dt.date
    actual: float
    expected: float
    bounds: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    excused: str | None = None

    def lower(self, level: int) -> float:
        """Lower bound of the ``level`` % interval (``-inf`` when the forecast has none)."""
        return self.bounds.get(level, (-math.inf, math.inf))[0]

    def upper(self, level: int) -> float:
        """Upper bound of the ``level`` % interval (``inf`` when the forecast has none)."""
        return self.bounds.get(level, (-math.inf, math.inf))[1]

    @property
    def shortfall(self) -> float:
        """How much the actual fell short of the expected value (negative when above)."""
        return self.expected - self.actual

    @property
    def shortfall_ratio(self) -> float:
        """Shortfall as a fraction of the expected value (0.23 = 23% below; 0 when nothing was expected)."""
        return self.shortfall / self.expected if self.expected > 0 else 0.0

    @property
    def deviation_pct(self) -> float:
        """Relative deviation of the actual from the expected value, in percent (-23.0 = 23% below)."""
        if self.expected == 0:
            return 0.0 if self.actual == 0 else math.copysign(100.0, self.actual)
        return 100.0 * (self.actual - self.expected) / abs(self.expected)


def aggregate(deviations: Sequence[Deviation]) -> Deviation:
    """Sum consecutive periods of one series into one deviation.

    Interval bounds are combined as if the periods' errors were independent: the half-widths add
    in quadrature around the summed expectation. That is narrower than adding the bounds, which
    would treat every period as missing at its worst at once.
    """
    if not deviations:
        raise ValueError("aggregate() needs at least one deviation")
    expected = sum(d.expected for d in deviations)
    levels = set.intersection(*(set(d.bounds) for d in deviations))
    bounds = {}
    for level in sorted(levels):
        below = math.sqrt(sum((d.expected - d.lower(level)) ** 2 for d in deviations))
        above = math.sqrt(sum((d.upper(level) - d.expected) ** 2 for d in deviations))
        bounds[level] = (max(expected - below, 0.0), expected + above)
    return Deviation(
        series_id=deviations[0].series_id,
        period_start=deviations[0].period_start,
        period_end=deviations[-1].period_end,
        actual=sum(d.actual for d in deviations),
        expected=expected,
        bounds=bounds,
    )
