"""The detection benchmark's core on real Rossmann stores, and its metrics on a hand-made case."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _detection_data import Drop, drop_start, rossmann_sample  # noqa: E402
from _detection_metrics import detection_delay, episode_starts, score  # noqa: E402
from _detection_replay import ModelFit, PolicyDetector, SameWeekdayDetector, Trace, WeeklyVintages, run_group  # noqa: E402
from forecaster.settings import MonitorSettings  # noqa: E402

WINDOW = 35


@pytest.fixture(scope="module")
def stores():
    """Two real stores, replayed over their last five weeks only."""
    return [replace(s, window_days=WINDOW) for s in rossmann_sample(DATA, 2)]


def test_every_day_is_judged_against_a_fit_issued_at_least_a_week_before(stores):
    series = stores[0]
    base = WeeklyVintages(series, ModelFit("naive"))
    gaps = {(day - base.origin(day)).days for day in series.window}
    assert gaps == set(range(8, 15))  # trained through 8..14 days before: issued 7..13 days before the day
    start = series.window[20]
    injected = WeeklyVintages(Drop(0.3, start).apply(series), ModelFit("naive"), base, start)
    before, after = base.origin(start), base.origin(start) + pd.Timedelta(days=14)
    assert injected.frame(before) is base.frame(before)  # fits before the drop are shared
    assert injected.frame(after)["yhat"].sum() < base.frame(after)["yhat"].sum()  # fits after it see the drop


def test_a_30_percent_drop_is_found_within_two_weeks_on_real_stores(stores):
    monitor = MonitorSettings()
    detectors = [PolicyDetector("salescast", "ets", monitor.rules, monitor.incidents, monitor.calibration_days), SameWeekdayDetector()]
    for series in stores:
        drop = Drop(0.3, drop_start(series, seed=0))
        traces = run_group(ModelFit("ets"), detectors, series, [drop])
        found = {t.detector: detection_delay(t) for t in traces if t.drop is not None}
        assert found["salescast"] < 14, series.id
        assert all(day < drop.start + pd.Timedelta(days=14) for t in traces if t.drop for day in t.judged)
        clean = [t for t in traces if t.drop is None and t.detector == "salescast"][0]
        assert set(clean.judged) == set(series.window[series.open.reindex(series.window).to_numpy()])


def _trace(days: list[str], alarms: str, drop: Drop | None, detector: str = "d") -> Trace:
    trace = Trace(detector, "", "hand-made", "s", drop)
    for day, alarm in zip(days, alarms):
        trace.add(pd.Timestamp(day), alarm == "x", 100.0, None)
    return trace


def test_metrics_on_a_hand_made_case():
    days = [f"2015-06-{d:02d}" for d in (1, 2, 3, 4, 6, 8, 9, 10, 11, 12)]  # the 5th and 7th are closed
    clean = _trace(days, "x..xx.x...", None)  # episodes: the 1st; the 4th-6th (across the closed 5th); the 9th
    assert episode_starts(clean) == [pd.Timestamp(d) for d in ("2015-06-01", "2015-06-04", "2015-06-09")]
    start = pd.Timestamp("2015-06-04")
    fast = _trace(days, ".x....x...", Drop(0.2, start))  # a false episode on the 2nd, then found on the 9th
    late = _trace(days, "..........", Drop(0.2, start))  # missed
    carried = _trace(days, "..xx......", Drop(0.2, start))  # an episode begun before the start carries over
    assert detection_delay(fast) == 5 and detection_delay(late) == np.inf and detection_delay(carried) == 0

    row = score([clean, fast, late, carried], window_days=73).iloc[0]
    assert row["series"] == 3
    assert row["recall_7"] == pytest.approx(2 / 3) and row["recall_14"] == pytest.approx(2 / 3)
    assert row["median_delay"] == 5
    assert row["false_per_series_year"] == pytest.approx(3 / (73 / 365))  # 3 episodes in 73 days = 15 a year
    # 2 detections; false: 3 on the clean series, the 2nd in `fast`, the 3rd in `carried`
    assert row["precision"] == pytest.approx(2 / (2 + 5))


def test_a_global_model_forecasts_each_store_and_each_drop_begun_from_one_fit(stores):
    from _detection_global import vintages_at

    start = stores[0].window[10]
    drops = {stores[0].id: [Drop(0.3, start)], stores[1].id: [Drop(0.3, stores[1].window[-1])]}
    origin = start + pd.Timedelta(days=6)
    frames = vintages_at("gbm", stores, drops, origin, 730, 14, (80, 95), {"max_iter": 20})
    dropped = f"{stores[0].id} -30%"
    assert set(frames) == {(s.id, origin) for s in stores} | {(dropped, origin)}  # the drop not begun yet has no copy
    clean, drifting = frames[(stores[0].id, origin)], frames[(dropped, origin)]
    assert list(clean.index) == list(pd.date_range(origin + pd.Timedelta(days=1), periods=14))
    open_days = clean["yhat"] > 0
    assert (clean["yhat_lo_80"] <= clean["yhat"]).all() and (clean.loc[open_days, "yhat_lo_95"] < clean.loc[open_days, "yhat_lo_80"]).all()
    assert drifting["yhat"].sum() < clean["yhat"].sum()  # its level features saw the week of lower sales
    closed = ~stores[0].open.reindex(clean.index).to_numpy()
    assert (clean.loc[closed, "yhat"] == 0).all()  # known closed days are forecast as 0
