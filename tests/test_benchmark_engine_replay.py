"""The engine replay benchmark's inputs and table, on a few real Rossmann stores."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from engine_replay import stores, table  # noqa: E402


def test_the_known_future_covers_every_store_day_it_has_sales_for():
    sales, known = stores(3)
    assert sorted(sales["unique_id"].unique()) == ["store 1", "store 2", "store 3"]
    assert len(known) == len(sales) and list(known.columns) == ["series", "day", "promo", "school_holiday", "state_holiday", "open"]
    closed = known["open"] == 0
    assert (sales.loc[closed.to_numpy(), "y"] == 0).all() and closed.sum() > 100  # Sundays and holidays
    assert set(known["state_holiday"]) == {0, 1} and pd.Timestamp(sales["ds"].max()) == pd.Timestamp("2015-07-31")


def test_the_table_gives_each_forecasts_rate_and_their_ratio():
    rows = [
        {"forecast": "default", "alerts": 30, "per_month": 0.6, "stores": 9, "rules": "pacing_week 30", "seconds": 10.0},
        {"forecast": "gbm", "alerts": 5, "per_month": 0.1, "stores": 3, "rules": "band 5", "seconds": 20.0},
    ]
    text = table(rows, 10)
    assert "| default | 30 | 0.600 | 7.20 | 9 of 10 | pacing_week 30 | 10 |" in text
    assert text.endswith("default / gbm alerts: 6.0x")
