"""KPIs of the opportunities as series the engine forecasts and judges like sales (``revops.watch``).

Each KPI is measured every day with the definitions of ``forecaster.data.kpis``: deals won and
their revenue on that day; the open pipeline at the day's end; win rate and deal size over the
deals closed in the trailing ``window_days``, and pipeline velocity from them (with the sales
cycle of that window). A weekly or monthly series sums the flows over the period and takes the
levels at its last day. Only KPIs whose fall is bad news are offered, since the rules watch for
falls: more lost deals and longer cycles show as lower win rate and velocity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.series import KPI_PREFIX, period_starts

FLOWS = ("revenue", "won")
LEVELS = ("win_rate", "avg_deal_size", "open_opportunities", "pipeline_value", "pipeline_velocity")
SERIES_KPIS = FLOWS + LEVELS
MONEY = {"revenue", "avg_deal_size", "pipeline_value", "pipeline_velocity"}
#: How messages name each KPI series, and whether the name is plural ("Deals won are ...").
LABELS = {
    "revenue": ("Won revenue", False), "won": ("Deals won", True), "win_rate": ("Win rate", False),
    "avg_deal_size": ("Average deal size", False), "open_opportunities": ("Open opportunities", True),
    "pipeline_value": ("Pipeline value", False), "pipeline_velocity": ("Pipeline velocity", False),
}


def kpi_series_id(name: str) -> str:
    """The engine's series id of a KPI: ``kpi pipeline_velocity``."""
    return KPI_PREFIX + name


def is_kpi(series_id: str) -> bool:
    """Whether ``series_id`` is a KPI series (not an orders series)."""
    return series_id.startswith(KPI_PREFIX)


def kpi_name(series_id: str) -> str:
    """The KPI a KPI series id names."""
    return series_id.removeprefix(KPI_PREFIX)


def daily_kpis(deals: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp, window_days: int = 90) -> pd.DataFrame:
    """Every :data:`SERIES_KPIS` column for each day ``first..last`` (index), from normalized opportunities."""
    start = pd.Timestamp(first).normalize() - pd.Timedelta(days=window_days - 1)
    days = pd.date_range(start, pd.Timestamp(last).normalize(), freq="D")

    def per_day(dates: pd.Series, weights: pd.Series | None = None, clip: bool = False) -> np.ndarray:
        """Sums by day of ``weights`` (counts without); with ``clip``, earlier dates count on the first day."""
        offset = (dates - start).dt.days
        keep = dates.notna() & (offset < len(days)) & (clip | (offset >= 0))
        index = offset[keep].clip(lower=0).astype(int).to_numpy()
        values = None if weights is None else weights[keep].to_numpy(dtype=float)
        return np.bincount(index, weights=values, minlength=len(days)).astype(float)

    closed = deals["closed_at"]
    won, lost = deals["outcome"] == "won", deals["outcome"] == "lost"
    cycle = (closed - deals["created_at"]).dt.days
    daily = {"won": per_day(closed[won]), "revenue": per_day(closed[won], deals.loc[won, "amount"].fillna(0.0))}
    timed = won & cycle.notna()
    cycle_days, cycles = per_day(closed[timed], cycle[timed]), per_day(closed[timed])

    worth = deals["amount"].where(deals["amount"] > 0, deals["list_price"]).fillna(0.0)
    dated = deals["created_at"].notna()
    left = dated & closed.notna()
    open_now = np.cumsum(per_day(deals.loc[dated, "created_at"], clip=True)) - np.cumsum(per_day(closed[left], clip=True))
    value_now = np.cumsum(per_day(deals.loc[dated, "created_at"], worth[dated], clip=True)) - np.cumsum(per_day(closed[left], worth[left], clip=True))

    def trailing(values: np.ndarray) -> np.ndarray:
        total = np.cumsum(values)
        return total - np.concatenate([np.zeros(window_days), total[:-window_days]])[: len(total)]

    won_w, lost_w, revenue_w = trailing(daily["won"]), trailing(per_day(closed[lost])), trailing(daily["revenue"])
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = won_w / (won_w + lost_w)
        deal_size = revenue_w / won_w
        cycle_mean = trailing(cycle_days) / trailing(cycles)
        velocity = open_now * deal_size * win_rate / np.where(cycle_mean > 0, cycle_mean, np.nan)
    frame = pd.DataFrame(
        {
            **daily, "win_rate": win_rate, "avg_deal_size": deal_size,
            "open_opportunities": np.round(open_now), "pipeline_value": value_now, "pipeline_velocity": velocity,
        },
        index=days,
    ).replace([np.inf, -np.inf], np.nan)
    return frame.loc[pd.Timestamp(first).normalize():, list(SERIES_KPIS)]


def kpi_points(deals: pd.DataFrame, names: list[str], freq: str, first: pd.Timestamp, last: pd.Timestamp, window_days: int = 90) -> pd.DataFrame:
    """Long points (``unique_id, ds, y``) of the KPIs ``names``, one per period of ``freq`` from the
    one holding ``first`` (or the first deal's) to the one holding ``last``; periods where a KPI is
    undefined (no deal decided in the window) are left out."""
    earliest = pd.concat([deals["created_at"], deals["closed_at"]]).min()
    if pd.isna(earliest) or earliest > pd.Timestamp(last):
        return pd.DataFrame({"unique_id": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})
    start = period_starts(pd.DatetimeIndex([max(pd.Timestamp(first), earliest)]), freq)[0]
    daily = daily_kpis(deals, start, last, window_days)[names]
    starts = period_starts(daily.index, freq)
    flows = [n for n in names if n in FLOWS]
    levels = [n for n in names if n not in FLOWS]
    at_end = daily.loc[~starts.duplicated(keep="last"), levels].set_axis(starts.unique())
    periods = pd.concat([daily[flows].groupby(starts).sum(), at_end], axis=1)[names]
    long = periods.rename_axis("ds").reset_index().melt("ds", var_name="kpi", value_name="y").dropna(subset=["y"])
    return pd.DataFrame({"unique_id": KPI_PREFIX + long["kpi"], "ds": long["ds"], "y": long["y"].astype(float)}).reset_index(drop=True)
