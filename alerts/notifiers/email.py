"""Send messages as multipart email over SMTP: plain text + HTML, with the chart inline by Content-ID."""

from __future__ import annotations

import copy
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal, Sequence

from alerts.chart import render_chart
from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers import safe_key
from alerts.render import render_email

Security = Literal["none", "starttls", "ssl"]
_SECURITY = ("none", "starttls", "ssl")


class EmailNotifier:
    """Deliver each message to every recipient in one SMTP transaction.

    The Message-ID is derived from the message key, so a retried message is the same email to
    the mail clients, which show it once. ``ca_file`` names the CA certificates to trust for
    STARTTLS and SSL instead of the system's.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 15.0,
        templates: Path | None = None,
        ca_file: Path | str | None = None,
        chart: bool = True,
    ):
        if security not in _SECURITY:
            raise ValueError(f"security must be one of {', '.join(_SECURITY)}, not {security!r}")
        if not recipients:
            raise ValueError("EmailNotifier needs at least one recipient")
        self.host, self.port, self.security = host, port, security
        self.username = username
        self._password = password
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout = timeout
        self._templates = templates
        self.ca_file = ca_file
        self.chart = chart
        self._name = f"SMTP {host}:{port}"

    def __repr__(self) -> str:
        return f"EmailNotifier({self._name!r}, sender={self.sender!r}, recipients={self.recipients!r})"

    def to(self, recipients: Sequence[str]) -> "EmailNotifier":
        """The same notifier for ``recipients`` only (one audience of the channel)."""
        other = copy.copy(self)
        other.recipients = list(recipients)
        return other

    def build(self, message: Message) -> EmailMessage:
        """The email for ``message``: text and HTML as ``multipart/alternative``; with a chart, the
        HTML becomes ``multipart/related`` holding the PNG its ``<img src="cid:...">`` points at."""
        chart = render_chart(message) if self.chart else None
        cid = f"chart.{safe_key(message.key)}@salescast"
        content = render_email(message, self._templates, chart_cid=cid if chart else None)
        mail = EmailMessage()
        mail["Subject"] = content.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = format_datetime(message.created_at)
        mail["Message-ID"] = f"<{safe_key(message.key)}@salescast>"
        mail.set_content(content.text + "\n")
        mail.add_alternative(content.html, subtype="html")
        if chart:
            html = mail.get_payload()[1]
            html.add_related(chart, "image", "png", cid=f"<{cid}>", disposition="inline", filename="chart.png")
        return mail

    def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self._tls())
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(mail, self.sender, self.recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{self._name}: authentication failed for user {self.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}",
                retryable=False,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"{self._name}: {_reply(exc.smtp_code, exc.smtp_error)}", retryable=_transient(exc.smtp_code)
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPServerDisconnected as exc:
            raise DeliveryError(f"{self._name}: disconnected: {exc}") from exc
        except smtplib.SMTPException as exc:  # no STARTTLS or no usable AUTH method: a setup problem
            raise DeliveryError(f"{self._name}: {exc}", retryable=False) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{self._name}: certificate not trusted: {exc.verify_message}", retryable=False) from exc
        except OSError as exc:
            raise DeliveryError(f"{self._name}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(
                f"{self._name}: refused " + ", ".join(f"{rcpt} ({_reply(*reply)})" for rcpt, reply in refused.items()),
                retryable=all(_transient(code) for code, _ in refused.values()),
            )

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


def _transient(code: int) -> bool:
    return 400 <= code < 500


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {words}".strip()
