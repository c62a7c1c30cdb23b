"""Figure 7 (``fig7``): the cluster radius r / ||w_bar - u_bar|| and the largest in-group angle fall towards 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lt_teacher.plotting import Panel, Series, curves_figure

from ..claims import ClaimEvaluator, seeds_text, with_fallbacks
from ..config import ConfigError, LoadedConfig
from ..diagnosis import LinearRegionDiagnosis
from ..report import Report, fmt, fmt_list
from ..runner import Context, RunResult
from ..schema import InitScales, read_section
from ..settings import ExperimentSettings
from ._common import add_distances_figure, add_runs, base_report, checked_pairs, diagnose_failure, largest_angle, save_figure


@dataclass(frozen=True)
class ClusteringCriteria:
    """``criteria:`` of Figure 7: the thresholds of its verdicts."""

    fall_factor: float = 0.1  # last value <= fall_factor x the value at epoch 0 (and still falling)


def clustering_evaluator(factor: float) -> ClaimEvaluator:
    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        h = result.history
        mid = h[len(h) // 2]
        ratio = [row["cluster/radius_ratio"] for row in (h[0], mid, h[-1])]
        angle = [float(np.mean(largest_angle(result, row))) for row in (h[0], mid, h[-1])]
        epochs = [int(row["epoch"]) for row in (h[0], mid, h[-1])]
        ok = all(v[2] <= factor * v[0] and v[2] < v[1] for v in (ratio, angle))
        text = (f"r/‖w̄−ū‖ at epochs {epochs}: {fmt_list(ratio)}; largest in-group angle (rad): {fmt_list(angle)} "
                "(means over seeds)")
        return text, ok, {"epochs": epochs, "radius_ratio": ratio, "largest_angle": angle}

    return evaluate


def run_clustering(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("init", "mnist", "pairs", "fallback"), ClusteringCriteria)
    init = read_section(InitScales, settings.resolved.get("init"), settings.where, "init")
    report = base_report(settings, command, ("data", "mnist", "pairs", "model", "init", "trainer", "schedule", "seed_everything"))
    factor = float(settings.criteria.fall_factor)
    datasets: list[tuple[str, dict[str, Any]]] = []
    if settings.data:
        if settings.data.get("kind", "gaussian") != "gaussian":
            raise ConfigError(f"{settings.where}: `data` holds the Gaussian runs (kind: gaussian); MNIST runs go in `mnist` and `pairs`.")
        datasets.append((f"Gaussian d={settings.data.get('dim', 2)}", dict(settings.data)))
    pairs = settings.resolved.get("pairs") or []
    if pairs:
        mnist = settings.resolved.get("mnist")
        if not isinstance(mnist, Mapping):
            raise ConfigError(f"{settings.where}: `pairs` needs the MNIST settings in `mnist` (data_dir, normalize, ...).")
        datasets += [(f"MNIST {a} vs {b}", {**dict(mnist), "kind": "mnist", "digits": [a, b]}) for a, b in checked_pairs(settings, pairs)]
    if not datasets:
        raise ConfigError(f"{settings.where}: nothing to train: give `data` (Gaussian) and/or `mnist` with `pairs`.")
    shown: list[tuple[int, str, RunResult]] = []  # (colour, style, run): the config's run, dashed the fallback where it holds
    diagnosed: list[LinearRegionDiagnosis] = []
    for index, (label, data) in enumerate(datasets):
        spec = settings.spec(f"{label}, init std {init.small}", data, {**settings.model, "init_std": float(init.small)})
        attempts = with_fallbacks(ctx, spec, clustering_evaluator(factor), settings.fallbacks())
        shown.append((index, "-", attempts.config_run))
        if attempts.found_at:
            shown.append((index, "--", attempts.runs[-1]))
        report.claims.append(attempts.as_claim(
            f"{label}: r/‖w̄−ū‖ and the largest in-group angle fall towards 0",
            f"init std {init.small}, {seeds_text(attempts.config_run)}",
            f"for both measures: last <= {fmt(factor)} x epoch 0, and last < middle evaluation (still falling)",
        ))
        add_runs(report, attempts.runs)
        if not attempts.holds:
            diagnosed.extend(diagnose_failure(report, len(report.claims) - 1, attempts))
    ratio_series, angle_series = [], []
    for index, style, run in shown:
        name = run.spec.label.split(",")[0] + (" " + run.spec.label[run.spec.label.index("[") :] if "[" in run.spec.label else "")
        epochs, mean, std = run.curve("cluster/radius_ratio")
        ratio_series.append(Series(name, epochs, mean, std, style, color=index))
        per_row = np.array([largest_angle(run, row) for row in run.history])
        spread = per_row.std(axis=1, ddof=1) if per_row.shape[1] > 1 else np.zeros(len(per_row))
        angle_series.append(Series(name, epochs, per_row.mean(axis=1), spread, style, color=index))
    fig = curves_figure(
        [Panel("(a) r / ‖w̄ − ū‖", "ratio", ratio_series, logy=True), Panel("(b) largest angle within a group", "radians", angle_series, logy=True)],
        f"{settings.name}: clustering measures during training (init std {init.small}; dashed: the fallback where the claim holds)",
    )
    report.figures.append((save_figure(settings, fig, out, "clustering.png"), "Clustering measures per epoch (log scale) at the config's init std (solid) and at the fallback init std where the claim holds (dashed); line: mean over seeds, band: +- one standard deviation."))
    add_distances_figure(report, out, settings, diagnosed)
    return report
