"""The PAR solution: the convex problem of Eq. (7) (Theorem 6.2, Figures 3/4).

    argmin ||w||^2 + ||u||^2   s.t.  w . x+ - alpha u . x+ >= 1  for positive points,
                                     u . x- - alpha w . x- >= 1  for negative points.

With theta = (w, u) and the features phi(x+) = (x+, -alpha x+), phi(x-) = (-alpha x-, x-) this is a
hard-margin SVM without bias: min ||theta|| s.t. Phi theta >= 1, a least-distance program. Lawson &
Hanson (Solving Least Squares Problems, ch. 23) reduce it exactly to non-negative least squares,
which SciPy's ``nnls`` (their algorithm) solves; the solution is then polished on its active set
and its KKT conditions are checked explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_matrix, signed_labels


@dataclass(frozen=True)
class PARSolution:
    """Solution of Eq. (7). Unpacks as ``w, u = par_svm(x, y, alpha)``.

    Attributes:
        w: the w-direction solution, shape (d,), float64.
        u: the u-direction solution, shape (d,), float64.
        multipliers: KKT multipliers mu >= 0, one per point (support vectors have mu > 0).
        kkt_violation: the largest violation of the KKT conditions (primal and dual feasibility,
            complementary slackness, stationarity theta = Phi^T mu), relative to the problem's scale.
    """

    w: Tensor
    u: Tensor
    multipliers: Tensor
    kkt_violation: float

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.w, self.u))


def par_features(x: Tensor, y: Tensor, alpha: float) -> Tensor:
    """phi(x) of Theorem 6.2: (x, -alpha x) for y = +1 and (-alpha x, x) for y = -1; shape (n, 2d)."""
    c = signed_labels(y, x.shape[0])[:, None]
    x64 = x.to(torch.float64)
    positive = torch.cat([x64, -alpha * x64], dim=1)
    negative = torch.cat([-alpha * x64, x64], dim=1)
    return torch.where(c > 0, positive, negative)


def kkt_violation(features: np.ndarray, theta: np.ndarray, multipliers: np.ndarray) -> float:
    """Largest KKT violation of min ||theta||^2/2 s.t. features @ theta >= 1 (all terms scale-free)."""
    slack = features @ theta - 1.0
    scale = max(1.0, float(np.linalg.norm(theta)))
    primal = float(np.max(np.maximum(-slack, 0.0)))
    dual = float(np.max(np.maximum(-multipliers, 0.0)))
    complementary = float(np.max(np.abs(multipliers * slack))) / scale**2
    stationarity = float(np.linalg.norm(theta - features.T @ multipliers)) / scale
    return max(primal, dual, complementary, stationarity)


class NotSeparableError(ValueError):
    """No theta satisfies features @ theta >= 1: the rows are not strictly separable from 0."""


def least_distance(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lawson-Hanson LDP: min ||theta|| s.t. features theta >= 1, via NNLS; returns (theta, mu).

    This is the hard-margin SVM without bias on the rows of ``features`` (each row a label times a
    point). Raises :class:`NotSeparableError` when the constraints are infeasible.
    """
    n, m = features.shape
    e = np.vstack([features.T, np.ones((1, n))])  # (m + 1, n)
    f = np.zeros(m + 1)
    f[m] = 1.0
    lam, _ = nnls(e, f, maxiter=50 * max(n, m + 1))
    residual = e @ lam - f
    if residual[m] >= -1e-12:
        raise NotSeparableError("no theta satisfies features @ theta >= 1 (the rows are not separable).")
    theta = -residual[:m] / residual[m]
    multipliers = lam / -residual[m]
    return theta, multipliers


def _polish(features: np.ndarray, theta: np.ndarray, multipliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-solve the equality system on the active set; keep it only if it lowers the KKT violation."""
    active = multipliers > 1e-10 * max(1.0, float(multipliers.max(initial=0.0)))
    if not active.any():
        return theta, multipliers
    phi_a = features[active]
    mu_a, *_ = np.linalg.lstsq(phi_a @ phi_a.T, np.ones(int(active.sum())), rcond=None)
    if (mu_a < 0).any():
        return theta, multipliers
    polished_mu = np.zeros_like(multipliers)
    polished_mu[active] = mu_a
    polished_theta = phi_a.T @ mu_a
    if kkt_violation(features, polished_theta, polished_mu) < kkt_violation(features, theta, multipliers):
        return polished_theta, polished_mu
    return theta, multipliers


def par_svm(x: Tensor, y: Tensor, alpha: float, *, tol: float = 1e-6) -> PARSolution:
    """Solve Eq. (7), the max-margin problem whose solution the PAR converges to (Theorem 6.2).

    Args:
        x: points, shape (n, d), linearly separable.
        y: labels in {0, 1} or {-1, +1}, shape (n,).
        alpha: the Leaky-ReLU slope, in (0, 1).
        tol: the KKT tolerance the solution must meet.

    Returns:
        :class:`PARSolution` (unpacks to ``w, u``), float64.

    Raises:
        ValueError: bad shapes or labels, or data that is not separable in the PAR features.
        RuntimeError: the solver did not reach ``tol`` (reports the violation reached).

    Example:
        >>> import torch
        >>> w, u = par_svm(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([1, -1]), 0.5)
        >>> [round(v, 4) for v in w.tolist() + u.tolist()]
        [0.6667, 0.0, -0.6667, 0.0]
    """
    x = check_matrix(x, "x")
    alpha = check_alpha(alpha)
    features = par_features(x, y, alpha).cpu().numpy()
    try:
        theta, mu = least_distance(features)
    except NotSeparableError:
        raise ValueError(
            "The points are not linearly separable in the PAR features phi(x) of Eq. (7): "
            "no (w, u) satisfies all constraints. Expected linearly separable data (section 3)."
        ) from None
    theta, mu = _polish(features, theta, mu)
    violation = kkt_violation(features, theta, mu)
    if violation > tol:
        raise RuntimeError(f"par_svm reached a KKT violation of {violation:.3e}, above tol={tol:.1e}.")
    d = x.shape[1]
    theta_t = torch.from_numpy(theta)
    return PARSolution(w=theta_t[:d], u=theta_t[d:], multipliers=torch.from_numpy(mu), kkt_violation=violation)
