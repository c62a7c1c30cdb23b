"""Issue 12: every report states its premise, and a claim that fails gets a measured cause, all from the run."""

from __future__ import annotations

import json

import pytest
import torch

from lt_teacher import functional as F
from lt_teacher.reproduce import reproduce
from lt_teacher.reproduce.diagnosis import STRAGGLER_FACTOR, diagnose_seed
from lt_teacher.reproduce.report import fmt
from lt_teacher.reproduce.run_spec import RunSpec
from lt_teacher.reproduce.runner import RunResult


def _section(markdown: str, heading: str) -> str:
    return markdown.split(heading, 1)[1].split("\n## ", 1)[0]


def _fake_result(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor, alpha: float = 0.1) -> RunResult:
    spec = RunSpec("t", "planted", "gaussian", {"dim": x.shape[1]}, {"k": weight.shape[1] // 2}, epochs=1, evaluations=1)
    return RunResult(spec=spec, history=[{"epoch": 1.0}], par_history=[], par_solution=None, weight=weight, alpha=alpha,
                     v=1.0, k=weight.shape[1] // 2, splits={"train": (x, y)}, seconds=0.0, sgd_steps=0, wandb_dir=None)


def test_a_planted_straggler_is_found_and_the_radius_without_it_is_the_clusters():
    gen = torch.Generator().manual_seed(0)
    d, k = 10, 6
    e1 = torch.zeros(d, dtype=torch.float64)
    e1[0] = 1.0
    w = e1 + 1e-3 * torch.randn(k, d, generator=gen, dtype=torch.float64)
    u = -e1 + 1e-3 * torch.randn(k, d, generator=gen, dtype=torch.float64)
    u[4] = -e1 + 0.7 * torch.eye(d, dtype=torch.float64)[2]  # the straggler: u-neuron 4
    x = torch.randn(300, d, generator=gen, dtype=torch.float64)
    y = torch.where(x[:, 0] > 0, 1.0, -1.0)
    result = _fake_result(torch.cat([w, u])[None], x, y)
    seed = diagnose_seed(result, 0)
    assert [(s.group, s.index) for s in seed.stragglers] == [("u", 4)]
    gap = float(F.cluster_radius(w, u).mean_gap)
    assert seed.radius_ratio == pytest.approx(float(F.cluster_radius(w, u).radius) / gap)
    assert seed.outside == pytest.approx(1.0 - float(F.linear_region_mask(x, w, u).double().mean()))
    keep = torch.ones(k, dtype=torch.bool)
    keep[4] = False  # the network without the straggler
    assert seed.radius_ratio_without_stragglers == pytest.approx(float(F.cluster_radius(w, u[keep]).radius_ratio))
    assert seed.outside_without_stragglers == pytest.approx(1.0 - float(F.linear_region_mask(x, w, u[keep]).double().mean()))
    assert seed.radius_ratio_without_stragglers < seed.radius_ratio / STRAGGLER_FACTOR
    assert seed.outside_without_stragglers < seed.outside
    assert seed.disagreement == pytest.approx(float(F.linear_disagreement(x, w, u, 0.1).double().mean()))
    assert seed.agreement_certified == pytest.approx(float(F.agreement_certificate_mask(x, w, u).double().mean()))
    assert seed.distance_ratios[0] == pytest.approx(seed.radius_ratio)


def test_a_failing_claims_cause_and_the_premise_come_from_the_run(tmp_path):
    # A large "small" init makes the claim fail at tiny scale: the report must explain it with the run's numbers.
    outcome = reproduce(["fig2-gaussian"], scale="tiny", overrides=["init.small=3.0"], reports_dir=tmp_path / "reports",
                        runs_dir=tmp_path / "runs", wandb="disabled", echo=lambda _: None)
    folders = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and (p / "REPORT.md").exists()]
    assert len(folders) == 1
    text = (folders[0] / "REPORT.md").read_text()
    results = json.loads((folders[0] / "results.json").read_text())
    small = outcome.runs[0]
    assert small.spec.model["init_std"] == 3.0
    assert not results["claims"][0]["holds"]

    # Premise: the LP on the exact training split, its numbers in the table and in results.json.
    x, y = small.splits["train"]
    separability = F.linear_separability(x.double(), y)
    premise = results["extra"]["premise"][0]
    assert premise["separable"] is separability.separable is True
    assert premise["teacher_margin"] == pytest.approx(separability.teacher_margin)
    assert f"| {fmt(separability.teacher_margin)} | {fmt(float(x.double().norm(dim=1).max()))} |" in _section(text, "## Premise")

    # Cause: each seed's numbers recomputed here from the final weights appear in the paragraph.
    cause = _section(text, "## Why claims do not hold")
    assert cause.startswith(" (measured)\n\nClaim 1:")
    diagnosis = results["extra"]["diagnosis"][0]
    assert diagnosis["claim"] == 1 and len(diagnosis["seeds"]) == small.num_seeds
    outside, disagreement, certified = [], [], []
    for s in range(small.num_seeds):
        w, u = small.w(s), small.u(s)
        outside.append(1.0 - float(F.linear_region_mask(x, w, u).double().mean()))
        disagreement.append(float(F.linear_disagreement(x, w, u, small.alpha).double().mean()))
        certified.append(float(F.agreement_certificate_mask(x, w, u).double().mean()))
        row = diagnosis["seeds"][s]
        assert row["outside"] == pytest.approx(outside[-1]) and row["disagreement"] == pytest.approx(disagreement[-1])
        assert row["agreement_certified"] == pytest.approx(certified[-1])
    # The monitor logged the same outside fractions the diagnosis measured.
    assert outside == pytest.approx(small.per_seed("linear_region/outside_fraction/train"))
    for values in (disagreement, certified):
        low, high = min(values), max(values)
        assert (fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}") in cause
    assert (folders[0] / "neuron_distances.png").stat().st_size > 2_000

    conclusion = _section(text, "## Conclusion")
    assert "1 of 2 claims" in conclusion and "does not hold at any setting tried" in conclusion
    assert results["conclusion"] in text


def test_a_report_whose_claims_hold_has_no_cause_section(tmp_path):
    reproduce(["fig2-gaussian"], scale="tiny", reports_dir=tmp_path / "reports", runs_dir=tmp_path / "runs",
              wandb="disabled", echo=lambda _: None)
    text = (tmp_path / "reports" / "fig2-gaussian" / "REPORT.md").read_text()
    results = json.loads((tmp_path / "reports" / "fig2-gaussian" / "results.json").read_text())
    if all(c["holds"] for c in results["claims"]):
        assert "## Why claims do not hold" not in text
        assert "2 of 2 claims hold" in _section(text, "## Conclusion")
    assert "## Premise" in text


def test_figure_9s_cause_is_measured_on_the_outlier(tmp_path):
    outcome = reproduce(["fig9"], scale="tiny", reports_dir=tmp_path / "reports", runs_dir=tmp_path / "runs",
                        wandb="disabled", echo=lambda _: None)
    folder = tmp_path / "reports" / "fig9"
    results = json.loads((folder / "results.json").read_text())
    text = (folder / "REPORT.md").read_text()
    if results["claims"][1]["holds"] or results["claims"][1]["found_at"] is not None:
        pytest.skip("the NAR-but-not-PAR claim held at tiny scale: nothing to explain")
    run = outcome.runs[0]
    x, y = run.splits["train"]
    outlier = x[-1].double()  # the datamodule appends the outlier as the last training row
    assert float(y[-1]) > 0
    measured = results["extra"]["diagnosis"][0]["seeds"]
    shares = []
    for s in range(run.num_seeds):
        share = float((run.w(s) @ outlier < 0).double().mean())
        shares.append(share)
        assert measured[s]["outlier_negative_w"] == [pytest.approx(share)]
        nar = F.neural_agreement(x, run.w(s), run.u(s))
        in_nar = float(nar.max_disagreement_w) == 0 and float(nar.max_disagreement_u) == 0
        assert measured[s]["in_nar"] is in_nar
    assert f"[{', '.join(fmt(v) for v in shares)}]" in _section(text, "## Why claims do not hold")
