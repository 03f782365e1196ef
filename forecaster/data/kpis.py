"""The sales KPI catalog: each KPI's formula in one place, computed per period and segment.

Periods are calendar days grouped into weeks (Monday start), months or quarters; ``ds`` is a
period's first day and its end is its last day (inclusive). Deals count in the period of their
close date; the pipeline is measured at each period's end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import InputError

TOTAL = "total"
FREQS = {"W": "W-SUN", "M": "M", "Q": "Q"}

#: Every KPI with its definition; docs/kpis.md explains the choices.
CATALOG: dict[str, str] = {
    "revenue": "sum of the amounts of deals won in the period",
    "won": "number of deals won in the period (by close date)",
    "lost": "number of deals lost in the period (by close date)",
    "win_rate": "won / (won + lost), deals closed in the period",
    "avg_deal_size": "revenue / won: the mean amount of the deals won in the period",
    "sales_cycle_days": "mean days from created (engaged) to close of the deals won in the period (time to win)",
    "days_to_lose": "mean days from created (engaged) to close of the deals lost in the period (time to lose)",
    "open_opportunities": "deals created on or before the period's last day and not closed by it",
    "pipeline_value": "sum of the amounts of those open deals (list price when a deal has no amount, or a lost deal 0)",
    "pipeline_velocity": "open_opportunities * avg deal size * win rate / sales cycle days, per day; the last "
    "three over the deals closed in the trailing window (default 90 days) ending on the period's last day",
    "revenue_growth": "revenue / revenue of the previous period - 1",
    "quota": "the period's quota, from a quota table",
    "attainment": "revenue / quota",
    "coverage": "pipeline value at the period's start (the previous period's end) / quota",
    "orders": "number of sale orders placed in the period (refunds excluded)",
    "aov": "average order value: sales amount / number of sale orders",
    "conversion_rate": "leads converted to a won deal / leads, per lead origin (and cohort period)",
    "customers": "customers active at the period's end: with an order in the trailing active window (default 90 days)",
    "new_customers": "customers whose first order falls in the period",
    "lost_customers": "customers active at the period's start and no longer at its end",
    "churn_rate": "lost customers / customers active at the period's start (not start / remaining)",
    "retention_rate": "1 - churn_rate: the share of the start's customers still active at the end",
    "revenue_per_customer": "sales of the period / the mean of customers active at its start and end",
    "ltv": "customer lifetime value: revenue_per_customer / churn_rate, revenue over an expected 1 / churn periods (no margin applied)",
    "cac": "customer acquisition cost: marketing spend of the period / new customers",
    "ltv_cac": "ltv / cac",
    "days_to_convert": "mean days from a lead's first contact to its won deal, converted leads only",
}


def period_start(days: pd.Series, freq: str) -> pd.Series:
    """The first day of the week (Monday), month or quarter holding each day."""
    if freq not in FREQS:
        raise InputError(f"freq {freq!r} is not one of {', '.join(FREQS)}")
    return days.dt.to_period(FREQS[freq]).dt.start_time


def _periods(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.PeriodIndex:
    return pd.period_range(first.to_period(FREQS[freq]), last.to_period(FREQS[freq]), freq=FREQS[freq])


def _closed_stats(deals: pd.DataFrame, key: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """revenue, won, lost, win_rate, avg_deal_size, sales_cycle_days, days_to_lose over deals closed in [start, end]."""
    closed = deals["closed_at"].between(start, end)
    won = closed & (deals["outcome"] == "won")
    lost = closed & (deals["outcome"] == "lost")
    age = (deals["closed_at"] - deals["created_at"]).dt.days
    stats = pd.DataFrame(
        {
            "revenue": deals["amount"].where(won, 0.0).fillna(0.0),
            "won": won.astype(int),
            "lost": lost.astype(int),
            "cycle": age.where(won),
            "to_lose": age.where(lost),
        }
    ).groupby(key).agg(
        revenue=("revenue", "sum"), won=("won", "sum"), lost=("lost", "sum"), sales_cycle_days=("cycle", "mean"), days_to_lose=("to_lose", "mean"),
    )
    decided = stats["won"] + stats["lost"]
    stats["win_rate"] = stats["won"] / decided.where(decided > 0)
    stats["avg_deal_size"] = stats["revenue"] / stats["won"].where(stats["won"] > 0)
    return stats


def _open_at(deals: pd.DataFrame, key: pd.Series, day: pd.Timestamp) -> pd.DataFrame:
    """open_opportunities and pipeline_value at the end of ``day``."""
    is_open = (deals["created_at"] <= day) & (deals["closed_at"].isna() | (deals["closed_at"] > day))
    worth = deals["amount"].where(deals["amount"] > 0, deals["list_price"]) if "list_price" in deals else deals["amount"]
    parts = pd.DataFrame({"open_opportunities": is_open.astype(int), "pipeline_value": worth.where(is_open, 0.0).fillna(0.0)})
    return parts.groupby(key).sum()


def opportunity_kpis(
    deals: pd.DataFrame,
    freq: str = "M",
    by: str | None = None,
    window_days: int = 90,
    quotas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """KPIs per period for the total and, with ``by``, for each value of that column.

    ``deals`` is a normalized opportunities frame (``forecaster.data.opportunities``). ``quotas``
    has ``ds`` (any day of the period) and ``quota``, plus ``segment`` for per-segment quotas.
    """
    if window_days < 1:
        raise InputError(f"window must be at least 1 day, got {window_days}")
    if by is not None and by not in deals.columns:
        raise InputError(f"cannot segment by {by!r}: the opportunities have {list(deals.columns)}")
    dated = pd.concat([deals["created_at"], deals["closed_at"]]).dropna()
    if dated.empty:
        raise InputError("the opportunities have no created or close dates; nothing to measure")
    keys = [("total", pd.Series(TOTAL, index=deals.index))]
    if by is not None:
        keys.append(("segment", deals[by].astype("string").fillna("(none)").astype(str)))
    window = pd.Timedelta(days=window_days - 1)
    rows = []
    for period in _periods(dated.min(), dated.max(), freq):
        start, end = period.start_time, period.end_time.normalize()
        for _, key in keys:
            here = _closed_stats(deals, key, start, end)
            trailing = _closed_stats(deals, key, end - window, end)
            frame = here.join(_open_at(deals, key, end), how="outer")
            frame = frame.join(_open_at(deals, key, start - pd.Timedelta(days=1)).rename(columns={"pipeline_value": "pipeline_at_start"})["pipeline_at_start"], how="left")
            velocity = frame["open_opportunities"] * trailing["avg_deal_size"] * trailing["win_rate"] / trailing["sales_cycle_days"].where(trailing["sales_cycle_days"] > 0)
            frame["pipeline_velocity"] = velocity.reindex(frame.index)
            rows.append(frame.reset_index(names="segment").assign(ds=start))
    table = pd.concat(rows, ignore_index=True)
    counts = ["won", "lost", "open_opportunities"]
    table[counts] = table[counts].fillna(0).astype(int)
    table[["revenue", "pipeline_value", "pipeline_at_start"]] = table[["revenue", "pipeline_value", "pipeline_at_start"]].fillna(0.0)
    table = table.sort_values(["segment", "ds"], key=lambda c: c.map(lambda v: (v != TOTAL, v)) if c.name == "segment" else c)
    table["revenue_growth"] = table.groupby("segment")["revenue"].transform(growth)
    if quotas is not None:
        table = _with_quotas(table, quotas, freq)
    table = table.drop(columns="pipeline_at_start")
    order = ["ds", "segment", "revenue", "won", "lost", "win_rate", "avg_deal_size", "sales_cycle_days", "open_opportunities", "pipeline_value", "pipeline_velocity"]
    return table[order + [c for c in table.columns if c not in order]].reset_index(drop=True)


def _with_quotas(table: pd.DataFrame, quotas: pd.DataFrame, freq: str) -> pd.DataFrame:
    per_period = _per_period(quotas, "quota", freq)
    per_period["segment"] = quotas["segment"].astype(str) if "segment" in quotas.columns else TOTAL
    summed = per_period.groupby(["ds", "segment"], as_index=False)["quota"].sum()
    table = table.merge(summed, on=["ds", "segment"], how="left")
    quota = table["quota"].where(table["quota"] > 0)
    table["attainment"] = table["revenue"] / quota
    table["coverage"] = table["pipeline_at_start"] / quota
    return table


def order_kpis(orders: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """``ds, orders, aov`` per period from normalized orders (``forecaster.data.orders``)."""
    sales = orders[orders["counted"] & (orders["amount"] > 0)]
    days = pd.to_datetime(sales["ordered_at"], utc=True).dt.tz_localize(None).dt.normalize()
    frame = pd.DataFrame({"ds": period_start(days, freq), "amount": sales["amount"].to_numpy()})
    table = frame.groupby("ds").agg(orders=("amount", "size"), sales=("amount", "sum")).reset_index()
    table["aov"] = table["sales"] / table["orders"]
    return table[["ds", "orders", "aov"]]


def customer_kpis(orders: pd.DataFrame, freq: str = "M", active_days: int = 90, spend: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customer KPIs per period (see :data:`CATALOG`) from sale orders with a ``customer`` column.

    ``orders`` has ``ordered_at`` (naive days), ``amount`` and ``customer``; ``spend`` has ``ds`` (any
    day of the period) and ``spend`` (marketing spend) and adds ``spend``, ``cac`` and ``ltv_cac``.
    """
    if active_days < 1:
        raise InputError(f"the active window must be at least 1 day, got {active_days}")
    known = orders[orders["customer"].notna()]
    if known.empty:
        raise InputError("no order names a customer; customer KPIs need a customer column")
    days = known["ordered_at"].dt.normalize()
    window = pd.Timedelta(days=active_days)

    def active(day: pd.Timestamp) -> set:
        return set(known.loc[(days > day - window) & (days <= day), "customer"])

    first_order = period_start(known.groupby("customer")["ordered_at"].min().dt.normalize(), freq).value_counts()
    rows = []
    for period in _periods(days.min(), days.max(), freq):
        start, end = period.start_time, period.end_time.normalize()
        before, after = active(start - pd.Timedelta(days=1)), active(end)
        inside = days.between(start, end)
        lost = len(before - after)
        rows.append({
            "ds": start, "customers": len(after), "new_customers": int(first_order.get(start, 0)), "lost_customers": lost,
            "churn_rate": lost / len(before) if before else np.nan,
            "revenue_per_customer": known.loc[inside, "amount"].sum() / ((len(before) + len(after)) / 2) if before or after else np.nan,
        })
    table = pd.DataFrame(rows)
    table["retention_rate"] = 1 - table["churn_rate"]
    table["ltv"] = table["revenue_per_customer"] / table["churn_rate"].where(table["churn_rate"] > 0)
    if spend is not None:
        table = _with_spend(table, spend, freq)
    return table


def _with_spend(table: pd.DataFrame, spend: pd.DataFrame, freq: str) -> pd.DataFrame:
    per_period = _per_period(spend, "spend", freq).groupby("ds", as_index=False)["spend"].sum()
    table = table.merge(per_period, on="ds", how="left")
    table["cac"] = table["spend"] / table["new_customers"].where(table["new_customers"] > 0)
    table["ltv_cac"] = table["ltv"] / table["cac"].where(table["cac"] > 0)
    return table


def _per_period(table: pd.DataFrame, column: str, freq: str) -> pd.DataFrame:
    """A ``ds, <column>`` table (ds any day of its period, the amount not negative) as period starts and
    floats, row for row; errors name the table and its lines."""
    missing = [c for c in ("ds", column) if c not in table.columns]
    if missing:
        raise InputError(f"{column} table: missing column(s) {missing}; it has {list(table.columns)}")
    days = pd.to_datetime(table["ds"], errors="coerce", format="mixed")
    amounts = pd.to_numeric(table[column], errors="coerce")
    bad = table.index[days.isna() | amounts.isna() | (amounts < 0)]
    if len(bad):
        shown = ", ".join(f"line {i + 2} ({table.at[i, 'ds']!r}, {table.at[i, column]!r})" for i in bad[:5])
        raise InputError(f"{column} table: 'ds' must be dates and {column!r} non-negative numbers: {shown}")
    return pd.DataFrame({"ds": period_start(days, freq), column: amounts.astype(float)}, index=table.index)


def lead_conversion(
    leads: pd.DataFrame,
    deals: pd.DataFrame,
    by: str = "origin",
    lead_id: str = "mql_id",
    contacted: str = "first_contact_date",
    won: str = "won_date",
    freq: str | None = None,
) -> pd.DataFrame:
    """Leads, conversions, conversion_rate and days_to_convert per ``by`` (and cohort period of first contact)."""
    for name, table, needed in (("leads", leads, [lead_id, contacted, by]), ("deals", deals, [lead_id, won])):
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise InputError(f"{name} table: missing column(s) {missing}; it has {list(table.columns)}")
    first_win = deals.assign(_won=pd.to_datetime(deals[won], format="mixed")).groupby(lead_id)["_won"].min()
    frame = leads[[lead_id, by]].assign(
        _contact=pd.to_datetime(leads[contacted], format="mixed"),
        _segment=leads[by].astype("string").fillna("(none)").astype(str),
    )
    frame["_won"] = frame[lead_id].map(first_win)
    frame["_days"] = (frame["_won"] - frame["_contact"]).dt.total_seconds() / 86400
    groups = ["_segment"] if freq is None else [period_start(frame["_contact"], freq).rename("ds"), "_segment"]
    table = frame.groupby(groups).agg(
        leads=(lead_id, "size"), converted=("_won", "count"), days_to_convert=("_days", "mean"), median_days_to_convert=("_days", "median")
    )
    table["conversion_rate"] = table["converted"] / table["leads"]
    table = table.reset_index().rename(columns={"_segment": by})
    return table[[*(["ds"] if freq else []), by, "leads", "converted", "conversion_rate", "days_to_convert", "median_days_to_convert"]]


def growth(values: pd.Series, periods: int = 1) -> pd.Series:
    """Period-over-period growth: value / value ``periods`` earlier - 1 (NaN where that is 0 or missing)."""
    earlier = values.shift(periods)
    return values / earlier.where(earlier != 0) - 1


def churn_rate(customers_at_start: int, lost_during: int) -> float:
    """Customers lost during the period / customers at its start (not start / remaining)."""
    if customers_at_start <= 0:
        return float(np.nan)
    return lost_during / customers_at_start
