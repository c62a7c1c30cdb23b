"""Figures 2 and 6 (``fig2-gaussian``, ``fig2-mnist``): the fraction of points outside Theorem 5.1's linear region
falls to 0 for a small initialization, not for a large one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lt_teacher.plotting import Panel, Series, curves_figure

from ..claims import ClaimEvaluator, seeds_text, with_fallbacks
from ..config import ConfigError, LoadedConfig
from ..diagnosis import LinearRegionDiagnosis
from ..report import Claim, Report, fmt
from ..runner import Context, RunResult, train
from ..schema import InitScales, read_section
from ..settings import ExperimentSettings
from ._common import add_distances_figure, add_runs, base_report, checked_pairs, diagnose_failure, save_figure


@dataclass(frozen=True)
class LinearRegionCriteria:
    """``criteria:`` of Figures 2 and 6: the thresholds of its verdicts."""

    zero_at_most: float = 0.01  # "reaches 0": mean over seeds of the train and the test fraction, last epoch
    large_at_least: float = 0.5  # "does not": mean over seeds, last epoch


def datasets_of(settings: ExperimentSettings) -> list[tuple[str, dict[str, Any]]]:
    """(label, data) per data set: one per MNIST pair in ``pairs``, else the single ``data``."""
    data = dict(settings.data)
    pairs = settings.resolved.get("pairs")
    if data.get("kind") == "mnist":
        return [(f"MNIST {a} vs {b}", {**data, "digits": [a, b]}) for a, b in checked_pairs(settings, pairs)]
    if pairs:
        raise ConfigError(f"{settings.where}: `pairs` applies to data.kind: mnist only, got data.kind {data.get('kind')!r}.")
    label = f"Gaussian d={data.get('dim', 2)}"
    return [(label, data)]


def outside_evaluator(limit: float) -> ClaimEvaluator:
    """The Figure 2 criterion on the mean over seeds (the paper's curves are means over 5 initializations)."""

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        train_v = result.per_seed("linear_region/outside_fraction/train")
        test_v = result.per_seed("linear_region/outside_fraction/test")
        train_mean = result.last["linear_region/outside_fraction/train"]
        test_mean = result.last["linear_region/outside_fraction/test"]
        text = f"mean over seeds: train {fmt(train_mean)}, test {fmt(test_mean)} (max over seeds {fmt(max(train_v))}, {fmt(max(test_v))})"
        return text, max(train_mean, test_mean) <= limit, {"train": train_v, "test": test_v, "train_mean": train_mean, "test_mean": test_mean}

    return evaluate


def run_linear_region(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("init", "pairs", "fallback"), LinearRegionCriteria)
    init = read_section(InitScales, settings.resolved.get("init"), settings.where, "init")
    report = base_report(settings, command, ("data", "pairs", "model", "init", "trainer", "schedule", "seed_everything"))
    zero, large_min = float(settings.criteria.zero_at_most), float(settings.criteria.large_at_least)
    small_results: list[tuple[int, RunResult]] = []
    large_results: list[tuple[int, RunResult]] = []
    fallback_results: list[tuple[int, RunResult]] = []
    diagnosed: list[LinearRegionDiagnosis] = []
    for index, (label, data) in enumerate(datasets_of(settings)):
        small_spec = settings.spec(f"{label}, init std {init.small}", data, {**settings.model, "init_std": float(init.small)})
        attempts = with_fallbacks(ctx, small_spec, outside_evaluator(zero), settings.fallbacks())
        runs = attempts.runs
        small_results.append((index, attempts.config_run))
        if len(runs) > 1:
            fallback_results.append((index, runs[-1]))
        small_claim = len(report.claims)
        report.claims.append(attempts.as_claim(
            f"{label}: small init -> fraction of train and test points outside the Theorem 5.1 region reaches 0",
            f"init std {init.small}, {seeds_text(attempts.config_run)}",
            f"mean over seeds of the train and of the test fraction at the last epoch <= {fmt(zero)}",
        ))
        large = train(settings.spec(f"{label}, init std {init.large}", data, {**settings.model, "init_std": float(init.large)}), ctx)
        large_results.append((index, large))
        train_mean = large.last["linear_region/outside_fraction/train"]
        test_mean = large.last["linear_region/outside_fraction/test"]
        report.claims.append(Claim(
            claim=f"{label}: large init -> the fraction does not reach 0",
            setting=f"init std {init.large}, {seeds_text(large)}",
            measured=f"mean over seeds: train {fmt(train_mean)}, test {fmt(test_mean)}",
            criterion=f"mean train and test fraction at the last epoch >= {fmt(large_min)}",
            holds=min(train_mean, test_mean) >= large_min, values={"train_mean": train_mean, "test_mean": test_mean},
        ))
        add_runs(report, runs + [large])
        if not attempts.holds:
            diagnosed.extend(diagnose_failure(report, small_claim, attempts))
    add_distances_figure(report, out, settings, diagnosed)
    panels = [
        _outside_panel(f"(a) small init (std {init.small})", small_results, zero),
        _outside_panel(f"(b) large init (std {init.large})", large_results, None),
    ]
    if fallback_results:
        panels.append(_outside_panel("(c) small init: the last fallback setting tried", fallback_results, zero))
    fig = curves_figure(panels, f"{settings.name}: fraction of points outside Theorem 5.1's linear region (mean +- std over seeds)")
    report.figures.append((save_figure(settings, fig, out, "outside_fraction.png"),
                           "Fraction of train (dashed) and test (solid) points outside Theorem 5.1's region per epoch; "
                           "line: mean over seeds, band: +- one standard deviation."))
    return report

def _outside_panel(title: str, results: Sequence[tuple[int, RunResult]], hline: float | None) -> Panel:
    """Test (solid) and train (dashed) fractions of each run, one colour per data set."""
    series: list[Series] = []
    for i, result in results:
        label = result.spec.label
        short = label.split(",")[0] + (" " + label[label.index("["):] if "[" in label else "")
        for key, split, style in (("linear_region/outside_fraction/test", "test", "-"), ("linear_region/outside_fraction/train", "train", "--")):
            epochs, mean, std = result.curve(key)
            series.append(Series(f"{short} {split}", epochs, mean, std, style, color=i))
    return Panel(title, "fraction outside", series, ylim=(-0.02, 1.02), clip=(0.0, 1.0), hline=hline)
