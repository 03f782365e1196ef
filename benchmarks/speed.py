"""Speed of a scheduled run's forecast and monitor phases on every parallel backend, against peers.

Two sets of series, each in a fresh SQLite store, the engine run as of 1 August 2015:
the 1,115 Rossmann stores (``../shared/data/rossmann/train.csv.gz``, daily sales, 730 days of
history) with the daily-refit settings (``model: ets``, the model a daily run refits without
reselecting, horizon 28); and 10,000 series resampled from Rossmann stores with the data's whole
2.6 years of daily history (``--big``), forecast with ``model: naive`` so the engine's own cost
and memory show. The forecast phase runs on each backend: ``local``, ``processes``, ``dask`` with
a local cluster the run starts and stops, and ``dask`` with a scheduler and workers already
running (started as their own processes before the run, as an operator keeps them beside the
service; their memory counts), once sent the histories by the engine (the default) and once
reading them from the store (``workers_read_store``); it runs ``--repeat`` times on every backend
in turn, and the table gives each backend's median with every run's seconds, as single runs on
two shared cores varied by up to a tenth. The ``global`` phase runs the forecast phase with ``model: gbm``,
one gradient-boosting model across every series of the set, in the engine's process (its closed
days from the calendar): on a first run, which also backtests it on 3 folds to calibrate its
intervals, and on the next day's run, which keeps that calibration and fits once. The monitor phase judges one new day per series against a week
of earlier vintages (seasonal naive forecasts written to the store directly, so the set-up stays
short), and the dashboard's overview page is computed over the same store. Each engine run
starts in a fresh process, as a scheduled run would; its peak memory is the largest
proportional set size (PSS) of that process plus its worker processes, sampled every 0.5 s, so
pages forked workers share with the engine count once. The peers' memory is the
benchmark's own process (with the input frame) plus their workers.

Peers on the same Rossmann series and history in the same run: statsforecast's AutoETS with its
own parallelism (``n_jobs`` = workers), and Prophet fitted per series on a sample, its time
extrapolated to every series (marked so).

    python3 benchmarks/speed.py [--stores 1115] [--big 10000] [--workers 2] [--prophet-sample 20] [--repeat 3]
                                [--phases forecast,global,monitor,overview]

prints a table and writes it under "Speed" in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

from _resampled import resampled_stores, rossmann_wide

from forecaster.engine import Engine
from forecaster.parallel import quiet_worker_config
from forecaster.replay import SimulatedClock, run_times
from forecaster.settings import parse
from forecaster.store import Store
from forecaster.web.series_data import overview

README = Path(__file__).parent / "README.md"
AS_OF = dt.date(2015, 8, 1)
HISTORY, HORIZON = 730, 28
TIMEZONE = "Europe/Berlin"
PHASES = ("forecast", "global", "monitor", "overview")


class PeakMemory:
    """The largest memory of the given processes and their children while the block runs, in MiB.

    Proportional set size (PSS), so pages forked workers share with the engine count once.
    """

    def __init__(self, *pids: int) -> None:
        self.pids = pids

    def __enter__(self) -> PeakMemory:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        roots = [psutil.Process(pid) for pid in self.pids]
        while not self._stop.is_set():
            try:
                pids = [pid for root in roots for pid in (root.pid, *(child.pid for child in root.children(recursive=True)))]
            except psutil.Error:
                pids = []
            self.peak = max(self.peak, sum(_pss_kib(pid) for pid in pids) / 1024)
            self._stop.wait(0.5)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _pss_kib(pid: int) -> int:
    """A process's proportional set size from the kernel's one-line summary (cheap even for large processes)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            return next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
    except OSError:  # the process has ended
        return 0


def measured(call, *args, workers: tuple[int, ...] = ()):
    """``call(*args)`` in a fresh process, as a scheduled run or a page load would be: its result and the peak PSS of it and its workers.

    ``workers``: processes started apart from the run (a Dask cluster's) whose memory counts too.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pid = pool.submit(os.getpid).result()
        with PeakMemory(pid, *workers) as memory:
            result = pool.submit(call, *args).result()
    return result, memory.peak


def rossmann(stores: int) -> pd.DataFrame:
    """Daily sales of the first ``stores`` stores, long format, the last ``HISTORY`` days before ``AS_OF``."""
    wide = rossmann_wide(pd.Timestamp(AS_OF) - pd.Timedelta(days=HISTORY), pd.Timestamp(AS_OF) - pd.Timedelta(days=1))
    wide = wide[sorted(wide.columns)[:stores]]
    long = wide.rename(columns=lambda s: f"store {s}").rename_axis("ds").reset_index().melt("ds", var_name="unique_id", value_name="y")
    return long[["unique_id", "ds", "y"]]


def _settings(model: str, parallel: dict, history: int):
    return parse(
        {
            "timezone": TIMEZONE, "series": {"min_history": 56},
            "forecast": {"model": model, "horizon": HORIZON, "history": history},
            "monitor": {"calendar": {"country": "DE"}}, "parallel": parallel, "channels": [],
        },
        "speed config",
    )


def _run(url: str, settings, day: dt.date):
    store = Store(url).create()
    try:
        moment = run_times(day, day, "D", TIMEZONE)[0]
        engine = Engine(settings, store, notifiers={}, clock=SimulatedClock(moment))
        return engine.run(moment, sync=False, job="speed")
    finally:
        store.close()


def _overview(url: str, settings) -> tuple[int, float]:
    """The dashboard overview's rows over the store, computed as the page does: how many, and the seconds."""
    store = Store(url)
    try:
        started = time.perf_counter()
        rows = len(overview(settings, store))
        return rows, time.perf_counter() - started
    finally:
        store.close()


def _write_vintages(url: str, long: pd.DataFrame, days: list[dt.date]) -> None:
    """A seasonal naive vintage per series issued on each of ``days`` (the week before it repeated), bands +-25% / +-45%."""
    wide = long.pivot(index="ds", columns="unique_id", values="y")
    store = Store(url).create()
    try:
        for day in days:
            last_week = wide[wide.index < pd.Timestamp(day)].iloc[-7:]
            ds = pd.date_range(day, periods=HORIZON)
            yhat = last_week.to_numpy()[np.arange(HORIZON) % 7]
            frames = {
                series_id: pd.DataFrame({"ds": ds, "model": "naive", "yhat": y, "yhat_lo_80": 0.75 * y, "yhat_hi_80": 1.25 * y,
                                         "yhat_lo_95": 0.55 * y, "yhat_hi_95": 1.45 * y})
                for series_id, y in zip(wide.columns, yhat.T)
            }
            store.forecasts.add_vintages(run_times(day, day, "D", TIMEZONE)[0], frames)
    finally:
        store.close()


@contextlib.contextmanager
def dask_cluster(workers: int, folder: Path):
    """A Dask scheduler and ``workers`` single-threaded workers started as their own processes, as an
    operator runs them beside the service (with the config file the README gives); yields its address and the processes' ids."""
    from distributed import Client

    file = folder / "scheduler.json"
    file.unlink(missing_ok=True)
    config = folder / "dask.yaml"
    config.write_text(yaml.safe_dump(quiet_worker_config()), encoding="utf-8")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": {**os.environ, "DASK_CONFIG": str(config)}}
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(file), "--host", "127.0.0.1", "--port", "0", "--no-dashboard"], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not file.exists():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Dask scheduler did not start (exit code {processes[0].poll()})")
            time.sleep(0.2)
        processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(file),
                                           "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"], **quiet))
        with Client(scheduler_file=str(file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            address = client.scheduler.address
        yield address, tuple(p.pid for p in processes)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=60)


def _forecast_row(
    name: str, base: Path, model: str, history: int, backend: str, parallel: dict, workers: tuple[int, ...] = (), phase: str = "forecast", day_before: bool = False,
) -> dict:
    """The forecast phase of one run on a copy of the set's store, as a row of the table (under ``phase``).

    ``day_before``: a run the day before goes first, untimed, so the timed one is the next daily run.
    """
    # A folder of its own: a running cluster's workers keep their connection to the file they read
    # (and its write-ahead log) after the run, so no later run may reuse the name.
    folder = Path(tempfile.mkdtemp(prefix="forecast-", dir=base.parent))
    copy = folder / base.name
    shutil.copy(base, copy)
    settings = _settings(model, parallel, history)
    if day_before:
        _run(f"sqlite:///{copy}", settings, AS_OF - dt.timedelta(days=1))
    summary, peak = measured(_run, f"sqlite:///{copy}", settings, AS_OF, workers=workers)
    shutil.rmtree(folder)
    row = {"set": name, "phase": phase, "method": f"salescast {model}, {backend}", "series": summary.forecast,
           "seconds": summary.steps["forecast"]["seconds"], "peak_mib": peak}
    print(row, file=sys.stderr, flush=True)
    return row


def _backend_rows(name: str, base: Path, model: str, history: int, workers: int, folder: Path) -> list[dict]:
    """One forecast run on each backend, as rows of the table."""
    backends = {
        "local": {"backend": "local"},
        f"processes ({workers})": {"backend": "processes", "workers": workers},
        f"dask local cluster ({workers})": {"backend": "dask", "workers": workers},
    }
    rows = [_forecast_row(name, base, model, history, backend, parallel) for backend, parallel in backends.items()]
    with dask_cluster(workers, folder) as (address, pids):
        rows.append(_forecast_row(name, base, model, history, f"dask scheduler ({workers}, running)", {"backend": "dask", "scheduler": address}, pids))
        rows.append(_forecast_row(name, base, model, history, f"dask scheduler ({workers}, running), workers read the store",
                                  {"backend": "dask", "scheduler": address, "workers_read_store": True}, pids))
    return rows


def _medians(runs: list[dict]) -> list[dict]:
    """One row per method: the median seconds of its runs (all of them kept under ``runs``), the largest peak."""
    methods = dict.fromkeys(r["method"] for r in runs)
    rows = []
    for method in methods:
        same = [r for r in runs if r["method"] == method]
        seconds = sorted(r["seconds"] for r in same)
        rows.append({**same[0], "seconds": float(np.median(seconds)), "peak_mib": max(r["peak_mib"] for r in same), "runs": seconds})
    return rows


def engine_phases(name: str, long: pd.DataFrame, model: str, history: int, workers: int, folder: Path, phases: set[str], repeat: int = 1) -> list[dict]:
    """The forecast phase on every backend (``repeat`` times in turn, as medians), the monitor phase
    and the dashboard overview, for one set of series, as rows of the table."""
    base = folder / f"{name}.db"
    store = Store(f"sqlite:///{base}").create()
    store.orders.replace_points(long)
    store.close()
    rows = []
    if "forecast" in phases:
        rows += _medians([row for _ in range(repeat) for row in _backend_rows(name, base, model, history, workers, folder)])
    if "global" in phases:
        for day_before, what in ((False, "first run: backtest for its intervals + fit"), (True, "next day: fit only")):
            rows.append(_forecast_row(name, base, "gbm", history, f"in-process, {what}", {"backend": "local"}, phase="forecast, global model", day_before=day_before))
    if phases & {"monitor", "overview"}:
        # A day's monitor run: vintages of the week before (and today's, so no forecast runs), the
        # day before judged untimed, then today's one new day per series timed; then the
        # dashboard's overview of that store.
        week = f"sqlite:///{folder / f'{name}-week.db'}"
        shutil.copy(base, folder / f"{name}-week.db")
        _write_vintages(week, long, [AS_OF - dt.timedelta(days=k) for k in range(8, -1, -1)])
        settings = _settings(model, {"backend": "local"}, history)
        _run(week, settings, AS_OF - dt.timedelta(days=1))
        summary, peak = measured(_run, week, settings, AS_OF)
        if "monitor" in phases:
            rows.append({"set": name, "phase": "monitor", "method": "salescast (in-process)", "series": summary.series,
                         "seconds": summary.steps["monitor"]["seconds"], "peak_mib": peak})
        if "overview" in phases:
            settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": week})})
            (shown, seconds), peak = measured(_overview, week, settings)
            rows.append({"set": name, "phase": "dashboard overview", "method": "salescast (in-process)", "series": shown, "seconds": seconds, "peak_mib": peak})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def peers(long: pd.DataFrame, workers: int, prophet_sample: int) -> list[dict]:
    """AutoETS (statsforecast, n_jobs = workers) and Prophet per series on a sample, extrapolated."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    frame = long.copy()
    frame["ds"] = pd.to_datetime(frame["ds"])
    rows = []
    with PeakMemory(os.getpid()) as memory:
        started = time.perf_counter()
        StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=workers).forecast(df=frame, h=HORIZON, level=[80, 95])
        seconds = time.perf_counter() - started
    rows.append({"set": "Rossmann", "phase": "forecast", "method": f"statsforecast AutoETS (n_jobs={workers})", "series": frame.unique_id.nunique(),
                 "seconds": seconds, "peak_mib": memory.peak})
    from prophet import Prophet
    import logging

    logging.getLogger("cmdstanpy").disabled = True
    sample = sorted(frame.unique_id.unique())[:prophet_sample]
    started = time.perf_counter()
    for series_id in sample:
        one = frame[frame.unique_id == series_id][["ds", "y"]]
        model = Prophet(interval_width=0.95).fit(one)
        model.predict(model.make_future_dataframe(HORIZON, include_history=False))
    per_series = (time.perf_counter() - started) / len(sample)
    total = frame.unique_id.nunique()
    rows.append({"set": "Rossmann", "phase": "forecast", "method": f"Prophet per series, 1 core ({len(sample)} fitted, time x{total / len(sample):.0f})",
                 "series": total, "seconds": per_series * total, "peak_mib": float("nan")})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown rows; the last column is the in-process forecast time of the same set over this row's."""
    local = {r["set"]: r["seconds"] for r in rows if r["method"].endswith(", local")}
    lines = ["| series | phase | method | series | seconds | series / s | peak MiB | local / this | runs, s |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio = f"{local[r['set']] / r['seconds']:.2f}" if r["phase"] == "forecast" and r["set"] in local else ""
        peak = "" if pd.isna(r["peak_mib"]) else f"{r['peak_mib']:.0f}"
        runs = ", ".join(f"{s:.1f}" for s in r.get("runs", [])) if len(r.get("runs", [])) > 1 else ""
        lines.append(f"| {r['set']} | {r['phase']} | {r['method']} | {r['series']} | {r['seconds']:.1f} | {r['series'] / r['seconds']:.1f} | {peak} | {ratio} | {runs} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1115)
    parser.add_argument("--big", type=int, default=10_000, help="series in the resampled set (0: skip it)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prophet-sample", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the forecast phase on each backend, in turn; the table gives the median")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)} (peers run with forecast)")
    parser.add_argument("--no-readme", action="store_true", help="print only (always so unless every phase runs)")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if args.repeat < 1:
        parser.error("--repeat: at least 1 run")
    if not phases <= set(PHASES):
        parser.error(f"--phases: unknown {', '.join(sorted(phases - set(PHASES)))}; choose from {', '.join(PHASES)}")
    long = rossmann(args.stores)
    with tempfile.TemporaryDirectory(prefix="salescast-speed-") as tmp:
        rows = engine_phases("Rossmann", long, "ets", HISTORY, args.workers, Path(tmp), phases, args.repeat)
        if args.big:
            big = resampled_stores(args.big, pd.Timestamp("2013-01-01"), pd.Timestamp(AS_OF) - pd.Timedelta(days=1))
            rows += engine_phases(f"resampled {args.big:,}", big, "naive", len(big.ds.unique()), args.workers, Path(tmp), phases, args.repeat)
            del big
    if "forecast" in phases:
        rows += peers(long, args.workers, args.prophet_sample)
    result = table(rows)
    print(result)
    if not args.no_readme and phases == set(PHASES):
        command = f"python3 benchmarks/speed.py --stores {args.stores} --big {args.big} --workers {args.workers} --repeat {args.repeat}"
        section = f"## Speed\n\n`{command}` ({dt.date.today()}, {psutil.cpu_count()} cores): {__doc__.split(chr(10) + chr(10))[1].replace(chr(10), ' ')}\n\n{result}\n"
        text = README.read_text(encoding="utf-8")
        start = text.find("## Speed\n")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
