"""The outbox: messages are persisted before any send, then delivered with retries and backoff.

Delivery is at least once per (message, channel): a send that fails is retried after an
exponential backoff with jitter (or the channel's ``Retry-After``), and after ``max_attempts``
failures, or at once on a permanent error, the delivery is dead-lettered for an operator to retry.
Deliveries of digest audiences are held until their digest is due, then sent as one message;
each delivery names its target (a channel, or an audience of one: see :mod:`alerts.routing`).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers import Addressable, Notifier

if TYPE_CHECKING:
    from alerts.digest import Overview
    from alerts.routing import Router

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

    def enqueue(self, message: Message, channels: Sequence[str], now: dt.datetime, hold: Mapping[str, dt.datetime] | None = None) -> int:
        """Persist ``message`` for each channel; a (key, channel) already there is kept as it is.

        A channel in ``hold`` gets its first attempt at that time instead of ``now``.
        Returns how many deliveries were new.
        """

    def due(self, now: dt.datetime) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""

    def record(self, delivery: Delivery) -> None:
        """Store the new state of a delivery after an attempt."""

    def revive(self, ids: Sequence[str] | None, now: dt.datetime) -> int:
        """Make dead deliveries (those of ``ids``, or all when None) pending and due at ``now``; return how many."""


class MemoryOutbox:
    """An :class:`Outbox` in a dict, for replays and tests."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    def enqueue(self, message: Message, channels: Sequence[str], now: dt.datetime, hold: Mapping[str, dt.datetime] | None = None) -> int:
        added = 0
        for channel in channels:
            delivery_id = f"{message.key}@{channel}"
            if delivery_id not in self.deliveries:
                due = (hold or {}).get(channel, now)
                self.deliveries[delivery_id] = Delivery(delivery_id, message, channel, next_attempt_at=due)
                added += 1
        return added

    def due(self, now: dt.datetime) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.status == "pending" and d.next_attempt_at <= now]

    def record(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = delivery

    def revive(self, ids: Sequence[str] | None, now: dt.datetime) -> int:
        dead = [d for d in self.deliveries.values() if d.status == "dead" and (ids is None or d.id in ids)]
        for delivery in dead:
            self.deliveries[delivery.id] = replace(delivery, status="pending", attempts=0, next_attempt_at=now)
        return len(dead)


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
    router: "Router | None" = None,
    overview: "Overview | None" = None,
) -> DeliveryReport:
    """Attempt every due delivery once and record the outcome in the outbox.

    The due deliveries of a digest audience (per ``router``) are sent together as one digest,
    with every series' forecast vs actual from ``overview`` when given.
    """
    rng = rng or random.Random()
    report = DeliveryReport()
    digests = router.digests if router else {}
    held: dict[str, list[Delivery]] = {}
    for delivery in outbox.due(now):
        if delivery.channel in digests:
            held.setdefault(delivery.channel, []).append(delivery)
        else:
            _attempt(outbox, _notifier_for(delivery.channel, notifiers, router), delivery.message, [delivery], policy, now, rng, report)
    for target, batch in held.items():
        digest = router.combine(target, [d.message for d in batch], now, overview)  # type: ignore[union-attr]
        _attempt(outbox, _notifier_for(target, notifiers, router), digest, batch, policy, now, rng, report)
    return report


def _notifier_for(target: str, notifiers: Mapping[str, Notifier], router: "Router | None") -> Notifier | None:
    """The notifier of a delivery target: its channel's, narrowed to the target's recipients when it names some."""
    audience = router.audience(target) if router else None
    if audience is None:
        return notifiers.get(target)
    notifier = notifiers.get(audience.channel)
    if notifier is None or audience.recipients is None:
        return notifier
    if not isinstance(notifier, Addressable):
        raise TypeError(f"channel {audience.channel!r} has recipients of its own cadence, but {notifier!r} cannot address them")
    return notifier.to(audience.recipients)


def redeliver(
    outbox: Outbox,
    ids: Sequence[str] | None,
    notifiers: Mapping[str, Notifier],
    policy: DeliveryPolicy,
    now: dt.datetime,
    router: "Router | None" = None,
    overview: "Overview | None" = None,
) -> tuple[int, DeliveryReport]:
    """Revive dead deliveries (``ids``, or all when None) and run a delivery pass at once."""
    revived = outbox.revive(ids, now)
    return revived, deliver_due(outbox, notifiers, policy, now, router=router, overview=overview)


def _attempt(
    outbox: Outbox,
    notifier: Notifier | None,
    message: Message,
    deliveries: Sequence[Delivery],
    policy: DeliveryPolicy,
    now: dt.datetime,
    rng: random.Random,
    report: DeliveryReport,
) -> None:
    """Send ``message`` once on behalf of ``deliveries`` (all to one channel) and record the outcome of each."""
    channel = deliveries[0].channel
    attempts = max(d.attempts for d in deliveries) + 1
    try:
        if notifier is None:
            raise DeliveryError(f"channel {channel!r} is not configured any more", retryable=False)
        notifier.send(message)
    except DeliveryError as exc:
        report.errors.append(f"{channel}: {exc}")
        if exc.retryable and attempts < policy.max_attempts:
            retry_at = policy.next_attempt(attempts, now, exc.retry_after, rng)
            changes = dict(attempts=attempts, next_attempt_at=retry_at, last_error=str(exc))
            report.retrying += len(deliveries)
        else:
            changes = dict(status="dead", attempts=attempts, last_error=str(exc))
            report.dead += len(deliveries)
        for delivery in deliveries:
            outbox.record(replace(delivery, **changes))
        return
    for delivery in deliveries:
        outbox.record(replace(delivery, status="sent", attempts=attempts, sent_at=now, last_error=None))
    report.sent += len(deliveries)
