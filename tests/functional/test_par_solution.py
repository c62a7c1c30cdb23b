"""Figure 3b's cosines between the network and the solution of Eq. (7)."""

import math

import pytest
import torch

from lt_teacher.functional import cosine, par_solution_cosines, par_svm, row_cosines


def slow_cosine(a: list[float], b: list[float]) -> float:
    na, nb = math.sqrt(sum(v * v for v in a)), math.sqrt(sum(v * v for v in b))
    return 0.0 if na == 0 or nb == 0 else max(-1.0, min(1.0, sum(p * q for p, q in zip(a, b)) / (na * nb)))


def test_par_solution_cosines_match_a_slow_reference():
    g = torch.Generator().manual_seed(3)
    w, u = torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g)
    u[1] = 0.0  # a neuron of norm 0 has no direction: cosine 0
    w_svm, u_svm = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    got = par_solution_cosines(w, u, (w_svm, u_svm))
    w64, u64 = w.double(), u.double()
    assert got.cosine_w == pytest.approx(slow_cosine(w64.mean(0).tolist(), w_svm.tolist()), rel=1e-14)
    assert got.cosine_u == pytest.approx(slow_cosine(u64.mean(0).tolist(), u_svm.tolist()), rel=1e-14)
    rho_w, rho_u = 8 / 9, 10 / 9  # groups of 4 and 5 neurons: rho_g = 2 k_g / (k_w + k_u)
    direction = (rho_w * w64.mean(0) - rho_u * u64.mean(0)).tolist()
    assert got.cosine_direction == pytest.approx(slow_cosine(direction, (w_svm - u_svm).tolist()), rel=1e-14)
    assert got.min_cosine_w == pytest.approx(min(slow_cosine(r, w_svm.tolist()) for r in w64.tolist()), rel=1e-14)
    assert got.min_cosine_u == pytest.approx(min(slow_cosine(r, u_svm.tolist()) for r in u64.tolist()), rel=1e-14)


def test_a_network_at_the_par_solution_has_every_cosine_1():
    x, y = torch.tensor([[1.0, 0.2], [-1.0, 0.1], [0.8, -0.3]]), torch.tensor([1, -1, 1])
    solution = par_svm(x, y, 0.3)
    w, u = solution.w.repeat(3, 1) * 2.0, solution.u.repeat(3, 1) * 2.0  # clustered at a positive multiple
    assert all(c == pytest.approx(1.0, abs=1e-12) for c in par_solution_cosines(w, u, solution))


def test_zero_vectors_have_cosine_0_and_shapes_are_checked():
    assert cosine(torch.zeros(2), torch.ones(2)) == 0.0
    assert row_cosines(torch.zeros(2, 2), torch.ones(2)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"`w_svm` must have shape \(2,\)"):
        par_solution_cosines(torch.ones(1, 2), torch.ones(1, 2), (torch.ones(3), torch.ones(2)))
