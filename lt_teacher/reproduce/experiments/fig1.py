"""Figure 1 (``fig1``): small init gives a linear 2-D decision boundary and two tight neuron clusters, large init neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lt_teacher.plotting import decision_boundary_figure, neuron_figure

from ..claims import seeds_text, with_fallbacks
from ..config import ConfigError, LoadedConfig
from ..measures import network_nonlinearity
from ..report import Claim, Report, fmt
from ..runner import Context, RunResult, train
from ..schema import InitScales, read_section
from ..settings import ExperimentSettings
from ._common import add_runs, base_report, largest_angle, save_figure


@dataclass(frozen=True)
class BoundaryCriteria:
    """``criteria:`` of Figure 1: the thresholds of its verdicts."""

    linear_at_most: float = 0.01  # angular nonlinearity of a "linear" boundary
    tight_angle_at_most: float = 0.1  # radians: "two tight clusters" (largest in-group angle)
    spread_angle_at_least: float = 1.0  # radians: the large-init neurons are not clustered


def run_boundary_2d(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("init", "fallback", "resolution"), BoundaryCriteria)
    init = read_section(InitScales, settings.resolved.get("init"), settings.where, "init")
    resolution = int(settings.resolved.get("resolution", 1440))
    report = base_report(settings, command, ("data", "model", "init", "trainer", "schedule", "seed_everything", "resolution"))
    if int(settings.data.get("dim", 2)) != 2 or settings.model.get("bias") or settings.data.get("bias") or settings.data.get("append_bias"):
        raise ConfigError(f"{settings.where}: Figure 1 draws 2-D boundaries of networks without bias: data.dim must be 2 and no bias.")
    c = settings.criteria
    lin_max, tight, spread = float(c.linear_at_most), float(c.tight_angle_at_most), float(c.spread_angle_at_least)

    def nonlinearity(result: RunResult) -> list[float]:
        return [network_nonlinearity(result.w(s), result.u(s), result.alpha, result.v, resolution) for s in range(result.num_seeds)]

    def small_eval(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        nl, angles = nonlinearity(result), largest_angle(result, result.last)
        ok = max(nl) <= lin_max and max(angles) <= tight
        return (f"nonlinearity max over seeds {fmt(max(nl))}; largest in-group angle max over seeds {fmt(max(angles))} rad",
                ok, {"nonlinearity": nl, "largest_angle": angles})

    small_spec = settings.spec(f"2-D, init std {init.small}", settings.data, {**settings.model, "init_std": float(init.small)}, plots=True)
    attempts = with_fallbacks(ctx, small_spec, small_eval, settings.fallbacks())
    small, runs = attempts.config_run, attempts.runs
    report.claims.append(attempts.as_claim(
        "small init: a linear decision boundary and two tight neuron clusters",
        f"init std {init.small}, {seeds_text(small)}",
        f"every seed: angular nonlinearity <= {fmt(lin_max)} and largest in-group angle <= {fmt(tight)} rad",
    ))
    large = train(settings.spec(f"2-D, init std {init.large}", settings.data, {**settings.model, "init_std": float(init.large)}, plots=True), ctx)
    nl_large, angles_large = nonlinearity(large), largest_angle(large, large.last)
    report.claims.append(Claim(
        claim="large init: neither (a nonlinear boundary, no clusters)",
        setting=f"init std {init.large}, {seeds_text(large)}",
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
        report.figures.append((save_figure(settings, fig, out, f"boundary_{tag}_init.png"), f"{caption} (std {result.spec.model['init_std']}): decision regions, training points and Theorem 5.1's line (seed 0)."))
    for tag, result, caption in (("large", large, "(c) large init"), ("small", small, "(d) small init")):
        fig = neuron_figure(result.w(0), result.u(0), title=f"{caption}: normalized neurons, seed 0", size=(4.0, 4.0))
        report.figures.append((save_figure(settings, fig, out, f"neurons_{tag}_init.png"), f"{caption}: the 100 neurons normalized to unit length (seed 0)."))
    return report
