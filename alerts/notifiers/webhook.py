"""POST messages as signed JSON to any HTTP endpoint (schema ``salescast.alert/v1.2``, docs/webhook.md).

The receiver checks ``X-Salescast-Signature: sha256=<hex>``, the HMAC-SHA256 with the shared
secret of ``<X-Salescast-Timestamp>.<raw body>``; the timestamp inside the signed string lets it
refuse replays of old requests. ``Idempotency-Key`` is the message key (percent-encoded beyond
printable ASCII): a retried delivery
carries the same key, so the receiver can drop the copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import string
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import requests

from alerts.message import Decomposition, Message
from alerts.notifiers.http import checked, post
from alerts.render import headline, render_text

SCHEMA = "salescast.alert/v1.2"
SIGNATURE_HEADER = "X-Salescast-Signature"
TIMESTAMP_HEADER = "X-Salescast-Timestamp"
_KEY_SAFE = string.punctuation.replace("%", "") + " "


def payload(message: Message, templates: Path | None = None) -> dict[str, Any]:
    """The ``salescast.alert/v1.2`` document of ``message`` (numbers that are not finite become null).

    ``templates`` is a folder overriding the built-in ``message.txt.j2`` of the ``text`` field.
    """
    return {
        "schema": SCHEMA,
        "key": message.key,
        "event": message.event,
        "severity": message.severity,
        "series_id": message.series_id,
        "rule": message.rule,
        "title": message.title,
        "headline": headline(message),
        "text": render_text(message, templates),
        "period": {"start": message.period_start.isoformat(), "end": message.period_end.isoformat()},
        "metric": message.metric,
        "currency": message.currency,
        "actual": _number(message.actual),
        "expected": _number(message.expected),
        "lower": _number(message.lower),
        "upper": _number(message.upper),
        "deviation_pct": _number(message.deviation_pct),
        "labels": {"actual": message.labels[0], "expected": message.labels[1]},
        "facts": list(message.facts),
        "link": message.link,
        "created_at": message.created_at.isoformat(),
        "history": [
            {"date": p.ds.isoformat(), "actual": _number(p.actual), "expected": _number(p.expected), "lower": _number(p.lower), "upper": _number(p.upper)}
            for p in message.history
        ],
        "decomposition": _decomposition(message.decomposition) if message.decomposition else None,
    }


def _decomposition(found: Decomposition) -> dict[str, Any]:
    """The decomposition block: fractions as numbers (-0.2 = 20% below), segments worst first."""
    return {
        "actual": _number(found.actual),
        "expected": _number(found.expected),
        "change": _number(found.change),
        "orders_change": _optional(found.orders_change),
        "basket_change": _optional(found.basket_change),
        "actual_orders": found.actual_orders,
        "expected_orders": _optional(found.expected_orders),
        "actual_aov": _optional(found.actual_aov),
        "reference_aov": _optional(found.reference_aov),
        "reference": found.reference,
        "segments": [
            {"dimension": s.dimension, "value": s.value, "expected": _number(s.expected), "actual": _number(s.actual), "change": _number(s.change), "share": _number(s.share)}
            for s in found.segments
        ],
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``<timestamp>.<body>`` with ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    """POST each message's signed payload to ``url``; any 2xx answer is a delivery.

    429 and 5xx answers, timeouts and refused connections are retried; other 4xx are permanent.
    The URL and the secret never appear in errors or ``repr``.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        templates: Path | None = None,
    ):
        self._url = url
        self._templates = templates
        self._secret = secret
        self._timeout = timeout
        self._session = session or requests.Session()
        self._clock = clock
        self._name = f"webhook at {urlsplit(url).hostname or 'unknown host'}"

    def __repr__(self) -> str:
        return f"WebhookNotifier({self._name!r})"

    def send(self, message: Message) -> None:
        body = json.dumps(payload(message, self._templates), ensure_ascii=False, allow_nan=False).encode("utf-8")
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "salescast",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
            "Idempotency-Key": quote(message.key, safe=_KEY_SAFE),
        }
        checked(post(self._session, self._name, self._url, self._timeout, data=body, headers=headers), self._name)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _optional(value: float | None) -> float | None:
    return None if value is None else _number(value)
