"""Fake WooCommerce and Shopify shops for the connector tests: request handlers for ``HTTPServer.respond``.

Each implements the documented request and response shapes closely enough to sync from: the
WooCommerce REST API v3 orders and refunds endpoints (basic or query-parameter auth, ``per_page``
and ``page``, ``X-WP-Total``/``X-WP-TotalPages``, ``modified_after``) and the Shopify Admin GraphQL
orders query (cursor paging, ``updated_at:>`` filter, the cost bucket and ``THROTTLED``). Orders
are real invoice totals from the bundled Online Retail sample.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field

import pandas as pd

from forecaster.settings_sources import SAMPLE_DIR
from servers import Reply, Request

UTC = dt.timezone.utc
WC_API = "/wp-json/wc/v3"
_ISO = {"United Kingdom": "GB", "France": "FR", "Germany": "DE", "Australia": "AU", "Netherlands": "NL", "EIRE": "IE"}


def sample_orders(n: int) -> pd.DataFrame:
    """The first ``n`` completed invoices of the bundled sample (order_id, ordered_at UTC, amount, country)."""
    frame = pd.read_csv(SAMPLE_DIR / "online_retail_orders.csv.gz", dtype={"order_id": str}, nrows=4 * n)
    frame = frame[frame["status"] == "completed"].head(n).reset_index(drop=True)
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"]).dt.tz_localize(UTC)
    return frame


@dataclass
class Clock:
    """Virtual time: the shops date their changes by it, and the client's waits advance it."""

    now: dt.datetime = dt.datetime(2011, 1, 20, tzinfo=UTC)
    waits: list[float] = field(default_factory=list)

    def tick(self, minutes: float = 1) -> dt.datetime:
        self.now += dt.timedelta(minutes=minutes)
        return self.now

    def sleep(self, seconds: float) -> None:
        """Stands in for ``time.sleep`` in the shop clients: records the wait, passes it at once."""
        self.waits.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def _gmt(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FakeWooCommerce:
    """``/wp-json/wc/v3/orders`` and ``/orders/{id}/refunds`` of a shop whose local time is New York."""

    def __init__(self, rows: pd.DataFrame, clock: Clock, key: str, secret: str):
        self.clock, self.key, self.secret = clock, key, secret
        self.local = zoneinfo.ZoneInfo("America/New_York")
        self.orders: dict[int, dict] = {}
        self.refund_log: dict[int, list[dict]] = {}
        for row in rows.itertuples():
            self.add(int(row.order_id), row.ordered_at, row.amount, row.country)

    def add(self, order_id: int, created: dt.datetime, total: float, country: str, status: str = "completed") -> None:
        self.orders[order_id] = {
            "id": order_id, "status": status, "currency": "GBP", "total": f"{total:.2f}",
            "date_created": created.astimezone(self.local).strftime("%Y-%m-%dT%H:%M:%S"), "date_created_gmt": _gmt(created),
            "date_modified": "", "date_modified_gmt": "", "billing": {"country": country}, "shipping": {"country": country},
            "created_via": "checkout", "payment_method": "stripe", "refunds": [],
        }
        self.touch(order_id)

    def touch(self, order_id: int, **changes) -> None:
        """Change an order (status, total ...); WooCommerce updates its modified date."""
        order = self.orders[order_id]
        order.update(changes)
        moment = self.clock.tick()
        order["date_modified"] = moment.astimezone(self.local).strftime("%Y-%m-%dT%H:%M:%S")
        order["date_modified_gmt"] = _gmt(moment)

    def refund(self, order_id: int, amount: float, when: dt.datetime) -> int:
        """Refund part or all of an order on ``when``; a full refund marks the order refunded."""
        refund_id = 90000 + sum(len(r) for r in self.refund_log.values())
        self.refund_log.setdefault(order_id, []).append({"id": refund_id, "date_created_gmt": _gmt(when), "amount": f"{amount:.2f}", "reason": ""})
        order = self.orders[order_id]
        order["refunds"].insert(0, {"id": refund_id, "reason": "", "total": f"{-amount:.2f}"})
        refunded = sum(-float(r["total"]) for r in order["refunds"])
        self.touch(order_id, **({"status": "refunded"} if abs(refunded - float(order["total"])) < 0.005 else {}))
        return refund_id

    def net_sales(self, statuses=("completed", "processing", "refunded")) -> float:
        """What the shop's own report would say: counted orders' totals less their refunds."""
        counted = [o for o in self.orders.values() if o["status"] in statuses]
        return round(sum(float(o["total"]) + sum(float(r["total"]) for r in o["refunds"]) for o in counted), 2)

    def __call__(self, request: Request) -> Reply:
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        refused = self._refused(request, query)
        if refused:
            return refused
        if url.path == f"{WC_API}/orders":
            return self._list_orders(query)
        match = re.fullmatch(rf"{WC_API}/orders/(\d+)/refunds", url.path)
        if match and int(match.group(1)) in self.orders:
            return self._page(self.refund_log.get(int(match.group(1)), []), query)
        return Reply(404, {"code": "rest_no_route", "message": "No route was found matching the URL and request method.", "data": {"status": 404}})

    def _refused(self, request: Request, query: dict) -> Reply | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            key, secret = query.get("consumer_key", ""), query.get("consumer_secret", "")
        if key == "ck_writeonly":
            return Reply(403, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 403}})
        if (key, secret) != (self.key, self.secret):
            return Reply(401, {"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": {"status": 401}})
        return None

    def _list_orders(self, query: dict) -> Reply:
        orders = sorted(self.orders.values(), key=lambda o: (o["date_modified_gmt"], o["id"]) if query.get("orderby") == "modified" else o["id"])
        if "modified_after" in query:
            if query.get("dates_are_gmt") != "true":
                return Reply(400, {"code": "rest_invalid_param", "message": "this fake shop only answers modified_after in GMT"})
            after = _parse(query["modified_after"].replace("Z", "+00:00"))
            orders = [o for o in orders if _parse(o["date_modified_gmt"]) > after]
        return self._page(orders, query)

    @staticmethod
    def _page(items: list, query: dict) -> Reply:
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        if not 1 <= per_page <= 100:
            return Reply(400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page", "data": {"status": 400}})
        pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        return Reply(200, json.loads(json.dumps(chunk)), {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)})


class FakeShopify:
    """``POST /admin/api/2024-10/graphql.json`` answering the orders query, metered by a cost bucket."""

    MAX, RATE, NODE_COST = 1000.0, 50.0, 5

    def __init__(self, rows: pd.DataFrame, clock: Clock, token: str):
        self.clock, self.token = clock, token
        self.orders: dict[int, dict] = {}
        self.available, self.updated = self.MAX, clock.now
        self.throttle_next = False
        self.refund_ids = 7000
        for row in rows.itertuples():
            self.add(int(row.order_id), row.ordered_at, row.amount, row.country)

    def add(self, order_id: int, created: dt.datetime, total: float, country: str, status: str = "PAID") -> None:
        self.orders[order_id] = {
            "id": f"gid://shopify/Order/{order_id}", "name": f"#{order_id}", "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updatedAt": "", "cancelledAt": None, "displayFinancialStatus": status,
            "totalPriceSet": {"shopMoney": {"amount": f"{total:.2f}", "currencyCode": "GBP"}},
            "refunds": [], "billingAddress": {"countryCode": _ISO.get(country, country[:2].upper())}, "shippingAddress": None,
        }
        self.touch(order_id)

    def touch(self, order_id: int, **changes) -> None:
        order = self.orders[order_id]
        order.update(changes)
        order["updatedAt"] = self.clock.tick().strftime("%Y-%m-%dT%H:%M:%SZ")

    def refund(self, order_id: int, amount: float, when: dt.datetime) -> None:
        self.refund_ids += 1
        order = self.orders[order_id]
        order["refunds"].append({"id": f"gid://shopify/Refund/{self.refund_ids}", "createdAt": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "totalRefundedSet": {"shopMoney": {"amount": f"{amount:.2f}"}}})
        refunded = sum(float(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in order["refunds"])
        whole = abs(refunded - float(order["totalPriceSet"]["shopMoney"]["amount"])) < 0.005
        self.touch(order_id, displayFinancialStatus="REFUNDED" if whole else "PARTIALLY_REFUNDED")

    def net_sales(self) -> float:
        counted = [o for o in self.orders.values() if not o["cancelledAt"] and o["displayFinancialStatus"] in {"PAID", "PARTIALLY_REFUNDED", "REFUNDED"}]
        return round(sum(float(o["totalPriceSet"]["shopMoney"]["amount"]) - sum(float(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in o["refunds"]) for o in counted), 2)

    def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/admin/api/2024-10/graphql.json":
            return Reply(404, {"errors": "Not Found"})
        token = request.headers.get("X-Shopify-Access-Token")
        if token == "shpat_noscope":
            return Reply(200, {"errors": [{"message": "Access denied for orders field. Required access: `read_orders` access scope.",
                                           "extensions": {"code": "ACCESS_DENIED", "requiredAccess": "`read_orders` access scope."}}]})
        if token != self.token:
            return Reply(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        body = request.json()
        assert "sortKey: UPDATED_AT" in body["query"] and "pageInfo { hasNextPage endCursor }" in body["query"]
        variables = body["variables"]
        requested = 2 + self.NODE_COST * variables["first"]
        self.available = min(self.MAX, self.available + self.RATE * (self.clock.now - self.updated).total_seconds())
        self.updated = self.clock.now
        if self.throttle_next or self.available < requested:
            self.throttle_next = False
            return Reply(200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": self._cost(requested, 0)})
        nodes = sorted(self.orders.values(), key=lambda o: (o["updatedAt"], o["id"]))
        match = re.fullmatch(r"updated_at:>'([^']+)'", variables["query"] or "updated_at:>'1970-01-01T00:00:00Z'")
        since = _parse(match.group(1).replace("Z", "+00:00"))
        nodes = [o for o in nodes if _parse(o["updatedAt"].replace("Z", "+00:00")) > since]
        count = len(nodes)
        if variables["after"]:
            last = json.loads(base64.b64decode(variables["after"]))
            nodes = [o for o in nodes if (o["updatedAt"], o["id"]) > tuple(last)]
        page = nodes[: variables["first"]]
        actual = 2 + self.NODE_COST * len(page)
        self.available -= actual
        cursor = base64.b64encode(json.dumps([page[-1]["updatedAt"], page[-1]["id"]]).encode()).decode() if page else None
        data = {"ordersCount": {"count": count}, "orders": {"pageInfo": {"hasNextPage": len(nodes) > len(page), "endCursor": cursor}, "nodes": page}}
        return Reply(200, json.loads(json.dumps({"data": data, "extensions": self._cost(requested, actual)})))

    def _cost(self, requested: int, actual: int) -> dict:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": {"maximumAvailable": self.MAX, "currentlyAvailable": self.available, "restoreRate": self.RATE}}}
