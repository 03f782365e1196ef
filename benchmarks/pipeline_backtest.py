"""Pipeline forecast backtest on the CRM pipeline data: each month's P50 (from the pipeline as known
at the month's start) against the actual won revenue, beside a naive forecast (last month's revenue),
and whether the simulation's P10-P90 and the calibrated one (set by earlier months' misses) held it.

Run: python3 benchmarks/pipeline_backtest.py [DATA_DIR]; prints the table and writes it into
benchmarks/README.md under "Pipeline forecast backtest".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.data.opportunities import as_known_at, read_opportunities, read_products
from forecaster.pipeline_forecast import calibrated_forecast

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data" / "crm_pipeline"
README = Path(__file__).with_name("README.md")
HEADING = "## Pipeline forecast backtest"


def backtest(data: Path) -> pd.DataFrame:
    """One row per month that has a previous month with wins: actual, naive, P50, and both P10-P90s
    (the simulation's; the calibrated one, with the number of earlier months it learned from)."""
    prices = read_products(data / "products.csv")
    deals = read_opportunities(data / "sales_pipeline.csv", prices=prices)
    won = deals[deals["outcome"] == "won"]
    monthly = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    rows = []
    for month in monthly.index[1:]:
        start = month.start_time
        simulated = calibrated_forecast(as_known_at(deals, start), start, "M", window_days=90, past_periods=0)
        result = calibrated_forecast(as_known_at(deals, start), start, "M", window_days=90)
        rows.append({
            "month": str(month), "actual": monthly[month], "naive": monthly[month - 1], "p50": result.p50,
            "sim_p10": simulated.p10, "sim_p90": simulated.p90, "p10": result.p10, "p90": result.p90, "learned_from": result.calibrated_on,
        })
    return pd.DataFrame(rows)


def render(table: pd.DataFrame) -> str:
    """A markdown table per month plus the summary lines (MAPE of each forecast, coverage of each interval)."""
    ape = lambda f: (table[f] - table["actual"]).abs() / table["actual"]  # noqa: E731
    holds = lambda lo, hi: (table["actual"] >= table[lo]) & (table["actual"] <= table[hi])  # noqa: E731
    simulated, calibrated = holds("sim_p10", "sim_p90"), holds("p10", "p90")
    learned = table["learned_from"] > 0
    lines = [
        "| month | actual | naive (last month) | pipeline P50 | simulation P10-P90 | holds | calibrated P10-P90 | months learned from | holds |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|:---:|",
    ]
    for row, sim, cal in zip(table.itertuples(), simulated, calibrated):
        lines.append(
            f"| {row.month} | {row.actual:,.0f} | {row.naive:,.0f} | {row.p50:,.0f} | {row.sim_p10:,.0f}-{row.sim_p90:,.0f} | {'yes' if sim else 'no'} "
            f"| {row.p10:,.0f}-{row.p90:,.0f} | {row.learned_from} | {'yes' if cal else 'no'} |"
        )
    lines.append(
        f"\nMAPE over {len(table)} months: pipeline P50 {np.mean(ape('p50')):.1%}, naive {np.mean(ape('naive')):.1%}. "
        f"The simulation's P10-P90 held the actual in {simulated.sum()} of {len(table)} months ({simulated[learned].sum()} of the "
        f"{learned.sum()} months with at least 3 earlier ones); calibrated on earlier months' misses, in {calibrated[learned].sum()} of those {learned.sum()}."
    )
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of benchmarks/README.md, leaving the rest alone."""
    current = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    intro = (
        "`python3 benchmarks/pipeline_backtest.py` on `shared/data/crm_pipeline` (fictional B2B CRM). For each month, "
        "the pipeline as known at its first day (closes after it reopened, valued at list price) is simulated "
        "(5,000 draws, seed 0, 90-day trailing window) into the month's won revenue; the naive forecast is last month's. "
        "The calibrated P10-P90 (what the engine and the KPI page use) spreads the revenue still to win by the root mean "
        "square of log(actual / P50) over the same forecast made at the start of each of the 8 months before, once 3 exist.\n\n"
    )
    section = f"{HEADING}\n\n{intro}{text}\n"
    if HEADING in current:
        before, _, after = current.partition(HEADING)
        rest = after.split("\n## ", 1)
        current = before + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + section
    README.write_text(current, encoding="utf-8")


if __name__ == "__main__":
    report = render(backtest(DATA))
    print(report)
    write_section(report)
