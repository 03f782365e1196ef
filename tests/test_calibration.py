"""Bands from the series' own errors: conformal quantiles of what was judged before."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from alerts.calibration import calibrated, needed, ratio_bounds
from alerts.deviation import Deviation
from forecaster.deviations import Deviations
from real_series import DailyEngine, rossmann_long

DAY = dt.timedelta(days=1)
FIRST = dt.date(2015, 1, 1)
MODEL_BOUNDS = {80: (50.0, 150.0), 95: (10.0, 190.0)}


def _series(ratios: list[float], excused: dict[int, str] = {}) -> list[Deviation]:
    return [
        Deviation("s", FIRST + i * DAY, FIRST + i * DAY, 100.0 * r, 100.0, MODEL_BOUNDS, excused.get(i))
        for i, r in enumerate(ratios)
    ]


def test_bounds_are_conformal_quantiles_of_earlier_ratios():
    ratios = list(np.linspace(0.70, 1.30, 40))  # 40 earlier errors, then the judged period
    devs = calibrated(_series(ratios + [0.5]), days=60)
    last = devs[-1]
    # n = 40: the 80% band takes the 4th smallest and 37th smallest of the ratios, the 95% band the 1st and 40th.
    assert last.bounds[80] == pytest.approx((100.0 * ratios[3], 100.0 * ratios[36]))
    assert last.bounds[95] == pytest.approx((100.0 * ratios[0], 100.0 * ratios[39]))
    assert (needed(80), needed(95)) == (9, 39)


def test_too_few_errors_keep_the_models_bounds():
    devs = calibrated(_series([1.0] * 8 + [0.9]), days=60)
    assert all(d.bounds == MODEL_BOUNDS for d in devs)
    devs = calibrated(_series([0.9, 1.1] * 5 + [1.0]), days=60)
    assert devs[-1].bounds[80] == pytest.approx((90.0, 110.0)) and devs[-1].bounds[95] == MODEL_BOUNDS[95]


def test_excused_periods_old_errors_and_an_incidents_evidence_do_not_count():
    ratios = [0.95, 1.05] * 10 + [0.2] * 10 + [1.0]
    excused = {i: "holiday" for i in range(20, 30)}  # the ten 0.2 days were holidays
    assert calibrated(_series(ratios, excused), days=60)[-1].bounds[80] == pytest.approx((95.0, 105.0))
    old = calibrated(_series(ratios), days=5)[-1]  # only the last five days (all 0.2) are within reach
    assert old.bounds == MODEL_BOUNDS
    incident = calibrated(_series(ratios), days=60, before=FIRST + 20 * DAY)[-1]  # evidence from day 20 on
    assert incident.bounds[80] == pytest.approx((95.0, 105.0))
    assert ratio_bounds(np.array([1.2] * 10), 80) == (1.0, 1.2)  # the band always holds the forecast


def test_the_engine_judges_with_bands_from_its_own_forecast_errors(tmp_path):
    engine = DailyEngine(rossmann_long([1], since="2014-10-01"), tmp_path, monitor={"calendar": {"country": "DE", "subdivision": "HE"}})
    try:
        engine.run_days(dt.date(2015, 3, 1), dt.date(2015, 5, 31))
        settings, store = engine.settings, engine.store
        window = (pd.Timestamp("2015-05-18"), pd.Timestamp("2015-05-31"))
        judged = Deviations(store, settings, "D", ["store 1"], *window).history("store 1", None, None)
        without = settings.model_copy(update={"monitor": settings.monitor.model_copy(update={"calibration_days": 0})})
        model = Deviations(store, without, "D", ["store 1"], *window).history("store 1", None, None)
    finally:
        engine.close()
    open_days = [(c, m) for c, m in zip(judged, model) if c.excused is None]
    assert len(open_days) >= 10
    # Seasonal naive's own 80% band on this store is far wider than its errors a week ahead.
    calibrated_width = np.median([(c.bounds[80][1] - c.bounds[80][0]) / c.expected for c, _ in open_days])
    model_width = np.median([(m.bounds[80][1] - m.bounds[80][0]) / m.expected for _, m in open_days])
    assert calibrated_width < model_width
    assert all(c.expected == m.expected and c.actual == m.actual for c, m in open_days)
    assert all(c.bounds[80][0] <= c.expected <= c.bounds[80][1] for c, _ in open_days)

