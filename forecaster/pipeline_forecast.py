"""Revenue of the current period from the pipeline: won so far + a Monte Carlo of open and new deals.

Time to close comes from a life table (Kaplan-Meier with won and lost as competing outcomes)
over every deal known at ``as_of``: closed deals at their cycle, open ones censored at their age,
so old open deals are not mistaken for fast closers. An open deal of age ``a`` is won inside the
period with probability ``(W(a + h) - W(a)) / S(a)`` (``W`` the cumulative share won by an age,
``S`` the share still open, ``h`` the days left), or its stage's win rate times the chance it
closes in time when ``stage_rates`` gives one. Deals not created yet arrive at the trailing daily
creation rate and are worth a won amount drawn from the trailing window. Open deals without a
created date cannot be aged and are left out.

The simulation treats deals as independent, so its P10-P90 is far too narrow where a whole period
runs hot or cold (a quarter-end push, a bad month). :func:`calibrated_forecast` therefore widens
the interval by how far the same forecast, made at the start of each recent period, missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecaster.data.kpis import FREQS
from forecaster.data.opportunities import as_known_at
from forecaster.errors import InputError


@dataclass(frozen=True)
class PipelineForecast:
    """Period revenue quantiles, what is already won, and the open pipeline at ``as_of``."""

    period: pd.Period
    as_of: pd.Timestamp
    won_so_far: float
    open_value: float
    p10: float
    p50: float
    p90: float
    mean: float
    calibrated_on: int = 0  # past periods whose misses set the P10-P90 (0: the simulation's own spread)

    def interval_note(self) -> str:
        """Where the P10-P90 comes from, in words."""
        unit = {"W": "weeks", "M": "months", "Q": "quarters"}[self.period.freqstr[0]]
        if self.calibrated_on:
            return f"P10-P90 from how far the forecasts of the last {self.calibrated_on} {unit} missed."
        return f"P10-P90 from the simulation alone (fewer than {MIN_PAST} past {unit} to learn from), likely too narrow."

    def pacing(self, quota: float, coverage_target: float = 3.0) -> str:
        """A plain-words pacing statement against ``quota``, e.g. "2017Q3 is on pace for 82% of quota; ..."."""
        if quota <= 0:
            raise InputError(f"quota must be positive, got {quota}")
        remaining = quota - self.won_so_far
        label = str(self.period)
        if remaining <= 0:
            return f"{label} has reached its quota: {self.won_so_far / quota:.0%} won so far"
        coverage = self.open_value / remaining
        side = "below" if coverage < coverage_target else "at or above"
        return f"{label} is on pace for {self.p50 / quota:.0%} of quota; coverage {coverage:.1f}x, {side} {coverage_target:g}x"


def forecast_period(
    deals: pd.DataFrame,
    as_of: pd.Timestamp,
    freq: str = "M",
    window_days: int = 90,
    draws: int = 5000,
    seed: int = 0,
    stage_rates: Mapping[str, float] | None = None,
) -> PipelineForecast:
    """Simulate the revenue of the period holding ``as_of`` from the deals as known just before it.

    ``deals`` is a normalized opportunities frame whose closes are all before ``as_of`` and whose
    open deals carry their expected amount (see ``opportunities.as_known_at``).
    """
    if freq not in FREQS:
        raise InputError(f"freq {freq!r} is not one of {', '.join(FREQS)}")
    as_of = pd.Timestamp(as_of).normalize()
    period = as_of.to_period(FREQS[freq])
    end = period.end_time.normalize()
    if (deals["closed_at"] >= as_of).any() or (deals["created_at"] >= as_of).any():
        raise InputError(f"the deals include creations or closes on or after {as_of:%Y-%m-%d}; pass the pipeline as known then")
    history = deals[deals["closed_at"].between(as_of - pd.Timedelta(days=window_days), as_of - pd.Timedelta(days=1))]
    won_values = history.loc[history["outcome"] == "won", "amount"].dropna().to_numpy(dtype=float)
    if won_values.size == 0:
        raise InputError(f"no deal was won in the {window_days} days before {as_of:%Y-%m-%d}; no history to simulate from")
    won_share, closed_share = _life_table(deals, as_of)
    rng = np.random.default_rng(seed)
    won_so_far = float(deals.loc[(deals["outcome"] == "won") & (deals["closed_at"] >= period.start_time), "amount"].sum())
    horizon = (end - as_of).days + 1

    open_deals = deals[(deals["outcome"] == "open") & deals["created_at"].notna()]
    values = open_deals["amount"].fillna(0.0).to_numpy(dtype=float)
    last = len(won_share) - 2
    ages = np.minimum((as_of - open_deals["created_at"]).dt.days.to_numpy(), last)
    later = np.minimum(ages + horizon - 1, last)
    still_open = 1.0 - closed_share[ages - 1]
    safe = np.where(still_open > 0, still_open, 1.0)
    chance = np.where(still_open > 0, (won_share[later] - won_share[ages - 1]) / safe, 0.0)
    if stage_rates:
        in_time = np.where(still_open > 0, (closed_share[later] - closed_share[ages - 1]) / safe, 0.0)
        listed = open_deals["stage"].isin(list(stage_rates)).to_numpy()
        chance = np.where(listed, open_deals["stage"].map(stage_rates).fillna(0.0).to_numpy() * in_time, chance)
    pipeline = np.array([values @ (rng.random(len(values)) < chance) for _ in range(draws)])

    created = deals["created_at"].between(as_of - pd.Timedelta(days=window_days), as_of - pd.Timedelta(days=1)).sum()
    expected_new_wins = created / window_days * won_share[np.minimum(np.arange(horizon), last)].sum()
    counts = rng.poisson(expected_new_wins, size=draws)
    new = np.bincount(np.repeat(np.arange(draws), counts), weights=rng.choice(won_values, size=counts.sum()), minlength=draws)
    total = won_so_far + pipeline + new
    p10, p50, p90 = np.quantile(total, [0.1, 0.5, 0.9])
    return PipelineForecast(period, as_of, won_so_far, float(values.sum()), float(p10), float(p50), float(p90), float(total.mean()))


MIN_PAST = 3  # past periods needed before their misses replace the simulation's spread
_Z90 = 1.2815515655446004  # the standard normal's 90% quantile


def calibrated_forecast(
    deals: pd.DataFrame, as_of: pd.Timestamp, freq: str = "M", window_days: int = 90, past_periods: int = 8, draws: int = 5000, seed: int = 0,
) -> PipelineForecast:
    """:func:`forecast_period` with its P10-P90 set by the misses of the same forecast made at the
    start of each of the last ``past_periods`` full periods (as the deals were known then).

    Each miss is the log of actual ÷ P50 won revenue. The revenue still to win is spread by their
    root mean square (a lognormal around the simulated median: a biased history widens the
    interval rather than moving the median); what is already won is certain. With fewer than
    :data:`MIN_PAST` periods to learn from, the simulation's own interval is kept.
    """
    result = forecast_period(deals, as_of, freq, window_days, draws, seed)
    misses = []
    for back in range(1, past_periods + 1):
        period = result.period - back
        start = period.start_time
        try:
            past = forecast_period(as_known_at(deals, start), start, freq, window_days, draws, seed)
        except InputError:
            continue  # no wins in the window before that start: nothing was forecast then
        won = deals["closed_at"].between(start, period.end_time) & (deals["outcome"] == "won")
        actual = float(deals.loc[won, "amount"].sum())
        if actual > 0 and past.p50 > 0:
            misses.append(np.log(actual / past.p50))
    if len(misses) < MIN_PAST:
        return result
    spread = float(np.sqrt(np.mean(np.square(misses))))
    rest = result.p50 - result.won_so_far
    p10, p90 = (result.won_so_far + rest * np.exp(z * spread) for z in (-_Z90, _Z90))
    return replace(result, p10=float(p10), p90=float(p90), calibrated_on=len(misses))


def _life_table(deals: pd.DataFrame, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative shares of deals won and closed (won or lost) by each age in days, index 0 = same day.

    Both arrays carry one extra trailing element equal to 0 so that index -1 reads "before day 0".
    """
    known = deals[deals["created_at"].notna()]
    closed = known["closed_at"].notna().to_numpy()
    end = known["closed_at"].where(closed, as_of - pd.Timedelta(days=1))
    duration = (end - known["created_at"]).dt.days.clip(lower=0).to_numpy()
    size = int(duration.max()) + 1 if len(duration) else 1
    won = np.bincount(duration[known["outcome"].to_numpy() == "won"], minlength=size).astype(float)
    ended = np.bincount(duration[closed], minlength=size).astype(float)
    at_risk = np.bincount(duration, minlength=size)[::-1].cumsum()[::-1].astype(float)
    safe = np.where(at_risk > 0, at_risk, 1.0)
    survival = np.cumprod(1.0 - ended / safe)
    before = np.concatenate([[1.0], survival[:-1]])
    won_share = np.cumsum(before * won / safe)
    closed_share = 1.0 - survival
    return np.append(won_share, 0.0), np.append(closed_share, 0.0)
