"""The monitor's calendar: days whose sales say nothing about a slowdown.

Public holidays (from the ``holidays`` package, by country and optional subdivision), custom
events with a window of days before and after, weekdays the store is closed, and closed days
read from the data: a day without sales on a weekday the series was closed on for at least half
of its last eight same weekdays (the Sunday of a shop closed on Sundays, not an outage on a
Tuesday). Daily periods on such days are excused: rules neither judge them nor count them in
their windows. A weekly or monthly period is still judged, but against a forecast scaled down by
the share of its trading days lost to holidays and events, so a holiday week is not a breach.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace
from typing import Literal, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.deviation import Deviation

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SAME_WEEKDAYS_LOOKED_AT = 8
_DAY = dt.timedelta(days=1)


class CalendarEvent(BaseModel):
    """A custom event (a sale, a refit, a local fair): one ``date`` or a ``start``-``end`` range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    before: int = Field(0, ge=0, description="Days before the event that are excused too.")
    after: int = Field(0, ge=0, description="Days after the event that are excused too.")

    @model_validator(mode="after")
    def _one_span(self) -> "CalendarEvent":
        if self.date is not None and (self.start is not None or self.end is not None):
            raise ValueError(f"event {self.name!r}: give either 'date' or 'start' and 'end', not both")
        if self.date is None and (self.start is None or self.end is None):
            raise ValueError(f"event {self.name!r}: needs 'date', or both 'start' and 'end'")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"event {self.name!r}: end {self.end} is before start {self.start}")
        return self

    def covers(self, day: dt.date) -> bool:
        """Whether ``day`` falls in the event or its window."""
        first = self.date or self.start
        last = self.date or self.end
        return first - self.before * _DAY <= day <= last + self.after * _DAY


class Calendar(BaseModel):
    """``monitor.calendar``: which days are not judged (see docs/detection.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = Field(None, description="ISO 3166 country code for public holidays, e.g. DE.")
    subdivision: str | None = Field(None, description="State or region code for its own holidays, e.g. BY.")
    holiday_before: int = Field(0, ge=0, description="Days before each public holiday that are excused too.")
    holiday_after: int = Field(0, ge=0, description="Days after each public holiday that are excused too.")
    events: list[CalendarEvent] = Field(default_factory=list)
    closed_weekdays: list[Weekday] = Field(default_factory=list, description="Weekdays the store never trades.")
    closed_from_data: bool = Field(True, description="A day without sales on a weekday the series is usually closed is not judged.")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None:
            _check_holidays(value.upper(), None)
        return value.upper() if value else value

    @model_validator(mode="after")
    def _known_subdivision(self) -> "Calendar":
        if self.subdivision is not None:
            if self.country is None:
                raise ValueError("calendar: 'subdivision' needs a 'country'")
            _check_holidays(self.country, self.subdivision)
        return self

    def reason(self, day: dt.date) -> str | None:
        """Why ``day`` is not an ordinary trading day (holiday, event, closed weekday), else None."""
        if WEEKDAYS[day.weekday()] in self.closed_weekdays:
            return f"closed on {day:%A}s"
        for event in self.events:
            if event.covers(day):
                return event.name
        if self.country is not None:
            for offset in range(-self.holiday_after, self.holiday_before + 1):
                name = _holidays(self.country, self.subdivision, (day + offset * _DAY).year).get(day + offset * _DAY)
                if name:
                    return name if offset == 0 else f"{'before' if offset > 0 else 'after'} {name}"
        return None

    def excuse(self, deviations: Sequence[Deviation], actuals: Mapping[dt.date, float], freq: str) -> list[Deviation]:
        """Mark (daily) or adjust (weekly, monthly) the deviations of one series; ``actuals`` is its daily or periodic history."""
        if freq == "D":
            return [replace(d, excused=self._excuse_day(d.period_start, d.actual, actuals)) for d in deviations]
        return [self._scaled(d) for d in deviations]

    def was_closed(self, day: dt.date, actual: float, actuals: Mapping[dt.date, float]) -> bool:
        """Whether a past day without sales was a day the store did not trade (not a day of zero demand)."""
        return actual <= 0 and self._excuse_day(day, actual, actuals) is not None

    def closed_each(self, first: dt.date, values: np.ndarray) -> np.ndarray:
        """:meth:`was_closed` for every day of a gap-free daily history starting on ``first``, at once."""
        zero = np.asarray(values, dtype=float) <= 0
        usually = _usually_closed_each(zero) if self.closed_from_data else np.zeros(len(zero), dtype=bool)
        closed = zero & usually
        for i in np.flatnonzero(zero & ~usually):
            closed[i] = self.reason(first + int(i) * _DAY) is not None
        return closed

    def will_be_closed(self, days: Sequence[dt.date], actuals: Mapping[dt.date, float]) -> list[bool]:
        """Whether the store will most likely not trade on each future day, judged from ``actuals`` (its history).

        A closed weekday; a weekday it was usually closed on lately (``closed_from_data``); a public
        holiday, when it sold nothing on most of the public holidays in its history.
        """
        holidays_closed = None  # read from the history once, and only when a holiday is ahead
        closed = []
        for day in days:
            if WEEKDAYS[day.weekday()] in self.closed_weekdays or (self.closed_from_data and _usually_closed(day, actuals)):
                closed.append(True)
                continue
            if self._is_holiday(day) and holidays_closed is None:
                holidays_closed = self._closed_on_holidays(actuals)
            closed.append(bool(self._is_holiday(day) and holidays_closed))
        return closed

    def _is_holiday(self, day: dt.date) -> bool:
        return self.country is not None and day in _holidays(self.country, self.subdivision, day.year)

    def _closed_on_holidays(self, actuals: Mapping[dt.date, float]) -> bool:
        sold = [y for d, y in actuals.items() if self._is_holiday(d) and WEEKDAYS[d.weekday()] not in self.closed_weekdays]
        return bool(sold) and sum(1 for y in sold if y <= 0) * 2 >= len(sold)

    def _excuse_day(self, day: dt.date, actual: float, actuals: Mapping[dt.date, float]) -> str | None:
        reason = self.reason(day)
        if reason is None and self.closed_from_data and actual <= 0 and _usually_closed(day, actuals):
            reason = f"no sales, as on most recent {day:%A}s"
        return reason

    def _scaled(self, deviation: Deviation) -> Deviation:
        """A weekly or monthly deviation whose expectation leaves out trading days lost to holidays and events."""
        days = [deviation.period_start + i * _DAY for i in range((deviation.period_end - deviation.period_start).days + 1)]
        trading = [d for d in days if WEEKDAYS[d.weekday()] not in self.closed_weekdays]
        lost = sum(1 for d in trading if self.reason(d) is not None)
        if not trading or not lost:
            return deviation
        share = (len(trading) - lost) / len(trading)
        bounds = {level: (lo * share, hi * share) for level, (lo, hi) in deviation.bounds.items()}
        return replace(deviation, expected=deviation.expected * share, bounds=bounds)


def _usually_closed(day: dt.date, actuals: Mapping[dt.date, float]) -> bool:
    """Whether the series sold nothing on at least half of its last eight same weekdays before ``day``."""
    earlier = [actuals[d] for d in (day - 7 * i * _DAY for i in range(1, SAME_WEEKDAYS_LOOKED_AT + 1)) if d in actuals]
    return _mostly_zero(sum(1 for y in earlier if y <= 0), len(earlier))


def _usually_closed_each(zero: np.ndarray) -> np.ndarray:
    """:func:`_usually_closed` for every day of a gap-free daily history, from its days without sales."""
    zeros, seen = np.zeros(len(zero), dtype=int), np.zeros(len(zero), dtype=int)
    for weeks in range(1, SAME_WEEKDAYS_LOOKED_AT + 1):
        lag = 7 * weeks
        if lag >= len(zero):
            break
        zeros[lag:] += zero[:-lag]
        seen[lag:] += 1
    return _mostly_zero(zeros, seen)


def _mostly_zero(zeros, seen):
    """The rule of :func:`_usually_closed`: some same weekdays seen, and at least half of them without sales."""
    return (seen > 0) & (zeros * 2 >= seen)


def _check_holidays(country: str, subdivision: str | None) -> None:
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        if subdivision is None:
            raise ValueError(f"calendar: no public holidays are known for country {country!r}; use an ISO 3166 code such as DE or GB") from None
        raise ValueError(f"calendar: subdivision {subdivision!r} of {country} is unknown ({exc})") from None


@functools.lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> dict[dt.date, str]:
    import holidays

    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year))
