"""The reference SGD engine: the paper's per-example SGD with one torch autograd forward and backward per example."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from lt_teacher.engines._contract import SGDInputs, sgd_engine
from lt_teacher.functional.network import output_from_preactivations, sgd_logistic_loss

__all__ = ["autograd_sgd_steps", "reference_sgd_steps"]


@sgd_engine
def reference_sgd_steps(p: SGDInputs) -> Tensor:
    """Per-example SGD on the network of Eq. (1), written the slow, plain way with autograd.

    For each seed s and each index i in ``order[s]``: the forward pass of Eq. (1) of
    Sarussi et al. (ICML 2021) (:func:`lt_teacher.functional.output_from_preactivations`), the loss l(q) = log(1 + e^{-q}) of Eq. (2)
    on q = y N(x) (:func:`lt_teacher.functional.sgd_logistic_loss`), ``backward()``, and ``W -= lr * W.grad`` (SGD with batch size 1,
    section 3). It is the reference the fused kernel is tested against, and what
    ``LeakyReLUTeacherNet(engine="reference")`` runs.

    Arguments, return value and errors are those of :func:`lt_teacher.engines.fused_sgd_steps`
    (documented there): ``weight`` (S, 2k, d) is updated in place, and the (S,) float64 sums of
    the pre-update losses are returned, on the device of ``weight``.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> reference_sgd_steps(w, x, torch.ones(1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.int64), 0.1, 0.5, 1.0)
        tensor([0.2014], dtype=torch.float64)
    """
    num_seeds = p.weight.shape[0]
    losses = torch.zeros(num_seeds, dtype=torch.float64, device=p.weight.device)
    for s in range(num_seeds):
        w = p.weight[s].detach().clone().requires_grad_(True)  # (2k, d)
        alpha, v, lr = p.alpha[s], p.v[s], p.lr[s]  # this network's hyper-parameters
        for i in p.order[s].tolist():
            h = (w @ p.x[i]).unsqueeze(0)  # (1, 2k) pre-activations W x
            n_x = output_from_preactivations(h[:, : p.k_w], h[:, p.k_w :], alpha, v)[0]  # Eq. (1)
            q = p.y[i] * n_x
            loss = sgd_logistic_loss(q)  # l(q), Eq. (2), in the network's dtype for the gradient
            losses[s] += sgd_logistic_loss(q.detach().double())  # reported in float64, as the other engines do
            (grad,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                w -= lr * grad
        with torch.no_grad():
            p.weight[s].copy_(w)
    return losses


def autograd_sgd_steps(*args: Any, **kwargs: Any) -> Tensor:
    """Deprecated name of :func:`reference_sgd_steps` (a ``DeprecationWarning``); same arguments and result."""
    warnings.warn(
        "`autograd_sgd_steps` is deprecated, use `reference_sgd_steps` (the same engine, renamed after "
        "LeakyReLUTeacherNet's engine='reference').",
        DeprecationWarning,
        stacklevel=2,
    )
    return reference_sgd_steps(*args, **kwargs)
