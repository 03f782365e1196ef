"""Forecasting models behind one ``Model`` protocol, created by name from a lazy registry."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from forecaster.errors import ModelError
from forecaster.models.base import PANDAS_FREQ, SEASON_LENGTH, Model, validate_series

__all__ = ["GLOBAL_MODELS", "MODELS", "PANDAS_FREQ", "SEASON_LENGTH", "Model", "create", "is_global", "validate_series"]

# name -> "module:Class"; modules are imported on first use so that heavy libraries load only when needed.
MODELS: dict[str, str] = {
    "naive": "forecaster.models.naive:SeasonalNaive",
    "ets": "forecaster.models.ets:ETS",
    "arima": "forecaster.models.arima:ARIMA",
    "tsb": "forecaster.models.tsb:TSB",
    "prophet": "forecaster.models.prophet:ProphetModel",
    "gbm": "forecaster.models.gbm:GlobalBoosting",
    "ensemble": "forecaster.models.ensemble:Ensemble",
}
# Models fitted once across many series (fit(panel) / predict(panel)) rather than per series.
GLOBAL_MODELS = frozenset({"gbm"})


def is_global(name: str) -> bool:
    """Whether the model ``name`` is fitted across series at once."""
    return name in GLOBAL_MODELS


def create(name: str, **params: Any) -> Any:
    """Return a new, unfitted model registered under ``name``, built with ``params`` (a Model, or a global model)."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}: valid models are {', '.join(sorted(MODELS))}")
    module_name, class_name = MODELS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise ModelError(f"invalid parameters for model {name!r}: {exc}") from exc
    return cls(**params)
