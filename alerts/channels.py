"""Typed configuration of the delivery channels; ``create()`` builds the matching notifier.

Every channel is also its own :class:`alerts.routing.Route`: ``min_severity``, ``series`` and
``digest`` filter and batch what it receives. An email recipient may choose its own cadence
(``{address: ..., digest: weekly}``), which splits the channel into one audience per cadence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, DirectoryPath, Field, SecretStr, model_validator

from alerts.routing import Audience, Cadence, Route

if TYPE_CHECKING:
    from alerts.notifiers import Notifier


class _Channel(Route):
    name: str | None = Field(None, description="Name used in logs and delivery records; defaults to the kind.")

    @property
    def label(self) -> str:
        """The channel's name in delivery records."""
        return self.name or self.kind  # type: ignore[attr-defined]


class _Templated(_Channel):
    templates: DirectoryPath | None = Field(
        None, description="Folder whose message.txt.j2 / email.html.j2 replace the built-in templates (see alerts/templates)."
    )


class ConsoleChannel(_Templated):
    """Print each message as plain text on standard output."""

    kind: Literal["console"]

    def create(self) -> "Notifier":
        from alerts.notifiers.console import ConsoleNotifier

        return ConsoleNotifier(templates=self.templates)


class DirectoryChannel(_Templated):
    """Write each message as ``<key>.txt``, ``<key>.html``, ``<key>.json`` (and ``<key>.png``) into a folder."""

    kind: Literal["directory"]
    path: Path = Path("salescast-outbox")

    def create(self) -> "Notifier":
        from alerts.notifiers.directory import DirectoryNotifier

        return DirectoryNotifier(self.path, templates=self.templates)


class SlackChannel(_Channel):
    """Post to Slack: an incoming webhook (``webhook_url``) or a bot token (``token`` + ``channel_id``).

    Only the bot token can upload the chart (``files:write`` scope besides ``chat:write``).
    """

    kind: Literal["slack"]
    webhook_url: SecretStr | None = None
    token: SecretStr | None = Field(None, description="Bot token (xoxb-...); put it in ${ENV}.")
    channel_id: str | None = Field(None, description="Channel the bot posts to (C0123...); the bot must be a member.")
    api_url: str = "https://slack.com/api"
    chart: bool = True
    timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _one_way_in(self) -> "SlackChannel":
        if (self.webhook_url is None) == (self.token is None):
            raise ValueError("give exactly one of 'webhook_url' or 'token'")
        if self.token is not None and not self.channel_id:
            raise ValueError("a bot 'token' needs the 'channel_id' to post to")
        return self

    def create(self) -> "Notifier":
        from alerts.notifiers.slack import SlackBotNotifier, SlackWebhookNotifier

        if self.webhook_url is not None:
            return SlackWebhookNotifier(self.webhook_url.get_secret_value(), timeout=self.timeout_seconds)
        return SlackBotNotifier(
            self.token.get_secret_value(),  # type: ignore[union-attr]
            self.channel_id,  # type: ignore[arg-type]
            api_url=self.api_url,
            chart=self.chart,
            timeout=self.timeout_seconds,
        )


class Recipient(BaseModel):
    """An email recipient who takes the channel's messages at a cadence of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str
    digest: Cadence = Field(description="immediate (one email per incident), daily or weekly (one digest per day or week).")


class EmailChannel(_Templated):
    """Send multipart email over SMTP: plain text + HTML, the chart inline.

    A recipient is an address, who gets the channel's cadence (``digest``, else one email per
    incident), or ``{address, digest}`` with a cadence of their own.
    """

    kind: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: list[Union[str, Recipient]] = Field(min_length=1)
    ca_file: Path | None = Field(None, description="PEM file of the CA to trust for the server's certificate (default: the system's).")
    chart: bool = True
    timeout_seconds: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _distinct_recipients(self) -> "EmailChannel":
        addresses = self.addresses
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise ValueError(f"recipients {repeated} are listed more than once; give each address one entry")
        return self

    @property
    def addresses(self) -> list[str]:
        """Every recipient's address, in the order given."""
        return [r if isinstance(r, str) else r.address for r in self.recipients]

    def audiences(self, name: str) -> list[Audience]:
        """One audience per cadence: the channel's own under ``name``, the others under ``name:<cadence>``."""
        own: Cadence = self.digest or "immediate"
        groups: dict[Cadence, list[str]] = {}
        for recipient in self.recipients:
            cadence = own if isinstance(recipient, str) else recipient.digest
            groups.setdefault(cadence, []).append(recipient if isinstance(recipient, str) else recipient.address)
        if list(groups) == [own]:
            return super().audiences(name)
        return [
            Audience(name if cadence == own else f"{name}:{cadence}", name, None if cadence == "immediate" else cadence, tuple(addresses))
            for cadence, addresses in groups.items()
        ]

    def create(self) -> "Notifier":
        from alerts.notifiers.email import EmailNotifier

        return EmailNotifier(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            sender=self.sender,
            recipients=self.addresses,
            timeout=self.timeout_seconds,
            ca_file=self.ca_file,
            chart=self.chart,
            templates=self.templates,
        )


class WebhookChannel(_Templated):
    """POST a signed JSON payload (schema ``salescast.alert/v1.2``, see docs/webhook.md) to a URL."""

    kind: Literal["webhook"]
    url: SecretStr
    secret: SecretStr = Field(description="Shared secret of the HMAC-SHA256 signature; put it in ${ENV}.")
    timeout_seconds: float = Field(10.0, gt=0)

    def create(self) -> "Notifier":
        from alerts.notifiers.webhook import WebhookNotifier

        return WebhookNotifier(self.url.get_secret_value(), self.secret.get_secret_value(), timeout=self.timeout_seconds, templates=self.templates)


Channel = Annotated[
    Union[ConsoleChannel, DirectoryChannel, SlackChannel, EmailChannel, WebhookChannel], Field(discriminator="kind")
]
