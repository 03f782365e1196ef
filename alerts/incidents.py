"""Incidents: one per series and rule; open -> escalate -> resolve, with a cooldown.

The tracker turns a stream of findings into the few events people should hear about: a message
when an incident opens, another only when it gets clearly worse, one when it resolves, and
nothing while it persists unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alerts.rules import Finding

_RANK = {"warning": 1, "critical": 2}
Feedback = Literal["real", "expected", "false_alarm"]
FEEDBACK_LABELS: tuple[Feedback, ...] = ("real", "expected", "false_alarm")


class IncidentPolicy(BaseModel):
    """How findings become incidents and notifications."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolve_after: int = Field(2, ge=1, description="Judged periods in a row with the shortfall gone before an incident resolves.")
    cooldown: int = Field(3, ge=0, description="Periods after a resolution during which the same rule cannot reopen.")
    escalate_margin: float = Field(0.1, gt=0, lt=1, description="Re-notify only when the shortfall grew by this much (0.1 = 10 points).")


@dataclass(frozen=True)
class Incident:
    """The state of one incident.

    ``notified_score`` is the shortfall last told to people; ``baseline_from`` is the first
    period of the evidence that opened it: while the incident is open, the series is judged
    against forecasts issued before that period, so a model that adapts to the drop cannot
    declare it over. ``notified_event`` and ``notified_period`` name the last announcement, so a
    period judged again after a crash announces the same event again (under the same key).

    The last three fields are people's say, set only through the store's actions (never by the
    tracker): ``acknowledged_at`` (someone is on it), ``snoozed_until`` (quiet until then, UTC)
    and ``feedback`` (was it real, expected, or a false alarm).
    """

    id: str
    series_id: str
    rule: str
    status: Literal["open", "resolved"]
    opened_period: dt.date
    last_period: dt.date
    severity: Literal["warning", "critical"]
    notified_score: float
    baseline_from: dt.date
    notified_event: Literal["opened", "escalated", "resolved"] = "opened"
    notified_period: dt.date | None = None
    ok_streak: int = 0
    resolved_period: dt.date | None = None
    acknowledged_at: dt.datetime | None = None
    snoozed_until: dt.datetime | None = None
    feedback: Feedback | None = None


@dataclass(frozen=True)
class IncidentEvent:
    """Something people should hear about: an incident opened, got worse, or resolved."""

    kind: Literal["opened", "escalated", "resolved"]
    incident: Incident
    finding: Finding
    period: dt.date

    @property
    def key(self) -> str:
        """Idempotency key: the same event of the same incident always has the same key."""
        return f"{self.incident.id}:{self.kind}:{self.period.isoformat()}"


class IncidentStore(Protocol):
    """Where incidents live between runs."""

    def current(self, series_id: str, rule: str) -> Incident | None:
        """The open incident of this series and rule, else the most recently resolved one, else None."""

    def save(self, incident: Incident) -> None:
        """Insert or update an incident by id."""


class MemoryIncidentStore:
    """An :class:`IncidentStore` in a dict, for replays and tests."""

    def __init__(self) -> None:
        self._by_id: dict[str, Incident] = {}

    def current(self, series_id: str, rule: str) -> Incident | None:
        mine = [i for i in self._by_id.values() if i.series_id == series_id and i.rule == rule]
        open_ = [i for i in mine if i.status == "open"]
        if open_:
            return open_[0]
        return max(mine, key=lambda i: i.resolved_period or dt.date.min, default=None)

    def save(self, incident: Incident) -> None:
        self._by_id[incident.id] = incident

    def all(self) -> list[Incident]:
        """Every incident, oldest first."""
        return sorted(self._by_id.values(), key=lambda i: (i.opened_period, i.id))


class IncidentTracker:
    """Applies an :class:`IncidentPolicy` to findings, keeping state in an :class:`IncidentStore`."""

    def __init__(self, policy: IncidentPolicy, store: IncidentStore):
        self.policy = policy
        self.store = store

    def observe(self, series_id: str, rule: str, period: dt.date, finding: Finding | None, periods_since: "PeriodCounter") -> IncidentEvent | None:
        """Take one rule's verdict for ``period``; return the event to announce, if any.

        ``finding`` is None when the rule could not judge: that changes nothing.
        ``periods_since(a, b)`` counts the series' periods from ``a`` to ``b`` (for the cooldown).
        """
        if finding is None:
            return None
        current = self.store.current(series_id, rule)
        if current is not None and current.last_period >= period:
            return self._replayed(current, period, finding)
        if current is not None and current.status == "open":
            return self._update_open(current, period, finding)
        if not finding.firing:
            return None
        if current is not None and current.resolved_period is not None:
            if periods_since(current.resolved_period, period) <= self.policy.cooldown:
                return None
        incident = Incident(
            id=f"{series_id}|{rule}|{period.isoformat()}",
            series_id=series_id,
            rule=rule,
            status="open",
            opened_period=period,
            last_period=period,
            severity=finding.severity,
            notified_score=finding.score,
            baseline_from=finding.evidence.period_start,
            notified_period=period,
        )
        self.store.save(incident)
        return IncidentEvent("opened", incident, finding, period)

    @staticmethod
    def _replayed(incident: Incident, period: dt.date, finding: Finding) -> IncidentEvent | None:
        """The event already decided for ``period`` (judged before a crash), or None."""
        if incident.notified_period == period:
            return IncidentEvent(incident.notified_event, incident, finding, period)
        return None

    def _update_open(self, incident: Incident, period: dt.date, finding: Finding) -> IncidentEvent | None:
        if not finding.firing:
            if not finding.recovered:
                self.store.save(replace(incident, last_period=period, ok_streak=0))
                return None
            streak = incident.ok_streak + 1
            if streak >= self.policy.resolve_after:
                resolved = replace(
                    incident, status="resolved", last_period=period, ok_streak=streak, resolved_period=period,
                    notified_event="resolved", notified_period=period,
                )
                self.store.save(resolved)
                return IncidentEvent("resolved", resolved, finding, period)
            self.store.save(replace(incident, last_period=period, ok_streak=streak))
            return None
        worse = finding.score >= incident.notified_score + self.policy.escalate_margin
        graver = _RANK[finding.severity] > _RANK[incident.severity]
        if worse or graver:
            escalated = replace(
                incident,
                last_period=period,
                ok_streak=0,
                severity=max(finding.severity, incident.severity, key=_RANK.__getitem__),
                notified_score=finding.score,
                notified_event="escalated",
                notified_period=period,
            )
            self.store.save(escalated)
            return IncidentEvent("escalated", escalated, finding, period)
        self.store.save(replace(incident, last_period=period, ok_streak=0))
        return None


class PeriodCounter(Protocol):
    """Counts periods of a series between two period starts."""

    def __call__(self, start: dt.date, end: dt.date) -> int: ...
