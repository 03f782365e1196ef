"""Orders read-only from a WooCommerce MySQL database, for shops too large for the REST API.

``schema: hpos`` reads ``{prefix}wc_order_stats`` (one row per order; a refund is a row with a
``parent_id`` and negative totals). That table has no modified date, so each sync reads it whole
and the store keeps only what changed. ``schema: legacy`` reads ``{prefix}posts`` (``shop_order``
and ``shop_order_refund``) with ``{prefix}postmeta``, and after the first import only orders whose
``post_modified_gmt`` is after the watermark (WooCommerce touches an order when it is refunded).
Every time is a ``*_gmt`` column, read as UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from forecaster.data.sources import Batch
from forecaster.data.sources.shop import Refund, ShopOrder, to_batch
from forecaster.errors import InputError
from forecaster.settings import hide_password
from forecaster.settings_sources import WooCommerceDbSource

_HPOS_ORDERS = """
SELECT o.order_id, o.date_created_gmt AS ordered_at, o.date_created_gmt AS updated_at, o.status, o.total_sales AS total{country}
FROM {p}wc_order_stats o{join}
WHERE o.parent_id = 0"""
_HPOS_REFUNDS = """
SELECT r.order_id AS refund_id, r.parent_id, r.date_created_gmt AS refunded_at, r.total_sales AS total
FROM {p}wc_order_stats r
WHERE r.parent_id <> 0"""
_HPOS_COUNTRY = ("a.country", " LEFT JOIN {p}wc_order_addresses a ON a.order_id = o.order_id AND a.address_type = 'billing'")

_LEGACY_ORDERS = """
SELECT o.ID AS order_id, o.post_date_gmt AS ordered_at, o.post_modified_gmt AS updated_at, o.post_status AS status, t.meta_value AS total{country}
FROM {p}posts o
LEFT JOIN {p}postmeta t ON t.post_id = o.ID AND t.meta_key = '_order_total'{join}
WHERE o.post_type = 'shop_order' AND o.post_status <> 'auto-draft'{since}"""
_LEGACY_REFUNDS = """
SELECT r.ID AS refund_id, r.post_parent AS parent_id, r.post_date_gmt AS refunded_at, t.meta_value AS total
FROM {p}posts r
JOIN {p}posts o ON o.ID = r.post_parent
LEFT JOIN {p}postmeta t ON t.post_id = r.ID AND t.meta_key = '_order_total'
WHERE r.post_type = 'shop_order_refund' AND o.post_type = 'shop_order' AND o.post_status <> 'auto-draft'{since}"""
_LEGACY_COUNTRY = ("c.meta_value", " LEFT JOIN {p}postmeta c ON c.post_id = o.ID AND c.meta_key = '_billing_country'")


class WooCommerceDbOrders:
    """Orders and refunds of a WooCommerce database, through SQLAlchemy text queries with bound parameters."""

    def __init__(self, config: WooCommerceDbSource):
        self.config = config
        self.name = config.name
        self.where = f"source {config.name} ({hide_password(config.url)}, {config.schema_} tables {config.table_prefix}*)"

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        """Orders changed after ``since`` (legacy) or all orders (hpos), with their refunds."""
        legacy = self.config.schema_ == "legacy"
        since = since if legacy else None
        orders_sql, refunds_sql = self._queries(legacy, since is not None)
        params = {"since": since.astimezone(dt.timezone.utc).replace(tzinfo=None)} if since else {}
        try:
            engine = sa.create_engine(self.config.url)
        except (SQLAlchemyError, ImportError) as exc:
            raise InputError(f"{self.where}: cannot use the database URL: {exc}") from None
        try:
            with engine.connect() as conn:
                order_rows = conn.execute(sa.text(orders_sql), params).mappings().all()
                refund_rows = conn.execute(sa.text(refunds_sql), params).mappings().all()
        except SQLAlchemyError as exc:
            raise InputError(f"{self.where}: query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', exc)}") from None
        finally:
            engine.dispose()
        refunds: dict[str, list[Refund]] = {}
        for row in refund_rows:
            at = f"{self.where}: refund {row['refund_id']}"
            refunds.setdefault(str(row["parent_id"]), []).append(Refund(str(row["refund_id"]), _utc(row["refunded_at"], at), _number(row["total"], at)))
        orders = [self._order(row, refunds) for row in order_rows]
        return to_batch(orders, self.config, self.where, since, until, incremental=legacy)

    def _queries(self, legacy: bool, incremental: bool) -> tuple[str, str]:
        """The orders and refunds queries for the configured schema, table prefix and segments."""
        orders, refunds, (country, join) = (_LEGACY_ORDERS, _LEGACY_REFUNDS, _LEGACY_COUNTRY) if legacy else (_HPOS_ORDERS, _HPOS_REFUNDS, _HPOS_COUNTRY)
        wanted = "billing_country" in self.config.segments
        prefix = self.config.table_prefix  # validated as [A-Za-z0-9_]*: table names cannot be bound parameters
        parts = {
            "p": prefix,
            "country": f", {country} AS billing_country" if wanted else "",
            "join": join.format(p=prefix) if wanted else "",
            "since": " AND o.post_modified_gmt > :since" if incremental else "",
        }
        return orders.format(**parts), refunds.format(**parts)

    def _order(self, row: Any, refunds: dict[str, list[Refund]]) -> ShopOrder:
        order_id = str(row["order_id"])
        at = f"{self.where}: order {order_id}"
        return ShopOrder(
            order_id=order_id,
            ordered_at=_utc(row["ordered_at"], at),
            updated_at=_utc(row["updated_at"], at),
            amount=_number(row["total"], at),
            status=str(row["status"]).removeprefix("wc-"),
            segments={"billing_country": row.get("billing_country")},
            refunds=tuple(refunds.get(order_id, ())),
        )


def _utc(value: Any, where: str) -> dt.datetime:
    """A naive ``*_gmt`` DATETIME as UTC."""
    if not isinstance(value, dt.datetime):
        raise InputError(f"{where}: the date is not set ({value!r})")
    return value.replace(tzinfo=dt.timezone.utc)


def _number(value: Any, where: str) -> float:
    """A total (a number, or the text of a ``postmeta`` value) as float."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: the order total is not a number ({value!r}); is its _order_total missing?") from None
