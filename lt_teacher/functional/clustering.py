"""Neuron clustering and the provably linear region (section 5, Theorem 5.1, supplementary 11.4).

Groups of unequal size. The paper has k w-neurons and k u-neurons. A network with a learned
output layer (:func:`lt_teacher.two_layer_view`) gives groups of sizes k_w != k_u, and then
sign(N(x)) = sign((mean_w - mean_u) . x) fails even for perfectly clustered groups. By positive
homogeneity, N(x) / (v (k_w + k_u) / 2) = mean_i sigma(rho_w w_i . x) - mean_i sigma(rho_u u_i . x)
with rho_g = 2 k_g / (k_w + k_u), so Theorem 5.1 applies to the rescaled neurons rho_w w_i and
rho_u u_i. All quantities here use those weights; for equal sizes rho_w = rho_u = 1 and every
quantity is exactly the paper's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_groups, check_matrix, float64_inputs
from lt_teacher.functional._numerics import row_norms
from lt_teacher.functional._cluster_kernels import euclidean_norm, group_geometry, largest_angle
from lt_teacher.functional.network import output_from_preactivations

_F64 = torch.float64


class LinearRegionStatisticsState(NamedTuple):
    """Sufficient statistics of Theorem 5.1's region over a set of points (float64; every field sums).

    Attributes:
        n_outside: points with |(w_bar - u_bar) . x| < 2 r ||x||, outside the provably linear region.
        n_disagree: points with sign N(x) != sign((w_bar - u_bar) . x).
        count: n, the number of points.
    """

    n_outside: Tensor
    n_disagree: Tensor
    count: Tensor  # type: ignore[assignment]  # a field named like tuple.count, as the states it mirrors


class LinearRegionFractions(NamedTuple):
    """Shares of points outside Theorem 5.1's region and of points where N disagrees with the linear classifier.

    Attributes:
        outside_fraction: share with |(w_bar - u_bar) . x| < 2 r ||x|| (the y-axis of Figure 2).
        disagreement_fraction: share with sign N(x) != sign((w_bar - u_bar) . x) (at most outside_fraction).
    """

    outside_fraction: Tensor
    disagreement_fraction: Tensor


class ClusterRadius(NamedTuple):
    """Clustering of the two neuron groups (section 5 and supplementary 11.4); float64 scalars.

    For groups of unequal size every quantity uses the weighted neurons rho_g w_i (module docstring); for
    the paper's equal groups rho_g = 1.

    Attributes:
        radius: r = max over neurons of ||w_i - w_bar|| and ||u_i - u_bar|| (section 5).
        radius_w: the largest distance of a w-neuron from w_bar (times rho_w).
        radius_u: the largest distance of a u-neuron from u_bar (times rho_u).
        mean_gap: ||w_bar - u_bar|| (of the weighted means), the norm of the linear classifier of Theorem 5.1.
        radius_ratio: r / ||w_bar - u_bar|| (Figure 7a; Eq. 6). 0 when r = 0, +inf when only the gap is 0.
        max_angle_w: the largest angle (radians) between two w-neurons (Figure 7b).
        max_angle_u: the largest angle (radians) between two u-neurons.
    """

    radius: Tensor
    radius_w: Tensor
    radius_u: Tensor
    mean_gap: Tensor
    radius_ratio: Tensor
    max_angle_w: Tensor
    max_angle_u: Tensor


def group_weights(k_w: int, k_u: int) -> tuple[float, float]:
    """rho_w, rho_u = 2 k_w / (k_w + k_u), 2 k_u / (k_w + k_u): both 1 for the paper's equal groups."""
    total = k_w + k_u
    return 2.0 * k_w / total, 2.0 * k_u / total


class _GroupGeometry(NamedTuple):
    """One group's mean (d,), each neuron's distance from it (k,) and the unit directions of its nonzero neurons
    ((m, d), m <= k, on the CPU), float64: everything section 5 and supplementary 11.4 read of a group."""

    mean: Tensor
    distances: Tensor
    directions: Tensor


def _group_geometry(rows64: Tensor) -> _GroupGeometry:
    """:class:`_GroupGeometry` of a float64 group, read in three numba passes (:mod:`._cluster_kernels`)."""
    rows = rows64.detach().to(device="cpu", dtype=_F64).contiguous()
    k, d = rows.shape
    mean, distances, directions = torch.empty(d, dtype=_F64), torch.empty(k, dtype=_F64), torch.empty(k, d, dtype=_F64)
    kept = group_geometry(rows.numpy(), mean.numpy(), distances.numpy(), directions.numpy())
    device = rows64.device
    return _GroupGeometry(mean.to(device), distances.to(device), directions[:kept])


def _direction_of_means(w_group: _GroupGeometry, u_group: _GroupGeometry) -> Tensor:
    """rho_w w_bar - rho_u u_bar from the two groups' geometry."""
    rho_w, rho_u = group_weights(w_group.distances.shape[0], u_group.distances.shape[0])
    return rho_w * w_group.mean - rho_u * u_group.mean


def _norm(vector: Tensor) -> Tensor:
    """||vector|| (float64 scalar on the vector's device) without under- or overflow at any magnitude."""
    norm = euclidean_norm(vector.detach().to(device="cpu", dtype=_F64).contiguous().numpy())
    return torch.tensor(norm, dtype=_F64, device=vector.device)


def _weighted_distances(w_group: _GroupGeometry, u_group: _GroupGeometry) -> tuple[Tensor, Tensor]:
    """rho_w ||w_i - w_bar|| and rho_u ||u_i - u_bar|| from the two groups' geometry."""
    rho_w, rho_u = group_weights(w_group.distances.shape[0], u_group.distances.shape[0])
    return rho_w * w_group.distances, rho_u * u_group.distances


def linear_direction(w: Tensor, u: Tensor) -> Tensor:
    """w_bar - u_bar, the linear classifier f(x) = sign((w_bar - u_bar) . x) of Theorem 5.1 (float64)."""
    w, u = check_groups(w, u)
    return _linear_direction(w.to(torch.float64), u.to(torch.float64))


def _linear_direction(w: Tensor, u: Tensor) -> Tensor:
    return _direction_of_means(_group_geometry(w), _group_geometry(u))


def max_pairwise_angle(neurons: Tensor) -> Tensor:
    """The largest angle (radians, in [0, pi]) between two rows of ``neurons`` (supplementary 11.4).

    Neurons of norm 0 have no direction and are left out; fewer than two directions give 0.
    The float64 Gram matrix of the directions finds the candidate pairs: those whose cosine is within
    its rounding error bound, 8 (d + 2) 2^-53, of the smallest, so the pair of the largest angle is
    always among them. Their angles are then recomputed from the vectors as 2 atan2(||a - b||, ||a + b||),
    accurate to about d 2^-53 in absolute terms (the rounding of the directions themselves) at every angle,
    where acos of a cosine loses every digit below about 1e-8.
    """
    n64 = check_matrix(neurons, "neurons").to(torch.float64)
    return _largest_angle(_group_geometry(n64).directions).to(n64.device)


def _largest_angle(directions: Tensor) -> Tensor:
    """:func:`max_pairwise_angle` of unit directions (m, d) on the CPU: the Gram matrix by BLAS, the pairs by numba."""
    if directions.shape[0] < 2:
        return torch.zeros((), dtype=_F64)
    tolerance = 8.0 * (directions.shape[1] + 2) * 2.0**-53  # at least twice the cosines' rounding error
    return torch.tensor(largest_angle(directions.numpy(), (directions @ directions.T).numpy(), tolerance), dtype=_F64)


def _neuron_distances(w64: Tensor, u64: Tensor) -> tuple[Tensor, Tensor]:
    return _weighted_distances(_group_geometry(w64), _group_geometry(u64))


def neuron_distances(w: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Each neuron's distance from its group mean, ||w_i - w_bar|| and ||u_i - u_bar|| (section 5).

    The cluster radius r is the largest of them, so a single neuron far from its group (a
    "straggler") sets r and with it Theorem 5.1's region; the whole distribution shows whether r is
    set by the group or by a few neurons. Weighted by rho_g for groups of unequal size (module
    docstring); float64.

    Args:
        w: the w-neurons, shape (k_w, d).
        u: the u-neurons, shape (k_u, d), same d.

    Returns:
        ``(distances_w, distances_u)``, shapes (k_w,) and (k_u,), float64.

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
        >>> [d.tolist() for d in neuron_distances(w, u)]
        [[1.0, 1.0], [0.0, 0.0]]
    """
    w, u = check_groups(w, u)
    return _neuron_distances(w.to(torch.float64), u.to(torch.float64))


def _group_radii(w64: Tensor, u64: Tensor) -> tuple[Tensor, Tensor]:
    distances_w, distances_u = _neuron_distances(w64, u64)
    return distances_w.max(), distances_u.max()


def radius(w: Tensor, u: Tensor) -> Tensor:
    """r of section 5 alone (float64 scalar), without the O(k^2 d) angles of :func:`cluster_radius`."""
    w, u = check_groups(w, u)
    return torch.maximum(*_group_radii(w.to(torch.float64), u.to(torch.float64)))


def cluster_radius(w: Tensor, u: Tensor) -> ClusterRadius:
    """Cluster radius r of section 5, r / ||w_bar - u_bar|| and the in-group angles (supplementary 11.4).

    Args:
        w: the w-neurons (rows with output weight +v), shape (k_w, d).
        u: the u-neurons (rows with output weight -v), shape (k_u, d), same d.

    Returns:
        :class:`ClusterRadius` of float64 scalars. Computed in float64.

    Raises:
        ValueError: a group is empty, the widths differ, or an entry is not finite.

    Example:
        >>> import torch
        >>> cluster_radius(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0]] * 2)).radius
        tensor(0., dtype=torch.float64)
    """
    w, u = check_groups(w, u)
    w_group, u_group = _group_geometry(w.to(torch.float64)), _group_geometry(u.to(torch.float64))
    distances_w, distances_u = _weighted_distances(w_group, u_group)
    radius_w, radius_u = distances_w.max(), distances_u.max()
    radius = torch.maximum(radius_w, radius_u)
    gap = _norm(_direction_of_means(w_group, u_group))
    if radius == 0:
        ratio = torch.zeros((), dtype=torch.float64, device=radius.device)
    elif gap == 0:
        ratio = torch.tensor(math.inf, dtype=torch.float64, device=radius.device)
    else:
        ratio = radius / gap
    return ClusterRadius(
        radius=radius,
        radius_w=radius_w,
        radius_u=radius_u,
        mean_gap=gap,
        radius_ratio=ratio,
        max_angle_w=_largest_angle(w_group.directions).to(radius.device),
        max_angle_u=_largest_angle(u_group.directions).to(radius.device),
    )


def linear_projection(h_w: Tensor, h_u: Tensor) -> Tensor:
    """(w_bar - u_bar) . x from the pre-activations: the weighted mean of h_w minus that of h_u (Theorem 5.1).

    One matrix product X W^T therefore serves this and every other statistic of an evaluation pass.
    """
    rho_w, rho_u = group_weights(h_w.shape[1], h_u.shape[1])
    return rho_w * h_w.mean(dim=1) - rho_u * h_u.mean(dim=1)


def linear_projection_weights(k_w: int, k_u: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """b with (w_bar - u_bar) . x = b . h for the stacked pre-activations h = (h_w, h_u): rho_w / k_w, then -rho_u / k_u.

    :func:`linear_projection` in matrix form (one product over the stacked pre-activations of many points,
    summed in another order), as :func:`~lt_teacher.functional.network.output_from_activations` is Eq. (1).
    """
    rho_w, rho_u = group_weights(k_w, k_u)
    return torch.cat([torch.full((k_w,), rho_w / k_w, dtype=dtype), torch.full((k_u,), -rho_u / k_u, dtype=dtype)])


def linear_region_from_preactivations(h_w: Tensor, h_u: Tensor, x_norm: Tensor, radius: Tensor) -> Tensor:
    """Theorem 5.1's region from pre-activations: |(w_bar - u_bar) . x| >= 2 r ||x||."""
    return _in_region(linear_projection(h_w, h_u), x_norm, radius)


def _in_region(projection: Tensor, x_norm: Tensor, radius: Tensor) -> Tensor:
    return projection.abs() >= region_threshold(x_norm, radius)


def region_threshold(x_norm: Tensor, radius: Tensor) -> Tensor:
    """Theorem 5.1's threshold 2 r ||x|| that |(w_bar - u_bar) . x| must reach (float64 for float64 inputs)."""
    return 2.0 * radius * x_norm


def linear_region_mask(x: Tensor, w: Tensor, u: Tensor) -> Tensor:
    """Theorem 5.1: True for the rows of x with |(w_bar - u_bar) . x| >= 2 r ||x||.

    Inside this region sign(N(x)) = sign((w_bar - u_bar) . x) is guaranteed. The fraction of
    points where the mask is False is the y-axis of Figure 2. Computed in float64.

    Args:
        x: points, shape (n, d).
        w: w-neurons, shape (k_w, d).
        u: u-neurons, shape (k_u, d).

    Returns:
        A bool tensor of shape (n,).

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> linear_region_mask(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), w, u)
        tensor([True, True])
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    r = torch.maximum(*_group_radii(w64, u64))
    return linear_region_from_preactivations(x64 @ w64.T, x64 @ u64.T, row_norms(x64), r)


def linear_disagreement(x: Tensor, w: Tensor, u: Tensor, alpha: float) -> Tensor:
    """True for the rows of x where sign(N(x)) != sign((w_bar - u_bar) . x) (float64); a sign of 0 counts as
    disagreement (SPEC, ties), also where both are 0.

    The event Theorem 5.1 rules out inside its region: how far the learned network is from the
    linear classifier f(x) = sign((w_bar - u_bar) . x) on given points, whatever the radius r. N is
    Eq. (1) with any v > 0 (the sign does not depend on v).

    Args:
        x: points, shape (n, d).
        w: w-neurons, shape (k_w, d).
        u: u-neurons, shape (k_u, d).
        alpha: the Leaky-ReLU slope, in (0, 1).

    Returns:
        A bool tensor of shape (n,).

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[2.0, 0.0], [-1.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
        >>> linear_disagreement(torch.tensor([[1.0, 0.0], [-1.0, 0.5]]), w, u, 0.1)  # N = 1.9, 0.3; (w_bar - u_bar) . x = 0.5, -0.75
        tensor([False,  True])
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    alpha = check_alpha(alpha)
    return linear_disagreement_from_preactivations(x64 @ w64.T, x64 @ u64.T, alpha)


def linear_disagreement_from_preactivations(h_w: Tensor, h_u: Tensor, alpha: float) -> Tensor:
    """True where sign(N(x)) != sign((w_bar - u_bar) . x): the disagreement Theorem 5.1 bounds."""
    return _disagrees(output_from_preactivations(h_w, h_u, alpha), linear_projection(h_w, h_u))


def _disagrees(output: Tensor, projection: Tensor) -> Tensor:
    """sign N(x) != sign((w_bar - u_bar) . x), a sign of 0 counting as disagreement (SPEC, ties): they agree only
    on the same nonzero sign, as two neurons do in max(n_diff)."""
    return (torch.sign(output) != torch.sign(projection)) | (output == 0)


def _linear_region_update(
    h_w: Tensor, h_u: Tensor, x_norm: Tensor, radius: Tensor, output: Tensor
) -> LinearRegionStatisticsState:
    """Theorem 5.1 counts of one batch from its pre-activations, ||x||, the cluster radius r and N(x) (any v > 0)."""
    return _region_state(linear_projection(h_w, h_u), output, x_norm, radius)


def _region_state(projection: Tensor, output: Tensor, x_norm: Tensor, radius: Tensor) -> LinearRegionStatisticsState:
    """Theorem 5.1 counts from each point's (w_bar - u_bar) . x, N(x) and ||x||, and the cluster radius r."""
    inside = _in_region(projection, x_norm, radius.to(projection.device))
    return LinearRegionStatisticsState(
        n_outside=(~inside).sum().to(_F64),
        n_disagree=_disagrees(output, projection).sum().to(_F64),
        count=torch.tensor(float(projection.shape[0]), dtype=_F64, device=projection.device),
    )


def _linear_region_compute(stats: LinearRegionStatisticsState) -> LinearRegionFractions:
    """The two shares from summed counts (0 for no point)."""
    count = stats.count.clamp(min=1)
    return LinearRegionFractions(stats.n_outside / count, stats.n_disagree / count)


def linear_region_fractions(x: Tensor, w: Tensor, u: Tensor, alpha: float) -> LinearRegionFractions:
    """Figure 2: the share of points outside Theorem 5.1's region, and where sign N(x) != sign((w_bar - u_bar) . x).

    The mean of ``~linear_region_mask(x, w, u)`` and of ``linear_disagreement(x, w, u, alpha)``,
    computed in one pass (float64), for points x (n, d), groups w (k_w, d), u (k_u, d) and the slope alpha.

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[2.0, 0.0], [-1.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
        >>> linear_region_fractions(torch.tensor([[1.0, 0.0], [-1.0, 0.5]]), w, u, 0.1).disagreement_fraction
        tensor(0.5000, dtype=torch.float64)
    """
    x64, w64, u64 = float64_inputs(x, w, u)
    alpha = check_alpha(alpha)
    r = torch.maximum(*_group_radii(w64, u64))
    h_w, h_u = x64 @ w64.T, x64 @ u64.T
    stats = _linear_region_update(h_w, h_u, row_norms(x64), r, output_from_preactivations(h_w, h_u, alpha))
    return _linear_region_compute(stats)
