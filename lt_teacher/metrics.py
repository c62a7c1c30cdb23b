"""torchmetrics wrappers of the paper's statistics, exact under DDP.

Each metric accumulates *sufficient statistics* of an :class:`~lt_teacher.functional.evaluation.EvaluationBatch`
in float64 states whose ``dist_reduce_fx`` makes the result independent of how the points are split
among processes: counts and pairwise agreement matrices sum, per-neuron minimum margins reduce by
``min``, the log of the summed loss by ``logsumexp``. ``compute`` turns them into the paper's
quantities through the same functions as :mod:`lt_teacher.functional`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torchmetrics import Metric

from lt_teacher.functional.agreement import (
    NeuralAgreement,
    PARFraction,
    group_agrees,
    max_disagreement,
    min_signed_margins,
    normalized_preactivations,
    pairwise_agreement_counts,
    par_fraction_from_min_margins,
)
from lt_teacher.functional.clustering import linear_disagreement_from_preactivations, linear_region_from_preactivations
from lt_teacher.functional.evaluation import EvaluationBatch
from lt_teacher.functional._checks import check_beta
from lt_teacher.functional.margins import log_logistic_loss

_F64 = torch.float64


def _logsumexp_reduce(stacked: Tensor) -> Tensor:
    """Reduce per-process log-sums: log(sum_p exp(s_p))."""
    return torch.logsumexp(stacked, dim=0)


def _min_reduce(stacked: Tensor) -> Tensor:
    return stacked.min(dim=0).values


def _max_reduce(stacked: Tensor) -> Tensor:
    return stacked.max(dim=0).values


def _check_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int >= 1 (neurons in the group), got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an int >= 1 (neurons in the group), got {value}.")
    return value


def _check_batch(batch: object) -> EvaluationBatch:
    if not isinstance(batch, EvaluationBatch):
        raise TypeError(
            f"`batch` must be an EvaluationBatch (from lt_teacher.functional.evaluation.evaluate_batch), got {type(batch).__name__}."
        )
    return batch


def _check_norms(norms: object, name: str, size: int) -> Tensor:
    if not isinstance(norms, Tensor) or norms.shape != (size,):
        shape = tuple(norms.shape) if isinstance(norms, Tensor) else type(norms).__name__
        raise ValueError(f"`{name}` must have shape ({size},), one norm per neuron of the group, got {shape}.")
    return norms


class LinearRegionStatistics(Metric):
    """Points outside Theorem 5.1's region, and points where sign N(x) != sign((w_bar - u_bar) . x).

    ``update(batch, radius, alpha)``; ``compute()`` -> (outside_fraction, disagreement_fraction).
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("n_outside", "n_disagree", "count"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, batch: EvaluationBatch, radius: Tensor, alpha: float) -> None:
        _check_batch(batch)
        inside = linear_region_from_preactivations(batch.h_w, batch.h_u, batch.x_norm, radius.to(batch.h_w.device))
        self.n_outside += (~inside).sum()
        self.n_disagree += linear_disagreement_from_preactivations(batch.h_w, batch.h_u, alpha).sum()
        self.count += batch.y.shape[0]

    def compute(self) -> tuple[Tensor, Tensor]:
        count = self.count.clamp(min=1)
        return self.n_outside / count, self.n_disagree / count


class AgreementStatistics(Metric):
    """Definition 6.2 on the accumulated points: pairwise agreement counts and per-point group agreement."""

    full_state_update = False

    def __init__(self, k_w: int, k_u: int, beta: float = 0.0) -> None:
        super().__init__()
        _check_size(k_w, "k_w")
        _check_size(k_u, "k_u")
        self.beta = check_beta(beta)
        self.add_state("agree_w", torch.zeros(k_w, k_w, dtype=_F64), dist_reduce_fx="sum")
        self.add_state("agree_u", torch.zeros(k_u, k_u, dtype=_F64), dist_reduce_fx="sum")
        for name in ("n_agree_w", "n_agree_u", "n_agree", "count"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, batch: EvaluationBatch, w_norms: Tensor, u_norms: Tensor) -> None:
        _check_batch(batch)
        _check_norms(w_norms, "w_norms", batch.h_w.shape[1])
        _check_norms(u_norms, "u_norms", batch.h_u.shape[1])
        self.agree_w += pairwise_agreement_counts(batch.h_w)
        self.agree_u += pairwise_agreement_counts(batch.h_u)
        agree_w = group_agrees(normalized_preactivations(batch.h_w, w_norms), self.beta)
        agree_u = group_agrees(normalized_preactivations(batch.h_u, u_norms), self.beta)
        self.n_agree_w += agree_w.sum()
        self.n_agree_u += agree_u.sum()
        self.n_agree += (agree_w & agree_u).sum()
        self.count += batch.y.shape[0]

    def compute(self) -> NeuralAgreement:
        count = self.count.clamp(min=1)
        return NeuralAgreement(
            max_disagreement_w=max_disagreement(self.agree_w, self.count),
            max_disagreement_u=max_disagreement(self.agree_u, self.count),
            agreement_fraction_w=self.n_agree_w / count,
            agreement_fraction_u=self.n_agree_u / count,
            agreement_fraction=self.n_agree / count,
            in_nar=(self.n_agree == self.count) & (self.count > 0),
        )


class PARStatistics(Metric):
    """Definition 6.3: per-neuron minimum of y w_hat . x (w-group) and -y u_hat . x (u-group)."""

    full_state_update = False

    def __init__(self, k_w: int, k_u: int, beta: float = 0.0) -> None:
        super().__init__()
        _check_size(k_w, "k_w")
        _check_size(k_u, "k_u")
        self.beta = check_beta(beta)
        self.add_state("min_w", torch.full((k_w,), torch.inf, dtype=_F64), dist_reduce_fx=_min_reduce)
        self.add_state("min_u", torch.full((k_u,), torch.inf, dtype=_F64), dist_reduce_fx=_min_reduce)

    def update(self, batch: EvaluationBatch, w_norms: Tensor, u_norms: Tensor) -> None:
        _check_batch(batch)
        _check_norms(w_norms, "w_norms", batch.h_w.shape[1])
        _check_norms(u_norms, "u_norms", batch.h_u.shape[1])
        if batch.y.shape[0] == 0:
            return
        self.min_w = torch.minimum(self.min_w, min_signed_margins(normalized_preactivations(batch.h_w, w_norms), batch.y))
        self.min_u = torch.minimum(self.min_u, min_signed_margins(normalized_preactivations(batch.h_u, u_norms), -batch.y))

    def compute(self) -> PARFraction:
        return par_fraction_from_min_margins(self.min_w, self.min_u, self.beta)


class MarginSufficientStatistics(NamedTuple):
    """Reduced margin statistics: log(n L), min q, n, correctly classified points, max ||x||."""

    log_n_loss: Tensor
    min_margin: Tensor
    count: Tensor
    n_correct: Tensor
    max_input_norm: Tensor


class MarginStatistics(Metric):
    """Eq. (2), (4), (5) ingredients: log of the summed loss (logsumexp-reduced), min margin, max ||x||."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("log_n_loss", torch.tensor(-torch.inf, dtype=_F64), dist_reduce_fx=_logsumexp_reduce)
        self.add_state("min_margin", torch.tensor(torch.inf, dtype=_F64), dist_reduce_fx=_min_reduce)
        self.add_state("max_input_norm", torch.zeros((), dtype=_F64), dist_reduce_fx=_max_reduce)
        for name in ("count", "n_correct"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, batch: EvaluationBatch) -> None:
        _check_batch(batch)
        if batch.y.shape[0] == 0:
            return
        q = batch.margins
        self.log_n_loss = torch.logsumexp(torch.stack([self.log_n_loss, torch.logsumexp(log_logistic_loss(q), 0)]), 0)
        self.min_margin = torch.minimum(self.min_margin, q.min())
        self.max_input_norm = torch.maximum(self.max_input_norm, batch.x_norm.max())
        self.count += q.shape[0]
        self.n_correct += (q > 0).sum()

    def compute(self) -> MarginSufficientStatistics:
        return MarginSufficientStatistics(self.log_n_loss, self.min_margin, self.count, self.n_correct, self.max_input_norm)
