"""The two-layer Leaky-ReLU network of Eq. (1) and the logistic loss of Eq. (2).

N(x) = v * sum_i sigma(w_i . x) - v * sum_i sigma(u_i . x),  sigma(z) = max(z, alpha * z).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_groups, check_matrix, output_weight, signed_labels


def leaky_relu(z: Tensor, alpha: float | Tensor) -> Tensor:
    """sigma(z) = max(z, alpha z) for 0 < alpha < 1 (section 3); alpha = 0 is the ReLU (supplementary Figure 4).

    The derivative at 0 is alpha (the paper's convention sigma'(0) = alpha), which is what
    autograd gives for ``torch.nn.functional.leaky_relu``. ``alpha`` may be a tensor that broadcasts
    against ``z`` (one slope per network of a grid, e.g. shape (S, 1) for z of shape (S, k)).
    """
    if isinstance(alpha, Tensor):
        return torch.where(z > 0, z, alpha * z)
    return F.leaky_relu(z, negative_slope=alpha)


def append_bias_coordinate(x: Tensor) -> Tensor:
    """Supplementary 8.1: map x to (x, 1) so a first-layer bias is a weight column."""
    ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
    return torch.cat([x, ones], dim=-1)


def output_from_preactivations(
    h_w: Tensor, h_u: Tensor, alpha: float | Tensor, v: float | Tensor = 1.0, *, scale: float | None = None
) -> Tensor:
    """Eq. (1) given the pre-activations h_w = x W_w^T (n x k_w) and h_u = x W_u^T (n x k_u).

    ``alpha`` and ``v`` may be tensors that broadcast per row (one network per row, as the batched
    SGD engine evaluates S networks at once: alpha of shape (S, 1), v of shape (S,)).

    No checks (the evaluation pass calls it on prepared tensors); 0 <= alpha < 1 and v > 0 are the
    caller's to ensure. ``scale`` is the deprecated name of ``v``.
    """
    if scale is not None:
        v = output_weight(None, scale, "output_from_preactivations")
    return v * (leaky_relu(h_w, alpha).sum(dim=1) - leaky_relu(h_u, alpha).sum(dim=1))


def signed_output_weights(
    k: int, v: float | list[float], k_u: int | None = None, *, dtype: torch.dtype | None = None
) -> Tensor:
    """The fixed output layer of Eq. (1) as a vector a = (v, ..., v, -v, ..., -v) of 2k entries.

    ``v`` a list of S values gives an (S, 2k) matrix, one row per network of a grid. With it Eq. (1)
    reads N(x) = a . sigma(W x) (:func:`output_from_activations`), the form of an ``nn.Module``
    whose second layer is this vector. ``k_u``: the size of the u-group when it differs from k (the
    groups of a learned output layer, :func:`lt_teacher.two_layer_view`). ``dtype``: of the result,
    default torch's default dtype (``torch.float64`` holds every Python float v exactly).
    """
    signs = torch.cat([torch.ones(k, dtype=dtype), -torch.ones(k if k_u is None else k_u, dtype=dtype)])
    return v * signs if isinstance(v, (int, float)) else torch.tensor(v, dtype=signs.dtype).view(-1, 1) * signs


def output_from_activations(activations: Tensor, output_weights: Tensor) -> Tensor:
    """Eq. (1) in its matrix form, N(x) = a . sigma(W x), from the activations sigma(W x).

    ``activations``: (n, 2k) for one network or (S, n, 2k) for S networks; ``output_weights``: a (2k,)
    vector shared by the networks or (S, 2k), one row each (:func:`signed_output_weights`). The same
    N(x) as :func:`output_from_preactivations`, summed in another order (a matrix product): the
    LightningModule evaluates this form, the diagnostics the group sums.
    """
    if output_weights.ndim == 1:
        return activations @ output_weights
    return torch.bmm(activations, output_weights.unsqueeze(2)).squeeze(2)  # (S, n)


def network_output(
    x: Tensor, w: Tensor, u: Tensor, alpha: float, v: float | None = None, *, scale: float | None = None
) -> Tensor:
    """Eq. (1): N(x) for every row of x (n x d), with w-group w (k_w x d) and u-group u (k_u x d).

    Args:
        x: points, (n, d).
        w: w-neurons, (k_w, d).
        u: u-neurons, (k_u, d). Groups may have different sizes (a network with a learned output
            layer, see :func:`lt_teacher.two_layer_view`).
        alpha: the Leaky-ReLU slope, 0 < alpha < 1, or 0 for the ReLU of supplementary Figure 4.
        v: the fixed output weight v > 0 (default 1).
        scale: deprecated name of ``v`` (a ``DeprecationWarning``).

    Example:
        >>> import torch
        >>> network_output(torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 0.5)
        tensor([1.5000])
    """
    w, u = check_groups(w, u)
    x = check_matrix(x, "x", columns=w.shape[1])
    alpha = check_alpha(alpha, relu=True)
    v_checked = output_weight(v, scale, "network_output")
    return output_from_preactivations(x @ w.T, x @ u.T, alpha, v_checked)


def logistic_loss(q: Tensor) -> Tensor:
    """l(q) = log(1 + exp(-q)) on the margins q = y N(x) (Eq. 2), computed as softplus(-q)."""
    return softplus(-q)


def sgd_logistic_loss(q: Tensor) -> Tensor:
    """l(q) = log(1 + e^{-q}) of Eq. (2) as the SGD engines evaluate and differentiate it: ``-logsigmoid(q)``.

    The same function as :func:`logistic_loss` (``softplus(-q)``) in another floating-point
    evaluation, exact for every q: the two differ in the last bit for some q, and the weights the
    reference engine trains (by autograd through this function) and the losses every engine returns
    depend on it bit for bit, so the engines use this form and the diagnostics :func:`logistic_loss`.
    ``F.softplus`` is used by neither: it returns its input unchanged above its threshold 20, which
    moves the loss and its gradient by up to e^{-20}.

    Example:
        >>> import torch
        >>> sgd_logistic_loss(torch.tensor([0.0], dtype=torch.float64))
        tensor([0.6931], dtype=torch.float64)
    """
    return 0.0 - F.logsigmoid(q)  # not -logsigmoid: 0 - (-0.0) is +0.0, so an underflowed loss reads 0, not -0


def softplus(z: Tensor) -> Tensor:
    """log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}), exact for every z (no cut-off threshold)."""
    return z.clamp(min=0) + torch.log1p(torch.exp(-z.abs()))


def log_logistic_loss(q: Tensor) -> Tensor:
    """log l(q) = log(log(1 + exp(-q))) without underflow, in float64.

    For q > 30, log l(q) = -q + log(log1p(z) / z) with z = e^{-q} < 1e-13, and
    log(log1p(z) / z) = -z/2 + O(z^2), so log l(q) = -q - e^{-q}/2 to double precision, also when
    l(q) itself underflows (q of several hundred and beyond). Otherwise l(q) > 1e-14 and the direct
    formula is exact.
    """
    q = q.to(torch.float64)
    large = q > 30.0
    q_small = torch.where(large, torch.zeros_like(q), q)
    return torch.where(large, -q - 0.5 * torch.exp(-q), torch.log(softplus(-q_small)))


def margins(
    x: Tensor, y: Tensor, w: Tensor, u: Tensor, alpha: float, v: float | None = None, *, scale: float | None = None
) -> Tensor:
    """q_i = y_i N(x_i), the per-point network margin of section 3 (labels {0,1} or {-1,+1}).

    Arguments as in :func:`network_output`; ``scale`` is the deprecated name of ``v``.

    Example:
        >>> import torch
        >>> margins(torch.tensor([[1.0, -1.0]]), torch.tensor([0]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 0.5)
        tensor([-1.5000])
    """
    if scale is not None:
        v = output_weight(v, scale, "margins")
    out = network_output(x, w, u, alpha, v)
    return signed_labels(y, out.shape[0]).to(out.dtype) * out
