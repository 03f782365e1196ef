"""The persistent outbox (implements ``alerts.outbox.Outbox``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Mapping, Sequence

import sqlalchemy as sa

from alerts.message import Message
from alerts.outbox import Delivery
from forecaster.store import utc_aware, utc_naive
from forecaster.store.tables import deliveries, messages


class SqlOutbox:
    """Messages and their deliveries; a message is committed before any channel sees it."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def enqueue(self, message: Message, channels: Sequence[str], now: dt.datetime, hold: Mapping[str, dt.datetime] | None = None) -> int:
        stamp = utc_naive(now)
        hold = hold or {}
        added = 0
        with self.engine.begin() as conn:
            known = conn.execute(sa.select(messages.c.key).where(messages.c.key == message.key)).first()
            if known is None:
                conn.execute(messages.insert().values(key=message.key, payload=json.dumps(message.to_dict()), created_at=stamp))
            present = {r.channel for r in conn.execute(sa.select(deliveries.c.channel).where(deliveries.c.message_key == message.key))}
            for channel in channels:
                if channel in present:
                    continue
                conn.execute(
                    deliveries.insert().values(
                        id=f"{message.key}@{channel}", message_key=message.key, channel=channel, status="pending", attempts=0,
                        next_attempt_at=utc_naive(hold[channel]) if channel in hold else stamp,
                    )
                )
                added += 1
        return added

    def due(self, now: dt.datetime) -> list[Delivery]:
        query = (
            sa.select(deliveries, messages.c.payload)
            .join(messages, messages.c.key == deliveries.c.message_key)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= utc_naive(now))
            .order_by(messages.c.created_at, deliveries.c.id)
        )
        return self._deliveries(query)

    def record(self, delivery: Delivery) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery.id)
                .values(
                    status=delivery.status,
                    attempts=delivery.attempts,
                    next_attempt_at=utc_naive(delivery.next_attempt_at) if delivery.next_attempt_at else None,
                    last_error=delivery.last_error,
                    sent_at=utc_naive(delivery.sent_at) if delivery.sent_at else None,
                )
            )

    def revive(self, ids: Sequence[str] | None, now: dt.datetime) -> int:
        """Make dead deliveries (those of ``ids``, or all when None) pending and due at ``now``; return how many."""
        query = deliveries.update().where(deliveries.c.status == "dead")
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            return conn.execute(query.values(status="pending", attempts=0, next_attempt_at=utc_naive(now))).rowcount

    def list(self, status: str | None = None) -> list[Delivery]:
        """Deliveries, oldest first, optionally only those with ``status``."""
        query = sa.select(deliveries, messages.c.payload).join(messages, messages.c.key == deliveries.c.message_key).order_by(messages.c.created_at, deliveries.c.id)
        if status:
            query = query.where(deliveries.c.status == status)
        return self._deliveries(query)

    def counts(self) -> dict[str, int]:
        """Number of deliveries per status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status))
            return {status: n for status, n in rows}

    def _deliveries(self, query) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Delivery(
                id=r["id"],
                message=Message.from_dict(json.loads(r["payload"])),
                channel=r["channel"],
                status=r["status"],
                attempts=r["attempts"],
                next_attempt_at=utc_aware(r["next_attempt_at"]),
                last_error=r["last_error"],
                sent_at=utc_aware(r["sent_at"]),
            )
            for r in rows
        ]
