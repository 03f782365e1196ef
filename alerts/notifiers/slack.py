"""Post messages to a Slack incoming webhook as Block Kit."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.render import render_slack

_BODY_EXCERPT = 200


class SlackWebhookNotifier:
    """POST each message's Block Kit payload to ``url``; Slack answers ``200 ok``.

    The webhook URL is a credential: errors and ``repr`` name only its host.
    """

    def __init__(self, url: str, timeout: float = 10.0, session: requests.Session | None = None):
        self._url = url
        self._timeout = timeout
        self._session = session or requests.Session()
        self._name = f"Slack webhook at {urlsplit(url).hostname or 'unknown host'}"

    def __repr__(self) -> str:
        return f"SlackWebhookNotifier({self._name!r})"

    def send(self, message: Message) -> None:
        # Causes are dropped on purpose: requests' own messages quote the URL, which is the secret.
        try:
            response = self._session.post(self._url, json=render_slack(message), timeout=self._timeout)
        except requests.Timeout:
            raise DeliveryError(f"{self._name}: no answer within {self._timeout:g} s") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"{self._name}: request failed ({type(exc).__name__})") from None
        if 200 <= response.status_code < 300:
            return
        problem = f"{self._name} answered {response.status_code}: {response.text[:_BODY_EXCERPT].strip()}"
        if response.status_code == 429:
            raise DeliveryError(problem, retry_after=_seconds(response.headers.get("Retry-After")))
        raise DeliveryError(problem, retryable=response.status_code >= 500)


def _seconds(header: str | None) -> float | None:
    """The delay of a ``Retry-After: <seconds>`` header (Slack sends seconds, never a date)."""
    try:
        return max(float(header), 0.0) if header else None
    except ValueError:
        return None
