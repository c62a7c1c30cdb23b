"""The blocked formulation of the fused engine (issue 11): GEMMs per block of BLOCK_STEPS steps plus Gram corrections.

Every test compares with the autograd reference (one step at a time) or checks bit identities the
engine promises: a grid's network equals the network trained alone, parallel equals serial, calls
split at multiples of BLOCK_STEPS equal one call.
"""

from __future__ import annotations

import pytest
import torch

from lt_teacher.engines import EpochOrder, _blocked, fused_sgd_steps, reference_sgd_steps
from lt_teacher.engines.fused import BLOCK_STEPS

B = BLOCK_STEPS
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
LR, ALPHA, V = [0.05, 0.02, 0.1], [0.2, 0.5, 0.05], [1.0, 0.5, 2.0]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def problem(
    num_seeds: int = 3, n: int = 40, d: int = 12, rows: int = 10, std: float = 0.1, dtype: torch.dtype = torch.float64, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.where(x @ torch.randn(d, generator=g, dtype=torch.float64) >= 0, 1.0, -1.0)
    weight = std * torch.randn(num_seeds, rows, d, generator=g, dtype=torch.float64)
    return weight.to(dtype), x.to(dtype), y.to(dtype)


def steps(m: int, num_seeds: int, n: int, seed: int = 1) -> torch.Tensor:
    """(num_seeds, m): epochs of EpochOrder back to back, cut at m."""
    return EpochOrder(num_seeds, n, seed=seed).next_epochs(-(-m // n))[:, :m]


def compare(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, **kw: object) -> torch.Tensor:
    """Run the fused and the reference engine on copies of ``weight``; assert they agree; return the fused W."""
    w_ref, w_fused = weight.clone(), weight.clone()
    loss_ref = reference_sgd_steps(w_ref, x, y, order, LR, ALPHA, V)
    loss_fused = fused_sgd_steps(w_fused, x, y, order, LR, ALPHA, V, **kw)
    tol = TOL[weight.dtype]
    assert rel_err(w_fused, w_ref) <= tol
    torch.testing.assert_close(loss_fused, loss_ref, rtol=tol, atol=0.0)
    return w_fused


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, B - 1, B, B + 1, 3 * B + 5], ids=lambda m: f"m={m}")
def test_block_edges_match_the_reference(dtype: torch.dtype, m: int) -> None:
    weight, x, y = problem(dtype=dtype)
    assert _blocked.uses_blocks(x)
    w = compare(weight, x, y, steps(m, 3, x.shape[0]))
    assert not torch.equal(w, weight)


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_calls_match_the_reference(dtype: torch.dtype) -> None:
    weight, x, y = problem(dtype=dtype)
    order = steps(2 * B + 30, 3, x.shape[0])
    w_ref = weight.clone()
    reference_sgd_steps(w_ref, x, y, order, LR, ALPHA, V)
    w = weight.clone()
    for part in order.split([5, B - 5, B + 1, 29], dim=1):
        fused_sgd_steps(w, x, y, part, LR, ALPHA, V)
    assert rel_err(w, w_ref) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_init_where_coefficients_underflow(dtype: torch.dtype) -> None:
    weight, x, y = problem(std=30.0, dtype=dtype)
    compare(weight, x, y, steps(2 * B + 7, 3, x.shape[0], seed=3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_n_falls_back_to_the_pair_kernel(dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    weight, x, y = problem(dtype=dtype, seed=4)
    monkeypatch.setattr(_blocked, "GRAM_BYTES", x.shape[0] ** 2 * x.element_size() - 1)
    assert not _blocked.uses_blocks(x)
    computed: list[torch.Tensor] = []
    monkeypatch.setattr(_blocked, "gram", lambda t: computed.append(t) or torch.mm(t, t.t()))
    compare(weight, x, y, steps(B + 9, 3, x.shape[0]))
    assert computed == []  # no Gram matrix: the pair kernel ran


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_grid_network_ends_with_the_bits_it_has_alone(dtype: torch.dtype) -> None:
    weight, x, y = problem(dtype=dtype, seed=5)
    order = steps(2 * B + 11, 3, x.shape[0])
    w_grid = weight.clone()
    loss_grid = fused_sgd_steps(w_grid, x, y, order, LR, ALPHA, V)
    for s in range(3):
        w_one = weight[s : s + 1].clone()
        loss_one = fused_sgd_steps(w_one, x, y, order[s : s + 1], LR[s], ALPHA[s], V[s])
        assert torch.equal(w_one[0], w_grid[s]) and float(loss_one[0]) == float(loss_grid[s])
    w_par = weight.clone()
    loss_par = fused_sgd_steps(w_par, x, y, order, LR, ALPHA, V, parallel=True)
    assert torch.equal(w_par, w_grid) and torch.equal(loss_par, loss_grid)


def test_calls_split_at_block_multiples_give_the_bits_of_one_call() -> None:
    weight, x, y = problem(dtype=torch.float32, seed=6)
    order = steps(3 * B + 17, 3, x.shape[0])
    w_one = weight.clone()
    fused_sgd_steps(w_one, x, y, order, LR, ALPHA, V)
    w_parts = weight.clone()
    for part in order.split(B, dim=1):
        fused_sgd_steps(w_parts, x, y, part, LR, ALPHA, V)
    assert torch.equal(w_parts, w_one)


def test_gram_cache_follows_in_place_changes_of_x() -> None:
    weight, x, y = problem(num_seeds=1, seed=7)
    order = steps(B + 3, 1, x.shape[0])
    first = _blocked.gram(x)
    assert _blocked.gram(x) is first  # cached
    fused_sgd_steps(weight.clone(), x, y, order, 0.05, 0.2, 1.0)
    assert _blocked.gram(x) is first  # reused across calls
    x.mul_(0.5)
    assert _blocked.gram(x) is not first
    w_ref, w_fused = weight.clone(), weight.clone()
    reference_sgd_steps(w_ref, x, y, order, 0.05, 0.2, 1.0)
    fused_sgd_steps(w_fused, x, y, order, 0.05, 0.2, 1.0)
    assert rel_err(w_fused, w_ref) <= 1e-12


def test_bits_do_not_depend_on_torch_threads_and_the_thread_count_is_restored() -> None:
    weight, x, y = problem(dtype=torch.float32, d=64, rows=20, seed=8)
    order = steps(2 * B + 5, 3, x.shape[0])
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            w = weight.clone()
            fused_sgd_steps(w, x, y, order, LR, ALPHA, V)
            assert torch.get_num_threads() == threads  # restored after the call
            results.append(w)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0], results[1])
