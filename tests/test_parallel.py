"""The same job on every backend: in-process, worker processes, a Dask LocalCluster, and a Dask
scheduler with workers started as separate processes on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alerts.calendar import Calendar
from forecaster.batches import SERIES_PER_READ
from forecaster.engine import RunSummary
from forecaster.errors import ConfigError
from forecaster.forecast_step import ForecastStep
from forecaster.histories import worker_url
from forecaster.parallel import QUIET_WORKERS, map_batches, quiet_worker_config
from forecaster.replay import run_times
from forecaster.series_job import SeriesJob, run_series_job
from forecaster.settings import ParallelSettings
from forecaster.store import Store
from real_series import DailyEngine, rossmann_long

STORES = [1, 3, 7, 9, 12]
DROP = ("2015-06-08", "2015-06-30", 0.6)  # store 3 sells 40% less from 8 June
GERMANY = {"country": "DE"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readme_worker_config() -> str:
    """The Dask config file the README gives for the workers an operator starts."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", readme[readme.index("Workers you start yourself"):], re.S).group(1)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, with the README's worker config; yields the scheduler address."""
    from distributed import Client

    config = tmp_path_factory.mktemp("dask") / "salescast.yaml"
    config.write_text(_readme_worker_config(), encoding="utf-8")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": {**os.environ, "DASK_CONFIG": str(config)}}
    address = f"tcp://127.0.0.1:{_free_port()}"
    host, port = address.removeprefix("tcp://").split(":")
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", host, "--port", port, "--no-dashboard"], **quiet)
    workers = [
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard"], **quiet)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dask scheduler and workers did not come up"
            time.sleep(0.5)
        yield address
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            process.wait(timeout=30)


def _backends(dask_scheduler: str) -> dict[str, ParallelSettings]:
    return {
        "local": ParallelSettings(),
        "processes": ParallelSettings(backend="processes", workers=2, batch_size=2),
        "dask local cluster": ParallelSettings(backend="dask", workers=2, batch_size=2),
        "dask scheduler": ParallelSettings(backend="dask", scheduler=dask_scheduler, batch_size=2),
    }


def _job(y, model: str) -> SeriesJob:
    return SeriesJob(y, "D", 14, (80, 95), model, ("naive", "ets"), 2, {}, Calendar(country="DE"))


def test_every_backend_returns_every_outcome_and_reports_failures(dask_scheduler):
    long = rossmann_long(STORES, since="2014-06-01")
    series = {sid: g.set_index("ds")["y"].asfreq("D", fill_value=0.0) for sid, g in long.groupby("unique_id")}
    jobs = [(sid, _job(y, "ets")) for sid, y in series.items()]
    jobs += [("unknown model", _job(series["store 1"], "no_such_model")), ("not a series", _job(None, "naive"))]
    results = {}
    for name, settings in _backends(dask_scheduler).items():
        outcomes = {o.key: o for batch in map_batches(run_series_job, jobs, settings) for o in batch}
        assert set(outcomes) == {key for key, _ in jobs}, name
        assert "unknown model 'no_such_model'" in outcomes["unknown model"].error and outcomes["unknown model"].detail is None
        assert re.match(r"[A-Za-z]+Error: ", outcomes["not a series"].error) and "Traceback" in outcomes["not a series"].detail
        results[name] = {k: o.value.forecast for k, o in outcomes.items() if o.error is None}
    for name, forecasts in results.items():
        assert forecasts.keys() == results["local"].keys()
        for key, frame in forecasts.items():
            pd.testing.assert_frame_equal(frame, results["local"][key], obj=f"{name}: {key}")


def test_the_engine_issues_the_same_forecasts_and_alerts_on_every_backend(tmp_path, dask_scheduler):
    long = rossmann_long(STORES, since="2014-11-01", changes=[DROP])
    backends = _backends(dask_scheduler)
    backends["dask scheduler, workers read the store"] = backends["dask scheduler"].model_copy(update={"workers_read_store": True})
    runs = {}
    for name, settings in backends.items():
        engine = DailyEngine(long, tmp_path / name.replace(" ", "_").replace(",", ""), monitor={"calendar": GERMANY},
                             forecast={"model": "auto"}, parallel=settings.model_dump())
        try:
            summaries = engine.run_days(dt.date(2015, 6, 1), dt.date(2015, 6, 14))
            vintages = engine.store.forecasts.issued_before([f"store {s}" for s in STORES], dt.date(2015, 6, 1), dt.date(2015, 7, 31))
            runs[name] = (vintages.sort_values(["series_id", "issued_at", "ds"], ignore_index=True),
                          [(m.key, m.event, m.actual, m.expected) for m in engine.sent()], [s.forecast for s in summaries])
        finally:
            engine.close()
    vintages, alerts, counts = runs["local"]
    assert any(event == "opened" and "store 3" in key for key, event, *_ in alerts), alerts
    assert counts == [len(STORES)] * 14
    for name, (other_vintages, other_alerts, other_counts) in runs.items():
        pd.testing.assert_frame_equal(other_vintages, vintages, obj=name)
        assert other_alerts == alerts, name
        assert other_counts == counts, name


def test_workers_have_a_read_block_of_series_in_flight_and_no_more():
    """While the engine reads the next block of histories the workers have work; more is not taken."""
    taken = []

    def items():
        for i in range(3 * SERIES_PER_READ):
            taken.append(i)
            yield str(i), -i

    outcomes = map_batches(abs, items(), ParallelSettings(backend="processes", workers=2, batch_size=10))
    first = next(outcomes)
    assert len(taken) == SERIES_PER_READ, "submitted before the first batch is waited for"
    values = [o.value for batch in [first, *outcomes] for o in batch]
    assert sorted(values) == list(range(3 * SERIES_PER_READ))


def test_workers_reading_their_own_histories_hold_back_the_short_series_as_the_engine_does(tmp_path, store_url):
    """On worker processes each task reads its batch's histories from the store (every supported
    database); a store only weeks old is waiting, not failed, as when the engine reads."""
    long = rossmann_long([1, 3], since="2015-03-01")
    young = rossmann_long([7], since="2015-05-15").assign(unique_id="new store")
    runs = {}
    for name, parallel, url in (("local", {}, None), ("processes", {"backend": "processes", "workers": 2, "batch_size": 2}, store_url)):
        engine = DailyEngine(pd.concat([long, young]), tmp_path / name, url=url, parallel=parallel)
        try:
            [summary] = engine.run_days(dt.date(2015, 6, 1), dt.date(2015, 6, 1))
            vintages = engine.store.forecasts.issued_before(["store 1", "store 3"], dt.date(2015, 6, 1), dt.date(2015, 7, 31))
            runs[name] = (summary.forecast, summary.waiting, summary.failed, vintages.groupby("series_id").size().to_dict())
        finally:
            engine.close()
    assert runs["processes"] == runs["local"]
    assert runs["local"][:3] == (2, ["new store"], {})


def test_a_batch_whose_histories_cannot_be_read_fails_each_of_its_series_with_the_reason(tmp_path):
    """A worker's read that fails is reported against every series of its batch; none is lost silently."""
    engine = DailyEngine(rossmann_long([1, 3, 7]), tmp_path, parallel={"backend": "processes", "workers": 2, "batch_size": 2})
    try:
        with engine.store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE points RENAME TO points_moved")
        moment = run_times(dt.date(2015, 6, 1), dt.date(2015, 6, 1), "D", "Europe/Berlin")[0]
        summary = RunSummary(as_of=moment)
        ForecastStep(engine.settings, engine.store, "D").run(moment, pd.Timestamp("2015-05-31"), ["store 1", "store 3", "store 7"], summary)
    finally:
        engine.close()
    assert summary.forecast == 0 and not summary.waiting
    assert sorted(summary.failed) == ["store 1", "store 3", "store 7"]
    assert all("no such table: points" in reason for reason in summary.failed.values()), summary.failed


def test_workers_read_the_store_only_on_this_machine_and_find_a_relative_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store("sqlite:///relative/store.db")
    try:
        assert worker_url(store, ParallelSettings(backend="processes")) == f"sqlite:///{tmp_path / 'relative' / 'store.db'}"
        assert worker_url(store, ParallelSettings(backend="dask")) is not None, "a local cluster"
        assert worker_url(store, ParallelSettings(backend="dask", scheduler="tcp://10.0.0.5:8786")) is None, "a remote cluster may not reach it"
        assert worker_url(store, ParallelSettings(backend="dask", scheduler="tcp://10.0.0.5:8786", workers_read_store=True)) is not None
        assert worker_url(store, ParallelSettings(backend="processes", workers_read_store=False)) is None
        assert worker_url(store, ParallelSettings()) is None
    finally:
        store.close()
    memory = Store("sqlite://")
    assert worker_url(memory, ParallelSettings(backend="processes")) is None, "workers cannot see the engine's memory"
    memory.close()


def test_the_readme_gives_operators_the_local_clusters_worker_settings():
    assert yaml.safe_load(_readme_worker_config()) == quiet_worker_config()


@pytest.mark.parametrize("backend", ["dask local cluster", "dask scheduler"])
def test_dask_workers_run_quiet_and_keep_the_c_librarys_memory_trimming(backend, dask_scheduler):
    import dask

    settings = _backends(dask_scheduler)[backend]
    keys = [(key, key) for key in QUIET_WORKERS]  # each worker reports its own setting
    assert {o.key: o.value for batch in map_batches(dask.config.get, keys, settings) for o in batch} == QUIET_WORKERS
    trim = [o.value for batch in map_batches(os.environ.get, [("trim", "MALLOC_TRIM_THRESHOLD_")], settings) for o in batch]
    assert trim == [None]  # Dask's nanny would set 65536


def test_a_dask_scheduler_that_is_not_there_is_a_config_error():
    jobs = [("store", _job(pd.Series([1.0] * 30, index=pd.date_range("2015-01-01", periods=30)), "naive"))]
    with pytest.raises(ConfigError, match="parallel.scheduler tcp://127.0.0.1:9: cannot connect"):
        list(map_batches(run_series_job, jobs, ParallelSettings(backend="dask", scheduler="tcp://127.0.0.1:9")))


def test_the_forecast_phase_reports_its_progress_batch_by_batch(tmp_path):
    engine = DailyEngine(rossmann_long(STORES, since="2015-01-01"), tmp_path, parallel={"backend": "processes", "workers": 2, "batch_size": 2})
    calls = []
    engine.engine.progress = lambda done, total: calls.append((done, total))
    try:
        engine.run_days(dt.date(2015, 6, 1), dt.date(2015, 6, 1))
    finally:
        engine.close()
    assert [total for _, total in calls] == [len(STORES)] * 3  # batches of 2, 2 and 1
    assert sorted(done for done, _ in calls) == [done for done, _ in calls] and calls[-1] == (len(STORES), len(STORES))
