"""Post messages to Slack as Block Kit: an incoming webhook, or the Web API with a bot token."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests

from alerts.chart import render_chart
from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers import safe_key
from alerts.notifiers.http import BODY_EXCERPT, checked, post, retry_after
from alerts.render import MAX_HEADER_TEXT, render_slack

log = logging.getLogger(__name__)
# Web API errors (HTTP 200, "ok": false) that trying again later can fix; any other is permanent
# (invalid_auth, channel_not_found, not_in_channel, missing_scope, invalid_blocks, ...).
_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


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
        checked(post(self._session, self._name, self._url, self._timeout, json=render_slack(message)), self._name)


class SlackBotNotifier:
    """``chat.postMessage`` with a bot token, then the chart through Slack's external upload flow.

    The chart goes up after the message is posted (``files.getUploadURLExternal``, a POST of the
    PNG to the returned ``upload_url``, ``files.completeUploadExternal``). A failed upload is
    logged and not raised: a retry would post the message a second time.
    """

    def __init__(
        self,
        token: str,
        channel_id: str,
        *,
        api_url: str = "https://slack.com/api",
        chart: bool = True,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ):
        self._token = token
        self.channel_id = channel_id
        self.api_url = api_url.rstrip("/")
        self.chart = chart
        self._timeout = timeout
        self._session = session or requests.Session()
        self._name = f"Slack API at {urlsplit(api_url).hostname or 'unknown host'}"

    def __repr__(self) -> str:
        return f"SlackBotNotifier({self._name!r}, channel_id={self.channel_id!r})"

    def send(self, message: Message) -> None:
        self._call("chat.postMessage", json={"channel": self.channel_id, "unfurl_links": False, **render_slack(message)})
        png = render_chart(message) if self.chart else None
        if png:
            try:
                self._upload(message, png)
            except DeliveryError as exc:
                log.warning("%s: message %s posted, chart not uploaded: %s", self._name, message.key, exc)

    def _upload(self, message: Message, png: bytes) -> None:
        filename = f"{safe_key(message.key)}.png"
        alt = f"Chart: {message.title}"[:MAX_HEADER_TEXT]
        ticket = self._call("files.getUploadURLExternal", data={"filename": filename, "length": str(len(png)), "alt_text": alt})
        upload = post(self._session, self._name, ticket["upload_url"], self._timeout, files={"filename": (filename, png, "image/png")})
        checked(upload, f"{self._name} (file upload)")
        files = [{"id": ticket["file_id"], "title": message.title[:MAX_HEADER_TEXT]}]
        self._call("files.completeUploadExternal", json={"files": files, "channel_id": self.channel_id})

    def _call(self, method: str, **body: Any) -> dict[str, Any]:
        """One Web API call; Slack reports most failures as HTTP 200 with ``"ok": false``."""
        where = f"{self._name} {method}"
        headers = {"Authorization": f"Bearer {self._token}"}
        response = checked(post(self._session, where, f"{self.api_url}/{method}", self._timeout, headers=headers, **body), where)
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError(f"{where}: answer is not JSON: {response.text[:BODY_EXCERPT]!r}") from None
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))
            raise DeliveryError(f"{where}: {error}", retryable=error in _TRANSIENT, retry_after=retry_after(response.headers.get("Retry-After")))
        return answer
