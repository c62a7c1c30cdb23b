"""The fused numba SGD kernel against the autograd reference and the batched torch engine."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lt_teacher.engines.batched
import lt_teacher.engines.fused
import lt_teacher.engines.permutations
import lt_teacher.engines.reference
from lt_teacher.engines import EpochOrder, reference_sgd_steps, batched_sgd_steps, fused_sgd_steps
from lt_teacher.engines.fused import BLOCK_STEPS

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (relative to the scale of the reference)."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(torch.finfo(b.dtype).tiny))


def problem(
    num_seeds: int = 2, n: int = 12, d: int = 6, rows: int = 8, std: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian inputs labelled by a random linear teacher, and a Gaussian init of std ``std``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    teacher = torch.randn(d, generator=g, dtype=torch.float64)
    y = torch.where(x @ teacher >= 0, 1.0, -1.0)
    weight = std * torch.randn(num_seeds, rows, d, generator=g, dtype=torch.float64)
    return weight.to(dtype), x.to(dtype), y.to(dtype)


def run(engine, weight, x, y, order, lr=0.05, alpha=0.2, v=1.0, **kw):  # type: ignore[no-untyped-def]
    """Run ``engine`` on a copy of ``weight``; return (new weight, losses)."""
    w = weight.clone()
    losses = engine(w, x, y, order, lr, alpha, v, **kw)
    return w, losses


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k_w", [pytest.param(None, id="k_w=k"), pytest.param(3, id="k_w=3-of-8")])
def test_fused_matches_reference_after_ten_epochs(dtype: torch.dtype, k_w: int | None) -> None:
    weight, x, y = problem(dtype=dtype)
    order = EpochOrder(2, x.shape[0], seed=1).next_epochs(10)
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order, k_w=k_w)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order, k_w=k_w)
    assert w_fused.dtype == dtype and loss_fused.dtype == torch.float64 and loss_fused.shape == (2,)
    assert rel_err(w_fused, w_ref) <= TOL[dtype]
    assert rel_err(loss_fused, loss_ref) <= TOL[dtype]
    assert not torch.equal(w_fused, weight)  # it did train


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_torch_fallback_matches_fused(dtype: torch.dtype) -> None:
    weight, x, y = problem(num_seeds=3, dtype=dtype)
    order = EpochOrder(3, x.shape[0], seed=2).next_epochs(10)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order)
    w_torch, loss_torch = run(batched_sgd_steps, weight, x, y, order)
    assert rel_err(w_torch, w_fused) <= TOL[dtype]
    assert rel_err(loss_torch, loss_fused) <= TOL[dtype]


def test_sigma_prime_at_zero_is_alpha() -> None:
    # x = e_0 and every row has a 0 in coordinate 0, so every pre-activation is exactly 0:
    # N = 0, q = 0, l = log 2, sigmoid(-q) = 1/2, and each row moves by lr * v * y * (1/2) * (+-alpha) * x.
    lr, alpha, v = 0.5, 0.25, 2.0
    weight = torch.tensor([[[0.0, 1.0, -2.0], [0.0, 3.0, 1.0], [0.0, -1.0, 0.5], [0.0, 2.0, 2.0]]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([-1.0], dtype=torch.float64)
    order = torch.zeros(1, 1, dtype=torch.int64)
    step = lr * v * -1.0 * 0.5 * alpha  # = -0.125
    expected = weight.clone()
    expected[0, :2, 0] += step  # w-neurons (+v)
    expected[0, 2:, 0] -= step  # u-neurons (-v)
    for engine in (fused_sgd_steps, batched_sgd_steps, reference_sgd_steps):
        w, losses = run(engine, weight, x, y, order, lr=lr, alpha=alpha, v=v)
        assert torch.equal(w, expected), engine.__name__
        assert losses.tolist() == [math.log(2.0)], engine.__name__


def test_sigma_prime_at_zero_over_several_steps() -> None:
    # Inputs on the axes and rows orthogonal to some of them: exact zeros recur after updates.
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    weight = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]], dtype=torch.float64)
    order = torch.tensor([[0, 1, 2, 3, 2, 0, 1, 3]])
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order)
    assert rel_err(w_fused, w_ref) <= 1e-15
    assert rel_err(loss_fused, loss_ref) <= 1e-15


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("std", [1e-6, 30.0])
def test_extreme_init_scales(dtype: torch.dtype, std: float) -> None:
    weight, x, y = problem(d=20, rows=10, std=std, dtype=dtype)
    order = EpochOrder(2, x.shape[0], seed=3).next_epochs(10)
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order, lr=0.1)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order, lr=0.1)
    assert bool(torch.isfinite(w_fused).all()) and bool(torch.isfinite(loss_fused).all())
    assert rel_err(w_fused, w_ref) <= TOL[dtype]
    assert rel_err(loss_fused, loss_ref) <= TOL[dtype]


@pytest.mark.parametrize("engine", [reference_sgd_steps, batched_sgd_steps, fused_sgd_steps], ids=["reference", "batched", "fused"])
@pytest.mark.parametrize("q", [50.0, 90.0, 104.0, 200.0, 700.0])
def test_a_float32_network_reports_the_float64_loss_of_its_margin(engine, q: float) -> None:  # type: ignore[no-untyped-def]
    """The per-step loss l(q) is float64 of the float32 q = y N(x) in every engine (review: the fused kernel's
    numba float() kept float32, so l(q) underflowed to 0 from q ~ 104 and float32 training logged a loss of 0)."""
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float32)
    weight = torch.tensor([[[q, 0.0], [0.0, 0.0]]], dtype=torch.float32)  # N(x) = w . x = q (v = 1, u . x = 0)
    _, loss = run(engine, weight, x, torch.tensor([1.0]), torch.tensor([[0]]), lr=1e-3, alpha=0.1, v=1.0)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-q)), rel=1e-12) and loss.item() > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_margins_near_plus_minus_1e4(dtype: torch.dtype) -> None:
    # One w-neuron with w . x = 1e4 on every point: q = +1e4 for y = +1 and -1e4 for y = -1.
    x = torch.tensor([[1.0, 0.5], [1.0, -0.5], [1.0, 0.0]], dtype=dtype)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=dtype)
    weight = torch.tensor([[[1e4, 0.0], [-3.0, 0.0]]], dtype=dtype)  # u-neuron contributes alpha * (-3) * -v
    order = torch.tensor([[0, 1, 2, 1, 0]])
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order, lr=1e-3, alpha=0.1, v=1.0)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order, lr=1e-3, alpha=0.1, v=1.0)
    assert bool(torch.isfinite(w_fused).all()) and bool(torch.isfinite(loss_fused).all())
    assert loss_fused.item() == pytest.approx(2 * (1e4 + 0.3), rel=1e-6)  # the two y = -1 visits; the rest ~ 0
    assert rel_err(w_fused, w_ref) <= TOL[dtype]
    assert rel_err(loss_fused, loss_ref) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_seeds_are_independent_bit_for_bit(dtype: torch.dtype) -> None:
    weight, x, y = problem(num_seeds=3, n=15, d=9, rows=6, dtype=dtype)
    order = EpochOrder(3, x.shape[0], seed=4).next_epochs(3)
    w_all, loss_all = run(fused_sgd_steps, weight, x, y, order)
    for s in range(3):
        w_one, loss_one = run(fused_sgd_steps, weight[s : s + 1], x, y, order[s : s + 1])
        assert torch.equal(w_one[0], w_all[s])
        assert torch.equal(loss_one[0], loss_all[s])
    w_par, loss_par = run(fused_sgd_steps, weight, x, y, order, parallel=True)
    assert torch.equal(w_par, w_all) and torch.equal(loss_par, loss_all)


def test_two_identical_runs_are_bit_identical() -> None:
    weight, x, y = problem(num_seeds=2, n=30, d=17, rows=10, dtype=torch.float32)
    order = EpochOrder(2, x.shape[0], seed=5).next_epochs(4)
    w1, l1 = run(fused_sgd_steps, weight, x, y, order)
    w2, l2 = run(fused_sgd_steps, weight, x, y, order)
    assert torch.equal(w1, w2) and torch.equal(l1, l2)


@pytest.mark.parametrize("chunk", [BLOCK_STEPS, 2 * BLOCK_STEPS, 100, 7], ids=["one-block", "two-blocks", "100", "7"])
def test_chunks_compose_to_the_whole_epoch(chunk: int) -> None:
    # W is updated once per block of BLOCK_STEPS steps of a call, so calls split at multiples of
    # BLOCK_STEPS give the same bits as one call; elsewhere the results agree to rounding.
    weight, x, y = problem(n=200, dtype=torch.float64)
    order = EpochOrder(2, x.shape[0], seed=6).next_epochs(3)
    w_whole, loss_whole = run(fused_sgd_steps, weight, x, y, order)
    w_parts = weight.clone()
    loss_parts = sum(fused_sgd_steps(w_parts, x, y, part, 0.05, 0.2, 1.0) for part in order.split(chunk, dim=1))
    if chunk % BLOCK_STEPS == 0:
        assert torch.equal(w_parts, w_whole)
    assert rel_err(w_parts, w_whole) <= 1e-13
    torch.testing.assert_close(loss_parts, loss_whole, rtol=1e-13, atol=0.0)


def test_no_steps_leaves_weight_unchanged() -> None:
    weight, x, y = problem()
    w, losses = run(fused_sgd_steps, weight, x, y, torch.zeros(2, 0, dtype=torch.int64))
    assert torch.equal(w, weight) and losses.tolist() == [0.0, 0.0]


def test_trains_a_parameter_that_requires_grad() -> None:
    weight, x, y = problem(num_seeds=1)
    param = torch.nn.Parameter(weight.clone())
    order = EpochOrder(1, x.shape[0], seed=7).next_epoch()
    fused_sgd_steps(param, x, y, order, 0.05, 0.2, 1.0)
    w_ref, _ = run(reference_sgd_steps, weight, x, y, order)
    assert param.requires_grad
    assert rel_err(param.detach(), w_ref) <= 1e-12


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    num_seeds=st.integers(1, 3),
    n=st.integers(1, 6),
    d=st.integers(1, 7),
    rows=st.integers(1, 6),
    data=st.data(),
)
def test_property_fused_equals_reference(num_seeds: int, n: int, d: int, rows: int, data: st.DataObject) -> None:
    values = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False, width=64)
    x = torch.tensor(data.draw(st.lists(values, min_size=n * d, max_size=n * d)), dtype=torch.float64).reshape(n, d)
    y = torch.tensor(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)), dtype=torch.float64)
    size = num_seeds * rows * d
    weight = torch.tensor(data.draw(st.lists(values, min_size=size, max_size=size)), dtype=torch.float64)
    weight = weight.reshape(num_seeds, rows, d)
    m = data.draw(st.integers(0, 3 * n))
    order = torch.tensor(data.draw(st.lists(st.integers(0, n - 1), min_size=num_seeds * m, max_size=num_seeds * m)), dtype=torch.int64)
    order = order.reshape(num_seeds, m)
    k_w = data.draw(st.integers(0, rows))
    lr = data.draw(st.floats(1e-3, 1.0))
    alpha = data.draw(st.floats(0.01, 0.99))
    v = data.draw(st.floats(0.1, 3.0))
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order, lr, alpha, v, k_w=k_w)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order, lr, alpha, v, k_w=k_w)
    torch.testing.assert_close(w_fused, w_ref, rtol=1e-12, atol=1e-12 * float(w_ref.abs().max()))
    torch.testing.assert_close(loss_fused, loss_ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize(
    "module",
    [lt_teacher.engines.fused, lt_teacher.engines.batched, lt_teacher.engines.reference, lt_teacher.engines.permutations],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_margins_skip_underflowing_updates_without_changing_the_result(dtype: torch.dtype) -> None:
    """Issue 11: at a large initialization sigmoid(-q) underflows; those (subnormal) updates are skipped."""
    weight, x, y = problem(std=30.0, dtype=dtype, n=20)
    order = EpochOrder(2, x.shape[0], seed=3).next_epochs(3)
    w_ref, loss_ref = run(reference_sgd_steps, weight, x, y, order)
    w_fused, loss_fused = run(fused_sgd_steps, weight, x, y, order)
    assert rel_err(w_fused, w_ref) <= TOL[dtype]
    assert rel_err(loss_fused, loss_ref) <= TOL[dtype]
