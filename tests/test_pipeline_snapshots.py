"""Daily pipeline snapshots from a file, a SQL table or a CRM API, and what moved between two of them."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from servers import HTTPServer, Reply

from forecaster.data.opportunities import read_opportunities, read_products
from forecaster.pipeline_changes import movement, pipeline_changes
from forecaster.settings import ConfigError, load
from conftest import DATA

CRM = DATA / "crm_pipeline"
COLUMNS = {"opportunity_id": "id", "created_at": "created", "stage": "stage", "amount": "amount", "owner": "owner", "closed_at": "close_date", "product": None}


def salescast(*args):
    return subprocess.run([sys.executable, "-m", "forecaster", *map(str, args)], capture_output=True, text=True, timeout=600)


def _config(folder, store_url: str, revops: dict) -> str:
    path = folder / "salescast.yaml"
    path.write_text(yaml.safe_dump({"currency": "$", "store": {"url": store_url}, "revops": revops}))
    return str(path)


def _snapshot(*deals) -> pd.DataFrame:
    frame = pd.DataFrame(deals, columns=["opportunity_id", "stage", "amount", "expected_close", "owner"])
    return frame.assign(expected_close=pd.to_datetime(frame["expected_close"]), created_at=pd.Timestamp("2024-05-01"))


def test_each_kind_of_change_between_two_snapshots():
    before = _snapshot(
        ("a", "Qualify", 1000.0, "2024-06-20", "ann"), ("b", "Proposal", 5000.0, "2024-06-28", "bob"),
        ("c", "Negotiation", 2000.0, "2024-07-15", "ann"), ("d", "Qualify", 800.0, "2024-06-25", "bob"),
        ("e", "Proposal", 300.0, "2024-06-21", "ann"), ("f", "Qualify", 700.0, "2024-08-01", "bob"),
    )
    after = _snapshot(
        ("a", "Proposal", 1000.0, "2024-06-20", "ann"), ("b", "Proposal", 4500.0, "2024-07-10", "bob"),
        ("f", "Qualify", 700.0, "2024-06-29", "bob"), ("g", "Qualify", 1200.0, "2024-06-30", "cy"),
    )
    deals = pd.DataFrame({"opportunity_id": ["c", "d", "e"], "outcome": ["won", "lost", "open"]})  # e: open but gone (e.g. moved pipelines)
    changes = pipeline_changes(before, after, deals).set_index("opportunity_id")
    assert changes["change"].to_dict() == {
        "a": "stage", "b": "slipped, amount", "c": "won", "d": "lost", "e": "removed", "f": "pulled in", "g": "new",
    }
    assert changes.loc["a", ["stage_before", "stage_after"]].tolist() == ["Qualify", "Proposal"]
    assert changes.loc["g", "owner"] == "cy" and pd.isna(changes.loc["g", "stage_before"])

    moved = movement(before, after, changes.reset_index(), dt.date(2024, 6, 10), dt.date(2024, 6, 17), "Q")
    assert moved.open_before == (6, 9800.0) and moved.open_after == (4, 7400.0)
    assert moved.by_kind["won"] == (1, 2000.0) and moved.by_kind["new"] == (1, 1200.0) and moved.by_kind["slipped"] == (1, 4500.0)
    assert moved.slipped_out == (1, 4500.0) and str(moved.period) == "2024Q2"  # b left June for July
    assert pipeline_changes(before, before).empty


DAY_1 = [
    ("D1", "2024-05-02", "Qualify", 1000.0, "ann", "2024-06-20", "north"),
    ("D2", "2024-05-03", "Proposal", 5000.0, "bob", "2024-06-28", "south"),
    ("D3", "2024-05-06", "Negotiation", 2000.0, "ann", "2024-07-15", "north"),
    ("D4", "2024-05-07", "Qualify", 800.0, "bob", "2024-06-25", "south"),
    ("D5", "2024-04-02", "Closed Won", 3000.0, "ann", "2024-06-01", "north"),
    ("D7", "2024-05-20", "Proposal", 900.0, "cy", "2024-06-30", "north"),
    ("D8", "2024-04-10", "Closed Won", 1500.0, "bob", "2024-05-15", "south"),
]


def _write_deals(url: str, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["id", "created", "stage", "amount", "owner", "close_date", "region"])
    engine = sa.create_engine(url)
    try:
        frame.to_sql("crm_deals", engine, if_exists="replace", index=False)
    finally:
        engine.dispose()


def test_a_live_sql_table_is_snapshotted_daily_and_the_command_tells_what_moved(store_url, tmp_path):
    _write_deals(store_url, DAY_1)
    config = _config(tmp_path, store_url, {"source": {"kind": "sql", "url": store_url, "table": "crm_deals"}, "columns": COLUMNS})
    first = salescast("run", "--config", config, "--as-of", "2024-06-10")
    assert first.returncode == 0, first.stderr
    day_2 = [
        ("D1", "2024-05-02", "Proposal", 1000.0, "ann", "2024-06-20", "north"),   # stage move
        ("D2", "2024-05-03", "Proposal", 4500.0, "bob", "2024-07-10", "south"),   # slipped out of Q2, smaller
        ("D3", "2024-05-06", "Closed Won", 2000.0, "ann", "2024-06-14", "north"),  # won
        ("D5", "2024-04-02", "Closed Won", 3000.0, "ann", "2024-06-01", "north"),  # D4 deleted
        ("D6", "2024-06-12", "Qualify", 1200.0, "cy", "2024-06-30", "north"),     # new
        ("D7", "2024-05-20", "Closed Lost", 900.0, "cy", "2024-06-15", "north"),   # lost
        DAY_1[-1],
    ]
    _write_deals(store_url, day_2)
    for _ in range(2):  # the same day twice: the snapshot is replaced, not doubled
        second = salescast("run", "--config", config, "--as-of", "2024-06-17")
        assert second.returncode == 0, second.stderr

    csv = tmp_path / "changes.csv"
    result = salescast("pipeline", "--config", config, "--since", "2024-06-10", "--output", csv)
    assert result.returncode == 0, result.stderr
    changes = pd.read_csv(csv).set_index("opportunity_id")
    assert changes["change"].to_dict() == {"D1": "stage", "D2": "slipped, amount", "D3": "won", "D4": "removed", "D6": "new", "D7": "lost"}
    text = " ".join(result.stdout.split())
    assert "Pipeline from 2024-06-10 to 2024-06-17: open deals 5 ($9,700) -> 3 ($6,700)" in text
    assert "slipped out of 2024Q2: 1 ($4,500)" in text

    stages_csv = tmp_path / "stages.csv"
    assert salescast("pipeline", "--config", config, "--stages", "--output", stages_csv).returncode == 0
    stages = pd.read_csv(stages_csv).set_index("stage")
    assert stages[["open_now", "open_value", "deals_seen", "decided", "won"]].to_dict("index") == {
        "Proposal": {"open_now": 2, "open_value": 5500.0, "deals_seen": 3, "decided": 1, "won": 0},     # D1, D2 open; D7 lost
        "Qualify": {"open_now": 1, "open_value": 1200.0, "deals_seen": 3, "decided": 0, "won": 0},      # D6 open; D1 moved on, D4 removed
        "Negotiation": {"open_now": 0, "open_value": 0.0, "deals_seen": 1, "decided": 1, "won": 1},     # D3 won
    }
    assert stages.loc["Negotiation", "days_in_stage"] == 7 and stages.loc["Qualify", "spells_timed"] == 2  # D1 and D4 left it

    printed = salescast("pipeline", "--config", config)  # a week back from the latest snapshot
    assert printed.returncode == 0 and "largest changes (6 of 6)" in printed.stdout
    assert all(f"│ {deal} " in printed.stdout for deal in ("D1", "D2", "D3", "D4", "D6", "D7"))


def test_snapshots_of_a_replayed_crm_file_match_its_closes(tmp_path):
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", {"opportunities": str(CRM / "sales_pipeline.csv"), "products": str(CRM / "products.csv")})
    for day in ("2017-05-01", "2017-05-08"):
        assert salescast("run", "--config", config, "--as-of", day).returncode == 0
    csv = tmp_path / "changes.csv"
    assert salescast("pipeline", "--config", config, "--output", csv).returncode == 0
    kinds = pd.read_csv(csv)["change"].value_counts().to_dict()

    deals = read_opportunities(CRM / "sales_pipeline.csv", prices=read_products(CRM / "products.csv"))
    open_on_1st = deals[(deals["created_at"] < "2017-05-02") & ~(deals["closed_at"] < "2017-05-02")]
    closed_in_week = open_on_1st[open_on_1st["closed_at"].between("2017-05-02", "2017-05-08")]
    created_in_week = deals[deals["created_at"].between("2017-05-02", "2017-05-08") & ~(deals["closed_at"] <= "2017-05-08")]
    assert kinds == {
        "won": (closed_in_week["outcome"] == "won").sum(), "lost": (closed_in_week["outcome"] == "lost").sum(), "new": len(created_in_week),
    }


def _hubspot_deal(deal_id: str, stage: str, close: str | None, won: bool = False, closed: bool = False) -> dict:
    properties = {
        "dealname": deal_id, "amount": "1500", "dealstage": stage, "createdate": "2024-05-02T10:00:00.000Z", "closedate": close,
        "hubspot_owner_id": "77", "pipeline": "default", "hs_is_closed_won": str(won).lower(), "hs_is_closed": str(closed).lower(),
    }
    return {"id": deal_id, "properties": properties}


def test_a_hubspot_pipeline_is_snapshotted_with_expected_close_dates(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with HTTPServer() as server:
        config = _config(tmp_path, store, {"source": {"kind": "hubspot", "token": "pat-secret", "base_url": server.url}})
        server.reply(Reply(body={"results": [_hubspot_deal("1", "appointmentscheduled", "2024-06-20T00:00:00Z"), _hubspot_deal("2", "closedwon", "2024-06-01T00:00:00Z", True, True)]}))
        assert salescast("run", "--config", config, "--as-of", "2024-06-10").returncode == 0
        server.reply(Reply(body={"results": [_hubspot_deal("1", "contractsent", "2024-07-02T00:00:00Z")]}))
        assert salescast("run", "--config", config, "--as-of", "2024-06-17").returncode == 0
        server.reply(Reply(body={"results": [_hubspot_deal("1", "contractsent", "2024-07-02T00:00:00Z")]}))  # read again to tell won from removed
        csv = tmp_path / "changes.csv"
        assert salescast("pipeline", "--config", config, "--output", csv).returncode == 0
    [row] = pd.read_csv(csv).to_dict("records")
    assert (row["opportunity_id"], row["change"], row["stage_after"], row["expected_close_after"]) == (1, "stage, slipped", "contractsent", "2024-07-02")


def test_an_expired_crm_token_makes_the_run_partial_and_says_what_to_do(tmp_path):
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    with HTTPServer() as server:
        config = _config(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", {
            "source": {"kind": "salesforce", "instance_url": server.url, "token": "00Dxx!secret"}, "quota": 100000,
        })
        server.reply(Reply(status=401, body=expired))
        result = salescast("run", "--config", config, "--as-of", "2024-06-10")
    assert result.returncode == 1
    assert "INVALID_SESSION_ID" in result.stderr + result.stdout or "log in again" in result.stderr + result.stdout
    assert "00Dxx!secret" not in result.stderr + result.stdout
    pipeline = salescast("pipeline", "--config", config)
    assert pipeline.returncode == 2 and "0 pipeline snapshot(s) stored" in pipeline.stderr


@pytest.mark.parametrize(
    ("revops", "problem"),
    [
        ({}, "give exactly one of 'opportunities' (a file) or 'source'"),
        ({"opportunities": "deals.csv", "source": {"kind": "sql", "url": "sqlite://", "table": "t"}}, "give exactly one of"),
        ({"source": {"kind": "sql", "url": "sqlite://"}}, "give exactly one of 'table' or 'query'"),
        ({"source": {"kind": "hubspot", "token": "x", "base_url": "http://crm.example.com"}}, "use an https:// URL"),
        ({"source": {"kind": "pipedrive"}}, "revops.source"),
    ],
)
def test_a_bad_revops_source_is_refused_where_it_is(tmp_path, revops, problem):
    path = tmp_path / "salescast.yaml"
    path.write_text(yaml.safe_dump({"revops": revops}))
    with pytest.raises(ConfigError, match="revops") as caught:
        load(path)
    assert problem in str(caught.value)


def test_the_pace_counts_what_a_live_source_says_open_deals_are_worth(tmp_path):
    from forecaster.revops import load_opportunities, pipeline_outlook
    from forecaster.settings import RevOpsSettings

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    _write_deals(url, DAY_1)
    revops = RevOpsSettings(source={"kind": "sql", "url": url, "table": "crm_deals"}, columns=COLUMNS)
    outlook = pipeline_outlook(load_opportunities(revops), revops, dt.date(2024, 6, 10))
    assert outlook.open_value == 1000 + 5000 + 2000 + 800 + 900  # amounts from the source, no products table needed


def test_stage_spells_end_at_the_next_stage_or_when_the_deal_leaves():
    from forecaster.pipeline_stages import stage_kpis, stage_spells

    seen = [
        ("2024-06-01", "a", "Qualify"), ("2024-06-02", "a", "Qualify"), ("2024-06-04", "a", "Proposal"), ("2024-06-06", "a", "Proposal"),
        ("2024-06-01", "b", "Qualify"), ("2024-06-02", "b", "Qualify"),  # gone from the 4th: closed
        ("2024-06-04", "c", "Qualify"), ("2024-06-06", "c", "Qualify"),
        ("2024-06-01", "d", "Proposal"), ("2024-06-02", "d", "Proposal"), ("2024-06-04", "d", "Proposal"),
    ]
    history = pd.DataFrame(seen, columns=["snapshot_date", "opportunity_id", "stage"]).assign(snapshot_date=lambda f: pd.to_datetime(f["snapshot_date"]), amount=10.0)
    spells = stage_spells(history)
    ends = {(r.opportunity_id, r.stage): (None if pd.isna(r.end) else f"{r.end:%d}") for r in spells.itertuples()}
    assert ends == {("a", "Qualify"): "04", ("a", "Proposal"): None, ("b", "Qualify"): "04", ("c", "Qualify"): None, ("d", "Proposal"): "06"}
    table = stage_kpis(history, pd.DataFrame({"opportunity_id": list("abcd"), "outcome": ["open", "lost", "open", "won"]})).set_index("stage")
    assert table.loc["Qualify", ["days_in_stage", "spells_timed", "deals_seen", "decided", "won"]].tolist() == [3.0, 2, 3, 1, 0]
    assert table.loc["Proposal", ["days_in_stage", "open_now", "conversion"]].tolist() == [5.0, 1, 1.0]
