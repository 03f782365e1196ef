"""An ensemble: per period, the median of its members' forecasts and of each of their interval bounds.

Combining forecasts of different models cancels part of their errors; the median (the mean of
two) keeps one member that goes astray from dragging the others along. As a candidate of
``auto`` its members are the best (up to ``MAX_MEMBERS``, each close to the best) of the other
candidates in the backtest, and its backtest is the combination of theirs, so selecting it
costs no extra fit; configured as the model itself, its members are ``members``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.base import Model

NAME = "ensemble"
MAX_MEMBERS = 3
# A member must score within this factor of the best candidate: a much worse forecast drags the median off.
MEMBER_TOLERANCE = 1.25
DEFAULT_MEMBERS = ("naive", "ets", "arima")


def best_members(scores: Mapping[str, float]) -> list[str]:
    """The candidates with the lowest finite scores (mean backtest MASE), best first: at most ``MAX_MEMBERS``, each
    within ``MEMBER_TOLERANCE`` of the best. Fewer than two means no ensemble."""
    finite = {name: score for name, score in scores.items() if name != NAME and np.isfinite(score)}
    ranked = sorted(finite, key=finite.__getitem__)[:MAX_MEMBERS]
    return [name for name in ranked if finite[name] <= MEMBER_TOLERANCE * finite[ranked[0]]]


def combines(candidates: Sequence[str]) -> bool:
    """Whether ``ensemble`` among ``candidates`` is the median of the others rather than a model fitted on its own."""
    return NAME in candidates and len(set(candidates)) > 1


def with_members(params: Mapping[str, dict], scores: Mapping[str, float]) -> dict[str, dict]:
    """``params`` (model name -> parameters) with the ensemble's members, the best of the candidates ``scores`` rates, and theirs."""
    members = best_members(scores)
    return {**params, NAME: {**params.get(NAME, {}), "members": members, "params": {m: params[m] for m in members if m in params}}}


def combined(frames: Sequence[pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """The first frame with every ``yhat*`` column all ``frames`` share replaced by its median over them.

    ``frames`` are the members' forecasts (or backtest rows), one row per ``keys``; only rows that
    every member has are kept.
    """
    keys = list(keys)
    values = [c for c in frames[0].columns if c.startswith("yhat") and all(c in f.columns for f in frames)]
    stacked = pd.concat([f[[*keys, *values]] for f in frames], ignore_index=True)
    grouped = stacked.groupby(keys, sort=False)
    median = grouped[values].median()[grouped.size() == len(frames)]
    rest = frames[0].drop(columns=[c for c in frames[0].columns if c.startswith("yhat")])
    return rest.merge(median.reset_index(), on=keys, how="inner")


class Ensemble(Model):
    """The median forecast of ``members`` (per-series models, built with ``params[member]``), each fitted on the same series."""

    name = NAME
    uses_regressors = True  # handed to the members that use them

    def __init__(self, members: Sequence[str] = DEFAULT_MEMBERS, params: Mapping[str, dict] | None = None, nonnegative: bool = True) -> None:
        from forecaster.models import MODELS, is_global

        super().__init__(nonnegative=nonnegative)
        members = list(dict.fromkeys(members))
        allowed = sorted(m for m in MODELS if m != NAME and not is_global(m))
        if len(members) < 2 or not set(members) <= set(allowed):
            raise ModelError(f"ensemble: members must be two or more per-series models of {allowed}, got {members}")
        self.members = members
        self.params = dict(params or {})
        unknown = sorted(set(self.params) - set(members))
        if unknown:
            raise ModelError(f"ensemble: parameters for {unknown}, which are not members ({members})")

    def _fit(self, y: pd.Series, freq: str) -> None:
        from forecaster.models import create

        self._fitted = [create(m, **{"nonnegative": self.nonnegative, **self.params.get(m, {})}).fit(y, freq, self._regressors) for m in self.members]

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        return combined([m.predict(horizon, levels, self._future_regressors) for m in self._fitted], ["ds"])
