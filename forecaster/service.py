"""`salescast serve`: scheduled jobs, one leader among processes, catch-up, graceful stop, reload.

Scheduler choices (APScheduler 3):

- ``max_instances=1`` and a single worker thread: runs never overlap, so two runs can never
  deliver the same outbox at once.
- ``coalesce=True``: ticks that piled up (a long run, a suspended host) run once, not N times.
- ``misfire_grace_time`` (``service.misfire_grace_seconds``): a tick may start that late.
- Downtime: each tick is claimed in ``job_ticks`` before it runs and marked finished after. When
  a process becomes leader (at start-up or on takeover) it runs, once per job, the latest
  scheduled time that has no finished tick; older missed ticks are covered by that run.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import os
import signal
import socket
import threading
import uuid
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from forecaster import settings as config
from forecaster.errors import ForecasterError
from forecaster.settings import JobSettings, Settings
from forecaster.store import Store

log = logging.getLogger(__name__)
LEASE = "scheduler"


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A trigger from five cron fields, or six with seconds first; ValueError when invalid."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    if len(fields) == 6:
        names = ("second", "minute", "hour", "day", "month", "day_of_week")
        return CronTrigger(**dict(zip(names, fields)), timezone=timezone)
    raise ValueError(f"cron {expression!r} must have 5 fields (minute hour day month day-of-week) or 6 (seconds first)")


def trigger_for(job: JobSettings, settings: Settings) -> CronTrigger:
    """The trigger of a configured job, in its time zone."""
    return cron_trigger(job.cron, job.timezone or settings.timezone)


def previous_fire(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The latest time at or before ``now`` the trigger fires (None if none within 400 days)."""
    for window in (dt.timedelta(minutes=2), dt.timedelta(days=2), dt.timedelta(days=400)):
        latest, candidate = None, trigger.get_next_fire_time(None, now - window)
        while candidate is not None and candidate <= now:
            latest, candidate = candidate, trigger.get_next_fire_time(candidate, candidate + dt.timedelta(microseconds=1))
        if latest is not None:
            return latest
    return None


def release_free_memory() -> None:
    """Hand the heap a run freed back to the system (glibc keeps it otherwise, and a service's RSS creeps up)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator returns memory on its own terms


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Service:
    """The long-running process: schedules jobs, keeps or waits for the lease, runs claimed ticks."""

    def __init__(self, config_path: Path | None, settings: Settings):
        self.config_path = config_path
        self.settings = settings
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = Store(self.settings.store.url).create()
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self._halt = threading.Event()
        self._leader_until: dt.datetime | None = None
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.settings.service.misfire_grace_seconds},
            timezone=self.settings.timezone,
        )

    @property
    def is_leader(self) -> bool:
        """Whether this process holds an unexpired lease."""
        return self._leader_until is not None and self._leader_until > _now()

    def serve(self, health: tuple[str, int] | None = None) -> int:
        """Run until SIGTERM/SIGINT; SIGHUP reloads the config; ``health``: (host, port) for GET /health."""
        from forecaster.health import serve_health

        endpoint = serve_health(self.store, *health) if health else None
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        self._schedule()
        self.scheduler.start()
        heartbeat = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        heartbeat.start()
        log.info("serving %d job(s) as %s", len(self.settings.jobs), self.holder)
        while not self.stopping.wait(0.5):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
        log.info("stopping: no new runs; the step in progress finishes")
        self.scheduler.shutdown(wait=True)
        self._halt.set()
        heartbeat.join()
        self.store.leases.release(LEASE, self.holder)
        if endpoint is not None:
            endpoint.shutdown()
        self.store.close()
        return 0

    def reload(self) -> None:
        """Re-read the config file and reschedule; a bad file keeps the running config."""
        try:
            fresh = config.load(self.config_path)
        except ForecasterError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return
        self.settings = fresh
        self._schedule()
        log.info("config reloaded: %s", ", ".join(f"{j.name} '{j.cron}'" for j in fresh.jobs))

    def _schedule(self) -> None:
        self.scheduler.remove_all_jobs()
        for job in self.settings.jobs:
            self.scheduler.add_job(self._tick, trigger_for(job, self.settings), args=[job.name], id=job.name, name=job.name)

    def _heartbeat(self) -> None:
        """Acquire or renew the lease every third of its length; on becoming leader, catch up."""
        seconds = self.settings.service.lease_seconds
        while not self._halt.is_set():
            now = _now()
            was_leader = self.is_leader
            try:
                held = self.store.leases.acquire(LEASE, self.holder, seconds, now)
            except (ForecasterError, SQLAlchemyError) as exc:
                log.error("lease: %s", exc)
                held = False
            self._leader_until = now + dt.timedelta(seconds=seconds) if held else None
            if held and not was_leader and not self.stopping.is_set():
                log.info("became leader")
                self.scheduler.add_job(self._catch_up, id="catch-up", replace_existing=True)
            self._halt.wait(seconds / 3)

    def _catch_up(self) -> None:
        """Run, once per job, the latest scheduled time that has not run to completion."""
        for job in self.settings.jobs:
            scheduled = previous_fire(trigger_for(job, self.settings), _now())
            if scheduled is not None and not self.store.ticks.is_finished(job.name, scheduled):
                self._run(job.name, scheduled)

    def _tick(self, name: str) -> None:
        job = next((j for j in self.settings.jobs if j.name == name), None)
        scheduled = previous_fire(trigger_for(job, self.settings), _now()) if job else None
        if scheduled is not None:
            self._run(name, scheduled)

    def _run(self, name: str, scheduled: dt.datetime) -> None:
        """Claim the tick and run the job as of its scheduled time, if leader and not stopping."""
        from forecaster.engine import Engine

        if self.stopping.is_set() or not self.is_leader:
            return
        if not self.store.ticks.claim(name, scheduled, self.holder, _now()):
            return
        try:
            summary = Engine(self.settings, self.store).run(scheduled, job=name, stop=self.stopping)
        except ForecasterError as exc:
            log.error("job %s at %s failed: %s", name, scheduled.isoformat(), exc)
            return
        finally:
            release_free_memory()
        if summary.interrupted:
            return
        self.store.ticks.finish(name, scheduled, summary.run_id, _now())
        retention = self.settings.store.retention_days
        if retention:
            removed = self.store.prune(retention, _now())
            log.info("retention: removed %s", removed)
