"""Linear separability of a training set: the premise of the whole paper (section 3).

The paper assumes data labelled by a linear teacher through the origin: some w* with y·w*·x > 0 on
every point. Whether a given training set meets that premise is a linear feasibility question
answered exactly, with a certificate either way:

* separable: an LP (HiGHS through SciPy) finds w with y_i w·x_i >= 1 for all i; the answer is
  accepted only after checking y_i w·x_i > 0 on every point in float64;
* not separable: Gordan's theorem of the alternative says that exactly one of
  "exists w with y_i w·x_i > 0 for all i" and "exists mu >= 0, sum(mu) = 1, sum_i mu_i y_i x_i = 0"
  holds; a second LP finds such mu, a convex combination of the signed points that is 0.

For separable data the teacher margin gamma = max_{||w|| = 1} min_i y_i w·x_i is the hard-margin
SVM without bias, min ||w|| s.t. y_i w·x_i >= 1, a least-distance program solved by the same
Lawson-Hanson routine as Eq. (7) (:mod:`lt_teacher.functional.par_svm`); gamma = 1 / ||w_svm||.

With ``bias=True`` the question is separability by an affine boundary w·x + b (a constant 1 is
appended to every point, supplementary 8.1); the margin is then not reported, since the SVM with an
unpenalised bias is a different problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

from lt_teacher.functional._checks import check_matrix, signed_labels
from lt_teacher.functional.network import append_bias_coordinate
from lt_teacher.functional.par_svm import NotSeparableError, least_distance


@dataclass(frozen=True)
class Separability:
    """The answer of :func:`linear_separability`, with its certificate.

    Attributes:
        separable: True when some w (and b, with ``bias=True``) classifies every point strictly.
        separator: such a w, float64; None if not separable. Through the origin it is the unit
            max-margin separator (the hard-margin SVM direction), shape (d,); with ``bias=True`` a
            feasible (w, b) of the LP, shape (d + 1,) with the bias last.
        min_signed_margin: min_i y_i separator·x_i / ||separator|| (> 0 when separable; equal to
            ``teacher_margin`` through the origin up to rounding); None otherwise.
        teacher_margin: the largest geometric margin of a separator through the origin,
            max_{||w||=1} min_i y_i w·x_i; None when not separable or with ``bias=True``.
        certificate: when not separable, mu >= 0 with sum(mu) = 1 and sum_i mu_i y_i x_i = 0
            (Gordan's alternative), shape (n,), float64; None when separable.
        certificate_residual: ||sum_i mu_i y_i x_i|| / max_i ||x_i|| of that certificate (0 up to
            rounding); None when separable.
    """

    separable: bool
    separator: Tensor | None
    min_signed_margin: float | None
    teacher_margin: float | None
    certificate: Tensor | None
    certificate_residual: float | None


def _signed_points(x: Tensor, y: Tensor, bias: bool) -> np.ndarray:
    """Rows y_i x_i (with a trailing y_i when ``bias``), float64 numpy, shape (n, d[+1])."""
    points = append_bias_coordinate(x.to(torch.float64)) if bias else x.to(torch.float64)
    return (signed_labels(y, x.shape[0])[:, None] * points).cpu().numpy()


def _find_separator(signed: np.ndarray) -> np.ndarray | None:
    """w with signed @ w >= 1 (an LP feasibility problem), or None when HiGHS proves there is none."""
    n, d = signed.shape
    result = linprog(
        c=np.zeros(d),
        A_ub=-signed,
        b_ub=-np.ones(n),
        bounds=[(None, None)] * d,
        method="highs",
    )
    if result.status == 0:
        return np.asarray(result.x, dtype=np.float64)
    if result.status == 2:  # infeasible
        return None
    raise RuntimeError(f"The separability LP did not finish (HiGHS status {result.status}: {result.message}).")


def _find_certificate(signed: np.ndarray) -> np.ndarray | None:
    """mu >= 0, sum(mu) = 1, signed.T @ mu = 0 (Gordan's alternative), or None when there is none."""
    n, d = signed.shape
    a_eq = np.vstack([signed.T, np.ones((1, n))])
    b_eq = np.concatenate([np.zeros(d), [1.0]])
    result = linprog(c=np.zeros(n), A_eq=a_eq, b_eq=b_eq, bounds=[(0.0, None)] * n, method="highs")
    if result.status == 0:
        return np.asarray(result.x, dtype=np.float64)
    if result.status == 2:
        return None
    raise RuntimeError(f"The certificate LP did not finish (HiGHS status {result.status}: {result.message}).")


def linear_separability(x: Tensor, y: Tensor, *, bias: bool = False) -> Separability:
    """Decide whether ``(x, y)`` is linearly separable (through the origin unless ``bias``), section 3.

    Args:
        x: points, shape (n, d), finite.
        y: labels in {0, 1} or {-1, +1}, shape (n,).
        bias: allow an affine boundary w·x + b instead of one through the origin.

    Returns:
        :class:`Separability`: the verdict with a separator or a certificate of non-separability, and
        the teacher margin for separable data through the origin.

    Raises:
        TypeError / ValueError: wrong types, shapes, non-finite entries or labels.
        RuntimeError: the LPs disagree with their own verification (numerically degenerate data;
            the message says which check failed).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0], [-1.0, 1.0]])
        >>> result = linear_separability(x, torch.tensor([1, -1]))
        >>> result.separable, round(result.teacher_margin, 4)
        (True, 1.0)
    """
    x = check_matrix(x, "x")
    if not isinstance(bias, bool):
        raise TypeError(f"`bias` must be a bool, got {type(bias).__name__}.")
    signed = _signed_points(x, y, bias)
    scale = float(np.max(np.linalg.norm(signed, axis=1)))
    if scale == 0.0:  # every point is 0: nothing classifies 0 strictly
        n = signed.shape[0]
        return Separability(False, None, None, None, torch.full((n,), 1.0 / n, dtype=torch.float64), 0.0)
    separator = _find_separator(signed / scale)
    if separator is not None:
        teacher_margin = None
        if not bias:
            # The max-margin separator (SVM of the rescaled points; gamma(s) = scale * gamma(s / scale))
            # replaces the LP's vertex, whose norm is arbitrary.
            svm_w, _ = least_distance(signed / scale)
            separator = svm_w / np.linalg.norm(svm_w)
            teacher_margin = scale / float(np.linalg.norm(svm_w))
        scores = signed @ separator
        if not bool((scores > 0).all()):
            raise RuntimeError(
                "The separability LP returned a w that does not classify every point strictly "
                f"(min y·w·x = {scores.min():.3e}); the data is too close to degenerate to decide."
            )
        return Separability(
            separable=True,
            separator=torch.from_numpy(separator),
            min_signed_margin=float(scores.min()) / float(np.linalg.norm(separator)),
            teacher_margin=teacher_margin,
            certificate=None,
            certificate_residual=None,
        )
    mu = _find_certificate(signed / scale)
    if mu is None:
        raise RuntimeError(
            "The separability LP found no separator, yet no certificate of non-separability exists; "
            "the data is too close to degenerate to decide."
        )
    residual = float(np.linalg.norm(signed.T @ mu)) / scale
    return Separability(
        separable=False,
        separator=None,
        min_signed_margin=None,
        teacher_margin=None,
        certificate=torch.from_numpy(mu),
        certificate_residual=residual,
    )


__all__ = ["NotSeparableError", "Separability", "linear_separability"]
