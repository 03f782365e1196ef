"""HTTP plumbing shared by the Slack and webhook notifiers: requests failures as DeliveryErrors."""

from __future__ import annotations

from typing import Any

import requests

from alerts.errors import DeliveryError

BODY_EXCERPT = 200


def post(session: requests.Session, name: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    """POST, with timeouts and connection failures raised as retryable :class:`DeliveryError` naming ``name``."""
    # Causes are dropped on purpose: requests' own messages quote the URL, which may be the secret.
    try:
        return session.post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise DeliveryError(f"{name}: no answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"{name}: request failed ({type(exc).__name__})") from None


def checked(response: requests.Response, name: str) -> requests.Response:
    """``response`` if it is a 2xx; otherwise the matching :class:`DeliveryError` (429 and 5xx retryable)."""
    if 200 <= response.status_code < 300:
        return response
    problem = f"{name} answered {response.status_code}: {response.text[:BODY_EXCERPT].strip()}"
    if response.status_code == 429:
        raise DeliveryError(problem, retry_after=retry_after(response.headers.get("Retry-After")))
    raise DeliveryError(problem, retryable=response.status_code >= 500)


def retry_after(header: str | None) -> float | None:
    """The delay of a ``Retry-After: <seconds>`` header (Slack sends seconds, never a date)."""
    try:
        return max(float(header), 0.0) if header else None
    except ValueError:
        return None
