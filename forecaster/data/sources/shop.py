"""What the shop connectors share: orders with their refunds -> normalized Batch, and answer fields.

A refund is its own order row, ``<order id>-refund-<refund id>``, with status ``refunded`` and a
negative amount on the refund's own date, so a refund lowers the day it happened and never
rewrites the day of the sale. The order row keeps its full total (also when the shop marks the
whole order ``refunded``). A refund counts only while its order counts: the refund of a cancelled
order carries the order's status instead, and neither row counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecaster.data.orders import normalize
from forecaster.data.sources import Batch
from forecaster.errors import InputError
from forecaster.settings_sources import OrderColumns, StatusPolicy

REFUNDED = "refunded"
_RAW = ["order_id", "ordered_at", "amount", "status", "updated_at"]


@dataclass(frozen=True)
class Refund:
    """One refund of an order: its id, when it was made (UTC) and how much (positive or negative)."""

    refund_id: str
    refunded_at: dt.datetime
    amount: float


@dataclass(frozen=True)
class ShopOrder:
    """One order as a shop reports it; times are UTC-aware."""

    order_id: str
    ordered_at: dt.datetime
    updated_at: dt.datetime
    amount: float
    status: str
    segments: dict[str, Any] = field(default_factory=dict)
    refunds: tuple[Refund, ...] = ()


def to_batch(
    orders: list[ShopOrder], config, where: str, since: dt.datetime | None, until: dt.datetime | None, incremental: bool = True
) -> Batch:
    """Orders and their refund rows, normalized, limited to ``until``, with the watermark after them."""
    sale = {s.lower() for s in config.statuses} | {REFUNDED}
    rows: dict[str, dict[str, Any]] = {}
    for order in orders:  # an order seen twice (edited while paging) keeps its latest version
        status = order.status.lower()
        base = {"updated_at": order.updated_at, **{name: order.segments.get(name) for name in config.segment_names}}
        rows[order.order_id] = {**base, "order_id": order.order_id, "ordered_at": order.ordered_at, "amount": order.amount, "status": status}
        for refund in order.refunds:
            row_id = f"{order.order_id}-refund-{refund.refund_id}"
            rows[row_id] = {
                **base, "order_id": row_id, "ordered_at": refund.refunded_at, "amount": -abs(refund.amount),
                "status": REFUNDED if status in sale else status,
            }
    raw = pd.DataFrame(list(rows.values()), columns=[*_RAW, *config.segment_names])
    for column in ("ordered_at", "updated_at"):
        raw[column] = pd.to_datetime(raw[column], utc=True)
    columns = OrderColumns(order_id="order_id", ordered_at="ordered_at", amount="amount", status="status", updated_at="updated_at",
                           segments={name: name for name in config.segment_names})
    batch = normalize(raw, columns, StatusPolicy(sale=sorted(sale), refund=[]), "UTC", where,
                      describe=lambda i: f"order {raw.at[i, 'order_id']}")
    if until is not None:
        bound = pd.Timestamp(until)
        batch = batch[(batch["ordered_at"] <= bound) & (batch["updated_at"] <= bound)].reset_index(drop=True)
    watermark = batch["updated_at"].max().to_pydatetime() if len(batch) else since
    return Batch(batch, watermark, complete=not incremental or since is None)


def pick(item: Any, path: str, where: str, optional: bool = False) -> Any:
    """The value at a dotted ``path`` of a JSON object; InputError naming ``where`` and the field if absent."""
    node = item
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            if optional:
                return None
            raise InputError(f"{where}: field {path!r} is missing")
    return node


def utc(item: Any, path: str, where: str) -> dt.datetime:
    """An ISO 8601 time field as UTC (a time without an offset is taken as UTC)."""
    value = pick(item, path, where)
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{where}: field {path!r} is not an ISO 8601 time: {value!r}") from None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def amount(item: Any, path: str, where: str) -> float:
    """A money field (a decimal string or number) as float."""
    value = pick(item, path, where)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: field {path!r} is not a number: {value!r}") from None


def iso(moment: dt.datetime) -> str:
    """A time as ISO 8601 in UTC, to the second, with a Z."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

