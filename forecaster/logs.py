"""Logging for the service: plain or JSON lines, with run id, job and series, secrets redacted."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, SecretStr

FIELDS = ("run_id", "job", "series")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("salescast_log_context", default={})
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+:)[^@\s]+@")
_WEBHOOK = re.compile(r"(hooks\.slack\.com/services/)\S+")


@contextlib.contextmanager
def bound(**fields: str) -> Iterator[None]:
    """Attach ``fields`` (run_id, job, series) to every record logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class _Redactor(logging.Filter):
    """Adds the bound fields to each record and scrubs secrets from its message."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        record.msg, record.args = self.scrub(record.getMessage()), None
        return True

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _WEBHOOK.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and run_id / job / series when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def secrets_of(settings: BaseModel) -> list[str]:
    """Every secret value of a settings tree, to keep out of the logs."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            found.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    walk(settings)
    return found


def configure(fmt: str, level: int, secrets: Iterable[str] = ()) -> None:
    """Route the root logger to stderr as ``plain`` or ``json`` lines, secrets redacted."""
    handler = logging.StreamHandler()
    handler.addFilter(_Redactor(secrets))
    plain = "%(asctime)s %(levelname)s %(name)s [%(job)s %(run_id)s]: %(message)s"
    handler.setFormatter(JsonFormatter() if fmt == "json" else _Plain(plain))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


class _Plain(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        for name in ("job", "run_id"):
            if not hasattr(record, name):
                setattr(record, name, "-")
        return super().format(record)
