"""KPIs of the opportunities as series: measured each day, forecast and judged by the engine like sales."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from alerts.notifiers.memory import MemoryNotifier
from forecaster.data.kpi_series import daily_kpis, kpi_points
from forecaster.data.kpis import opportunity_kpis
from forecaster.data.opportunities import normalize_opportunities, read_opportunities, read_products
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock
from forecaster.settings import parse
from forecaster.store import Store
from conftest import DATA

CRM = DATA / "crm_pipeline"


@pytest.fixture(scope="module")
def crm_deals() -> pd.DataFrame:
    return read_opportunities(CRM / "sales_pipeline.csv", prices=read_products(CRM / "products.csv"))


def test_each_days_kpis_by_hand():
    raw = pd.DataFrame(
        [
            ("a", "2024-03-01", "Won", 100, "2024-03-05"),
            ("b", "2024-03-02", "Lost", 50, "2024-03-06"),
            ("c", "2024-03-03", "Won", 300, "2024-03-07"),
            ("d", "2024-03-04", "Open", 80, None),
            ("e", "2024-03-06", "Open", 20, None),
        ],
        columns=["opportunity_id", "engage_date", "deal_stage", "close_value", "close_date"],
    ).assign(sales_agent="ann", product="x")
    deals = normalize_opportunities(raw)
    days = daily_kpis(deals, pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-07"), window_days=3)
    assert days["won"].tolist() == [1, 0, 1] and days["revenue"].tolist() == [100, 0, 300]
    assert days["open_opportunities"].tolist() == [3, 3, 2]  # b, c, d on the 5th; c, d, e on the 6th; d, e on the 7th
    assert days["pipeline_value"].tolist() == [430, 400, 100]
    assert days["win_rate"].tolist() == [1.0, 0.5, 2 / 3]  # trailing 3 days: a; a, b; a, b, c
    assert days["avg_deal_size"].tolist() == [100, 100, 200]
    cycle = [4.0, 4.0, 4.0]  # a: 4 days, c: 4 days
    assert days["pipeline_velocity"].tolist() == pytest.approx([3 * 100 * 1.0 / cycle[0], 3 * 100 * 0.5 / cycle[1], 2 * 200 * (2 / 3) / cycle[2]])


def test_month_end_levels_and_month_flows_match_the_kpi_report(crm_deals):
    names = ["revenue", "won", "open_opportunities", "pipeline_value", "pipeline_velocity"]
    points = kpi_points(crm_deals, names, "M", pd.Timestamp("2017-01-01"), pd.Timestamp("2017-12-31"))
    series = points.pivot(index="ds", columns="unique_id", values="y")
    report = opportunity_kpis(crm_deals, "M").query("segment == 'total'").set_index("ds").loc["2017-03-01":]
    for name in names:
        measured = series[f"kpi {name}"].reindex(report.index)
        assert np.allclose(measured, report[name], equal_nan=True), name
    assert len(series) == 12 and series.index[0] == pd.Timestamp("2017-01-01")
    assert "kpi pipeline_velocity" not in set(points.loc[points["ds"] < "2017-03-01", "unique_id"])  # nothing decided yet


class KpiEngine:
    """The engine watching the CRM pipeline's KPIs (no orders), run once a day at 06:00 UTC."""

    def __init__(self, folder, opportunities, **settings):
        self.store = Store(f"sqlite:///{folder / 'store.db'}").create()
        self.memory = MemoryNotifier()
        self.clock = SimulatedClock(dt.datetime(2017, 1, 1, tzinfo=dt.timezone.utc))
        revops = {"opportunities": str(opportunities), "products": str(CRM / "products.csv"), "watch": ["won", "pipeline_velocity"]}
        self.settings = parse({"currency": "$", "revops": revops, **settings}, "test config")

    def run_days(self, first: str, last: str) -> list:
        for day in pd.date_range(first, last):
            self.clock.now = day.to_pydatetime().replace(hour=6, tzinfo=dt.timezone.utc)
            summary = Engine(self.settings, self.store, notifiers={"memory": self.memory}, clock=self.clock).run(self.clock.now, sync=False)
            assert summary.exit_code == 0, summary.failed
        return self.memory.sent


def _with_fewer_wins(path, crm_deals, since: str) -> None:
    """The CRM export with every other deal won from ``since`` on recorded as lost instead."""
    raw = pd.read_csv(CRM / "sales_pipeline.csv", dtype=str)
    won_later = raw.index[(raw["deal_stage"] == "Won") & (pd.to_datetime(raw["close_date"]) >= since)]
    raw.loc[won_later[::2], "deal_stage"] = "Lost"
    raw.to_csv(path, index=False)


def test_fewer_wins_are_told_as_a_kpi_alert_and_the_real_pipeline_stays_quiet(tmp_path, crm_deals):
    changed = tmp_path / "changed.csv"
    _with_fewer_wins(changed, crm_deals, "2017-08-01")
    for name in ("real", "dropped"):
        (tmp_path / name).mkdir()
    real, dropped = KpiEngine(tmp_path / "real", CRM / "sales_pipeline.csv"), KpiEngine(tmp_path / "dropped", changed)
    try:
        quiet = [m for m in real.run_days("2017-07-29", "2017-08-14") if m.event == "opened"]
        told = [m for m in dropped.run_days("2017-07-29", "2017-08-14") if m.event == "opened"]
    finally:
        real.store.close()
        dropped.store.close()
    assert not [m for m in quiet if m.series_id == "kpi won"]
    [alert] = [m for m in told if m.series_id == "kpi won"]
    assert alert.period_start <= dt.date(2017, 8, 7), "told within a week"
    assert alert.title.startswith("Deals won are ") and "below forecast" in alert.title
    assert alert.metric == "won" and alert.currency == "" and alert.decomposition is None
    velocity = [m for m in real.memory.sent + dropped.memory.sent if m.series_id == "kpi pipeline_velocity"]
    assert all(m.currency == "$" and m.title.startswith("Pipeline velocity is ") for m in velocity)


def test_kpi_series_live_beside_the_orders_series(tmp_path, online_retail_orders):
    orders = tmp_path / "orders.csv"
    shifted = online_retail_orders.assign(ordered_at=pd.to_datetime(online_retail_orders["ordered_at"]) + pd.Timedelta(weeks=313))
    shifted[shifted["ordered_at"] < "2017-09-01"].to_csv(orders, index=False)  # real orders six years on, beside the CRM's 2017
    config = {
        "timezone": "Europe/London",
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "source": {"kind": "csv", "path": str(orders), "columns": {"order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount", "status": "status", "segments": {"country": "country"}}, "statuses": {"sale": ["completed"], "refund": ["refunded"]}},
        "series": {"by": ["country"], "top": 1, "min_history": 28},
        "forecast": {"model": "naive"},
        "revops": {"opportunities": str(CRM / "sales_pipeline.csv"), "watch": ["pipeline_value"]},
    }
    store = Store(config["store"]["url"]).create()
    try:
        for day in ("2017-08-20", "2017-08-21"):  # the second run syncs orders again and must keep the KPI's points
            as_of = dt.datetime.fromisoformat(day).replace(hour=6, tzinfo=dt.timezone.utc)
            summary = Engine(parse(config, "test config"), store, notifiers={"memory": MemoryNotifier()}).run(as_of)
            assert summary.exit_code == 0, summary.failed
        watched = Engine(parse(config, "test config"), store, notifiers={}).watched_series(pd.Timestamp("2017-08-20"))
        points = store.orders.points(series=["kpi pipeline_value"])
    finally:
        store.close()
    assert sorted(watched) == ["United Kingdom", "kpi pipeline_value", "total"]  # top 1 ranks only the orders series
    assert summary.forecast == 3 and points["y"].gt(0).all() and len(points) > 28


def test_a_segment_named_like_the_total_or_a_kpi_keeps_its_own_series():
    from forecaster.data.series import points_from_orders

    orders = pd.DataFrame({
        "ordered_at": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 11:00", "2024-03-01 12:00"], utc=True),
        "amount": [10.0, 20.0, 40.0], "counted": True,
        "segments": ['{"plan": "total"}', '{"plan": "kpi won"}', '{"plan": "pro"}'],
    })
    points = points_from_orders(orders, "UTC", "D", ["plan"], True, "revenue").set_index("unique_id")["y"].to_dict()
    assert points == {"total": 70.0, "total (segment)": 10.0, "kpi won (segment)": 20.0, "pro": 40.0}


def test_a_failing_source_leaves_the_kpi_series_unjudged_for_that_day(tmp_path, crm_deals):
    engine = KpiEngine(tmp_path, CRM / "sales_pipeline.csv")
    try:
        engine.run_days("2017-07-29", "2017-08-01")
        gone = engine.settings.revops.model_copy(update={"opportunities": tmp_path / "gone.csv"})
        engine.settings = engine.settings.model_copy(update={"revops": gone})
        engine.clock.now = dt.datetime(2017, 8, 2, 6, tzinfo=dt.timezone.utc)
        summary = Engine(engine.settings, engine.store, notifiers={"memory": engine.memory}, clock=engine.clock).run(engine.clock.now, sync=False)
    finally:
        engine.store.close()
    assert summary.exit_code == 1 and "gone.csv" in summary.failed["pipeline"]
    assert summary.series == 0 and summary.events == []  # no day judged as a collapse for want of its points
