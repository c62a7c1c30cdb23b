"""Cartesian grids of hyper-parameters x seeds, trained as one batched module."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from lt_teacher._validation import check_int, check_optional_int

__all__ = ["combine_seeds", "grid_groups", "hyperparameter_grid", "resolve_num_networks"]

_NAMES = ("alpha", "init_std", "lr", "v")


def _values(value: float | Sequence[float], name: str) -> list[float]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"`{name}` must be a number or a non-empty list of numbers, got an empty {type(value).__name__}.")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number or a list of numbers, got {type(value).__name__}.")
    return [value]


def hyperparameter_grid(
    alpha: float | Sequence[float] = 0.1,
    init_std: float | Sequence[float] = 1e-3,
    lr: float | Sequence[float] = 1e-2,
    v: float | Sequence[float] = 1.0,
    seeds: int = 1,
) -> dict[str, list[float]]:
    """The Cartesian product of the given values, each combination repeated ``seeds`` times.

    Returns keyword arguments for :class:`~lt_teacher.LeakyReLUTeacherNet`: one list per hyper-parameter,
    with one entry per network. Network ``s`` has combination ``s // seeds`` (in the order of
    ``itertools.product(alpha, init_std, lr, v)``) and is that combination's replicate ``s % seeds``: its
    own Gaussian initialization and, unless ``shared_order``, its own visiting order. The values are
    checked by the module.

    Args:
        alpha: Leaky-ReLU slope(s).
        init_std: initialization scale(s).
        lr: learning rate(s).
        v: output weight(s).
        seeds: replicates of every combination (>= 1).

    Raises:
        TypeError: a value is neither a number nor a list of numbers, or ``seeds`` is not an int.
        ValueError: an empty list, or ``seeds`` < 1.

    Example:
        >>> from lt_teacher import LeakyReLUTeacherNet
        >>> grid = hyperparameter_grid(alpha=[0.1, 0.5], init_std=[1e-3, 1.0], seeds=2)
        >>> grid["alpha"]
        [0.1, 0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.5]
        >>> grid["init_std"]
        [0.001, 0.001, 1.0, 1.0, 0.001, 0.001, 1.0, 1.0]
        >>> LeakyReLUTeacherNet(input_dim=4, k=2, **grid).weight.shape
        torch.Size([8, 4, 4])
    """
    seeds = check_int(seeds, "seeds", minimum=1)
    axes = [_values(value, name) for name, value in zip(_NAMES, (alpha, init_std, lr, v))]
    combos = [combo for combo in itertools.product(*axes) for _ in range(seeds)]
    return {name: [float(combo[i]) for combo in combos] for i, name in enumerate(_NAMES)}


def grid_groups(module: object) -> list[list[int]]:
    """The networks of a grid module grouped by identical hyper-parameters (replicates of one setting).

    Groups are listed in the order of their first network; ``[]`` when ``module`` is not a
    :class:`~lt_teacher.LeakyReLUTeacherNet` whose networks differ in a hyper-parameter.

    Example:
        >>> from lt_teacher import LeakyReLUTeacherNet
        >>> grid_groups(LeakyReLUTeacherNet(input_dim=2, k=1, **hyperparameter_grid(alpha=[0.1, 0.5], seeds=2)))
        [[0, 1], [2, 3]]
    """
    network_hparams = getattr(module, "network_hparams", None)  # a LeakyReLUTeacherNet (not imported: no cycle)
    if not callable(network_hparams) or getattr(module, "is_grid", False) is not True:
        return []
    groups: dict[tuple[tuple[str, float], ...], list[int]] = {}
    for s in range(int(getattr(module, "hparams")["num_seeds"])):
        groups.setdefault(tuple(sorted(network_hparams(s).items())), []).append(s)
    return list(groups.values())


def resolve_num_networks(per_net: Mapping[str, object], num_seeds: object) -> int:
    """S: ``num_seeds`` if given, else the common length of the hyper-parameters given as lists, else 1.

    Raises:
        TypeError: ``num_seeds`` is neither None nor an int.
        ValueError: ``num_seeds`` < 1, lists of different or zero lengths, or lists whose length is not ``num_seeds``.
    """
    seeds = check_optional_int(num_seeds, "num_seeds", minimum=1)
    lengths = {name: len(value) for name, value in per_net.items() if isinstance(value, (list, tuple))}
    if not lengths:
        return 1 if seeds is None else seeds
    sizes = set(lengths.values())
    described = ", ".join(f"{name} has {size}" for name, size in lengths.items())
    if len(sizes) > 1:
        raise ValueError(f"Hyper-parameters given as lists must have one value per network, the same length: {described}.")
    (size,) = sizes
    if size == 0:
        raise ValueError(f"A hyper-parameter list must hold one value per network (at least one), got an empty list: {described}.")
    if seeds is not None and seeds != size:
        raise ValueError(
            f"`num_seeds`={seeds} but the per-network lists have length {size} ({described}); "
            f"omit `num_seeds` or set it to {size}."
        )
    return size


def combine_seeds(per_seed: list[dict[str, float]], groups: Sequence[Sequence[int]] = ()) -> dict[str, float]:
    """One seed: its values. Several: the mean under each key, ``/std`` the spread, ``/seed_<s>`` each seed.

    ``groups``: the replicates of each setting of a grid module (:func:`lt_teacher.grid.grid_groups`); when a
    setting has several networks, ``/grid_<g>`` and ``/grid_<g>/std`` are the mean and spread of group g.

    Example:
        >>> combine_seeds([{"a": 1.0}, {"a": 3.0}])
        {'a': 2.0, 'a/std': 1.4142135623730951, 'a/seed_0': 1.0, 'a/seed_1': 3.0}
    """
    if len(per_seed) == 1:
        return per_seed[0]
    combined: dict[str, float] = {}
    replicated = any(len(group) > 1 for group in groups)
    for key in per_seed[0]:
        column = torch.tensor([values[key] for values in per_seed], dtype=torch.float64)
        combined[key] = float(column.mean())
        combined[f"{key}/std"] = _spread(column)
        combined.update({f"{key}/seed_{s}": float(v) for s, v in enumerate(column)})
        if replicated:
            for g, group in enumerate(groups):
                part = column[list(group)]
                combined[f"{key}/grid_{g}"] = float(part.mean())
                combined[f"{key}/grid_{g}/std"] = _spread(part)
    return combined


def _spread(column: Tensor) -> float:
    """Sample standard deviation (ddof 1) of the finite entries; 0 for fewer than two."""
    finite = column[torch.isfinite(column)]
    if finite.numel() < 2 or bool((finite == finite[0]).all()):  # equal values: exactly 0, not the mean's rounding
        return 0.0
    return float(finite.std())
