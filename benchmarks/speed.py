"""Speed of a scheduled run's forecast and monitor phases on every parallel backend, against peers.

The 1,115 Rossmann stores (``../shared/data/rossmann/train.csv.gz``, daily sales up to
2015-07-31) go into a fresh SQLite store; the engine then runs as of 1 August with the
daily-refit settings (``model: ets``, the model a daily run refits without reselecting, 730
days of history, horizon 28) once per backend, each on a fresh copy of the store. The monitor
phase is timed on a run that has a week of earlier vintages to judge against (``model: naive``
for those vintages, so the set-up stays short). Peak memory is the largest resident set of the
engine's process plus its worker processes (PSS, so shared pages count once), sampled every 0.2 s.

Peers on the same series and history in the same run: statsforecast's AutoETS with its own
parallelism (``n_jobs`` = workers), and Prophet fitted per series on a sample, its time
extrapolated to every series (marked so).

    python3 benchmarks/speed.py [--stores 1115] [--workers 2] [--prophet-sample 20]

prints a table and writes it under "Speed" in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from forecaster.engine import Engine
from forecaster.replay import SimulatedClock, run_times
from forecaster.settings import parse
from forecaster.store import Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rossmann" / "train.csv.gz"
README = Path(__file__).parent / "README.md"
AS_OF = dt.date(2015, 8, 1)
HISTORY, HORIZON = 730, 28


class PeakMemory:
    """The largest memory of this process and its children while the block runs, in MiB.

    Proportional set size (PSS), so pages forked workers share with the engine count once.
    """

    def __enter__(self) -> PeakMemory:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total / 2**20)
            self._stop.wait(0.2)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def rossmann(stores: int) -> pd.DataFrame:
    """Daily sales of the first ``stores`` stores, long format, the last ``HISTORY`` days before ``AS_OF``."""
    sales = pd.read_csv(DATA, usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    sales = sales[sales.Store.isin(sorted(sales.Store.unique())[:stores]) & (sales.Date >= pd.Timestamp(AS_OF) - pd.Timedelta(days=HISTORY))]
    return pd.DataFrame({"unique_id": "store " + sales.Store.astype(str), "ds": sales.Date, "y": sales.Sales.astype(float)})


def _settings(model: str, parallel: dict):
    return parse(
        {
            "timezone": "Europe/Berlin", "series": {"min_history": 56},
            "forecast": {"model": model, "horizon": HORIZON, "history": HISTORY},
            "monitor": {"calendar": {"country": "DE"}}, "parallel": parallel, "channels": [],
        },
        "speed config",
    )


def _run(url: str, model: str, parallel: dict, day: dt.date):
    store = Store(url).create()
    try:
        moment = run_times(day, day, "D", "Europe/Berlin")[0]
        engine = Engine(_settings(model, parallel), store, notifiers={}, clock=SimulatedClock(moment))
        return engine.run(moment, sync=False, job="speed")
    finally:
        store.close()


def engine_phases(long: pd.DataFrame, workers: int, folder: Path) -> list[dict]:
    """Forecast phase per backend and the monitor phase, as rows of the table."""
    base = folder / "base.db"
    store = Store(f"sqlite:///{base}").create()
    store.orders.replace_points(long)
    store.close()
    rows = []
    backends = {
        "local": {"backend": "local"},
        f"processes ({workers})": {"backend": "processes", "workers": workers},
        f"dask local cluster ({workers})": {"backend": "dask", "workers": workers},
    }
    for name, parallel in backends.items():
        copy = folder / f"{name.split()[0]}.db"
        shutil.copy(base, copy)
        with PeakMemory() as memory:
            summary = _run(f"sqlite:///{copy}", "ets", parallel, AS_OF)
        rows.append({"phase": "forecast", "method": f"salescast, {name}", "series": summary.forecast,
                     "seconds": summary.steps["forecast"]["seconds"], "peak_mib": memory.peak})
        print(rows[-1], file=sys.stderr, flush=True)
    week = folder / "week.db"
    shutil.copy(base, week)
    for day in pd.date_range(AS_OF - dt.timedelta(days=8), AS_OF - dt.timedelta(days=1)).date:
        _run(f"sqlite:///{week}", "naive", {"backend": "local"}, day)
    with PeakMemory() as memory:
        summary = _run(f"sqlite:///{week}", "naive", {"backend": "local"}, AS_OF)
    rows.append({"phase": "monitor", "method": "salescast (in-process)", "series": summary.series,
                 "seconds": summary.steps["monitor"]["seconds"], "peak_mib": memory.peak})
    return rows


def peers(long: pd.DataFrame, workers: int, prophet_sample: int) -> list[dict]:
    """AutoETS (statsforecast, n_jobs = workers) and Prophet per series on a sample, extrapolated."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    frame = long.copy()
    frame["ds"] = pd.to_datetime(frame["ds"])
    rows = []
    with PeakMemory() as memory:
        started = time.perf_counter()
        StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=workers).forecast(df=frame, h=HORIZON, level=[80, 95])
        seconds = time.perf_counter() - started
    rows.append({"phase": "forecast", "method": f"statsforecast AutoETS (n_jobs={workers})", "series": frame.unique_id.nunique(),
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
    rows.append({"phase": "forecast", "method": f"Prophet per series, 1 core ({len(sample)} fitted, time x{total / len(sample):.0f})",
                 "series": total, "seconds": per_series * total, "peak_mib": float("nan")})
    return rows


def table(rows: list[dict]) -> str:
    local = next(r["seconds"] for r in rows if r["method"] == "salescast, local")
    lines = ["| phase | method | series | seconds | series / s | peak MiB | local / this |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{local / r['seconds']:.2f}" if r["phase"] == "forecast" else ""
        peak = "" if pd.isna(r["peak_mib"]) else f"{r['peak_mib']:.0f}"
        lines.append(f"| {r['phase']} | {r['method']} | {r['series']} | {r['seconds']:.1f} | {r['series'] / r['seconds']:.1f} | {peak} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1115)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prophet-sample", type=int, default=20)
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args()
    long = rossmann(args.stores)
    with tempfile.TemporaryDirectory(prefix="salescast-speed-") as tmp:
        rows = engine_phases(long, args.workers, Path(tmp))
    rows += peers(long, args.workers, args.prophet_sample)
    result = table(rows)
    print(result)
    if not args.no_readme:
        section = (f"## Speed\n\n`python3 benchmarks/speed.py --stores {args.stores} --workers {args.workers}` "
                   f"({dt.date.today()}, {psutil.cpu_count()} cores): {__doc__.split(chr(10) + chr(10))[1].replace(chr(10), ' ')}\n\n{result}\n")
        text = README.read_text(encoding="utf-8")
        start = text.find("## Speed\n")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
