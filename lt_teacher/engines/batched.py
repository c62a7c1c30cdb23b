"""Per-example SGD for S seeds at once with plain torch ops, on any CPU or CUDA device.

This is the engine :func:`lt_teacher.engines.fused_sgd_steps` falls back to when the
tensors live on a GPU, where the numba kernel cannot run. Each of the m steps is a handful
of batched torch ops over the S seeds (no Python loop over seeds, no host synchronisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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
    lr: float | Sequence[float] | Tensor,
    alpha: float | Sequence[float] | Tensor,
    v: float | Sequence[float] | Tensor,
    k_w: int | None = None,
) -> Tensor:
    """Per-example SGD on the network of Eq. (1) for S seeds, vectorised over seeds with torch ops.

    Same contract and arithmetic as :func:`lt_teacher.engines.fused_sgd_steps` (section 3 of
    Sarussi et al., ICML 2021: batch size 1, loss of Eq. 2, sigma'(0) = alpha): ``weight``
    (S, 2k, d) is updated in place and the (S,) float64 sums of the pre-update losses are
    returned, on the device of ``weight``. Results agree with the numba kernel to rounding
    (the pre-activations are summed by ``torch.bmm`` in its own order).

    Cost: about ten kernel launches per step, whatever S is; on a GPU, batch many seeds.

    Args, return value and errors: exactly those of :func:`lt_teacher.engines.fused_sgd_steps`
    (the contract is documented once, there).

    Example:
        >>> import torch
        >>> w = torch.zeros(2, 2, 2, dtype=torch.float64)  # 2 seeds; zero init: h = 0, sigma'(0) = alpha
        >>> x = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
        >>> batched_sgd_steps(w, x, y, torch.tensor([[0], [1]]), lr=0.1, alpha=0.5, v=1.0)  # l(0) = log 2
        tensor([0.6931, 0.6931], dtype=torch.float64)
        >>> w  # seed s: w += 0.1 * y * (1/2) * 0.5 * x, u -= the same
        tensor([[[ 0.0250, -0.0250],
                 [-0.0250,  0.0250]],
        <BLANKLINE>
                [[-0.0125, -0.0500],
                 [ 0.0125,  0.0500]]], dtype=torch.float64)
    """
    p = check_sgd_inputs(weight, x, y, order, lr, alpha, v, k_w)
    return _batched_steps(p.weight, p.x, p.y, p.order, p.lr, p.alpha, p.v, p.k_w)


class StepConstants(NamedTuple):
    """Per-seed constants of a step, as tensors on the device of W (built once per call)."""

    sign: Tensor  # (2k,) float64: +1 w-neurons, -1 u-neurons
    alpha64: Tensor  # (S, 1) float64
    alpha_t: Tensor  # (S, 1) dtype of W
    v_t: Tensor  # (S,) dtype of W
    lr_v: Tensor  # (S,) float64, lr * v


def step_constants(
    rows: int, k_w: int, lr: tuple[float, ...], alpha: tuple[float, ...], v: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> StepConstants:
    sign = torch.ones(rows, dtype=torch.float64, device=device)
    sign[k_w:] = -1.0
    alpha64 = torch.tensor(alpha, dtype=torch.float64, device=device).unsqueeze(1)
    v_t = torch.tensor(v, dtype=torch.float64, device=device).to(dtype)
    lr_v = torch.tensor([a * b for a, b in zip(lr, v)], dtype=torch.float64, device=device)
    return StepConstants(sign, alpha64, alpha64.to(dtype), v_t, lr_v)


def batched_step(w: Tensor, x: Tensor, y: Tensor, idx: Tensor, k_w: int, const: StepConstants, losses: Tensor) -> None:
    """One SGD step of every seed: seed s on example ``idx[s]``; ``w`` (S, 2k, d) and ``losses`` (S,) in place.

    A fixed sequence of device ops with no host synchronisation and no data-dependent shapes, so that
    :mod:`lt_teacher.engines.graphs` can capture it in a CUDA graph.
    """
    xt = x[idx]  # (S, d)
    yt = y[idx]  # (S,)
    h = torch.bmm(w, xt.unsqueeze(2)).squeeze(2)  # (S, 2k) pre-activations
    act = torch.where(h > 0, h, const.alpha_t * h)  # sigma(h) with each seed's alpha
    q = (yt * (const.v_t * (act[:, :k_w].sum(1) - act[:, k_w:].sum(1)))).double()  # (S,) margins
    losses.sub_(F.logsigmoid(q))  # l(q) = log(1 + e^{-q}), stable for any q
    g = const.lr_v * yt.double() * torch.sigmoid(-q)  # (S,) = -lr * dl/dN
    slope = torch.where(h > 0, 1.0, const.alpha64)  # sigma'(h), sigma'(0) = alpha; float64
    c = (g.unsqueeze(1) * const.sign * slope).to(w.dtype)  # (S, 2k)
    w.baddbmm_(c.unsqueeze(2), xt.unsqueeze(1))  # w_j += c_j x


def _batched_steps(
    weight: Tensor, x: Tensor, y: Tensor, order: Tensor, lr: tuple[float, ...], alpha: tuple[float, ...], v: tuple[float, ...], k_w: int
) -> Tensor:
    """The loop of :func:`batched_sgd_steps` on already validated inputs (``lr``, ``alpha``, ``v``: one per seed)."""
    num_seeds, rows, _ = weight.shape
    losses = torch.zeros(num_seeds, dtype=torch.float64, device=weight.device)
    const = step_constants(rows, k_w, lr, alpha, v, weight.dtype, weight.device)
    w = weight.detach()
    with torch.no_grad():
        for t in range(order.shape[1]):
            batched_step(w, x, y, order[:, t], k_w, const, losses)
    return losses
