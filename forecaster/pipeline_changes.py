"""What moved in the pipeline between two snapshots: new deals, stage moves, slips, amount changes, closes.

A snapshot (``forecaster.store.pipeline``) holds the open opportunities as a run saw them. Between
two of them a deal can be ``new``, change ``stage``, ``slip`` (its expected close pushed later),
be ``pulled in`` (earlier), change ``amount``, or leave the pipeline: ``won`` or ``lost`` when the
current opportunities say so, else ``removed`` (deleted, or no longer open in the source).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ["new", "stage", "slipped", "pulled in", "amount", "won", "lost", "removed"]


def pipeline_changes(before: pd.DataFrame, after: pd.DataFrame, deals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per opportunity that changed from snapshot ``before`` to ``after``.

    Columns: ``opportunity_id, owner, change`` (the kinds that apply, comma-separated, in
    :data:`KINDS` order) and each side's ``stage``, ``amount`` and ``expected_close``
    (``*_before`` / ``*_after``). ``deals`` (the current normalized opportunities) tells won and
    lost from removed.
    """
    fields = ["stage", "amount", "expected_close"]
    both = before.set_index("opportunity_id")[["owner", *fields]].join(
        after.set_index("opportunity_id")[["owner", *fields]], how="outer", lsuffix="_before", rsuffix="_after"
    )
    was, is_ = both["stage_before"].notna(), both["stage_after"].notna()
    outcome = _outcomes(both.index, deals)
    close_before, close_after = both["expected_close_before"], both["expected_close_after"]
    flags = {
        "new": ~was & is_,
        "stage": was & is_ & (both["stage_before"] != both["stage_after"]),
        "slipped": was & is_ & (close_after > close_before),
        "pulled in": was & is_ & (close_after < close_before),
        "amount": was & is_ & ~np.isclose(both["amount_before"].fillna(-1), both["amount_after"].fillna(-1)),
        "won": was & ~is_ & (outcome == "won"),
        "lost": was & ~is_ & (outcome == "lost"),
        "removed": was & ~is_ & ~outcome.isin(["won", "lost"]),
    }
    marks = pd.DataFrame(flags, index=both.index)
    change = marks.apply(lambda row: ", ".join(k for k in KINDS if row[k]), axis=1) if len(marks) else pd.Series(dtype=str)
    table = both.assign(owner=both["owner_after"].fillna(both["owner_before"]), change=change)
    columns = ["owner", "change", *(f"{f}_{side}" for f in fields for side in ("before", "after"))]
    return table.loc[marks.any(axis=1), columns].reset_index(names="opportunity_id")


def _outcomes(ids: pd.Index, deals: pd.DataFrame | None) -> pd.Series:
    if deals is None:
        return pd.Series("unknown", index=ids)
    return deals.set_index("opportunity_id")["outcome"].reindex(ids).fillna("unknown")


@dataclass(frozen=True)
class PipelineMovement:
    """Open deals and their value on two days, and the deals and value behind each kind of change.

    ``slipped_out`` counts slips that moved a deal's expected close out of ``period`` (the period
    containing the later day), the deals a pacing review loses.
    """

    since: dt.date
    until: dt.date
    open_before: tuple[int, float]
    open_after: tuple[int, float]
    by_kind: dict[str, tuple[int, float]]
    slipped_out: tuple[int, float]
    period: pd.Period


def movement(before: pd.DataFrame, after: pd.DataFrame, changes: pd.DataFrame, since: dt.date, until: dt.date, freq: str) -> PipelineMovement:
    """Summarize ``changes`` (see :func:`pipeline_changes`) between the snapshots of ``since`` and ``until``."""
    period = pd.Period(until, freq)

    def total(frame: pd.DataFrame, column: str) -> tuple[int, float]:
        return len(frame), float(frame[column].fillna(0).sum())

    def value(kind: str) -> tuple[int, float]:
        rows = changes[changes["change"].str.split(", ").apply(lambda kinds: kind in kinds)]
        return total(rows, "amount_before" if kind in ("won", "lost", "removed") else "amount_after")

    slipped = changes[changes["change"].str.contains("slipped")]
    out = slipped[(slipped["expected_close_before"] <= period.end_time) & (slipped["expected_close_after"] > period.end_time)]
    return PipelineMovement(
        since, until, total(before, "amount"), total(after, "amount"), {kind: value(kind) for kind in KINDS}, total(out, "amount_after"), period
    )
