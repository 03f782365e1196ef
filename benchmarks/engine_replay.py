"""What the scheduled engine would have sent on real stores: the default model against gbm with the promotion calendar.

The first ``--stores`` Rossmann stores with complete data (``../shared/data/rossmann``), as they
were, with no drop injected: the engine replayed once a day from ``--start`` to ``--end`` (as
``salescast replay`` does; the data ends 28 days after the last run, so the known future covers
every run's horizon), with the default alert policy and the German holiday calendar, under two
forecast settings:

- **default**: ``model: auto`` (seasonal naive or ETS per series, re-selected weekly), history only;
- **gbm**: ``model: gbm`` with a ``known_future`` file of each store's promotions, school and
  state holidays and open days.

Every alert on these series is a message a store owner would have read. Some stores may really
have slowed down, so the count is an upper bound on false alarms; ``benchmarks/detection.py``
measures recall on injected drops.

    python3 benchmarks/engine_replay.py [--stores 50] [--start 2015-04-01] [--end 2015-07-03] [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

from _readme import write_section
from forecaster.replay import alert_rate_preview, replay_series
from forecaster.settings import parse

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rossmann" / "train.csv.gz"
HEADING = "## Engine replay: default model against gbm with the promotion calendar"
POLICY = {"timezone": "Europe/Berlin", "monitor": {"calendar": {"country": "DE"}}}


def stores(count: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily sales (``unique_id, ds, y``) and the known future (promotions, holidays, open) of the first ``count`` complete stores."""
    raw = pd.read_csv(DATA, dtype={"StateHoliday": str}, parse_dates=["Date"])
    days = raw.groupby("Store").size()
    raw = raw[raw["Store"].isin(sorted(days[days == days.max()].index)[:count])].sort_values(["Store", "Date"])
    ids = "store " + raw["Store"].astype(str)
    sales = pd.DataFrame({"unique_id": ids, "ds": raw["Date"], "y": raw["Sales"].astype(float)})
    known = pd.DataFrame({
        "series": ids, "day": raw["Date"].dt.date, "promo": raw["Promo"], "school_holiday": raw["SchoolHoliday"],
        "state_holiday": (raw["StateHoliday"] != "0").astype(int), "open": raw["Open"],
    })
    return sales.reset_index(drop=True), known


def replay(name: str, settings, sales: pd.DataFrame, start: dt.date, end: dt.date) -> dict:
    """One replay's alerts, as a row of the table."""
    started = time.perf_counter()
    sent = replay_series(sales, settings, start, end)
    seconds = time.perf_counter() - started
    preview = alert_rate_preview(sent, sorted(sales["unique_id"].unique()), start, end)
    alerts = sent[sent["event"].isin(["opened", "escalated"])]
    return {
        "forecast": name, "alerts": len(alerts), "per_month": preview.alerts_per_series_month,
        "stores": alerts["unique_id"].nunique(), "rules": ", ".join(f"{r} {n}" for r, n in alerts["rule"].value_counts().items()),
        "seconds": seconds,
    }


def table(rows: list[dict], count: int) -> str:
    lines = [
        "| forecast | alerts (opened + escalated) | per store-month | per store-year | stores alerted | by rule | replay seconds |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['forecast']} | {r['alerts']} | {r['per_month']:.3f} | {12 * r['per_month']:.2f} | {r['stores']} of {count} | {r['rules']} | {r['seconds']:.0f} |")
    ratio = f"{rows[0]['per_month'] / rows[1]['per_month']:.1f}x" if rows[1]["per_month"] else "gbm sent none"
    return "\n".join(lines) + f"\n\ndefault / gbm alerts: {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2015, 4, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2015, 7, 3), help="the known future must cover 28 days after it")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args()
    sales, known = stores(args.stores)
    with tempfile.TemporaryDirectory(prefix="salescast-engine-replay-") as tmp:
        path = Path(tmp) / "known_future.csv"
        known.to_csv(path, index=False)
        gbm = {"model": "gbm", "known_future": {"path": str(path), "series": "series", "date": "day", "open": "open"}}
        rows = [
            replay("default (auto: naive or ETS)", parse(POLICY, "default"), sales, args.start, args.end),
            replay("gbm + known future", parse({**POLICY, "forecast": gbm}, "gbm"), sales, args.start, args.end),
        ]
    result = table(rows, sales["unique_id"].nunique())
    print(result)
    if not args.no_readme:
        command = f"python3 benchmarks/engine_replay.py --stores {args.stores} --start {args.start} --end {args.end}"
        intro = __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
        write_section(HEADING, f"`{command}` ({dt.date.today()}):\n\n{intro}\n\n{result}")


if __name__ == "__main__":
    main()
