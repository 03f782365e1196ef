"""The monitor's calendar and data awareness: holidays, events, closed days, completeness delay."""

import datetime as dt

import pandas as pd
import pytest
from pydantic import ValidationError

from alerts.calendar import Calendar, CalendarEvent
from alerts.deviation import Deviation
from forecaster.errors import ConfigError
from forecaster.replay import replay_series
from forecaster.settings import parse
from real_series import BERLIN, DailyEngine, rossmann_deviations, rossmann_long

ASCENSION, WHIT_MONDAY = dt.date(2015, 5, 14), dt.date(2015, 5, 25)


def test_public_holidays_by_country_and_subdivision():
    germany, nrw = Calendar(country="DE"), Calendar(country="de", subdivision="NW")
    assert germany.reason(ASCENSION) == "Ascension Day"
    assert germany.reason(WHIT_MONDAY) is not None
    assert germany.reason(dt.date(2015, 6, 4)) is None  # Corpus Christi: a holiday in some states only
    assert nrw.reason(dt.date(2015, 6, 4)) == "Corpus Christi"
    assert germany.reason(dt.date(2015, 5, 13)) is None


def test_holiday_and_event_windows():
    calendar = Calendar(
        country="DE", holiday_before=1, holiday_after=2,
        events=[
            CalendarEvent(name="Summer sale", start=dt.date(2015, 7, 6), end=dt.date(2015, 7, 8)),
            CalendarEvent(name="Street fair", date=dt.date(2015, 9, 5), before=2, after=1),
        ],
    )
    assert calendar.reason(dt.date(2015, 5, 13)) == "before Ascension Day"
    assert calendar.reason(dt.date(2015, 5, 16)) == "after Ascension Day"
    assert calendar.reason(dt.date(2015, 5, 17)) is None
    assert [calendar.reason(dt.date(2015, 7, d)) for d in (5, 6, 8, 9)] == [None, "Summer sale", "Summer sale", None]
    assert [calendar.reason(dt.date(2015, 9, d)) for d in (2, 3, 6, 7)] == [None, "Street fair", "Street fair", None]


def test_closed_weekdays():
    calendar = Calendar(closed_weekdays=["sun"])
    assert calendar.reason(dt.date(2015, 5, 10)) == "closed on Sundays"
    assert calendar.reason(dt.date(2015, 5, 11)) is None


def test_bad_calendar_settings_name_the_setting():
    with pytest.raises(ConfigError, match=r"monitor.calendar.country: .*no public holidays are known for country 'XX'"):
        parse({"monitor": {"calendar": {"country": "XX"}}}, "shop.yaml")
    with pytest.raises(ConfigError, match=r"subdivision 'ZZ' of DE is unknown"):
        parse({"monitor": {"calendar": {"country": "DE", "subdivision": "ZZ"}}}, "shop.yaml")
    with pytest.raises(ConfigError, match=r"monitor.calendar.closed_weekdays\[0\]: .*'mon'"):
        parse({"monitor": {"calendar": {"closed_weekdays": ["sunday"]}}}, "shop.yaml")
    with pytest.raises(ValidationError, match="either 'date' or 'start' and 'end'"):
        CalendarEvent(name="x", date=dt.date(2015, 1, 1), start=dt.date(2015, 1, 1), end=dt.date(2015, 1, 2))
    with pytest.raises(ValidationError, match="end 2015-01-01 is before start 2015-01-02"):
        CalendarEvent(name="x", start=dt.date(2015, 1, 2), end=dt.date(2015, 1, 1))
    with pytest.raises(ValidationError, match="needs 'date'"):
        CalendarEvent(name="x", start=dt.date(2015, 1, 2))


def test_closed_days_are_read_from_the_data():
    """Store 1 closes on Sundays: a Sunday without sales is not judged; a Tuesday without sales is."""
    history = rossmann_deviations(1, "2015-05-01", "2015-06-30", changes=[("2015-06-16", "2015-06-16", 0.0)], calendar=Calendar())
    sundays = [d for d in history if d.period_start.weekday() == 6]
    assert sundays and all(d.excused == "no sales, as on most recent Sundays" for d in sundays)
    tuesday = next(d for d in history if d.period_start == dt.date(2015, 6, 16))
    assert tuesday.actual == 0 and tuesday.excused is None, "an outage on a trading day is a slowdown"
    # without the holiday calendar, a closed Ascension Thursday is judged: the store trades on Thursdays
    assert next(d for d in history if d.period_start == ASCENSION).excused is None
    quiet = rossmann_deviations(1, "2015-05-01", "2015-06-30", calendar=Calendar(closed_from_data=False))
    assert not any(d.excused for d in quiet)


@pytest.mark.parametrize(
    "calendar",
    [Calendar(), Calendar(country="DE", holiday_before=1), Calendar(closed_weekdays=["sun"]), Calendar(country="DE", closed_from_data=False)],
)
def test_a_whole_history_is_judged_at_once_as_day_by_day(calendar):
    """The forecaster judges a gap-free history in one pass; it must agree with the monitor's day-by-day judgement."""
    long = rossmann_long([1, 2, 3, 262, 274], since="2013-01-01")
    for _, rows in long.groupby("unique_id"):
        y = rows.set_index("ds")["y"].astype(float)
        assert (y.index[-1] - y.index[0]).days + 1 == len(y)
        actuals = dict(zip(y.index.date, y))
        one_by_one = [v <= 0 and calendar.was_closed(day, v, actuals) for day, v in actuals.items()]
        assert calendar.closed_each(y.index[0].date(), y.to_numpy()).tolist() == one_by_one


def test_a_holiday_week_is_judged_against_a_smaller_expectation():
    """Weekly series: the Whit Monday week of store 1 is expected to sell 5/6 of a normal week (closed Sundays)."""
    week = Deviation("store 1", WHIT_MONDAY, WHIT_MONDAY + dt.timedelta(days=6), 22653.0, 27000.0, {80: (24000.0, 30000.0)})
    scaled = Calendar(country="DE", closed_weekdays=["sun"]).excuse([week], {}, "W")[0]
    assert scaled.expected == pytest.approx(27000 * 5 / 6) and scaled.bounds[80] == pytest.approx((20000.0, 25000.0))
    assert scaled.actual > scaled.lower(80), "the holiday explains the low week: no breach"
    assert scaled.excused is None
    normal = Deviation("store 1", dt.date(2015, 6, 8), dt.date(2015, 6, 14), 27000.0, 27000.0)
    assert Calendar(country="DE").excuse([normal], {}, "W")[0] == normal


def replay_may(calendar: dict) -> pd.DataFrame:
    """Store 1 in May 2015 against seasonal naive. Pacing at 80%: the week of Ascension Day (without promotions,
    after a week with them) alerts by its Wednesday, so the alert's evidence does not span the holiday."""
    rules = [{"kind": "band"}, {"kind": "pacing", "level": 80}]
    settings = parse({"timezone": BERLIN, "series": {"min_history": 56}, "forecast": {"model": "naive"}, "monitor": {"calendar": calendar, "rules": rules}}, "test config")
    return replay_series(rossmann_long([1]), settings, dt.date(2015, 5, 4), dt.date(2015, 6, 1))


def judged_days(alerts: pd.DataFrame) -> set[dt.date]:
    """Every day the evidence of an opened or escalated alert covers."""
    alerts = alerts[alerts.event.isin(["opened", "escalated"])]
    return {d.date() for s, e in zip(alerts.period_start, alerts.period_end) for d in pd.date_range(s, e)}


def test_rossmann_store_1_does_not_alert_on_german_holidays_with_the_calendar():
    """May 2015: Ascension Day and Whit Monday, store 1 closed. Without the calendar Ascension Day reads as a
    slowdown (the week Whit Monday starts stays within the band of a record that has Easter's closed days in it)."""
    without = replay_may({})
    assert ASCENSION in judged_days(without), without
    with_calendar = replay_may({"country": "DE"})
    assert not {ASCENSION, WHIT_MONDAY} & judged_days(with_calendar), with_calendar
    assert len(with_calendar) < len(without)


def test_a_period_is_judged_only_after_the_completeness_delay(tmp_path):
    """Store 262: with a six-hour delay, Sunday is judged at 06:00 on Monday, not at 05:00."""
    engine = DailyEngine(rossmann_long([262]), tmp_path, monitor={"completeness_delay_hours": 6})
    try:
        engine.run_days(dt.date(2015, 5, 25), dt.date(2015, 6, 7))  # runs at midnight: vintages, and judging up to Friday
        judged = lambda: set(engine.store.monitor_state.all().values())  # noqa: E731
        assert max(judged()) == dt.date(2015, 6, 5)
        engine.run(pd.Timestamp("2015-06-08 05:00", tz=BERLIN).to_pydatetime())
        assert max(judged()) == dt.date(2015, 6, 6), "Sunday's data may still be arriving"
        engine.run(pd.Timestamp("2015-06-08 06:00", tz=BERLIN).to_pydatetime())
        assert max(judged()) == dt.date(2015, 6, 7)
    finally:
        engine.close()

