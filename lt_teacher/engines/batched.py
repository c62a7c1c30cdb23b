"""Per-example SGD for S seeds at once with plain torch ops, on any CPU or CUDA device.

This is the engine :func:`lt_teacher.engines.fused_sgd_steps` falls back to when the
tensors live on a GPU, where the numba kernel cannot run. Each of the m steps is a handful
of batched torch ops over the S seeds (no Python loop over seeds, no host synchronisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_teacher.engines._validation import check_sgd_inputs

__all__ = ["batched_sgd_steps"]


def batched_sgd_steps(
    weight: Tensor,
    x: Tensor,
    y: Tensor,
    order: Tensor,
    lr: float,
    alpha: float,
    v: float,
    k_w: int | None = None,
) -> Tensor:
    """Per-example SGD on the network of Eq. (1) for S seeds, vectorised over seeds with torch ops.

    Same contract and arithmetic as :func:`lt_teacher.engines.fused_sgd_steps` (section 3 of
    Sarussi et al., ICML 2021: batch size 1, loss of Eq. 2, sigma'(0) = alpha): ``weight``
    (S, 2k, d) is updated in place and the (S,) float64 sums of the pre-update losses are
    returned, on the device of ``weight``. Results agree with the numba kernel to rounding
    (the pre-activations are summed by ``torch.bmm`` in its own order).

    Cost: about ten kernel launches per step, whatever S is; on a GPU, batch many seeds.

    Args:
        weight: (S, 2k, d) float32/float64 first-layer weights, contiguous, updated in place.
        x: (n, d) inputs, dtype of ``weight``.
        y: (n,) labels -1/+1, dtype of ``weight``.
        order: (S, m) int64 example indices; row s is the sequence seed s visits.
        lr: learning rate eta > 0.
        alpha: Leaky-ReLU slope in (0, 1).
        v: fixed output weight v > 0.
        k_w: number of w-neurons (rows with output weight +v); default 2k / 2.

    Returns:
        (S,) float64: for each seed, the sum over its m steps of l(q) just before the step.

    Raises:
        TypeError, ValueError: see :func:`lt_teacher.engines.fused_sgd_steps`.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> batched_sgd_steps(w, x, torch.ones(1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.int64), 0.1, 0.5, 1.0)
        tensor([0.2014], dtype=torch.float64)
    """
    p = check_sgd_inputs(weight, x, y, order, lr, alpha, v, k_w)
    return _batched_steps(p.weight, p.x, p.y, p.order, p.lr, p.alpha, p.v, p.k_w)


def _batched_steps(weight: Tensor, x: Tensor, y: Tensor, order: Tensor, lr: float, alpha: float, v: float, k_w: int) -> Tensor:
    """The loop of :func:`batched_sgd_steps` on already validated inputs."""
    num_seeds, rows, _ = weight.shape
    device, dtype = weight.device, weight.dtype
    losses = torch.zeros(num_seeds, dtype=torch.float64, device=device)
    sign = torch.ones(rows, dtype=torch.float64, device=device)  # s_j: +1 w-neurons, -1 u-neurons
    sign[k_w:] = -1.0
    w = weight.detach()
    with torch.no_grad():
        for t in range(order.shape[1]):
            idx = order[:, t]  # (S,)
            xt = x[idx]  # (S, d)
            yt = y[idx]  # (S,)
            h = torch.bmm(w, xt.unsqueeze(2)).squeeze(2)  # (S, 2k) pre-activations
            act = F.leaky_relu(h, alpha)
            q = (yt * (v * (act[:, :k_w].sum(1) - act[:, k_w:].sum(1)))).double()  # (S,) margins
            losses -= F.logsigmoid(q)  # l(q) = log(1 + e^{-q}), stable for any q
            g = (lr * v) * yt.double() * torch.sigmoid(-q)  # (S,) = -lr * dl/dN
            slope = torch.full_like(h, alpha, dtype=torch.float64).masked_fill_(h > 0, 1.0)  # sigma'(h), sigma'(0) = alpha
            c = (g.unsqueeze(1) * sign * slope).to(dtype)  # (S, 2k)
            w.baddbmm_(c.unsqueeze(2), xt.unsqueeze(1))  # w_j += c_j x
    return losses
