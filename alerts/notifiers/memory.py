"""An in-memory notifier for tests and replays."""

from __future__ import annotations

from alerts.errors import DeliveryError
from alerts.message import Message


class MemoryNotifier:
    """Keeps every delivered message in ``sent``; :meth:`fail_next` scripts failures."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self._failures: list[bool] = []

    def fail_next(self, n: int, retryable: bool = True) -> None:
        """Make the next ``n`` sends raise :class:`DeliveryError` (after any failures already scripted)."""
        self._failures.extend([retryable] * n)

    def send(self, message: Message) -> None:
        if self._failures:
            retryable = self._failures.pop(0)
            raise DeliveryError(f"memory: scripted failure for {message.key}", retryable=retryable)
        self.sent.append(message)
