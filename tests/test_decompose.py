"""Why it fired, on real Online Retail orders: fewer orders or smaller baskets, and the segments behind a shortfall."""

import dataclasses
import datetime as dt
import json
import logging

import numpy as np
import pytest
from test_channels import check_slack_limits
from test_email_html import ARTIFACTS
from test_engine import LONDON, run_days, settings_for

from alerts.compose import sample_message
from alerts.decompose import decompose, describe_reference, reference_windows
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.memory import MemoryNotifier
from alerts.render import explanation, render_slack, render_text
from forecaster.data.sources import open_source
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock
from forecaster.settings import parse
from forecaster.store import Store

FOUR_WEEKS = (dt.date(2011, 10, 10), dt.date(2011, 11, 6))


def normalized(path=None):
    """Order rows as the store keeps them (UTC times, signed amounts, counted flag, segments JSON)."""
    location = {"path": str(path)} if path else {"sample": "online_retail_orders.csv.gz"}
    columns = {"order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount", "status": "status", "segments": {"country": "country"}}
    settings = parse({"timezone": LONDON, "source": {"kind": "csv", **location, "columns": columns, "statuses": {"sale": ["completed"], "refund": ["refunded"]}}}, "test")
    return open_source(settings.source, LONDON).load(None, None).orders


@pytest.fixture(scope="module")
def orders(online_retail_orders):
    frame = normalized()
    assert len(frame) == len(online_retail_orders)
    return frame


def local_days(orders):
    return orders["ordered_at"].dt.tz_convert(LONDON).dt.date


def revenue(orders, start, end, country=None):
    """What the orders of the window really brought (the forecast a perfect model would have made)."""
    days = local_days(orders)
    keep = orders["counted"] & (days >= start) & (days <= end)
    if country:
        keep &= orders["segments"].map(lambda s: json.loads(s)["country"]) == country
    return float(orders.loc[keep, "amount"].sum())


def explain(orders, start, end, expected, **options):
    return decompose(orders, timezone=LONDON, start=start, end=end, expected=expected, freq="D", **options)


def test_reference_windows_line_up_weekdays_or_months():
    monday = dt.date(2011, 10, 10)
    assert reference_windows(monday, monday + dt.timedelta(days=6), "D") == [
        (monday - dt.timedelta(days=7 * k), monday - dt.timedelta(days=7 * k - 6)) for k in range(1, 5)
    ]
    assert reference_windows(monday, monday + dt.timedelta(days=9), "D")[0] == (monday - dt.timedelta(days=14), monday - dt.timedelta(days=5))
    assert reference_windows(dt.date(2011, 10, 1), dt.date(2011, 10, 31), "M") == [
        (dt.date(2011, 9, 1), dt.date(2011, 9, 30)), (dt.date(2011, 8, 1), dt.date(2011, 8, 31)),
        (dt.date(2011, 7, 1), dt.date(2011, 7, 31)), (dt.date(2011, 6, 1), dt.date(2011, 6, 30)),
    ]
    assert describe_reference(monday, monday, "D") == "the same days of the previous 4 weeks"
    assert describe_reference(dt.date(2011, 10, 1), dt.date(2011, 10, 31), "M") == "the previous 4 months"
    with pytest.raises(ValueError, match="ends .* before it starts"):
        reference_windows(monday, monday - dt.timedelta(days=1), "D")
    with pytest.raises(ValueError, match="unknown series frequency 'Q'"):
        reference_windows(monday, monday, "Q")


def test_removed_orders_read_as_fewer_orders_not_smaller_baskets(orders):
    start, end = FOUR_WEEKS
    expected = revenue(orders, start, end)
    days = local_days(orders)
    removed = (days >= start) & (days <= end) & (np.random.default_rng(3).random(len(orders)) < 0.25)
    found = explain(orders[~removed], start, end, expected)
    assert found.actual == pytest.approx(revenue(orders[~removed], start, end))
    assert -0.30 < found.orders_change < -0.18, "a quarter of the orders is gone"
    assert abs(found.basket_change) < 0.06, "the baskets that remain are the usual size"
    assert (1 + found.orders_change) * (1 + found.basket_change) == pytest.approx(found.actual / expected)
    assert found.expected_orders * found.reference_aov == pytest.approx(expected)


def test_scaled_amounts_read_as_smaller_baskets(orders, orders_with_drop):
    start, end = dt.date(2011, 10, 10), dt.date(2011, 10, 23)  # every order from 10 Oct is worth 40%
    expected = revenue(orders, start, end)
    found = explain(normalized(orders_with_drop), start, end, expected)
    assert found.change == pytest.approx(-0.6, abs=0.01)
    assert -0.68 < found.basket_change < -0.55
    assert abs(found.orders_change) < 0.1, "as many orders as usual"
    assert (1 + found.orders_change) * (1 + found.basket_change) == pytest.approx(1 + found.change)


@pytest.mark.parametrize("country", ["Germany", "France", "Netherlands", "EIRE"])
def test_a_country_that_stops_buying_is_named_first(orders, country):
    start, end = dt.date(2011, 10, 3), dt.date(2011, 10, 30)
    expected = revenue(orders, start, end)
    days, countries = local_days(orders), orders["segments"].map(lambda s: json.loads(s)["country"])
    found = explain(orders[~((days >= start) & (days <= end) & (countries == country))], start, end, expected, dimensions=["country"])
    first = found.segments[0]
    assert (first.dimension, first.value) == ("country", country)
    assert first.actual == 0 and first.change == pytest.approx(-first.expected)
    assert len(found.segments) == 3 and first.share > found.segments[1].share > found.segments[2].share > 0
    assert sum(s.share for s in found.segments) <= 1 + 1e-9


def test_a_segment_series_is_decomposed_on_its_own_orders(orders):
    start, end = FOUR_WEEKS
    germany = revenue(orders, start, end, "Germany")
    found = explain(orders, start, end, germany * 1.25, by=["country"], series_id="Germany")
    assert found.actual == pytest.approx(germany)
    assert (1 + found.orders_change) * (1 + found.basket_change) == pytest.approx(0.8)
    assert found.segments == ()


def test_an_order_count_series_gets_only_the_segment_part(orders):
    start, end = FOUR_WEEKS
    days = local_days(orders)
    in_window = orders["counted"] & (orders["amount"] > 0) & (days >= start) & (days <= end)
    found = explain(orders, start, end, float(in_window.sum()) * 1.3, metric="orders", dimensions=["country"])
    assert found.actual == in_window.sum()
    assert found.orders_change is None and found.basket_change is None
    assert found.segments and found.segments[0].value == "United Kingdom"
    message = dataclasses.replace(sample_message(dt.datetime(2011, 11, 7, tzinfo=dt.timezone.utc)), metric="orders", decomposition=found)
    lines = explanation(message)
    assert len(lines) == 1 and lines[0].startswith("Biggest shortfalls by country: United Kingdom -") and " orders (" in lines[0]


def test_nothing_to_say_without_orders_or_expectation(orders):
    start, end = FOUR_WEEKS
    assert explain(orders.iloc[:0], start, end, 1000.0, dimensions=["country"]) is None, "a replay has no orders"
    assert explain(orders, start, end, 0.0) is None
    with pytest.raises(ValueError, match=r"lack column\(s\) \['segments'\]"):
        explain(orders.drop(columns="segments"), start, end, 1000.0)


# The engine


def _engine(orders, folder):
    """The engine on a fresh SQLite store in ``folder``, a memory channel and a clock on 1 Oct 2011."""
    url = f"sqlite:///{folder / 'store.db'}"
    store = Store(url).create()
    memory = MemoryNotifier()
    clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
    return store, memory, clock, Engine(settings_for(orders, url), store, notifiers={"memory": memory}, clock=clock)


@pytest.fixture(scope="module")
def engine_run(orders_with_drop, tmp_path_factory):
    """The engine on SQLite over the 60% drop from 10 Oct, until the first alerts are out."""
    store, memory, clock, engine = _engine(orders_with_drop, tmp_path_factory.mktemp("engine"))
    run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 14))
    stored = [d.message for d in store.outbox.list()]
    store.close()
    return memory.sent, stored


def test_an_opened_incident_says_why(engine_run):
    sent, stored = engine_run
    opened = [m for m in sent if m.event == "opened"]
    assert opened
    for message in opened:
        found = message.decomposition
        assert found is not None and found.actual == pytest.approx(message.actual)
        assert found.expected == message.expected
        assert (1 + found.orders_change) * (1 + found.basket_change) == pytest.approx(1 + message.deviation_pct / 100)
        assert found.basket_change < -0.5, "every order is worth 40% of what it was"
        assert found.segments[0].value == "United Kingdom"
        assert "Why:" in render_text(message) and "basket" in json.dumps(render_slack(message))
    assert {m.key: m.decomposition for m in stored} == {m.key: m.decomposition for m in sent}, "persisted with the message"


def test_a_failing_decomposition_never_holds_back_the_alert(orders_with_drop, tmp_path, monkeypatch, caplog):
    store, memory, clock, engine = _engine(orders_with_drop, tmp_path)
    run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 9))
    assert memory.sent == []

    def broken(*args, **kwargs):
        raise ValueError("segments column is not JSON")

    monkeypatch.setattr("forecaster.engine.decompose", broken)
    with caplog.at_level(logging.ERROR, logger="forecaster.engine"):
        run_days(engine, clock, dt.date(2011, 10, 10), dt.date(2011, 10, 14))
    store.close()
    assert memory.sent and all(m.decomposition is None for m in memory.sent)
    assert "could not decompose" in caplog.text and "segments column is not JSON" in caplog.text


def test_the_alert_as_people_read_it_is_kept_for_the_record(engine_run):
    """tests/artifacts/ keeps one real alert as Slack receives it and as the email reads."""
    opened = next(m for m in engine_run[0] if m.event == "opened" and m.decomposition)
    slack = render_slack(opened)
    check_slack_limits(slack)
    mail = EmailNotifier("127.0.0.1", 25, security="none", sender="alerts@shop.test", recipients=["owner@shop.test"]).build(opened)
    plain = mail.get_body(("plain",)).get_content()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "slack_payload.json").write_text(json.dumps(slack, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (ARTIFACTS / "email.txt").write_text(f"Subject: {mail['Subject']}\nTo: {mail['To']}\n\n{plain}", encoding="utf-8")
    (ARTIFACTS / "email.html").write_text(mail.get_body(("html",)).get_content(), encoding="utf-8")
    kept = (ARTIFACTS / "email.txt").read_text(encoding="utf-8")
    assert opened.title in kept and "Why:" in kept and "basket" in kept
    assert json.loads((ARTIFACTS / "slack_payload.json").read_text(encoding="utf-8"))["blocks"][0]["text"]["text"] == opened.title
