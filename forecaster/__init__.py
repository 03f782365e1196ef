"""salescast's engine: data in, forecasts out, runs scheduled.

The public Python API (what notebooks and scripts import):

- ``load_config(path=None)``: the validated settings (the embedded demo config without a path)
- ``forecast(long, horizon, freq="D", levels=(80, 95), model="auto")``: forecasts of a long frame
- ``replay_history(long, settings, start, end)``: the notifications a policy would have sent
- ``Engine`` and ``Store``: run the scheduled job against a database
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecaster.engine import Engine
    from forecaster.store import Store

__all__ = ["load_config", "forecast", "replay_history", "Engine", "Store"]


def load_config(path=None):
    """Load and validate a config file (see ``forecaster.settings.load``)."""
    from forecaster.settings import load

    return load(path)


def forecast(long, horizon: int, freq: str = "D", levels=(80, 95), model: str = "auto"):
    """Forecast every series of a long ``unique_id, ds, y`` frame (see ``forecaster.forecasting``)."""
    from forecaster.forecasting import forecast_frame

    return forecast_frame(long, horizon, freq=freq, levels=levels, model=model)


def replay_history(long, settings, start, end):
    """Replay the scheduled engine over history (see ``forecaster.replay.replay_series``)."""
    from forecaster.replay import replay_series

    return replay_series(long, settings, start, end)


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from forecaster.engine import Engine

        return Engine
    if name == "Store":
        from forecaster.store import Store

        return Store
    raise AttributeError(name)
