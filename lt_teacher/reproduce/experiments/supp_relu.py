"""Supplementary Figure 4 (``supp-relu``): two fixed neurons give a linear Leaky-ReLU boundary and a nonlinear ReLU one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lt_teacher.plotting import landscape_figure

from ..config import LoadedConfig
from ..measures import network_nonlinearity
from ..report import Claim, Report, fmt
from ..runner import Context
from ..schema import read_section, TwoNeuronNetwork
from ..settings import ExperimentSettings
from ..wandb_runs import log_untrained
from ._common import base_report, save_figure


@dataclass(frozen=True)
class ReLUCriteria:
    """``criteria:`` of supplementary Figure 4: the thresholds of its verdicts."""

    linear_at_most: float = 0.0  # angular nonlinearity of the Leaky-ReLU boundary
    nonlinear_above: float = 0.01  # angular nonlinearity of the ReLU boundary, zeros labelled +1 and -1


def run_relu_vs_leaky(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("network", "resolution"), ReLUCriteria)
    net = read_section(TwoNeuronNetwork, settings.resolved.get("network"), settings.where, "network")
    resolution = int(settings.resolved.get("resolution", 1440))
    report = base_report(settings, command, ("network", "resolution"))
    w, u = torch.tensor([net.w], dtype=torch.float64), torch.tensor([net.u], dtype=torch.float64)
    alpha, v = float(net.alpha), float(net.v)
    leaky = network_nonlinearity(w, u, alpha, v, resolution)
    relu = {name: network_nonlinearity(w, u, 0.0, v, resolution, zero_as=z) for name, z in (("zero as mismatch", None), ("zero as +1", 1.0), ("zero as -1", -1.0))}
    lin_max, above = float(settings.criteria.linear_at_most), float(settings.criteria.nonlinear_above)
    report.claims.append(Claim(
        claim=f"two neurons w={net.w}, u={net.u}: the Leaky-ReLU boundary is linear",
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
    fig = landscape_figure([(f"(a) Leaky ReLU (α={alpha})", w, u, alpha), ("(b) ReLU", w, u, 0.0)], suptitle=f"{settings.name}: prediction landscape of two-neuron networks")
    report.figures.append((save_figure(settings, fig, out, "landscape.png"), "sign N(x): orange positive, blue negative, grey zero; w and u drawn as arrows."))
    if ctx.wandb != "disabled":
        report.runs.append(log_untrained(ctx.runs_dir, settings.name, {"leaky_nonlinearity": leaky, **{f"relu_nonlinearity/{k}": val for k, val in relu.items()}}, out / "landscape.png", offline=ctx.offline()))
    return report
