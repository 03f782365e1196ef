"""HTTP for the shop and CRM APIs: retries with exponential backoff, Retry-After, and errors that carry no secret."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from time import sleep
from typing import Any, Iterable

import requests

from forecaster.errors import InputError
from forecaster.settings_sources import HttpPolicy

log = logging.getLogger(__name__)
_RETRIED = (requests.ConnectionError, requests.Timeout)


class ApiClient:
    """One API client: ``request`` retries 429, 5xx and connection errors, and raises InputError otherwise.

    A refused request (HTTP 401 or 403) is not retried: it raises ``refused`` (an InputError)
    with ``refused_hint`` saying what to fix. Every message it raises or logs has the
    ``secrets`` replaced by ``***``.
    """

    def __init__(
        self, name: str, policy: HttpPolicy, secrets: Iterable[str], refused_hint: str,
        secrets_in_urls: bool = False, refused: type[InputError] = InputError,
    ):
        self.name = name
        self.policy = policy
        self.session = requests.Session()
        self.refused_hint = refused_hint
        self.refused = refused
        self._secrets = [s for s in secrets if s]
        if secrets_in_urls:
            _URL_LOG.hide(self._secrets)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def fail(self, what: str, problem: str, error: type[InputError] = InputError) -> InputError:
        """An InputError naming the source and the request, without secrets."""
        return error(self.scrub(f"{self.name}: {what}: {problem}"))

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """Send one request (``what`` names it in messages); a 2xx response, or InputError."""
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            retry_after = None
            try:
                response = self.session.request(method, url, timeout=policy.timeout_seconds, **kwargs)
            except _RETRIED as exc:
                problem = f"cannot reach the server ({type(exc).__name__})"
            except requests.RequestException as exc:
                raise self.fail(what, f"request failed: {type(exc).__name__}: {exc}") from None
            else:
                code = response.status_code
                if code in (401, 403):
                    raise self.fail(what, f"the server refused the request (HTTP {code}: {api_message(response)}); {self.refused_hint}", self.refused)
                if code < 400:
                    return response
                if code != 429 and code < 500:
                    raise self.fail(what, f"HTTP {code}: {api_message(response)}")
                problem, retry_after = f"HTTP {code}", _retry_after(response)
            if attempt == policy.attempts:
                break
            wait = retry_after if retry_after is not None else policy.backoff_seconds * 2 ** (attempt - 1)
            wait = min(wait, policy.max_wait_seconds)
            log.warning("%s", self.scrub(f"{self.name}: {what}: {problem}; retry {attempt}/{policy.attempts - 1} in {wait:.1f} s"))
            pause(wait)
        raise self.fail(what, f"{problem}, still after {policy.attempts} attempts")

    def json(self, response: requests.Response, what: str) -> Any:
        """The body of ``response`` as JSON, or InputError naming the request."""
        try:
            return response.json()
        except ValueError:
            raise self.fail(what, f"the answer is not JSON: {response.text[:200]!r}") from None

    def get_json(self, url: str, what: str, params: dict[str, Any] | None = None) -> Any:
        """``GET url`` and its JSON answer."""
        return self.json(self.request("GET", url, what, params=params), what)


class TokenRefusedError(InputError):
    """The API refused the access token (HTTP 401 or 403): it expired, was revoked or lacks a scope."""


def bearer_client(name: str, token: str, policy: HttpPolicy, refused_hint: str) -> ApiClient:
    """An :class:`ApiClient` that sends ``token`` as a Bearer token and asks for JSON."""
    client = ApiClient(name, policy, [token], refused_hint, refused=TokenRefusedError)
    client.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    return client


class _RedactUrls(logging.Filter):
    """Hides secrets in urllib3's request log, which prints every URL with its query string."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def hide(self, secrets: Iterable[str]) -> None:
        if not self.secrets:
            logging.getLogger("urllib3.connectionpool").addFilter(self)
        self.secrets.update(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


_URL_LOG = _RedactUrls()


def pause(seconds: float) -> None:
    """Wait ``seconds``; every wait of the shop clients goes through here."""
    if seconds > 0:
        sleep(seconds)


def api_message(response: requests.Response) -> str:
    """The error the API explains in its body.

    WooCommerce ``code``/``message``, Shopify ``errors``, HubSpot ``category``/``message``,
    Salesforce a list of ``errorCode``/``message``.
    """
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        if "message" in body or "errorCode" in body or "category" in body:
            code = body.get("code") or body.get("errorCode") or body.get("category") or ""
            return f"{code} {body.get('message', '')}".strip()
        errors = body.get("errors")
        if isinstance(errors, list):
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        if errors:
            return str(errors)
    return str(body)[:200]


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
