"""Figure 9 (``fig9``): with one outlier the NAR is entered (max n_diff falls to 0) while the PAR is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lt_teacher.plotting import Panel, Series, curves_figure, neuron_figure

from ..claims import seeds_text, with_fallbacks
from ..config import LoadedConfig
from ..diagnosis import diagnose_nar_seed, nar_paragraph
from ..report import Report, fmt, fmt_list
from ..runner import Context, RunResult
from ..settings import ExperimentSettings
from ._common import add_runs, base_report, save_figure


@dataclass(frozen=True)
class NAREntranceCriteria:
    """``criteria:`` of Figure 9: the thresholds of its verdicts."""

    disagreement_at_most: float = 0.0  # max(n_diff) of both groups, every seed, last epoch
    par_w_below: float = 1.0  # mean over seeds of the w-group PAR fraction, last epoch


def run_nar_entrance(cfg: LoadedConfig, ctx: Context, out: Path, command: str) -> Report:
    settings = ExperimentSettings(cfg, ("fallback",), NAREntranceCriteria)
    report = base_report(settings, command, ("data", "model", "trainer", "schedule", "seed_everything"))
    nd_max, par_below = float(settings.criteria.disagreement_at_most), float(settings.criteria.par_w_below)

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

    spec = settings.spec(f"d={settings.data.get('dim')}, antipodal + {settings.data.get('outliers')} outlier", settings.data, settings.model, plots=True)
    fallbacks = settings.fallbacks()
    nar = with_fallbacks(ctx, spec, evaluate_nar, fallbacks)
    both = with_fallbacks(ctx, spec, evaluate, fallbacks)
    result = nar.config_run
    nd, fw, fw_mean = parts(result)
    setting = f"init std {settings.model.get('init_std')}, η={settings.model.get('lr')}, {seeds_text(result)}"
    report.claims.append(nar.as_claim(
        "with one outlier, max(n_diff) of both groups falls to 0 (the NAR is entered)", setting,
        f"every seed's max(n_diff) of both groups at the last epoch <= {fmt(nd_max)}",
    ))
    both.measured = f"w-group PAR fraction per seed {fmt_list(fw)}, mean {fmt(fw_mean)}; max(n_diff) {fmt_list(nd)}"
    report.claims.append(both.as_claim(
        "... while the w-group PAR fraction stays below 1 (an NAR that is not a PAR), both at once", setting,
        f"every seed's max(n_diff) <= {fmt(nd_max)} and the mean w-group PAR fraction at the last epoch < {fmt(par_below)}",
    ))
    add_runs(report, list({id(r): r for r in nar.runs + both.runs}.values()))
    if not both.holds and both.found_at is None:
        outliers = int(settings.data.get("outliers", 0))
        measured = [(run.spec.label, [diagnose_nar_seed(run, s, outliers) for s in range(run.num_seeds)]) for run in both.runs]
        report.causes.append(f"Claim {len(report.claims)}: " + nar_paragraph(measured))
        report.extra["diagnosis"] = [{"run": label, "seeds": [asdict(s) for s in seeds]} for label, seeds in measured]
    shown_runs = [result]
    for attempts in (nar, both):
        if attempts.found_at and all(run is not attempts.runs[-1] for run in shown_runs):
            shown_runs.append(attempts.runs[-1])
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
    ], f"{settings.name}: entrance to the NAR with one outlier (mean +- std over seeds)", width=5.0)
    report.figures.append((save_figure(settings, fig, out, "nar.png"), "max(n_diff) per group and PAR fraction per group, per epoch (symmetric-log axis), at the paper's setting and at the fallback where the NAR is entered; line: mean over seeds, band: +- one standard deviation."))
    if result.weight.shape[2] == 2:
        fig = neuron_figure(result.w(0), result.u(0), title="normalized neurons, paper's setting, seed 0", size=(4.0, 4.0))
        report.figures.append((save_figure(settings, fig, out, "neurons.png"), "Normalized neurons at the last epoch, at the paper's setting (seed 0)."))
    return report
