"""Per-neuron distances (what sets r) and the per-point agreement certificate of Theorem 5.1's proof."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lt_teacher.functional import (
    agreement_certificate_mask,
    cluster_radius,
    linear_direction,
    linear_disagreement,
    linear_region_mask,
    neural_agreement,
    neuron_distances,
    network_output,
)


def gaussians(seed: int, *shapes: tuple[int, int]) -> list[torch.Tensor]:
    """One float64 standard normal matrix per shape, from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in shapes]


def test_neuron_distances_hand_case_and_radius() -> None:
    w = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    u = torch.tensor([[0.0, 1.0], [0.0, 3.0], [0.0, 2.0]])
    dw, du = neuron_distances(w, u)
    assert dw.tolist() == [1.0, 1.0, 0.0] and du.tolist() == [1.0, 1.0, 0.0]
    assert dw.dtype == torch.float64


@settings(max_examples=50, deadline=None)
@given(k_w=st.integers(1, 6), k_u=st.integers(1, 6), d=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_the_radius_is_the_largest_distance_also_for_unequal_groups(k_w: int, k_u: int, d: int, seed: int) -> None:
    w, u = gaussians(seed, (k_w, d), (k_u, d))
    dw, du = neuron_distances(w, u)
    r = cluster_radius(w, u)
    assert float(dw.max()) == float(r.radius_w) and float(du.max()) == float(r.radius_u)
    rho_w = 2 * k_w / (k_w + k_u)
    assert torch.allclose(dw, rho_w * (w - w.mean(0)).norm(dim=1))


def test_certificate_hand_case() -> None:
    w = torch.tensor([[1.0, 0.0], [1.0, 0.5]])
    u = torch.tensor([[-1.0, 0.0], [-1.0, 0.1]])
    x = torch.tensor([[1.0, 0.0], [1.0, -4.0], [0.0, 1.0]])
    # x0: w-neurons +,+ and u-neurons -,-: certified. x1: w-neurons +,- : not. x2: w 0 and 0.5: a zero certifies nothing.
    assert agreement_certificate_mask(x, w, u).tolist() == [True, False, False]


@settings(max_examples=80, deadline=None)
@given(
    k=st.integers(1, 6),
    d=st.integers(1, 5),
    alpha=st.floats(0.01, 0.99),
    spread=st.sampled_from([1e-3, 0.1, 1.0, 10.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_certified_point_has_the_sign_of_the_linear_classifier(k: int, d: int, alpha: float, spread: float, seed: int) -> None:
    """The per-point argument of Theorem 5.1's proof, and the theorem's own region, on random networks."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(1, d, generator=gen, dtype=torch.float64) + spread * torch.randn(k, d, generator=gen, dtype=torch.float64)
    u = torch.randn(1, d, generator=gen, dtype=torch.float64) + spread * torch.randn(k, d, generator=gen, dtype=torch.float64)
    x = torch.randn(200, d, generator=gen, dtype=torch.float64)
    linear = torch.sign(x @ linear_direction(w, u))
    network = torch.sign(network_output(x, w, u, alpha))
    for certified in (agreement_certificate_mask(x, w, u), linear_region_mask(x, w, u)):
        assert bool((network[certified] == linear[certified]).all())
    fraction = agreement_certificate_mask(x, w, u).to(torch.float64).mean()
    assert float(fraction) == pytest.approx(float(neural_agreement(x, w, u, 0.0).agreement_fraction), abs=0)


def test_a_single_straggler_spoils_the_radius_certificate_not_the_agreement_one() -> None:
    """Eq. (6): r is a max, so one far neuron empties Theorem 5.1's region; the agreement certificate
    only loses the points where that neuron's sign differs."""
    gen = torch.Generator().manual_seed(0)
    d = 20
    direction = torch.zeros(d, dtype=torch.float64)
    direction[0] = 1.0
    w = direction + 1e-3 * torch.randn(10, d, generator=gen, dtype=torch.float64)
    u = -direction + 1e-3 * torch.randn(10, d, generator=gen, dtype=torch.float64)
    x = torch.randn(500, d, generator=gen, dtype=torch.float64)
    x = x[x[:, 0].abs() > 0.5]
    before = linear_region_mask(x, w, u).to(torch.float64).mean()
    w[3] = direction + 0.8 * torch.eye(d, dtype=torch.float64)[1]  # one straggler, still positive on x[:, 0] > 0
    after = linear_region_mask(x, w, u).to(torch.float64).mean()
    certified = agreement_certificate_mask(x, w, u).to(torch.float64).mean()
    assert float(before) == 1.0 and float(after) < 0.5
    assert float(certified) > float(after)


@settings(max_examples=50, deadline=None)
@given(k=st.integers(1, 5), d=st.integers(1, 4), alpha=st.floats(0.01, 0.99), seed=st.integers(0, 2**31 - 1))
def test_linear_disagreement_against_its_definition(k: int, d: int, alpha: float, seed: int) -> None:
    w, u, x = gaussians(seed, (k, d), (k, d), (100, d))
    # Slow reference: N(x) neuron by neuron, sigma(z) = max(z, alpha z).
    expected = []
    for x_i in x:
        out = sum(max(float(x_i @ w_j), alpha * float(x_i @ w_j)) for w_j in w) - sum(max(float(x_i @ u_j), alpha * float(x_i @ u_j)) for u_j in u)
        lin = float(x_i @ (w.mean(0) - u.mean(0)))
        expected.append((out > 0) - (out < 0) != (lin > 0) - (lin < 0))
    assert linear_disagreement(x, w, u, alpha).tolist() == expected
