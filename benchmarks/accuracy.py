"""Forecast accuracy on real data: salescast against seasonal naive, statsforecast AutoETS and Prophet.

    python3 benchmarks/accuracy.py                # all 1,115 Rossmann stores (about 20 minutes on 2 cores)
    python3 benchmarks/accuracy.py --stores 100   # a quick run

Every method sees the same history and forecasts the same holdout in one run. Rossmann: the last six
weeks of ``train`` (2015-06-20 .. 2015-07-31, horizon 42), scored over open days with sales > 0
(RMSPE as in the Kaggle competition); promo, state and school holidays, open and what store.csv
says in advance (the competitor's distance from the month it opened, the Promo2 months) are
known-future regressors for salescast. The weekly case sums Rossmann into Monday weeks (last 8 weeks held out).
Online Retail: daily revenue of the top five countries and the total, last 28 days held out.
MASE is the mean over series of the holdout MAE over the in-sample seasonal-naive MAE; |bias| is
the mean over series of |forecast total / actual total - 1| on the scored periods (MAE rewards
forecasting next to nothing on series that often sell nothing; this column shows it). Prophet
(default settings) is slow: it runs on a fixed sample of series and its time is extrapolated
(marked so in the table). The table is printed and written into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _accuracy_data import Case, online_retail_case, rossmann_case, rossmann_weekly_case  # noqa: E402

from forecaster.forecasting import forecast_frame  # noqa: E402
from forecaster.metrics import coverage, rmspe, seasonal_scale  # noqa: E402
from forecaster.regressors import add_holidays  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Forecast accuracy"
LEVELS = (80, 95)
PEER_FREQ = {"D": "D", "W": "W-MON"}


def salescast(case: Case, candidates: tuple[str, ...], holidays: str | None) -> pd.DataFrame:
    """salescast's forecast: backtest, per-series choice among ``candidates``, conformal intervals."""
    history, future = case.history, case.future
    if holidays:
        if future is None:
            dates = pd.date_range(history["ds"].max(), periods=case.horizon + 1, freq=case.freq)[1:]
            future = pd.MultiIndex.from_product([history["unique_id"].unique(), dates], names=["unique_id", "ds"]).to_frame(index=False)
        history, future = add_holidays(history, holidays), add_holidays(future, holidays)
    result = forecast_frame(history, case.horizon, case.freq, LEVELS, model="auto", candidates=candidates, folds=2, future=future)
    if result.failures:
        print(f"  salescast failed on {len(result.failures)} series, e.g. {next(iter(result.failures.items()))}", file=sys.stderr)
    chosen = pd.Series(result.choices).value_counts().to_dict()
    print(f"  salescast chose {chosen}", file=sys.stderr)
    return result.forecasts


def statsforecast_peer(case: Case, which: str) -> pd.DataFrame:
    """statsforecast's SeasonalNaive or AutoETS with its own intervals, on the plain series (closed days as 0)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    model = SeasonalNaive(season_length=case.season_length) if which == "naive" else AutoETS(season_length=case.season_length)
    engine = StatsForecast(models=[model], freq=PEER_FREQ[case.freq], n_jobs=-1)
    frame = engine.forecast(df=case.history[["unique_id", "ds", "y"]], h=case.horizon, level=list(LEVELS))
    name = type(model).__name__
    renamed = {name: "yhat", **{f"{name}-{side}-{lv}": f"yhat_{side}_{lv}" for lv in LEVELS for side in ("lo", "hi")}}
    return frame.reset_index(drop="unique_id" in frame.columns).rename(columns=renamed)


def prophet_peer(case: Case, sample: list[str]) -> pd.DataFrame:
    """Prophet with default settings per series; 80% and 95% intervals from the same fit."""
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    from prophet import Prophet

    frames = []
    for series_id in sample:
        history = case.history[case.history["unique_id"] == series_id][["ds", "y"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Prophet().fit(history)
        future = model.make_future_dataframe(periods=case.horizon, freq=PEER_FREQ[case.freq], include_history=False)
        frame = pd.DataFrame({"unique_id": series_id, "ds": future["ds"]})
        for level in LEVELS:
            model.interval_width = level / 100
            predicted = model.predict(future)
            frame["yhat"] = predicted["yhat"].to_numpy()
            frame[f"yhat_lo_{level}"], frame[f"yhat_hi_{level}"] = predicted["yhat_lower"].to_numpy(), predicted["yhat_upper"].to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def scores(case: Case, forecast: pd.DataFrame) -> dict[str, float]:
    """RMSPE (pooled), mean MASE and mean |bias| over series, interval coverage (pooled) on the scored holdout periods."""
    joined = case.holdout[case.holdout["scored"]].merge(forecast, on=["unique_id", "ds"], how="inner")
    history = case.history.groupby("unique_id")["y"]
    scale = history.apply(lambda y: seasonal_scale(y.to_numpy(), case.season_length))
    mae = joined.assign(error=(joined["y"] - joined["yhat"]).abs()).groupby("unique_id")["error"].mean()
    totals = joined.groupby("unique_id")[["yhat", "y"]].sum()
    out = {
        "series": joined["unique_id"].nunique(), "mase": float((mae / scale.reindex(mae.index)).mean()), "rmspe": rmspe(joined["y"], joined["yhat"]),
        "bias": float((totals["yhat"] / totals["y"] - 1).abs().mean()),
    }
    for level in LEVELS:
        out[f"coverage_{level}"] = coverage(joined["y"], joined[f"yhat_lo_{level}"], joined[f"yhat_hi_{level}"])
    return out


def run_case(case: Case, candidates: tuple[str, ...], prophet_sample: int, holidays: str | None = None) -> pd.DataFrame:
    """Every method on one case: one row per method with its scores and seconds."""
    ids = sorted(case.history["unique_id"].unique())
    sample = [ids[i] for i in np.linspace(0, len(ids) - 1, min(prophet_sample, len(ids))).round().astype(int)]
    sample = list(dict.fromkeys(sample))
    methods = {
        "salescast": lambda: salescast(case, candidates, holidays),
        "seasonal naive": lambda: statsforecast_peer(case, "naive"),
        "AutoETS": lambda: statsforecast_peer(case, "ets"),
        "Prophet": lambda: prophet_peer(case, sample),
    }
    rows = []
    for name, method in methods.items():
        print(f"{case.name}: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        forecast = method()
        seconds = time.perf_counter() - started
        row = {"method": name, **scores(case, forecast), "seconds": seconds}
        if name == "Prophet" and len(sample) < len(ids):
            row["seconds"] = seconds * len(ids) / len(sample)
            row["method"] = f"Prophet ({len(sample)} series; time x{len(ids) / len(sample):.1f})"
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(case: Case, table: pd.DataFrame) -> str:
    """One case's table with salescast's ratio to each peer (below 1 is better; for time, below 3 is the target)."""
    ours = table.iloc[0]
    lines = [
        f"**{case.name}** ({int(ours['series'])} series, horizon {case.horizon})",
        "",
        "| method | MASE | RMSPE | \|bias\| | cover 80% | cover 95% | seconds | salescast MASE / RMSPE / time ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, row in table.iterrows():
        ratio = "" if row["method"] == "salescast" else f"{ours['mase'] / row['mase']:.2f} / {ours['rmspe'] / row['rmspe']:.2f} / {ours['seconds'] / row['seconds']:.2f}"
        lines.append(
            f"| {row['method']} | {row['mase']:.3f} | {row['rmspe']:.3f} | {row['bias']:.1%} | {row['coverage_80']:.1%} | {row['coverage_95']:.1%} | {row['seconds']:.0f} | {ratio} |"
        )
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace this benchmark's section of benchmarks/README.md (or append it), leaving the others alone."""
    readme = README.read_text()
    start = readme.find(f"\n{SECTION}\n")
    if start < 0:
        README.write_text(readme.rstrip("\n") + "\n\n" + text + "\n")
        return
    following = readme.find("\n## ", start + 1)
    rest = readme[following:] if following >= 0 else "\n"
    README.write_text(readme[: start + 1] + text + "\n" + rest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=None, help="Rossmann stores (evenly spaced by id); default all 1,115.")
    parser.add_argument("--prophet-sample", type=int, default=60, help="Series Prophet runs on per case (its time is extrapolated).")
    parser.add_argument("--no-readme", action="store_true", help="Print the table only.")
    args = parser.parse_args(argv)
    cases = [
        (rossmann_case(args.stores), ("gbm", "naive", "ensemble"), None),
        (rossmann_weekly_case(args.stores), ("gbm", "naive", "ensemble"), None),
        (online_retail_case(), ("gbm", "ets", "naive", "ensemble"), "GB"),
    ]
    parts = []
    for case, candidates, holidays in cases:
        table = run_case(case, candidates, args.prophet_sample, holidays)
        parts.append(markdown(case, table))
        print(parts[-1] + "\n", flush=True)
    command = "python3 benchmarks/accuracy.py" + (f" --stores {args.stores}" if args.stores else "")
    text = "\n\n".join([
        SECTION, f"`{command}` ({pd.Timestamp.now():%Y-%m-%d}, 2 cores). salescast = `model: auto` over "
        "the candidates gbm (global gradient boosting with the known-future regressors; on Rossmann promo, holidays, open and, from store.csv, the competitor and Promo2) and seasonal naive "
        "(plus ets on Online Retail; tsb for intermittent series) and their ensemble (median of the candidates within 1.25x "
        "of the best's backtest MASE), picked by a 2-fold rolling-origin backtest (the best over all series, "
        "unless another wins a series in both folds by 10%) whose residuals also calibrate the conformal "
        "80/95% intervals; its time includes that selection and calibration. "
        "Peers get the plain series (closed days as 0) and their own intervals. A ratio below 1 means "
        "salescast is better (for time: below 3 is the target).",
        *parts,
    ])
    if not args.no_readme:
        write_section(text)


if __name__ == "__main__":
    main()
