"""The contract every SGD engine implements, defined and checked once.

An engine is ``engine(weight, x, y, order, lr, alpha, v, k_w=None, **options) -> losses`` (the
:class:`SGDEngine` protocol; the arguments are documented in :func:`lt_teacher.engines.fused_sgd_steps`).
An engine module writes only its steps, ``steps(inputs: SGDInputs, **options) -> losses``, and
:func:`sgd_engine` turns them into the public function: it gives them the contract's signature and runs
:func:`check_sgd_inputs` first, which rejects anything else with an error that names the argument, what
was found and what is expected.

The checks cost O(S m + n) per call: ``weight`` and ``x`` are not scanned for NaN/Inf, which
would cost more than a hundred SGD steps; a NaN there propagates to the returned losses. A caller that
runs an engine every epoch on one training set (``LeakyReLUTeacherNet``) binds it to that set with
:class:`CheckedEngine`, which checks the set once and afterwards only the weights and the order.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union, cast

import numpy as np
import torch
from torch import Tensor

from lt_teacher._validation import check_int, check_positive, check_slope, check_tensor

#: A hyper-parameter of the engines: one number for every network, or one per network (S of them).
PerNetwork = Union[float, Sequence[float], Tensor]

_FLOAT_DTYPES = (torch.float32, torch.float64)
_DEVICE_TYPES = ("cpu", "cuda")
_WHY_CONTIGUOUS = {
    "weight": "it is updated in place, which a copy would not do.",
    "x": "copying it on every call would cost O(n d); pass `x.contiguous()` once, outside the training loop.",
}


class SGDEngine(Protocol):
    """``engine(weight, x, y, order, lr, alpha, v, k_w=None, **options) -> losses``: m SGD steps of S networks.

    ``weight`` (S, 2k, d) is updated in place by ``order.shape[1]`` per-example SGD steps per network
    (batch size 1, section 3 of Sarussi et al., ICML 2021); the (S,) float64 sums of the per-step
    losses are returned. ``options`` are the engine's own keyword-only arguments.
    """

    __name__: str

    def __call__(
        self,
        weight: Tensor,
        x: Tensor,
        y: Tensor,
        order: Tensor,
        lr: PerNetwork,
        alpha: PerNetwork,
        v: PerNetwork,
        k_w: int | None = None,
        **options: Any,
    ) -> Tensor: ...


@dataclass(frozen=True)
class SGDInputs:
    """Validated engine arguments: the tensors unchanged, the scalars as Python numbers."""

    weight: Tensor  # (S, 2k, d), float32 or float64, contiguous, updated in place
    x: Tensor  # (n, d), dtype of weight, contiguous
    y: Tensor  # (n,), dtype of weight, entries +-1, contiguous (a copy if the argument was not)
    order: Tensor  # (S, m), int64, entries in [0, n), contiguous (a copy if the argument was not)
    lr: tuple[float, ...]  # (S,) one learning rate per network
    alpha: tuple[float, ...]  # (S,) one Leaky-ReLU slope per network
    v: tuple[float, ...]  # (S,) one output weight per network
    k_w: int  # rows [0, k_w) are w-neurons (+v), rows [k_w, 2k) u-neurons (-v)

    @property
    def uniform(self) -> bool:
        """All S networks share lr, alpha and v."""
        return all(len(set(values)) == 1 for values in (self.lr, self.alpha, self.v))


def _contiguous(t: Tensor, name: str) -> Tensor:
    """``t`` itself if contiguous; a contiguous copy of a cheap argument; an error for ``weight`` and ``x``."""
    if t.is_contiguous():
        return t
    if name in _WHY_CONTIGUOUS:
        raise ValueError(
            f"`{name}` must be contiguous, got strides {t.stride()} for shape {tuple(t.shape)}; {_WHY_CONTIGUOUS[name]}"
        )
    return t.contiguous()


def per_network(value: object, name: str, num_networks: int, check: Callable[[object, str], float]) -> tuple[float, ...]:
    """One checked value per network: a number (shared by all) or a sequence/1-D tensor of ``num_networks`` numbers.

    Raises:
        TypeError: ``value`` is neither a number nor a sequence of numbers.
        ValueError: a sequence of the wrong length, or a value that ``check`` rejects (the error names the network).
    """
    if isinstance(value, (Tensor, np.ndarray)):
        if value.ndim != 1:
            raise ValueError(f"`{name}` must be a number or a 1-D sequence of {num_networks} numbers, got shape {tuple(value.shape)}.")
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != num_networks:
            raise ValueError(
                f"`{name}` must be one number or one per network ({num_networks}), got a sequence of {len(value)}."
            )
        checked = []
        for s, item in enumerate(value):
            try:
                checked.append(check(item, name))
            except (TypeError, ValueError) as err:
                raise type(err)(f"network {s}: {err}") from err
        return tuple(checked)
    return (check(value, name),) * num_networks


def _check_indices(order: Tensor, n: int) -> None:
    """Every entry of the int64 ``order`` is an index into ``x``'s n rows.

    Raises:
        ValueError: an index outside ``[0, n)``.
    """
    if order.numel() > 0:
        lo, hi = (int(b) for b in torch.aminmax(order))
        if lo < 0 or hi >= n:
            raise ValueError(f"`order` holds example indices in [{lo}, {hi}] but `x` has n = {n} rows; expected [0, {n - 1}].")


def check_sgd_inputs(
    weight: object,
    x: object,
    y: object,
    order: object,
    lr: object,
    alpha: object,
    v: object,
    k_w: object = None,
) -> SGDInputs:
    """Check the engine contract and return the arguments with ``k_w`` resolved.

    Raises:
        TypeError: a tensor argument is not a tensor, has the wrong dtype, or a scalar has the wrong type.
        ValueError: wrong shapes, mixed or unsupported devices, non-contiguous ``weight`` or ``x``,
            labels other than +-1, indices outside ``[0, n)``, ``alpha`` outside (0, 1),
            ``lr`` or ``v`` not > 0, a per-network sequence whose length is not S, ``k_w`` outside ``[0, 2k]``.
    """
    w = check_tensor(weight, "weight", ndim=3, shape="(S, 2k, d)")
    if w.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"`weight` must be float32 or float64, got dtype {w.dtype}.")
    if w.device.type not in _DEVICE_TYPES:
        raise ValueError(f"`weight` must be on a CPU or CUDA device, got device {w.device}.")
    num_seeds, rows, d = w.shape
    if num_seeds == 0 or rows == 0 or d == 0:
        raise ValueError(f"`weight` must have S >= 1 seeds, 2k >= 1 rows and d >= 1 columns, got shape {tuple(w.shape)}.")

    xt = check_tensor(x, "x", ndim=2, shape=f"(n, {d})")
    yt = check_tensor(y, "y", ndim=1, shape="(n,)")
    ot = check_tensor(order, "order", ndim=2, shape=f"({num_seeds}, m)")
    for name, t in (("x", xt), ("y", yt), ("order", ot)):
        if t.device != w.device:
            raise ValueError(f"`{name}` is on device {t.device} but `weight` is on {w.device}; put all tensors on one device.")
    for name, t in (("x", xt), ("y", yt)):
        if t.dtype != w.dtype:
            raise TypeError(f"`{name}` must have the dtype of `weight` ({w.dtype}), got {t.dtype}.")
    if ot.dtype != torch.int64:
        raise TypeError(f"`order` must hold int64 example indices, got dtype {ot.dtype}.")

    n = xt.shape[0]
    if xt.shape[1] != d or n == 0:
        raise ValueError(f"`x` must have shape (n, {d}) with n >= 1 to match `weight` {tuple(w.shape)}, got {tuple(xt.shape)}.")
    if yt.shape[0] != n:
        raise ValueError(f"`y` has {yt.shape[0]} labels but `x` has {n} rows.")
    if ot.shape[0] != num_seeds:
        raise ValueError(f"`order` must have one row per seed, shape ({num_seeds}, m), got {tuple(ot.shape)}.")

    w, xt, yt, ot = (_contiguous(t, name) for t, name in ((w, "weight"), (xt, "x"), (yt, "y"), (ot, "order")))
    if bool(yt.abs().ne(1).any()):
        found = torch.unique(yt[yt.abs().ne(1)])[:6].tolist()
        raise ValueError(f"`y` must hold labels -1 or +1 in the dtype of `x`, found other values {found}.")
    _check_indices(ot, n)

    lr_f = per_network(lr, "lr", num_seeds, check_positive)
    alpha_f = per_network(alpha, "alpha", num_seeds, check_slope)
    v_f = per_network(v, "v", num_seeds, check_positive)
    if k_w is None:
        if rows % 2:
            raise ValueError(f"`weight` has an odd number of rows ({rows}); pass `k_w`, the number of w-neurons.")
        k = rows // 2
    else:
        k = check_int(k_w, "k_w", minimum=0)
        if k > rows:
            raise ValueError(f"`k_w` must be in [0, {rows}] (the number of w-neurons among the 2k rows), got {k_w}.")
    return SGDInputs(w, xt, yt, ot, lr_f, alpha_f, v_f, k)


def sgd_engine(steps: Callable[..., Tensor]) -> SGDEngine:
    """The public engine of ``steps(inputs: SGDInputs, **options) -> losses``.

    The result takes the arguments of :class:`SGDEngine` (its signature, followed by the keyword-only
    ``options`` of ``steps``, is what ``inspect.signature`` and ``help`` show), has the name and
    docstring of ``steps``, and checks its arguments with :func:`check_sgd_inputs` before it calls ``steps``.
    """

    def engine(*args: Any, **kwargs: Any) -> Tensor:
        bound = _CONTRACT.bind(*args, **kwargs)
        bound.apply_defaults()
        options = bound.arguments.pop("options")
        return steps(check_sgd_inputs(**bound.arguments), **options)

    functools.update_wrapper(engine, steps)  # name, docstring, module (doctest finds the examples)
    own = [p for p in inspect.signature(steps).parameters.values() if p.kind is p.KEYWORD_ONLY]
    shown = [p for p in _CONTRACT.parameters.values() if p.kind is not p.VAR_KEYWORD] + own
    engine.__signature__ = inspect.Signature(shown, return_annotation="Tensor")  # type: ignore[attr-defined]
    return cast(SGDEngine, engine)


#: The contract's arguments: ``SGDEngine.__call__`` without ``self``.
_CONTRACT = inspect.Signature(list(inspect.signature(SGDEngine.__call__).parameters.values())[1:])


class CheckedEngine:
    """An engine bound to one training set and one set of hyper-parameters, checked once, for many calls.

    ``CheckedEngine(engine, weight, x, y, lr, alpha, v, k_w, **options)`` runs :func:`check_sgd_inputs` once (with
    an empty ``order``); ``checked(weight, order)`` is then ``engine(weight, x, y, order, lr, alpha, v, k_w,
    **options)`` without checking ``x``, ``y`` (e.g. its labels, a scan of all n), the hyper-parameters or their
    shapes again, when ``weight`` has the shape, dtype and device checked and is contiguous and ``order`` is an
    int64 tensor with one row per seed on that device; its indices are still checked to lie in ``[0, n)``
    (O(S m)). Any other call goes to ``engine`` itself, which checks every argument and raises its errors.
    A training loop that calls an engine every epoch on tensors it prepared (``LeakyReLUTeacherNet``) uses it;
    ``x`` and ``y`` must not be modified in place afterwards (their checks would not see it).

    Args:
        engine: an engine made by :func:`sgd_engine` (e.g. ``fused_sgd_steps``).
        weight, x, y, lr, alpha, v, k_w: as for ``engine``; ``weight`` is only a sample of the shape,
            dtype and device of the weights of later calls.
        options: the engine's own keyword-only arguments (``parallel`` of ``fused_sgd_steps``).

    Raises:
        TypeError: ``engine`` was not made by :func:`sgd_engine`; otherwise as :func:`check_sgd_inputs`.
        ValueError: as :func:`check_sgd_inputs`.
    """

    def __init__(
        self, engine: SGDEngine, weight: Tensor, x: Tensor, y: Tensor, lr: PerNetwork, alpha: PerNetwork, v: PerNetwork,
        k_w: int | None = None, **options: Any,
    ) -> None:
        steps = getattr(engine, "__wrapped__", None)
        if not callable(steps) or getattr(engine, "__signature__", None) is None:
            raise TypeError(f"`engine` must be an engine made by `sgd_engine`, got {engine!r}.")
        w = check_tensor(weight, "weight", ndim=3, shape="(S, 2k, d)")
        empty = torch.zeros(w.shape[0], 0, dtype=torch.int64, device=w.device)
        self.engine, self.options, self._steps = engine, options, steps
        self.inputs = check_sgd_inputs(w, x, y, empty, lr, alpha, v, k_w)  # the checked arguments; weight and order vary

    def __call__(self, weight: Tensor, order: Tensor) -> Tensor:
        """The engine's losses (S,) for ``order.shape[1]`` steps per seed on ``weight`` (updated in place)."""
        p = self.inputs
        same_weight = (
            isinstance(weight, Tensor) and weight.shape == p.weight.shape and weight.dtype == p.weight.dtype
            and weight.device == p.weight.device and weight.is_contiguous()
        )
        fits = isinstance(order, Tensor) and order.dtype == torch.int64 and order.ndim == 2 and order.device == p.weight.device
        if not same_weight or not fits or order.shape[0] != p.weight.shape[0]:
            return self.engine(weight, p.x, p.y, order, p.lr, p.alpha, p.v, p.k_w, **self.options)
        order = order.contiguous()
        _check_indices(order, p.x.shape[0])
        return self._steps(SGDInputs(weight, p.x, p.y, order, p.lr, p.alpha, p.v, p.k_w), **self.options)
