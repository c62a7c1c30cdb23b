"""The compiled per-example SGD loop: m exact SGD steps for S networks in one call."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lt_teacher._validation import check_bool
from lt_teacher.engines import _kernels
from lt_teacher.engines._contract import SGDInputs, sgd_engine
from lt_teacher.engines.graphs import graph_steps

__all__ = ["fused_sgd_steps"]


@sgd_engine
def fused_sgd_steps(p: SGDInputs, *, parallel: bool = False) -> Tensor:
    """Per-example SGD on the network of Eq. (1) for S independent seeds, compiled with numba.

    The training of section 3 of Sarussi, Brutzkus & Globerson (ICML 2021): the network
    N(x) = v sum_{i<k} sigma(w_i . x) - v sum_{i<k} sigma(u_i . x) (Eq. 1), sigma(z) = max(z, alpha z),
    trained on l(q) = log(1 + e^{-q}), q = y N(x) (the summand of Eq. 2), by SGD with batch size 1:
    W <- W - lr * grad l. The gradient is exact, with sigma'(0) = alpha (the paper's
    convention, and what autograd gives for ``F.leaky_relu``):

        dl/dw_j = -y sigmoid(-q) * s_j sigma'(w_j . x) * x,   s_j = +v (w-neuron), -v (u-neuron).

    Seed s visits the examples ``order[s, 0], order[s, 1], ...`` in that order (a chunk of an
    epoch's permutation, or several epochs back to back; see :class:`EpochOrder`).

    One sweep over W serves two steps: it applies the rank-1 updates of steps t and t + 1
    and computes the pre-activations of steps t + 2 and (up to a rank-1 correction with
    x_{t+2} . x_{t+3}) t + 3; see :mod:`lt_teacher.engines._kernels`. Arithmetic: the vector work
    (pre-activations, N, updates) runs in the dtype of ``weight``; the per-step scalars (q to
    loss, sigmoid(-q), step coefficients) in float64; the loss sum is accumulated in float64.
    No fast-math: two runs with equal inputs give equal bits, the bits do not depend on the
    SIMD width of the machine, and a seed's result does not depend on the other seeds.
    Splitting ``order`` into calls at even offsets gives the same bits as one call; at odd
    offsets the same result up to rounding.

    Each call copies W into a transposed scratch and back and checks its arguments: a fixed
    cost of about 0.1 ms per call and seed at d = 784, 2k = 100 (some 15 steps). Call it with
    an epoch or a long chunk of one, not with one example. The first call per dtype compiles
    the kernel (cached on disk by numba afterwards).

    On CUDA tensors it runs :func:`lt_teacher.engines.graph_sgd_steps`: the batched torch step of all
    S networks, captured as CUDA graphs of 64 steps (one launch per 64 steps; same arithmetic to rounding).

    Args:
        weight: (S, 2k, d) contiguous float32 or float64 first-layer weights of S networks,
            updated in place. Rows ``[0, k_w)`` are w-neurons (output weight +v), the rest
            u-neurons (output weight -v).
        x: (n, d) contiguous inputs, dtype and device of ``weight``.
        y: (n,) labels -1 or +1, dtype and device of ``weight``.
        order: (S, m) int64 indices into ``x``; row s is seed s's sequence (any strides, e.g. a
            column slice of an epoch's permutation).
        lr: learning rate eta > 0; one number for all networks or one per network (a sequence or
            1-D tensor of length S: a grid of networks, each trained exactly as it would be alone).
        alpha: Leaky-ReLU slope in (0, 1); one number or one per network.
        v: fixed output weight v > 0; one number or one per network.
        k_w: number of w-neurons; default 2k / 2 (the paper's k).
        parallel: spread the seeds over numba's threads (``numba.set_num_threads``); the
            result is bit-identical to ``parallel=False``. CPU only; ignored on CUDA.

    Returns:
        (S,) float64 tensor, on the device of ``weight``: for each seed the sum over its m steps
        of l(q) evaluated just before that step's update (what Lightning reports as training
        loss, summed).

    Raises:
        TypeError: a tensor argument is not a tensor or has the wrong dtype (``weight`` not
            float32/float64, ``x``/``y`` not the dtype of ``weight``, ``order`` not int64), or a
            scalar has the wrong type.
        ValueError: shapes that do not fit together, tensors on different or unsupported
            devices, non-contiguous ``weight`` or ``x``, labels other than +-1, indices outside
            [0, n), alpha outside (0, 1), lr or v not > 0, k_w outside [0, 2k]. ``weight`` and ``x``
            are not scanned for NaN/Inf (that would cost more than a hundred steps per call): a NaN
            there shows up as a NaN loss.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)  # k = 1, d = 2
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> y = torch.ones(1, dtype=torch.float64)
        >>> loss = fused_sgd_steps(w, x, y, torch.zeros(1, 1, dtype=torch.int64), lr=0.1, alpha=0.5, v=1.0)
        >>> loss  # l(N(x)) with N(x) = 1 - 0.5 * (-1) = 1.5
        tensor([0.2014], dtype=torch.float64)
        >>> w  # w += 0.1 sigmoid(-1.5) x, u -= 0.1 sigmoid(-1.5) * 0.5 x
        tensor([[[ 1.0182, -0.0182],
                 [-0.0091,  1.0091]]], dtype=torch.float64)
    """
    check_bool(parallel, "parallel")
    if p.weight.device.type != "cpu":
        return graph_steps(p)
    losses = np.zeros(p.weight.shape[0], dtype=np.float64)
    kernel = _kernels.sgd_steps_parallel if parallel else _kernels.sgd_steps_serial
    kernel(
        p.weight.detach().numpy(),
        p.x.detach().numpy(),
        p.y.detach().numpy(),
        p.order.numpy(),
        np.asarray(p.lr, dtype=np.float64),
        np.asarray(p.alpha, dtype=np.float64),
        np.asarray(p.v, dtype=np.float64),
        p.k_w,
        losses,
    )
    return torch.from_numpy(losses)
