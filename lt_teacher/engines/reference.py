"""The obviously correct SGD engine: one torch autograd forward and backward per example."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_teacher.engines._validation import check_sgd_inputs

__all__ = ["autograd_sgd_steps"]


def autograd_sgd_steps(
    weight: Tensor,
    x: Tensor,
    y: Tensor,
    order: Tensor,
    lr: float | Sequence[float] | Tensor,
    alpha: float | Sequence[float] | Tensor,
    v: float | Sequence[float] | Tensor,
    k_w: int | None = None,
) -> Tensor:
    """Per-example SGD on the network of Eq. (1), written the slow, plain way with autograd.

    For each seed s and each index i in ``order[s]``: the forward pass of Eq. (1) of
    Sarussi et al. (ICML 2021) with ``F.leaky_relu``, the loss l(q) = log(1 + e^{-q}) of Eq. (2)
    on q = y N(x), ``backward()``, and ``W -= lr * W.grad`` (SGD with batch size 1, section 3).
    It is the reference the fused kernel is tested against, and the ``"autograd"`` engine.

    The loss is written ``-F.logsigmoid(q)``, which equals ``F.softplus(-q)`` but is exact
    everywhere: ``F.softplus`` returns its input unchanged above its threshold 20, which moves
    the loss and its gradient by up to e^{-20} (about 2e-9 relative) for q < -20.

    Arguments, return value and errors are those of :func:`lt_teacher.engines.fused_sgd_steps`
    (documented there): ``weight`` (S, 2k, d) is updated in place, and the (S,) float64 sums of
    the pre-update losses are returned, on the device of ``weight``.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> autograd_sgd_steps(w, x, torch.ones(1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.int64), 0.1, 0.5, 1.0)
        tensor([0.2014], dtype=torch.float64)
    """
    p = check_sgd_inputs(weight, x, y, order, lr, alpha, v, k_w)
    num_seeds = p.weight.shape[0]
    losses = torch.zeros(num_seeds, dtype=torch.float64, device=p.weight.device)
    for s in range(num_seeds):
        w = p.weight[s].detach().clone().requires_grad_(True)  # (2k, d)
        alpha, v, lr = p.alpha[s], p.v[s], p.lr[s]  # this network's hyper-parameters
        for i in p.order[s].tolist():
            act = F.leaky_relu(w @ p.x[i], negative_slope=alpha)  # (2k,) sigma(W x)
            n_x = v * (act[: p.k_w].sum() - act[p.k_w :].sum())  # Eq. (1)
            loss = -F.logsigmoid(p.y[i] * n_x)  # l(q) = log(1 + e^{-q}), Eq. (2)
            losses[s] += loss.detach().double()
            (grad,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                w -= lr * grad
        with torch.no_grad():
            p.weight[s].copy_(w)
    return losses
