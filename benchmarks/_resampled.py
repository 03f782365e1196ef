"""Many daily series resampled from real Rossmann stores, for the speed and soak benchmarks.

Each series is one store's daily sales (``../shared/data/rossmann/train.csv.gz``; a day
without a row is 0) times a random scale, with multiplicative day-to-day noise, so thousands
of series keep the real stores' weekly pattern, closed days and promotions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rossmann" / "train.csv.gz"


def rossmann_wide(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Daily sales, one column per store, from ``start`` to ``end`` inclusive."""
    sales = pd.read_csv(DATA, usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    window = sales[(sales.Date >= start) & (sales.Date <= end)]
    return window.pivot(index="Date", columns="Store", values="Sales").reindex(pd.date_range(start, end)).fillna(0.0)


def resampled_stores(n: int, start: pd.Timestamp, end: pd.Timestamp, seed: int = 7) -> pd.DataFrame:
    """``n`` daily series (``unique_id, ds, y``, ids ``s00000``...) from ``start`` to ``end``."""
    wide = rossmann_wide(start, end)
    rng = np.random.default_rng(seed)
    stores = rng.choice(wide.columns.to_numpy(), size=n)
    scale = rng.lognormal(0.0, 0.3, size=n)
    noise = rng.lognormal(0.0, 0.05, size=(len(wide), n))
    values = wide[stores].to_numpy() * scale * noise
    ids = [f"s{i:05d}" for i in range(n)]
    return pd.DataFrame({"unique_id": np.repeat(ids, len(wide)), "ds": np.tile(wide.index.to_numpy(), n), "y": values.T.ravel().round(2)})
