"""torchmetrics classes for the paper's statistics on data, exact under DDP.

Each metric accumulates the *sufficient statistics* of :mod:`lt_teacher.functional` (its private
``_<quantity>_update`` helpers) from an :class:`~lt_teacher.functional.evaluation.EvaluationBatch`, in
float64 states whose ``dist_reduce_fx`` makes the result independent of how the points are split among
processes: counts and pairwise agreement matrices sum, per-neuron minimum margins reduce by ``min``, the
log of the summed loss by ``logsumexp``. ``compute`` turns them into the paper's quantities with the
very helpers (``_<quantity>_compute``) behind the public functions, so a metric over batches equals the
function on all points.

A plain PyTorch loop uses them like any torchmetrics metric::

    batch = evaluate_batch(x, y, w, u, alpha)   # pre-activations once per batch
    margin.update(batch)                        # then every metric from the same batch

``update`` also takes the metric's statistics of a batch already computed, a field of
:func:`~lt_teacher.functional.evaluation.batch_statistics` or of
:func:`~lt_teacher.functional.fast_evaluation.evaluate_fast` (which computes them at float32 cost with the
float64 decisions), and :func:`compute_statistics` gives what ``compute()`` would after one such update,
without the metric objects (one batch on one process).
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import torch
from torch import Tensor

from lt_teacher._metric_support import (
    check_batch,
    check_norms,
    check_radius,
    check_size,
    Float64Metric,
    logsumexp_reduce,
    max_reduce,
    min_reduce,
)
from lt_teacher.functional._checks import check_alpha, check_beta, check_float
from lt_teacher.functional.agreement import (
    AgreementStatisticsState,
    NeuralAgreement,
    PARFraction,
    PARStatisticsState,
    _neural_agreement_compute,
    _par_fraction_compute,
)
from lt_teacher.functional.clustering import (
    LinearRegionFractions,
    LinearRegionStatisticsState,
    _linear_region_compute,
)
from lt_teacher.functional.evaluation import BatchStatistics, EvaluationBatch, batch_statistics
from lt_teacher.functional.margins import MarginStatisticsState, MarginSummary, _check_degree, _margin_compute

__all__ = [
    "compute_statistics",
    "AgreementStatistics",
    "LinearRegionStatistics",
    "MarginStatistics",
    "PARStatistics",
]

_F64 = torch.float64



def __getattr__(name: str) -> Any:
    """``MarginSufficientStatistics``: the former name of :class:`MarginStatisticsState`, with a DeprecationWarning."""
    if name == "MarginSufficientStatistics":
        warnings.warn(
            "`lt_teacher.metrics.MarginSufficientStatistics` is deprecated, use `MarginStatisticsState` (same class).",
            DeprecationWarning,
            stacklevel=2,
        )
        return MarginStatisticsState
    raise AttributeError(f"module 'lt_teacher.metrics' has no attribute {name!r}")


def compute_statistics(statistics: BatchStatistics, beta: float = 0.0) -> dict[str, Any]:
    """What each metric's ``compute()`` returns after one ``update`` with these statistics, on one process.

    ``{"linear_region": LinearRegionFractions, "agreement": NeuralAgreement, "par": PARFraction,
    "margin": MarginStatisticsState}`` for the fields that are not None: the same functions the metrics call,
    without the metric objects' bookkeeping (an evaluation of one batch on a single process needs none).
    """
    computed: dict[str, Any] = {}
    if statistics.linear_region is not None:
        computed["linear_region"] = _linear_region_compute(statistics.linear_region)
    if statistics.agreement is not None:
        computed["agreement"] = _neural_agreement_compute(statistics.agreement)
    if statistics.par is not None:
        computed["par"] = _par_fraction_compute(statistics.par.min_w, statistics.par.min_u, beta)
    if statistics.margin is not None:
        computed["margin"] = statistics.margin
    return computed


def _statistics(
    batch: EvaluationBatch, w_norms: Tensor | None = None, u_norms: Tensor | None = None, *,
    radius: Tensor | None = None, beta: float = 0.0, part: str = "linear_region",
) -> BatchStatistics:
    """One metric's part of :func:`~lt_teacher.functional.evaluation.batch_statistics` (the others not computed)."""
    check_batch(batch)
    empty = torch.ones(0, dtype=_F64)
    return batch_statistics(
        batch, empty if w_norms is None else w_norms, empty if u_norms is None else u_norms, radius=radius, beta=beta,
        agreement=part == "agreement", par=part == "par", margin=part == "margin",
    )


class LinearRegionStatistics(Float64Metric):
    """Figure 2: points outside Theorem 5.1's region, and points where sign N(x) != sign((w_bar - u_bar) . x).

    ``update(batch, radius, alpha)`` with the cluster radius r of the network
    (:func:`~lt_teacher.functional.radius`) and the slope alpha the batch was evaluated with (N(x) is the
    batch's ``output``), or ``update(state)`` with a batch's precomputed statistics; ``compute()`` returns a
    :class:`~lt_teacher.functional.LinearRegionFractions` ``(outside_fraction, disagreement_fraction)``,
    equal to :func:`~lt_teacher.functional.linear_region_fractions` on all points. States: three counts
    (``sum``).

    Example:
        >>> import torch
        >>> from lt_teacher.functional import evaluate_batch, linear_region_fractions, radius
        >>> x, y = torch.tensor([[1.0, 0.0], [-1.0, 0.5]]), torch.tensor([1, 0])
        >>> w, u = torch.tensor([[2.0, 0.0], [-1.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
        >>> metric = LinearRegionStatistics()
        >>> for i in range(2):  # one point per batch
        ...     metric.update(evaluate_batch(x[i : i + 1], y[i : i + 1], w, u, 0.1), radius(w, u), 0.1)
        >>> metric.compute().disagreement_fraction
        tensor(0.5000, dtype=torch.float64)
        >>> bool(metric.compute().outside_fraction == linear_region_fractions(x, w, u, 0.1).outside_fraction)
        True
    """

    full_state_update = False
    is_differentiable = False
    n_outside: Tensor
    n_disagree: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # torchmetrics' Metric arguments (compute_on_cpu, sync_on_compute, process_group, ...)
        for name in LinearRegionStatisticsState._fields:
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(
        self, batch: EvaluationBatch | LinearRegionStatisticsState, radius: Tensor | float | None = None, alpha: float | None = None
    ) -> None:
        """Add one batch, with the network's cluster radius r (a tensor or a number >= 0).

        The disagreement compares sign N(x) of the batch (``batch.output``, Eq. 1 with the slope the batch
        was evaluated with) with sign (w_bar - u_bar) . x; ``alpha``, that slope, is only checked (0 < alpha
        < 1): the batch's output already holds it. ``batch`` may instead be the batch's statistics already
        computed (:class:`~lt_teacher.functional.LinearRegionStatisticsState`, e.g. from
        :func:`~lt_teacher.functional.fast_evaluation.evaluate_fast`); ``radius`` is then not needed.
        """
        if alpha is not None:
            check_alpha(alpha)
        if isinstance(batch, LinearRegionStatisticsState):
            stats = batch
        elif radius is None:
            raise TypeError("LinearRegionStatistics.update: `radius` (the cluster radius r) is required with an EvaluationBatch.")
        else:
            r = check_radius(radius)
            stats = cast(LinearRegionStatisticsState, _statistics(batch, radius=r).linear_region)
        self.n_outside = self.n_outside + stats.n_outside
        self.n_disagree = self.n_disagree + stats.n_disagree
        self.count = self.count + stats.count

    def compute(self) -> LinearRegionFractions:
        """The two shares over every point added (0 before any point)."""
        return _linear_region_compute(LinearRegionStatisticsState(self.n_outside, self.n_disagree, self.count))


class _GroupStatistics(Float64Metric):
    """A metric whose states are sized by the two groups, k_w and k_u, and that needs beta and neuron norms."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, k_w: int, k_u: int, beta: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # torchmetrics' Metric arguments (compute_on_cpu, sync_on_compute, process_group, ...)
        self.k_w = check_size(k_w, "k_w")
        self.k_u = check_size(k_u, "k_u")
        self.beta = check_beta(beta)

    @staticmethod
    def _checked(batch: object, w_norms: object, u_norms: object) -> tuple[EvaluationBatch, Tensor, Tensor]:
        checked = check_batch(batch)
        w = check_norms(w_norms, "w_norms", checked.h_w.shape[1])
        u = check_norms(u_norms, "u_norms", checked.h_u.shape[1])
        return checked, w, u


class AgreementStatistics(_GroupStatistics):
    """Definition 6.2 (neural agreement) and max(n_diff) of supplementary 17 over the points added.

    ``AgreementStatistics(k_w, k_u, beta)``; ``update(batch, w_norms, u_norms)`` with the norms of the
    neurons (``w.norm(dim=1)``, ``u.norm(dim=1)``); ``compute()`` returns a
    :class:`~lt_teacher.functional.NeuralAgreement`, equal to :func:`~lt_teacher.functional.neural_agreement`
    on all points. States: the pairwise agreement matrices and three counts (all ``sum``).

    Example:
        >>> import torch
        >>> from lt_teacher.functional import evaluate_batch, neural_agreement
        >>> x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 0])
        >>> w = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
        >>> metric = AgreementStatistics(2, 2)
        >>> metric.update(evaluate_batch(x, y, w, -w, 0.5), w.norm(dim=1), w.norm(dim=1))
        >>> metric.compute().max_disagreement_w, neural_agreement(x, w, -w).max_disagreement_w
        (tensor(1., dtype=torch.float64), tensor(1., dtype=torch.float64))
    """

    agree_w: Tensor
    agree_u: Tensor
    n_agree_w: Tensor
    n_agree_u: Tensor
    n_agree: Tensor
    count: Tensor

    def __init__(self, k_w: int, k_u: int, beta: float = 0.0, **kwargs: Any) -> None:
        super().__init__(k_w, k_u, beta, **kwargs)
        # beta as a state too: a MetricCollection's compute groups share the states of metrics whose states are equal
        # after an update, and two agreements of different beta may be equal on one batch and not on the next
        self.add_state("beta_value", torch.tensor(self.beta, dtype=_F64), dist_reduce_fx="max")
        self.add_state("agree_w", torch.zeros(k_w, k_w, dtype=_F64), dist_reduce_fx="sum")
        self.add_state("agree_u", torch.zeros(k_u, k_u, dtype=_F64), dist_reduce_fx="sum")
        for name in ("n_agree_w", "n_agree_u", "n_agree", "count"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, batch: EvaluationBatch | AgreementStatisticsState, w_norms: Tensor | None = None, u_norms: Tensor | None = None) -> None:
        """Add one batch, with the norms of the w-neurons (k_w,) and of the u-neurons (k_u,), or its statistics."""
        if isinstance(batch, AgreementStatisticsState):
            stats = batch
        else:
            parts = _statistics(*self._checked(batch, w_norms, u_norms), beta=self.beta, part="agreement")
            stats = cast(AgreementStatisticsState, parts.agreement)
        if stats.agree_w.shape != self.agree_w.shape or stats.agree_u.shape != self.agree_u.shape:
            raise ValueError(
                f"AgreementStatistics.update: statistics of groups {tuple(stats.agree_w.shape)}, {tuple(stats.agree_u.shape)}; "
                f"this metric counts k_w={self.k_w}, k_u={self.k_u} neurons."
            )
        self.agree_w = self.agree_w + stats.agree_w
        self.agree_u = self.agree_u + stats.agree_u
        self.n_agree_w = self.n_agree_w + stats.n_agree_w
        self.n_agree_u = self.n_agree_u + stats.n_agree_u
        self.n_agree = self.n_agree + stats.n_agree
        self.count = self.count + stats.count

    def compute(self) -> NeuralAgreement:
        """Definition 6.2 over every point added (fractions 0 and ``in_nar`` False before any point)."""
        return _neural_agreement_compute(
            AgreementStatisticsState(self.agree_w, self.agree_u, self.n_agree_w, self.n_agree_u, self.n_agree, self.count)
        )


class PARStatistics(_GroupStatistics):
    """Definition 6.3: per-neuron minimum of y w_hat . x (w-group) and -y u_hat . x (u-group).

    ``PARStatistics(k_w, k_u, beta)``; ``update(batch, w_norms, u_norms)``; ``compute()`` returns a
    :class:`~lt_teacher.functional.PARFraction`, equal to :func:`~lt_teacher.functional.par_fraction` on
    all points. States: the per-neuron minima (``min``).

    Example:
        >>> import torch
        >>> from lt_teacher.functional import evaluate_batch
        >>> x, y = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([1, -1])
        >>> w, u = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[-1.0, 0.0]])
        >>> metric = PARStatistics(2, 1)
        >>> metric.update(evaluate_batch(x, y, w, u, 0.5), w.norm(dim=1), u.norm(dim=1))
        >>> metric.compute().fraction_w
        tensor(0.5000, dtype=torch.float64)
    """

    min_w: Tensor
    min_u: Tensor

    def __init__(self, k_w: int, k_u: int, beta: float = 0.0, **kwargs: Any) -> None:
        super().__init__(k_w, k_u, beta, **kwargs)
        self.add_state("min_w", torch.full((k_w,), torch.inf, dtype=_F64), dist_reduce_fx=min_reduce)
        self.add_state("min_u", torch.full((k_u,), torch.inf, dtype=_F64), dist_reduce_fx=min_reduce)

    def update(self, batch: EvaluationBatch | PARStatisticsState, w_norms: Tensor | None = None, u_norms: Tensor | None = None) -> None:
        """Add one batch, with the norms of the w-neurons (k_w,) and of the u-neurons (k_u,), or its statistics."""
        if isinstance(batch, PARStatisticsState):
            stats: PARStatisticsState | None = batch
        else:
            stats = _statistics(*self._checked(batch, w_norms, u_norms), beta=self.beta, part="par").par
        if stats is None:  # no point
            return
        if stats.min_w.shape != self.min_w.shape or stats.min_u.shape != self.min_u.shape:
            raise ValueError(
                f"PARStatistics.update: minima of groups {tuple(stats.min_w.shape)}, {tuple(stats.min_u.shape)}; "
                f"this metric counts k_w={self.k_w}, k_u={self.k_u} neurons."
            )
        self.min_w = torch.minimum(self.min_w, stats.min_w)
        self.min_u = torch.minimum(self.min_u, stats.min_u)

    def compute(self) -> PARFraction:
        """Definition 6.3 over every point added."""
        return _par_fraction_compute(self.min_w, self.min_u, self.beta)


class MarginStatistics(Float64Metric):
    """Eq. (2), (4), (5) ingredients: log of the summed loss (``logsumexp``), min margin, max ||x||, counts.

    ``update(batch)``; ``compute()`` returns the reduced
    :class:`~lt_teacher.functional.MarginStatisticsState`; :meth:`summary` turns it into the loss,
    accuracy, normalized and smoothed margins, Assumption 6.1 and Theorem 6.2's threshold
    (:class:`~lt_teacher.functional.MarginSummary`), equal to :func:`~lt_teacher.functional.margin_summary`
    on all points.

    Example:
        >>> import torch
        >>> from lt_teacher.functional import evaluate_batch
        >>> x, y = torch.tensor([[1.0, -1.0], [2.0, 0.0]]), torch.tensor([1, 0])
        >>> w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> metric = MarginStatistics()
        >>> metric.update(evaluate_batch(x, y, w, u, 0.5))
        >>> metric.compute().n_correct
        tensor(1., dtype=torch.float64)
        >>> metric.summary(param_norm=1.0, degree=1, k=1, alpha=0.5, v=1.0).accuracy
        0.5
    """

    full_state_update = False
    is_differentiable = False
    log_n_loss: Tensor
    min_margin: Tensor
    max_input_norm: Tensor
    count: Tensor
    n_correct: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # torchmetrics' Metric arguments (compute_on_cpu, sync_on_compute, process_group, ...)
        self.add_state("log_n_loss", torch.tensor(-torch.inf, dtype=_F64), dist_reduce_fx=logsumexp_reduce)
        self.add_state("min_margin", torch.tensor(torch.inf, dtype=_F64), dist_reduce_fx=min_reduce)
        self.add_state("max_input_norm", torch.zeros((), dtype=_F64), dist_reduce_fx=max_reduce)
        for name in ("count", "n_correct"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, batch: EvaluationBatch | MarginStatisticsState) -> None:
        """Add one batch (an empty batch changes nothing), or its statistics."""
        if isinstance(batch, MarginStatisticsState):
            stats: MarginStatisticsState | None = batch
        else:
            stats = _statistics(check_batch(batch), part="margin").margin
        if stats is None:
            return
        self.log_n_loss = torch.logsumexp(torch.stack([self.log_n_loss, stats.log_n_loss]), 0)
        self.min_margin = torch.minimum(self.min_margin, stats.min_margin)
        self.max_input_norm = torch.maximum(self.max_input_norm, stats.max_input_norm)
        self.count = self.count + stats.count
        self.n_correct = self.n_correct + stats.n_correct

    def compute(self) -> MarginStatisticsState:
        """The reduced statistics: log(n L), min q, n, correctly classified points, max ||x||."""
        return MarginStatisticsState(self.log_n_loss, self.min_margin, self.count, self.n_correct, self.max_input_norm)

    def summary(self, *, param_norm: float, degree: int, k: int, alpha: float, v: float) -> MarginSummary:
        """The margin quantities of section 6 from :meth:`compute` (see :func:`~lt_teacher.functional.margin_summary`).

        Raises:
            ValueError: no point has been added (the loss and accuracy of no points are undefined).
        """
        norm, degree = check_float(param_norm, "param_norm", minimum=0.0), _check_degree(degree)  # as margin_summary
        statistics = self.compute()
        if not float(statistics.count) > 0:
            raise ValueError("MarginStatistics.summary: no point has been added yet (count 0); call `update` with a non-empty batch first.")
        return _margin_compute(statistics, norm, degree, k, check_alpha(alpha), v)
