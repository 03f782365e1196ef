"""Delivery channels behind one protocol: ``send(message)`` delivers or raises ``DeliveryError``.

Each notifier translates its vendor's failures at the edge: ``retryable=True`` when trying again
later can help (timeouts, refused connections, HTTP 5xx and 429, SMTP 4xx), ``retryable=False``
when it cannot (HTTP 4xx, SMTP 5xx, bad credentials).
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence, runtime_checkable

from alerts.message import Message

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class Notifier(Protocol):
    """A delivery channel."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`alerts.errors.DeliveryError` on failure."""


@runtime_checkable
class Addressable(Protocol):
    """A notifier with recipients of its own (email), which can be narrowed to some of them."""

    def to(self, recipients: Sequence[str]) -> Notifier:
        """The same notifier for ``recipients`` only."""


def safe_key(key: str) -> str:
    """``key`` with every character outside ``[A-Za-z0-9._-]`` replaced by ``_`` (file names, Message-IDs)."""
    return _UNSAFE.sub("_", key)
