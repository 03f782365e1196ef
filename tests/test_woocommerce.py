"""WooCommerce REST API connector against a real HTTP server speaking the v3 orders API."""

import datetime as dt
import logging
import urllib.parse

import pandas as pd
import pytest

from forecaster.data.sources import open_source
from forecaster.engine import Engine
from forecaster.errors import ConfigError, InputError
from forecaster.settings import parse
from forecaster.store import Store
from servers import HTTPServer, Reply, free_port
from shops import WC_API, Clock, FakeWooCommerce, sample_orders

KEY, SECRET = "ck_4f1e2d3c", "cs_9a8b7c6d5e"
AS_OF = dt.datetime(2011, 3, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("forecaster.data.sources.http.sleep", clock.sleep)
    return clock


@pytest.fixture
def shop(clock):
    fake = FakeWooCommerce(sample_orders(450), clock, KEY, SECRET)
    with HTTPServer() as server:
        server.respond(fake)
        fake.server = server
        yield fake


def settings_for(url, tmp_path, **source):
    source = {"kind": "woocommerce", "name": "woo", "url": url, "consumer_key": KEY, "consumer_secret": SECRET,
              "segments": ["billing_country", "currency"], **source}
    return parse({"store": {"url": f"sqlite:///{tmp_path / 'store.db'}"}, "source": source, "series": {"by": ["billing_country"]}}, "test")


def order_requests(server, start=0):
    """The query of each orders-list request the server saw from ``start`` on."""
    urls = [urllib.parse.urlsplit(r.path) for r in server.requests[start:]]
    return [dict(urllib.parse.parse_qsl(u.query)) for u in urls if u.path == f"{WC_API}/orders"]


def synced_total(store):
    orders = store.orders.load("woo")
    return round(orders.loc[orders["counted"], "amount"].sum(), 2), orders.set_index("order_id")


def test_full_then_incremental_sync_matches_the_shop(shop, clock, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    first_ids = sorted(shop.orders)
    refund_day = dt.datetime(2011, 1, 10, 15, 30, tzinfo=dt.timezone.utc)
    shop.refund(first_ids[3], 5.00, refund_day)                                         # partial refund
    shop.refund(first_ids[4], float(shop.orders[first_ids[4]]["total"]), refund_day)    # whole order refunded
    shop.touch(first_ids[5], status="cancelled")
    shop.touch(first_ids[6], status="pending")
    shop.server.reply(Reply(429, {"code": "too_many_requests"}, {"Retry-After": "7"}), Reply(500, "<html>Internal Server Error</html>"))

    settings = settings_for(shop.server.url, tmp_path)
    store = Store(settings.store.url).create()
    engine = Engine(settings, store, notifiers={})
    assert engine.sync(AS_OF)

    total, stored = synced_total(store)
    assert total == shop.net_sales()
    assert len(stored) == 450 + 2  # every order plus one row per refund
    full = order_requests(shop.server)
    assert [q["page"] for q in full] == ["1", "1", "1", "2", "3", "4", "5"]  # 429 and 500 retried
    assert all(q["per_page"] == "100" and q["orderby"] == "modified" and q["order"] == "asc" and "modified_after" not in q for q in full)
    assert clock.waits == [7.0, 2.0]  # Retry-After honoured, then exponential backoff (1 s doubled)
    refund_row = stored.loc[f"{first_ids[3]}-refund-90000"]
    assert refund_row["amount"] == -5.0 and refund_row["status"] == "refunded"
    assert pd.Timestamp(refund_row["ordered_at"]) == pd.Timestamp(refund_day)  # the refund's own day, in UTC
    assert stored.loc[str(first_ids[4]), "amount"] > 0 and bool(stored.loc[str(first_ids[4]), "counted"])
    assert not stored.loc[str(first_ids[5]), "counted"] and not stored.loc[str(first_ids[6]), "counted"]
    created = shop.orders[first_ids[0]]["date_created_gmt"]
    assert pd.Timestamp(stored.loc[str(first_ids[0]), "ordered_at"]) == pd.Timestamp(created, tz="UTC")  # not the shop's local time
    assert "source woo: /orders page 5/5 read (450 items in all)" in caplog.text
    points = store.orders.points()
    assert round(points.loc[points["unique_id"] == "total", "y"].sum(), 2) == shop.net_sales()

    # Between syncs: an edit, a cancellation, a new refund, a new order.
    watermark = store.orders.watermark("woo")
    shop.touch(first_ids[10], total="999.99")
    shop.touch(first_ids[11], status="cancelled")
    shop.refund(first_ids[12], 3.50, dt.datetime(2011, 1, 21, 9, tzinfo=dt.timezone.utc))
    shop.add(999001, dt.datetime(2011, 1, 21, 10, tzinfo=dt.timezone.utc), 42.0, "France")
    seen = len(shop.server.requests)
    assert engine.sync(AS_OF)

    incremental = order_requests(shop.server, seen)
    assert len(incremental) == 1 and incremental[0]["modified_after"] == watermark.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert incremental[0]["dates_are_gmt"] == "true"
    refund_paths = [r.path for r in shop.server.requests[seen:] if "/refunds" in r.path]
    assert [urllib.parse.urlsplit(p).path for p in refund_paths] == [f"{WC_API}/orders/{first_ids[12]}/refunds"]
    total, stored = synced_total(store)
    assert total == shop.net_sales() and len(stored) == 450 + 2 + 2
    assert stored.loc[str(first_ids[10]), "amount"] == 999.99

    seen = len(shop.server.requests)
    assert not engine.sync(AS_OF)  # nothing changed: one request, no update
    assert len(shop.server.requests) == seen + 1
    assert KEY not in caplog.text and SECRET not in caplog.text
    store.close()


@pytest.mark.parametrize("auth", ["basic", "query"])
def test_bad_credentials_are_clear_and_secret_free(shop, tmp_path, auth):
    settings = settings_for(shop.server.url, tmp_path, auth=auth, consumer_secret="cs_wrong_secret_123")
    with pytest.raises(InputError) as error:
        open_source(settings.source, "UTC").load(None, None)
    message = str(error.value)
    assert "HTTP 401" in message and "Consumer secret is invalid" in message and "Read permission" in message
    assert "cs_wrong_secret_123" not in message and KEY not in message


def test_a_key_without_read_permission_is_named(shop, tmp_path):
    settings = settings_for(shop.server.url, tmp_path, consumer_key="ck_writeonly")
    with pytest.raises(InputError, match=r"HTTP 403: woocommerce_rest_cannot_view Sorry, you cannot list resources.*Read permission") as error:
        open_source(settings.source, "UTC").load(None, None)
    assert "ck_writeonly" not in str(error.value)


def test_query_auth_sends_the_key_as_parameters_and_logs_none(shop, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(shop.server.url, tmp_path, auth="query")
    batch = open_source(settings.source, "UTC").load(None, None)
    assert len(batch.orders) == 450 and batch.complete
    assert "Authorization" not in shop.server.requests[0].headers
    assert f"consumer_secret={SECRET}" in shop.server.requests[0].path
    assert "consumer_secret=***" in caplog.text and SECRET not in caplog.text and KEY not in caplog.text


def test_malformed_answers_name_the_page_and_field(shop, tmp_path):
    del shop.orders[sorted(shop.orders)[150]]["total"]
    source = open_source(settings_for(shop.server.url, tmp_path).source, "UTC")
    with pytest.raises(InputError, match=r"GET /wp-json/wc/v3/orders page 2, order \d+: field 'total' is missing"):
        source.load(None, None)
    shop.server.reply(Reply(200, [], {"X-WP-Total": "0"}))
    with pytest.raises(InputError, match=r"page 1: header 'X-WP-TotalPages' is missing"):
        source.load(None, None)


def test_unreachable_shop_gives_up_after_the_retries(clock, tmp_path):
    settings = settings_for(f"http://127.0.0.1:{free_port()}", tmp_path, http={"attempts": 3})
    with pytest.raises(InputError, match=r"cannot reach the server \(ConnectionError\), still after 3 attempts"):
        open_source(settings.source, "UTC").load(None, None)
    assert clock.waits == [1.0, 2.0]


def test_credentials_only_over_https():
    with pytest.raises(ConfigError, match=r"source\.url: use an https:// URL"):
        parse({"source": {"kind": "woocommerce", "url": "http://shop.example.com", "consumer_key": "k", "consumer_secret": "s"}}, "test")
