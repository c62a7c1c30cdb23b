"""Per-example SGD for S seeds at once with plain torch ops, on any CPU or CUDA device.

This is the engine :func:`lt_teacher.engines.fused_sgd_steps` falls back to when the
tensors live on a GPU, where the numba kernel cannot run. Each of the m steps is a handful
of batched torch ops over the S seeds (no Python loop over seeds, no host synchronisation).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher.engines._contract import SGDInputs, sgd_engine
from lt_teacher.functional.network import output_from_preactivations, sgd_logistic_loss

__all__ = ["batched_sgd_steps"]


@sgd_engine
def batched_sgd_steps(p: SGDInputs) -> Tensor:
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
    losses = torch.zeros(p.weight.shape[0], dtype=torch.float64, device=p.weight.device)
    const = step_constants(p)
    w = p.weight.detach()
    with torch.no_grad():
        for t in range(p.order.shape[1]):
            batched_step(w, p.x, p.y, p.order[:, t], p.k_w, const, losses)
    return losses


class StepConstants(NamedTuple):
    """Per-seed constants of a step, as tensors on the device of W (built once per call)."""

    sign: Tensor  # (2k,) float64: +1 w-neurons, -1 u-neurons
    alpha64: Tensor  # (S, 1) float64
    alpha_t: Tensor  # (S, 1) dtype of W
    v_t: Tensor  # (S,) dtype of W
    lr_v: Tensor  # (S,) float64, lr * v


def step_constants(p: SGDInputs) -> StepConstants:
    """The per-seed constants of the steps on ``p``, on the device of ``p.weight``."""
    device, dtype = p.weight.device, p.weight.dtype
    sign = torch.ones(p.weight.shape[1], dtype=torch.float64, device=device)
    sign[p.k_w :] = -1.0
    alpha64 = torch.tensor(p.alpha, dtype=torch.float64, device=device).unsqueeze(1)
    v_t = torch.tensor(p.v, dtype=torch.float64, device=device).to(dtype)
    lr_v = torch.tensor([a * b for a, b in zip(p.lr, p.v)], dtype=torch.float64, device=device)
    return StepConstants(sign, alpha64, alpha64.to(dtype), v_t, lr_v)


def batched_step(w: Tensor, x: Tensor, y: Tensor, idx: Tensor, k_w: int, const: StepConstants, losses: Tensor) -> None:
    """One SGD step of every seed: seed s on example ``idx[s]``; ``w`` (S, 2k, d) and ``losses`` (S,) in place.

    A fixed sequence of device ops with no host synchronisation and no data-dependent shapes, so that
    :mod:`lt_teacher.engines.graphs` can capture it in a CUDA graph.
    """
    xt = x[idx]  # (S, d)
    yt = y[idx]  # (S,)
    h = torch.bmm(w, xt.unsqueeze(2)).squeeze(2)  # (S, 2k) pre-activations
    n_x = output_from_preactivations(h[:, :k_w], h[:, k_w:], const.alpha_t, const.v_t)  # (S,) Eq. (1), each seed's alpha, v
    q = (yt * n_x).double()  # (S,) margins
    losses.add_(sgd_logistic_loss(q))  # l(q) = log(1 + e^{-q}) of Eq. (2)
    g = const.lr_v * yt.double() * torch.sigmoid(-q)  # (S,) = -lr * dl/dN
    slope = torch.where(h > 0, 1.0, const.alpha64)  # sigma'(h), sigma'(0) = alpha; float64
    c = (g.unsqueeze(1) * const.sign * slope).to(w.dtype)  # (S, 2k)
    w.baddbmm_(c.unsqueeze(2), xt.unsqueeze(1))  # w_j += c_j x

