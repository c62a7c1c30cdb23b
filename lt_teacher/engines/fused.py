"""The compiled per-example SGD loop: m exact SGD steps for S networks in one call."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lt_teacher._validation import check_bool
from lt_teacher.engines import _blocked, _kernels
from lt_teacher.engines._contract import SGDInputs, sgd_engine
from lt_teacher.engines.graphs import graph_steps

__all__ = ["BLOCK_STEPS", "fused_sgd_steps"]

#: Steps per block of :func:`fused_sgd_steps` (W is updated once per block): calls that split ``order``
#: at multiples of it give the same bits as one call.
BLOCK_STEPS = _blocked.BLOCK


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

    The steps run in blocks of :data:`BLOCK_STEPS` (64) consecutive steps per seed, in GEMMs
    (see :mod:`lt_teacher.engines._blocked`): with W_b the weights at the start of a block and c_i the
    step coefficients of its step i (W <- W + c_i x_i^T), step j's pre-activations are
    W_b x_j + sum_{i<j} c_i (x_i . x_j) (exact in real arithmetic), computed from one product
    W_b X_B^T per block and the Gram entries x_i . x_j; then W_b + C^T X_B, one product, ends the
    block. The Gram matrix X X^T of ``x`` is computed on the first call and cached while ``x`` lives
    and is not modified in place (keyed on the tensor, its version counter and data pointer: a write
    through ``x.data`` or ``x.numpy()`` is not seen, so change a training set out of place); it is
    used when it takes at most 64 MiB (n <= 4096 in float32, n <= 2896 in float64). For larger n the
    steps run in the numba pair kernel of :mod:`lt_teacher.engines._kernels` instead (one sweep over W
    per two steps, no fast-math).

    Arithmetic: the vector work (pre-activations, their corrections, the updates) runs in the dtype of
    ``weight``; the per-step scalars (q to loss, sigmoid(-q), step coefficients) in float64; the loss
    sum is accumulated in float64; a coefficient below 2^-66 (float32) or 2^-962 (float64) is applied
    as 0. The pre-activations and the updates differ from those of a step-by-step loop only by
    rounding. The products are torch's (MKL on x86), run single-threaded (torch's thread count is set
    to 1 during the call and restored), so the bits depend on the inputs and on the CPU and BLAS build
    (MKL picks its kernels by instruction set), not on ``torch.set_num_threads``: two calls with equal
    inputs on one machine give equal bits, a seed's result does not depend on the other seeds of the
    call (one product per seed and block), and ``parallel`` does not change the bits. Splitting
    ``order`` into calls at multiples of :data:`BLOCK_STEPS` gives the same bits as one call;
    elsewhere the same result up to rounding. The pair kernel's bits depend on the inputs only.

    Each call checks its arguments and, per block, gathers the block's examples and runs two products
    per seed: a fixed cost of a few microseconds per block and seed. Call it with an epoch or a long
    chunk of one, not with one example. The first call per dtype compiles the numba part (cached on
    disk by numba afterwards); the first call per training set computes its Gram matrix (about as
    much work as n / 200 epochs at 2k = 100).

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
        parallel: run the seeds on ``numba.get_num_threads()`` threads at once (set it with
            ``numba.set_num_threads``); the result is bit-identical to ``parallel=False``. CPU only;
            ignored on CUDA.

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
    if _blocked.uses_blocks(p.x):
        return torch.from_numpy(_blocked.blocked_steps(p, parallel=parallel))
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
