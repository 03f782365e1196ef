"""Which channels hear about a message, and when: severity and series filters, and digests."""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.digest import Every, build_digest, due_at
from alerts.message import Message

_RANK = {"info": 0, "warning": 1, "critical": 2}


class Route(BaseModel):
    """A channel's filters: which messages it receives, and whether one by one or as a digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_severity: Literal["warning", "critical"] | None = Field(
        None, description="Only incidents at least this severe; resolutions and test messages always pass."
    )
    series: list[str] = Field(
        default_factory=list, description="Glob patterns of series ids (e.g. 'total', 'Germany*'); empty: every series."
    )
    digest: Every | None = Field(None, description="daily or weekly: one message per period instead of one per incident.")

    def matches(self, message: Message) -> bool:
        """Whether ``message`` passes this route's series and severity filters."""
        if self.series and not any(fnmatch.fnmatchcase(message.series_id, pattern) for pattern in self.series):
            return False
        if self.min_severity is None or message.event in ("resolved", "test"):
            return True
        return _RANK[message.severity] >= _RANK[self.min_severity]


class Router:
    """Applies each channel's :class:`Route`; a channel without one receives every message at once."""

    def __init__(self, routes: Mapping[str, Route], timezone: str = "UTC"):
        self.routes = dict(routes)
        self.timezone = timezone

    @property
    def digests(self) -> dict[str, Every]:
        """Channel name -> digest period, for the channels that take digests."""
        return {name: route.digest for name, route in self.routes.items() if route.digest}

    def plan(self, message: Message, channels: Sequence[str], now: dt.datetime) -> dict[str, dt.datetime]:
        """The channels that should receive ``message``, each with the time its delivery becomes due."""
        plan = {}
        for channel in channels:
            route = self.routes.get(channel)
            if route is not None and not route.matches(message):
                continue
            plan[channel] = due_at(message.created_at, route.digest, self.timezone) if route and route.digest else now
        return plan

    def combine(self, channel: str, messages: Sequence[Message], now: dt.datetime) -> Message:
        """The digest message of ``channel`` for the held ``messages``."""
        return build_digest(channel, self.digests[channel], messages, self.timezone, now)
