"""linear_separability: the paper's premise (section 3), decided with a certificate either way."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lt_teacher.functional import linear_separability


def perceptron(signed: np.ndarray, max_epochs: int = 10_000) -> np.ndarray | None:
    """Rosenblatt's perceptron on rows y_i x_i; returns w with signed @ w > 0, or None if not converged."""
    w = np.zeros(signed.shape[1])
    for _ in range(max_epochs):
        mistakes = 0
        for row in signed:
            if row @ w <= 0:
                w += row
                mistakes += 1
        if mistakes == 0:
            return w
    return None


def test_hand_case_separable_with_its_margin() -> None:
    # Signed points (1, 2) and (1, -1): the closest point of their hull to 0 is (1, 0), so gamma = 1.
    result = linear_separability(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]), torch.tensor([1, -1]))
    assert result.separable
    assert result.teacher_margin == pytest.approx(1.0, abs=1e-9)
    assert result.certificate is None
    # Through the origin the separator is the unit max-margin direction (1, 0).
    assert result.separator is not None and torch.allclose(result.separator, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert result.min_signed_margin == pytest.approx(result.teacher_margin, rel=1e-9)


def test_hand_case_xor_is_not_separable_even_with_bias() -> None:
    x = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    y = torch.tensor([1, 1, 0, 0])
    for bias in (False, True):
        result = linear_separability(x, y, bias=bias)
        assert not result.separable
        assert result.separator is None and result.teacher_margin is None
        mu = result.certificate
        assert mu is not None and bool((mu >= -1e-12).all()) and float(mu.sum()) == pytest.approx(1.0)
        assert result.certificate_residual == pytest.approx(0.0, abs=1e-9)


def test_hand_case_separable_only_with_a_bias() -> None:
    # 1-D: +1 at x = 1, -1 at x = 2. Through the origin w > 0 and -2w > 0 cannot both hold;
    # with a bias, w = -1, b = 1.5 separates them.
    x = torch.tensor([[1.0], [2.0]])
    y = torch.tensor([1, -1])
    assert not linear_separability(x, y).separable
    with_bias = linear_separability(x, y, bias=True)
    assert with_bias.separable
    assert with_bias.teacher_margin is None  # the bias problem reports no through-origin margin
    w = with_bias.separator
    assert w is not None and w.shape == (2,)
    assert float(w[0] * 1 + w[1]) > 0 and float(-(w[0] * 2 + w[1])) > 0


def test_a_point_at_the_origin_is_never_strictly_classified() -> None:
    result = linear_separability(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([1, 0]))
    assert not result.separable


def test_margin_against_a_brute_force_over_directions_in_2d() -> None:
    gen = torch.Generator().manual_seed(3)
    teacher = torch.tensor([0.6, 0.8], dtype=torch.float64)
    x = torch.randn(40, 2, generator=gen, dtype=torch.float64)
    x = x[(x @ teacher).abs() > 0.3]
    y = torch.where(x @ teacher > 0, 1, -1)
    result = linear_separability(x, y)
    angles = torch.linspace(0, 2 * math.pi, 200_001, dtype=torch.float64)
    directions = torch.stack([angles.cos(), angles.sin()], dim=1)
    brute = float(((y[:, None] * x) @ directions.T).min(dim=0).values.max())
    assert result.separable and result.teacher_margin is not None
    # The grid's step is 3.1e-5 rad, so it falls short of the optimum by at most max||x|| * 3.1e-5,
    # and never exceeds it.
    assert brute <= result.teacher_margin + 1e-12
    assert result.teacher_margin - brute <= float(x.norm(dim=1).max()) * 3.2e-5


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    gap=st.floats(0.05, 1.0),
)
def test_agrees_with_a_perceptron_on_teacher_labelled_data(n: int, d: int, seed: int, gap: float) -> None:
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=d)
    teacher /= np.linalg.norm(teacher)
    x = rng.normal(size=(n, d))
    x += np.sign(x @ teacher + 1e-300)[:, None] * gap * teacher  # a margin of at least gap
    y = np.sign(x @ teacher)
    signed = y[:, None] * x
    w = perceptron(signed)
    assert w is not None  # Novikoff: converges on data with a margin
    result = linear_separability(torch.from_numpy(x), torch.from_numpy(y))
    assert result.separable
    assert result.teacher_margin is not None
    # gamma is the best margin of any unit separator: at least the teacher's and the perceptron's.
    assert result.teacher_margin >= float((signed @ teacher).min()) - 1e-7
    assert result.teacher_margin >= float((signed @ w).min() / np.linalg.norm(w)) - 1e-7
    assert result.min_signed_margin is not None and result.min_signed_margin <= result.teacher_margin + 1e-7


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 30), d=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_exactly_one_of_separator_and_certificate(n: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.choice([-1.0, 1.0], size=n)
    result = linear_separability(torch.from_numpy(x), torch.from_numpy(y))
    signed = y[:, None] * x
    if result.separable:
        assert result.separator is not None
        assert bool((signed @ result.separator.numpy() > 0).all())
    else:
        mu = result.certificate
        assert mu is not None and float(mu.min()) >= -1e-9 and float(mu.sum()) == pytest.approx(1.0)
        assert float(np.linalg.norm(signed.T @ mu.numpy())) <= 1e-7 * max(1.0, float(np.abs(x).max()))


def test_extreme_scales_give_the_same_verdict_and_scaled_margin() -> None:
    x = torch.tensor([[1.0, 2.0], [-1.0, 1.0], [2.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([1, -1, 1])
    base = linear_separability(x, y)
    for factor in (1e-150, 1e-6, 1e6, 1e150):
        scaled = linear_separability(x * factor, y)
        assert scaled.separable == base.separable
        assert scaled.teacher_margin == pytest.approx(base.teacher_margin * factor, rel=1e-6)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        ([[1.0, 2.0]], torch.tensor([1]), {}, TypeError, "`x` must be a torch.Tensor"),
        (torch.ones(3), torch.tensor([1, 0, 1]), {}, ValueError, "`x` must be a 2-D tensor"),
        (torch.tensor([[float("nan"), 1.0]]), torch.tensor([1]), {}, ValueError, "NaN or Inf"),
        (torch.ones(2, 2), torch.tensor([1, 2]), {}, ValueError, "labels in"),
        (torch.ones(2, 2), torch.tensor([1, 0, 1]), {}, ValueError, "3 labels but the inputs have 2 rows"),
        (torch.ones(2, 2), torch.tensor([1, 0]), {"bias": 1}, TypeError, "`bias` must be a bool"),
    ],
    ids=["x-list", "x-1d", "x-nan", "y-values", "y-length", "bias-int"],
)
def test_bad_inputs(x: object, y: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        linear_separability(x, y, **kwargs)  # type: ignore[arg-type]
