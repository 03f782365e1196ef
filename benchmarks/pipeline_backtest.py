"""Pipeline forecast backtest on the CRM pipeline data: each month's P50 (from the pipeline as known
at the month's start) against the actual won revenue, beside a naive forecast (last month's revenue).

Run: python3 benchmarks/pipeline_backtest.py [DATA_DIR]; prints the table and writes it into
benchmarks/README.md under "Pipeline forecast backtest".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.data.opportunities import as_known_at, read_opportunities, read_products
from forecaster.pipeline_forecast import forecast_period

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data" / "crm_pipeline"
README = Path(__file__).with_name("README.md")
HEADING = "## Pipeline forecast backtest"


def backtest(data: Path) -> pd.DataFrame:
    """One row per month that has a previous month with wins: actual, naive, P10/P50/P90."""
    prices = read_products(data / "products.csv")
    deals = read_opportunities(data / "sales_pipeline.csv", prices=prices)
    won = deals[deals["outcome"] == "won"]
    monthly = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    rows = []
    for month in monthly.index[1:]:
        start = month.start_time
        result = forecast_period(as_known_at(deals, start), start, "M", window_days=90, draws=5000, seed=0)
        rows.append({"month": str(month), "actual": monthly[month], "naive": monthly[month - 1], "p10": result.p10, "p50": result.p50, "p90": result.p90})
    return pd.DataFrame(rows)


def render(table: pd.DataFrame) -> str:
    """A markdown table per month plus the summary line (MAPE of each forecast, P10-P90 coverage)."""
    ape = lambda f: (table[f] - table["actual"]).abs() / table["actual"]
    inside = (table["actual"] >= table["p10"]) & (table["actual"] <= table["p90"])
    lines = ["| month | actual | naive (last month) | pipeline P50 | P10 | P90 | in P10-P90 |", "|---|---:|---:|---:|---:|---:|:---:|"]
    for row, ok in zip(table.itertuples(), inside):
        lines.append(f"| {row.month} | {row.actual:,.0f} | {row.naive:,.0f} | {row.p50:,.0f} | {row.p10:,.0f} | {row.p90:,.0f} | {'yes' if ok else 'no'} |")
    lines.append(
        f"\nMAPE over {len(table)} months: pipeline P50 {np.mean(ape('p50')):.1%}, naive {np.mean(ape('naive')):.1%}; "
        f"P10-P90 covered the actual in {inside.sum()} of {len(table)} months."
    )
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of benchmarks/README.md, leaving the rest alone."""
    current = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    intro = (
        "`python3 benchmarks/pipeline_backtest.py` on `shared/data/crm_pipeline` (fictional B2B CRM). For each month, "
        "the pipeline as known at its first day (closes after it reopened, valued at list price) is simulated "
        "(5,000 draws, seed 0, 90-day trailing window) into the month's won revenue; the naive forecast is last month's.\n\n"
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
