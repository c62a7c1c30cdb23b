"""Figure 3 (``fig3``): the learned direction and neurons agree with the Eq. (7) PAR solution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_teacher.functional import cosine
from lt_teacher.plotting import Panel, Series, curves_figure, decision_boundary_figure, neuron_figure

from ..claims import with_fallbacks
from ..config import ConfigError, LoadedConfig
from ..report import Claim, Report, fmt
from ..runner import Context, RunResult
from ..settings import ExperimentSettings
from ._common import add_runs, base_report, save_figure


@dataclass(frozen=True)
class PARSolutionCriteria:
    """``criteria:`` of Figure 3: the thresholds of its verdicts."""

    direction_cosine_at_least: float = 0.99  # cos(w̄ − ū, w_svm − u_svm) at the last epoch
    neuron_cosine_at_least: float = 0.95  # min over neurons of cos(neuron, its Eq. (7) direction)


def run_par_solution(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("fallback",), PARSolutionCriteria)
    report = base_report(settings, command, ("data", "model", "trainer", "schedule", "seed_everything"))
    if int(settings.data.get("dim", 2)) != 2:
        raise ConfigError(f"{settings.where}: Figure 3 draws the plane: data.dim must be 2.")
    direction_min = float(settings.criteria.direction_cosine_at_least)
    neuron_min = float(settings.criteria.neuron_cosine_at_least)

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        last = result.par_history[-1]
        cos = last["par_solution/cosine_direction"]
        angle = math.degrees(math.acos(min(1.0, max(-1.0, cos))))
        return f"cos {fmt(cos)} (angle {fmt(angle)}°)", cos >= direction_min, {"cosine_direction": cos, "angle_degrees": angle}

    spec = settings.spec(f"2-D, init std {settings.model.get('init_std')}", settings.data, settings.model, par_solution=True, plots=True)
    attempts = with_fallbacks(ctx, spec, evaluate, settings.fallbacks())
    result, runs = attempts.config_run, attempts.runs
    last = result.par_history[-1]
    report.claims.append(attempts.as_claim(
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
    report.figures.append((save_figure(settings, fig, out, "boundary.png"), "(a) Decision regions of the trained network, its Theorem 5.1 line (black) and the boundary Eq. (7) predicts (green, dashed)."))
    fig = neuron_figure(result.w(0), result.u(0), par_solution=solution, title="(b) neurons vs Eq. (7) directions", size=(4.0, 4.0))
    report.figures.append((save_figure(settings, fig, out, "neurons.png"), "(b) Normalized neurons and the Eq. (7) directions (green)."))
    epochs = np.array([row["epoch"] for row in result.par_history])
    zeros = np.zeros(len(epochs))
    keys = [("par_solution/cosine_direction", "cos(w̄−ū, w_svm−u_svm)"), ("par_solution/min_cosine_w", "min cos, w-neurons"), ("par_solution/min_cosine_u", "min cos, u-neurons")]
    series = [Series(label, epochs, np.array([row[key] for row in result.par_history]), zeros) for key, label in keys]
    fig = curves_figure([Panel("(c) agreement with Eq. (7) during training (seed 0)", "cosine", series, ylim=(-1.05, 1.05), hline=direction_min)], settings.name)
    report.figures.append((save_figure(settings, fig, out, "cosines.png"), "(c) Cosines between the network and the Eq. (7) solution per epoch (one network, seed 0)."))
    return report


def _teacher_cosine(result: RunResult) -> float | None:
    if result.par_solution is None or result.spec.data_kind != "gaussian" or result.spec.data.get("teacher") is not None:
        return None  # the teacher is e_1 only for LinearTeacherDataModule's default
    direction = result.par_solution.w - result.par_solution.u
    teacher = torch.zeros_like(direction)
    teacher[0] = 1.0
    return cosine(direction, teacher)
