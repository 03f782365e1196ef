"""What an operator asks of the service: `salescast status` and the HTTP health endpoint."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from forecaster.service import LEASE, previous_fire, trigger_for
from forecaster.settings import Settings
from forecaster.store import Store


def status(settings: Settings, store: Store, now: dt.datetime) -> dict:
    """Schedule, last and next run per job, the leader, open incidents and pending deliveries."""
    jobs = []
    for job in settings.jobs:
        trigger = trigger_for(job, settings)
        last = store.runs.latest(job.name)
        jobs.append(
            {
                "name": job.name, "cron": job.cron, "timezone": job.timezone or settings.timezone,
                "last_scheduled": _iso(previous_fire(trigger, now)),
                "last_finished_tick": _iso(store.ticks.last_finished(job.name)),
                "last_run": _run(last),
                "next_run": _iso(trigger.get_next_fire_time(None, now)),
            }
        )
    incidents = store.incidents.list("open")
    return {
        "leader": store.leases.holder(LEASE, now),
        "jobs": jobs,
        "open_incidents": [{"id": i.id, "series": i.series_id, "rule": i.rule, "severity": i.severity, "since": str(i.opened_period)} for i in incidents],
        "pending_deliveries": store.outbox.counts().get("pending", 0),
    }


def health(store: Store, now: dt.datetime) -> tuple[int, dict]:
    """HTTP status and body: 503 when the latest run failed or no process holds the lease."""
    leader = store.leases.holder(LEASE, now)
    last = _run(store.runs.latest())
    failing = last is not None and last["status"] == "failed"
    state = "no leader" if leader is None else "last run failed" if failing else "ok"
    return (200 if state == "ok" else 503), {"status": state, "last_run": last, "leader": leader}


def serve_health(store: Store, host: str, port: int) -> ThreadingHTTPServer:
    """Answer GET /health (any path) in a daemon thread; call ``shutdown()`` on the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            code, body = health(store, dt.datetime.now(dt.timezone.utc))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def _run(record: dict | None) -> dict | None:
    if record is None:
        return None
    summary = record["summary"]
    return {
        "id": record["id"], "job": record["job"], "status": record["status"], "as_of": _iso(record["as_of"]),
        "started_at": _iso(record["started_at"]), "finished_at": _iso(record["finished_at"]), "steps": summary.get("steps", {}),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
