"""Issue 11, item 1: the float32 evaluation pass takes every decision of the float64 pass (hypothesis)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lt_teacher.functional.clustering import radius as cluster_radius_r
from lt_teacher.functional.evaluation import batch_statistics, evaluate_prepared
from lt_teacher.functional.fast_evaluation import _float32_copy, evaluate_fast, fast_inputs, float32_error_factor, output_error_bound
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics


def statistics(parts, k_w: int, k_u: int, r, beta: float):  # type: ignore[no-untyped-def]
    region, agreement, par, margin = LinearRegionStatistics(), AgreementStatistics(k_w, k_u, beta), PARStatistics(k_w, k_u, beta), MarginStatistics()
    region.update(parts.linear_region)
    agreement.update(parts.agreement)
    par.update(parts.par)
    margin.update(parts.margin)
    return region.compute(), agreement.compute(), par.compute(), margin.compute()


def check_same_decisions(x64: torch.Tensor, y: torch.Tensor, neurons: torch.Tensor, k_w: int, alpha: float, beta: float,
                         r: torch.Tensor | None = None, scale: float = 1.0) -> int:
    """The statistics of the fast pass equal those of the float64 batch: counts exactly, values to rounding."""
    x_norm = x64.norm(dim=1)
    w_norms, u_norms = neurons[:k_w].norm(dim=1), neurons[k_w:].norm(dim=1)
    r = cluster_radius_r(neurons[:k_w], neurons[k_w:]) if r is None else r
    slow = evaluate_prepared(x64, y, x_norm, neurons, k_w, alpha, scale)
    fast = evaluate_fast(x64, fast_inputs(x64), y, x_norm, neurons, k_w, alpha, scale, radius=float(r), beta=beta)
    recomputed, fast_output = fast.recomputed, fast.output
    k_u = neurons.shape[0] - k_w
    reference = batch_statistics(slow, w_norms, u_norms, radius=r, beta=beta)
    (region_s, agree_s, par_s, margin_s) = statistics(reference, k_w, k_u, r, beta)
    (region_f, agree_f, par_f, margin_f) = statistics(fast.statistics, k_w, k_u, r, beta)
    for a, b in zip(region_s, region_f):
        assert torch.equal(a, b)
    for a, b in zip(agree_s, agree_f):
        assert torch.equal(a, b)
    for a, b in zip(par_s, par_f):
        assert torch.equal(a, b)
    assert torch.equal(torch.sign(slow.output), torch.sign(fast_output))  # every sign N(x), hence the accuracy
    assert torch.equal(margin_s.count, margin_f.count) and torch.equal(margin_s.n_correct, margin_f.n_correct)
    assert torch.equal(margin_s.max_input_norm, margin_f.max_input_norm)
    prepared = fast_inputs(x64)
    exact = prepared.exact and torch.equal(neurons.float().double(), neurons)
    if recomputed < x64.shape[0]:  # N(x) float32-accurate: within the documented bound, the loss within its max
        bound = output_error_bound(x_norm, neurons.norm(dim=1), x64.shape[1], scale, exact)
        assert bool(((fast_output - slow.output).abs() <= bound * (1 + 1e-9) + 1e-300).all())
        assert abs(float(margin_f.log_n_loss - margin_s.log_n_loss)) <= float(bound.max()) * (1 + 1e-9) + 1e-15
    scale_q = float(slow.output.abs().max()) + 1e-300  # the smallest margin's row is recomputed in float64
    torch.testing.assert_close(margin_f.min_margin, margin_s.min_margin, rtol=1e-12, atol=1e-12 * scale_q)
    return recomputed


def near_nar(n: int, d: int, k: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points labelled by a teacher and neurons close to +-teacher: few activation patterns (the trained regime)."""
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.where(x @ teacher > 0, 1.0, -1.0).to(torch.float64)
    neurons = torch.cat([teacher + noise * torch.randn(k, d, generator=g, dtype=torch.float64),
                         -teacher + noise * torch.randn(k, d, generator=g, dtype=torch.float64)])
    return x, y, neurons


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), noise=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 10.0]),
       float32_data=st.booleans(), beta=st.sampled_from([0.0, 0.01, 0.3]), alpha=st.sampled_from([0.01, 0.1, 0.5]))
def test_random_batches(seed: int, noise: float, float32_data: bool, beta: float, alpha: float) -> None:
    x, y, neurons = near_nar(64, 12, 3, noise, seed)
    if float32_data:
        x, neurons = x.float().double(), neurons.float().double()
    check_same_decisions(x, y, neurons, 3, alpha, beta)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shift=st.sampled_from([0, 10, 20, 30, 36]), nudge=st.sampled_from([-1, 0, 1]),
       beta=st.sampled_from([0.0, 0.25]), alpha=st.sampled_from([0.1, 0.5]))
def test_adversarial_near_ties(seed: int, shift: int, nudge: int, beta: float, alpha: float) -> None:
    """Pre-activations at, or within float32's rounding of, 0, beta ||w||, the Theorem 5.1 threshold and N(x) = 0.

    The points are built in exact arithmetic (integers and dyadic numbers whose every product and partial sum
    is a float64 number), so the float64 value of each near tie is exact whatever the order of summation:
    h = nudge ||w||^2 on a point of size 2^shift, relative offsets down to 2^-41.
    """
    g = torch.Generator().manual_seed(seed)
    d, k = 8, 3
    x = torch.randint(-4, 5, (48, d), generator=g).to(torch.float64)  # small integers: exact float64 dot products
    neurons = torch.randint(-3, 4, (2 * k, d), generator=g).to(torch.float64)
    if beta > 0:  # neuron 0 of norm 4, so that beta ||w_0|| and the point below are dyadic
        neurons[0] = torch.tensor([2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    # point i orthogonal to neuron i in integers, scaled by 2^shift, then nudged by `nudge` w: h = nudge ||w||^2
    for i in range(2 * k):
        w = neurons[i]
        orthogonal = (w @ w) * x[i] - (x[i] @ w) * w
        x[i] = 2.0**shift * orthogonal + nudge * w
    # a point on which the w- and u-groups cancel: N(x) = 0 exactly when u = w
    neurons[k:] = neurons[:k] if seed % 2 else neurons[k:]
    offset = nudge * 2.0**-shift
    if beta > 0:  # a point exactly at, or a relative 2^-shift from, w_hat_0 . x = beta
        x[10] = neurons[0] / 16 * (1 + offset)
    y = torch.where(torch.arange(48) % 3 == 0, -1.0, 1.0).to(torch.float64)
    # a radius that puts point 11 on Theorem 5.1's boundary |(w_bar - u_bar) . x| = 2 r ||x||
    h = x @ neurons.T
    projection = float(h[11, :k].mean() - h[11, k:].mean())
    r = torch.tensor(abs(projection) / (2 * float(x[11].norm())) * (1 + offset) if x[11].norm() > 0 else 0.1, dtype=torch.float64)
    check_same_decisions(x, y, neurons, k, alpha, beta, r=r)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), exponent=st.sampled_from([-80, -45, -20, 0, 20, 45, 80]), noise=st.sampled_from([1e-3, 1.0]))
def test_extreme_scales(seed: int, exponent: int, noise: float) -> None:
    """Neurons of norm 2^e: float32 under/overflow is detected and those batches go through float64."""
    x, y, neurons = near_nar(64, 10, 3, noise, seed)
    check_same_decisions(x, y, neurons * 2.0**exponent, 3, 0.1, 0.0, scale=2.0 ** (-exponent // 2))


def test_trained_regime_is_decided_in_float32() -> None:
    """Near the NAR almost nothing needs float64, and N(x) comes from the few activation patterns."""
    x, y, neurons = near_nar(4000, 40, 5, 0.01, 0)
    x, neurons = x.float().double(), neurons.float().double()
    assert check_same_decisions(x, y, neurons, 5, 0.1, 0.0) < 40
    fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 5, 0.1, 1.0, radius=0.01)
    assert fast.recomputed < 40 and fast.entries < 4000 * 10 // 100  # the statistics come from float32


def test_error_factor() -> None:
    assert float32_error_factor(784, True) == pytest.approx(784 * 2.0**-24, rel=1e-3)
    assert float32_error_factor(784, False) > float32_error_factor(784, True)
    assert math.isfinite(float32_error_factor(1, True))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), min_size=1, max_size=30))
def test_float32_copy_flags(values: list[float]) -> None:
    """One pass gives the float32 copy, whether it is exact, and whether every nonzero |entry| is in [2^-50, 2^50]."""
    t = torch.tensor(values, dtype=torch.float64)
    t32, exact, in_range = _float32_copy(t)
    assert torch.equal(t32, t.to(torch.float32)) or bool(torch.isnan(t).any())
    assert exact == torch.equal(t.to(torch.float32).to(torch.float64), t)  # NaN is never equal, +-inf is a float32
    a = t.abs()
    assert in_range == bool(((a == 0) | ((a >= 2.0**-50) & (a <= 2.0**50))).all())


def test_entries_near_zero_are_settled_one_by_one() -> None:
    """At a random initialization a few entries per point sit within float32's error of 0: they, not whole points,
    are computed in float64, and every count still equals the float64 pass's."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(500, 200, generator=g, dtype=torch.float64).float().double()
    neurons = (1e-3 * torch.randn(20, 200, generator=g, dtype=torch.float64)).float().double()
    y = torch.where(torch.rand(500, generator=g) > 0.5, 1.0, -1.0).to(torch.float64)
    check_same_decisions(x, y, neurons, 10, 0.2, 0.0)
    fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 10, 0.2, 1.0, radius=0.01)
    assert fast.entries > 0 and fast.recomputed < 500 // 4


def test_float32_overflow_of_the_output_falls_back_to_float64() -> None:
    """Pre-activations within float32's range whose sum N(x) = v sum sigma(h) is not (a huge v): float64 decides."""
    x, y, neurons = near_nar(40, 10, 3, 0.1, 5)
    x, neurons = x * 2.0**40, neurons * 2.0**40  # |h| about 2^81: within the range the pass accepts, N(x) about 2^131
    check_same_decisions(x, y, neurons, 3, 0.1, 0.0, scale=2.0**49)
    fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 3, 0.1, 2.0**49, radius=0.01)
    assert fast.recomputed == 40 and bool(torch.isfinite(fast.output).all())


def test_reduced_precision_float32_products_take_the_float64_pass() -> None:
    """The bound assumes IEEE float32 products: under set_float32_matmul_precision('medium') (bf16 or TF32 inside)
    the float64 pass decides."""
    x, y, neurons = near_nar(64, 12, 3, 0.01, 0)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 3, 0.1, 1.0, radius=0.01)
    finally:
        torch.set_float32_matmul_precision(previous)
    assert fast.recomputed == 64


def test_products_that_underflow_float32_are_within_the_bound_whatever_v() -> None:
    """A tiny v makes v sigma(h) a float32 subnormal: its rounding (2^-150) is absolute, not relative to v, and
    N(x) of a point near 0 must go to float64 (the review's case: float32 gave -2^-149 for N64(x) = +1.1e-46)."""
    e, v = 2.0**-50, 2.0**-50  # v at the lower end of the range the float32 pass accepts
    w1, w2 = [2.0**-48 + 0.98 * e, -(2.0**-48)], [2.0**-48 + 1.80 * e, -(2.0**-48)]  # h = 0.98 and 1.8 times 2^-100
    neurons = torch.tensor([w1, w1, w2], dtype=torch.float64)  # k_w = 2, k_u = 1: N64(x_0) = v (2 (0.98) - 1.8) 2^-100 > 0
    x = torch.tensor([[e, e]] + [[2.0 ** (40 - i), 0.0] for i in range(7)], dtype=torch.float64)
    y = torch.tensor([1.0] + [-1.0] * 7, dtype=torch.float64)
    for r in (None, torch.tensor(0.0, dtype=torch.float64)):
        check_same_decisions(x, y, neurons, 2, 0.1, 0.0, r=r, scale=v)
    fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 2, 0.1, v, radius=0.0)
    assert float(fast.output[0]) > 0 and fast.recomputed < 8  # decided in float64 where float32 cannot, not everywhere


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), exponent=st.sampled_from([-50, -45, -40]), data_exponent=st.sampled_from([-60, -50, -40]))
def test_tiny_output_weight_and_tiny_data(seed: int, exponent: int, data_exponent: int) -> None:
    """v and the pre-activations small enough that v sigma(h) is subnormal in float32: the same decisions."""
    x, y, neurons = near_nar(64, 10, 3, 0.3, seed)
    check_same_decisions(x * 2.0**data_exponent, y, neurons * 2.0**data_exponent, 3, 0.1, 0.0, scale=2.0**exponent)


def test_flush_to_zero_takes_the_float64_pass() -> None:
    """Under torch.set_flush_denormal(True) a float32 product below 2^-126 is 0, beyond the bounds' absolute terms
    (second review: v = 2^-50 and tiny data gave N(x) = -3.8e-37 for a float64 value of +2.1e-37)."""
    x, y, neurons = near_nar(40, 10, 3, 0.1, 2)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        fast = evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 3, 0.1, 1.0, radius=0.01)
        assert fast.recomputed == 40
    finally:
        torch.set_flush_denormal(False)
    assert evaluate_fast(x, fast_inputs(x), y, x.norm(dim=1), neurons, 3, 0.1, 1.0, radius=0.01).recomputed < 40
