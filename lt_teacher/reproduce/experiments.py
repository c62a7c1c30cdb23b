"""The reproductions: for each figure of the paper, its runs, its claims (with thresholds) and its figures.

Each ``run_<experiment>`` takes a resolved config, trains its runs through :func:`runner.train`
(identical runs are shared within an invocation) and returns a :class:`Report`. Every number of a
claim is read from the monitors' float64 histories (``RunResult.history``, last row = last epoch) or,
for the 2-D boundary, measured on the final networks with :mod:`.measures`. When a claim fails at
the paper's setting, the config's ``fallback`` settings are tried in order and the first one where it
holds is reported ("holds at ...").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_teacher.plotting import decision_boundary_figure, neuron_figure

from .config import ConfigError, LoadedConfig, require_keys, section
from .diagnosis import LinearRegionDiagnosis, diagnose_linear_region, diagnose_nar_seed, linear_region_paragraph, nar_paragraph
from .figures import Panel, Series, curves_figure, distances_figure, heatmap_figure, landscape_figure, save_compact_png
from .measures import network_nonlinearity
from .premise import add_premises
from .report import Claim, Report, fmt, fmt_list
from .runner import Context, RunResult, RunSpec, train, wandb_settings

COMMON_KEYS = ("name", "experiment", "title", "paper", "notes", "data", "model", "train", "criteria")
TRAIN_DEFAULTS = {"epochs": 100, "evaluations": 20, "steps_per_epoch": 4, "seed": 0}
Evaluate = Callable[[RunResult], tuple[str, bool, dict[str, Any]]]


# ----------------------------------------------------------------------------- config helpers
class Setup:
    """The pieces of a config every experiment uses, validated."""

    def __init__(self, cfg: LoadedConfig, extra_keys: Sequence[str], criteria_defaults: Mapping[str, float]) -> None:
        s = cfg.settings
        self.cfg = cfg
        self.name = cfg.name
        where = f"config {cfg.name!r} ({cfg.source})"
        require_keys(s, {k: None for k in (*COMMON_KEYS, *extra_keys)}, where)
        self.where = where
        self.train = section(s, "train", TRAIN_DEFAULTS, where)
        self.criteria = section(s, "criteria", criteria_defaults, where)
        self.model = dict(s.get("model") or {})
        self.data = dict(s.get("data") or {})
        self.settings = s

    def spec(self, label: str, data: Mapping[str, Any], model: Mapping[str, Any], **flags: Any) -> RunSpec:
        data = dict(data)
        kind = data.pop("kind", "gaussian")
        return RunSpec(
            experiment=self.name, label=label, data_kind=kind, data=data, model=dict(model),
            epochs=int(self.train["epochs"]), evaluations=int(self.train["evaluations"]),
            steps_per_epoch=int(self.train["steps_per_epoch"]), seed=int(self.train["seed"]), **flags,
        )

    def fallbacks(self) -> list[dict[str, Any]]:
        value = self.settings.get("fallback") or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{self.where}: `fallback` must be a list of overrides like {{model: {{init_std: 1.0e-4}}}}, got {value!r}.")
        return value


def describe_override(override: Mapping[str, Any]) -> str:
    """``{"model": {"init_std": 1e-4}}`` -> ``model.init_std=0.0001``."""
    parts: list[str] = []
    for key, value in override.items():
        if isinstance(value, Mapping):
            parts += [f"{key}.{k}={v}" for k, v in value.items()]
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += flatten(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    return [(prefix, value)]


def setting_tables(settings: Mapping[str, Any], sections: Sequence[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(stated, choices): the paper's stated values against the ones used, and every other setting with its note."""
    paper = settings.get("paper") or {}
    states = dict(paper.get("states") or {}) if isinstance(paper, Mapping) else {}
    notes = dict(settings.get("notes") or {})
    used = dict(item for name in sections if name in settings for item in flatten(name, settings[name]))
    stated: list[tuple[str, str]] = []
    for key, paper_value in states.items():
        value = used.get(key, paper_value)
        same = str(value) == str(paper_value)
        stated.append((key, f"{value}" if same else f"{value} (paper: {paper_value}; changed in this config)"))
    choices = [(k, f"{v}", str(notes.get(k, ""))) for k, v in used.items() if k not in states]
    return stated, choices


def base_report(setup: Setup, command: str, sections: Sequence[str]) -> Report:
    s = setup.settings
    paper = s.get("paper") or {}
    stated, choices = setting_tables(s, sections)
    source = f"lt_teacher/reproduce/configs/{setup.name}.yaml" if setup.cfg.packaged else setup.cfg.source
    return Report(
        name=setup.name, title=str(s.get("title", setup.name)), paper=str(paper.get("shows", "")) if isinstance(paper, Mapping) else str(paper),
        command=command, config_source=source, scale=setup.cfg.scale, stated=stated, choices=choices,
    )


def run_row(result: RunResult) -> dict[str, Any]:
    return {
        "label": result.spec.label, "seeds": result.num_seeds, "epochs": result.spec.epochs,
        "n_train": int(result.splits["train"][0].shape[0]), "sgd_steps": result.sgd_steps,
        "seconds": round(result.seconds, 3), "wandb": result.wandb_dir,
    }


def add_runs(report: Report, results: Sequence[RunResult]) -> None:
    add_premises(report, results)
    seen = {row["label"] for row in report.runs}
    for result in results:
        if result.spec.label not in seen:
            report.runs.append(run_row(result))
            seen.add(result.spec.label)
        note = f"Data: {result.data_note}" if result.data_note else None
        if note and note not in report.notes:
            report.notes.append(note)


@dataclass
class Checked:
    """A claim evaluated at the config's setting and, if it failed there, at the fallback settings in turn."""

    result: RunResult  # the run at the config's setting
    measured: str
    holds: bool
    values: dict[str, Any]
    found_at: str | None  # the fallback setting where it holds (and its measured text), if any
    tried: list[tuple[str, str, bool]]  # (setting, measured, holds) of every setting tried, in order
    runs: list[RunResult]  # every run trained for it

    def claim(self, claim: str, setting: str, criterion: str) -> Claim:
        return Claim(claim=claim, setting=setting, measured=self.measured, criterion=criterion, holds=self.holds,
                     values=self.values, found_at=self.found_at, tried=self.tried)


def with_fallbacks(ctx: Context, spec: RunSpec, evaluate: Evaluate, fallbacks: Sequence[Mapping[str, Any]]) -> Checked:
    """Evaluate a claim on ``spec``; if it fails, on each fallback in turn until it holds."""
    first = train(spec, ctx)
    measured, holds, values = evaluate(first)
    checked = Checked(first, measured, holds, values, None, [("the config's setting", measured, holds)], [first])
    if holds:
        return checked
    for override in fallbacks:
        text = describe_override(override)
        alt = train(spec.with_overrides(dict(override), label=f"{spec.label} [{text}]"), ctx)
        checked.runs.append(alt)
        alt_measured, alt_holds, _ = evaluate(alt)
        checked.tried.append((text, alt_measured, alt_holds))
        if alt_holds:
            checked.found_at = f"{text} ({alt_measured})"
            break
    return checked


def seeds_text(result: RunResult) -> str:
    return f"{result.num_seeds} seed{'s' if result.num_seeds > 1 else ''}, epoch {int(result.last['epoch'])}"


def _save(setup: Setup, fig: Any, folder: Path, name: str) -> str:
    """Write ``fig`` as ``folder/name``; a run with ``--set`` overrides says so in the figure's title."""
    if setup.cfg.overrides:
        changed = "with --set " + ", ".join(setup.cfg.overrides)
        current = fig.get_suptitle()
        fig.suptitle(f"{current}\n[{changed}]" if current else f"{setup.name} [{changed}]", fontsize="medium")
    save_compact_png(fig, folder / name)
    fig.clear()
    return name


def _series(result: RunResult, key: str, label: str, style: str = "-") -> Series:
    epochs, mean, std = result.curve(key)
    return Series(label, epochs, mean, std, style)


# ----------------------------------------------------------------------------- Figure 2 / 6
LINEAR_REGION_CRITERIA = {"zero_at_most": 0.01, "large_at_least": 0.5}


def datasets_of(setup: Setup) -> list[tuple[str, dict[str, Any]]]:
    """(label, data) per data set: one per MNIST pair in ``pairs``, else the single ``data``."""
    data = dict(setup.data)
    pairs = setup.settings.get("pairs")
    if data.get("kind") == "mnist":
        if not pairs or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise ConfigError(f"{setup.where}: MNIST data needs `pairs`, a list like [[0, 1], [3, 5]], got {pairs!r}.")
        return [(f"MNIST {a} vs {b}", {**data, "digits": [int(a), int(b)]}) for a, b in pairs]
    if pairs:
        raise ConfigError(f"{setup.where}: `pairs` applies to data.kind: mnist only, got data.kind {data.get('kind')!r}.")
    label = f"Gaussian d={data.get('dim', 2)}"
    return [(label, data)]


def outside_evaluator(limit: float) -> Evaluate:
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
    setup = Setup(cfg, ("init", "pairs", "fallback"), LINEAR_REGION_CRITERIA)
    init = section(setup.settings, "init", {"small": 1e-3, "large": 30.0}, setup.where)
    report = base_report(setup, command, ("data", "pairs", "model", "init", "train"))
    zero, large_min = float(setup.criteria["zero_at_most"]), float(setup.criteria["large_at_least"])
    small_results: list[tuple[int, RunResult]] = []
    large_results: list[tuple[int, RunResult]] = []
    fallback_results: list[tuple[int, RunResult]] = []
    diagnosed: list[LinearRegionDiagnosis] = []
    for index, (label, data) in enumerate(datasets_of(setup)):
        small_spec = setup.spec(f"{label}, init std {init['small']}", data, {**setup.model, "init_std": float(init["small"])})
        checked = with_fallbacks(ctx, small_spec, outside_evaluator(zero), setup.fallbacks())
        runs = checked.runs
        small_results.append((index, checked.result))
        if len(runs) > 1:
            fallback_results.append((index, runs[-1]))
        small_claim = len(report.claims)
        report.claims.append(checked.claim(
            f"{label}: small init -> fraction of train and test points outside the Theorem 5.1 region reaches 0",
            f"init std {init['small']}, {seeds_text(checked.result)}",
            f"mean over seeds of the train and of the test fraction at the last epoch <= {fmt(zero)}",
        ))
        large = train(setup.spec(f"{label}, init std {init['large']}", data, {**setup.model, "init_std": float(init["large"])}), ctx)
        large_results.append((index, large))
        train_mean = large.last["linear_region/outside_fraction/train"]
        test_mean = large.last["linear_region/outside_fraction/test"]
        report.claims.append(Claim(
            claim=f"{label}: large init -> the fraction does not reach 0",
            setting=f"init std {init['large']}, {seeds_text(large)}",
            measured=f"mean over seeds: train {fmt(train_mean)}, test {fmt(test_mean)}",
            criterion=f"mean train and test fraction at the last epoch >= {fmt(large_min)}",
            holds=min(train_mean, test_mean) >= large_min, values={"train_mean": train_mean, "test_mean": test_mean},
        ))
        add_runs(report, runs + [large])
        if not checked.holds:
            diagnosed.extend(_diagnose_failure(report, small_claim, checked))
    _add_distances_figure(report, out, setup, diagnosed)
    panels = [
        _outside_panel(f"(a) small init (std {init['small']})", small_results, zero),
        _outside_panel(f"(b) large init (std {init['large']})", large_results, None),
    ]
    if fallback_results:
        panels.append(_outside_panel("(c) small init: the last fallback setting tried", fallback_results, zero))
    fig = curves_figure(panels, f"{setup.name}: fraction of points outside Theorem 5.1's linear region (mean +- std over seeds)")
    report.figures.append((_save(setup, fig, out, "outside_fraction.png"),
                           "Fraction of train (dashed) and test (solid) points outside Theorem 5.1's region per epoch; "
                           "line: mean over seeds, band: +- one standard deviation."))
    return report


def _diagnose_failure(report: Report, claim_index: int, checked: Checked) -> list[LinearRegionDiagnosis]:
    """Measure why claim ``claim_index`` fails: at the config's setting and, if every fallback failed too, at the last one."""
    runs = [checked.result]
    if checked.found_at is None and len(checked.runs) > 1:
        runs.append(checked.runs[-1])
    found = []
    for run in runs:
        diagnosis = diagnose_linear_region(run)
        found.append(diagnosis)
        report.causes.append(f"Claim {claim_index + 1}: " + linear_region_paragraph(diagnosis))
        report.extra.setdefault("diagnosis", []).append({"claim": claim_index + 1, **diagnosis.as_dict()})
    return found


def _add_distances_figure(report: Report, out: Path, setup: Setup, diagnosed: Sequence[LinearRegionDiagnosis]) -> None:
    """The neuron-distance figure of the diagnosed runs (none when every claim held)."""
    if not diagnosed:
        return
    fig = distances_figure(
        [(d.run, [s.distance_ratios for s in d.seeds], float(np.median([s.median_abs_cosine for s in d.seeds]))) for d in diagnosed],
        f"{setup.name}: what sets the cluster radius r where the claim does not hold",
    )
    report.figures.append((_save(setup, fig, out, "neuron_distances.png"),
                           "Each neuron's distance from its group mean over ‖w̄−ū‖, largest first (rank 1 is r), per seed, "
                           "for the runs where the claim does not hold; dashed: the r/‖w̄−ū‖ below which half the points "
                           "would be inside Theorem 5.1's region."))


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


# ----------------------------------------------------------------------------- Figure 7
CLUSTERING_CRITERIA = {"fall_factor": 0.1}


def largest_angle(result: RunResult, row: dict[str, float]) -> list[float]:
    """Per seed: the largest in-group angle, max(max_angle_w, max_angle_u) (radians), from one history row."""
    w = result.per_seed("cluster/max_angle_w", row)
    u = result.per_seed("cluster/max_angle_u", row)
    return [max(a, b) for a, b in zip(w, u)]


def clustering_evaluator(factor: float) -> Evaluate:
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
    setup = Setup(cfg, ("init", "mnist", "pairs", "fallback"), CLUSTERING_CRITERIA)
    init = section(setup.settings, "init", {"small": 1e-3}, setup.where)
    report = base_report(setup, command, ("data", "mnist", "pairs", "model", "init", "train"))
    factor = float(setup.criteria["fall_factor"])
    datasets: list[tuple[str, dict[str, Any]]] = []
    if setup.data:
        if setup.data.get("kind", "gaussian") != "gaussian":
            raise ConfigError(f"{setup.where}: `data` holds the Gaussian runs (kind: gaussian); MNIST runs go in `mnist` and `pairs`.")
        datasets.append((f"Gaussian d={setup.data.get('dim', 2)}", dict(setup.data)))
    pairs = setup.settings.get("pairs") or []
    if pairs:
        mnist = setup.settings.get("mnist")
        if not isinstance(mnist, Mapping):
            raise ConfigError(f"{setup.where}: `pairs` needs the MNIST settings in `mnist` (data_dir, normalize, ...).")
        datasets += [(f"MNIST {a} vs {b}", {**dict(mnist), "kind": "mnist", "digits": [int(a), int(b)]}) for a, b in pairs]
    if not datasets:
        raise ConfigError(f"{setup.where}: nothing to train: give `data` (Gaussian) and/or `mnist` with `pairs`.")
    shown: list[tuple[int, str, RunResult]] = []  # (colour, style, run): the config's run, dashed the fallback where it holds
    diagnosed: list[LinearRegionDiagnosis] = []
    for index, (label, data) in enumerate(datasets):
        spec = setup.spec(f"{label}, init std {init['small']}", data, {**setup.model, "init_std": float(init["small"])})
        checked = with_fallbacks(ctx, spec, clustering_evaluator(factor), setup.fallbacks())
        shown.append((index, "-", checked.result))
        if checked.found_at:
            shown.append((index, "--", checked.runs[-1]))
        report.claims.append(checked.claim(
            f"{label}: r/‖w̄−ū‖ and the largest in-group angle fall towards 0",
            f"init std {init['small']}, {seeds_text(checked.result)}",
            f"for both measures: last <= {fmt(factor)} x epoch 0, and last < middle evaluation (still falling)",
        ))
        add_runs(report, checked.runs)
        if not checked.holds:
            diagnosed.extend(_diagnose_failure(report, len(report.claims) - 1, checked))
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
        f"{setup.name}: clustering measures during training (init std {init['small']}; dashed: the fallback where the claim holds)",
    )
    report.figures.append((_save(setup, fig, out, "clustering.png"), "Clustering measures per epoch (log scale) at the config's init std (solid) and at the fallback init std where the claim holds (dashed); line: mean over seeds, band: +- one standard deviation."))
    _add_distances_figure(report, out, setup, diagnosed)
    return report


# ----------------------------------------------------------------------------- Figure 1
BOUNDARY_CRITERIA = {"linear_at_most": 0.01, "tight_angle_at_most": 0.1, "spread_angle_at_least": 1.0}


def run_boundary_2d(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("init", "fallback", "resolution"), BOUNDARY_CRITERIA)
    init = section(setup.settings, "init", {"small": 1e-3, "large": 30.0}, setup.where)
    resolution = int(setup.settings.get("resolution", 1440))
    report = base_report(setup, command, ("data", "model", "init", "train", "resolution"))
    if int(setup.data.get("dim", 2)) != 2 or setup.model.get("bias") or setup.data.get("append_bias"):
        raise ConfigError(f"{setup.where}: Figure 1 draws 2-D boundaries of networks without bias: data.dim must be 2 and no bias.")
    c = setup.criteria
    lin_max, tight, spread = float(c["linear_at_most"]), float(c["tight_angle_at_most"]), float(c["spread_angle_at_least"])

    def nonlinearity(result: RunResult) -> list[float]:
        return [network_nonlinearity(result.w(s), result.u(s), result.alpha, result.v, resolution) for s in range(result.num_seeds)]

    def small_eval(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        nl, angles = nonlinearity(result), largest_angle(result, result.last)
        ok = max(nl) <= lin_max and max(angles) <= tight
        return (f"nonlinearity max over seeds {fmt(max(nl))}; largest in-group angle max over seeds {fmt(max(angles))} rad",
                ok, {"nonlinearity": nl, "largest_angle": angles})

    small_spec = setup.spec(f"2-D, init std {init['small']}", setup.data, {**setup.model, "init_std": float(init["small"])}, plots=True)
    checked = with_fallbacks(ctx, small_spec, small_eval, setup.fallbacks())
    small, runs = checked.result, checked.runs
    report.claims.append(checked.claim(
        "small init: a linear decision boundary and two tight neuron clusters",
        f"init std {init['small']}, {seeds_text(small)}",
        f"every seed: angular nonlinearity <= {fmt(lin_max)} and largest in-group angle <= {fmt(tight)} rad",
    ))
    large = train(setup.spec(f"2-D, init std {init['large']}", setup.data, {**setup.model, "init_std": float(init["large"])}, plots=True), ctx)
    nl_large, angles_large = nonlinearity(large), largest_angle(large, large.last)
    report.claims.append(Claim(
        claim="large init: neither (a nonlinear boundary, no clusters)",
        setting=f"init std {init['large']}, {seeds_text(large)}",
        measured=f"nonlinearity min over seeds {fmt(min(nl_large))}; largest in-group angle min over seeds {fmt(min(angles_large))} rad",
        criterion=f"every seed: angular nonlinearity > {fmt(lin_max)} and largest in-group angle >= {fmt(spread)} rad",
        holds=min(nl_large) > lin_max and min(angles_large) >= spread,
        values={"nonlinearity": nl_large, "largest_angle": angles_large},
    ))
    add_runs(report, runs + [large])
    report.notes.append(
        "Angular nonlinearity: the network has no bias, so sign N(x) depends on the direction of x only; the value is the "
        f"smallest share of {resolution} directions on the unit circle where sign N differs from a linear classifier "
        "sign(cos(φ − θ)), minimised over θ (0 = exactly linear)."
    )
    for tag, result, caption in (("large", large, "(a) large init"), ("small", small, "(b) small init")):
        x, y = result.splits["train"]
        fig = decision_boundary_figure(result.w(0), result.u(0), result.alpha, result.v, x, y, grid_size=160,
                                       title=f"{caption}: sign N(x), seed 0", size=(4.0, 4.0))
        report.figures.append((_save(setup, fig, out, f"boundary_{tag}_init.png"), f"{caption} (std {result.spec.model['init_std']}): decision regions, training points and Theorem 5.1's line (seed 0)."))
    for tag, result, caption in (("large", large, "(c) large init"), ("small", small, "(d) small init")):
        fig = neuron_figure(result.w(0), result.u(0), title=f"{caption}: normalized neurons, seed 0", size=(4.0, 4.0))
        report.figures.append((_save(setup, fig, out, f"neurons_{tag}_init.png"), f"{caption}: the 100 neurons normalized to unit length (seed 0)."))
    return report


# ----------------------------------------------------------------------------- Figure 3
PAR_SOLUTION_CRITERIA = {"direction_cosine_at_least": 0.99, "neuron_cosine_at_least": 0.95}


def run_par_solution(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("fallback",), PAR_SOLUTION_CRITERIA)
    report = base_report(setup, command, ("data", "model", "train"))
    if int(setup.data.get("dim", 2)) != 2:
        raise ConfigError(f"{setup.where}: Figure 3 draws the plane: data.dim must be 2.")
    direction_min = float(setup.criteria["direction_cosine_at_least"])
    neuron_min = float(setup.criteria["neuron_cosine_at_least"])

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        last = result.par_history[-1]
        cos = last["par_solution/cosine_direction"]
        angle = math.degrees(math.acos(min(1.0, max(-1.0, cos))))
        return f"cos {fmt(cos)} (angle {fmt(angle)}°)", cos >= direction_min, {"cosine_direction": cos, "angle_degrees": angle}

    spec = setup.spec(f"2-D, init std {setup.model.get('init_std')}", setup.data, setup.model, par_solution=True, plots=True)
    checked = with_fallbacks(ctx, spec, evaluate, setup.fallbacks())
    result, runs = checked.result, checked.runs
    last = result.par_history[-1]
    report.claims.append(checked.claim(
        "the learned decision direction w̄ − ū agrees with the Eq. (7) solution w − u",
        f"seed 0, epoch {int(last['epoch'])}",
        f"cos(w̄ − ū, w_svm − u_svm) at the last epoch >= {fmt(direction_min)}",
    ))
    min_w, min_u = last["par_solution/min_cosine_w"], last["par_solution/min_cosine_u"]
    report.claims.append(Claim(
        claim="every learned neuron points along its Eq. (7) direction (Figure 3b)",
        setting=f"seed 0, epoch {int(last['epoch'])}",
        measured=f"min cos over w-neurons {fmt(min_w)}, over u-neurons {fmt(min_u)}; cos(w̄, w_svm) {fmt(last['par_solution/cosine_w'])}, cos(ū, u_svm) {fmt(last['par_solution/cosine_u'])}",
        criterion=f"min over neurons of cos(neuron, its Eq. (7) direction) >= {fmt(neuron_min)}",
        holds=min(min_w, min_u) >= neuron_min, values={"min_cosine_w": min_w, "min_cosine_u": min_u},
    ))
    fw, fu = result.per_seed("par/fraction_w")[0], result.per_seed("par/fraction_u")[0]
    report.claims.append(Claim(
        claim="training converges to a PAR (the premise of Theorem 6.2)",
        setting=f"seed 0, epoch {int(result.last['epoch'])}", measured=f"PAR fraction w {fmt(fw)}, u {fmt(fu)}",
        criterion="both fractions at the last epoch = 1", holds=fw >= 1.0 and fu >= 1.0, values={"fraction_w": fw, "fraction_u": fu},
    ))
    add_runs(report, runs)
    teacher_cos = _teacher_cosine(result)
    if teacher_cos is not None:
        report.notes.append(f"For scale: the teacher w* and the Eq. (7) direction w_svm − u_svm have cosine {fmt(teacher_cos)}.")
    x, y = result.splits["train"]
    solution = (result.par_solution.w, result.par_solution.u) if result.par_solution is not None else None
    fig = decision_boundary_figure(result.w(0), result.u(0), result.alpha, result.v, x, y, par_solution=solution, grid_size=160,
                                   title="(a) learned boundary vs Eq. (7)", size=(4.0, 4.0))
    report.figures.append((_save(setup, fig, out, "boundary.png"), "(a) Decision regions of the trained network, its Theorem 5.1 line (black) and the boundary Eq. (7) predicts (green, dashed)."))
    fig = neuron_figure(result.w(0), result.u(0), par_solution=solution, title="(b) neurons vs Eq. (7) directions", size=(4.0, 4.0))
    report.figures.append((_save(setup, fig, out, "neurons.png"), "(b) Normalized neurons and the Eq. (7) directions (green)."))
    epochs = np.array([row["epoch"] for row in result.par_history])
    zeros = np.zeros(len(epochs))
    keys = [("par_solution/cosine_direction", "cos(w̄−ū, w_svm−u_svm)"), ("par_solution/min_cosine_w", "min cos, w-neurons"), ("par_solution/min_cosine_u", "min cos, u-neurons")]
    series = [Series(label, epochs, np.array([row[key] for row in result.par_history]), zeros) for key, label in keys]
    fig = curves_figure([Panel("(c) agreement with Eq. (7) during training (seed 0)", "cosine", series, ylim=(-1.05, 1.05), hline=direction_min)], setup.name)
    report.figures.append((_save(setup, fig, out, "cosines.png"), "(c) Cosines between the network and the Eq. (7) solution per epoch (one network, seed 0)."))
    return report


def _teacher_cosine(result: RunResult) -> float | None:
    if result.par_solution is None or result.spec.data_kind != "gaussian" or result.spec.data.get("teacher") is not None:
        return None  # the teacher is e_1 only for LinearTeacherDataModule's default
    direction = result.par_solution.w - result.par_solution.u
    teacher = torch.zeros_like(direction)
    teacher[0] = 1.0
    return float(direction @ teacher / direction.norm())


# ----------------------------------------------------------------------------- Figure 8
PAR_ENTRANCE_CRITERIA = {"fraction_at_least": 1.0}


def run_par_entrance(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("fallback",), PAR_ENTRANCE_CRITERIA)
    report = base_report(setup, command, ("data", "model", "train"))
    target = float(setup.criteria["fraction_at_least"])

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        fw, fu = result.per_seed("par/fraction_w"), result.per_seed("par/fraction_u")
        reached = next((int(row["epoch"]) for row in result.history if row["par/fraction_w"] >= target and row["par/fraction_u"] >= target), None)
        text = f"min over seeds at the last epoch: w {fmt(min(fw))}, u {fmt(min(fu))}; mean first reaches {fmt(target)} at epoch {reached if reached is not None else 'never'}"
        return text, min(fw) >= target and min(fu) >= target, {"fraction_w": fw, "fraction_u": fu, "first_epoch_mean_reaches": reached}

    spec = setup.spec(f"d={setup.data.get('dim')}, n={setup.data.get('n_train')}, antipodal", setup.data, setup.model)
    checked = with_fallbacks(ctx, spec, evaluate, setup.fallbacks())
    result = checked.result
    report.claims.append(checked.claim(
        "antipodal Gaussians: the fraction of neurons of each group in the PAR rises to 1",
        f"η={setup.model.get('lr')}, init std {setup.model.get('init_std')}, {seeds_text(result)}",
        f"every seed's w- and u-fraction at the last epoch >= {fmt(target)}",
    ))
    add_runs(report, checked.runs)
    fig = curves_figure([Panel("PAR fraction per group", "fraction of neurons in the PAR",
                               [_series(result, "par/fraction_w", "w-neurons"), _series(result, "par/fraction_u", "u-neurons", "--")],
                               ylim=(-0.02, 1.05), clip=(0.0, 1.0), logx=True)],
                        f"{setup.name}: entrance to the PAR (mean +- std over seeds)", width=5.5)
    report.figures.append((_save(setup, fig, out, "par_fraction.png"), "Share of each group's neurons in the PAR per epoch (symmetric-log axis); line: mean over seeds, band: +- one standard deviation."))
    return report


# ----------------------------------------------------------------------------- Figure 9
NAR_ENTRANCE_CRITERIA = {"disagreement_at_most": 0.0, "par_w_below": 1.0}


def run_nar_entrance(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("fallback",), NAR_ENTRANCE_CRITERIA)
    report = base_report(setup, command, ("data", "model", "train"))
    nd_max, par_below = float(setup.criteria["disagreement_at_most"]), float(setup.criteria["par_w_below"])

    def parts(result: RunResult) -> tuple[list[float], list[float], float]:
        nd = [max(a, b) for a, b in zip(result.per_seed("nar/max_disagreement_w"), result.per_seed("nar/max_disagreement_u"))]
        return nd, result.per_seed("par/fraction_w"), result.last["par/fraction_w"]

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        nd, fw, fw_mean = parts(result)
        text = f"max(n_diff) per seed {fmt_list(nd)}; w-group PAR fraction per seed {fmt_list(fw)} (mean {fmt(fw_mean)})"
        return text, max(nd) <= nd_max and fw_mean < par_below, {"max_n_diff": nd, "par_fraction_w": fw, "par_fraction_w_mean": fw_mean}

    def evaluate_nar(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        nd, _, _ = parts(result)
        return f"max(n_diff) per seed, max over groups: {fmt_list(nd)}", max(nd) <= nd_max, {"max_n_diff": nd}

    spec = setup.spec(f"d={setup.data.get('dim')}, antipodal + {setup.data.get('outliers')} outlier", setup.data, setup.model, plots=True)
    fallbacks = setup.fallbacks()
    nar = with_fallbacks(ctx, spec, evaluate_nar, fallbacks)
    both = with_fallbacks(ctx, spec, evaluate, fallbacks)
    result = nar.result
    nd, fw, fw_mean = parts(result)
    setting = f"init std {setup.model.get('init_std')}, η={setup.model.get('lr')}, {seeds_text(result)}"
    report.claims.append(nar.claim(
        "with one outlier, max(n_diff) of both groups falls to 0 (the NAR is entered)", setting,
        f"every seed's max(n_diff) of both groups at the last epoch <= {fmt(nd_max)}",
    ))
    both.measured = f"w-group PAR fraction per seed {fmt_list(fw)}, mean {fmt(fw_mean)}; max(n_diff) {fmt_list(nd)}"
    report.claims.append(both.claim(
        "... while the w-group PAR fraction stays below 1 (an NAR that is not a PAR), both at once", setting,
        f"every seed's max(n_diff) <= {fmt(nd_max)} and the mean w-group PAR fraction at the last epoch < {fmt(par_below)}",
    ))
    add_runs(report, list({id(r): r for r in nar.runs + both.runs}.values()))
    if not both.holds and both.found_at is None:
        outliers = int(setup.data.get("outliers", 0))
        measured = [(run.spec.label, [diagnose_nar_seed(run, s, outliers) for s in range(run.num_seeds)]) for run in both.runs]
        report.causes.append(f"Claim {len(report.claims)}: " + nar_paragraph(measured))
        report.extra["diagnosis"] = [{"run": label, "seeds": [asdict(s) for s in seeds]} for label, seeds in measured]
    shown_runs = [result]
    for checked in (nar, both):
        if checked.found_at and all(run is not checked.runs[-1] for run in shown_runs):
            shown_runs.append(checked.runs[-1])
    nd_series: list[Series] = []
    par_series: list[Series] = []
    for i, run in enumerate(shown_runs):
        tag = run.spec.label[run.spec.label.index("[") :] if "[" in run.spec.label else "paper's setting"
        for key, group, style in (("w", "w-group", "-"), ("u", "u-group", "--")):
            e, m, sd = run.curve(f"nar/max_disagreement_{key}")
            nd_series.append(Series(f"{group}, {tag}", e, m, sd, style, color=i))
            e, m, sd = run.curve(f"par/fraction_{key}")
            par_series.append(Series(f"{group}, {tag}", e, m, sd, style, color=i))
    fig = curves_figure([
        Panel("(a) max(n_diff)", "points (symmetric-log axis)", nd_series, logx=True, symlogy=True),
        Panel("(b) PAR fraction", "fraction of neurons", par_series, ylim=(-0.02, 1.05), clip=(0.0, 1.0), logx=True),
    ], f"{setup.name}: entrance to the NAR with one outlier (mean +- std over seeds)", width=5.0)
    report.figures.append((_save(setup, fig, out, "nar.png"), "max(n_diff) per group and PAR fraction per group, per epoch (symmetric-log axis), at the paper's setting and at the fallback where the NAR is entered; line: mean over seeds, band: +- one standard deviation."))
    if result.weight.shape[2] == 2:
        fig = neuron_figure(result.w(0), result.u(0), title="normalized neurons, paper's setting, seed 0", size=(4.0, 4.0))
        report.figures.append((_save(setup, fig, out, "neurons.png"), "Normalized neurons at the last epoch, at the paper's setting (seed 0)."))
    return report


# ----------------------------------------------------------------------------- supplementary Figure 4
RELU_CRITERIA = {"linear_at_most": 0.0, "nonlinear_above": 0.01}


def run_relu_vs_leaky(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("network", "resolution"), RELU_CRITERIA)
    net = section(setup.settings, "network", {"w": [1.0, 0.0], "u": [0.0, 1.0], "alpha": 0.1, "v": 1.0}, setup.where)
    resolution = int(setup.settings.get("resolution", 1440))
    report = base_report(setup, command, ("network", "resolution"))
    w, u = torch.tensor([net["w"]], dtype=torch.float64), torch.tensor([net["u"]], dtype=torch.float64)
    alpha, v = float(net["alpha"]), float(net["v"])
    leaky = network_nonlinearity(w, u, alpha, v, resolution)
    relu = {name: network_nonlinearity(w, u, 0.0, v, resolution, zero_as=z) for name, z in (("zero as mismatch", None), ("zero as +1", 1.0), ("zero as -1", -1.0))}
    lin_max, above = float(setup.criteria["linear_at_most"]), float(setup.criteria["nonlinear_above"])
    report.claims.append(Claim(
        claim=f"two neurons w={net['w']}, u={net['u']}: the Leaky-ReLU boundary is linear",
        setting=f"α={alpha}, {resolution} directions", measured=f"angular nonlinearity {fmt(leaky)}",
        criterion=f"nonlinearity <= {fmt(lin_max)}", holds=leaky <= lin_max, values={"leaky": leaky},
    ))
    relu_min = min(relu["zero as +1"], relu["zero as -1"])
    report.claims.append(Claim(
        claim="... and the ReLU boundary is not, whichever label N(x) = 0 gets",
        setting=f"α=0, {resolution} directions",
        measured="; ".join(f"{k}: {fmt(val)}" for k, val in relu.items()),
        criterion=f"nonlinearity > {fmt(above)} with zeros labelled +1 and with zeros labelled -1",
        holds=relu_min > above, values=relu,
    ))
    report.premise = [
        "No training data: the claims are about two fixed networks, so the separability premise of section 3 does not apply."
    ]
    report.notes.append(
        "No training: the two networks are fixed as in supplementary Figure 4. Angular nonlinearity = smallest share of "
        "directions where sign N differs from a linear classifier through the origin (both networks are 1-homogeneous)."
    )
    fig = landscape_figure([(f"(a) Leaky ReLU (α={alpha})", w, u, alpha), ("(b) ReLU", w, u, 0.0)], suptitle=f"{setup.name}: prediction landscape of two-neuron networks")
    report.figures.append((_save(setup, fig, out, "landscape.png"), "sign N(x): orange positive, blue negative, grey zero; w and u drawn as arrows."))
    if ctx.wandb != "disabled":
        report.runs.append(_log_untrained(ctx, setup.name, {"leaky_nonlinearity": leaky, **{f"relu_nonlinearity/{k}": val for k, val in relu.items()}}, out / "landscape.png"))
    return report


def _log_untrained(ctx: Context, name: str, values: dict[str, float], image: Path) -> dict[str, Any]:
    """A W&B run for a reproduction without training: its measured values and figure."""
    import time

    import wandb

    start = time.perf_counter()
    run_dir = ctx.runs_dir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project="lt-teacher", name=f"{name}/measures", group=name, job_type="reproduce", dir=str(run_dir),
                     mode="offline" if ctx.offline() else "online", reinit="finish_previous", settings=wandb_settings())
    run.summary.update(values)
    run.log({"figure": wandb.Image(str(image))})
    wandb_dir = str(Path(run.dir).parent)
    run.finish()
    return {"label": "measures (no training)", "seeds": 0, "epochs": 0, "n_train": 0, "sgd_steps": 0,
            "seconds": round(time.perf_counter() - start, 3), "wandb": wandb_dir}


# ----------------------------------------------------------------------------- sweep
SWEEP_CRITERIA = {"linear_at_most": 0.01}


def run_sweep(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    setup = Setup(cfg, ("grid",), SWEEP_CRITERIA)
    grid = section(setup.settings, "grid", {"init_std": [1e-3, 1.0], "alpha": [0.1]}, setup.where)
    inits, alphas = [float(v) for v in grid["init_std"]], [float(v) for v in grid["alpha"]]
    report = base_report(setup, command, ("data", "model", "grid", "train"))
    limit = float(setup.criteria["linear_at_most"])
    keys = ("linear_region/outside_fraction/test", "linear_region/disagreement/test", "cluster/radius_ratio")
    maps = {key: np.zeros((len(alphas), len(inits))) for key in keys}
    results: list[RunResult] = []
    for i, alpha in enumerate(alphas):
        for j, init_std in enumerate(inits):
            result = train(setup.spec(f"alpha {alpha}, init std {init_std}", setup.data, {**setup.model, "alpha": alpha, "init_std": init_std}), ctx)
            results.append(result)
            for key in keys:
                maps[key][i, j] = result.last[key]
    add_runs(report, results)
    rows = []
    for i, alpha in enumerate(alphas):
        certified = [inits[j] for j in range(len(inits)) if maps[keys[0]][i, j] <= limit]
        linear = [inits[j] for j in range(len(inits)) if maps[keys[1]][i, j] <= limit]
        rows.append((alpha, _largest_prefix(inits, certified), _largest_prefix(inits, linear)))
        report.claims.append(Claim(
            claim=f"(open question) α={alpha}: up to which init std is the learned boundary linear on the test points?",
            setting=f"init std in {inits}, epoch {setup.train['epochs']}",
            measured=(f"test outside fraction <= {fmt(limit)} up to init std {fmt(rows[-1][1]) if rows[-1][1] else 'none'}; "
                      f"test disagreement sign N vs sign((w̄−ū)·x) <= {fmt(limit)} up to {fmt(rows[-1][2]) if rows[-1][2] else 'none'}"),
            criterion=f"mean over seeds <= {fmt(limit)}, for every smaller init std of the grid",
            holds=rows[-1][1] is not None, values={"certified_up_to": rows[-1][1], "linear_up_to": rows[-1][2],
                                                 "outside_fraction_test": maps[keys[0]][i].tolist(), "disagreement_test": maps[keys[1]][i].tolist()},
        ))
    report.extra = {"init_std": inits, "alpha": alphas, **{key: maps[key].tolist() for key in keys}}
    report.notes.append(
        "Verdict of a sweep row: 'holds' if the smallest init std of the grid gives a boundary certified linear on the test points "
        "(Theorem 5.1's region holds every test point up to the threshold); the measured column gives the largest init std up to which it stays so."
    )
    fig = heatmap_figure(
        alphas, inits,
        [("(a) test points outside Theorem 5.1's region", maps[keys[0]], False),
         ("(b) test disagreement sign N vs sign((w̄−ū)·x)", maps[keys[1]], False),
         ("(c) r / ‖w̄ − ū‖", maps[keys[2]], True)],
        row_label="α (Leaky-ReLU slope)", col_label="init std", suptitle=f"{setup.name}: after {setup.train['epochs']} epochs, mean over seeds",
    )
    report.figures.append((_save(setup, fig, out, "heatmap.png"), "Init std × α after training; each cell the mean over seeds at the last epoch."))
    return report


def _largest_prefix(grid: Sequence[float], good: Sequence[float]) -> float | None:
    """The largest grid value v such that every grid value <= v is in ``good`` (None if the smallest is not)."""
    best = None
    for value in sorted(grid):
        if value not in good:
            break
        best = value
    return best


EXPERIMENTS: dict[str, Callable[[LoadedConfig, Context, Path, str], Report]] = {
    "boundary_2d": run_boundary_2d,
    "linear_region": run_linear_region,
    "par_solution": run_par_solution,
    "clustering": run_clustering,
    "par_entrance": run_par_entrance,
    "nar_entrance": run_nar_entrance,
    "relu_vs_leaky": run_relu_vs_leaky,
    "sweep": run_sweep,
}
