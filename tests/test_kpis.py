"""KPI formulas against hand calculations, on the CRM and Olist data, the pipeline forecast and the `kpis` command."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from forecaster.data.kpis import churn_rate, customer_kpis, lead_conversion, opportunity_kpis
from forecaster.data.opportunities import (
    as_known_at,
    join_table,
    read_opportunities,
    read_products,
)
from forecaster.errors import InputError
from forecaster.pipeline_forecast import PipelineForecast, calibrated_forecast, forecast_period

CRM = DATA / "crm_pipeline"
OLIST = DATA / "olist_funnel"

# Hand-checked deals: A won Jan (cycle 15), B lost Jan, C won Feb (cycle 26), D and E open
# (E without an amount: list price of "GTX Pro" written "GTXPro"), F lost Feb, G lost Feb but
# open at the end of January, exported with value 0 (worth its list price while open).
SMALL = """opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value
A,ann,MG,Won,2024-01-05,2024-01-20,1000
B,bob,MG,Lost,2024-01-10,2024-01-25,0
C,ann,MG,Won,2024-01-15,2024-02-10,3000
D,bob,MG,Engaging,2024-01-20,,500
E,ann,GTXPro,Engaging,2024-02-05,,
F,bob,MG,Lost,2024-02-01,2024-02-20,0
G,ann,GTX Pro,Lost,2024-01-25,2024-02-15,0
"""


@pytest.fixture
def small(tmp_path):
    (tmp_path / "deals.csv").write_text(SMALL)
    (tmp_path / "products.csv").write_text("product,sales_price\nGTX Pro,4000\nMG,55\n")
    return read_opportunities(tmp_path / "deals.csv", prices=read_products(tmp_path / "products.csv"))


def _row(table: pd.DataFrame, ds: str, segment: str = "total") -> pd.Series:
    return table[(table["ds"] == pd.Timestamp(ds)) & (table["segment"] == segment)].iloc[0]


def test_monthly_kpis_match_hand_calculations(small):
    table = opportunity_kpis(small, "M", window_days=90)
    jan, feb = _row(table, "2024-01-01"), _row(table, "2024-02-01")
    assert (jan["revenue"], jan["won"], jan["lost"], jan["win_rate"]) == (1000, 1, 1, 0.5)
    assert (jan["avg_deal_size"], jan["sales_cycle_days"]) == (1000, 15)
    assert (jan["open_opportunities"], jan["pipeline_value"]) == (3, 3000 + 500 + 4000)  # C, D, G
    assert jan["pipeline_velocity"] == pytest.approx(3 * 1000 * 0.5 / 15)
    assert (feb["revenue"], feb["won"], feb["lost"]) == (3000, 1, 2)
    assert feb["win_rate"] == pytest.approx(1 / 3)
    assert (feb["avg_deal_size"], feb["sales_cycle_days"]) == (3000, 26)
    assert (jan["days_to_lose"], feb["days_to_lose"]) == (15, (19 + 21) / 2)  # B; F and G
    assert (feb["open_opportunities"], feb["pipeline_value"]) == (2, 500 + 4000)  # D, E at list price
    # trailing 90 days to 29 Feb: A, C won; B, F, G lost -> 0.4; size 2000; cycle 20.5
    assert feb["pipeline_velocity"] == pytest.approx(2 * 2000 * 0.4 / 20.5)
    assert feb["revenue_growth"] == pytest.approx(2.0)


def test_trailing_window_changes_only_velocity(small):
    feb = _row(opportunity_kpis(small, "M", window_days=25), "2024-02-01")
    assert feb["win_rate"] == pytest.approx(1 / 3)
    # 5..29 Feb: C won, F and G lost
    assert feb["pipeline_velocity"] == pytest.approx(2 * 3000 * (1 / 3) / 26)


def test_segments_and_coverage_against_quota(small):
    quotas = pd.DataFrame({"ds": ["2024-02-01", "2024-02-01"], "segment": ["total", "ann"], "quota": [7000, 2000]})
    table = opportunity_kpis(small, "M", by="owner", quotas=quotas)
    feb = _row(table, "2024-02-01")
    assert feb["attainment"] == pytest.approx(3000 / 7000)
    assert feb["coverage"] == pytest.approx(7500 / 7000)  # the pipeline at the end of January
    ann = _row(table, "2024-02-01", "ann")
    assert (ann["revenue"], ann["won"], ann["lost"]) == (3000, 1, 1)
    assert ann["coverage"] == pytest.approx((3000 + 4000) / 2000)
    assert np.isnan(_row(table, "2024-01-01", "ann")["quota"])


def test_weekly_and_quarterly_periods(small):
    weekly = opportunity_kpis(small, "W")
    assert set(weekly["ds"].dt.weekday) == {0}
    assert weekly.loc[weekly["segment"] == "total", "won"].sum() == 2
    quarter = _row(opportunity_kpis(small, "Q"), "2024-01-01")
    assert (quarter["won"], quarter["lost"], quarter["revenue"]) == (2, 3, 4000)


def test_churn_is_lost_over_start_not_start_over_remaining():
    assert churn_rate(200, 10) == 0.05
    assert np.isnan(churn_rate(0, 0))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Z,ann,MG,Won,2024-01-05,not a date,10", "line 9"),
        ("A,ann,MG,Won,2024-01-05,2024-01-06,10", "duplicate opportunity ids"),
        ("Z,ann,MG,Won,2024-01-05,,10", "without a close date"),
        ("Z,ann,MG,Won,2024-01-05,2024-01-06,-3", "non-negative"),
        ("Z,ann,MG,Won,2024-02-05,2024-01-06,10", "closed before they were created"),
    ],
)
def test_bad_rows_are_named_by_file_and_line(tmp_path, row, message):
    path = tmp_path / "deals.csv"
    path.write_text(SMALL + row + "\n")
    with pytest.raises(InputError, match=message) as caught:
        read_opportunities(path)
    assert str(path) in str(caught.value)


def test_crm_pipeline_totals_and_a_month_computed_independently():
    prices = read_products(CRM / "products.csv")
    deals = join_table(read_opportunities(CRM / "sales_pipeline.csv", prices=prices), CRM / "sales_teams.csv")
    table = opportunity_kpis(deals, "M", by="regional_office")
    total = table[table["segment"] == "total"]
    assert total["won"].sum() == 4238
    assert total["lost"].sum() == 2473
    raw = pd.read_csv(CRM / "sales_pipeline.csv", parse_dates=["engage_date", "close_date"])
    won = raw[(raw["deal_stage"] == "Won") & (raw["close_date"].dt.strftime("%Y-%m") == "2017-06")]
    june = _row(table, "2017-06-01")
    assert june["revenue"] == won["close_value"].sum()
    assert june["won"] == len(won)
    assert june["sales_cycle_days"] == pytest.approx((won["close_date"] - won["engage_date"]).dt.days.mean())
    regions = table[(table["segment"] != "total") & (table["ds"] == pd.Timestamp("2017-06-01"))]
    assert regions["revenue"].sum() == june["revenue"]
    assert not deals.loc[deals["product"] == "GTXPro", "list_price"].isna().any()


def test_olist_lead_conversion_and_time_to_convert_by_origin():
    leads = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    table = lead_conversion(leads, deals).set_index("origin")
    assert table["leads"].sum() == 8000 and table["converted"].sum() == 842
    merged = leads.merge(deals, on="mql_id")
    organic = merged[merged["origin"] == "organic_search"]
    days = (pd.to_datetime(organic["won_date"]) - pd.to_datetime(organic["first_contact_date"])).dt.total_seconds() / 86400
    assert table.at["organic_search", "converted"] == len(organic)
    assert table.at["organic_search", "conversion_rate"] == pytest.approx(len(organic) / (leads["origin"] == "organic_search").sum())
    assert table.at["organic_search", "days_to_convert"] == pytest.approx(days.mean())
    monthly = lead_conversion(leads, deals, freq="M")
    assert monthly["converted"].sum() == 842 and set(monthly["ds"].dt.day) == {1}


def _pipeline(open_deals: int, stage: str = "Engaging") -> pd.DataFrame:
    """20 deals created 1 Jan, closed 20 Feb (10 won at 100), and open deals created 25 Jan."""
    closed = [("won" if i < 10 else "lost", "2024-02-20", 100.0 if i < 10 else 0.0) for i in range(20)]
    rows = [{"opportunity_id": f"c{i}", "created_at": "2024-01-01", "closed_at": day, "stage": outcome, "outcome": outcome, "amount": amount} for i, (outcome, day, amount) in enumerate(closed)]
    rows += [{"opportunity_id": f"o{i}", "created_at": "2024-01-25", "closed_at": None, "stage": stage, "outcome": "open", "amount": 100.0} for i in range(open_deals)]
    frame = pd.DataFrame(rows)
    return frame.assign(created_at=pd.to_datetime(frame["created_at"]), closed_at=pd.to_datetime(frame["closed_at"]))


def test_pipeline_forecast_weights_open_deals_by_historical_win_and_timing():
    # Every historical deal closed at age 50 and half were won, so a deal open at age 36 wins
    # inside March with probability 1/2; no deal was created in the 30-day window (no new deals).
    result = forecast_period(_pipeline(400), pd.Timestamp("2024-03-01"), "M", window_days=30, draws=4000, seed=1)
    assert result.won_so_far == 0 and result.open_value == 40_000
    assert result.mean == pytest.approx(20_000, abs=150)
    assert result.p50 == pytest.approx(20_000, abs=300)
    sd = 100 * np.sqrt(400 * 0.25)
    assert result.p10 == pytest.approx(20_000 - 1.2816 * sd, abs=300)
    assert result.p90 == pytest.approx(20_000 + 1.2816 * sd, abs=300)
    again = forecast_period(_pipeline(400), pd.Timestamp("2024-03-01"), "M", window_days=30, draws=4000, seed=1)
    assert again == result


def test_stage_rates_override_and_stale_deals_add_nothing():
    staged = forecast_period(_pipeline(400, "Negotiation"), pd.Timestamp("2024-03-01"), "M", window_days=30, draws=4000, stage_rates={"Negotiation": 0.9})
    assert staged.mean == pytest.approx(36_000, abs=200)
    old = pd.DataFrame({"opportunity_id": ["s"], "created_at": [pd.Timestamp("2023-06-01")], "closed_at": pd.Series([pd.NaT], dtype="datetime64[ns]"), "stage": ["Engaging"], "outcome": ["open"], "amount": [5000.0]})
    stale = pd.concat([_pipeline(0), old], ignore_index=True)
    with_stale = forecast_period(stale, pd.Timestamp("2024-03-01"), "M", window_days=30, draws=500)
    assert with_stale.p90 == 0.0


def test_pipeline_forecast_counts_won_so_far_and_refuses_future_closes():
    deals = _pipeline(0)
    deals.loc[0, "closed_at"] = pd.Timestamp("2024-03-05")
    with pytest.raises(InputError, match="creations or closes on or after"):
        forecast_period(deals, pd.Timestamp("2024-03-01"), "M", window_days=30)
    mid_month = forecast_period(deals, pd.Timestamp("2024-03-10"), "M", window_days=30, draws=500)
    assert mid_month.won_so_far == 100.0 and mid_month.p10 >= 100.0


def test_backtest_view_hides_what_was_not_known_yet():
    deals = read_opportunities(CRM / "sales_pipeline.csv", prices=read_products(CRM / "products.csv"))
    start = pd.Timestamp("2017-06-01")
    known = as_known_at(deals, start)
    assert (known["created_at"] < start).all()
    assert not (known["closed_at"] >= start).any()
    later = known["opportunity_id"].isin(deals.loc[deals["closed_at"] >= start, "opportunity_id"])
    assert (known.loc[later, "outcome"] == "open").all()
    assert (known.loc[later, "amount"] == known.loc[later, "list_price"]).all()
    still_open = known.merge(deals[deals["outcome"] == "open"], on="opportunity_id", suffixes=("", "_now"))
    assert len(still_open) and (still_open["stage"] == still_open["stage_now"]).all()  # what the source says now
    result = forecast_period(known, start, "M", draws=1000)
    assert result.p10 <= result.p50 <= result.p90


def test_calibrated_interval_learns_from_earlier_misses_on_the_crm_pipeline():
    deals = read_opportunities(CRM / "sales_pipeline.csv", prices=read_products(CRM / "products.csv"))
    won = deals[deals["outcome"] == "won"]
    monthly = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    held = {"simulation": 0, "calibrated": 0}
    for month in pd.period_range("2017-07", "2017-12", freq="M"):
        known = as_known_at(deals, month.start_time)
        simulated = forecast_period(known, month.start_time, "M", draws=2000)
        calibrated = calibrated_forecast(known, month.start_time, "M", draws=2000)
        assert calibrated.calibrated_on >= 3 and calibrated.p50 == simulated.p50
        assert calibrated.p10 < simulated.p10 and calibrated.p90 > simulated.p90
        held["simulation"] += simulated.p10 <= monthly[month] <= simulated.p90
        held["calibrated"] += calibrated.p10 <= monthly[month] <= calibrated.p90
    assert held == {"simulation": 0, "calibrated": 4}  # of 6 months; benchmarks/README.md has the table

    early = calibrated_forecast(as_known_at(deals, pd.Timestamp("2017-05-01")), pd.Timestamp("2017-05-01"), "M", draws=2000)
    assert early.calibrated_on == 0 and "simulation alone" in early.interval_note()  # March and April are too few
    mid_month = calibrated_forecast(as_known_at(deals, pd.Timestamp("2017-11-15")), pd.Timestamp("2017-11-15"), "M", draws=2000)
    assert mid_month.p10 >= mid_month.won_so_far > 0 and "last 7 months" in mid_month.interval_note()


def test_pacing_statement():
    forecast = PipelineForecast(pd.Period("2017Q3", "Q"), pd.Timestamp("2017-08-01"), 1_000_000, 2_100_000, 1.5e6, 1_640_000, 1.8e6, 1.64e6)
    assert forecast.pacing(2_000_000) == "2017Q3 is on pace for 82% of quota; coverage 2.1x, below 3x"
    assert forecast.pacing(900_000) == "2017Q3 has reached its quota: 111% won so far"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forecaster", "kpis", *args], check=False, capture_output=True, text=True)


def test_kpis_command_writes_the_documented_columns(tmp_path):
    output = tmp_path / "kpis.csv"
    done = _cli(
        "--opportunities", str(CRM / "sales_pipeline.csv"), "--products", str(CRM / "products.csv"),
        "--join", str(CRM / "sales_teams.csv"), "--by", "regional_office", "--freq", "Q", "--window", "60", "--output", str(output),
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(output)
    assert list(table.columns[:11]) == [
        "ds", "segment", "revenue", "won", "lost", "win_rate", "avg_deal_size", "sales_cycle_days",
        "open_opportunities", "pipeline_value", "pipeline_velocity",
    ]
    assert set(table["segment"]) == {"total", "Central", "East", "West"}
    assert table.loc[table["segment"] == "total", "won"].sum() == 4238


def test_kpis_command_adds_order_kpis(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,ordered_at,amount\n1,2024-01-03,10\n2,2024-01-09,30\n3,2024-02-01,5\n")
    deals = tmp_path / "deals.csv"
    deals.write_text(SMALL)
    done = _cli("--opportunities", str(deals), "--orders", str(orders))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout)).set_index("ds")
    assert table.at["2024-01-01", "orders"] == 2 and table.at["2024-01-01", "aov"] == 20


def test_customer_kpis_by_hand():
    orders = pd.DataFrame(
        [("2024-01-05", 100, "a"), ("2024-01-20", 50, "b"), ("2024-02-10", 60, "a"), ("2024-02-12", 40, "c"), ("2024-03-25", 90, "c")],
        columns=["ordered_at", "amount", "customer"],
    ).assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]))
    spend = pd.DataFrame({"ds": ["2024-02-01", "2024-03-15"], "spend": ["300", "120"]})
    table = customer_kpis(orders, "M", active_days=30, spend=spend).set_index("ds")
    # Active on 31 Jan: a, b; on 29 Feb: a, c (b lost); on 31 Mar: c (a lost).
    assert table["customers"].tolist() == [2, 2, 1] and table["new_customers"].tolist() == [2, 1, 0]
    assert table["lost_customers"].tolist() == [0, 1, 1] and table["churn_rate"].tolist()[1:] == [0.5, 0.5]
    assert table.at["2024-02-01", "retention_rate"] == 0.5
    assert table.at["2024-02-01", "revenue_per_customer"] == 100 / 2  # 60 + 40 over (2 + 2) / 2 customers
    assert table.at["2024-02-01", "ltv"] == 100.0  # 50 a month over an expected 1 / 0.5 = 2 months
    assert table.at["2024-02-01", "cac"] == 300.0 and table.at["2024-02-01", "ltv_cac"] == pytest.approx(1 / 3)
    assert np.isnan(table.at["2024-03-01", "cac"])  # spend but no new customer


def test_kpis_command_adds_customer_kpis_on_online_retail(tmp_path):
    lines = pd.read_parquet(DATA / "online_retail" / "online_retail_2010_2011.parquet")
    lines = lines[lines["CustomerID"].notna()].assign(amount=lines["Quantity"] * lines["UnitPrice"])
    invoices = lines.groupby("InvoiceNo").agg(ordered_at=("InvoiceDate", "min"), amount=("amount", "sum"), customer_id=("CustomerID", "first")).reset_index()
    invoices = invoices.rename(columns={"InvoiceNo": "order_id"}).assign(customer_id=lambda f: f["customer_id"].astype(int))
    invoices["status"] = np.where(invoices["order_id"].str.startswith("C"), "refunded", "completed")
    invoices["amount"] = invoices["amount"].abs()
    orders, spend, deals, output = tmp_path / "orders.csv", tmp_path / "spend.csv", tmp_path / "deals.csv", tmp_path / "kpis.csv"
    invoices.to_csv(orders, index=False)
    spend.write_text("ds,spend\n2011-03-01,25000\n2011-04-01,18000\n")
    deals.write_text(SMALL)
    done = _cli("--opportunities", str(deals), "--orders", str(orders), "--spend", str(spend), "--output", str(output))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(output).set_index("ds").loc["2011-01-01":"2011-11-01"]

    sales = invoices[(invoices["status"] == "completed") & (invoices["amount"] > 0)]  # sales, as the KPIs count them
    first = sales.groupby("customer_id")["ordered_at"].min().dt.to_period("M").value_counts()
    assert table["new_customers"].tolist() == [first[pd.Period(m, "M")] for m in table.index]
    assert table["churn_rate"].between(0, 0.3).all() and np.allclose(table["retention_rate"], 1 - table["churn_rate"])
    assert table.at["2011-03-01", "cac"] == pytest.approx(25000 / first[pd.Period("2011-03", "M")])
    expected_ltv = table["revenue_per_customer"] / table["churn_rate"].where(table["churn_rate"] > 0)
    assert np.allclose(table["ltv"], expected_ltv, equal_nan=True) and table["ltv"].notna().sum() >= 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--freq", "D"], "--freq"),
        (["--by", "nowhere"], "cannot segment by 'nowhere'"),
        (["--amount-col", "value"], "missing column(s) ['value']"),
        (["--window", "0"], "window"),
    ],
)
def test_kpis_command_bad_input_exits_2(args, message):
    done = _cli("--opportunities", str(CRM / "sales_pipeline.csv"), *args)
    assert done.returncode == 2
    assert message in done.stderr
