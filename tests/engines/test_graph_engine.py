"""The CUDA-graph engine (issue 11, item 5): its step is the batched engine's, checked eagerly on CPU."""

from __future__ import annotations

import doctest

import pytest
import torch

import lt_teacher.engines.graphs
from lt_teacher.engines import EpochOrder, reference_sgd_steps, batched_sgd_steps, fused_sgd_steps, graph_sgd_steps

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def problem(dtype: torch.dtype, seeds: int = 3, n: int = 14, d: int = 5, rows: int = 6, device: str = "cpu"):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0)
    w = 0.2 * torch.randn(seeds, rows, d, generator=g, dtype=torch.float64)
    return w.to(device, dtype), x.to(device, dtype), y.to(device, dtype)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_cpu_path_is_the_batched_engine_and_matches_the_reference(dtype: torch.dtype) -> None:
    w, x, y = problem(dtype)
    order = EpochOrder(3, x.shape[0], seed=2).next_epochs(10)
    hyper = ([0.05, 0.1, 0.02], [0.1, 0.3, 0.5], 1.0)
    graph_w, batched_w, ref_w = w.clone(), w.clone(), w.clone()
    graph_loss = graph_sgd_steps(graph_w, x, y, order, *hyper, block=4)
    batched_loss = batched_sgd_steps(batched_w, x, y, order, *hyper)
    ref_loss = reference_sgd_steps(ref_w, x, y, order, *hyper)
    assert torch.equal(graph_w, batched_w) and torch.equal(graph_loss, batched_loss)
    assert rel_err(graph_w, ref_w) <= TOL[dtype] and rel_err(graph_loss, ref_loss) <= TOL[dtype]


def test_block_is_checked() -> None:
    w, x, y = problem(torch.float64)
    with pytest.raises(ValueError, match="`block` must be an int >= 1, got 0"):
        graph_sgd_steps(w, x, y, torch.zeros(3, 2, dtype=torch.int64), 0.1, 0.1, 1.0, block=0)
    with pytest.raises(TypeError, match="`block` must be an int >= 1, got float 2.0"):
        graph_sgd_steps(w, x, y, torch.zeros(3, 2, dtype=torch.int64), 0.1, 0.1, 1.0, block=2.0)


def test_doctest() -> None:
    assert doctest.testmod(lt_teacher.engines.graphs).failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_cuda_graphs_match_the_cpu_kernel(dtype: torch.dtype) -> None:
    w, x, y = problem(dtype)
    order = EpochOrder(3, x.shape[0], seed=2).next_epochs(10)  # 140 steps: two graph blocks of 64 and 12 eager
    cpu_w = w.clone()
    cpu_loss = fused_sgd_steps(cpu_w, x, y, order, 0.05, 0.2, 1.0)
    gpu_w = w.cuda()
    gpu_loss = fused_sgd_steps(gpu_w, x.cuda(), y.cuda(), order.cuda(), 0.05, 0.2, 1.0)
    assert rel_err(gpu_w.cpu(), cpu_w) <= TOL[dtype] and rel_err(gpu_loss.cpu(), cpu_loss) <= TOL[dtype]
