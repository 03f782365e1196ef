"""Orders from the Shopify Admin GraphQL API (``POST /admin/api/{version}/graphql.json``).

Orders are read oldest change first (``sortKey: UPDATED_AT``) with cursor paging; after the first
import only orders updated after the watermark (``updated_at:>'...'``). Shopify meters queries by
cost: each answer reports the bucket (``throttleStatus``), and before the next page the client
waits until the bucket holds the last query's cost again; a ``THROTTLED`` answer is waited out
and retried. The order row carries ``totalPriceSet`` (after edits, before refunds); each refund
is its own negative row on its date (``currentTotalPriceSet`` would count refunds twice).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from forecaster.data.sources import Batch, http
from forecaster.data.sources.http import ApiClient
from forecaster.data.sources.shop import Refund, ShopOrder, amount, iso, pick, to_batch, utc
from forecaster.errors import InputError
from forecaster.settings_sources import ShopifySource

log = logging.getLogger(__name__)

QUERY = """
query Orders($first: Int!, $after: String, $query: String) {
  ordersCount(query: $query, limit: null) { count }
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt cancelledAt displayFinancialStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      refunds { id createdAt totalRefundedSet { shopMoney { amount } } }
      billingAddress { countryCode }
      shippingAddress { countryCode }
    }
  }
}
"""
_SEGMENTS = {
    "billing_country": "billingAddress.countryCode", "shipping_country": "shippingAddress.countryCode",
    "currency": "totalPriceSet.shopMoney.currencyCode",
}
_SCOPES = "the app needs the read_orders access scope (and read_all_orders for orders older than 60 days)"


class ShopifyOrders:
    """The orders of one Shopify shop, read with an Admin API access token."""

    def __init__(self, config: ShopifySource):
        self.config = config
        self.name = config.name
        token = config.access_token.get_secret_value()
        self.endpoint = f"{config.shop}/admin/api/{config.api_version}/graphql.json"
        self.http = ApiClient(f"source {config.name} ({config.shop})", config.http, [token], f"check access_token; {_SCOPES}")
        self.http.session.headers["X-Shopify-Access-Token"] = token

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        """Orders updated after ``since`` (all when None), with their refunds."""
        variables: dict[str, Any] = {"first": self.config.page_size, "after": None, "query": f"updated_at:>'{iso(since)}'" if since else None}
        orders: list[ShopOrder] = []
        page = 0
        while True:
            page += 1
            where = f"{self.http.name}: orders page {page}"
            data, cost = self._post(variables, where)
            connection = pick(data, "orders", where)
            nodes = pick(connection, "nodes", where)
            orders.extend(self._order(node, where) for node in nodes)
            if since is None:
                pages = max(1, math.ceil(int(pick(data, "ordersCount.count", where)) / self.config.page_size))
                log.info("source %s: orders page %d/%d read (%d orders so far)", self.name, page, pages, len(orders))
            if not pick(connection, "pageInfo.hasNextPage", where, optional=True):
                break
            variables["after"] = pick(connection, "pageInfo.endCursor", where)
            http.pause(_refill_wait(cost))
        return to_batch(orders, self.config, f"source {self.name}", since, until)

    def _post(self, variables: dict[str, Any], where: str) -> tuple[Any, dict | None]:
        """``data`` and ``extensions.cost`` of one query; THROTTLED answers are waited out and retried."""
        policy = self.config.http
        for attempt in range(1, policy.attempts + 1):
            response = self.http.request("POST", self.endpoint, where, json={"query": QUERY, "variables": variables})
            body = self.http.json(response, where)
            if not isinstance(body, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(body).__name__}")
            cost = pick(body, "extensions.cost", where, optional=True)
            errors = body.get("errors") or []
            codes = {pick(e, "extensions.code", where, optional=True) for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                if attempt == policy.attempts:
                    break
                wait = _refill_wait(cost) or policy.backoff_seconds * 2 ** (attempt - 1)
                log.warning("%s: throttled by Shopify; retry %d/%d in %.1f s", where, attempt, policy.attempts - 1, wait)
                http.pause(min(wait, policy.max_wait_seconds))
                continue
            if errors:
                messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
                hint = f"; {_SCOPES}" if "ACCESS_DENIED" in codes else ""
                raise InputError(self.http.scrub(f"{where}: GraphQL error: {messages}{hint}"))
            return pick(body, "data", where), cost
        raise InputError(f"{where}: still throttled after {policy.attempts} attempts")

    def _order(self, node: Any, where: str) -> ShopOrder:
        order_id = str(pick(node, "id", where)).rsplit("/", 1)[-1]
        where = f"{where}, order {order_id}"
        financial = pick(node, "displayFinancialStatus", where, optional=True) or "unknown"
        refunds = []
        for refund in pick(node, "refunds", where, optional=True) or []:
            refund_id = str(pick(refund, "id", f"{where}, refunds[]")).rsplit("/", 1)[-1]
            at = f"{where}, refund {refund_id}"
            refunds.append(Refund(refund_id, utc(refund, "createdAt", at), amount(refund, "totalRefundedSet.shopMoney.amount", at)))
        return ShopOrder(
            order_id=order_id,
            ordered_at=utc(node, "createdAt", where),
            updated_at=utc(node, "updatedAt", where),
            amount=amount(node, "totalPriceSet.shopMoney.amount", where),
            status="cancelled" if node.get("cancelledAt") else str(financial),
            segments={name: pick(node, path, where, optional=True) for name, path in _SEGMENTS.items()},
            refunds=tuple(refunds),
        )


def _refill_wait(cost: Any) -> float:
    """Seconds until the bucket holds the last query's requested cost again (0 when it already does)."""
    try:
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        return 0.0
