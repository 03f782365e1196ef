"""The outbox: messages are persisted before any send, then delivered with retries and backoff.

Delivery is at least once per (message, channel): a send that fails is retried after an
exponential backoff with jitter (or the channel's ``Retry-After``), and after ``max_attempts``
failures, or at once on a permanent error, the delivery is dead-lettered for an operator to retry.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace
from typing import Literal, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers import Notifier

Status = Literal["pending", "sent", "dead"]


class DeliveryPolicy(BaseModel):
    """Retry behaviour of the outbox."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(8, ge=1)
    backoff_seconds: float = Field(30.0, gt=0, description="Wait after the first failure; doubles each time.")
    max_backoff_seconds: float = Field(3600.0, gt=0)
    jitter: float = Field(0.2, ge=0, le=1, description="Random spread of each wait, as a fraction of it.")

    def next_attempt(self, attempts: int, now: dt.datetime, retry_after: float | None, rng: random.Random) -> dt.datetime:
        """When to try again after the ``attempts``-th failure."""
        wait = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempts - 1))
        wait *= 1 + self.jitter * (2 * rng.random() - 1)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return now + dt.timedelta(seconds=wait)


@dataclass(frozen=True)
class Delivery:
    """One message on its way to one channel."""

    id: str
    message: Message
    channel: str
    status: Status = "pending"
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    sent_at: dt.datetime | None = None


class Outbox(Protocol):
    """Persistent queue of deliveries."""

    def enqueue(self, message: Message, channels: Sequence[str], now: dt.datetime) -> int:
        """Persist ``message`` for each channel; a (key, channel) already there is kept as it is.

        Returns how many deliveries were new.
        """

    def due(self, now: dt.datetime) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""

    def record(self, delivery: Delivery) -> None:
        """Store the new state of a delivery after an attempt."""


class MemoryOutbox:
    """An :class:`Outbox` in a dict, for replays and tests."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    def enqueue(self, message: Message, channels: Sequence[str], now: dt.datetime) -> int:
        added = 0
        for channel in channels:
            delivery_id = f"{message.key}@{channel}"
            if delivery_id not in self.deliveries:
                self.deliveries[delivery_id] = Delivery(delivery_id, message, channel, next_attempt_at=now)
                added += 1
        return added

    def due(self, now: dt.datetime) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.status == "pending" and d.next_attempt_at <= now]

    def record(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = delivery


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_due(
    outbox: Outbox,
    notifiers: Mapping[str, Notifier],
    policy: DeliveryPolicy,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Attempt every due delivery once and record the outcome in the outbox."""
    rng = rng or random.Random()
    report = DeliveryReport()
    for delivery in outbox.due(now):
        notifier = notifiers.get(delivery.channel)
        attempts = delivery.attempts + 1
        try:
            if notifier is None:
                raise DeliveryError(f"channel {delivery.channel!r} is not configured any more", retryable=False)
            notifier.send(delivery.message)
        except DeliveryError as exc:
            error = f"{delivery.channel}: {exc}"
            report.errors.append(error)
            if exc.retryable and attempts < policy.max_attempts:
                retry_at = policy.next_attempt(attempts, now, exc.retry_after, rng)
                outbox.record(replace(delivery, attempts=attempts, next_attempt_at=retry_at, last_error=str(exc)))
                report.retrying += 1
            else:
                outbox.record(replace(delivery, status="dead", attempts=attempts, last_error=str(exc)))
                report.dead += 1
            continue
        outbox.record(replace(delivery, status="sent", attempts=attempts, sent_at=now, last_error=None))
        report.sent += 1
    return report
