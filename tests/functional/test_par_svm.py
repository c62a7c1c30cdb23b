"""Eq. (7) and Theorem 6.2's feature map."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from lt_teacher.functional import par_features, par_svm


def teacher_of(d, seed):
    return torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def separable(n, d, seed, antipodal=False):
    g = torch.Generator().manual_seed(seed)
    teacher = teacher_of(d, seed)
    torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x[(x @ teacher).abs() > 0.3]
    if antipodal:
        x = torch.cat([x, -x])
    return x, torch.sign(x @ teacher)


def slsqp_reference(x, y, alpha, start):
    """SLSQP on the primal of Eq. (7), started from a feasible point."""
    phi = par_features(x, y, alpha).numpy()
    res = minimize(
        lambda t: t @ t,
        start,
        jac=lambda t: 2 * t,
        constraints=[{"type": "ineq", "fun": lambda t: phi @ t - 1, "jac": lambda t: phi}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert res.success
    return res.x


def test_hand_computed_two_points():
    # x+ = (1, 0), x- = (-1, 0), alpha = 1/2: both constraints active, w = (2/3, 0), u = (-2/3, 0).
    w, u = par_svm(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([1, 0]), 0.5)
    assert torch.allclose(w, torch.tensor([2 / 3, 0.0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(u, torch.tensor([-2 / 3, 0.0], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_an_independent_solver_and_meets_kkt(alpha, seed):
    x, y = separable(60, 4, seed)
    sol = par_svm(x, y, alpha)
    assert sol.kkt_violation <= 1e-6
    theta = torch.cat([sol.w, sol.u]).numpy()
    teacher = teacher_of(4, seed).numpy()
    feasible = np.concatenate([teacher, -teacher])
    feasible *= 1.5 / (par_features(x, y, alpha).numpy() @ feasible).min()
    reference = slsqp_reference(x, y, alpha, feasible)
    assert np.allclose(theta, reference, rtol=1e-5, atol=1e-6)
    phi = par_features(x, y, alpha).numpy()
    assert (phi @ theta >= 1 - 1e-9).all()
    assert (sol.multipliers >= 0).all()


def test_antipodal_solution_is_symmetric():
    # Section 15 data: the problem is invariant under (w, u) -> (-u, -w), so u = -w, and
    # w = w_svm / (1 + alpha) where w_svm is the hard-margin SVM of the raw points.
    x, y = separable(40, 3, 7, antipodal=True)
    alpha = 0.2
    w, u = par_svm(x, y, alpha)
    assert torch.allclose(u, -w, atol=1e-9)
    assert torch.equal(par_svm(x, y, alpha).w, w)  # deterministic
    raw = slsqp_reference_raw(x, y)
    assert np.allclose(w.numpy() * (1 + alpha), raw, rtol=1e-5, atol=1e-6)


def slsqp_reference_raw(x, y):
    z = (y[:, None] * x).numpy()
    res = minimize(
        lambda t: t @ t,
        np.ones(z.shape[1]),
        jac=lambda t: 2 * t,
        constraints=[{"type": "ineq", "fun": lambda t: z @ t - 1, "jac": lambda t: z}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    return res.x


def test_unpacks_to_w_u_and_scales_to_paper_size():
    x, y = separable(400, 50, 3, antipodal=True)  # Figure 8's setting: 400 points in R^50
    sol = par_svm(x, y, 0.1)
    w, u = sol
    assert w.shape == (50,) and u.shape == (50,)
    assert sol.kkt_violation <= 1e-6


def test_non_separable_data_raise():
    # two positive points x and -x: phi(x) + phi(-x) = 0, so no theta has both products >= 1
    x = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    with pytest.raises(ValueError, match="not linearly separable"):
        par_svm(x, torch.tensor([1, 1]), 0.5)


def test_bad_alpha_raise():
    with pytest.raises(ValueError, match="alpha"):
        par_svm(torch.ones(2, 2), torch.tensor([1, -1]), 0.0)
