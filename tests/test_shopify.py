"""Shopify Admin GraphQL connector against a real HTTP server speaking the orders query."""

import datetime as dt
import logging

import pandas as pd
import pytest

from forecaster.data.sources import open_source
from forecaster.engine import Engine
from forecaster.errors import InputError
from forecaster.settings import parse
from forecaster.store import Store
from servers import HTTPServer, Reply
from shops import Clock, FakeShopify, sample_orders

TOKEN = "shpat_0123456789abcdef"
AS_OF = dt.datetime(2011, 3, 1, tzinfo=dt.timezone.utc)
UTC = dt.timezone.utc


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("forecaster.data.sources.http.sleep", clock.sleep)
    return clock


@pytest.fixture
def shop(clock):
    fake = FakeShopify(sample_orders(420), clock, TOKEN)
    with HTTPServer() as server:
        server.respond(fake)
        fake.server = server
        yield fake


def settings_for(url, tmp_path, **source):
    source = {"kind": "shopify", "name": "shopify", "shop": url, "access_token": TOKEN, "page_size": 50,
              "segments": ["billing_country", "currency"], **source}
    return parse({"store": {"url": f"sqlite:///{tmp_path / 'store.db'}"}, "source": source, "series": {"by": ["billing_country"]}}, "test")


def queries(server, start=0):
    return [r.json()["variables"] for r in server.requests[start:]]


def synced(store):
    orders = store.orders.load("shopify")
    return round(orders.loc[orders["counted"], "amount"].sum(), 2), orders.set_index("order_id")


def test_full_then_incremental_sync_matches_the_shop(shop, clock, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ids = sorted(shop.orders)
    refund_day = dt.datetime(2011, 1, 12, 18, 45, tzinfo=UTC)
    shop.refund(ids[2], 4.25, refund_day)
    shop.refund(ids[3], float(shop.orders[ids[3]]["totalPriceSet"]["shopMoney"]["amount"]), refund_day)
    shop.touch(ids[4], cancelledAt="2011-01-19T10:00:00Z", displayFinancialStatus="VOIDED")
    shop.refund(ids[5], 2.0, refund_day)
    shop.touch(ids[5], cancelledAt="2011-01-19T11:00:00Z")  # refunded, then cancelled: neither row counts
    shop.touch(ids[6], displayFinancialStatus="PENDING")
    shop.server.reply(Reply(429, {"errors": "Exceeded 2 calls per second for api client."}, {"Retry-After": "2.0"}), Reply(503, "Service Unavailable"))

    settings = settings_for(shop.server.url, tmp_path)
    store = Store(settings.store.url).create()
    engine = Engine(settings, store, notifiers={})
    assert engine.sync(AS_OF)

    total, stored = synced(store)
    assert total == shop.net_sales()
    assert len(stored) == 420 + 3
    sent = queries(shop.server)
    assert all(v["first"] == 50 and v["query"] is None for v in sent)
    assert sum(r.status == 200 and "data" in r.body for _, r in shop.server.exchanges) == 9  # 420 orders, 50 a page
    assert clock.waits[:2] == [2.0, 2.0]  # Retry-After, then backoff after the 503 (1 s doubled)
    paced = clock.waits[2:]
    assert paced and all(w > 0 for w in paced)  # waited for the cost bucket to refill before it ran dry
    assert not any("THROTTLED" in str(r.body) for _, r in shop.server.exchanges)
    row = stored.loc[f"{ids[2]}-refund-7001"]
    assert row["amount"] == -4.25 and pd.Timestamp(row["ordered_at"]) == pd.Timestamp(refund_day)
    assert bool(stored.loc[str(ids[3]), "counted"]) and stored.loc[str(ids[3]), "status"] == "refunded"
    assert not stored.loc[[str(ids[4]), str(ids[5]), f"{ids[5]}-refund-7003", str(ids[6])], "counted"].any()
    assert "source shopify: orders page 9/9 read (420 orders so far)" in caplog.text

    watermark = store.orders.watermark("shopify")
    shop.touch(ids[20], totalPriceSet={"shopMoney": {"amount": "1234.50", "currencyCode": "GBP"}})
    shop.refund(ids[21], 7.0, dt.datetime(2011, 1, 21, 8, tzinfo=UTC))
    shop.touch(ids[22], cancelledAt="2011-01-21T09:00:00Z")
    shop.add(777001, dt.datetime(2011, 1, 21, 9, 30, tzinfo=UTC), 55.0, "Germany")
    shop.throttle_next = True
    seen = len(shop.server.requests)
    assert engine.sync(AS_OF)

    sent = queries(shop.server, seen)
    assert [v["query"] for v in sent] == [f"updated_at:>'{watermark:%Y-%m-%dT%H:%M:%SZ}'"] * 2  # throttled once, retried
    answer = shop.server.exchanges[-1][1].body
    assert sorted(n["id"].rsplit("/", 1)[1] for n in answer["data"]["orders"]["nodes"]) == sorted(str(i) for i in [ids[20], ids[21], ids[22], 777001])
    total, stored = synced(store)
    assert total == shop.net_sales() and len(stored) == 420 + 3 + 2
    points = store.orders.points()
    assert round(points.loc[points["unique_id"] == "total", "y"].sum(), 2) == shop.net_sales()
    assert set(points["unique_id"]) >= {"GB", "DE", "total"}
    assert TOKEN not in caplog.text
    store.close()


def test_bad_token_and_missing_scope_are_clear(shop, tmp_path):
    source = open_source(settings_for(shop.server.url, tmp_path, access_token="shpat_wrong_987").source, "UTC")
    with pytest.raises(InputError, match=r"HTTP 401: \[API\] Invalid API key or access token.*read_orders") as error:
        source.load(None, None)
    assert "shpat_wrong_987" not in str(error.value)
    source = open_source(settings_for(shop.server.url, tmp_path, access_token="shpat_noscope").source, "UTC")
    with pytest.raises(InputError, match=r"orders page 1: GraphQL error: Access denied for orders field.*read_orders access scope") as error:
        source.load(None, None)
    assert "shpat_noscope" not in str(error.value)


def test_malformed_answers_name_the_page_and_field(shop, tmp_path):
    source = open_source(settings_for(shop.server.url, tmp_path).source, "UTC")
    node = shop.orders[sorted(shop.orders)[70]]
    node["totalPriceSet"] = {"shopMoney": {"amount": "twelve", "currencyCode": "GBP"}}
    node["updatedAt"] = "2011-01-20T00:00:30Z"  # sorts onto page 1
    with pytest.raises(InputError, match=rf"orders page 1, order {sorted(shop.orders)[70]}: field 'totalPriceSet.shopMoney.amount' is not a number: 'twelve'"):
        source.load(None, None)
    shop.server.reply(Reply(200, {"data": {"orders": {"pageInfo": {"hasNextPage": False}}}}))
    with pytest.raises(InputError, match=r"orders page 1: field 'nodes' is missing"):
        source.load(dt.datetime(2011, 1, 1, tzinfo=UTC), None)


def test_still_throttled_gives_up(shop, clock, tmp_path):
    source = open_source(settings_for(shop.server.url, tmp_path, http={"attempts": 2}).source, "UTC")
    shop.available, shop.updated = -10_000.0, clock.now  # the bucket stays empty for minutes
    with pytest.raises(InputError, match="still throttled after 2 attempts"):
        source.load(None, None)
