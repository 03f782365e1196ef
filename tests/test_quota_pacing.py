"""The quarter's pace against quota from the CRM pipeline: one message when it falls off pace, one when it recovers."""

from __future__ import annotations

import datetime as dt

from urllib.parse import quote

import pandas as pd
import pytest
import requests

from alerts.notifiers.memory import MemoryNotifier
from alerts.render import render_text
from forecaster.engine import Engine
from forecaster.pipeline_forecast import PipelineForecast
from forecaster.quota_pacing import quota_finding
from forecaster.replay import SimulatedClock
from forecaster.settings import parse
from forecaster.store import Store
from conftest import DATA
from test_web import _serving, _settings

CRM = DATA / "crm_pipeline"


def _outlook(p10: float, p50: float, p90: float) -> PipelineForecast:
    return PipelineForecast(pd.Period("2017Q2", "Q"), pd.Timestamp("2017-05-02"), 750_000.0, 4_000_000.0, p10, p50, p90, p50)


def test_the_pace_fires_below_its_share_of_quota_and_is_critical_when_even_p90_misses():
    quiet = quota_finding(_outlook(2.7e6, 2.9e6, 3.1e6), quota=3e6, alert_below=0.9)
    assert not quiet.firing and quiet.recovered
    short = quota_finding(_outlook(2.5e6, 2.6e6, 3.1e6), quota=3e6, alert_below=0.9)
    assert short.firing and short.severity == "warning" and short.score == pytest.approx(1 - 2.6 / 3)
    hopeless = quota_finding(_outlook(2.0e6, 2.2e6, 2.4e6), quota=3e6, alert_below=0.9)
    assert hopeless.firing and hopeless.severity == "critical"
    assert (hopeless.evidence.period_start, hopeless.evidence.period_end) == (dt.date(2017, 4, 1), dt.date(2017, 6, 30))


class PacingEngine:
    """The engine with only a ``revops:`` section (no orders), run once a day at 06:00 UTC."""

    def __init__(self, folder, **revops):
        self.store = Store(f"sqlite:///{folder / 'store.db'}").create()
        self.memory = MemoryNotifier()
        self.clock = SimulatedClock(dt.datetime(2017, 1, 1, tzinfo=dt.timezone.utc))
        self.revops = {"opportunities": str(CRM / "sales_pipeline.csv"), "products": str(CRM / "products.csv"), **revops}

    def run(self, day: str, **revops):
        settings = parse({"currency": "$", "revops": {**self.revops, **revops}}, "test config")
        self.clock.now = dt.datetime.fromisoformat(day).replace(hour=6, tzinfo=dt.timezone.utc)
        engine = Engine(settings, self.store, notifiers={"memory": self.memory}, clock=self.clock)
        return engine.run(self.clock.now, sync=False)

    def sent(self):
        return [(m.event, m.series_id, m.severity) for m in self.memory.sent]


def test_a_quarter_off_pace_is_told_once_and_its_recovery_once(tmp_path):
    engine = PacingEngine(tmp_path, quota=3_500_000)
    try:
        for day in ("2017-05-01", "2017-05-02", "2017-05-03", "2017-05-03"):  # the last run repeats a day
            summary = engine.run(day)
            assert summary.exit_code == 0 and "pace" in summary.steps
        assert engine.sent() == [("opened", "quota 2017Q2", "critical")]
        [message] = engine.memory.sent
        assert message.title == "2017Q2 is on pace for 82% of quota"
        assert message.labels == ("projected", "quota") and message.expected == 3_500_000
        assert message.lower < message.actual < message.upper
        text = render_text(message)
        assert "Projected $2,8" in text and "vs quota $3,500,000" in text and "Pipeline coverage 1.4x of the $2,778,068 still to win, below the 3x target." in text

        for day in ("2017-05-04", "2017-05-05", "2017-05-06"):  # a lower quota: back on pace, resolved after two days
            engine.run(day, quota=3_000_000)
        assert engine.sent() == [("opened", "quota 2017Q2", "critical"), ("resolved", "quota 2017Q2", "info")]
        assert engine.memory.sent[-1].title.startswith("2017Q2 is back on pace: 9")
    finally:
        engine.store.close()


def test_the_dashboard_shows_a_pace_incident(tmp_path):
    engine = PacingEngine(tmp_path, quota=3_500_000)
    engine.run("2017-05-01")
    [incident] = engine.store.incidents.list()
    engine.store.close()
    with _serving(_settings(f"sqlite:///{tmp_path / 'store.db'}")) as (base, _):
        page = requests.get(f"{base}/incidents/{quote(incident.id, safe='')}", timeout=30)
    assert page.status_code == 200 and "2017Q2 is on pace for 82% of quota" in page.text


def test_a_new_quarter_closes_the_last_ones_incident_without_a_message(tmp_path):
    engine = PacingEngine(tmp_path, quota=3_500_000)
    try:
        engine.run("2017-06-28")
        engine.run("2017-07-05")
        assert [s for _, s, _ in engine.sent()] == ["quota 2017Q2", "quota 2017Q3"]
        assert [(i.series_id, i.status) for i in engine.store.incidents.list()] == [("quota 2017Q3", "open"), ("quota 2017Q2", "resolved")]
    finally:
        engine.store.close()


def test_an_unreadable_opportunities_file_fails_the_step_and_says_which(tmp_path):
    engine = PacingEngine(tmp_path, quota=3_500_000, opportunities=str(tmp_path / "missing.csv"))
    try:
        summary = engine.run("2017-05-01")
    finally:
        engine.store.close()
    assert summary.exit_code == 1 and "missing.csv" in summary.failed["pipeline"]
    assert engine.sent() == []


def test_a_pipeline_with_no_recent_win_fails_only_the_pace(tmp_path):
    engine = PacingEngine(tmp_path, quota=3_500_000, watch=["pipeline_value"])
    try:
        summary = engine.run("2017-02-01")  # the CRM's first wins are in March 2017
    finally:
        engine.store.close()
    assert summary.exit_code == 1 and "no deal was won in the 90 days before 2017-02-01" in summary.failed["quota_pace"]
    assert summary.pipeline_deals > 0 and "pipeline" not in summary.failed and engine.sent() == []
