"""Eq. (4), Eq. (5), Assumption 6.1 and the Theorem 6.2 threshold, at the extremes the paper reaches."""

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lt_teacher.functional import (
    log_logistic_loss,
    logistic_loss,
    sgd_logistic_loss,
    log_sum_loss,
    normalized_margin,
    satisfies_assumption_6_1,
    smoothed_margin,
    theorem_6_2_threshold,
)

mpmath.mp.dps = 60


def reference_smoothed(q, norm, degree=1):
    n_loss = mpmath.fsum(mpmath.log1p(mpmath.exp(-mpmath.mpf(float(v)))) for v in q)
    return float(-mpmath.log(mpmath.expm1(n_loss)) / mpmath.mpf(norm) ** degree)


@pytest.mark.parametrize(
    "q",
    [
        [1e4, 2e4, 1.5e4],
        [745.0, 800.0],
        [30.0, 40.0, 50.0],
        [1.0, 2.0, 3.0],
        [1e-3, -1e-3],
        [-5.0, 2.0],
        [-1e3, -999.0, 10.0],
        [-1e3] * 50,
        [37.0] * 1000,
    ],
    ids=["q1e4", "underflow", "large", "moderate", "zero", "mixed", "q-1e3", "all-wrong", "many-equal"],
)
@pytest.mark.parametrize("norm", [1e-3, 1.0, 250.0])
def test_smoothed_margin_matches_mpmath(q, norm):
    got = smoothed_margin(torch.tensor(q, dtype=torch.float32), norm)
    expected = reference_smoothed(q, norm)
    assert math.isfinite(got.item())
    assert got.item() == pytest.approx(expected, rel=1e-6)


@settings(max_examples=300, deadline=None)
@given(q=st.lists(st.floats(-1e3, 1e4), min_size=1, max_size=20), degree=st.sampled_from([1, 2]))
def test_smoothed_margin_property(q, degree):
    got = smoothed_margin(torch.tensor(q, dtype=torch.float64), 3.0, degree)
    expected = reference_smoothed(q, 3.0, degree)
    assert math.isfinite(got.item())
    assert got.item() == pytest.approx(expected, rel=1e-6, abs=1e-12)  # abs: near n L = log 2
    # Lyu & Li: gamma_tilde <= gamma_bar
    assert got.item() <= normalized_margin(torch.tensor(q, dtype=torch.float64), 3.0, degree).item() + 1e-9


@pytest.mark.parametrize("q", [-1e3, -30.0, -1.0, 0.0, 1e-8, 1.0, 30.0, 700.0, 746.0, 1e4])
def test_log_logistic_loss_matches_mpmath(q):
    expected = float(mpmath.log(mpmath.log1p(mpmath.exp(-mpmath.mpf(q)))))
    assert log_logistic_loss(torch.tensor([q])).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("q", [-1e300, -1e3, -30.0, -1.0, 0.0, 1e-8, 1.0, 30.0, 100.0, 700.0, 745.0, 746.0, 1e4, 1e300, math.inf])
def test_logistic_loss_forms_match_mpmath_and_never_read_minus_zero(q, dtype):
    q_t = torch.tensor([q], dtype=torch.float64).to(dtype)
    expected = float(mpmath.log1p(mpmath.exp(-mpmath.mpf(q_t.item()))))  # of the value q rounds to
    for form in (logistic_loss, sgd_logistic_loss):
        got = form(q_t)
        assert got.dtype == dtype
        if math.isinf(got.item()) or expected > torch.finfo(dtype).max:
            assert got.item() == math.inf and expected > torch.finfo(dtype).max / 2
        else:
            assert got.item() == pytest.approx(expected, rel=4 * torch.finfo(dtype).eps, abs=torch.finfo(dtype).tiny)
        assert not torch.signbit(got).any(), f"{form.__name__}({q}) = -0.0"  # l(q) > 0: an underflow reads +0


def test_normalized_margin_hand_computed():
    q = torch.tensor([3.0, -1.0, 2.0])
    assert normalized_margin(q, 2.0).item() == -0.5
    assert normalized_margin(q, 2.0, degree=2).item() == -0.25


def test_assumption_6_1():
    n = 4
    below = torch.full((n,), 3.0)  # n L = 4 log(1 + e^-3) = 0.19 < 1
    above = torch.full((n,), 0.5)  # n L = 4 log(1 + e^-0.5) = 1.9 > 1
    assert bool(satisfies_assumption_6_1(log_sum_loss(below)))
    assert not bool(satisfies_assumption_6_1(log_sum_loss(above)))
    # the smoothed margin is positive exactly when n L < 1
    assert smoothed_margin(below, 1.0).item() > 0 > smoothed_margin(above, 1.0).item()


def test_theorem_6_2_threshold():
    assert theorem_6_2_threshold(50, 0.1, 2.0, 3.0).item() == pytest.approx(math.sqrt(50) * 0.1 * 2.0 * 3.0)
    with pytest.raises(ValueError, match="alpha"):
        theorem_6_2_threshold(50, 1.5, 2.0, 3.0)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((torch.tensor([]), 1.0), ValueError, "non-empty"),
        ((torch.tensor([1.0, float("nan")]), 1.0), ValueError, "NaN"),
        ((torch.tensor([1.0]), 0.0), ValueError, "param_norm"),
        ((torch.tensor([1.0]), 1.0, 0), ValueError, "degree"),
        (([1.0], 1.0), TypeError, "torch.Tensor"),
    ],
    ids=["empty", "nan", "zero-norm", "degree", "list"],
)
def test_bad_margin_inputs(args, error, match):
    with pytest.raises(error, match=match):
        smoothed_margin(*args)


def test_margin_summary_is_the_monitors_margin_family_from_its_ingredients():
    q = torch.tensor([3.0, -0.5, 12.0, 800.0], dtype=torch.float64)
    x_norm = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    from lt_teacher.functional import margin_summary

    s = margin_summary(q, x_norm, 2.0, k=3, alpha=0.1, v=0.5, degree=2)
    n_loss = sum(math.log1p(math.exp(-v)) for v in q.tolist())
    assert s.loss == pytest.approx(n_loss / 4, rel=1e-14)
    assert s.log_loss == pytest.approx(math.log(n_loss / 4), rel=1e-14)
    assert s.accuracy == 0.75
    assert s.normalized == pytest.approx(-0.5 / 4.0, rel=1e-15)
    assert s.smoothed == pytest.approx(float(smoothed_margin(q, 2.0, 2)), rel=1e-15)
    assert s.assumption_6_1 == float(bool(satisfies_assumption_6_1(log_sum_loss(q))))
    assert s.theorem_6_2_threshold == pytest.approx(math.sqrt(3) * 0.1 * 0.5 * 4.0, rel=1e-15)
    assert s.above_threshold == float(s.smoothed > s.theorem_6_2_threshold)
    with pytest.raises(ValueError, match=r"`x_norm` must have shape \(4,\)"):
        margin_summary(q, x_norm[:2], 2.0, k=3, alpha=0.1)
