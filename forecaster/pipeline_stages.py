"""Deals, conversion and time by stage, from the daily pipeline snapshots.

A deal's stages come from the snapshots that saw it (a file without stage history shows only the
stage of the day). A *spell* is a run of snapshots with the deal in one stage; it ends on the
first snapshot that sees the deal in another stage or no longer open. Spells still running at
the last snapshot are not timed (their end is unknown), only counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAGE_COLUMNS = ["stage", "open_now", "open_value", "deals_seen", "decided", "won", "conversion", "days_in_stage", "spells_timed"]


def stage_spells(history: pd.DataFrame) -> pd.DataFrame:
    """One row per spell: ``opportunity_id, stage, start, end`` (``end`` NaT while it runs)."""
    history = history.sort_values(["opportunity_id", "snapshot_date"], kind="stable")
    moved = history["stage"].ne(history.groupby("opportunity_id")["stage"].shift())
    history = history.assign(spell=moved.cumsum())
    spells = history.groupby("spell").agg(
        opportunity_id=("opportunity_id", "first"), stage=("stage", "first"), start=("snapshot_date", "min"), last=("snapshot_date", "max"),
    )
    next_start = spells.groupby("opportunity_id")["start"].shift(-1)
    days = np.sort(history["snapshot_date"].unique())
    after = np.searchsorted(days, spells["last"].to_numpy(), side="right")
    left = pd.Series(pd.NaT, index=spells.index, dtype="datetime64[ns]")
    inside = after < len(days)
    left[inside] = days[after[inside]]
    return spells.assign(end=next_start.fillna(left))[["opportunity_id", "stage", "start", "end"]].reset_index(drop=True)


def stage_kpis(history: pd.DataFrame, deals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per stage: open deals at the last snapshot and their worth, deals ever seen in it, how many of
    those were since decided and won (``conversion`` = won ÷ decided, from ``deals``' outcomes), and
    the mean days a deal spent in it (``spells_timed`` spells)."""
    if history.empty:
        return pd.DataFrame(columns=STAGE_COLUMNS)
    spells = stage_spells(history)
    latest = history[history["snapshot_date"] == history["snapshot_date"].max()]
    outcome = (
        spells["opportunity_id"].map(deals.set_index("opportunity_id")["outcome"]) if deals is not None else pd.Series("open", index=spells.index)
    )
    seen = spells.assign(outcome=outcome.fillna("open")).drop_duplicates(["opportunity_id", "stage"])
    timed = spells.dropna(subset=["end"])
    table = pd.DataFrame(
        {
            "open_now": latest.groupby("stage").size(),
            "open_value": latest.groupby("stage")["amount"].sum(),
            "deals_seen": seen.groupby("stage").size(),
            "decided": seen[seen["outcome"].isin(["won", "lost"])].groupby("stage").size(),
            "won": seen[seen["outcome"] == "won"].groupby("stage").size(),
            "days_in_stage": (timed["end"] - timed["start"]).dt.days.groupby(timed["stage"]).mean(),
            "spells_timed": timed.groupby("stage").size(),
        }
    )
    counts = ["open_now", "deals_seen", "decided", "won", "spells_timed"]
    table[counts] = table[counts].fillna(0).astype(int)
    table["open_value"] = table["open_value"].fillna(0.0)
    table["conversion"] = table["won"] / table["decided"].where(table["decided"] > 0)
    return table.rename_axis("stage").reset_index().sort_values("deals_seen", ascending=False, kind="stable")[STAGE_COLUMNS].reset_index(drop=True)
