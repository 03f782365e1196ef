"""The accuracy benchmark's store regressors, read from the real ``store.csv``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _accuracy_data import store_regressors  # noqa: E402


def _days(store: str, *days: str) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": store, "ds": pd.to_datetime(list(days))})


def test_promo2_runs_in_the_stores_months_from_the_iso_week_it_joined():
    # Store 3 joined Promo2 in ISO week 14 of 2011 (Monday 4 April), months Jan, Apr, Jul, Oct.
    rows = store_regressors(_days("0003", "2011-04-03", "2011-04-04", "2011-05-02", "2015-07-31", "2015-08-01"))
    assert rows["promo2"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    # Store 1 takes no part in Promo2.
    assert store_regressors(_days("0001", "2015-01-05", "2015-04-06"))["promo2"].tolist() == [0.0, 0.0]


def test_competition_is_the_log_distance_from_the_month_the_competitor_opened():
    # Store 1: a competitor 1,270 m away since September 2008; store 12: 1,070 m, no opening date
    # (there all along); store 291: none known.
    days = [_days("0001", "2008-08-31", "2008-09-01"), _days("0012", "2013-01-01"), _days("0291", "2015-01-01")]
    rows = store_regressors(pd.concat(days, ignore_index=True))
    assert rows["competition"].tolist() == [0.0, np.log(1270), np.log(1070), 0.0]
