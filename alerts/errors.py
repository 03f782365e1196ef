"""The exception tree of the alerts package."""


class AlertsError(Exception):
    """Base of every error raised by ``alerts``."""


class PolicyError(AlertsError):
    """An alert policy (rules, thresholds) is not valid."""


class DeliveryError(AlertsError):
    """A channel failed to deliver a message.

    ``retryable`` is False when trying again cannot help (bad credentials, a rejected payload),
    so the outbox dead-letters the delivery at once instead of retrying it.
    """

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
