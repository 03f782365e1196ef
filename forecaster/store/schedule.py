"""The service's coordination: a leader lease and the ticks each job has claimed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from forecaster.store import utc_aware, utc_naive
from forecaster.store.tables import job_ticks, leases


class Leases:
    """Named leases with expiry: whoever holds an unexpired lease is the leader.

    Acquire and renew are one conditional UPDATE (``WHERE expires_at < now OR holder = me``),
    which every database applies atomically; the first holder INSERTs the row. Process clocks
    must agree to well within the lease time.
    """

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def acquire(self, name: str, holder: str, seconds: float, now: dt.datetime) -> bool:
        """Take or renew lease ``name`` for ``seconds``; True when ``holder`` holds it now."""
        stamp = utc_naive(now)
        values = {"holder": holder, "expires_at": stamp + dt.timedelta(seconds=seconds)}
        condition = sa.or_(leases.c.expires_at < stamp, leases.c.holder == holder)
        with self.engine.begin() as conn:
            if conn.execute(leases.update().where(leases.c.name == name, condition).values(values)).rowcount:
                return True
        try:
            with self.engine.begin() as conn:
                conn.execute(leases.insert().values(name=name, **values))
        except IntegrityError:
            return False
        return True

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (on a clean shutdown), so another process need not wait."""
        with self.engine.begin() as conn:
            conn.execute(leases.update().where(leases.c.name == name, leases.c.holder == holder).values(expires_at=dt.datetime(1970, 1, 1)))

    def holder(self, name: str, now: dt.datetime) -> str | None:
        """Who holds an unexpired lease ``name`` (None when nobody does)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
        return row.holder if row is not None and row.expires_at >= utc_naive(now) else None


class JobTicks:
    """One row per (job, scheduled time): a tick is claimed before it runs, so it runs once."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def claim(self, job: str, scheduled_at: dt.datetime, holder: str, now: dt.datetime) -> bool:
        """Claim a tick; True when it is new, or unfinished and claimed by another (dead) holder."""
        key = {"job": job, "scheduled_at": utc_naive(scheduled_at)}
        try:
            with self.engine.begin() as conn:
                conn.execute(job_ticks.insert().values(**key, holder=holder, claimed_at=utc_naive(now), attempts=1))
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            taken = conn.execute(
                job_ticks.update()
                .where(job_ticks.c.job == job, job_ticks.c.scheduled_at == key["scheduled_at"], job_ticks.c.finished_at.is_(None), job_ticks.c.holder != holder)
                .values(holder=holder, claimed_at=utc_naive(now), attempts=job_ticks.c.attempts + 1)
            )
            return bool(taken.rowcount)

    def finish(self, job: str, scheduled_at: dt.datetime, run_id: str, now: dt.datetime) -> None:
        """Record that a claimed tick's run completed."""
        with self.engine.begin() as conn:
            conn.execute(
                job_ticks.update()
                .where(job_ticks.c.job == job, job_ticks.c.scheduled_at == utc_naive(scheduled_at))
                .values(run_id=run_id, finished_at=utc_naive(now))
            )

    def last_finished(self, job: str) -> dt.datetime | None:
        """The latest scheduled time of ``job`` whose run completed."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(job_ticks.c.scheduled_at)).where(job_ticks.c.job == job, job_ticks.c.finished_at.is_not(None))).scalar()
        return utc_aware(value)

    def is_finished(self, job: str, scheduled_at: dt.datetime) -> bool:
        """Whether the tick of ``job`` at ``scheduled_at`` has run to completion."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(job_ticks.c.finished_at).where(job_ticks.c.job == job, job_ticks.c.scheduled_at == utc_naive(scheduled_at))
            ).first()
        return row is not None and row.finished_at is not None
