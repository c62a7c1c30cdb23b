"""The numba pieces behind the fused engine, against plain formulas, bit for bit.

``_logistic`` (sigmoid(-q) and the loss from one exponential) must give the bits of evaluating each
from its own exponential; ``_rank4_rows`` (four corrections, two later rows per pass) the bits of
four single-step passes in step order, also when both rows are one row; ``block_steps`` the bits of
a step-by-step loop over the rows given in transposed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lt_teacher.engines import _block_kernels, _kernels


def softplus_neg(q: float) -> float:
    """log(1 + e^{-q}), each branch from its own exponential (the formula before the shared one)."""
    return math.log1p(math.exp(-q)) if q >= 0.0 else -q + math.log1p(math.exp(q))


def sigmoid_neg(q: float) -> float:
    """sigmoid(-q) = 1 / (1 + e^{q}), from its own exponential."""
    if q >= 0.0:
        e = math.exp(-q)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(q))


QS = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 0.3, -0.3, 1.0, -1.0, 17.5, -17.5, 700.0, -700.0, 745.2, -745.2, 1e300, -1e300, math.inf, -math.inf]


@pytest.mark.parametrize("q", QS)
def test_logistic_gives_the_bits_of_two_exponentials(q: float) -> None:
    sigmoid, loss = _kernels._logistic(q)
    assert sigmoid == sigmoid_neg(q)
    assert loss == softplus_neg(q)
    assert 0.0 <= sigmoid <= 1.0 and loss >= 0.0


def test_logistic_of_nan_is_nan() -> None:
    sigmoid, loss = _kernels._logistic(math.nan)
    assert math.isnan(sigmoid) and math.isnan(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 7, 100])
def test_rank4_rows_matches_four_single_step_passes(dtype: type, rows: int) -> None:
    rng = np.random.default_rng(rows)
    pt = rng.standard_normal((9, rows)).astype(dtype)
    c = rng.standard_normal((9, rows)).astype(dtype)
    gb = rng.standard_normal((9, 9)).astype(dtype)
    for l, m in [(4, 5), (6, 6), (7, 8)]:
        expected = pt.copy()
        for row in {l, m}:
            for j in range(4):
                expected[row] = expected[row] + gb[j, row] * c[j]  # one single-step pass, element by element
        got = pt.copy()
        _block_kernels._rank4_rows(got, c, gb, 0, l, m)
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [1, 3, 4, 9, 16])
def test_block_steps_match_a_step_by_step_loop(dtype: type, length: int) -> None:
    """The pass over one block equals: for each step, its pre-activations W_b x_j plus the corrections of the
    earlier steps added one step at a time, then ``_step``, with W_b x_j given as columns of ``ptt``."""
    rng = np.random.default_rng(length)
    n, rows, k_w = 20, 6, 3
    x = rng.standard_normal((n, 5))
    gram = (x @ x.T).astype(dtype)
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0).astype(dtype)
    idx = rng.permutation(n)[:length]
    ptt = rng.standard_normal((rows, length)).astype(dtype)
    lr, alpha, v = 0.5, 0.2, 1.5
    c = np.empty((length, rows), dtype)
    pt = np.empty((length, rows), dtype)
    loss = _block_kernels.block_steps(ptt, pt, gram, idx, y, lr, alpha, v, k_w, c, np.empty((length, length), dtype))

    c_ref = np.empty((length, rows), dtype)
    loss_ref = 0.0
    for j in range(length):
        h = ptt[:, j].copy()
        for i in range(j):
            h = h + gram[idx[i], idx[j]] * c_ref[i]
        loss_ref += _kernels._step(h, y[idx[j]], lr, alpha, v, k_w, rows, c_ref[j])
    assert np.array_equal(c, c_ref)
    assert loss == loss_ref
