"""Why a linear-region claim does not hold: measurements of the trained networks, not opinions.

Theorem 5.1 certifies sign N(x) = sign((w_bar - u_bar) . x) on the points with
|cos(x, w_bar - u_bar)| >= 2 r / ||w_bar - u_bar|| (Eq. 6), where r is the *largest* distance of a
neuron from its group mean. When the fraction of points outside that region stays high, the
measurements here separate the possible causes, per seed, at the run's last epoch:

* is r set by the group or by a few stragglers (neurons much farther from their mean than the
  rest)? What are they: norm, direction, on which points are they active? What would r and the
  outside fraction be without them?
* is the network linear on the data anyway? The true disagreement sign N(x) vs
  sign((w_bar - u_bar) . x) (:func:`~lt_teacher.functional.linear_disagreement`), and the per-point
  certificate of the theorem's proof (:func:`~lt_teacher.functional.agreement_certificate_mask`);
* does the data geometry demand a tiny r? The median |cos(x, w_bar - u_bar)| of the points.

Every quantity is computed with :mod:`lt_teacher.functional`; this module only gathers and words them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from lt_teacher import functional as F
from lt_teacher.functional._checks import signed_labels
from lt_teacher.functional.agreement import classifies, group_agrees, normalized_preactivations

from .report import fmt
from .runner import RunResult

#: A neuron is a straggler when its distance from its group mean exceeds this multiple of the
#: median distance in its group (in a cluster the largest distance is within about twice the median).
STRAGGLER_FACTOR = 3.0
#: The largest disagreement share at which the paragraph calls the network linear on the data.
LINEAR_ON_DATA = 0.01


@dataclass(frozen=True)
class Straggler:
    """One neuron far from its group mean; fractions are of the training points of each label."""

    group: str  # "w" or "u"
    index: int
    distance_ratio: float  # ||w_i - w_bar|| / ||w_bar - u_bar||
    norm_ratio: float  # ||w_i|| / ||w_bar||
    cosine_to_mean: float  # cos(w_i, w_bar)
    active_positive: float  # share of y = +1 points with w_i . x > 0
    active_negative: float
    group_active_positive: float  # the same for the rest of its group (mean over its other neurons)
    group_active_negative: float


@dataclass(frozen=True)
class SeedDiagnosis:
    """The measurements of one network (one seed) on the training points."""

    seed: int
    outside: float  # Theorem 5.1: share of points outside the region
    radius_ratio: float  # r / ||w_bar - u_bar||
    median_distance_ratio: float  # median neuron distance / ||w_bar - u_bar||
    stragglers: list[Straggler]
    radius_ratio_without_stragglers: float  # r / ||w_bar - u_bar|| of the network without its stragglers
    outside_without_stragglers: float  # the outside fraction of that network
    agreement_certified: float  # share certified by the per-point agreement certificate
    certified: float  # share certified by either certificate
    disagreement: float  # share with sign N(x) != sign((w_bar - u_bar) . x)
    accuracy: float
    median_abs_cosine: float  # median |cos(x, w_bar - u_bar)| over the points
    distance_ratios: list[float]  # every neuron's distance / ||w_bar - u_bar||, largest first


@dataclass
class LinearRegionDiagnosis:
    """The diagnosis of one run (all its seeds)."""

    run: str
    epoch: int
    seeds: list[SeedDiagnosis] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run, "epoch": self.epoch, "seeds": [asdict(s) for s in self.seeds]}


def _fraction(mask: torch.Tensor) -> float:
    return float(mask.to(torch.float64).mean()) if mask.numel() else 0.0


def _stragglers(w: torch.Tensor, u: torch.Tensor, x: torch.Tensor, y: torch.Tensor, gap: float) -> tuple[list[Straggler], torch.Tensor, torch.Tensor]:
    """The stragglers of both groups, and masks over w and u that keep the other neurons.

    A straggler's distance from its group mean exceeds ``STRAGGLER_FACTOR`` times the median
    distance in its group (the median is robust to the few stragglers that also shift the mean).
    """
    distances = F.neuron_distances(w, u)
    positive, negative = y > 0, y < 0
    found: list[Straggler] = []
    keeps = []
    for group, neurons, dist in (("w", w, distances[0]), ("u", u, distances[1])):
        keep = dist <= STRAGGLER_FACTOR * float(dist.median())
        keeps.append(keep)
        mean = neurons.mean(dim=0)
        active = (x @ neurons.T) > 0  # (n, k)
        others = keep if bool(keep.any()) else torch.ones_like(keep)
        for i in (~keep).nonzero().flatten().tolist():
            found.append(Straggler(
                group=group,
                index=i,
                distance_ratio=float(dist[i]) / gap,
                norm_ratio=float(neurons[i].norm() / mean.norm()) if float(mean.norm()) > 0 else float("inf"),
                cosine_to_mean=float(torch.nn.functional.cosine_similarity(neurons[i], mean, dim=0)),
                active_positive=_fraction(active[positive, i]),
                active_negative=_fraction(active[negative, i]),
                group_active_positive=_fraction(active[positive][:, others]),
                group_active_negative=_fraction(active[negative][:, others]),
            ))
    return found, keeps[0], keeps[1]


def diagnose_seed(result: RunResult, seed: int, split: str = "train") -> SeedDiagnosis:
    """Measure one network of ``result`` on the points of ``split``."""
    x, y_raw = result.splits[split]
    x = x.flatten(1).to(torch.float64)
    y = signed_labels(y_raw, x.shape[0])
    w, u = result.w(seed), result.u(seed)
    cluster = F.cluster_radius(w, u)
    gap = float(cluster.mean_gap)
    direction = F.linear_direction(w, u)
    stragglers, keep_w, keep_u = _stragglers(w, u, x, y, gap)
    distances = torch.cat(F.neuron_distances(w, u))
    # The network without its stragglers (a group never loses every neuron: the median one stays).
    without = F.cluster_radius(w[keep_w], u[keep_u])
    inside_without = F.linear_region_mask(x, w[keep_w], u[keep_u])
    projection = (x @ direction).abs()
    x_norm = x.norm(dim=1)
    inside_radius = F.linear_region_mask(x, w, u)
    agreement = F.agreement_certificate_mask(x, w, u)
    cosine = projection / torch.where(x_norm > 0, x_norm, torch.ones_like(x_norm)) / gap
    return SeedDiagnosis(
        seed=seed,
        outside=1.0 - _fraction(inside_radius),
        radius_ratio=float(cluster.radius_ratio),
        median_distance_ratio=float(distances.median()) / gap,
        stragglers=stragglers,
        radius_ratio_without_stragglers=float(without.radius_ratio),
        outside_without_stragglers=1.0 - _fraction(inside_without),
        agreement_certified=_fraction(agreement),
        certified=_fraction(agreement | inside_radius),
        disagreement=_fraction(F.linear_disagreement(x, w, u, result.alpha)),
        accuracy=_fraction(torch.sign(F.network_output(x, w, u, result.alpha, result.v)) == y),
        median_abs_cosine=float(cosine.median()),
        distance_ratios=(distances.sort(descending=True).values / gap).tolist(),
    )


def diagnose_linear_region(result: RunResult, split: str = "train") -> LinearRegionDiagnosis:
    """:func:`diagnose_seed` for every seed of ``result`` at its last epoch."""
    report = LinearRegionDiagnosis(run=result.spec.label, epoch=int(result.last["epoch"]))
    report.seeds = [diagnose_seed(result, s, split) for s in range(result.num_seeds)]
    return report


def _range(values: Sequence[float]) -> str:
    low, high = min(values), max(values)
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"


def linear_region_paragraph(diagnosis: LinearRegionDiagnosis) -> str:
    """One paragraph with the numbers of :func:`diagnose_linear_region`, in plain words."""
    seeds = diagnosis.seeds
    n = len(seeds)
    parts = [f"**{diagnosis.run}**, epoch {diagnosis.epoch}, training points, {n} seed{'s' if n > 1 else ''}."]
    with_stragglers = [s for s in seeds if s.stragglers]
    if with_stragglers:
        lines = []
        for s in with_stragglers:
            groups = ", ".join(f"{g.group}{g.index}" for g in s.stragglers)
            lines.append(
                f"seed {s.seed}: {len(s.stragglers)} neuron(s) ({groups}) at {_range([g.distance_ratio for g in s.stragglers])}"
                f" × ‖w̄−ū‖ from their group mean (median neuron {fmt(s.median_distance_ratio)}); cos to the group mean "
                f"{_range([g.cosine_to_mean for g in s.stragglers])}, norm {_range([g.norm_ratio for g in s.stragglers])} × the mean's; "
                f"active on {_range([g.active_positive for g in s.stragglers])} of the +1 and {_range([g.active_negative for g in s.stragglers])} "
                f"of the −1 points (the rest of the group: {_range([g.group_active_positive for g in s.stragglers])} and "
                f"{_range([g.group_active_negative for g in s.stragglers])}); outside fraction {fmt(s.outside)}, without them "
                f"r/‖w̄−ū‖ would be {fmt(s.radius_ratio_without_stragglers)} and the outside fraction {fmt(s.outside_without_stragglers)}"
            )
        parts.append(
            f"**r is set by stragglers in {len(with_stragglers)} of {n} seeds** (a neuron more than {fmt(STRAGGLER_FACTOR)}× the "
            "median distance in its group from the group mean): " + "; ".join(lines) + "."
        )
    clean = [s for s in seeds if not s.stragglers]
    if clean:
        parts.append(
            f"In the {'other ' if with_stragglers else ''}{len(clean)} seed{'s' if len(clean) > 1 else ''} the neurons are clustered "
            f"(r/‖w̄−ū‖ {_range([s.radius_ratio for s in clean])}), yet {_range([s.outside for s in clean])} of the points are outside: "
            f"a point is inside only if |cos(x, w̄−ū)| ≥ 2r/‖w̄−ū‖ (Eq. 6), and the median |cos(x, w̄−ū)| of these points is "
            f"{_range([s.median_abs_cosine for s in clean])}, so r/‖w̄−ū‖ must fall below "
            f"{_range([s.median_abs_cosine / 2.0 for s in clean])} for half of them to be inside."
        )
    worst = max(s.disagreement for s in seeds)
    if worst <= LINEAR_ON_DATA:
        lead = "**The learned network is linear on the data nonetheless:**"
        close = (" Theorem 5.1's region is a sufficient condition that a max over neurons makes fragile, "
                 "not a measure of how linear the network is.")
    else:
        lead = "**The learned network is not linear on all the data:**"
        close = ""
    parts.append(
        f"{lead} sign N(x) ≠ sign((w̄−ū)·x) on {_range([s.disagreement for s in seeds])} "
        f"of the points (training accuracy {_range([s.accuracy for s in seeds])}); the per-point certificate of the theorem's proof "
        f"(every neuron of each group of one sign) certifies {_range([s.agreement_certified for s in seeds])} of them, and either "
        f"certificate {_range([s.certified for s in seeds])}.{close}"
    )
    return " ".join(parts)


@dataclass(frozen=True)
class NARSeedDiagnosis:
    """How the w-group treats the training points, and the outliers in particular, at the last epoch.

    An NAR that is not a PAR (Figure 9) needs every w-neuron to agree on every point (no split point
    in either group) and the common classification to differ from y somewhere (a wrongly agreed point).
    """

    seed: int
    split_points_w: int  # points where the w-neurons' signs differ (each is a disagreement, Definition 6.2)
    split_points_u: int
    wrongly_agreed_w: int  # points where every w-neuron classifies against y (outside the PAR)
    outlier_negative_w: list[float]  # per outlier: share of w-neurons with w . x_o < 0
    in_nar: bool
    in_nar_not_par: bool


def diagnose_nar_seed(result: RunResult, seed: int, outliers: int) -> NARSeedDiagnosis:
    """Measure one network of ``result`` on its training split, whose last ``outliers`` rows are the outliers."""
    x, y_raw = result.splits["train"]
    x = x.flatten(1).to(torch.float64)
    y = signed_labels(y_raw, x.shape[0])
    w, u = result.w(seed), result.u(seed)
    # Definition 6.2 at beta = 0 through the functional helpers the NAR/PAR monitors use.
    h_w = normalized_preactivations(x @ w.T, w.norm(dim=1))
    h_u = normalized_preactivations(x @ u.T, u.norm(dim=1))
    split_w, split_u = ~group_agrees(h_w, 0.0), ~group_agrees(h_u, 0.0)
    wrong_w = classifies(-y[:, None] * h_w, 0.0).all(dim=1)  # every w-neuron classifies the point against y
    in_nar = not bool(split_w.any()) and not bool(split_u.any())
    return NARSeedDiagnosis(
        seed=seed,
        split_points_w=int(split_w.sum()),
        split_points_u=int(split_u.sum()),
        wrongly_agreed_w=int(wrong_w.sum()),
        outlier_negative_w=[_fraction(h_w[i] < 0) for i in range(x.shape[0] - outliers, x.shape[0])],
        in_nar=in_nar,
        in_nar_not_par=in_nar and bool(wrong_w.any()),
    )


def nar_paragraph(runs: Sequence[tuple[str, Sequence[NARSeedDiagnosis]]]) -> str:
    """What the w-group does on the outliers in every run tried, and why no NAR-but-not-PAR was seen."""
    lines = []
    for label, seeds in runs:
        negative = [f"{fmt(max(s.outlier_negative_w))}" for s in seeds]
        lines.append(
            f"{label}: share of w-neurons negative on the outlier per seed [{', '.join(negative)}], points the w-group splits "
            f"on per seed [{', '.join(str(s.split_points_w) for s in seeds)}], in an NAR in {sum(s.in_nar for s in seeds)} of "
            f"{len(seeds)} seeds, in an NAR that is not a PAR in {sum(s.in_nar_not_par for s in seeds)}"
        )
    all_seeds = [s for _, seeds in runs for s in seeds]
    all_negative = sum(1 for s in all_seeds if s.outlier_negative_w and min(s.outlier_negative_w) == 1.0)
    nar_positive = sum(1 for s in all_seeds if s.in_nar and s.outlier_negative_w and max(s.outlier_negative_w) == 0.0)
    split = sum(1 for s in all_seeds if s.outlier_negative_w and 0.0 < max(s.outlier_negative_w) < 1.0)
    found = sum(s.in_nar_not_par for s in all_seeds)
    text = "**Figure 9's NAR that is not a PAR, measured at the last epoch of every run tried:** " + "; ".join(lines) + "."
    text += (
        f" An NAR that is not a PAR needs the w-group to agree against y somewhere, here: every w-neuron negative on the "
        f"positive outlier. Of {len(all_seeds)} networks, {all_negative} had every w-neuron negative on an outlier, "
        f"{nar_positive} were in an NAR with every w-neuron positive on the outliers (in the PAR there), and {split} had the "
        f"w-group split on an outlier (some neurons negative, the others positive: max(n_diff) >= 1, no NAR). "
        f"NAR but not PAR: {found} of {len(all_seeds)}."
    )
    return text


__all__ = [
    "LinearRegionDiagnosis",
    "NARSeedDiagnosis",
    "diagnose_nar_seed",
    "nar_paragraph",
    "STRAGGLER_FACTOR",
    "SeedDiagnosis",
    "Straggler",
    "diagnose_linear_region",
    "diagnose_seed",
    "linear_region_paragraph",
]
