"""Detection rules and incident policy on hand-made and real deviations."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from alerts.deviation import Deviation, aggregate
from alerts.incidents import IncidentPolicy, IncidentTracker, MemoryIncidentStore
from alerts.rules import BandRule, PacingRule, period_start
from conftest import DATA

DAY = dt.timedelta(days=1)
START = dt.date(2015, 6, 1)  # a Monday


def days(actuals, expected=100.0, half_width=10.0, start=START):
    return [
        Deviation("s", start + i * DAY, start + i * DAY, a, expected, {80: (expected - half_width, expected + half_width), 95: (expected - 2 * half_width, expected + 2 * half_width)})
        for i, a in enumerate(actuals)
    ]


def test_band_fires_on_n_of_m_breaches_only():
    rule = BandRule(kind="band", n=3, m=5)
    assert rule.evaluate(days([80, 100, 80, 100, 80])).firing
    assert not rule.evaluate(days([80, 100, 80, 100, 100])).firing


def test_band_waits_for_enough_periods():
    assert BandRule(kind="band", n=3, m=5).evaluate(days([50, 50])) is None


def test_band_minimum_deltas_keep_tiny_series_quiet():
    tiny = days([0.5, 0.5, 0.5], expected=2.0, half_width=0.5)
    assert not BandRule(kind="band", n=3, m=3, min_abs_delta=10).evaluate(tiny).firing
    assert BandRule(kind="band", n=3, m=3, min_abs_delta=1).evaluate(tiny).firing


def test_band_severity_follows_the_shortfall():
    assert BandRule(kind="band", n=3, m=3).evaluate(days([85, 85, 85])).severity == "warning"
    assert BandRule(kind="band", n=3, m=3).evaluate(days([50, 50, 50])).severity == "critical"


def test_band_rejects_n_above_m():
    with pytest.raises(ValueError, match="must not exceed"):
        BandRule(kind="band", n=4, m=3)


def test_pacing_judges_week_to_date_from_the_minimum_elapsed_days():
    rule = PacingRule(kind="pacing", period="week", min_shortfall=0.15, min_elapsed=3)
    assert rule.evaluate(days([70, 70])) is None
    finding = rule.evaluate(days([70, 80, 90]))
    assert finding.firing and finding.evidence.actual == 240 and finding.evidence.expected == 300
    assert finding.pacing == "week" and finding.rule == "pacing_week"


def test_pacing_needs_a_forecast_from_the_start_of_the_period():
    rule = PacingRule(kind="pacing", period="week", min_elapsed=3)
    assert rule.evaluate(days([50, 50, 50], start=START + DAY)) is None


def test_pacing_starts_over_each_week():
    rule = PacingRule(kind="pacing", period="week", min_elapsed=3)
    history = days([50] * 7 + [100, 100, 100])  # a bad week, then three normal days
    finding = rule.evaluate(history)
    assert finding.evidence.period_start == START + 7 * DAY and not finding.firing


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)), st.sampled_from(["week", "month", "quarter"]))
def test_period_start_contains_the_day(day, period):
    first = period_start(day, period)
    assert first <= day
    assert period_start(first, period) == first
    assert (day - first).days < {"week": 7, "month": 31, "quarter": 92}[period]


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=30), st.floats(1, 1e6))
def test_aggregate_sums_and_keeps_bounds_around_the_expectation(actuals, expected):
    total = aggregate(days(actuals, expected=expected, half_width=expected / 10))
    assert total.actual == pytest.approx(sum(actuals))
    assert total.expected == pytest.approx(expected * len(actuals))
    lo, hi = total.bounds[80]
    assert lo <= total.expected <= hi


def _tracker(**policy):
    return IncidentTracker(IncidentPolicy(**policy), MemoryIncidentStore())


def _observe(tracker, rule, history, period_index):
    period = history[period_index].period_start
    since = lambda a, b: (b - a).days  # noqa: E731
    return tracker.observe("s", "band", period, rule.evaluate(history[: period_index + 1]), since)


def test_incident_opens_once_stays_quiet_and_resolves():
    rule = BandRule(kind="band", n=2, m=3)
    history = days([70, 70, 70, 70, 100, 100, 100, 100])
    tracker = _tracker(resolve_after=2, escalate_margin=0.2)
    events = [_observe(tracker, rule, history, i) for i in range(len(history))]
    kinds = [e.kind if e else None for e in events]
    # resolves only once the whole window is back to normal, not as soon as breaches stop
    assert kinds == [None, "opened", None, None, None, None, None, "resolved"]


def test_incident_escalates_only_when_clearly_worse():
    rule = BandRule(kind="band", n=2, m=2, critical_shortfall=0.5)
    history = days([85, 85, 84, 60, 65])
    tracker = _tracker(escalate_margin=0.1)
    kinds = [(e.kind if e else None) for e in (_observe(tracker, rule, history, i) for i in range(len(history)))]
    assert kinds == [None, "opened", None, "escalated", None]


def test_cooldown_blocks_an_immediate_reopen():
    rule = BandRule(kind="band", n=1, m=1)
    history = days([70, 100, 70, 100, 100, 100, 100, 70])
    tracker = _tracker(resolve_after=1, cooldown=3)
    kinds = [(e.kind if e else None) for e in (_observe(tracker, rule, history, i) for i in range(len(history)))]
    assert kinds == ["opened", "resolved", None, None, None, None, None, "opened"]


def test_band_on_a_real_store_with_an_injected_drop():
    """Rossmann store 1, open days, expectation = same weekday four weeks before: a 30% drop fires."""
    sales = pd.read_csv(DATA / "rossmann/train.csv.gz", dtype={"StateHoliday": str}, parse_dates=["Date"])
    store = sales[(sales.Store == 1) & (sales.Open == 1)].sort_values("Date").set_index("Date")["Sales"].astype(float)
    recent = store.iloc[-60:]
    expected = store.shift(24).iloc[-60:]  # 24 open days = 4 weeks back
    actual = recent.copy()
    actual.iloc[-10:] *= 0.7
    history = [
        Deviation("store 1", d.date(), d.date(), a, e, {80: (0.85 * e, 1.15 * e)})
        for d, a, e in zip(recent.index, actual, expected)
    ]
    rule = BandRule(kind="band", n=3, m=5, level=80)
    assert rule.evaluate(history).firing
    assert not rule.evaluate(history[:-10]).firing


def test_a_period_judged_again_after_a_crash_announces_the_same_event():
    rule = BandRule(kind="band", n=2, m=3)
    history = days([70, 70, 70])
    tracker = _tracker()
    first = _observe(tracker, rule, history, 1)
    again = _observe(tracker, rule, history, 1)  # the message was never queued: judge the period again
    assert first.kind == again.kind == "opened" and first.key == again.key
    assert _observe(tracker, rule, history, 2) is None
