"""Incidents: one per series and slowdown; open -> escalate -> resolve, with a cooldown.

The tracker turns the findings of every rule on a series into the few events people should hear
about: a message when an incident opens, another only when it gets clearly worse, one when it
resolves, and nothing while it persists unchanged. Whichever rule fires first opens the series'
incident; other rules firing on the same slowdown can only escalate it, and it resolves when
every rule is back in range. People's snooze and acknowledgement silence its events
(:func:`silenced`); their feedback makes the series' rules less sensitive (:meth:`IncidentPolicy.sensitivity`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.rules import Finding

_RANK = {"warning": 1, "critical": 2}
Feedback = Literal["real", "expected", "false_alarm"]
FEEDBACK_LABELS: tuple[Feedback, ...] = ("real", "expected", "false_alarm")


class IncidentPolicy(BaseModel):
    """How findings become incidents and notifications."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolve_after: int = Field(2, ge=1, description="Judged periods in a row with every rule back in range before an incident resolves.")
    cooldown: int = Field(3, ge=0, description="Periods after a resolution during which the series cannot reopen.")
    escalate_margin: float = Field(0.1, gt=0, lt=1, description="Re-notify only when the shortfall grew by this much (0.1 = 10 points).")
    feedback_step: float = Field(0.25, ge=0, description="Each 'false_alarm' or 'expected' label on a series raises its rules' thresholds by this fraction.")
    feedback_max: float = Field(2.0, ge=1, description="Feedback raises thresholds at most by this factor.")

    def sensitivity(self, labels: Mapping[str, int]) -> float:
        """The factor a series' rule thresholds are multiplied by, from its feedback label counts."""
        noisy = labels.get("false_alarm", 0) + labels.get("expected", 0)
        return min(self.feedback_max, (1 + self.feedback_step) ** noisy)


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

    def list(self, status: str | None = None, series_id: str | None = None) -> list[Incident]:
        """Incidents, newest first, optionally only those with ``status`` or of one series."""

    def save(self, incident: Incident) -> None:
        """Insert or update the tracker's state of an incident by id."""

    def save_all(self, incidents: Sequence[Incident]) -> None:
        """``save`` each of ``incidents``, at once where the store can (one transaction)."""

    def latest(self) -> list[Incident]:
        """Each series' latest incident (the one opened last: its open one, else its last resolved)."""

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        """Series -> feedback label -> how many of its incidents carry it."""


class MemoryIncidentStore:
    """An :class:`IncidentStore` in a dict, for replays and tests."""

    def __init__(self) -> None:
        self._by_series: dict[str, dict[str, Incident]] = {}

    def list(self, status: str | None = None, series_id: str | None = None) -> list[Incident]:
        pools = [self._by_series.get(series_id, {})] if series_id is not None else self._by_series.values()
        mine = [i for pool in pools for i in pool.values() if status in (None, i.status)]
        return sorted(mine, key=lambda i: (i.opened_period, i.id), reverse=True)

    def save(self, incident: Incident) -> None:
        self._by_series.setdefault(incident.series_id, {})[incident.id] = incident

    def save_all(self, incidents: Sequence[Incident]) -> None:
        for incident in incidents:
            self.save(incident)

    def latest(self) -> list[Incident]:
        return [max(pool.values(), key=lambda i: (i.opened_period, i.id)) for pool in self._by_series.values() if pool]

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for incident in self.all():
            if incident.feedback is not None:
                labels = counts.setdefault(incident.series_id, {})
                labels[incident.feedback] = labels.get(incident.feedback, 0) + 1
        return counts

    def all(self) -> list[Incident]:
        """Every incident, oldest first."""
        return sorted((i for pool in self._by_series.values() for i in pool.values()), key=lambda i: (i.opened_period, i.id))


class BufferedIncidents(MemoryIncidentStore):
    """Each series' latest incident of another store, read once into memory; saves are kept and
    written to that store together by :meth:`flush`, so a monitor pass over many series asks it
    nothing more, writes in a few transactions and holds one incident per series, however long
    the history. Enough for :class:`IncidentTracker`; the caller flushes before anything that
    must follow the incidents' state (a message in the outbox, the judged periods)."""

    def __init__(self, store: IncidentStore) -> None:
        super().__init__()
        self.store = store
        self._unsaved: dict[str, Incident] = {}
        for incident in store.latest():
            super().save(incident)

    def save(self, incident: Incident) -> None:
        super().save(incident)
        self._unsaved[incident.id] = incident

    def flush(self) -> None:
        """Write the incidents saved since the last flush to the other store."""
        if self._unsaved:
            self.store.save_all(list(self._unsaved.values()))
            self._unsaved.clear()

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        return self.store.feedback_counts()


def silenced(event: IncidentEvent, now: dt.datetime) -> bool:
    """Whether people asked not to hear about ``event``: its incident is snoozed, or acknowledged and it is an escalation."""
    incident = event.incident
    if incident.snoozed_until is not None and now < _aware(incident.snoozed_until):
        return True
    return event.kind == "escalated" and incident.acknowledged_at is not None and _aware(incident.acknowledged_at) <= now


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _worst(findings: Sequence[Finding]) -> Finding:
    return max(findings, key=lambda f: (_RANK[f.severity], f.score))


class IncidentTracker:
    """Applies an :class:`IncidentPolicy` to findings, keeping state in an :class:`IncidentStore`."""

    def __init__(self, policy: IncidentPolicy, store: IncidentStore):
        self.policy = policy
        self.store = store

    def current(self, series_id: str) -> Incident | None:
        """The series' open incident, else its most recently resolved one, else None."""
        mine = self.store.list(series_id=series_id)
        open_ = [i for i in mine if i.status == "open"]
        if open_:
            return open_[0]
        return max(mine, key=lambda i: (i.resolved_period or dt.date.min, i.opened_period), default=None)

    def observe(self, series_id: str, period: dt.date, findings: Sequence[Finding | None], periods_since: "PeriodCounter") -> IncidentEvent | None:
        """Take every rule's verdict on ``period``; return the event to announce, if any.

        A None finding (the rule could not judge) changes nothing; without any finding, nothing
        changes. ``periods_since(a, b)`` counts the series' periods from ``a`` to ``b`` (for the cooldown).
        """
        judged = [f for f in findings if f is not None]
        if not judged:
            return None
        current = self.current(series_id)
        if current is not None and current.last_period >= period:
            return self._replayed(current, period, judged)
        firing = [f for f in judged if f.firing]
        if current is not None and current.status == "open":
            return self._update_open(current, period, judged, firing)
        if not firing:
            return None
        if current is not None and current.resolved_period is not None:
            if periods_since(current.resolved_period, period) <= self.policy.cooldown:
                return None
        finding = _worst(firing)
        incident = Incident(
            id=f"{series_id}|{finding.rule}|{period.isoformat()}",
            series_id=series_id,
            rule=finding.rule,
            status="open",
            opened_period=period,
            last_period=period,
            severity=finding.severity,
            notified_score=finding.score,
            baseline_from=min(f.evidence.period_start for f in firing),
            notified_period=period,
        )
        self.store.save(incident)
        return IncidentEvent("opened", incident, finding, period)

    @staticmethod
    def _replayed(incident: Incident, period: dt.date, judged: list[Finding]) -> IncidentEvent | None:
        """The event already decided for ``period`` (judged before a crash), or None."""
        if incident.notified_period != period:
            return None
        own = [f for f in judged if f.rule == incident.rule]
        return IncidentEvent(incident.notified_event, incident, own[0] if own else _worst(judged), period)

    def _update_open(self, incident: Incident, period: dt.date, judged: list[Finding], firing: list[Finding]) -> IncidentEvent | None:
        if not firing:
            if not all(f.recovered for f in judged):
                self.store.save(replace(incident, last_period=period, ok_streak=0))
                return None
            streak = incident.ok_streak + 1
            if streak >= self.policy.resolve_after:
                resolved = replace(
                    incident, status="resolved", last_period=period, ok_streak=streak, resolved_period=period,
                    notified_event="resolved", notified_period=period,
                )
                self.store.save(resolved)
                own = [f for f in judged if f.rule == incident.rule]
                return IncidentEvent("resolved", resolved, own[0] if own else judged[0], period)
            self.store.save(replace(incident, last_period=period, ok_streak=streak))
            return None
        finding = _worst(firing)
        worse = finding.score >= incident.notified_score + self.policy.escalate_margin
        graver = _RANK[finding.severity] > _RANK[incident.severity]
        if worse or graver:
            escalated = replace(
                incident,
                last_period=period,
                ok_streak=0,
                severity=max(finding.severity, incident.severity, key=_RANK.__getitem__),
                notified_score=max(finding.score, incident.notified_score),
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
