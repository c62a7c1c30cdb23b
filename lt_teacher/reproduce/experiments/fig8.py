"""Figure 8 (``fig8``): on antipodal Gaussians the fraction of neurons of each group in the PAR rises to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lt_teacher.plotting import Panel, curves_figure

from ..claims import seeds_text, with_fallbacks
from ..config import LoadedConfig
from ..report import Report, fmt
from ..runner import Context, RunResult
from ..settings import ExperimentSettings
from ._common import add_runs, base_report, mean_series, save_figure


@dataclass(frozen=True)
class PAREntranceCriteria:
    """``criteria:`` of Figure 8: the thresholds of its verdicts."""

    fraction_at_least: float = 1.0  # every seed's w- and u-fraction in the PAR at the last epoch


def run_par_entrance(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("fallback",), PAREntranceCriteria)
    report = base_report(settings, command, ("data", "model", "trainer", "schedule", "seed_everything"))
    target = float(settings.criteria.fraction_at_least)

    def evaluate(result: RunResult) -> tuple[str, bool, dict[str, Any]]:
        fw, fu = result.per_seed("par/fraction_w"), result.per_seed("par/fraction_u")
        reached = next((int(row["epoch"]) for row in result.history if row["par/fraction_w"] >= target and row["par/fraction_u"] >= target), None)
        text = f"min over seeds at the last epoch: w {fmt(min(fw))}, u {fmt(min(fu))}; mean first reaches {fmt(target)} at epoch {reached if reached is not None else 'never'}"
        return text, min(fw) >= target and min(fu) >= target, {"fraction_w": fw, "fraction_u": fu, "first_epoch_mean_reaches": reached}

    spec = settings.spec(f"d={settings.data.get('dim')}, n={settings.data.get('n_train')}, antipodal", settings.data, settings.model)
    attempts = with_fallbacks(ctx, spec, evaluate, settings.fallbacks())
    result = attempts.config_run
    report.claims.append(attempts.as_claim(
        "antipodal Gaussians: the fraction of neurons of each group in the PAR rises to 1",
        f"η={settings.model.get('lr')}, init std {settings.model.get('init_std')}, {seeds_text(result)}",
        f"every seed's w- and u-fraction at the last epoch >= {fmt(target)}",
    ))
    add_runs(report, attempts.runs)
    fig = curves_figure([Panel("PAR fraction per group", "fraction of neurons in the PAR",
                               [mean_series(result, "par/fraction_w", "w-neurons"), mean_series(result, "par/fraction_u", "u-neurons", "--")],
                               ylim=(-0.02, 1.05), clip=(0.0, 1.0), logx=True)],
                        f"{settings.name}: entrance to the PAR (mean +- std over seeds)", width=5.5)
    report.figures.append((save_figure(settings, fig, out, "par_fraction.png"), "Share of each group's neurons in the PAR per epoch (symmetric-log axis); line: mean over seeds, band: +- one standard deviation."))
    return report
