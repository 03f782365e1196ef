"""Detection benchmark: how fast real slowdowns are caught, and how quiet it stays otherwise.

Sustained drops of 10%, 20% and 30% are injected into real daily series (Rossmann stores, open
days; Online Retail revenue, total and largest countries) from a seeded random open day of the
last 120 days; the daily schedule is replayed over those 120 days for salescast's monitor (the
real rules and incident tracker on the real forecaster) and two common baselines, all on the same
series and drops.

    python3 benchmarks/detection.py [--data ../shared/data] [--stores 200] [--models ets]

prints the table and writes it into the "Detection" section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
import typing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detection_data import DROP_SIZES, FOLLOW_DAYS, WINDOW_DAYS, BenchSeries, Drop, drop_start, online_retail_series, rossmann_sample  # noqa: E402
from _detection_metrics import forecast_quality, markdown, score  # noqa: E402
from _detection_global import StoredFit, TooFewSeries, global_fit  # noqa: E402
from _detection_replay import (  # noqa: E402
    HISTORY, HORIZON, LEVELS, Detector, Fit, ModelFit, PolicyDetector, ProphetBandDetector, ProphetFit,
    SameWeekdayDetector, Trace, run_group, weekly_origins,
)
from alerts import rules as rule_module  # noqa: E402
from forecaster.models import MODELS, is_global  # noqa: E402
from forecaster.settings import MonitorSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Detection"
Group = tuple[Fit | None, list[Detector]]


def rule_classes() -> list[type]:
    """Every rule kind ``alerts.rules`` offers (the members of its ``Rule`` union)."""
    union = typing.get_args(rule_module.Rule)[0]
    return list(typing.get_args(union))


def detector_groups(models: list[str]) -> list[Group]:
    """The detectors compared, grouped by the forecasts they judge against.

    Per forecaster model: salescast's default monitor policy (all its rules together) and each
    rule kind of ``alerts.rules`` alone with its defaults, through the default incident policy.
    Adding a detector is one entry here.
    """
    monitor = MonitorSettings()
    defaults = list(monitor.rules)
    kinds = [r.kind for r in defaults]
    singles = defaults + [cls(kind=kind) for cls in rule_classes() if (kind := _kind(cls)) not in kinds]
    groups: list[Group] = [(ProphetFit(), [ProphetBandDetector()]), (None, [SameWeekdayDetector()])]
    days = monitor.calibration_days
    for model in models:
        detectors = [PolicyDetector(f"salescast[{model}] policy ({'+'.join(kinds)})", model, defaults, monitor.incidents, days)]
        detectors += [PolicyDetector(f"salescast[{model}] {r.kind} only", model, [r], monitor.incidents, days) for r in singles]
        if days:
            detectors.append(PolicyDetector(f"salescast[{model}] policy, model's own bands", model, defaults, monitor.incidents, 0))
        groups.append((ModelFit(model), detectors))
    return groups


def _kind(rule_class: type) -> str:
    return typing.get_args(rule_class.model_fields["kind"].annotation)[0]


def drops_of(series: BenchSeries, seed: int) -> list[Drop]:
    """The drops injected into ``series``: every size from the same seeded start."""
    start = drop_start(series, seed)
    return [Drop(size, start) for size in DROP_SIZES]


def _run_task(fit: Fit | None, detectors: list[Detector], series: BenchSeries, seed: int) -> list[Trace]:
    return run_group(fit, detectors, series, drops_of(series, seed))


def stored_fits(model: str, series: list[BenchSeries], seed: int, workers: int) -> dict[str, StoredFit]:
    """A global model's vintages for every series (and its drops), fitted per dataset and origin."""
    out: dict[str, StoredFit] = {}
    for dataset in dict.fromkeys(s.dataset for s in series):
        members = [s for s in series if s.dataset == dataset]
        origins = sorted({o for s in members for o in weekly_origins(s)})
        print(f"  {model}: {len(origins)} weekly fits on {len(members)} {dataset} series", file=sys.stderr, flush=True)
        drops = {s.id: drops_of(s, seed) for s in members}
        fit = global_fit(model, members, drops, origins, HISTORY, HORIZON, LEVELS, workers)
        out.update({s.id: fit.only(s.id, drops[s.id]) for s in members})
    return out


def run(series: list[BenchSeries], groups: list[Group], prophet_series: int, seed: int, workers: int) -> list[Trace]:
    """Every group on every series (Prophet on the first ``prophet_series`` of each dataset), in parallel.

    A global model's vintages are fitted first, across each dataset (``_detection_global``).
    """
    datasets = {d: [s for s in series if s.dataset == d] for d in dict.fromkeys(s.dataset for s in series)}
    prophet = [s for members in datasets.values() for s in members[:prophet_series]]
    stored = {fit.model: stored_fits(fit.model, series, seed, workers) for fit, _ in groups if isinstance(fit, ModelFit) and is_global(fit.model)}
    tasks = [
        (stored[fit.model][s.id] if isinstance(fit, ModelFit) and fit.model in stored else fit, detectors, s, seed)
        for fit, detectors in groups
        for s in (prophet if isinstance(fit, ProphetFit) else series)
    ]
    traces: list[Trace] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_task, *task) for task in tasks]
        for done, future in enumerate(as_completed(futures), 1):
            traces += future.result()
            if done % max(1, len(futures) // 20) == 0 or done == len(futures):
                print(f"  {done}/{len(futures)} tasks", file=sys.stderr, flush=True)
    return traces


RESULT_FORMATS = {
    "dataset": "s", "detector": "s", "drop": "s", "series": "d", "recall_7": ".0%", "recall_14": ".0%",
    "median_delay": ".0f", "false_per_series_year": ".2f", "precision": ".0%", "seconds": ".0f",
}
RESULT_HEADERS = ["series", "detector", "drop", "n", "recall 7 d", "recall 14 d", "median delay (d)", "false alarms / series-year", "precision", "seconds"]
QUALITY_FORMATS = {
    "dataset": "s", "forecaster": "s", "days": "d", "ape": ".1f", "band80": ".1f", "band95": ".1f",
    "below80": ".1f", "below95": ".1f", "hidden20": ".0f",
}
QUALITY_HEADERS = ["series", "forecaster", "days", "median APE %", "80% band below forecast %", "95% band below %", "days below 80% band %", "below 95% band %", "20% drop hidden in band, % of days"]


def tables(traces: list[Trace], prophet_series: int, stores: int) -> tuple[str, str]:
    """The results table (Prophet's Rossmann rows marked when it ran on a subset) and the forecast-quality table."""
    results = score(traces).sort_values(["dataset", "detector", "drop"], key=lambda c: c.map(_order) if c.name == "detector" else c)
    if prophet_series < stores:
        subset = (results["detector"] == ProphetBandDetector.name) & (results["dataset"] == "Rossmann")
        results.loc[subset, "detector"] = f"{ProphetBandDetector.name} (first {prophet_series} stores only)"
    return markdown(results, RESULT_FORMATS, RESULT_HEADERS), markdown(forecast_quality(traces), QUALITY_FORMATS, QUALITY_HEADERS)


def _order(name: str) -> tuple[int, str]:
    return (0 if name.startswith("salescast") and "policy" in name else 1 if name.startswith("salescast") else 2, name)


METHOD = f"""Each series' last {WINDOW_DAYS} days are replayed day by day. A drop multiplies the actuals
from its start (a seeded random open day that leaves {FOLLOW_DAYS} days after it; the same day for
the three sizes of a series and for every detector) onwards; each drop is followed for
{FOLLOW_DAYS} days or until its first alarm. Only open days are scored (Rossmann `Open = 1` with
sales; Online Retail days with revenue). Closed days are zeros in the stored series, as the engine
stores them; as in the engine, salescast's forecaster learns from them interpolated and forecasts
the days its calendar expects closed as 0 (`forecaster/trading_days.py`).

- **Replay**: the forecaster is refitted once a week and each fit serves the days 8 to 14 after its
  last training day, so every day is judged against a forecast issued 7 to 13 days before it (the
  engine's `monitor.lead` of 7 with daily vintages); an open incident is judged against the latest
  fit issued 7 days before its baseline, as the engine does. A drifting series shares its
  unmodified twin's fits up to the drop start. Rules see deviations from 14 days before the window.
- **salescast**: the default rules of `MonitorSettings` and each rule kind of `alerts.rules` alone
  (defaults), all rules of a detector feeding one incident per series through
  `alerts.incidents.IncidentTracker` (default `IncidentPolicy`, `MemoryIncidentStore`); in alarm
  while the incident is open. Every day is fed, as in the engine, and `monitor.calendar` excuses
  what a user would configure: public holidays of the store's country and state (DE and the
  Rossmann state; GB for Online Retail) and closed days read from the data. Forecasts:
  `forecaster.forecasting.forecast_one` with the engine's defaults (horizon 28, history 730,
  80/95% intervals). `salescast[gbm]` is the global gradient-boosting model of `salescast
  forecast --model gbm`: refitted each week across all unmodified series of the data set (their
  last 730 days; Rossmann with promo, state and school holidays and open as known-future
  inputs), conformal 80/95% intervals from a 2-fold backtest of the same panel (the command's
  default is 3 folds); that week's fit also forecasts each drifting copy from its own history
  (`benchmarks/_detection_global.py`).
- **Prophet 95% band**: `Prophet(interval_width=0.95)` otherwise default, fitted on the open days,
  same weekly vintages; an open day below the lower bound is an alarm.
- **8-week same weekday**: an open day below 70% of the mean of the same weekday's open days in
  the 8 weeks before it (judged when at least 4 of them were open).
- **Metrics**: an *episode* is a run of consecutive scored days in alarm. A drop is *detected* on
  the first day on or after its start on which the detector tells people something new: any alarm
  day for the baselines (they alert daily), an incident opened or escalated for salescast (an
  incident already open at the start counts only once it escalates). *Delay* is the calendar days
  from the start to that day (0 = its first day), recall within k days = delay < k. *Median delay* is over all drops, a missed one
  counting as never. *False alarms / series-year* = episodes on the unmodified series per
  {WINDOW_DAYS} days x series / 365. *Precision* = detected drops / (detected drops + false
  episodes of the unmodified series + episodes begun before the start in the drifting ones).
  *Seconds*: wall time of the detector's forecasts and rules in its worker process (a
  forecaster's time is split equally among the detectors that share it)."""


def write_readme(command: str, results: str, quality: str, wall: float, series: int) -> None:
    """Replace (or append) the Detection section of benchmarks/README.md."""
    body = (
        f"{SECTION}\n\n`{command}` ({dt.date.today().isoformat()}, {series} series, {wall / 60:.1f} min wall on "
        f"this machine).\n\n{METHOD}\n\n{results}\n\nForecast quality on the unmodified series' judged days:\n\n{quality}\n"
    )
    text = README.read_text()
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## (?!Detection\n)|\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body + "\n", text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    README.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder (default ../shared/data)")
    parser.add_argument("--stores", type=int, default=200, help="Rossmann stores (a fixed seeded sample; default 200)")
    parser.add_argument("--countries", type=int, default=4, help="largest Online Retail countries besides the total (default 4)")
    parser.add_argument("--prophet-stores", type=int, default=40, help="series per dataset the Prophet baseline runs on (default 40)")
    parser.add_argument("--models", default="ets", help="forecaster models for salescast, comma-separated: auto or a model name (default ets)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drop starts (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m != "auto" and m not in MODELS]
    if unknown or not models:
        parser.error(f"--models: unknown {unknown or 'empty list'}; choose from auto, {', '.join(sorted(MODELS))}")
    if args.stores < 1 or args.workers < 1 or args.prophet_stores < 0:
        parser.error("--stores and --workers must be at least 1, --prophet-stores at least 0")
    started = time.perf_counter()
    try:
        series = rossmann_sample(args.data, args.stores) + online_retail_series(args.data, args.countries)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    try:
        traces = run(series, detector_groups(models), args.prophet_stores, args.seed, args.workers)
    except TooFewSeries as exc:
        parser.error(str(exc))
    results, quality = tables(traces, args.prophet_stores, args.stores)
    wall = time.perf_counter() - started
    print(results, "\n", quality, f"\n{len(series)} series in {wall / 60:.1f} min", sep="\n")
    if not args.no_readme:
        command = " ".join(["python3 benchmarks/detection.py", *(sys.argv[1:] if argv is None else argv)])
        write_readme(command, results, quality, wall, len(series))


if __name__ == "__main__":
    main()
