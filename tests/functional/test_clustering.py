"""Section 5, Theorem 5.1, Corollary 6.1 and supplementary 11.1/11.4."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lt_teacher.functional import (
    cluster_radius,
    linear_direction,
    linear_region_mask,
    max_pairwise_angle,
    network_output,
    neuron_distances,
    radius,
)


def test_cluster_radius_hand_computed():
    # w-neurons (1,0),(3,0): mean (2,0), radius 1; u-neurons (0,1),(0,-1),(0,0): mean 0, radius 1.
    # Unequal sizes (2, 3): rho_w = 4/5, rho_u = 6/5.
    w = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    u = torch.tensor([[0.0, 1.0], [0.0, -1.0], [0.0, 0.0]])
    c = cluster_radius(w, u)
    assert c.radius_w.item() == pytest.approx(0.8)
    assert c.radius_u.item() == pytest.approx(1.2)
    assert c.radius.item() == pytest.approx(1.2)
    assert c.mean_gap.item() == pytest.approx(1.6)  # ||0.8 * (2, 0) - 1.2 * 0||
    assert c.radius_ratio.item() == pytest.approx(0.75)
    assert c.max_angle_w.item() == 0.0
    assert c.max_angle_u.item() == pytest.approx(math.pi)  # (0,1) vs (0,-1); the zero neuron is left out


def test_equal_groups_are_the_papers_quantities():
    torch.manual_seed(0)
    w, u = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    c = cluster_radius(w, u)
    r = max((w - w.mean(0)).norm(dim=1).max(), (u - u.mean(0)).norm(dim=1).max())
    assert c.radius.item() == pytest.approx(r.item(), rel=1e-15)
    assert torch.allclose(linear_direction(w, u), w.mean(0) - u.mean(0), rtol=0, atol=1e-15)
    assert c.radius_ratio.item() == pytest.approx((r / (w.mean(0) - u.mean(0)).norm()).item())
    assert radius(w, u).item() == c.radius.item()


def test_perfectly_clustered_network_is_linear_everywhere():
    # Definition 6.1 / Corollary 6.1: r = 0 and every point is in the linear region.
    w = torch.tensor([[0.3, -1.2, 0.5]]).repeat(4, 1)
    u = torch.tensor([[-0.7, 0.1, 2.0]]).repeat(4, 1)
    c = cluster_radius(w, u)
    assert c.radius.item() == 0.0 and c.radius_ratio.item() == 0.0
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(1))
    assert bool(linear_region_mask(x, w, u).all())
    out = network_output(x.double(), w.double(), u.double(), alpha=0.2)
    assert torch.equal(torch.sign(out), torch.sign(x.double() @ (w[0] - u[0]).double()))


def test_supplementary_figure_4_leaky_is_linear_relu_is_not():
    # w = (1, 0), u = (0, 1): r = 0, N(x) = sigma(x1) - sigma(x2).
    w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    grid = torch.cartesian_prod(torch.linspace(-2, 2, 41), torch.linspace(-2, 2, 41)).double()
    linear = torch.sign(grid[:, 0] - grid[:, 1])
    assert bool(linear_region_mask(grid, w, u).all())
    assert torch.equal(torch.sign(network_output(grid, w.double(), u.double(), alpha=0.1)), linear)
    relu = torch.sign(grid[:, 0].clamp(min=0) - grid[:, 1].clamp(min=0))
    differ = relu != linear
    assert differ.any()  # e.g. the whole third quadrant predicts 0
    assert relu[(grid[:, 0] < 0) & (grid[:, 1] < 0)].abs().sum() == 0


def test_radius_region_hand_computed():
    # w-neurons (1, 1), (1, -1): w_bar = (1, 0), r = 1; u-neuron group {(-1, 0), (-1, 0)}: r_u = 0.
    w = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    u = torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [4.0, -3.0]])
    # (w_bar - u_bar) . x = 2 x1 ; region: |2 x1| >= 2 ||x||  <=>  x2 = 0
    assert linear_region_mask(x, w, u).tolist() == [True, False, False, False]


def test_small_angles_are_resolved():
    eps = 1e-7
    neurons = torch.tensor([[1.0, 0.0], [math.cos(eps), math.sin(eps)]], dtype=torch.float64)
    assert max_pairwise_angle(neurons).item() == pytest.approx(eps, rel=1e-6)
    assert max_pairwise_angle(neurons * 1e-6).item() == pytest.approx(eps, rel=1e-6)


def test_angle_of_single_or_zero_neurons_is_zero():
    assert max_pairwise_angle(torch.tensor([[1.0, 2.0]])).item() == 0.0
    assert max_pairwise_angle(torch.tensor([[1.0, 2.0], [0.0, 0.0]])).item() == 0.0


@pytest.mark.parametrize(
    ("w", "u", "match"),
    [
        (torch.zeros(0, 2), torch.ones(1, 2), "at least one row"),
        (torch.ones(2, 3), torch.ones(2, 2), "3 columns"),
        (torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2), "NaN or Inf"),
        (torch.ones(2), torch.ones(1, 2), "2-D"),
    ],
    ids=["empty-group", "width-mismatch", "nan", "1-d"],
)
def test_bad_groups_raise(w, u, match):
    with pytest.raises(ValueError, match=match):
        cluster_radius(w, u)


def test_bad_points_raise():
    with pytest.raises(ValueError, match="columns"):
        linear_region_mask(torch.ones(3, 4), torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        linear_region_mask([[1.0, 2.0]], torch.ones(2, 2), torch.ones(2, 2))


@settings(max_examples=300, deadline=None)
@given(
    k_w=st.integers(1, 6),
    k_u=st.integers(1, 6),
    d=st.integers(1, 4),
    spread=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 10.0]),
    alpha=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_theorem_5_1_certified_points_are_classified_linearly(k_w, k_u, d, spread, alpha, seed):
    """Theorem 5.1 (generalised to unequal groups): certified points have sign N(x) = sign((w_bar-u_bar).x)."""
    g = torch.Generator().manual_seed(seed)
    center_w, center_u = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    w = center_w + spread * torch.randn(k_w, d, generator=g, dtype=torch.float64)
    u = center_u + spread * torch.randn(k_u, d, generator=g, dtype=torch.float64)
    x = torch.randn(400, d, generator=g, dtype=torch.float64) * 3
    direction = linear_direction(w, u)
    r = cluster_radius(w, u).radius
    # a relative slack of 1e-9 keeps rounding at the region's boundary out of the comparison
    certified = (x @ direction).abs() >= 2 * r * x.norm(dim=1) * (1 + 1e-9) + 1e-12
    assert torch.equal(certified & linear_region_mask(x, w, u), certified)
    out = network_output(x, w, u, alpha)
    assert torch.equal(torch.sign(out[certified]), torch.sign((x @ direction)[certified]))


def test_linear_region_fractions_are_the_means_of_the_two_masks():
    from lt_teacher.functional import linear_disagreement, linear_region_fractions, linear_region_mask

    g = torch.Generator().manual_seed(5)
    x, w, u = torch.randn(50, 3, generator=g), torch.randn(3, 3, generator=g) + 1.0, torch.randn(2, 3, generator=g) - 1.0
    fractions = linear_region_fractions(x, w, u, 0.2)
    assert float(fractions.outside_fraction) == float((~linear_region_mask(x, w, u)).double().mean())
    assert float(fractions.disagreement_fraction) == float(linear_disagreement(x, w, u, 0.2).double().mean())
    assert fractions.disagreement_fraction <= fractions.outside_fraction


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 9), d=st.integers(2, 40),
       spread=st.sampled_from([0.0, 1e-12, 1e-8, 1e-3, 1.0]), zero_row=st.booleans())
def test_max_pairwise_angle_equals_every_pair(seed: int, k: int, d: int, spread: float, zero_row: bool) -> None:
    """The Gram matrix only picks candidates: the result is the largest angle over every pair.

    Both sides round the directions (each by its own summation order), which moves an angle by up to about
    d 2^-53 in absolute terms whatever the formula (the angle between two float64 vectors is only defined to
    that level), hence the absolute tolerance; a wrong candidate pair would be off by far more."""
    g = torch.Generator().manual_seed(seed)
    neurons = torch.randn(d, generator=g, dtype=torch.float64) + spread * torch.randn(k, d, generator=g, dtype=torch.float64)
    if zero_row:
        neurons[0] = 0.0
    directions = neurons[neurons.norm(dim=1) > 0]
    directions = directions / directions.norm(dim=1, keepdim=True)
    expected = max((2.0 * math.atan2(float((a - b).norm()), float((a + b).norm()))
                    for i, a in enumerate(directions) for b in directions[i + 1:]), default=0.0)
    rounding = 8.0 * (d + 2) * 2.0**-53
    assert max_pairwise_angle(neurons).item() == pytest.approx(expected, rel=1e-12, abs=rounding)
    w, u = neurons, -neurons.flip(0)
    c = cluster_radius(w, u)
    assert c.max_angle_w.item() == pytest.approx(expected, rel=1e-12, abs=rounding)
    assert c.max_angle_u.item() == pytest.approx(expected, rel=1e-12, abs=rounding)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), exponent=st.integers(-1000, 1000), k_w=st.integers(1, 6), k_u=st.integers(1, 6))
def test_cluster_radius_at_any_scale_is_the_scaled_value(seed: int, exponent: int, k_w: int, k_u: int) -> None:
    """r, ||w_bar - u_bar||, their ratio and the angles are homogeneous in the neurons' scale: sums of squares that
    under- or overflow (weights of 1e-300 or 1e300) must not turn them into 0 or inf. A power-of-two scale is
    exact, so the values are the unscaled ones times the scale, bit for bit."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(k_w, 7, generator=g, dtype=torch.float64) + 1.0
    u = torch.randn(k_u, 7, generator=g, dtype=torch.float64) - 1.0
    scale = 2.0**exponent
    reference, scaled = cluster_radius(w, u), cluster_radius(w * scale, u * scale)
    for name in ("radius", "radius_w", "radius_u", "mean_gap"):
        assert float(getattr(scaled, name)) == float(getattr(reference, name)) * scale, name
    for name in ("radius_ratio", "max_angle_w", "max_angle_u"):
        assert float(getattr(scaled, name)) == float(getattr(reference, name)), name
    distances = neuron_distances(w * scale, u * scale)
    assert [d.tolist() for d in distances] == [(d * scale).tolist() for d in neuron_distances(w, u)]


@pytest.mark.parametrize("tiny", [1e-170, 1e-300, 2.0**-1070])
def test_a_neuron_far_smaller_than_the_rest_of_its_group_keeps_its_distance_and_direction(tiny: float) -> None:
    """Each row's sums of squares are scaled by its own power of two (review: at the group's scale a neuron 1e-170
    times smaller had squares that underflowed: its direction was dropped (angle 0 instead of pi) and r read 0)."""
    import math

    w = torch.tensor([[1.0, 0.0], [-tiny, 0.0]], dtype=torch.float64)
    u = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    assert float(cluster_radius(w, u).max_angle_w) == math.pi
    huge = torch.tensor([[1e300, 0.0], [-1e-30, 0.0]], dtype=torch.float64)  # 1e-330 at the group's scale: underflows
    assert float(cluster_radius(huge, u).max_angle_w) == math.pi  # (second review: rescaled after the underflow)
    w = torch.tensor([[1.0, 0.0], [1.0, tiny]], dtype=torch.float64)  # w_bar = (1, tiny / 2): both rows tiny / 2 away
    c = cluster_radius(w, u)
    assert float(c.radius_w) == tiny / 2 and float(c.max_angle_w) == pytest.approx(tiny, rel=1e-12)


def test_a_sign_of_zero_counts_as_disagreement_even_when_both_are_zero() -> None:
    from lt_teacher.functional import linear_disagreement

    # w_bar - u_bar = (6, 8): (4, -3) is orthogonal to it, and N(x) = 0 there too (9*4 - 13*3 = -3, 3*4 - 5*3 = -3,
    # u . x = -3: alpha * (-3 - 3) - alpha * (-3 - 3) = 0); x = 0 gives 0 and 0 as well (SPEC, ties)
    w = torch.tensor([[9.0, 13.0], [3.0, 5.0]], dtype=torch.float64)
    u = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    x = torch.tensor([[4.0, -3.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert linear_disagreement(x, w, u, 0.2).tolist() == [True, True, False]
