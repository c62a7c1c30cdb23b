"""Per-example SGD of S networks on a GPU: blocks of steps replayed as one CUDA graph.

The batched step (:func:`lt_teacher.engines.batched.batched_step`, about ten device ops for all S
networks at once, no host synchronisation) is captured once per block of ``block`` steps into a
``torch.cuda.CUDAGraph``; each block of an epoch then costs one graph launch from the host, whatever S
and the block length. Nothing is compiled: the graph records the same torch kernels the eager loop runs,
so the arithmetic is exactly that of :func:`lt_teacher.engines.batched_sgd_steps` (the eager loop on CPU
tensors is the same code path, and is what the tests check on a machine without a GPU).

A captured graph reads the example indices from a static (S, block) buffer and updates W in place, so
it is kept (per W storage, data, hyper-parameters and block length) and replayed on later calls;
steps that do not fill a block run eagerly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lt_teacher._validation import check_int
from lt_teacher.engines._contract import SGDInputs, sgd_engine
from lt_teacher.engines.batched import StepConstants, batched_step, step_constants

__all__ = ["graph_sgd_steps"]

_GRAPHS: dict[tuple[Any, ...], "_BlockGraph"] = {}
_MAX_GRAPHS = 8


class _BlockGraph:
    """``block`` consecutive steps of S networks captured as one CUDA graph."""

    def __init__(self, w: Tensor, x: Tensor, y: Tensor, k_w: int, const: StepConstants, block: int) -> None:
        num_seeds = w.shape[0]
        self.order = torch.zeros(num_seeds, block, dtype=torch.int64, device=w.device)  # static input
        self.losses = torch.zeros(num_seeds, dtype=torch.float64, device=w.device)  # static output
        self.saved = w.clone()
        stream = torch.cuda.Stream(device=w.device)
        stream.wait_stream(torch.cuda.current_stream(w.device))
        with torch.cuda.stream(stream):  # warm-up outside the graph (allocator, cuBLAS handles)
            for t in range(min(block, 3)):
                batched_step(w, x, y, self.order[:, t], k_w, const, self.losses)
        torch.cuda.current_stream(w.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            for t in range(block):
                batched_step(w, x, y, self.order[:, t], k_w, const, self.losses)
        w.copy_(self.saved)  # undo the warm-up steps (capture itself runs nothing)
        self.const = const  # keep the captured constants alive

    def run(self, order_block: Tensor) -> Tensor:
        self.order.copy_(order_block)
        self.losses.zero_()
        self.graph.replay()
        return self.losses


@sgd_engine
def graph_sgd_steps(p: SGDInputs, *, block: int = 64) -> Tensor:
    """Per-example SGD of S networks, one CUDA-graph launch per ``block`` steps (eager on CPU tensors).

    Contract, arithmetic, return value and errors: those of :func:`lt_teacher.engines.batched_sgd_steps`
    (documented in :func:`lt_teacher.engines.fused_sgd_steps`); the result equals the batched engine's
    bit for bit on the same device.

    Args:
        block: steps per captured graph (>= 1). The first call for a given W, data and hyper-parameters
            captures the graph (tens of milliseconds); later calls replay it.

    Example:
        >>> import torch
        >>> w = torch.zeros(2, 2, 3, dtype=torch.float64)
        >>> x, y = torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
        >>> graph_sgd_steps(w, x, y, torch.tensor([[0, 1], [2, 0]]), lr=[0.1, 0.2], alpha=0.5, v=1.0)
        tensor([1.3863, 1.3863], dtype=torch.float64)
    """
    return graph_steps(p, block=check_int(block, "block", minimum=1))


def graph_steps(p: SGDInputs, *, block: int = 64) -> Tensor:
    """The steps of :func:`graph_sgd_steps` on checked inputs (what the fused engine runs on CUDA)."""
    num_seeds = p.weight.shape[0]
    device = p.weight.device
    const = step_constants(p)
    w = p.weight.detach()
    m = p.order.shape[1]
    full = m - m % block if device.type == "cuda" else 0
    losses = torch.zeros(num_seeds, dtype=torch.float64, device=device)
    with torch.no_grad():
        if full:
            graph = _graph_for(w, p.x, p.y, p.k_w, const, block, (p.lr, p.alpha, p.v))
            for start in range(0, full, block):
                losses += graph.run(p.order[:, start : start + block])
        for t in range(full, m):
            batched_step(w, p.x, p.y, p.order[:, t], p.k_w, const, losses)
    return losses


def _graph_for(w: Tensor, x: Tensor, y: Tensor, k_w: int, const: StepConstants, block: int, hyper: tuple[Any, ...]) -> _BlockGraph:
    key = (w.data_ptr(), tuple(w.shape), w.dtype, x.data_ptr(), tuple(x.shape), y.data_ptr(), k_w, block, hyper, w.device)
    graph = _GRAPHS.get(key)
    if graph is None:
        if len(_GRAPHS) >= _MAX_GRAPHS:
            _GRAPHS.pop(next(iter(_GRAPHS)))
        graph = _GRAPHS[key] = _BlockGraph(w, x, y, k_w, const, block)
    return graph
