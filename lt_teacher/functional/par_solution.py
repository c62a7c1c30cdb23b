"""How close a network is to the PAR solution of Eq. (7): the cosines of Figure 3b (Theorem 6.2).

Theorem 6.2: once gradient flow is in the PAR, the neurons converge to perfectly clustered groups whose
directions are those of the solution (w_svm, u_svm) of Eq. (7) (:func:`lt_teacher.functional.par_svm`).
Every cosine here is in float64 and in [-1, 1]; a vector of norm 0 has no direction and its cosine is 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher.functional._checks import check_groups, check_tensor
from lt_teacher.functional._numerics import divide_where_positive
from lt_teacher.functional.clustering import _direction_of_means, _group_geometry


class PARSolutionCosines(NamedTuple):
    """The network against the solution of Eq. (7) (Figures 3/4), as Python floats in [-1, 1].

    Attributes:
        cosine_w: cos(w_bar, w_svm), the mean w-neuron against the Eq. (7) w-direction.
        cosine_u: cos(u_bar, u_svm).
        cosine_direction: cos(w_bar - u_bar, w_svm - u_svm), Theorem 5.1's linear classifier against the
            boundary Eq. (7) predicts (the green arrow of Figure 3a).
        min_cosine_w: min over w-neurons of cos(w_i, w_svm) (every neuron, Figure 3b).
        min_cosine_u: min over u-neurons of cos(u_i, u_svm).
    """

    cosine_w: float
    cosine_u: float
    cosine_direction: float
    min_cosine_w: float
    min_cosine_u: float


def cosine(a: Tensor, b: Tensor) -> float:
    """cos(a, b) of two vectors, clipped to [-1, 1]; 0 if either vector is 0 (it has no direction).

    Example:
        >>> import torch
        >>> cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]))  # doctest: +ELLIPSIS
        0.7071...
    """
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return 0.0
    return float(((a @ b) / (na * nb)).clamp(-1.0, 1.0))


def row_cosines(rows: Tensor, b: Tensor) -> Tensor:
    """cos(row_i, b) for every row of ``rows`` (n, d) against b (d,); 0 for a zero row or a zero ``b``.

    Example:
        >>> import torch
        >>> row_cosines(torch.tensor([[2.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]), torch.tensor([3.0, 0.0]))
        tensor([ 1.,  0., -1.])
    """
    return divide_where_positive(rows @ b, rows.norm(dim=1) * b.norm()).clamp(-1.0, 1.0)


def par_solution_cosines(w: Tensor, u: Tensor, solution: Iterable[Tensor]) -> PARSolutionCosines:
    """Figure 3b: the cosines between the neurons (and their means) and the Eq. (7) solution.

    Args:
        w: w-neurons, shape (k_w, d) (with the bias coordinate if the network has one).
        u: u-neurons, shape (k_u, d).
        solution: ``(w_svm, u_svm)``, each of shape (d,), e.g. the :class:`~lt_teacher.functional.PARSolution`
            of :func:`~lt_teacher.functional.par_svm`.

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[1.0, 0.0], [1.0, 0.1]]), torch.tensor([[-1.0, 0.0]])
        >>> round(par_solution_cosines(w, u, (torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0]))).cosine_u, 6)
        1.0
    """
    w, u = check_groups(w, u)
    w_svm, u_svm = solution
    for name, vector in (("w_svm", w_svm), ("u_svm", u_svm)):
        if check_tensor(vector, name).shape != (w.shape[1],):
            raise ValueError(f"`{name}` must have shape ({w.shape[1]},) like the neurons, got {tuple(vector.shape)}.")
    w, u = w.to(torch.float64), u.to(torch.float64)
    w_svm, u_svm = w_svm.to(torch.float64), u_svm.to(torch.float64)
    w_group, u_group = _group_geometry(w), _group_geometry(u)  # the group means, as cluster_radius takes them
    return PARSolutionCosines(
        cosine_w=cosine(w_group.mean, w_svm),
        cosine_u=cosine(u_group.mean, u_svm),
        cosine_direction=cosine(_direction_of_means(w_group, u_group), w_svm - u_svm),
        min_cosine_w=float(row_cosines(w, w_svm).min()),
        min_cosine_u=float(row_cosines(u, u_svm).min()),
    )
