"""The engine end to end on real orders: sync, forecast, judge, deliver; idempotent and retrying."""

import datetime as dt
from pathlib import Path

import pandas as pd

from alerts.notifiers.memory import MemoryNotifier
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock, replay_series, run_times
from forecaster.settings import parse
from forecaster.store import Store
from conftest import DATA, DROP_FROM
from servers import HTTPServer, SMTPServer

LONDON = "Europe/London"


def settings_for(orders: Path, store_url: str, channels=None, **series):
    return parse(
        {
            "timezone": LONDON,
            "currency": "£",
            "store": {"url": store_url},
            "source": {
                "kind": "csv", "path": str(orders),
                "columns": {"order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount", "status": "status", "segments": {"country": "country"}},
                "statuses": {"sale": ["completed"], "refund": ["refunded"]},
            },
            "series": {"by": [], "total": True, "min_history": 56, **series},
            "forecast": {"model": "ets"},
            "monitor": {"rules": [{"kind": "band", "n": 3, "m": 5, "min_rel_delta": 0.1}, {"kind": "pacing", "period": "week", "min_shortfall": 0.2}]},
            "channels": channels or [{"kind": "console"}],
            "delivery": {"backoff_seconds": 60},
        },
        "test config",
    )


def run_days(engine, clock, first, last):
    summaries = []
    for moment in run_times(first, last, "D", LONDON):
        clock.now = moment
        summaries.append(engine.run(moment))
    return summaries


def test_drop_opens_one_incident_per_series_and_reruns_send_nothing_twice(orders_with_drop, store_url):
    settings = settings_for(orders_with_drop, store_url)
    store = Store(store_url).create()
    memory = MemoryNotifier()
    clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
    engine = Engine(settings, store, notifiers={"memory": memory}, clock=clock)
    summaries = run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 20))
    opened = [m for m in memory.sent if m.event == "opened"]
    assert opened, "a sustained 60% drop must open an incident"
    assert all(m.period_end >= dt.date.fromisoformat(DROP_FROM) for m in opened), "no alert before the drop"
    assert min(m.created_at for m in opened).date() <= dt.date(2011, 10, 14)
    assert len({m.series_id for m in opened}) == len(opened), "one incident per series, whichever rules fire"
    assert "below forecast" in opened[0].title and opened[0].deviation_pct < -30

    sent_before = len(memory.sent)
    again = engine.run(summaries[-1].as_of)
    assert (again.forecast, again.events, again.sent) == (0, [], 0)
    assert len(memory.sent) == sent_before
    assert store.outbox.counts() == {"sent": sent_before}
    store.close()


def test_a_failing_channel_delivers_on_the_retry_exactly_once(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    memory = MemoryNotifier()
    memory.fail_next(1)
    clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
    engine = Engine(settings_for(orders_with_drop, url), store, notifiers={"memory": memory}, clock=clock)
    summaries = run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 20))
    assert sum(s.retrying for s in summaries) == 1
    assert any(s.exit_code == 1 for s in summaries)
    keys = [m.key for m in memory.sent]
    assert len(keys) == len(set(keys)) and store.outbox.counts() == {"sent": len(keys)}
    store.close()


def test_slack_and_email_receive_the_alert(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with HTTPServer() as slack, SMTPServer() as smtp:
        channels = [
            {"kind": "slack", "webhook_url": f"{slack.url}/services/T0/B0/secret"},
            {"kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "salescast@shop.test", "recipients": ["owner@shop.test"]},
        ]
        settings = settings_for(orders_with_drop, url, channels=channels)
        store = Store(url).create()
        clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
        engine = Engine(settings, store, clock=clock)
        run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 16))
        store.close()
        posts = [r.json() for r in slack.requests]
        mails = smtp.messages
    assert posts and len(posts) == len(mails)
    assert any("below forecast" in p["text"] for p in posts)
    assert all(p["blocks"][0]["type"] == "header" for p in posts)
    first = mails[0]
    assert "below forecast" in first["Subject"] and first["To"] == "owner@shop.test"
    kinds = {part.get_content_type() for part in first.walk()}
    assert {"text/plain", "text/html"} <= kinds


def test_replay_on_a_real_store_opens_on_the_drop_and_resolves_on_recovery():
    """Rossmann store 262 (open every day): sales cut by 35% for two weeks, then back to normal."""
    sales = pd.read_csv(DATA / "rossmann/train.csv.gz", dtype={"StateHoliday": str}, usecols=["Store", "Date", "Sales"])
    store = sales[sales.Store == 262].assign(ds=lambda f: pd.to_datetime(f.Date)).sort_values("ds")
    store = store[store.ds >= "2014-09-01"]
    drop = (store.ds >= "2015-06-01") & (store.ds < "2015-06-15")
    long = pd.DataFrame({"unique_id": "store 262", "ds": store.ds, "y": store.Sales.where(~drop, store.Sales * 0.65)})
    settings = parse({"timezone": "Europe/Berlin", "series": {"min_history": 56}, "forecast": {"model": "ets"}, "monitor": {"incidents": {"resolve_after": 3}}}, "test config")
    notifications = replay_series(long, settings, dt.date(2015, 5, 4), dt.date(2015, 7, 1))
    assert list(notifications.columns) == [
        "unique_id", "fired_at", "event", "rule", "severity", "period_start", "period_end",
        "actual", "expected", "lower", "upper", "deviation_pct",
    ]
    events = notifications.event.tolist()
    assert events[0] == "opened" and events[-1] == "resolved", "band and pacing tell one story"
    assert set(events[1:-1]) <= {"escalated"}, "a deeper shortfall is the same incident, escalated"
    assert notifications.rule.iloc[0] in ("band", "pacing_week")
    opened, resolved = notifications.fired_at.str[:10].iloc[[0, -1]]
    assert "2015-06-02" <= opened <= "2015-06-08", "found within a week of the drop"
    assert "2015-06-15" <= resolved <= "2015-06-26", "resolved after the recovery, not before"
    assert (notifications.deviation_pct[notifications.event == "opened"] < -20).all()


def test_a_crash_between_judging_and_queuing_loses_no_alert(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    memory = MemoryNotifier()
    clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
    engine = Engine(settings_for(orders_with_drop, url), store, notifiers={"memory": memory}, clock=clock)
    enqueue = store.outbox.enqueue
    lost = []

    def crash_once(message, *args, **kwargs):
        store.outbox.enqueue = enqueue
        lost.append(message.key)
        raise KeyboardInterrupt("process killed after the incident was saved")

    store.outbox.enqueue = crash_once
    crashed_on = None
    for moment in run_times(dt.date(2011, 10, 3), dt.date(2011, 10, 20), "D", LONDON):
        clock.now = moment
        try:
            engine.run(moment)
        except KeyboardInterrupt:
            crashed_on = moment
            engine.run(moment)  # the restart
    assert crashed_on is not None, "the drop must have produced an event"
    assert lost[0] in [m.key for m in memory.sent], "the interrupted announcement is sent after the restart"
    assert len({m.key for m in memory.sent}) == len(memory.sent)
    assert store.outbox.counts() == {"sent": len(memory.sent)}
    store.close()


def test_a_scheduled_run_flags_a_new_series_as_cold_start():
    """Store 262 as if it had opened 60 days ago, beside its full history."""
    from alerts.calendar import Calendar
    from forecaster.series_job import SeriesJob, run_series_job

    sales = pd.read_csv(DATA / "rossmann/train.csv.gz", usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    y = sales[sales.Store == 262].set_index("Date")["Sales"].sort_index().astype(float).rename_axis("ds")

    def run(history):
        return run_series_job(SeriesJob(history, "D", 14, (80, 95), "auto", ("naive", "ets"), 3, {}, Calendar(country="DE")))

    new = run(y.iloc[-60:])
    assert new.note == "cold start: 60 periods of history (fewer than 182)"
    assert run(y.iloc[-400:]).note is None
