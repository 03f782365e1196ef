"""Orders from the WooCommerce REST API v3 (``GET /wp-json/wc/v3/orders``).

Only orders modified after the watermark are read (``modified_after``, oldest change first). The
``refunds`` array of an order has each refund's id and negative total but not its date, so for an
order with refunds ``GET /orders/{id}/refunds`` is read too: refunds count on the day they were
made. That is one more request per changed order with refunds, and never one for the others.
Times come from the ``*_gmt`` fields, so the shop's own time zone setting cannot shift them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterator

from forecaster.data.sources import Batch
from forecaster.data.sources.http import ApiClient
from forecaster.data.sources.shop import Refund, ShopOrder, amount, iso, pick, to_batch, utc
from forecaster.errors import InputError
from forecaster.settings_sources import WooCommerceSource

log = logging.getLogger(__name__)
API = "/wp-json/wc/v3"
_SEGMENTS = {
    "billing_country": "billing.country", "shipping_country": "shipping.country", "currency": "currency",
    "created_via": "created_via", "payment_method": "payment_method",
}


class WooCommerceOrders:
    """The orders of one WooCommerce shop, read with a REST API key (Read permission is enough)."""

    def __init__(self, config: WooCommerceSource):
        self.config = config
        self.name = config.name
        key, secret = config.consumer_key.get_secret_value(), config.consumer_secret.get_secret_value()
        self.http = ApiClient(
            f"source {config.name} ({config.url})", config.http, [key, secret],
            "check consumer_key and consumer_secret, and that the key has Read permission "
            "(WooCommerce > Settings > Advanced > REST API)", secrets_in_urls=config.auth == "query",
        )
        self._auth: dict[str, str] = {}
        if config.auth == "query":
            self._auth = {"consumer_key": key, "consumer_secret": secret}
        else:
            self.http.session.auth = (key, secret)

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        """Orders modified after ``since`` (all when None), with their refunds."""
        params: dict[str, Any] = {"per_page": self.config.page_size, "orderby": "modified", "order": "asc"}
        if since is not None:
            params.update(modified_after=iso(since), dates_are_gmt="true")
        orders = [
            self._order(item, where)
            for where, items in self._pages("/orders", params, progress=since is None)
            for item in items
        ]
        return to_batch(orders, self.config, f"source {self.name}", since, until)

    def _pages(self, path: str, params: dict[str, Any], progress: bool = False) -> Iterator[tuple[str, list]]:
        """Each page of a list endpoint, named for messages (``GET /orders page 2``), with its items."""
        page, pages = 1, 1
        while page <= pages:
            what = f"GET {API}{path} page {page}"
            response = self.http.request("GET", self.config.url + API + path, what, params={**params, **self._auth, "page": page})
            items = self.http.json(response, what)
            if not isinstance(items, list):
                raise self.http.fail(what, f"expected a list of items, got {type(items).__name__}")
            try:
                pages = int(response.headers["X-WP-TotalPages"])
                total = int(response.headers.get("X-WP-Total", 0))
            except (KeyError, ValueError):
                raise self.http.fail(what, "header 'X-WP-TotalPages' is missing or not a number") from None
            if progress:
                log.info("source %s: %s page %d/%d read (%d items in all)", self.name, path, page, pages, total)
            yield f"{self.http.name}: {what}", items
            page += 1

    def _order(self, item: Any, where: str) -> ShopOrder:
        if not isinstance(item, dict):
            raise InputError(f"{where}: an order is not an object: {item!r:.80}")
        order_id = str(pick(item, "id", where))
        where = f"{where}, order {order_id}"
        refunds = item.get("refunds") or []
        return ShopOrder(
            order_id=order_id,
            ordered_at=utc(item, "date_created_gmt", where),
            updated_at=utc(item, "date_modified_gmt", where),
            amount=amount(item, "total", where),
            status=str(pick(item, "status", where)),
            segments={name: pick(item, path, where, optional=True) for name, path in _SEGMENTS.items()},
            refunds=self._refunds(order_id, refunds, where) if refunds else (),
        )

    def _refunds(self, order_id: str, listed: list, where: str) -> tuple[Refund, ...]:
        """The order's refunds with their dates (from ``/orders/{id}/refunds``) and totals (from the order)."""
        dates = {
            str(pick(r, "id", page)): utc(r, "date_created_gmt", f"{page}, refund {r.get('id')}")
            for page, items in self._pages(f"/orders/{order_id}/refunds", {"per_page": 100})
            for r in items
        }
        refunds = []
        for entry in listed:
            refund_id = str(pick(entry, "id", f"{where}, refunds[]"))
            if refund_id not in dates:
                raise InputError(f"{where}: refund {refund_id} is listed on the order but not under /orders/{order_id}/refunds")
            refunds.append(Refund(refund_id, dates[refund_id], amount(entry, "total", f"{where}, refund {refund_id}")))
        return tuple(refunds)
