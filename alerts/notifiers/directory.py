"""Write each message into a folder as text, HTML and JSON: a channel to look at, or to ship elsewhere."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from alerts.chart import render_chart
from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers import safe_key
from alerts.render import render_email


class DirectoryNotifier:
    """Write ``<key>.txt``, ``<key>.html`` and ``<key>.json`` into ``path``, and ``<key>.png`` with a chart.

    The key is made safe for file names, so sending the same message again overwrites the same
    three files. Each file is replaced atomically: a reader never sees half a file.
    """

    def __init__(self, path: Path | str, *, templates: Path | None = None):
        self.path = Path(path)
        self._templates = templates

    def send(self, message: Message) -> None:
        email = render_email(message, self._templates)
        record = {**message.to_dict(), "subject": email.subject}
        stem = safe_key(message.key)
        files: dict[str, str | bytes] = {
            f"{stem}.txt": email.text + "\n",
            f"{stem}.html": email.html,
            f"{stem}.json": json.dumps(record, indent=2, ensure_ascii=False) + "\n",
        }
        chart = render_chart(message)
        if chart:
            files[f"{stem}.png"] = chart
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                _write_atomically(self.path / name, content)
        except OSError as exc:
            raise DeliveryError(f"directory {self.path}: cannot write {stem}: {exc.strerror or exc}") from exc


def _write_atomically(target: Path, content: str | bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(temp, target)
    except OSError:
        os.unlink(temp)
        raise
