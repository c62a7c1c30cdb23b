"""What the reproductions share: the report's head and runs table, figure saving, and the linear-region diagnosis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lt_teacher.plotting import Series, distances_figure, save_compact_png

from ..claims import ClaimAttempts
from ..config import ConfigError
from ..diagnosis import LinearRegionDiagnosis, diagnose_linear_region, linear_region_paragraph
from ..premise import add_premises
from ..report import Report
from ..fit_configs import fit_config_text
from ..runner import RunResult, file_slug
from ..settings import ExperimentSettings, setting_tables


def base_report(settings: ExperimentSettings, command: str, sections: Sequence[str]) -> Report:
    """A report with its title, source and setting tables (``sections`` of the config) and no claims yet."""
    s = settings.resolved
    paper = s.get("paper") or {}
    stated, choices = setting_tables(s, sections)
    source = f"lt_teacher/reproduce/configs/{settings.name}.yaml" if settings.cfg.packaged else settings.cfg.source
    return Report(
        name=settings.name, title=str(s.get("title", settings.name)), paper=str(paper.get("shows", "")) if isinstance(paper, Mapping) else str(paper),
        command=command, config_source=source, scale=settings.cfg.scale, stated=stated, choices=choices,
    )


def run_row(result: RunResult) -> dict[str, Any]:
    """A run's row of the report's runs table."""
    return {
        "label": result.spec.label, "seeds": result.num_seeds, "epochs": result.spec.epochs,
        "n_train": int(result.splits["train"][0].shape[0]), "sgd_steps": result.sgd_steps,
        "seconds": round(result.seconds, 3), "wandb": result.wandb_dir,
    }


def add_runs(report: Report, results: Sequence[RunResult]) -> None:
    """Add each run to the runs table once, its data's premise and its data note."""
    add_premises(report, results)
    seen = {row["label"] for row in report.runs}
    for result in results:
        if result.spec.label not in seen:
            row = run_row(result)
            if result.fit_config:
                row["fit_config"] = f"runs/{file_slug(result.spec.label)}.yaml"
                report.fit_configs[row["fit_config"]] = fit_config_text(result.fit_config, reproduction=report.name, label=result.spec.label)
            report.runs.append(row)
            seen.add(result.spec.label)
        note = f"Data: {result.data_note}" if result.data_note else None
        if note and note not in report.notes:
            report.notes.append(note)



def save_figure(settings: ExperimentSettings, fig: Any, folder: Path, name: str) -> str:
    """Write ``fig`` as ``folder/name``; a run with command-line overrides says so in the figure's title."""
    if settings.cfg.overrides:
        changed = "with " + " ".join(f"--{o}" for o in settings.cfg.overrides)
        current = fig.get_suptitle()
        fig.suptitle(f"{current}\n[{changed}]" if current else f"{settings.name} [{changed}]", fontsize="medium")
    save_compact_png(fig, folder / name)
    fig.clear()
    return name


def mean_series(result: RunResult, key: str, label: str, style: str = "-") -> Series:
    """The curve of ``key`` over epochs: mean over seeds, spread one standard deviation."""
    epochs, mean, std = result.curve(key)
    return Series(label, epochs, mean, std, style)



def largest_angle(result: RunResult, row: dict[str, float]) -> list[float]:
    """Per seed: the largest in-group angle, max(max_angle_w, max_angle_u) (radians), from one history row."""
    w = result.per_seed("cluster/max_angle_w", row)
    u = result.per_seed("cluster/max_angle_u", row)
    return [max(a, b) for a, b in zip(w, u)]




def diagnose_failure(report: Report, claim_index: int, attempts: ClaimAttempts) -> list[LinearRegionDiagnosis]:
    """Measure why claim ``claim_index`` fails: at the config's setting and, if every fallback failed too, at the last one."""
    runs = [attempts.config_run]
    if attempts.found_at is None and len(attempts.runs) > 1:
        runs.append(attempts.runs[-1])
    found = []
    for run in runs:
        diagnosis = diagnose_linear_region(run)
        found.append(diagnosis)
        report.causes.append(f"Claim {claim_index + 1}: " + linear_region_paragraph(diagnosis))
        report.extra.setdefault("diagnosis", []).append({"claim": claim_index + 1, **diagnosis.as_dict()})
    return found


def add_distances_figure(report: Report, out: Path, settings: ExperimentSettings, diagnosed: Sequence[LinearRegionDiagnosis]) -> None:
    """The neuron-distance figure of the diagnosed runs (none when every claim held)."""
    if not diagnosed:
        return
    fig = distances_figure(
        [(d.run, [s.distance_ratios for s in d.seeds], float(np.median([s.median_abs_cosine for s in d.seeds]))) for d in diagnosed],
        f"{settings.name}: what sets the cluster radius r where the claim does not hold",
    )
    report.figures.append((save_figure(settings, fig, out, "neuron_distances.png"),
                           "Each neuron's distance from its group mean over ‖w̄−ū‖, largest first (rank 1 is r), per seed, "
                           "for the runs where the claim does not hold; dashed: the r/‖w̄−ū‖ below which half the points "
                           "would be inside Theorem 5.1's region."))


def checked_pairs(settings: ExperimentSettings, pairs: object) -> list[tuple[int, int]]:
    """The config's ``pairs`` as (a, b) digits, every pair checked before the first is trained."""
    if not isinstance(pairs, (list, tuple)) or not pairs or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise ConfigError(f"{settings.where}: MNIST data needs `pairs`, a list like [[0, 1], [3, 5]], got {pairs!r}.")
    from lt_teacher.datamodules import MNISTPairsDataModule

    checked = []
    for pair in pairs:
        try:
            checked.append(MNISTPairsDataModule.check_pair(pair))  # the datamodule's own check of `digits`
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{settings.where}: `pairs` holds {list(pair)!r}: {err}") from err
    return checked
