"""Which channels hear about a message, and when: severity and series filters, and digests.

A channel is delivered to as one or more *audiences*: the people who take its messages the same
way. Most channels are one audience (a Slack channel or a webhook is its own recipient); an
email channel whose recipients chose different cadences is split into one audience per cadence.
Each audience is a delivery target of the outbox: the channel's name for the channel's own
cadence, ``<name>:<cadence>`` for recipients who chose another one.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.digest import Every, Overview, build_digest, due_at
from alerts.message import Message

_RANK = {"info": 0, "warning": 1, "critical": 2}
Cadence = Literal["immediate", "daily", "weekly"]


@dataclass(frozen=True)
class Audience:
    """The recipients of one channel who take its messages at one cadence: one delivery target.

    ``recipients`` None means all of the channel's own recipients (or the channel itself).
    """

    target: str
    channel: str
    digest: Every | None = None
    recipients: tuple[str, ...] | None = None


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

    def audiences(self, name: str) -> list[Audience]:
        """The delivery targets of the channel called ``name``: by default the channel itself."""
        return [Audience(name, name, self.digest)]


class Router:
    """Applies each channel's :class:`Route`; a channel without one receives every message at once."""

    def __init__(self, routes: Mapping[str, Route], timezone: str = "UTC"):
        self.routes = dict(routes)
        self.timezone = timezone
        self._audiences: dict[str, Audience] = {}
        for name, route in self.routes.items():
            for audience in route.audiences(name):
                if audience.target in self._audiences:
                    raise ValueError(f"channel {name!r}: delivery target {audience.target!r} is also the name of another channel; rename one")
                self._audiences[audience.target] = audience

    @property
    def digests(self) -> dict[str, Every]:
        """Delivery target -> digest period, for the audiences that take digests."""
        return {target: a.digest for target, a in self._audiences.items() if a.digest}

    def plan(self, message: Message, channels: Sequence[str], now: dt.datetime) -> dict[str, dt.datetime]:
        """The delivery targets that should receive ``message``, each with the time its delivery becomes due."""
        plan = {}
        for channel in channels:
            route = self.routes.get(channel)
            if route is None:
                plan[channel] = now
            elif route.matches(message):
                for audience in route.audiences(channel):
                    plan[audience.target] = due_at(message.created_at, audience.digest, self.timezone) if audience.digest else now
        return plan

    def audience(self, target: str) -> Audience:
        """The audience of a delivery target (a channel without a route is its own audience)."""
        return self._audiences.get(target) or Audience(target, target)

    def combine(self, target: str, messages: Sequence[Message], now: dt.datetime, overview: Overview | None = None) -> Message:
        """The digest message of delivery target ``target`` for the held ``messages`` (see :func:`build_digest`)."""
        return build_digest(target, self.digests[target], messages, self.timezone, now, overview)
