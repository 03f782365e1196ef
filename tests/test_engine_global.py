"""The scheduled engine with the global model (forecast.model: gbm) and known-future inputs, on real Rossmann stores."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from threadpoolctl import threadpool_info

from forecaster.models.gbm import GlobalBoosting
from forecaster.store.tables import forecasts
from forecaster.web import series_data
from real_series import DailyEngine, rossmann_known_future, rossmann_long

STORES = list(range(1, 13))
AS_OF = dt.datetime(2015, 6, 15, tzinfo=dt.timezone.utc)  # history up to 2015-06-14 (Berlin)
FIRST, LAST = dt.date(2015, 6, 15), dt.date(2015, 7, 12)
HORIZON = 28


def engine_for(tmp_path, forecast: dict, long: pd.DataFrame | None = None) -> DailyEngine:
    long = rossmann_long(STORES, since="2013-06-01") if long is None else long
    return DailyEngine(long, tmp_path, series={"min_history": 56}, forecast={"horizon": HORIZON, "history": 730, **forecast})


def vintage(engine: DailyEngine) -> pd.DataFrame:
    """The forecasts issued at AS_OF: ``series_id, ds, model, yhat, lo95, hi95``."""
    columns = [forecasts.c[c] for c in ("series_id", "ds", "model", "yhat", "lo95", "hi95")]
    query = sa.select(*columns).where(forecasts.c.issued_at == AS_OF.replace(tzinfo=None))
    with engine.store.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in columns])
    return frame.assign(ds=pd.to_datetime(frame["ds"]))


def run_once(tmp_path, forecast: dict, long: pd.DataFrame) -> tuple:
    """One run at AS_OF in a fresh store: its summary and the vintage it issued."""
    engine = engine_for(tmp_path, forecast, long)
    try:
        return engine.run(AS_OF), vintage(engine)
    finally:
        engine.close()


def vintage_count(engine: DailyEngine) -> int:
    with engine.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(sa.distinct(forecasts.c.issued_at)))).scalar_one()


def known(tmp_path, stores=STORES):
    return {"path": str(rossmann_known_future(stores, tmp_path / "known.csv")), "series": "series", "date": "day", "open": "open"}


@pytest.fixture(scope="module")
def gbm_and_ets(tmp_path_factory):
    """One run of each model at AS_OF on the same stores: (gbm summary, gbm vintage, ets vintage)."""
    folder = tmp_path_factory.mktemp("global")
    (folder / "gbm").mkdir(), (folder / "ets").mkdir()
    gbm = engine_for(folder / "gbm", {"model": "gbm", "known_future": known(folder)})
    ets = engine_for(folder / "ets", {"model": "ets"})
    try:
        summary = gbm.run(AS_OF)
        again = gbm.run(AS_OF)
        ets.run(AS_OF)
        yield summary, again, vintage(gbm), vintage(ets)
    finally:
        gbm.close(), ets.close()


def actuals() -> pd.DataFrame:
    long = rossmann_long(STORES, since=str(FIRST))
    return long[long["ds"].dt.date <= LAST].rename(columns={"unique_id": "series_id", "y": "actual"})


def test_gbm_forecasts_every_store_once_with_the_known_future(gbm_and_ets):
    summary, again, gbm, _ = gbm_and_ets
    assert not summary.failed and summary.forecast == len(STORES)
    assert again.forecast == 0  # the same run again issues no second vintage
    assert sorted(gbm["series_id"].unique()) == sorted(f"store {s}" for s in STORES)
    assert (gbm.groupby("series_id").size() == HORIZON).all()
    assert set(gbm["model"]) == {"gbm"}
    assert (gbm["lo95"] <= gbm["yhat"]).all() and (gbm["yhat"] <= gbm["hi95"]).all() and (gbm["lo95"] >= 0).all()


def test_days_the_file_marks_closed_are_forecast_as_zero(gbm_and_ets, tmp_path):
    _, _, gbm, _ = gbm_and_ets
    flags = pd.read_csv(rossmann_known_future(STORES, tmp_path / "flags.csv"), parse_dates=["day"])
    joined = gbm.merge(flags, left_on=["series_id", "ds"], right_on=["series", "day"])
    closed = joined[joined["open"] == 0]
    assert len(closed) >= len(STORES) * 4  # the Sundays at least
    assert (closed[["yhat", "lo95", "hi95"]] == 0).all().all()
    assert (joined.loc[joined["open"] == 1, "yhat"] > 0).all()


def test_promotion_days_are_forecast_higher(gbm_and_ets, tmp_path):
    _, _, gbm, _ = gbm_and_ets
    flags = pd.read_csv(rossmann_known_future(STORES, tmp_path / "flags.csv"), parse_dates=["day"])
    joined = gbm.merge(flags, left_on=["series_id", "ds"], right_on=["series", "day"])
    weekdays = joined[(joined["open"] == 1) & (joined["ds"].dt.dayofweek < 5)]
    by_promo = weekdays.groupby(["series_id", "promo"])["yhat"].mean().unstack()
    assert (by_promo[1] > 1.1 * by_promo[0]).all()


def test_gbm_with_the_known_future_beats_ets_on_the_next_four_weeks(gbm_and_ets):
    _, _, gbm, ets = gbm_and_ets
    truth = actuals()
    truth = truth[truth["actual"] > 0]

    def error(forecast: pd.DataFrame) -> float:
        joined = truth.merge(forecast, on=["series_id", "ds"])
        assert len(joined) == len(truth)
        return float(np.mean(np.abs(joined["yhat"] - joined["actual"]) / joined["actual"]))

    assert error(gbm) < 0.8 * error(ets)


def test_a_store_the_known_future_does_not_cover_fails_alone(tmp_path):
    path = rossmann_known_future(STORES[:6], tmp_path / "edited.csv")
    rows = pd.read_csv(path)
    rows = rows[~((rows["series"] == "store 3") & (rows["day"] >= "2015-07-01"))]
    rows.to_csv(path, index=False)
    summary, _ = run_once(tmp_path, {"model": "gbm", "known_future": {**known(tmp_path, STORES[:6]), "path": str(path)}}, rossmann_long(STORES[:6], since="2013-06-01"))
    assert list(summary.failed) == ["store 3"]
    assert str(path) in summary.failed["store 3"] and "has no row for 2015-07-01" in summary.failed["store 3"]
    assert summary.forecast == 5 and summary.exit_code == 1


def test_an_unreadable_known_future_fails_the_step_with_its_line_and_the_run_goes_on(tmp_path):
    path = rossmann_known_future(STORES[:2], tmp_path / "edited.csv")
    rows = pd.read_csv(path, dtype=str)
    rows.loc[4, "promo"] = "yes"
    rows.to_csv(path, index=False)
    summary, _ = run_once(tmp_path, {"model": "gbm", "known_future": {**known(tmp_path, STORES[:2]), "path": str(path)}}, rossmann_long(STORES[:2], since="2014-06-01"))
    assert summary.failed == {"gbm": f"{path}: regressor column 'promo' has values that are not numbers: line 6 ('yes')"}
    assert {"monitor", "deliver"} <= set(summary.steps) and summary.exit_code == 1


def test_without_a_file_the_calendar_closes_the_sundays(tmp_path):
    summary, frame = run_once(tmp_path, {"model": "gbm"}, rossmann_long(STORES[:6], since="2014-06-01"))
    assert not summary.failed and set(frame["model"]) == {"gbm"}
    sundays = frame[frame["ds"].dt.dayofweek == 6]
    assert len(sundays) == 6 * 4 and (sundays[["yhat", "hi95"]] == 0).all().all()
    assert (frame.loc[frame["ds"].dt.dayofweek < 5, "yhat"] > 0).all()


def test_too_little_history_to_calibrate_the_global_model_falls_back_to_naive(tmp_path):
    summary, frame = run_once(tmp_path, {"model": "gbm"}, rossmann_long(STORES[:2], since="2015-04-15"))
    assert not summary.failed and summary.forecast == 2
    assert set(frame["model"]) == {"naive"}
    assert set(summary.notes) == {"store 1", "store 2"}
    for note in summary.notes.values():
        assert note.startswith("gbm could not be calibrated (no backtest residuals); used naive; cold start: ")


def test_daily_runs_refit_and_recalibrate_the_intervals_every_reselect_every_days(tmp_path):
    long = rossmann_long(STORES[:4], since="2014-06-01")
    engine = DailyEngine(long, tmp_path, series={"min_history": 56}, monitor={"lead": 1}, forecast={
        "model": "gbm", "horizon": 14, "backtest_folds": 2, "reselect_every": 2, "known_future": known(tmp_path, STORES[:4]),
    })
    calibrated = []
    try:
        for day in (dt.date(2015, 6, 1), dt.date(2015, 6, 2), dt.date(2015, 6, 3)):
            engine.run_days(day, day)
            calibrated.append(engine.store.forecasts.calibration("gbm")[0])
        assert vintage_count(engine) == 3
    finally:
        engine.close()
    # Calibrated for the last complete day of the first run, kept a day, refreshed on the second day after.
    assert calibrated == [dt.date(2015, 5, 31), dt.date(2015, 5, 31), dt.date(2015, 6, 2)]


def test_the_monitor_judges_actuals_against_the_global_forecasts(tmp_path):
    long = rossmann_long(STORES[:4], since="2014-06-01")
    engine = DailyEngine(long, tmp_path, series={"min_history": 56}, monitor={"lead": 1},
                         forecast={"model": "gbm", "horizon": 14, "backtest_folds": 2, "known_future": known(tmp_path, STORES[:4])})
    try:
        summaries = engine.run_days(dt.date(2015, 6, 1), dt.date(2015, 6, 3))
        judged = engine.engine.overview(dt.date(2015, 6, 2), dt.date(2015, 6, 2))  # the first day with a vintage a day older
        dashboard = series_data.overview(engine.settings, engine.store)
    finally:
        engine.close()
    assert set(dashboard["model"]) == {"gbm"}  # the dashboard names the model of each newest forecast
    assert [s.forecast for s in summaries] == [4] * 3 and all(not s.failed for s in summaries)
    assert sorted(j.series_id for j in judged) == sorted(f"store {s}" for s in STORES[:4])
    truth = long[long["ds"] == "2015-06-02"].set_index("unique_id")["y"]
    assert all(j.actual == truth[j.series_id] and abs(j.actual / j.expected - 1) < 0.3 for j in judged)


def test_parallel_workers_sets_the_threads_the_trees_use(tmp_path, monkeypatch):
    threads, fit = [], GlobalBoosting.fit

    def fit_and_note_threads(model, panel):
        threads.append({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"})
        return fit(model, panel)

    monkeypatch.setattr(GlobalBoosting, "fit", fit_and_note_threads)
    engine = DailyEngine(rossmann_long(STORES[:4], since="2014-06-01"), tmp_path, series={"min_history": 56}, parallel={"workers": 1},
                         forecast={"model": "gbm", "horizon": 14, "backtest_folds": 2})
    try:
        assert engine.run(AS_OF).forecast == 4
    finally:
        engine.close()
    assert threads == [{1}] * 3  # two backtest folds and the fit
