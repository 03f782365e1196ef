"""Real servers on 127.0.0.1 for tests: an SMTP server (aiosmtpd) and a scripted HTTP server.

Both are context managers that pick a free port, run in a background thread, and record what
they receive::

    with SMTPServer() as smtp:
        ...send to smtp.host, smtp.port...
        smtp.messages[0]["Subject"]

    with HTTPServer() as http:
        http.reply(Reply(status=429, headers={"Retry-After": "7"}))
        ...request http.url + "/path"...
        http.requests[0].json()

``SMTPServer(tls=context)`` offers STARTTLS (``implicit_tls=True``: TLS from the first byte);
``HTTPServer(port=...)`` listens on a chosen port, and ``HTTPServer.respond(function)`` answers
every request the queue does not with ``function(request)``.
"""

from __future__ import annotations

import collections
import email
import email.message
import email.policy
import http.client
import http.server
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (a "closed port" when left unused)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Envelope:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parse(self) -> email.message.EmailMessage:
        """The message as a parsed :class:`email.message.EmailMessage`."""
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _SMTPHandler:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.replies: collections.deque[str] = collections.deque()
        self.refused: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.popleft()
        self.envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server on 127.0.0.1 that keeps every accepted message.

    ``credentials=(user, password)`` enables AUTH (over plain connections) and rejects any other
    pair with ``535``. :meth:`fail_next` makes the server answer the DATA of the next messages
    with an error reply instead of accepting them; :meth:`refuse` rejects one recipient.
    ``tls`` (a server-side context) offers and requires STARTTLS, or with ``implicit_tls``
    speaks TLS from the first byte (SMTPS).
    """

    def __init__(self, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None, implicit_tls: bool = False):
        self.host = HOST
        self.port = free_port()
        self._handler = _SMTPHandler()
        options: dict[str, Any] = {}
        if credentials:
            options = {"authenticator": self._authenticator(credentials), "auth_require_tls": False}
        if tls is not None and implicit_tls:
            options["ssl_context"] = tls
        elif tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **options)

    @property
    def envelopes(self) -> list[Envelope]:
        """Accepted messages, oldest first."""
        return self._handler.envelopes

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        """Accepted messages, parsed."""
        return [envelope.parse() for envelope in self.envelopes]

    def fail_next(self, n: int, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the DATA of the next ``n`` messages with ``reply`` (e.g. ``"550 5.7.1 Rejected"``)."""
        self._handler.replies.extend([reply] * n)

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer ``RCPT TO`` for ``address`` with ``reply`` from now on."""
        self._handler.refused[address] = reply

    def __enter__(self) -> "SMTPServer":
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    @staticmethod
    def _authenticator(credentials: tuple[str, str]):
        expected = LoginPassword(credentials[0].encode(), credentials[1].encode())

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            return AuthResult(success=auth_data == expected, handled=False)

        return authenticate


@dataclass(frozen=True)
class Reply:
    """A scripted HTTP response. A dict or list body is sent as JSON; ``delay`` stalls the answer."""

    status: int = 200
    body: str | bytes | dict | list = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes and its default content type."""
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


@dataclass(frozen=True)
class Request:
    """One request the HTTP server received."""

    method: str
    path: str
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class HTTPServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script.

    Replies queued with :meth:`reply` are used in order, one per request; when the queue is
    empty every request gets the answer of the :meth:`respond` function, else ``200 ok``.
    ``exchanges`` pairs each request with the reply it got.
    """

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self.exchanges: list[tuple[Request, Reply]] = []
        self._replies: collections.deque[Reply] = collections.deque()
        self._responder: Callable[[Request], Reply] | None = None
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer((HOST, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash: ``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        """Queue responses for the next requests."""
        with self._lock:
            self._replies.extend(replies)

    def respond(self, function: Callable[[Request], Reply]) -> None:
        """Answer each request that no queued reply is left for with ``function(request)``."""
        self._responder = function

    def __enter__(self) -> "HTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                reply = self._replies.popleft()
            else:
                reply = self._responder(request) if self._responder else Reply()
            self.exchanges.append((request, reply))
            return reply

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, self.headers, self.rfile.read(length))
                reply = server._next(request)
                time.sleep(reply.delay)
                body, content_type = reply.encoded()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
