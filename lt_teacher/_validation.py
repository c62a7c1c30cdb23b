"""Argument checks of the whole package, with one rule.

``TypeError`` when an argument has the wrong type, ``ValueError`` when it has the right type and a
wrong value. Every message names the argument, says what is expected and echoes what was found, e.g.
``"`lr` must be a finite number > 0, got -0.1."``. ``owner`` (a class or function name) is put in
front of the message when the argument name alone does not say whose argument it is.

Each check returns the value normalised (``int``, ``float``, ``bool`` or ``str``), so that a caller
writes ``self.k = check_int(k, "k", minimum=1)``. ``bool`` is never accepted as a number. Integers
are any ``numbers.Integral`` (also numpy's), real numbers any ``numbers.Real``.

This module depends on the standard library and torch only: the functional API, the engines, the
model, the datamodules and the callbacks all use it.

Example:
    >>> check_int(3, "k", minimum=1)
    3
    >>> check_int(True, "k", minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: `k` must be an int >= 1, got bool True.
    >>> check_positive(-0.1, "lr")
    Traceback (most recent call last):
    ...
    ValueError: `lr` must be a finite number > 0, got -0.1.
"""

from __future__ import annotations

import math
import os
import numbers
import warnings
from collections.abc import Collection, Mapping
from typing import TypeVar

import torch
from torch import Tensor

__all__ = [
    "all_finite",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_finite",
    "check_float",
    "check_fraction",
    "check_int",
    "check_optional_int",
    "check_optional_path",
    "check_positive",
    "check_probability",
    "check_slope",
    "check_subset",
    "check_tensor",
    "check_train_data",
    "renamed_argument",
]

T = TypeVar("T")


def all_finite(t: Tensor) -> bool:
    """Whether every entry of ``t`` is finite (no NaN, no +-inf); True for an empty or integer tensor.

    The same answer as ``bool(torch.isfinite(t).all())``, from the smallest and the largest entry
    (``torch.aminmax`` propagates NaN): one reduction instead of an n-entry boolean mask, about ten times
    faster on CPU (on a 2000 x 784 float32 matrix 0.4 ms instead of 5 ms).
    """
    if t.is_complex():  # no order: the mask
        return bool(torch.isfinite(t).all())
    if not t.is_floating_point() or t.numel() == 0:
        return True
    smallest, largest = torch.aminmax(t)
    return math.isfinite(smallest.item()) and math.isfinite(largest.item())  # two scalars: no tensor operations


def _prefix(owner: str | None) -> str:
    return f"{owner}: " if owner else ""


def _found(value: object) -> str:
    """``bool True``, ``str 'a'``: the type and the value of a wrongly typed argument."""
    return f"{type(value).__name__} {value!r}"


def check_int(value: object, name: str, *, minimum: int | None = None, owner: str | None = None) -> int:
    """An integer (not a ``bool``), ``>= minimum`` if given.

    Raises:
        TypeError: not an integer.
        ValueError: smaller than ``minimum``.
    """
    return _integer(value, name, minimum, "", owner)


def check_optional_int(value: object, name: str, *, minimum: int | None = None, owner: str | None = None) -> int | None:
    """``None``, or an integer as :func:`check_int` accepts it (the messages say "None or an int ...")."""
    return None if value is None else _integer(value, name, minimum, "None or ", owner)


def _integer(value: object, name: str, minimum: int | None, alternative: str, owner: str | None) -> int:
    expected = alternative + ("an int" if minimum is None else f"an int >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{_prefix(owner)}`{name}` must be {expected}, got {_found(value)}.")
    result = int(value)
    if minimum is not None and result < minimum:
        raise ValueError(f"{_prefix(owner)}`{name}` must be {expected}, got {result}.")
    return result


def _real(value: object, name: str, expected: str, owner: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{_prefix(owner)}`{name}` must be {expected}, got {_found(value)}.")
    return float(value)


def check_float(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
    owner: str | None = None,
) -> float:
    """A real number (not a ``bool``, never NaN), finite unless ``allow_inf``, ``>= minimum`` (``>`` if ``strict``).

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite (unless ``allow_inf``) or below ``minimum``.
    """
    kind = "a number (not NaN)" if allow_inf else "a finite number"
    expected = kind if minimum is None else f"{kind} {'>' if strict else '>='} {minimum:g}"
    result = _real(value, name, expected, owner)
    too_small = minimum is not None and (result <= minimum if strict else result < minimum)
    if math.isnan(result) or (math.isinf(result) and not allow_inf) or too_small:
        raise ValueError(f"{_prefix(owner)}`{name}` must be {expected}, got {result}.")
    return result


def check_positive(value: object, name: str, *, owner: str | None = None) -> float:
    """A finite real number > 0 (a learning rate, a scale, a standard deviation)."""
    return check_float(value, name, minimum=0.0, strict=True, owner=owner)


def _interval(value: object, name: str, low: str, high: str, inside: bool, meaning: str, owner: str | None) -> float:
    interval = f"in {low}0, 1{high}{meaning}"
    result = _real(value, name, f"a number {interval}", owner)
    if not inside:
        raise ValueError(f"{_prefix(owner)}`{name}` must be {interval}, got {value}.")
    return result


def check_fraction(value: object, name: str, *, owner: str | None = None) -> float:
    """A fraction in [0, 1) (a share of the points held out, ...)."""
    x = float(value) if isinstance(value, numbers.Real) else math.nan
    return _interval(value, name, "[", ")", 0.0 <= x < 1.0, "", owner)


def check_probability(value: object, name: str, *, owner: str | None = None) -> float:
    """A probability in [0, 1]."""
    x = float(value) if isinstance(value, numbers.Real) else math.nan
    return _interval(value, name, "[", "]", 0.0 <= x <= 1.0, "", owner)


def check_slope(value: object, name: str = "alpha", *, allow_zero: bool = False, owner: str | None = None) -> float:
    """The Leaky-ReLU slope alpha: in (0, 1), or [0, 1) with ``allow_zero`` (alpha = 0 is the ReLU)."""
    x = float(value) if isinstance(value, numbers.Real) else math.nan
    inside = (0.0 <= x if allow_zero else 0.0 < x) and x < 1.0
    meaning = " (the Leaky-ReLU slope; 0 is the ReLU)" if allow_zero else " (the Leaky-ReLU slope)"
    return _interval(value, name, "[" if allow_zero else "(", ")", inside, meaning, owner)


def check_bool(value: object, name: str, *, owner: str | None = None) -> bool:
    """A ``bool`` (``0``, ``1`` and strings are rejected)."""
    if not isinstance(value, bool):
        raise TypeError(f"{_prefix(owner)}`{name}` must be a bool (True or False), got {_found(value)}.")
    return value


def check_choice(value: object, name: str, choices: Collection[str], *, owner: str | None = None) -> str:
    """One of the strings ``choices``; the message lists them all."""
    listed = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{_prefix(owner)}`{name}` must be a str, one of {listed}, got {_found(value)}.")
    if value not in choices:
        raise ValueError(f"{_prefix(owner)}`{name}` must be one of {listed}, got {value!r}.")
    return value


def check_optional_path(value: object, name: str, *, owner: str | None = None) -> None:
    """``None``, a ``str`` or an ``os.PathLike`` (a folder or file to write to)."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{_prefix(owner)}`{name}` must be None, a str or a Path, got {type(value).__name__}.")


def check_subset(value: object, name: str, allowed: tuple[str, ...], *, owner: str | None = None) -> tuple[str, ...]:
    """One name of ``allowed``, or a non-empty list/tuple of them (kept in the order given).

    Raises:
        TypeError: neither a str nor a list/tuple.
        ValueError: empty, or a name outside ``allowed``.
    """
    expected = f"one of {allowed} or a non-empty subset of them"
    chosen = (value,) if isinstance(value, str) else value
    if not isinstance(chosen, (list, tuple)):
        raise TypeError(f"{_prefix(owner)}`{name}` must be {expected}, got {_found(value)}.")
    if not chosen or any(item not in allowed for item in chosen):
        raise ValueError(f"{_prefix(owner)}`{name}` must be {expected}, got {value!r}.")
    return tuple(chosen)


def check_callable(value: object, name: str, *, owner: str | None = None) -> None:
    """``None`` or a callable (a hook the user passes: ``network_fn``, ``batch_to_xy``, ...)."""
    if value is not None and not callable(value):
        raise TypeError(f"{_prefix(owner)}`{name}` must be callable, got {type(value).__name__}.")


def check_train_data(data: object, *, owner: str | None = None) -> None:
    """``None`` or a mapping whose only key is ``"train"`` (monitors that read the training points only)."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"{_prefix(owner)}`data` must be a mapping {{'train': (x, y)}}, got {type(data).__name__}.")
    if extra := [s for s in data if s != "train"]:
        raise ValueError(
            f"{_prefix(owner)}`data` has keys {extra}; it uses the training points only, expected the key 'train'."
        )


def check_tensor(
    value: object, name: str, *, ndim: int | None = None, shape: str | None = None, owner: str | None = None
) -> Tensor:
    """A ``torch.Tensor``, with ``ndim`` dimensions if given; ``shape`` (e.g. ``"(n, d)"``) is named in the messages.

    Raises:
        TypeError: not a tensor.
        ValueError: another number of dimensions.
    """
    described = f"a torch.Tensor of shape {shape}" if shape else "a torch.Tensor"
    if not isinstance(value, Tensor):
        raise TypeError(f"{_prefix(owner)}`{name}` must be {described}, got {type(value).__name__}.")
    if ndim is not None and value.ndim != ndim:
        expected = f"shape {shape}" if shape else f"{ndim} dimensions"
        raise ValueError(f"{_prefix(owner)}`{name}` must have {expected}, got shape {tuple(value.shape)}.")
    return value


def check_finite(value: Tensor, name: str, *, owner: str | None = None) -> Tensor:
    """A tensor without NaN or Inf entries (a scan over every entry)."""
    if value.is_floating_point() and not all_finite(value):
        raise ValueError(f"{_prefix(owner)}`{name}` contains NaN or Inf values; every entry must be finite.")
    return value


def renamed_argument(
    value: T, old_value: T | None, *, name: str, old_name: str, default: T, owner: str | None = None, stacklevel: int = 3
) -> T:
    """The value of an argument renamed from ``old_name`` to ``name``, the old spelling still accepted.

    ``old_value`` is the old keyword's value, ``None`` when it was not given. When given it is used,
    with a ``DeprecationWarning`` that names the new spelling. ``stacklevel`` 3 points the warning at
    the caller of the function that calls this one.

    Raises:
        ValueError: both spellings were given, with different values.
    """
    if old_value is None:
        return value
    if value != default and value != old_value:
        raise ValueError(
            f"{_prefix(owner)}`{old_name}` is the old name of `{name}`; got both, `{name}`={value!r} and "
            f"`{old_name}`={old_value!r}: give `{name}` only."
        )
    warnings.warn(
        f"{_prefix(owner)}`{old_name}` is deprecated, use `{name}` instead (same meaning).", DeprecationWarning, stacklevel=stacklevel
    )
    return old_value
