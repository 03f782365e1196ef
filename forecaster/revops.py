"""RevOps: the opportunities of ``revops:`` from their file, table or CRM, the KPI report (the `kpis`
command and the Python API) and the current period's pipeline outlook."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from forecaster.data.kpis import TOTAL, customer_kpis, opportunity_kpis, order_kpis
from forecaster.data.opportunities import (
    OpportunityColumns,
    Outcomes,
    as_known_at,
    file_kind,
    join_table,
    read_opportunities,
    read_products,
)
from forecaster.errors import InputError
from forecaster.pipeline_forecast import PipelineForecast, calibrated_forecast
from forecaster.settings import RevOpsSettings


def load_opportunities(revops: RevOpsSettings) -> pd.DataFrame:
    """Every opportunity of ``revops``'s file or source, normalized; errors name the file, table or CRM."""
    source = revops.source
    outcomes = Outcomes(tuple(revops.won_stages), tuple(revops.lost_stages))
    prices = read_products(revops.products) if revops.products else None
    if source is None:
        return read_opportunities(revops.opportunities, revops.columns, outcomes, prices)
    if source.kind == "sql":
        from forecaster.data.sources.sql import read_opportunities_sql

        return read_opportunities_sql(source, revops.columns, outcomes, prices)
    if source.kind == "hubspot":
        from forecaster.data.sources.hubspot import HubSpotDeals, hubspot_client

        client = hubspot_client(source.token.get_secret_value(), source.http)
        return HubSpotDeals(client, source.base_url, source.page_size, source.properties).load()
    from forecaster.data.sources.salesforce import SalesforceOpportunities, salesforce_client

    client = salesforce_client(source.token.get_secret_value(), source.http)
    return SalesforceOpportunities(client, source.instance_url, source.api_version, source.fields, source.where).load()


def read_deals(
    path: Path,
    columns: OpportunityColumns = OpportunityColumns(),
    outcomes: Outcomes = Outcomes(),
    products: Path | None = None,
    joins: list[Path] | None = None,
) -> pd.DataFrame:
    """An opportunities file with list prices from ``products`` for deals without an amount, and the
    columns of each of ``joins`` (e.g. a sales-teams table adds manager and region)."""
    prices = read_products(products) if products else None
    deals = read_opportunities(path, columns, outcomes, prices)
    for table in joins or []:
        deals = join_table(deals, table, columns)
    return deals


def kpi_report(
    deals: pd.DataFrame,
    freq: str = "M",
    by: str | None = None,
    window_days: int = 90,
    quotas: Path | None = None,
    orders: Path | None = None,
    order_columns: tuple[str, str, str, str] = ("order_id", "ordered_at", "amount", "customer_id"),
    spend: Path | None = None,
    active_days: int = 90,
) -> pd.DataFrame:
    """KPIs per period (and segment) of normalized opportunities, with an optional quota table and
    orders file: ``orders`` adds ``orders`` and ``aov`` to the total rows (and total rows for the
    periods only orders cover), and the customer KPIs (churn, retention, LTV; CAC and LTV/CAC with a
    ``spend`` table) when it has a customer column."""
    from forecaster.data.sources.files import read_table

    quota_table = read_table(quotas, file_kind(quotas)) if quotas else None
    report = opportunity_kpis(deals, freq, by, window_days, quota_table)
    if orders is not None:
        sales = _orders(orders, order_columns)
        per_order = order_kpis(sales, freq)
        if "customer" in sales.columns:
            counted = sales[sales["counted"] & (sales["amount"] > 0)]
            days = pd.DataFrame({"ordered_at": counted["ordered_at"].dt.tz_localize(None), "amount": counted["amount"], "customer": counted["customer"]})
            spend_table = read_table(spend, file_kind(spend)) if spend else None
            per_order = per_order.merge(customer_kpis(days, freq, active_days, spend_table), on="ds", how="outer")
        report = report.merge(per_order.assign(segment=TOTAL), on=["ds", "segment"], how="outer")
        report = report.sort_values(["segment", "ds"], key=lambda c: c != TOTAL if c.name == "segment" else c, kind="stable", ignore_index=True)
    elif spend is not None:
        raise InputError("--spend needs --orders with a customer column: CAC is spend per new customer")
    return report.assign(ds=report["ds"].dt.strftime("%Y-%m-%d"))


def _orders(path: Path, names: tuple[str, str, str, str]) -> pd.DataFrame:
    """Normalized orders of a file, with a ``customer`` column when the file has ``names[3]``."""
    from forecaster.data.orders import normalize
    from forecaster.data.sources.files import read_table
    from forecaster.settings_sources import OrderColumns, StatusPolicy

    kind = file_kind(path)
    raw = read_table(path, kind)
    order_id, ordered_at, amount, customer = names
    status = "status" if "status" in raw.columns else None
    segments = {"customer": customer} if customer in raw.columns else {}
    line = (lambda i: f"line {i + 2}") if kind == "csv" else (lambda i: f"row {i + 1}")
    columns = OrderColumns(order_id=order_id, ordered_at=ordered_at, amount=amount, status=status, segments=segments)
    orders = normalize(raw, columns, StatusPolicy(), "UTC", str(path), line)
    if segments:
        orders["customer"] = [json.loads(s).get("customer") for s in orders["segments"]]
    return orders


def pipeline_outlook(deals: pd.DataFrame, revops: RevOpsSettings, today: dt.date) -> PipelineForecast:
    """The current period's revenue simulated from the pipeline, its interval calibrated on recent
    periods' misses, as of today or, for a file that ends earlier, its last activity."""
    last_activity = pd.concat([deals["created_at"], deals["closed_at"]]).max()
    as_of = min(pd.Timestamp(today), last_activity)
    return calibrated_forecast(as_known_at(deals, as_of), as_of, revops.freq, revops.window_days)
