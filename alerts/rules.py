"""Detection rules: each judges one series at one period from its history of deviations.

A rule answers ``None`` when it cannot judge yet (too few periods, not far enough into a pacing
period), otherwise a :class:`Finding` that says whether it fires and with what evidence. Rules
look only downwards (sales below expectation): an upside surprise is good news, not an incident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.deviation import Deviation, aggregate


@dataclass(frozen=True)
class Finding:
    """The verdict of one rule on one series at one period.

    ``evidence`` is the deviation the rule judged (a window or period-to-date aggregate);
    ``score`` is its shortfall ratio, which incidents compare to decide whether things got worse.
    ``recovered`` is stricter than not firing: the shortfall is no longer material, so an open
    incident may count the period towards its resolution. ``periods`` counts the series periods
    the evidence covers; ``pacing`` names the pacing
    period (week, month, quarter) for period-to-date findings.
    """

    rule: str
    firing: bool
    recovered: bool
    severity: Literal["warning", "critical"]
    evidence: Deviation
    level: int
    periods: int
    pacing: str | None = None

    @property
    def score(self) -> float:
        """Shortfall as a fraction of expected (0.23 = 23% below)."""
        return self.evidence.shortfall_ratio


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_abs_delta: float = Field(0.0, ge=0, description="Ignore shortfalls smaller than this amount.")
    min_rel_delta: float = Field(0.05, ge=0, lt=1, description="Ignore shortfalls smaller than this fraction of expected.")
    critical_shortfall: float = Field(0.3, gt=0, lt=1, description="Shortfall ratio from which a finding is critical.")

    def _material(self, evidence: Deviation) -> bool:
        """Whether a shortfall is large enough, absolutely and relatively, to matter."""
        return evidence.shortfall >= self.min_abs_delta and evidence.shortfall_ratio >= self.min_rel_delta

    def _severity(self, evidence: Deviation) -> Literal["warning", "critical"]:
        return "critical" if evidence.shortfall_ratio >= self.critical_shortfall else "warning"


class BandRule(_Rule):
    """Fires when the actual is below the forecast's lower bound in ``n`` of the last ``m`` periods.

    Use it for "sales have been low for several days": one bad day is noise, three of five is a
    pattern. The evidence is the sum over the last ``m`` periods.
    """

    kind: Literal["band"]
    name: str = "band"
    level: Literal[80, 95] = 80
    n: int = Field(3, ge=1)
    m: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _n_within_m(self) -> "BandRule":
        if self.n > self.m:
            raise ValueError(f"n ({self.n}) must not exceed m ({self.m})")
        return self

    def evaluate(self, history: Sequence[Deviation]) -> Finding | None:
        """Judge the last period of ``history`` (deviations of one series, oldest first)."""
        window = list(history[-self.m :])
        if len(window) < self.n:
            return None
        breaches = sum(1 for d in window if d.actual < d.lower(self.level) and self._material(d))
        evidence = aggregate(window)
        firing = breaches >= self.n and self._material(evidence)
        return Finding(self.name, firing, not self._material(evidence), self._severity(evidence), evidence, self.level, len(window))


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the week (Monday), month or quarter that contains ``day``."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


class PacingRule(_Rule):
    """Fires when the period-to-date actual trails the period-to-date forecast by ``min_shortfall``.

    Use it to hear during the week (or month, quarter) that it is going to end short, before it
    has ended: it judges only complete periods of the series inside the current pacing period,
    never a partial day as if it were whole.
    """

    kind: Literal["pacing"]
    name: str | None = None
    period: Literal["week", "month", "quarter"] = "week"
    min_shortfall: float = Field(0.15, gt=0, lt=1)
    min_elapsed: int = Field(3, ge=1, description="Complete series periods into the pacing period before judging.")

    @property
    def rule_name(self) -> str:
        """The name incidents are keyed by."""
        return self.name or f"pacing_{self.period}"

    def evaluate(self, history: Sequence[Deviation]) -> Finding | None:
        """Judge the pacing period that contains the last period of ``history``."""
        if not history:
            return None
        start = period_start(history[-1].period_start, self.period)
        to_date = [d for d in history if d.period_start >= start]
        if len(to_date) < self.min_elapsed or to_date[0].period_start != start:
            return None  # too early, or no forecast for the start of the period: no honest pace
        evidence = aggregate(to_date)
        firing = evidence.shortfall_ratio >= self.min_shortfall and self._material(evidence)
        return Finding(self.rule_name, firing, not firing, self._severity(evidence), evidence, 80, len(to_date), self.period)


Rule = Annotated[Union[BandRule, PacingRule], Field(discriminator="kind")]


def rule_name(rule: BandRule | PacingRule) -> str:
    """The name a rule's incidents and findings carry."""
    return rule.rule_name if isinstance(rule, PacingRule) else rule.name
