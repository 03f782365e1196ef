"""`salescast serve` as real processes: one run per tick across processes, takeover, crash recovery."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import requests
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from alerts.notifiers.memory import MemoryNotifier
from forecaster.cli import app
from forecaster.engine import Engine, RunSummary
from forecaster.replay import SimulatedClock, run_times
from forecaster.settings import load
from forecaster.store import Store
from servers import HTTPServer, free_port

LONDON = "Europe/London"
REAL_END = pd.Timestamp("2011-10-21")
DROP_FROM = pd.Timestamp("2011-10-10")
DEADLINE = 90.0


def shifted_orders(path: Path, online_retail_orders: pd.DataFrame, last_day: dt.date) -> int:
    """Real Online Retail orders Jun-Oct 2011 (40% of their amount from 10 Oct), moved by whole weeks
    so that 20 Oct 2011 becomes ``last_day``'s weekday-aligned neighbour; returns the shift in days."""
    orders = online_retail_orders.copy()
    when = pd.to_datetime(orders["ordered_at"])
    orders = orders[(when >= "2011-06-01") & (when < REAL_END)].copy()
    when = pd.to_datetime(orders["ordered_at"])
    orders.loc[when >= DROP_FROM, "amount"] = (orders.loc[when >= DROP_FROM, "amount"] * 0.4).round(2)
    shift = (pd.Timestamp(last_day) - (REAL_END - pd.Timedelta(days=1))).days // 7 * 7
    orders["ordered_at"] = (when + pd.Timedelta(days=shift)).dt.strftime("%Y-%m-%d %H:%M:%S")
    orders.to_csv(path, index=False)
    return shift


def write_config(path: Path, store_url: str, orders: Path, cron: str, channels: list[dict], **extra) -> Path:
    config = {
        "timezone": LONDON,
        "currency": "£",
        "store": {"url": store_url},
        "source": {
            "kind": "csv", "path": str(orders),
            "columns": {"order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount", "status": "status", "segments": {"country": "country"}},
            "statuses": {"sale": ["completed"], "refund": ["refunded"]},
        },
        "series": {"by": ["country"], "top": 2, "total": True, "min_history": 56},
        "forecast": {"model": "naive"},
        "monitor": {"rules": [{"kind": "band", "n": 3, "m": 5, "min_rel_delta": 0.1}, {"kind": "pacing", "period": "week", "min_shortfall": 0.2}]},
        "channels": channels,
        "delivery": {"backoff_seconds": 1},
        "jobs": [{"name": "sales", "cron": cron}],
        "service": {"lease_seconds": 2},
        **extra,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def start(config: Path, log: Path, *options: str, **env: str) -> subprocess.Popen:
    """A `salescast serve` process logging JSON lines to ``log``."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "forecaster", "serve", "--config", str(config), "--log-format", "json", *options],
            stdout=handle, stderr=handle, env={**os.environ, **env}, cwd=config.parent,
        )


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], object], what: str, *processes: subprocess.Popen) -> object:
    """Poll ``condition`` until truthy; fail with the processes' state if it never is."""
    give_up = time.monotonic() + DEADLINE
    while time.monotonic() < give_up:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}; exit codes {[p.poll() for p in processes]}")


def rows(url: str, query: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    finally:
        engine.dispose()


def test_two_processes_run_each_tick_once_and_the_survivor_takes_over(tmp_path, postgres_url, online_retail_orders):
    orders = tmp_path / "orders.csv"
    shifted_orders(orders, online_retail_orders, dt.date.today() - dt.timedelta(days=1))
    config = write_config(tmp_path / "salescast.yaml", postgres_url, orders, "*/2 * * * * *", [{"kind": "directory", "path": str(tmp_path / "outbox")}])
    Store(postgres_url).create().close()
    port = free_port()
    first = start(config, tmp_path / "a.log", "--health-port", str(port))
    second = start(config, tmp_path / "b.log")
    try:
        ticks = lambda: rows(postgres_url, "SELECT scheduled_at, holder, finished_at FROM job_ticks ORDER BY scheduled_at")  # noqa: E731
        wait_for(lambda: len([t for t in ticks() if t.finished_at]) >= 4, "four finished ticks", first, second)
        assert first.poll() is None and second.poll() is None, "both processes serve"
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        before = ticks()
        assert health.json()["leader"] == before[0].holder
        assert len({t.holder for t in before}) == 1, "one leader runs every tick"
        leader_pid = int(before[0].holder.split(":")[1])
        leader, survivor = (first, second) if leader_pid == first.pid else (second, first)
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        wait_for(lambda: sum(str(survivor.pid) == t.holder.split(":")[1] and t.finished_at is not None for t in ticks()) >= 3, "ticks run by the survivor", survivor)
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=DEADLINE) == 0, "a stopped service exits 0"
    finally:
        stop(first, second)
    after = ticks()
    times = [t.scheduled_at for t in after]
    assert all(t.second % 2 == 0 and t.microsecond == 0 for t in times), "ticks are the scheduled times"
    runs = rows(postgres_url, "SELECT as_of, COUNT(*) AS n FROM runs WHERE job = 'sales' GROUP BY as_of")
    assert runs and max(r.n for r in runs) <= 2, "a tick runs again only when its runner died"
    once = {r.as_of for r in runs if r.n == 1}
    assert len(once) >= len(runs) - 1, "every tick but the one the leader died in ran exactly once"
    steps = json.loads(rows(postgres_url, "SELECT summary FROM runs WHERE status = 'succeeded' LIMIT 1")[0].summary)["steps"]
    assert set(steps) == {"sync", "forecast", "monitor", "pipeline", "pace", "deliver"} and all("seconds" in s and "count" in s for s in steps.values())
    records = [json.loads(line) for name in ("a.log", "b.log") for line in (tmp_path / name).read_text().splitlines()]
    assert any(r.get("job") == "sales" and r.get("run_id") for r in records), "JSON logs carry the job and run id"


def prepare_vintages(config: Path, first: dt.date, last: dt.date) -> None:
    """Earlier forecasts, as the service would have issued them on the days before: sync and forecast only."""
    settings = load(config)
    store = Store(settings.store.url).create()
    clock = SimulatedClock(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    engine = Engine(settings, store, notifiers={}, clock=clock)
    try:
        for moment in run_times(first, last, "D", LONDON):
            clock.now = moment
            engine.sync(moment)
            end = pd.Timestamp(moment.date()) - pd.Timedelta(days=1)
            engine.forecast(moment, end, engine.watched_series(end), RunSummary(as_of=moment))
    finally:
        store.close()


@pytest.mark.parametrize("crash_at", ["after_sync", "mid_forecast", "before_send"])
def test_a_run_killed_at_any_step_completes_after_a_restart_with_one_delivery_per_alert(tmp_path, online_retail_orders, crash_at):
    today = pd.Timestamp.now(tz=LONDON).date()
    orders = tmp_path / "orders.csv"
    shifted_orders(orders, online_retail_orders, today - dt.timedelta(days=1))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with HTTPServer() as slack:
        channels = [{"kind": "slack", "webhook_url": f"{slack.url}/services/T0/B0/secret"}]
        # One series per batch, so "mid_forecast" stops after the first of three series is stored.
        config = write_config(tmp_path / "salescast.yaml", url, orders, "0 0 * * *", channels, parallel={"batch_size": 1})
        prepare_vintages(config, today - dt.timedelta(days=18), today - dt.timedelta(days=1))
        crashed = start(config, tmp_path / "crashed.log", SALESCAST_CRASH_AT=crash_at)
        restarted = None
        try:
            assert crashed.wait(timeout=DEADLINE) == -signal.SIGKILL, "the crash point fired"
            if crash_at == "before_send":
                assert rows(url, "SELECT COUNT(*) AS n FROM messages")[0].n > 0 and not slack.requests, "persisted, not sent"
            restarted = start(config, tmp_path / "restarted.log")
            wait_for(lambda: rows(url, "SELECT finished_at FROM job_ticks WHERE finished_at IS NOT NULL"), "the tick to finish", restarted)
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=DEADLINE) == 0
        finally:
            stop(crashed, *([restarted] if restarted else []))
        posts = [r.json()["text"] for r in slack.requests]
    messages = rows(url, "SELECT key FROM messages")
    deliveries = rows(url, "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
    assert any("below forecast" in p for p in posts), "the drop was announced"
    assert len(posts) == len(messages) == len(set(posts)), "exactly one delivery per alert"
    assert [tuple(d) for d in deliveries] == [("sent", len(messages))]
    ticks = rows(url, "SELECT attempts FROM job_ticks")
    assert [t.attempts for t in ticks] == [2], "the restart resumed the interrupted tick"


def test_sighup_reloads_the_jobs_and_status_reports_them(tmp_path, online_retail_orders):
    orders = tmp_path / "orders.csv"
    shifted_orders(orders, online_retail_orders, dt.date.today() - dt.timedelta(days=1))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    channels = [{"kind": "directory", "path": str(tmp_path / "outbox")}]
    config = write_config(tmp_path / "salescast.yaml", url, orders, "*/2 * * * * *", channels)
    Store(url).create().close()
    service = start(config, tmp_path / "serve.log")
    finished = lambda job: rows(url, f"SELECT scheduled_at FROM job_ticks WHERE job = '{job}' AND finished_at IS NOT NULL")  # noqa: E731
    try:
        wait_for(lambda: finished("sales"), "a tick of the first job", service)
        write_config(config, url, orders, "*/3 * * * * *", channels, jobs=[{"name": "renamed", "cron": "*/3 * * * * *"}])
        service.send_signal(signal.SIGHUP)
        wait_for(lambda: finished("renamed"), "a tick of the reloaded job", service)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=DEADLINE) == 0
    finally:
        stop(service)
    assert all(pd.Timestamp(t.scheduled_at).second % 3 == 0 for t in finished("renamed"))
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [j["name"] for j in report["jobs"]] == ["renamed"] and report["jobs"][0]["last_run"]["status"] in ("succeeded", "partial")
    assert report["leader"] is None, "a clean stop releases the lease"


def test_retention_forgets_old_forecasts_and_sent_deliveries_but_keeps_recent_ones(tmp_path, online_retail_orders):
    today = pd.Timestamp.now(tz=LONDON).date()
    orders = tmp_path / "orders.csv"
    shifted_orders(orders, online_retail_orders, today - dt.timedelta(days=1))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = write_config(tmp_path / "salescast.yaml", url, orders, "0 0 * * *", [{"kind": "console"}])
    prepare_vintages(config, today - dt.timedelta(days=18), today - dt.timedelta(days=1))
    store = Store(url).create()
    try:
        now = dt.datetime.now(dt.timezone.utc)
        summary = Engine(load(config), store, notifiers={"memory": MemoryNotifier()}).run(now)
        assert summary.sent > 0
        count = lambda table: rows(url, f"SELECT COUNT(*) AS n FROM {table}")[0].n  # noqa: E731
        forecasts = count("forecasts")
        assert store.prune(30, now) == {"forecasts": 0, "pipeline_snapshots": 0, "deliveries": 0, "messages": 0}
        removed = store.prune(30, now + dt.timedelta(days=35))
        assert 0 < removed["forecasts"] < forecasts, "forecasts for recent periods stay"
        assert removed["deliveries"] == removed["messages"] == summary.sent and count("messages") == 0
    finally:
        store.close()
