"""JSON over HTTPS for the CRM sources: Bearer token, retries on 429 and 5xx, clear auth errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from forecaster.errors import InputError


class TokenExpiredError(InputError):
    """The CRM refused the access token (HTTP 401): it expired or was revoked."""


@dataclass
class CrmClient:
    """GETs JSON with a Bearer token; ``sleep`` is injectable so waits can be observed, not spent.

    A 429 waits its ``Retry-After`` (capped at ``max_wait``), a 5xx or a dropped connection
    ``backoff * 2**attempt`` seconds; after ``retries`` retries the error is raised. The token
    never appears in an error.
    """

    name: str
    token: str = field(repr=False)
    retries: int = 3
    backoff: float = 0.5
    max_wait: float = 60.0
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def get(self, url: str, params: dict[str, Any] | None = None, auth_hint: str = "") -> Any:
        """The decoded JSON answer of ``GET url``."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        attempt = 0
        while True:
            try:
                response = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise InputError(f"{self.name}: cannot reach {_path(url)}: {exc.__class__.__name__}") from None
                self.sleep(min(self.backoff * 2**attempt, self.max_wait))
                attempt += 1
                continue
            status = response.status_code
            if status == 401:
                raise TokenExpiredError(
                    f"{self.name}: the access token expired or is invalid (HTTP 401{_code(response)}); "
                    f"create a new token{auth_hint} and try again"
                )
            if (status == 429 or status >= 500) and attempt < self.retries:
                self.sleep(self._wait(response, attempt))
                attempt += 1
                continue
            if status >= 400:
                raise InputError(f"{self.name}: {_path(url)} answered HTTP {status}{_code(response)}")
            try:
                return response.json()
            except ValueError:
                raise InputError(f"{self.name}: {_path(url)} did not answer JSON") from None

    def _wait(self, response: requests.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        if response.status_code == 429 and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_wait)
        return min(self.backoff * 2**attempt, self.max_wait)


def _path(url: str) -> str:
    """The URL without its query (which may hold a long SOQL statement)."""
    return url.split("?", 1)[0]


def _code(response: requests.Response) -> str:
    """The vendor's error code from a JSON error body (HubSpot ``category``, Salesforce ``errorCode``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        code = first.get("errorCode") or first.get("category")
        if code:
            return f" {code}"
    return ""
