"""Incidents and the monitor's progress, in SQL (implements ``alerts.incidents.IncidentStore``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import sqlalchemy as sa

from alerts.incidents import Incident
from forecaster.store.tables import incidents, monitor_state


class SqlIncidentStore:
    """Incidents keyed by id; the open one per series and rule is the current one."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def current(self, series_id: str, rule: str) -> Incident | None:
        query = (
            sa.select(incidents)
            .where(incidents.c.series_id == series_id, incidents.c.rule == rule)
            .order_by((incidents.c.status == "open").desc(), incidents.c.last_period.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return Incident(**row) if row else None

    def save(self, incident: Incident) -> None:
        values = asdict(incident)
        with self.engine.begin() as conn:
            done = conn.execute(incidents.update().where(incidents.c.id == incident.id).values(values)).rowcount
            if not done:
                conn.execute(incidents.insert().values(values))

    def list(self, status: str | None = None) -> list[Incident]:
        """Incidents, newest first, optionally only those with ``status``."""
        query = sa.select(incidents).order_by(incidents.c.opened_period.desc(), incidents.c.id)
        if status:
            query = query.where(incidents.c.status == status)
        with self.engine.connect() as conn:
            return [Incident(**row) for row in conn.execute(query).mappings()]


class MonitorState:
    """The last period each rule has judged per series, so no period is judged twice."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def all(self) -> dict[tuple[str, str], dt.date]:
        """(series, rule) -> last judged period."""
        with self.engine.connect() as conn:
            return {(r.series_id, r.rule): r.last_period for r in conn.execute(sa.select(monitor_state))}

    def advance(self, series_id: str, rule: str, period: dt.date) -> None:
        """Record that ``period`` has been judged."""
        with self.engine.begin() as conn:
            done = conn.execute(
                monitor_state.update().where(monitor_state.c.series_id == series_id, monitor_state.c.rule == rule).values(last_period=period)
            ).rowcount
            if not done:
                conn.execute(monitor_state.insert().values(series_id=series_id, rule=rule, last_period=period))
