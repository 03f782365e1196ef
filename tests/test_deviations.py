"""The monitor's view of stored vintages: read a block of series at a time, judged the same."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from forecaster import deviations
from forecaster.deviations import Deviations
from real_series import DailyEngine, rossmann_long

STORES = ["store 1", "store 2", "store 3"]


def _histories(engine: DailyEngine, baseline: dt.date) -> tuple[dict, int]:
    """Every store's deviations over three weeks, as the latest plans and against plans made before ``baseline``; and the reads."""
    reads = []
    read = engine.store.forecasts.issued_before
    engine.store.forecasts.issued_before = lambda series, *args: reads.append(list(series)) or read(series, *args)
    try:
        judge = Deviations(engine.store, engine.settings, "D", STORES, pd.Timestamp("2015-05-11"), pd.Timestamp("2015-05-31"))
        histories = {(s, b): judge.history(s, None, b) for s in STORES for b in (None, baseline)}
    finally:
        del engine.store.forecasts.issued_before
    return histories, reads


def test_reading_a_series_at_a_time_judges_as_reading_them_all(tmp_path, monkeypatch):
    monitor = {"lead": 1}  # a day ahead: plans made before the baseline repeat an older week than the latest ones
    engine = DailyEngine(rossmann_long([1, 2, 3], since="2014-12-01"), tmp_path, monitor=monitor, forecast={"model": "naive", "horizon": 14})
    try:
        engine.run_days(dt.date(2015, 4, 20), dt.date(2015, 5, 31))
        baseline = dt.date(2015, 5, 18)
        together, reads = _histories(engine, baseline)
        assert reads == [STORES]
        monkeypatch.setattr(deviations, "SERIES_PER_READ", 1)
        one_by_one, reads = _histories(engine, baseline)
        assert reads == [[s] for s in STORES]
    finally:
        engine.close()
    assert together == one_by_one
    for store in STORES:
        latest, anchored = together[(store, None)], together[(store, baseline)]
        assert len(latest) >= 18 and [d.period_start for d in latest] == [d.period_start for d in anchored]
        changed = [d.period_start for d, a in zip(latest, anchored) if d.expected != a.expected]
        assert changed and min(changed) >= baseline
