"""Synthetic data labelled by a linear teacher w*: the paper's Gaussian experiments."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from typing_extensions import override

from lt_teacher._validation import all_finite, check_bool, check_float, check_int, renamed_argument

from ._base import TensorSplitsDataModule, derived_generator

# Rejection sampling gives up below this acceptance rate (points kept / points drawn).
_MIN_ACCEPTANCE = 1e-3
# Candidates drawn in __init__ to reject hopeless settings before any training starts.
_PILOT_DRAWS = 20_000
# Largest number of candidates drawn at once.
_CHUNK = 65_536
# Float32 rounding allowance of an outlier's placement (see the class docstring).
_OUTLIER_SLACK = 1e-5


def _check_count(value: object, name: str, *, antipodal: bool, allow_zero: bool) -> int:
    """A number of points: at least one per label (>= 2), or 0 if allowed; even if antipodal."""
    count = check_int(value, name, minimum=0)
    if count == 0 and allow_zero:
        return count
    if count < 2:
        expected = "0 or an int >= 2" if allow_zero else "an int >= 2"
        raise ValueError(f"`{name}` must be {expected} (at least one point of each label), got {count}.")
    if antipodal and count % 2:
        raise ValueError(
            f"`{name}` must be even when `antipodal=True` (every point comes with its mirror image), got {count}."
        )
    return count


def _resolve_teacher(teacher: object, dim: int, seed: int) -> Tensor:
    """The unit teacher vector w* as float32 of shape (dim,)."""
    if teacher is None:
        direction = torch.zeros(dim, dtype=torch.float64)
        direction[0] = 1.0
    elif isinstance(teacher, str):
        if teacher != "random":
            raise ValueError(f"`teacher` given as a string must be 'random', got {teacher!r}.")
        direction = torch.randn(dim, generator=derived_generator(seed, "teacher"), dtype=torch.float64)
    elif isinstance(teacher, (Tensor, np.ndarray)):
        teacher = torch.as_tensor(teacher) if isinstance(teacher, np.ndarray) and teacher.dtype.kind in "biuf" else teacher
        if not isinstance(teacher, Tensor) or teacher.is_complex() or teacher.dtype == torch.bool:
            raise TypeError(f"`teacher` must hold real numbers, got an array of dtype {teacher.dtype}.")
        direction = teacher.detach().to(device="cpu", dtype=torch.float64)
    elif isinstance(teacher, Sequence):
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in teacher):
            raise TypeError(f"`teacher` must be a sequence of real numbers, got {teacher!r}.")
        direction = torch.tensor([float(v) for v in teacher], dtype=torch.float64)
    else:
        raise TypeError(
            f"`teacher` must be None (e_1), 'random', or a vector of length `dim`, got {type(teacher).__name__}."
        )
    if direction.shape != (dim,):
        raise ValueError(f"`teacher` must have shape ({dim},) to match `dim`, got {tuple(direction.shape)}.")
    if not all_finite(direction):
        raise ValueError(f"`teacher` must be finite, got {direction.tolist()}.")
    norm = float(direction.norm())
    if norm == 0.0:
        raise ValueError("`teacher` must be a non-zero vector (it is normalised to unit length), got all zeros.")
    return (direction / norm).float()


class LinearTeacherDataModule(TensorSplitsDataModule):
    r"""Two Gaussian clusters, one per label, separated by a linear teacher w* with margin γ.

    Section 3 of the paper: inputs x ∈ ℝᵈ with labels y ∈ {−1, +1} such that y·w*·x ≥ γ > 0
    for every point. Positive points come from N(+μw*, σ²I), negative points from
    N(−μw*, σ²I), with μ = ``cluster_distance`` / 2 and σ = ``cluster_std``. A candidate
    point is *rejected* (and redrawn) if y·w*·x < γ ("points inside a margin removed",
    Figure 3) or if ‖x‖ > R (``radius``). Rejection, not rescaling, keeps both guarantees
    exact: the split is the Gaussian restricted to the admissible set. Both checks run in
    float64 on the float32 values that are returned, with w* the float32 ``teacher`` below,
    so ``Y.double() * (X.double() @ teacher.double()) >= margin`` holds for every row.
    The radius bounds the d input coordinates, not an appended bias coordinate.

    Sizes and order: a split of n points holds ⌈n/2⌉ positive rows followed by ⌊n/2⌋
    negative rows. With ``antipodal=True`` (supplementary 15) n/2 points are drawn from the
    positive cluster and the negative rows are exactly their negations, in the same order:
    ``X[n//2:] == -X[:n//2]`` and ``Y[n//2:] == -Y[:n//2]``, so the set is symmetric and
    satisfies Assumption 4 of Theorem 6.2. Train, validation and test splits are drawn from
    the same distribution with independent random streams derived from ``seed``.

    Outliers (supplementary 17): ``outliers`` extra positive points are appended as the last
    rows of the *training* split only (its size is ``n_train + outliers``; their mirror images
    are never added, even with ``antipodal=True``). Outlier j is
    x_j = (γ + δ)·w* + s·o_j, where o_j is a seeded random unit vector orthogonal to w*
    (the plane has only two such directions: there o_2 = −o_1, and at most two outliers are
    allowed), ρ = ``radius`` (or, if there is no radius, the largest
    norm among the other training points), s = (1 − 10⁻⁵)·√(ρ² − (γ + δ)²), and
    δ = 10⁻⁵·max(ρ, 1) absorbs float32 rounding. So the outlier sits on the positive side of
    the teacher's hyperplane, on the edge of the margin, as far from the positive cluster's
    axis as the radius allows: the data stay separable by w* with margin γ, but the set is
    no longer symmetric (Assumption 4 of Theorem 6.2 can fail) — the setting of Figure 9,
    where learning enters an NAR that is not a PAR.

    Paper settings. The paper leaves the cluster geometry and the margin unstated; the
    defaults are a choice: centres ±2·w* (``cluster_distance=4``), ``cluster_std=1``,
    ``margin=0.1``, no radius, w* = e_1.

    * Figure 1 (2-D separable data): ``LinearTeacherDataModule(dim=2)``.
    * Figure 3 (two Gaussians, points inside a margin removed): ``margin`` > 0, ``dim=2``.
    * Figure 8 (400 points, two antipodal Gaussians in ℝ⁵⁰):
      ``LinearTeacherDataModule(dim=50, n_train=400, antipodal=True)``.
    * Figure 9 (two antipodal Gaussians plus one positive outlier; the dimension is not
      stated, Figure 9b draws neurons in the plane):
      ``LinearTeacherDataModule(dim=2, antipodal=True, outliers=1)``.

    Args:
        dim: Input dimension d (>= 1; >= 2 with outliers).
        n_train: Training points drawn from the clusters (>= 2, even if ``antipodal``).
        n_val: Validation points (0 or >= 2, even if ``antipodal``).
        n_test: Test points (0 or >= 2, even if ``antipodal``).
        margin: γ >= 0: every point has y·w*·x >= γ (> 0 needed with outliers).
        radius: R > γ, the largest allowed norm ‖x‖; ``None`` (or ``math.inf``) for no bound.
        teacher: w*. ``None``: the first basis vector e_1. ``"random"``: a unit vector drawn
            from a random stream of ``seed``. A sequence, 1-D tensor or numpy array of length ``dim``:
            that direction, normalised to unit length (the margin is measured with the unit
            vector); the hparams hold it as a list of floats (loggers write them as YAML).
        antipodal: Add −x with label −y for every drawn x (supplementary 15).
        outliers: Number of positive outlier points added to the training split (see above;
            at most 2 when ``dim`` is 2).
        seed: Base seed (>= 0) of the data, the teacher, the outliers and the shuffling.
        batch_size: Training batch size (the paper's SGD uses 1).
        eval_batch_size: Validation and test batch size.
        num_workers: ``DataLoader`` worker processes.
        cluster_std: σ > 0, the standard deviation of every coordinate of a cluster.
        cluster_distance: 2μ >= 0, the distance between the two cluster centres ±μw*.
        bias: Append a constant 1 to every x (supplementary 8.1); ``teacher`` then
            gets a 0 appended so that ``X @ teacher`` still gives w*·x.
        append_bias: Deprecated spelling of ``bias`` (a ``DeprecationWarning``).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range, the sizes are too small or odd for an
            antipodal set, the teacher is zero or not finite, ``margin >= radius``, or the
            margin and radius leave fewer than 1 in 1000 drawn points (checked on a pilot
            sample in ``__init__`` and again while sampling).

    Example:
        >>> dm = LinearTeacherDataModule(dim=3, n_train=8, n_val=0, n_test=0, margin=0.5, antipodal=True)
        >>> x, y = dm.train_tensors()
        >>> tuple(x.shape), y.tolist()
        ((8, 3), [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0])
        >>> bool((y * (x @ dm.teacher) >= 0.5).all()), bool((x[4:] == -x[:4]).all())
        (True, True)
    """

    def __init__(
        self,
        dim: int = 2,
        n_train: int = 100,
        n_val: int = 100,
        n_test: int = 1000,
        margin: float = 0.1,
        radius: float | None = None,
        teacher: str | Sequence[float] | Tensor | np.ndarray | None = None,
        antipodal: bool = False,
        outliers: int = 0,
        seed: int = 0,
        batch_size: int = 1,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        cluster_std: float = 1.0,
        cluster_distance: float = 4.0,
        bias: bool = False,
        append_bias: bool | None = None,
    ) -> None:
        bias = renamed_argument(bias, append_bias, name="bias", old_name="append_bias", default=False)
        append_bias = None  # hparams hold the new spelling only
        super().__init__(seed=seed, batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, bias=bias)
        self.dim = check_int(dim, "dim", minimum=1)
        self.antipodal = check_bool(antipodal, "antipodal")
        self.n_train = _check_count(n_train, "n_train", antipodal=self.antipodal, allow_zero=False)
        self.n_val = _check_count(n_val, "n_val", antipodal=self.antipodal, allow_zero=True)
        self.n_test = _check_count(n_test, "n_test", antipodal=self.antipodal, allow_zero=True)
        self.margin = check_float(margin, "margin", minimum=0.0)
        self.radius = (
            math.inf if radius is None else check_float(radius, "radius", minimum=0.0, strict=True, allow_inf=True)
        )
        if self.margin >= self.radius:
            raise ValueError(
                f"`margin` ({self.margin}) must be smaller than `radius` ({self.radius}): "
                "every point has y·w*·x <= ‖x‖ <= radius."
            )
        self.cluster_std = check_float(cluster_std, "cluster_std", minimum=0.0, strict=True)
        self.cluster_distance = check_float(cluster_distance, "cluster_distance", minimum=0.0)
        self.outliers = check_int(outliers, "outliers", minimum=0)
        if self.outliers and self.dim < 2:
            raise ValueError(f"`outliers` need `dim` >= 2 (they sit off the teacher's axis), got dim={self.dim}.")
        if self.outliers > 2 and self.dim == 2:
            raise ValueError(
                f"`outliers` must be <= 2 when `dim` == 2 (the plane has two directions orthogonal to the teacher, "
                f"so more outliers would repeat a point), got outliers={self.outliers}."
            )
        if self.outliers and self.margin == 0.0:
            raise ValueError("`outliers` need `margin` > 0 (an outlier sits on the margin's edge), got margin=0.0.")
        self._unit_teacher = _resolve_teacher(teacher, self.dim, self.seed)
        self._check_acceptance()
        if isinstance(teacher, (Tensor, np.ndarray)):  # hparams hold a list: loggers write them as YAML and read it back
            teacher = [float(v) for v in teacher.tolist()]
        self.save_hyperparameters()

    @property
    def teacher(self) -> Tensor:
        """w* as float32 of shape (``input_dim``,): unit norm, with a 0 appended if ``bias``."""
        if self.bias:
            return torch.cat([self._unit_teacher, torch.zeros(1)])
        return self._unit_teacher.clone()

    @property
    @override
    def input_dim(self) -> int:
        """d, plus one if ``bias``."""
        return self.dim + int(self.bias)

    def _admissible(self, x: Tensor, label: float) -> Tensor:
        """Mask of the float32 rows x with label·w*·x >= γ and ‖x‖ <= R, evaluated in float64."""
        x64 = x.double()
        teacher64 = self._unit_teacher.double()
        return (label * (x64 @ teacher64) >= self.margin) & (x64.norm(dim=1) <= self.radius)

    def _candidates(self, label: float, count: int, generator: torch.Generator) -> Tensor:
        centre = label * (self.cluster_distance / 2.0) * self._unit_teacher.double()
        noise = torch.randn(count, self.dim, generator=generator, dtype=torch.float64)
        return (centre + self.cluster_std * noise).float()

    def _acceptance_advice(self, accepted: int, drawn: int) -> str:
        return (
            f"only {accepted} of {drawn} points drawn from a cluster satisfy y·w*·x >= margin={self.margin} and "
            f"‖x‖ <= radius={self.radius} (acceptance rate {accepted / drawn:.2e}, at least {_MIN_ACCEPTANCE:.0e} "
            f"is needed; the cluster centres are at distance {self.cluster_distance / 2} from the origin with "
            f"std {self.cluster_std} per coordinate in {self.dim} dimensions). Lower `margin`, raise `radius`, "
            "raise `cluster_distance` or lower `cluster_std`."
        )

    def _check_acceptance(self) -> None:
        # The negative cluster is the mirror image of the positive one, with the same rate.
        candidates = self._candidates(1.0, _PILOT_DRAWS, derived_generator(self.seed, "acceptance-pilot"))
        accepted = int(self._admissible(candidates, 1.0).sum())
        if accepted < _MIN_ACCEPTANCE * _PILOT_DRAWS:
            raise ValueError(self._acceptance_advice(accepted, _PILOT_DRAWS))

    def _sample_cluster(self, label: float, count: int, generator: torch.Generator) -> Tensor:
        """``count`` admissible float32 points of the cluster of ``label``, by rejection sampling."""
        kept = [torch.empty(0, self.dim)]
        accepted, drawn = 0, 0
        max_draws = _PILOT_DRAWS + math.ceil(count / _MIN_ACCEPTANCE)
        while accepted < count:
            if drawn >= max_draws:
                raise ValueError(self._acceptance_advice(accepted, drawn))
            rate = max(accepted / drawn if drawn else 1.0, _MIN_ACCEPTANCE)
            size = min(_CHUNK, max(256, math.ceil(1.2 * (count - accepted) / rate)))
            candidates = self._candidates(label, size, generator)
            candidates = candidates[self._admissible(candidates, label)]
            kept.append(candidates)
            accepted += candidates.shape[0]
            drawn += size
        return torch.cat(kept)[:count]

    def _sample_split(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if self.antipodal:
            positives = self._sample_cluster(1.0, n // 2, generator)
            negatives = -positives
        else:
            positives = self._sample_cluster(1.0, n - n // 2, generator)
            negatives = self._sample_cluster(-1.0, n // 2, generator)
        x = torch.cat([positives, negatives])
        y = torch.cat([torch.ones(positives.shape[0]), -torch.ones(negatives.shape[0])])
        return x, y

    def _outlier_points(self, clean_train_x: Tensor) -> Tensor:
        """The positive outliers of supplementary 17, placed as the class docstring says."""
        rho = self.radius if math.isfinite(self.radius) else float(clean_train_x.double().norm(dim=1).max())
        along = self.margin + _OUTLIER_SLACK * max(rho, 1.0)
        across = (1.0 - _OUTLIER_SLACK) * math.sqrt(max(rho**2 - along**2, 0.0))
        teacher64 = self._unit_teacher.double()
        generator = derived_generator(self.seed, "outliers")
        rows: list[Tensor] = []
        while len(rows) < self.outliers:
            if self.dim == 2 and rows:
                # The plane has two directions orthogonal to w*: the second outlier takes the other one.
                rows.append(2.0 * along * teacher64 - rows[0])
                continue
            direction = torch.randn(self.dim, generator=generator, dtype=torch.float64)
            direction -= (direction @ teacher64) / (teacher64 @ teacher64) * teacher64
            norm = float(direction.norm())
            if norm > 1e-6:
                rows.append(along * teacher64 + across * direction / norm)
        points = torch.stack(rows).float()
        if not bool(self._admissible(points, 1.0).all()):
            raise RuntimeError("internal error: an outlier violates the margin or the radius after float32 rounding.")
        return points

    @override
    def split_sources(self) -> dict[str, str]:
        outliers = f" + {self.outliers} outliers" if self.outliers else ""
        return {
            name: f"{self.dim}-d linear-teacher clusters, seed {self.seed} stream '{name}'{outliers if name == 'train' else ''}"
            for name in ("train", "val", "test")
        }

    @override
    def _build_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        splits = {
            name: self._sample_split(n, derived_generator(self.seed, name))
            for name, n in (("train", self.n_train), ("val", self.n_val), ("test", self.n_test))
        }
        if self.outliers:
            x, y = splits["train"]
            splits["train"] = (torch.cat([x, self._outlier_points(x)]), torch.cat([y, torch.ones(self.outliers)]))
        return splits
