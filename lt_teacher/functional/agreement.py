"""Neural agreement (Definition 6.2, supplementary 17) and the perfect agreement regime (Definition 6.3).

Conventions (SPEC "Numerics worth care"):

* A neuron *classifies* point x_i as c in {-1, +1} with margin beta >= 0 when
  c * (w_hat . x_i) >= beta and c * (w_hat . x_i) > 0. A zero pre-activation classifies nothing,
  so sign(0) always counts as a disagreement, also at beta = 0.
* A neuron of norm 0 has no direction w_hat; it classifies nothing, disagrees with every other
  neuron on every point and is never in the PAR.

Every statistic here is a sum, a count or a minimum over points, so it can be accumulated
batch by batch and reduced exactly across processes (see :mod:`lt_teacher.metrics`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher.functional._checks import check_beta, float64_inputs, signed_labels
from lt_teacher.functional._numerics import divide_where_positive, row_norms

_F64 = torch.float64


class NeuralAgreement(NamedTuple):
    """Agreement of the neurons of each group on a set of points (Definition 6.2, Figure 9c).

    Attributes:
        max_disagreement_w: max(n_diff) of the w-group: the largest number of points on which two
            w-neurons classify differently (sign only, supplementary 17). 0 for a single neuron.
        max_disagreement_u: the same for the u-group.
        agreement_fraction_w: share of points on which every w-neuron classifies alike with margin beta.
        agreement_fraction_u: the same for the u-group.
        agreement_fraction: share of points on which both groups agree (each within itself).
        in_nar: True when both groups agree with margin beta on every point: the network is in the
            NAR(beta, c^w, c^u) whose c^w, c^u are the groups' common classifications.
    """

    max_disagreement_w: Tensor
    max_disagreement_u: Tensor
    agreement_fraction_w: Tensor
    agreement_fraction_u: Tensor
    agreement_fraction: Tensor
    in_nar: Tensor


class PARFraction(NamedTuple):
    """Share of each group's neurons in the PAR(beta) (Definition 6.3, Figure 8).

    Attributes:
        fraction_w: share of w-neurons with y_i * w_hat . x_i >= beta (and > 0) on every point.
        fraction_u: share of u-neurons with -y_i * u_hat . x_i >= beta (and > 0) on every point.
    """

    fraction_w: Tensor
    fraction_u: Tensor


class AgreementStatisticsState(NamedTuple):
    """Sufficient statistics of Definition 6.2 over a set of points (float64; every field combines by sum).

    Attributes:
        agree_w: A[l, m], points on which w-neurons l and m have the same nonzero sign, (k_w, k_w).
        agree_u: the same for the u-group, (k_u, k_u).
        n_agree_w: points on which every w-neuron classifies alike with margin beta.
        n_agree_u: the same for the u-group.
        n_agree: points on which both groups agree (each within itself).
        count: n, the number of points.
    """

    agree_w: Tensor
    agree_u: Tensor
    n_agree_w: Tensor
    n_agree_u: Tensor
    n_agree: Tensor
    count: Tensor  # type: ignore[assignment]  # a field named like tuple.count, as the states it mirrors


def normalized_preactivations(h: Tensor, neuron_norms: Tensor) -> Tensor:
    """w_hat . x from h = w . x: divides column l by ||w_l||; columns of zero-norm neurons become 0."""
    if bool((neuron_norms > 0).all()):  # the usual case: the same quotients, without the two masks' passes
        return h / neuron_norms
    return divide_where_positive(h, neuron_norms)


def classifies(signed_margin: Tensor, beta: float) -> Tensor:
    """c * (w_hat . x) >= beta and > 0: the neuron classifies the point as c with margin beta."""
    return (signed_margin >= beta) & (signed_margin > 0)


def pairwise_agreement_counts(h: Tensor) -> Tensor:
    """A[l, m] = number of points on which neurons l and m have the same nonzero sign.

    A sum over points (k x k, float64); the disagreement count n_diff[l, m] of supplementary 17 is
    n - A[l, m]. With s = sign(h) in {-1, 0, 1}, s_l s_m + |s_l| |s_m| is 2 for the same nonzero sign and 0
    otherwise, so A = (S^T S + |S|^T |S|) / 2: float32 products in blocks of 2^22 points, where every
    partial sum is an integer of magnitude below 2^24 and therefore exact, accumulated in float64. In a
    block without a zero pre-activation (the usual case) |S|^T |S| is the block's size in every entry and
    costs no product.
    """
    counts = torch.zeros(h.shape[1], h.shape[1], dtype=torch.float64, device=h.device)
    block = 1 << 22
    for start in range(0, h.shape[0], block):
        signs = torch.sign(h[start : start + block]).to(torch.float32)
        counts += sign_agreement_counts(signs, int(signs.count_nonzero()) < signs.numel())  # a 0 sign? (3x faster than == 0 .any())
    return counts


def sign_agreement_counts(signs: Tensor, has_zero: bool) -> Tensor:
    """:func:`pairwise_agreement_counts` of at most 2^22 points given as float32 signs in {-1, 0, 1} (float64).

    ``has_zero``: whether any sign is 0; without one |S|^T |S| is the number of points in every entry.
    """
    pairs = signs.T @ signs
    if has_zero:
        nonzero = signs.abs()
        pairs.addmm_(nonzero.T, nonzero)
    else:
        pairs += float(signs.shape[0])
    return pairs.to(torch.float64).mul_(0.5)


def max_disagreement(agreement_counts: Tensor, n: int | Tensor) -> Tensor:
    """max over pairs of neurons of n_diff = n - A[l, m] (supplementary 17, Figure 9c)."""
    if agreement_counts.shape[0] < 2:
        return torch.zeros((), dtype=torch.float64)
    off_diagonal = agreement_counts.clone()
    off_diagonal.diagonal().fill_(torch.inf)  # a neuron with itself is not a pair
    return (n - off_diagonal.min()).to(torch.float64)


def group_agrees(h_hat: Tensor, beta: float) -> Tensor:
    """Per point: every neuron of the group classifies it +1 with margin beta, or every one -1.

    ``classifies`` holds for every neuron exactly when it holds for the smallest margin (it is monotone), so
    the row minimum and maximum decide, with no (n, k) boolean masks (``amin``/``amax`` are each much
    faster on CPU than ``aminmax`` or a comparison followed by ``all``).
    """
    if h_hat.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=h_hat.device)
    return group_agrees_from_extremes(h_hat.amin(dim=1), h_hat.amax(dim=1), beta)


def group_agrees_from_extremes(row_min: Tensor, row_max: Tensor, beta: float) -> Tensor:
    """:func:`group_agrees` from each point's smallest and largest w_hat . x over the group."""
    return classifies(row_min, beta) | classifies(-row_max, beta)


def neural_agreement(x: Tensor, w: Tensor, u: Tensor, beta: float = 0.0) -> NeuralAgreement:
    """Neural agreement of each group on the points x (Definition 6.2; max(n_diff) of supplementary 17).

    Args:
        x: points, shape (n, d).
        w: w-neurons, shape (k_w, d).
        u: u-neurons, shape (k_u, d).
        beta: the margin of Definition 6.2, >= 0 (0: agreement in sign only).

    Returns:
        :class:`NeuralAgreement` of float64 scalars (``in_nar`` is a bool tensor).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> w = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
        >>> neural_agreement(x, w, -w).max_disagreement_w
        tensor(1., dtype=torch.float64)
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    beta = check_beta(beta)
    stats = _neural_agreement_update(x64 @ w64.T, x64 @ u64.T, row_norms(w64), row_norms(u64), beta)
    return _neural_agreement_compute(stats)


def _neural_agreement_update(
    h_w: Tensor, h_u: Tensor, w_norms: Tensor, u_norms: Tensor, beta: float
) -> AgreementStatisticsState:
    """Definition 6.2 statistics of one batch from its pre-activations (n, k_w), (n, k_u) and the neuron norms."""
    h_w_hat, h_u_hat = normalized_preactivations(h_w, w_norms), normalized_preactivations(h_u, u_norms)
    return _agreement_from_normalized(h_w, h_u, h_w_hat, h_u_hat, beta)


def _agreement_from_normalized(h_w: Tensor, h_u: Tensor, h_w_hat: Tensor, h_u_hat: Tensor, beta: float) -> AgreementStatisticsState:
    """:func:`_neural_agreement_update` given also the normalized pre-activations w_hat . x (shared with the PAR)."""
    agree_w, agree_u = group_agrees(h_w_hat, beta), group_agrees(h_u_hat, beta)
    return _agreement_state(agree_w, agree_u, pairwise_agreement_counts(h_w), pairwise_agreement_counts(h_u))


def _agreement_state(agree_w: Tensor, agree_u: Tensor, pairs_w: Tensor, pairs_u: Tensor) -> AgreementStatisticsState:
    """Definition 6.2 statistics from each point's group agreement (n,) and the pairwise agreement counts."""
    return AgreementStatisticsState(
        agree_w=pairs_w,
        agree_u=pairs_u,
        n_agree_w=agree_w.sum().to(_F64),
        n_agree_u=agree_u.sum().to(_F64),
        n_agree=(agree_w & agree_u).sum().to(_F64),
        count=torch.tensor(float(agree_w.shape[0]), dtype=_F64, device=agree_w.device),
    )


def _neural_agreement_compute(stats: AgreementStatisticsState) -> NeuralAgreement:
    """:class:`NeuralAgreement` from summed statistics; fractions are counts over n (0 for no point)."""
    count = stats.count.clamp(min=1)
    return NeuralAgreement(
        max_disagreement_w=max_disagreement(stats.agree_w, stats.count),
        max_disagreement_u=max_disagreement(stats.agree_u, stats.count),
        agreement_fraction_w=stats.n_agree_w / count,
        agreement_fraction_u=stats.n_agree_u / count,
        agreement_fraction=stats.n_agree / count,
        in_nar=(stats.n_agree == stats.count) & (stats.count > 0),
    )


def agreement_certificate_mask(x: Tensor, w: Tensor, u: Tensor) -> Tensor:
    """Per point: every neuron of each group has one nonzero sign there (regions C++, C+-, C-+, C--).

    On such a point sign(N(x)) = sign((w_bar - u_bar) . x) exactly, whatever the cluster radius: the
    per-point argument inside the proof of Theorem 5.1 (with all w-neurons positive and all
    u-neurons negative, N(x) = v k (w_bar . x - alpha u_bar . x), which has the sign of
    (w_bar - u_bar) . x; the other three regions alike). Unlike Theorem 5.1's region
    |(w_bar - u_bar) . x| >= 2 r ||x||, it does not depend on the cluster radius r, so a single
    straggler neuron far from its group spoils it only on the points where that neuron's sign
    differs. Neither certificate contains the other; a point in either one is certified. It is the
    per-point form of ``neural_agreement(x, w, u, beta=0).agreement_fraction`` (a zero
    pre-activation certifies nothing).

    Args:
        x, w, u: the points (n, d) and the two neuron groups (k_w, d), (k_u, d).

    Returns:
        One bool per row of x, True where both groups agree in sign.

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[1.0, 0.0], [1.0, 0.5]]), torch.tensor([[-1.0, 0.0]])
        >>> agreement_certificate_mask(torch.tensor([[1.0, 0.0], [1.0, -4.0]]), w, u)
        tensor([ True, False])
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    agree_w = group_agrees(normalized_preactivations(x64 @ w64.T, row_norms(w64)), 0.0)
    agree_u = group_agrees(normalized_preactivations(x64 @ u64.T, row_norms(u64)), 0.0)
    return agree_w & agree_u


def min_signed_margins(h_hat: Tensor, c: Tensor) -> Tensor:
    """Per neuron: min over points of c_i * (w_hat . x_i). Reduces across batches by ``min``."""
    return (c[:, None] * h_hat).amin(dim=0)


class PARStatisticsState(NamedTuple):
    """Sufficient statistics of Definition 6.3 over a set of points (every field combines by min).

    Attributes:
        min_w: per w-neuron, the smallest y w_hat . x, (k_w,) (+inf for no point).
        min_u: per u-neuron, the smallest -y u_hat . x, (k_u,).
    """

    min_w: Tensor
    min_u: Tensor


def _par_fraction_update(h_w_hat: Tensor, h_u_hat: Tensor, c: Tensor) -> PARStatisticsState:
    """Per-neuron minimum margins of one batch: y w_hat . x (w-group), -y u_hat . x (u-group); combine by min."""
    return PARStatisticsState(min_signed_margins(h_w_hat, c), min_signed_margins(h_u_hat, -c))


def _par_fraction_compute(min_w: Tensor, min_u: Tensor, beta: float) -> PARFraction:
    """Definition 6.3 from the per-neuron minimum margins (y for w-neurons, -y for u-neurons)."""
    return PARFraction(
        fraction_w=classifies(min_w, beta).to(_F64).mean(),
        fraction_u=classifies(min_u, beta).to(_F64).mean(),
    )


def par_fraction(x: Tensor, y: Tensor, w: Tensor, u: Tensor, beta: float = 0.0) -> PARFraction:
    """Share of w-neurons that classify every point like y, and of u-neurons like -y (Definition 6.3).

    Args:
        x: points, shape (n, d).
        y: labels in {0, 1} or {-1, +1}, shape (n,).
        w: w-neurons, shape (k_w, d).
        u: u-neurons, shape (k_u, d).
        beta: the PAR margin, >= 0.

    Returns:
        :class:`PARFraction` of float64 scalars in [0, 1].

    Example:
        >>> import torch
        >>> x, y = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([1, -1])
        >>> par_fraction(x, y, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[-1.0, 0.0]]))
        PARFraction(fraction_w=tensor(0.5000, dtype=torch.float64), fraction_u=tensor(1., dtype=torch.float64))
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    c = signed_labels(y, x64.shape[0])
    beta = check_beta(beta)
    h_w_hat = normalized_preactivations(x64 @ w64.T, row_norms(w64))
    h_u_hat = normalized_preactivations(x64 @ u64.T, row_norms(u64))
    return _par_fraction_compute(*_par_fraction_update(h_w_hat, h_u_hat, c), beta)
