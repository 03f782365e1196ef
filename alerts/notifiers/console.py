"""Print messages as plain text, one block per message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.render import render_text

SEPARATOR = "-" * 72


class ConsoleNotifier:
    """Write each message's plain text and a separator line to ``stream`` (standard output by default)."""

    def __init__(self, stream: TextIO | None = None, *, templates: Path | None = None):
        self._stream = stream
        self._templates = templates

    def send(self, message: Message) -> None:
        stream = self._stream or sys.stdout
        try:
            stream.write(f"{render_text(message, self._templates)}\n{SEPARATOR}\n")
            stream.flush()
        except OSError as exc:
            raise DeliveryError(f"console: cannot write: {exc}") from exc
