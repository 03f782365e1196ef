"""Incidents and the monitor's progress, in SQL (implements ``alerts.incidents.IncidentStore``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from alerts.incidents import FEEDBACK_LABELS, Incident
from forecaster.batches import batches
from forecaster.errors import InputError
from forecaster.store import utc_aware, utc_naive
from forecaster.store.tables import incident_actions, incidents, monitor_state

# Set only by people's actions: the tracker's saves never overwrite them.
_ACTION_FIELDS = ("acknowledged_at", "snoozed_until", "feedback")
_IDS_PER_QUERY = 500  # ids in one IN list


@dataclass(frozen=True)
class IncidentAction:
    """One thing a person did to an incident: ``ack``, ``snooze`` (value: until, ISO UTC) or ``feedback`` (value: label)."""

    incident_id: str
    action: str
    value: str
    actor: str
    note: str | None
    at: dt.datetime


def _incident(row) -> Incident:
    values = dict(row)
    for name in ("acknowledged_at", "snoozed_until"):
        values[name] = utc_aware(values[name])
    return Incident(**values)


class SqlIncidentStore:
    """Incidents keyed by id, with people's actions on them."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def save(self, incident: Incident) -> None:
        """Insert or update the tracker's state of an incident (people's actions are left as they are)."""
        self.save_all([incident])

    def save_all(self, saved: Sequence[Incident]) -> None:
        """``save`` each incident, all in one transaction: one statement for the updates, one for the inserts."""
        latest = {incident.id: asdict(incident) for incident in saved}  # an incident saved twice: its last state
        if not latest:
            return
        tracked = [name for name in next(iter(latest.values())) if name not in (*_ACTION_FIELDS, "id")]
        with self.engine.begin() as conn:
            stored = set()
            for chunk in batches(list(latest), _IDS_PER_QUERY):
                stored.update(conn.execute(sa.select(incidents.c.id).where(incidents.c.id.in_(chunk))).scalars())
            updates = [{"_id": i, **{f"_{name}": values[name] for name in tracked}} for i, values in latest.items() if i in stored]
            if updates:
                changes = {name: sa.bindparam(f"_{name}") for name in tracked}
                conn.execute(incidents.update().where(incidents.c.id == sa.bindparam("_id")).values(changes), updates)
            inserts = [values for i, values in latest.items() if i not in stored]
            for values in inserts:
                for name in ("acknowledged_at", "snoozed_until"):
                    values[name] = values[name] and utc_naive(values[name])
            if inserts:
                conn.execute(incidents.insert(), inserts)

    def list(self, status: str | None = None, series_id: str | None = None) -> list[Incident]:
        """Incidents, newest first, optionally only those with ``status`` or of one series."""
        query = sa.select(incidents).order_by(incidents.c.opened_period.desc(), incidents.c.id)
        if status:
            query = query.where(incidents.c.status == status)
        if series_id:
            query = query.where(incidents.c.series_id == series_id)
        with self.engine.connect() as conn:
            return [_incident(row) for row in conn.execute(query).mappings()]

    def latest(self) -> list[Incident]:
        """Each series' latest incident (the one opened last: its open one, else its last resolved)."""
        last = sa.select(incidents.c.series_id, sa.func.max(incidents.c.opened_period).label("opened")).group_by(incidents.c.series_id).subquery()
        query = sa.select(incidents).join(last, sa.and_(incidents.c.series_id == last.c.series_id, incidents.c.opened_period == last.c.opened))
        with self.engine.connect() as conn:
            rows = [_incident(row) for row in conn.execute(query.order_by(incidents.c.series_id, incidents.c.id)).mappings()]
        return list({i.series_id: i for i in rows}.values())  # one per series, should two share a day

    def get(self, incident_id: str) -> Incident:
        """The incident with this id; InputError when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).mappings().first()
        if row is None:
            raise InputError(f"no incident with id {incident_id!r} (see `salescast alerts incidents`)")
        return _incident(row)

    def acknowledge(self, incident_id: str, actor: str, at: dt.datetime) -> Incident:
        """Someone is on it: later escalations of this incident are not announced."""
        return self._act(incident_id, "ack", at.isoformat(), actor, None, at, acknowledged_at=utc_naive(at))

    def snooze(self, incident_id: str, until: dt.datetime, actor: str, at: dt.datetime) -> Incident:
        """No message about this incident before ``until``."""
        if until <= at:
            raise InputError(f"snooze: {until.isoformat()} is not in the future")
        return self._act(incident_id, "snooze", until.isoformat(), actor, None, at, snoozed_until=utc_naive(until))

    def label(self, incident_id: str, label: str, actor: str, at: dt.datetime, note: str | None = None) -> Incident:
        """Record whether the incident was real, expected or a false alarm (the last label counts)."""
        if label not in FEEDBACK_LABELS:
            raise InputError(f"feedback: unknown label {label!r}; use one of {', '.join(FEEDBACK_LABELS)}")
        return self._act(incident_id, "feedback", label, actor, note, at, feedback=label)

    def _act(self, incident_id: str, action: str, value: str, actor: str, note: str | None, at: dt.datetime, **change) -> Incident:
        with self.engine.begin() as conn:
            done = conn.execute(incidents.update().where(incidents.c.id == incident_id).values(change)).rowcount
            if not done:
                raise InputError(f"no incident with id {incident_id!r} (see `salescast alerts incidents`)")
            conn.execute(incident_actions.insert().values(
                incident_id=incident_id, action=action, value=value, actor=actor, note=note, at=utc_naive(at),
            ))
        return self.get(incident_id)

    def actions(self, incident_id: str) -> list[IncidentAction]:
        """What people did to this incident, oldest first."""
        query = sa.select(incident_actions).where(incident_actions.c.incident_id == incident_id).order_by(incident_actions.c.id)
        with self.engine.connect() as conn:
            return [
                IncidentAction(r.incident_id, r.action, r.value, r.actor, r.note, utc_aware(r.at))
                for r in conn.execute(query)
            ]

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        """Series -> label -> how many of its incidents carry that label."""
        query = (
            sa.select(incidents.c.series_id, incidents.c.feedback, sa.func.count())
            .where(incidents.c.feedback.is_not(None))
            .group_by(incidents.c.series_id, incidents.c.feedback)
        )
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for series_id, label, n in conn.execute(query):
                counts.setdefault(series_id, {})[label] = n
        return counts


class MonitorState:
    """The last period each rule has judged per series, so no period is judged twice."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def all(self) -> dict[tuple[str, str], dt.date]:
        """(series, rule) -> last judged period."""
        with self.engine.connect() as conn:
            return {(r.series_id, r.rule): r.last_period for r in conn.execute(sa.select(monitor_state))}

    def advance(self, judged: Mapping[tuple[str, str], dt.date]) -> None:
        """Record in one transaction that each (series, rule) has judged up to its period."""
        if not judged:
            return
        with self.engine.begin() as conn:
            known = {
                (r.series_id, r.rule)
                for chunk in batches(sorted({s for s, _ in judged}), 500)
                for r in conn.execute(sa.select(monitor_state.c.series_id, monitor_state.c.rule).where(monitor_state.c.series_id.in_(chunk)))
            }
            rows = [{"s": s, "r": r, "last_period": p} for (s, r), p in judged.items()]
            updates = [row for row in rows if (row["s"], row["r"]) in known]
            if updates:
                where = (monitor_state.c.series_id == sa.bindparam("s"), monitor_state.c.rule == sa.bindparam("r"))
                conn.execute(monitor_state.update().where(*where).values(last_period=sa.bindparam("last_period")), updates)
            inserts = [{"series_id": row["s"], "rule": row["r"], "last_period": row["last_period"]} for row in rows if (row["s"], row["r"]) not in known]
            if inserts:
                conn.execute(monitor_state.insert(), inserts)

