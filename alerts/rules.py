"""Detection rules: each judges one series at one period from its history of deviations.

A rule answers ``None`` when it cannot judge (too few periods, not far enough into a pacing
period, an excused day, too little volume), otherwise a :class:`Finding` that says whether it
fires and with what evidence. Rules look downwards (sales below expectation) unless their
``direction`` is ``up``. docs/detection.md says when to use which.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Annotated, ClassVar, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.deviation import Deviation, aggregate

Direction = Literal["down", "up"]
Z80 = NormalDist().inv_cdf(0.9)  # half-width of an 80% interval in standard deviations
MAX_RATIO = 0.99  # a relative threshold raised by feedback stays below 100%


@dataclass(frozen=True)
class Finding:
    """The verdict of one rule on one series at one period.

    ``evidence`` is the deviation the rule judged (a window, period-to-date or drift aggregate);
    ``score`` is its gap in the rule's direction as a fraction of expected, which incidents
    compare to decide whether things got worse. ``recovered`` is stricter than not firing: the
    gap is no longer material, so an open incident may count the period towards its resolution.
    ``periods`` counts the judged series periods the evidence covers; ``pacing`` names the pacing
    period (week, month, quarter) and ``projected_shortfall`` the amount the whole pacing period
    ends short at the pace so far.
    """

    rule: str
    firing: bool
    recovered: bool
    severity: Literal["warning", "critical"]
    evidence: Deviation
    level: int
    periods: int
    pacing: str | None = None
    direction: Direction = "down"
    projected_shortfall: float | None = None

    @property
    def score(self) -> float:
        """Gap in the rule's direction as a fraction of expected (0.23 = 23% below for ``down``)."""
        ratio = self.evidence.shortfall_ratio
        return ratio if self.direction == "down" else -ratio


class RuleBase(BaseModel):
    """What every rule shares: direction, minimum deltas, minimum volume, severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _THRESHOLDS: ClassVar[tuple[str, ...]] = ()  # the rule's own thresholds feedback raises

    direction: Direction = Field("down", description="down: sales below expectation; up: above it.")
    min_abs_delta: float = Field(0.0, ge=0, description="Ignore gaps smaller than this amount.")
    min_rel_delta: float = Field(0.05, ge=0, lt=1, description="Ignore gaps smaller than this fraction of expected.")
    min_volume: float = Field(0.0, ge=0, description="Do not judge when the evidence expected less than this amount.")
    critical_shortfall: float = Field(0.3, gt=0, lt=1, description="Gap ratio from which a finding is critical.")

    @property
    def rule_name(self) -> str:
        """The name findings and incidents carry."""
        return self.name

    @property
    def history_periods(self) -> int:
        """Periods of history before the judged one that the rule reads."""
        return 0

    def desensitized(self, factor: float) -> "RuleBase":
        """This rule with its thresholds raised by ``factor`` (feedback said it cried wolf)."""
        if factor == 1:
            return self
        update = {"min_abs_delta": self.min_abs_delta * factor, "min_rel_delta": min(self.min_rel_delta * factor, MAX_RATIO)}
        for name in self._THRESHOLDS:
            value = getattr(self, name) * factor
            update[name] = min(value, MAX_RATIO) if getattr(self, name) < 1 else value
        return self.model_copy(update=update)

    def _gap(self, deviation: Deviation) -> float:
        """How far the actual lies on the watched side of the expected value (negative: the other side)."""
        return deviation.shortfall if self.direction == "down" else -deviation.shortfall

    def _ratio(self, deviation: Deviation) -> float:
        return self._gap(deviation) / deviation.expected if deviation.expected > 0 else 0.0

    def _material(self, evidence: Deviation) -> bool:
        """Whether a gap is large enough, absolutely and relatively, to matter."""
        return self._gap(evidence) >= self.min_abs_delta and self._ratio(evidence) >= self.min_rel_delta

    def _beyond(self, deviation: Deviation, level: int) -> bool:
        """Whether the actual lies outside the ``level`` % interval on the watched side."""
        return deviation.actual < deviation.lower(level) if self.direction == "down" else deviation.actual > deviation.upper(level)

    def _severity(self, evidence: Deviation) -> Literal["warning", "critical"]:
        return "critical" if self._ratio(evidence) >= self.critical_shortfall else "warning"

    def _judged(self, history: Sequence[Deviation]) -> list[Deviation] | None:
        """The periods a rule may read, or None when the last one is excused (it is not judged)."""
        if not history or history[-1].excused is not None:
            return None
        return [d for d in history if d.excused is None]

    def _finding(self, firing: bool, recovered: bool, evidence: Deviation, level: int, periods: int, **extra) -> Finding | None:
        if evidence.expected < self.min_volume:
            return None
        return Finding(self.rule_name, firing, recovered, self._severity(evidence), evidence, level, periods, direction=self.direction, **extra)


class BandRule(RuleBase):
    """Fires when the actual is outside the forecast's interval in ``n`` of the last ``m`` periods.

    Use it for "sales have been low for several days": one bad day is noise, three of five is a
    pattern. The evidence is the sum over the last ``m`` judged periods; a breach counts only when
    it is at least ``min_rel_delta`` (12% by default) short.
    """

    kind: Literal["band"]
    name: str = "band"
    min_rel_delta: float = Field(
        0.12, ge=0, lt=1,
        description="Ignore gaps smaller than this fraction of expected: on daily store sales a day less than 12% short is everyday noise.",
    )
    level: Literal[80, 95] = 80
    n: int = Field(3, ge=1)
    m: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _n_within_m(self) -> "BandRule":
        if self.n > self.m:
            raise ValueError(f"n ({self.n}) must not exceed m ({self.m})")
        return self

    @property
    def history_periods(self) -> int:
        return 2 * self.m  # room for excused days inside the window

    def evaluate(self, history: Sequence[Deviation]) -> Finding | None:
        """Judge the last period of ``history`` (deviations of one series, oldest first)."""
        judged = self._judged(history)
        if judged is None or len(judged) < self.n:
            return None
        window = judged[-self.m :]
        breaches = sum(1 for d in window if self._beyond(d, self.level) and self._material(d))
        evidence = aggregate(window)
        firing = breaches >= self.n and self._material(evidence)
        return self._finding(firing, not self._material(evidence), evidence, self.level, len(window))


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the week (Monday), month or quarter that contains ``day``."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def period_days(start: dt.date, period: str) -> int:
    """Days in the week, month or quarter that starts on ``start``."""
    if period == "week":
        return 7
    months = 1 if period == "month" else 3
    return sum(calendar.monthrange(start.year, start.month + i)[1] for i in range(months))


class PacingRule(RuleBase):
    """Fires when the period-to-date actual trails the period-to-date forecast by ``min_shortfall``.

    Use it to hear during the week (or month, quarter) that it is going to end short, before it
    has ended: it judges only complete periods of the series inside the current pacing period,
    never a partial day as if it were whole. A gap within the period-to-date interval (the days'
    ``level`` % intervals combined) is the forecast's everyday error on a noisy series, not a
    pace: it does not fire. An open incident counts a period as recovered only once the gap to
    date is below ``min_rel_delta`` (hysteresis), not merely below ``min_shortfall``.
    """

    _THRESHOLDS: ClassVar[tuple[str, ...]] = ("min_shortfall",)

    kind: Literal["pacing"]
    name: str | None = None
    period: Literal["week", "month", "quarter"] = "week"
    min_shortfall: float = Field(0.15, gt=0, lt=1)
    min_elapsed: int = Field(3, ge=1, description="Judged series periods into the pacing period before judging.")
    level: Literal[80, 95] = Field(95, description="Fire only when the total to date lies outside the days' intervals of this level combined.")

    @property
    def rule_name(self) -> str:
        return self.name or f"pacing_{self.period}"

    def evaluate(self, history: Sequence[Deviation]) -> Finding | None:
        """Judge the pacing period that contains the last period of ``history``."""
        judged = self._judged(history)
        if judged is None:
            return None
        start = period_start(history[-1].period_start, self.period)
        since_start = [d for d in history if d.period_start >= start]
        if since_start[0].period_start != start:
            return None  # no forecast for the start of the period: no honest pace
        to_date = [d for d in judged if d.period_start >= start]
        if len(to_date) < self.min_elapsed:
            return None
        evidence = aggregate(to_date)
        ratio = self._ratio(evidence)
        within_band = self.level in evidence.bounds and not self._beyond(evidence, self.level)
        firing = ratio >= self.min_shortfall and self._material(evidence) and not within_band
        elapsed = (evidence.period_end - start).days + 1
        projected = self._gap(evidence) * period_days(start, self.period) / elapsed
        return self._finding(firing, not self._material(evidence), evidence, 80, len(to_date), pacing=self.period, projected_shortfall=projected)


class CusumRule(RuleBase):
    """One-sided CUSUM on standardized forecast errors: fires on a slow, sustained drift.

    Each judged period's error is divided by the forecast's sigma (read from its 80% interval);
    the statistic adds each error beyond ``k`` sigmas in the rule's direction and falls back by
    ``k`` otherwise. It fires on the period it crosses ``h`` and starts again from zero, as a
    CUSUM does after an alarm, so an open incident hears from it again only if the drift goes
    on; its recent ``recent`` periods back in range count as recovered. It reads the last
    ``window`` periods. Use it where a drop of a few percent a day must be caught within weeks
    without the noise of single bad days; calibrate ``h`` on clean history.
    """

    _THRESHOLDS: ClassVar[tuple[str, ...]] = ("h",)

    kind: Literal["cusum"]
    name: str = "cusum"
    k: float = Field(0.5, ge=0, description="Allowance in sigmas: smaller errors count as noise.")
    h: float = Field(5.0, gt=0, description="Decision threshold in sigmas of accumulated error.")
    window: int = Field(56, ge=2, description="Periods the statistic accumulates over.")
    recent: int = Field(3, ge=1, description="Periods whose gap decides whether the series is back in range.")

    @property
    def history_periods(self) -> int:
        return self.window

    def evaluate(self, history: Sequence[Deviation]) -> Finding | None:
        """Judge the last period of ``history`` from the drift accumulated over the window."""
        judged = self._judged(history)
        if judged is None or len(judged) < self.recent:
            return None
        window = judged[-self.window :]
        statistic, run_start, firing = 0.0, 0, False
        for i, d in enumerate(window):
            sigma = max(d.upper(80) - d.expected, d.expected - d.lower(80)) / Z80
            if not math.isfinite(sigma) or sigma <= 0:
                continue
            statistic = max(0.0, statistic + self._gap(d) / sigma - self.k)
            firing = statistic > self.h
            if firing and i < len(window) - 1:
                statistic = 0.0  # restart after the alarm
            if statistic == 0:
                run_start = i + 1
        run = window[run_start:] or window[-self.recent :]
        evidence = aggregate(run)
        recovered = not self._material(aggregate(window[-self.recent :]))
        return self._finding(firing and self._material(evidence), recovered and not firing, evidence, 80, len(run))


Rule = Annotated[Union[BandRule, PacingRule, CusumRule], Field(discriminator="kind")]


def rule_name(rule: RuleBase) -> str:
    """The name a rule's findings carry."""
    return rule.rule_name
