"""Run bookkeeping: every run has an id, a status and a summary (with per-step timings and counts)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import sqlalchemy as sa

from forecaster.store import utc_aware, utc_naive
from forecaster.store.tables import runs


class RunRepository:
    """Start and finish runs."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def start(self, job: str, as_of: dt.datetime, now: dt.datetime) -> str:
        """Record a run as started; returns its id."""
        run_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(id=run_id, job=job, as_of=utc_naive(as_of), started_at=utc_naive(now), status="running"))
        return run_id

    def finish(self, run_id: str, status: str, summary: dict, now: dt.datetime) -> None:
        """Record how a run ended."""
        with self.engine.begin() as conn:
            conn.execute(
                runs.update().where(runs.c.id == run_id).values(status=status, summary=json.dumps(summary, default=str), finished_at=utc_naive(now))
            )

    def latest(self, job: str | None = None) -> dict | None:
        """The most recently started run (of ``job`` when given): id, job, as_of, times, status, summary."""
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(1)
        if job is not None:
            query = query.where(runs.c.job == job)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        record = dict(row)
        for name in ("as_of", "started_at", "finished_at"):
            record[name] = utc_aware(record[name])
        record["summary"] = json.loads(record["summary"]) if record["summary"] else {}
        return record
