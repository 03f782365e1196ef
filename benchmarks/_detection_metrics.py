"""Scoring detector traces: recall, delay, false-alarm episodes, precision; forecast diagnostics.

An *episode* is a run of consecutive judged (open) days in alarm. A drop is *detected* on the first
judged day on or after its start on which the detector notifies (see ``Trace``); the delay is the
calendar days from the start to that day (0 = the first day of the drop). Episodes that begin before the drop start of an
injected series, and every episode of an unmodified series, are false alarms.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from _detection_data import WINDOW_DAYS
from _detection_replay import Trace


def episode_starts(trace: Trace) -> list[pd.Timestamp]:
    """First day of every run of consecutive judged days in alarm."""
    starts, before = [], False
    for day, alarm in zip(trace.judged, trace.alarm):
        if alarm and not before:
            starts.append(day)
        before = alarm
    return starts


def detection_delay(trace: Trace) -> float:
    """Days from the drop start to its first notification (inf when not detected)."""
    if trace.drop is None:
        raise ValueError(f"trace of {trace.series_id} has no drop to detect")
    for day, notified in zip(trace.judged, trace.notified):
        if notified and day >= trace.drop.start:
            return float((day - trace.drop.start).days)
    return np.inf


def false_episodes(trace: Trace) -> int:
    """Episodes that are false alarms: all of an unmodified series, those begun before the drop otherwise."""
    starts = episode_starts(trace)
    return len(starts) if trace.drop is None else sum(1 for s in starts if s < trace.drop.start)


def score(traces: Iterable[Trace], window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """One row per dataset, detector and drop size.

    ``median_delay`` is over every drop, a missed one counting as infinitely late (inf when more
    than half were missed); ``precision`` is detected drops over detected drops plus false episodes,
    on a 1:1 mix of those drifting series and the unmodified ones.
    """
    groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
    for trace in traces:
        groups[(trace.dataset, trace.detector)].append(trace)
    rows = []
    for (dataset, detector), group in groups.items():
        clean = [t for t in group if t.drop is None]
        false_clean = sum(false_episodes(t) for t in clean)
        years = len(clean) * window_days / 365
        seconds = sum(t.seconds for t in group)
        for size in sorted({t.drop.size for t in group if t.drop is not None}):
            injected = [t for t in group if t.drop is not None and t.drop.size == size]
            delays = np.array([detection_delay(t) for t in injected])
            detected = int(np.isfinite(delays).sum())
            false_total = false_clean + sum(false_episodes(t) for t in injected)
            alarms = detected + false_total
            rows.append({
                "dataset": dataset, "detector": detector, "drop": injected[0].drop.label, "series": len(injected),
                "recall_7": float(np.mean(delays < 7)), "recall_14": float(np.mean(delays < 14)),
                "median_delay": float(np.median(delays)),
                "false_per_series_year": false_clean / years if years else np.nan,
                "precision": detected / alarms if alarms else np.nan, "seconds": seconds,
            })
    return pd.DataFrame(rows)


def forecast_quality(traces: Iterable[Trace]) -> pd.DataFrame:
    """How each forecaster's usual forecasts fit the unmodified series' judged days.

    ``ape`` median absolute percentage error; ``band80``/``band95`` median distance from forecast
    to lower bound, in percent of the forecast; ``below80``/``below95`` share of days already below
    the lower bound (false breaches); ``hidden20`` share of days on which a 20% drop would stay
    above the 80% lower bound (95% when the forecaster has no 80% band).
    """
    groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
    for trace in traces:
        if trace.drop is None and trace.forecaster:
            groups[(trace.dataset, trace.forecaster)].append(trace)
    rows = []
    for (dataset, forecaster), group in groups.items():
        first = group[0].detector  # every detector of a forecaster sees the same forecasts
        arrays = {k: np.concatenate([getattr(t, k) for t in group if t.detector == first]) for k in ("actual", "expected", "lower80", "lower95")}
        a, e, lo80, lo95 = arrays["actual"], arrays["expected"], arrays["lower80"], arrays["lower95"]
        positive = e > 0
        lower = lo80 if np.isfinite(lo80).any() else lo95
        rows.append({
            "dataset": dataset, "forecaster": forecaster, "days": len(a),
            "ape": _median_pct(np.abs(a - e)[positive] / e[positive]),
            "band80": _median_pct((e - lo80)[positive] / e[positive]),
            "band95": _median_pct((e - lo95)[positive] / e[positive]),
            "below80": _share(a < lo80, lo80), "below95": _share(a < lo95, lo95),
            "hidden20": float(np.mean(0.8 * a >= lower)) * 100 if len(a) else np.nan,
        })
    return pd.DataFrame(rows)


def _median_pct(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) * 100 if len(values) else np.nan


def _share(hits: np.ndarray, bound: np.ndarray) -> float:
    known = np.isfinite(bound)
    return float(np.mean(hits[known])) * 100 if known.any() else np.nan


def markdown(frame: pd.DataFrame, formats: dict[str, str], headers: Sequence[str]) -> str:
    """A markdown table of ``frame``'s columns in ``formats`` order, each formatted with its spec."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if f == "s" else "---:" for f in formats.values()) + "|"]
    for _, row in frame.iterrows():
        cells = [_cell(row[c], f) for c, f in formats.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value, spec: str) -> str:
    if spec == "s":
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return "–" if np.isnan(value) else "never"
    return format(value, spec)
