"""The sweep (``sweep``, an open question of the paper): up to which init std, per alpha, is the learned boundary linear?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lt_teacher.plotting import heatmap_figure

from ..config import LoadedConfig
from ..report import Claim, Report, fmt
from ..runner import Context, RunResult, train
from ..schema import read_section, SweepGrid
from ..settings import ExperimentSettings
from ._common import add_runs, base_report, save_figure


@dataclass(frozen=True)
class SweepCriteria:
    """``criteria:`` of the sweep: the thresholds of its verdicts."""

    linear_at_most: float = 0.01  # test outside fraction / disagreement of a linear cell (mean over seeds)


def run_sweep(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("grid",), SweepCriteria)
    grid = read_section(SweepGrid, settings.resolved.get("grid"), settings.where, "grid")
    inits, alphas = [float(v) for v in grid.init_std], [float(v) for v in grid.alpha]
    report = base_report(settings, command, ("data", "model", "grid", "trainer", "schedule", "seed_everything"))
    limit = float(settings.criteria.linear_at_most)
    keys = ("linear_region/outside_fraction/test", "linear_region/disagreement/test", "cluster/radius_ratio")
    maps = {key: np.zeros((len(alphas), len(inits))) for key in keys}
    results: list[RunResult] = []
    for i, alpha in enumerate(alphas):
        for j, init_std in enumerate(inits):
            result = train(settings.spec(f"alpha {alpha}, init std {init_std}", settings.data, {**settings.model, "alpha": alpha, "init_std": init_std}), ctx)
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
            setting=f"init std in {inits}, epoch {settings.max_epochs}",
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
        row_label="α (Leaky-ReLU slope)", col_label="init std", suptitle=f"{settings.name}: after {settings.max_epochs} epochs, mean over seeds",
    )
    report.figures.append((save_figure(settings, fig, out, "heatmap.png"), "Init std × α after training; each cell the mean over seeds at the last epoch."))
    return report


def _largest_prefix(grid: Sequence[float], good: Sequence[float]) -> float | None:
    """The largest grid value v such that every grid value <= v is in ``good`` (None if the smallest is not)."""
    best = None
    for value in sorted(grid):
        if value not in good:
            break
        best = value
    return best
