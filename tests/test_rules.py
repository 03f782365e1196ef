"""Detection rules and incident policy on hand-made and real deviations."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from alerts.calendar import Calendar
from alerts.calibration import calibrated
from alerts.deviation import Deviation, aggregate
from alerts.incidents import IncidentPolicy, IncidentTracker, MemoryIncidentStore
from alerts.rules import BandRule, CusumRule, PacingRule, period_start
from conftest import DATA
from real_series import rossmann_deviations

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


def test_band_by_default_ignores_days_less_than_12_percent_short_even_outside_a_narrow_band():
    """A well-calibrated band can be narrower than everyday noise: 10% short is not a slowdown, 20% is."""
    rule = BandRule(kind="band")
    assert not rule.evaluate(days([90, 89, 90, 90, 89], half_width=6)).firing
    assert rule.evaluate(days([100, 80, 81, 80, 80], half_width=6)).firing
    assert BandRule(kind="band", min_rel_delta=0.05).evaluate(days([90, 89, 90, 90, 89], half_width=6)).firing


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


def test_pacing_does_not_fire_within_the_period_to_date_interval():
    """20% short over three days, but the days' combined 95% interval reaches lower: noise, not a pace."""
    rule = PacingRule(kind="pacing", min_shortfall=0.15)
    assert not rule.evaluate(days([80, 80, 80], half_width=20)).firing  # 95%: +-40 a day, +-69 over three
    assert rule.evaluate(days([80, 80, 80], half_width=10)).firing
    assert PacingRule(kind="pacing", level=80).evaluate(days([80, 80, 80], half_width=20)).firing


def test_pacing_on_noisy_real_revenue_fires_on_a_drop_not_on_everyday_gaps(online_retail_orders):
    """Online Retail's daily revenue against the same weekday's 4-week mean, bands from its own errors."""
    when = pd.to_datetime(online_retail_orders["ordered_at"]).dt.normalize()
    revenue = online_retail_orders.groupby(when)["amount"].sum().asfreq("D", fill_value=0.0)
    expected = pd.concat([revenue.shift(7 * k) for k in range(1, 5)], axis=1).mean(axis=1)

    def deviations(actual):
        return calibrated([
            Deviation("online retail", d.date(), d.date(), float(a), float(e), {80: (e, e), 95: (e, e)})
            for d, a, e in zip(actual.index, actual, expected) if e > 0 and a > 0  # the shop sells on no Saturday
        ], 70)

    rule = PacingRule(kind="pacing", min_shortfall=0.15)
    plain = deviations(revenue)
    findings = [f for i in range(100, len(plain)) if (f := rule.evaluate(plain[: i + 1])) is not None]
    short = [f for f in findings if f.score >= 0.15]
    assert len(short) >= 10 and sum(f.firing for f in findings) <= len(short) / 2
    dropped = revenue.where(revenue.index < "2011-09-05", revenue * 0.5)  # a Monday
    history = deviations(dropped)
    found = [(d.period_start, rule.evaluate(history[: i + 1])) for i, d in enumerate(history) if d.period_start >= dt.date(2011, 9, 5)]
    firing = [day for day, f in found if f is not None and f.firing]
    assert firing and firing[0] <= dt.date(2011, 9, 9)


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
    return tracker.observe("s", period, [rule.evaluate(history[: period_index + 1])], since)


def test_incident_opens_once_stays_quiet_and_resolves():
    rule = BandRule(kind="band", n=2, m=3, min_rel_delta=0.05)
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


# --- Rules on real Rossmann stores (expectation: same weekday and promo status, 16% noise; DE calendar) ---

DROP = "2015-06-15"  # a Monday
DROP_DAY = dt.date.fromisoformat(DROP)


def first_firing(rule, history):
    """The first period at which ``rule`` fires over ``history``, else None."""
    for i in range(len(history)):
        finding = rule.evaluate(history[: i + 1])
        if finding is not None and finding.firing:
            return history[i].period_start
    return None


def test_cusum_catches_a_small_sustained_drop_the_band_rule_misses():
    """Store 262, sales 10% down from 15 June: within 10 days for CUSUM, never for 3-of-5 band breaches."""
    dropped = rossmann_deviations(262, "2015-03-01", "2015-07-31", changes=[(DROP, "2015-07-31", 0.9)])
    assert first_firing(CusumRule(kind="cusum"), dropped) <= dt.date(2015, 6, 25)
    assert first_firing(BandRule(kind="band"), dropped) is None
    clean = rossmann_deviations(262, "2015-03-01", "2015-07-31")
    assert first_firing(CusumRule(kind="cusum"), clean) is None, "unmodified sales: no drift"


def test_cusum_threshold_trades_speed_for_quiet():
    dropped = rossmann_deviations(262, "2015-03-01", "2015-07-31", changes=[(DROP, "2015-07-31", 0.85)])
    fast, slow = first_firing(CusumRule(kind="cusum", h=3), dropped), first_firing(CusumRule(kind="cusum", h=8), dropped)
    assert fast < slow


def test_cusum_restarts_after_each_alarm_and_recovers_with_the_recent_periods():
    """Store 25, 30% down for three weeks: fires again only as the drift goes on; recovered four days after."""
    history = rossmann_deviations(25, "2015-03-01", "2015-07-20", changes=[(DROP, "2015-07-05", 0.7)])
    rule = CusumRule(kind="cusum")
    up_to = lambda day: [d for d in history if d.period_start <= day]  # noqa: E731
    findings = {d.period_start: rule.evaluate(up_to(d.period_start)) for d in history if d.period_start >= dt.date(2015, 6, 1)}
    alarms = sorted(day for day, f in findings.items() if f is not None and f.firing)
    assert alarms and alarms[0] <= dt.date(2015, 6, 18) and alarms[-1] <= dt.date(2015, 7, 5)
    assert len(alarms) >= 3, "a drift that goes on crosses the threshold again"
    assert all((b - a).days > 1 for a, b in zip(alarms, alarms[1:])), "the statistic starts again from zero after an alarm"
    assert dt.date(2015, 6, 8) <= findings[alarms[0]].evidence.period_start <= DROP_DAY, "evidence: the run of the drift"
    assert not findings[dt.date(2015, 7, 1)].recovered
    assert findings[dt.date(2015, 7, 9)].recovered and not findings[dt.date(2015, 7, 9)].firing  # four normal days


def test_direction_up_watches_surges_and_down_ignores_them():
    """Store 3 (NW), sales 40% up for two weeks: an 'up' band rule fires, the default 'down' one does not.

    Shoppers stock up the day before a holiday and catch up the day after: with those days
    excused, the unmodified store has no surge at all.
    """
    calendar = Calendar(country="DE", subdivision="NW", holiday_before=1, holiday_after=1)
    surge = rossmann_deviations(3, "2015-05-01", "2015-06-30", changes=[(DROP, "2015-06-28", 1.4)], calendar=calendar)
    up = BandRule(kind="band", direction="up")
    assert first_firing(up, surge) <= dt.date(2015, 6, 20)
    assert first_firing(BandRule(kind="band"), surge) is None
    finding = up.evaluate([d for d in surge if d.period_start <= dt.date(2015, 6, 20)])
    assert finding.direction == "up" and finding.score > 0.2 and finding.evidence.deviation_pct > 20
    assert first_firing(up, rossmann_deviations(3, "2015-05-01", "2015-06-30", calendar=calendar)) is None


def test_min_volume_keeps_small_evidence_unjudged():
    """Store 1 down 30%: judged with a volume floor below its week's expectation, not above it."""
    history = rossmann_deviations(1, "2015-05-01", "2015-06-19", changes=[(DROP, "2015-06-30", 0.7)])
    finding = BandRule(kind="band").evaluate(history)
    assert finding.firing
    assert BandRule(kind="band", min_volume=finding.evidence.expected * 0.9).evaluate(history).firing
    assert BandRule(kind="band", min_volume=finding.evidence.expected * 1.1).evaluate(history) is None


def test_pacing_projects_the_period_end_shortfall():
    history = rossmann_deviations(1, "2015-05-01", "2015-06-17", changes=[(DROP, "2015-06-30", 0.7)])
    finding = PacingRule(kind="pacing").evaluate(history)
    assert finding.firing and finding.periods == 3  # Monday to Wednesday
    assert finding.projected_shortfall == pytest.approx(finding.evidence.shortfall * 7 / 3)


def test_pacing_hysteresis_keeps_the_incident_open_while_still_short():
    """Store 1: a week 30% down, then a week 10% down (below min_shortfall, still material), then normal."""
    history = rossmann_deviations(1, "2015-05-01", "2015-07-12", changes=[(DROP, "2015-06-21", 0.7), ("2015-06-22", "2015-06-28", 0.9)])
    rule = PacingRule(kind="pacing", min_shortfall=0.15, min_rel_delta=0.05)
    tracker = _tracker(resolve_after=2)
    since = lambda a, b: (b - a).days  # noqa: E731
    events = {}
    for i, d in enumerate(history):
        event = tracker.observe("store 1", d.period_start, [rule.evaluate(history[: i + 1])], since)
        if event:
            events[event.kind] = d.period_start
    assert dt.date(2015, 6, 15) <= events["opened"] <= dt.date(2015, 6, 19)
    assert events["resolved"] > dt.date(2015, 6, 28), "a week 10% short does not count as recovered"
    short_week = rule.evaluate([d for d in history if d.period_start <= dt.date(2015, 6, 26)])
    assert not short_week.firing and not short_week.recovered


def test_excused_days_are_not_judged_and_do_not_fill_the_window():
    """Ascension Day 2015 (store 1 closed): not judged, and the band window reaches back past it."""
    history = rossmann_deviations(1, "2015-05-01", "2015-05-16")
    by_day = {d.period_start: d for d in history}
    assert by_day[dt.date(2015, 5, 14)].excused == "Ascension Day"
    assert by_day[dt.date(2015, 5, 10)].excused.startswith("no sales")  # a Sunday
    rule = BandRule(kind="band", n=3, m=5)
    assert rule.evaluate(history[: history.index(by_day[dt.date(2015, 5, 14)]) + 1]) is None
    finding = rule.evaluate(history)
    assert finding.evidence.period_start == dt.date(2015, 5, 11), "Mon-Wed, Fri, Sat: five judged days"
    assert finding.periods == 5


def test_feedback_raises_each_rule_threshold_with_a_cap():
    policy = IncidentPolicy(feedback_step=0.25, feedback_max=2.0)
    assert policy.sensitivity({"real": 5}) == 1
    assert policy.sensitivity({"false_alarm": 1}) == pytest.approx(1.25)
    assert policy.sensitivity({"false_alarm": 1, "expected": 1}) == pytest.approx(1.5625)
    assert policy.sensitivity({"false_alarm": 9}) == 2.0
    band = BandRule(kind="band", min_rel_delta=0.1, min_abs_delta=50).desensitized(2.0)
    assert (band.min_rel_delta, band.min_abs_delta) == (0.2, 100)
    assert PacingRule(kind="pacing", min_shortfall=0.6).desensitized(2.0).min_shortfall == 0.99
    assert CusumRule(kind="cusum", h=5).desensitized(1.5).h == 7.5
