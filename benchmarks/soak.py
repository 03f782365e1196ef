"""Soak: many scheduled cycles of the real engine over many series; resident memory must stay flat.

Series are resampled from real Rossmann stores (``../shared/data/rossmann/train.csv.gz``): each
synthetic series is one store's daily sales times a random scale, with multiplicative noise.
Each cycle is one scheduled run (``Engine.run`` as of the next midnight, on a simulated clock)
followed by the retention pass and the release of freed heap, as ``salescast serve`` does, on
a SQLite store; ``model: naive`` keeps it fast, and bands calibrated on 14 days of errors let
what each run reads back reach its steady size within three weeks of cycles.

    python3 benchmarks/soak.py --series 10000 --cycles 30 --history-days 60 --parallel processes

prints one row per cycle (seconds, forecasts, events, RSS in MiB after the run and at its peak
during the run, the anonymous part of RSS after the run, the stored forecast rows and open
incidents, the Python objects the garbage collector tracks, glibc's heap in use and free,
and with ``--trace`` the memory Python allocations hold, numpy buffers included) and appends the
table under "Soak" in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import psutil
import sqlalchemy as sa

from _resampled import resampled_stores
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock, run_times
from forecaster.service import release_free_memory
from forecaster.settings import parse
from forecaster.store import Store
from forecaster.store.tables import forecasts, incidents

README = Path(__file__).parent / "README.md"
FIRST_CYCLE = dt.date(2015, 5, 1)


class Discard:
    """A channel that accepts every message and keeps none (the soak measures the engine, not a list)."""

    def send(self, message) -> None:
        pass


def synthetic_series(n: int, history_days: int, cycles: int) -> pd.DataFrame:
    """``n`` daily series (unique_id, ds, y) covering the history and every cycle."""
    first = pd.Timestamp(FIRST_CYCLE)
    return resampled_stores(n, first - pd.Timedelta(days=history_days), first + pd.Timedelta(days=cycles - 1))


def soak(n: int, cycles: int, history_days: int, retention_days: int = 30, parallel: str = "local") -> pd.DataFrame:
    """Run ``cycles`` scheduled runs over ``n`` series; one row of measurements per cycle."""
    settings = parse(
        {
            "timezone": "Europe/Berlin",
            "series": {"min_history": 28},
            "forecast": {"model": "naive", "horizon": 14, "history": history_days},
            # Bands calibrated on two weeks of errors, so what a run reads back stops growing after three weeks.
            "monitor": {"lookback": 7, "calibration_days": 14, "calendar": {"country": "DE"}},
            "store": {"retention_days": retention_days},
            "parallel": {"backend": parallel},
        },
        "soak config",
    )
    process = psutil.Process()
    rows = []
    with tempfile.TemporaryDirectory(prefix="salescast-soak-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'soak.db'}").create()
        store.orders.replace_points(synthetic_series(n, history_days, cycles))
        times = run_times(FIRST_CYCLE, FIRST_CYCLE + dt.timedelta(days=cycles - 1), "D", settings.timezone)
        clock = SimulatedClock(times[0])
        engine = Engine(settings, store, notifiers={"discard": Discard()}, clock=clock)
        for cycle, moment in enumerate(times, 1):
            clock.now = moment
            started = time.perf_counter()
            reset_peak_rss()
            summary = engine.run(moment, sync=False, job="soak")
            store.prune(settings.store.retention_days, moment)
            gc.collect()
            release_free_memory()  # as the service does after each run
            rows.append(
                {
                    "cycle": cycle, "as_of": moment.date().isoformat(), "seconds": round(time.perf_counter() - started, 1),
                    "forecasts": summary.forecast, "events": len(summary.events), "sent": summary.sent,
                    "rss_mib": round(process.memory_info().rss / 2**20, 1),
                    **resident(),
                    **stored_rows(store),
                    "py_objects": len(gc.get_objects()),
                    **heap(),
                    **({"traced_mib": round(tracemalloc.get_traced_memory()[0] / 2**20, 1)} if tracemalloc.is_tracing() else {}),
                }
            )
            print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
        store.close()
    return pd.DataFrame(rows)


def reset_peak_rss() -> None:
    """Start the process's peak resident size afresh (Linux; elsewhere the peak is since start)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def resident() -> dict[str, float]:
    """The peak resident size since the last reset (the most a run needed at once), and what is
    resident now in anonymous memory (heap, arenas, mappings) apart from mapped files; {} off Linux."""
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    except OSError:
        return {}
    kib = {name: int(status[name].split()[0]) for name in ("VmHWM", "RssAnon")}
    return {"peak_rss_mib": round(kib["VmHWM"] / 2**10, 1), "anon_mib": round(kib["RssAnon"] / 2**10, 1)}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap() -> dict[str, float]:
    """glibc's heap after a cycle: in use (small blocks and mmapped ones) and free but kept; {} off glibc."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"heap_used_mib": round((info.uordblks + info.hblkhd) / 2**20, 1), "heap_free_mib": round(info.fordblks / 2**20, 1)}


def stored_rows(store: Store) -> dict[str, int]:
    """What the store holds after a cycle: what each run may read back grows with these."""
    with store.engine.connect() as conn:
        return {
            "forecast_rows": conn.scalar(sa.select(sa.func.count()).select_from(forecasts)),
            "open_incidents": conn.scalar(sa.select(sa.func.count()).select_from(incidents).where(incidents.c.status == "open")),
        }


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--retention-days", type=int, default=30, help="forecasts and deliveries older than this are pruned")
    parser.add_argument("--parallel", choices=["local", "processes"], default="local", help="where the forecasts run (RSS is the engine's process)")
    parser.add_argument("--trace", action="store_true", help="also report the memory Python allocations hold (tracemalloc; slower)")
    args = parser.parse_args(argv)
    if args.trace:
        tracemalloc.start()
    table = soak(args.series, args.cycles, args.history_days, args.retention_days, args.parallel)
    growth = table.rss_mib.iloc[-1] - table.rss_mib.iloc[min(2, len(table) - 1)]
    half = len(table) // 2
    late = table.rss_mib.iloc[-1] - table.rss_mib.iloc[half]
    markdown = _markdown(table)
    summary = f"RSS growth from cycle 3 to the last: {growth:+.1f} MiB; over the second half (cycle {half + 1} to the last): {late:+.1f} MiB."
    print(markdown)
    print(summary)
    with README.open("a", encoding="utf-8") as handle:
        if README.stat().st_size == 0:
            handle.write("# Benchmarks\n")
        handle.write(
            f"\n## Soak\n\n`python3 benchmarks/soak.py --series {args.series} --cycles {args.cycles} --history-days {args.history_days} "
            f"--retention-days {args.retention_days} --parallel {args.parallel}` "
            f"({dt.date.today()}, model naive, SQLite): {args.series} series resampled from Rossmann stores, "
            f"one scheduled run per cycle. {summary}\n\n{markdown}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
