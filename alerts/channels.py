"""Typed configuration of the delivery channels; ``create()`` builds the matching notifier."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr

if TYPE_CHECKING:
    from alerts.notifiers import Notifier


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Name used in logs and delivery records; defaults to the kind.")

    @property
    def label(self) -> str:
        """The channel's name in delivery records."""
        return self.name or self.kind  # type: ignore[attr-defined]


class ConsoleChannel(_Channel):
    """Print each message as plain text on standard output."""

    kind: Literal["console"]

    def create(self) -> "Notifier":
        from alerts.notifiers.console import ConsoleNotifier

        return ConsoleNotifier()


class DirectoryChannel(_Channel):
    """Write each message as ``<key>.txt``, ``<key>.html`` and ``<key>.json`` into a folder."""

    kind: Literal["directory"]
    path: Path = Path("salescast-outbox")

    def create(self) -> "Notifier":
        from alerts.notifiers.directory import DirectoryNotifier

        return DirectoryNotifier(self.path)


class SlackChannel(_Channel):
    """Post to a Slack incoming webhook (Block Kit)."""

    kind: Literal["slack"]
    webhook_url: SecretStr
    timeout_seconds: float = Field(10.0, gt=0)

    def create(self) -> "Notifier":
        from alerts.notifiers.slack import SlackWebhookNotifier

        return SlackWebhookNotifier(self.webhook_url.get_secret_value(), timeout=self.timeout_seconds)


class EmailChannel(_Channel):
    """Send multipart (plain text + HTML) email over SMTP."""

    kind: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(15.0, gt=0)

    def create(self) -> "Notifier":
        from alerts.notifiers.email import EmailNotifier

        return EmailNotifier(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            sender=self.sender,
            recipients=list(self.recipients),
            timeout=self.timeout_seconds,
        )


Channel = Annotated[
    Union[ConsoleChannel, DirectoryChannel, SlackChannel, EmailChannel], Field(discriminator="kind")
]
