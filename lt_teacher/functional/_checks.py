"""The functional API's checks of tensors, label sets and the paper's scalar arguments.

The generic rule and primitives (``TypeError`` for a wrong type, ``ValueError`` for a wrong value,
messages naming the argument, what was found and what is expected) live in
:mod:`lt_teacher._validation`; this module adds what is particular to the formulas: tensors of
neurons and inputs, label sets, the slope alpha and the margin beta.
"""

from __future__ import annotations


import torch
from torch import Tensor

from lt_teacher import _validation
from lt_teacher._validation import all_finite, check_float, check_slope, renamed_argument


def _is_integer(dtype: torch.dtype) -> bool:
    """Every integer width and signedness (uint8 ... int64, and the unsigned types of newer torch)."""
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        return False
    try:
        torch.iinfo(dtype)
    except TypeError:  # quantized and other non-numeric dtypes
        return False
    return True


def check_tensor(value: object, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
    if value.is_complex() or not (value.is_floating_point() or value.dtype == torch.bool or _is_integer(value.dtype)):
        raise TypeError(f"`{name}` must hold real numbers (bool, an integer or a floating dtype), got dtype {value.dtype}.")
    return value


def check_matrix(value: object, name: str, *, columns: int | None = None, allow_empty: bool = False) -> Tensor:
    """A finite 2-D floating tensor, optionally with a given number of columns."""
    t = check_tensor(value, name)
    if t.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D tensor (rows x features), got shape {tuple(t.shape)}.")
    if columns is not None and t.shape[1] != columns:
        raise ValueError(f"`{name}` must have {columns} columns to match the other inputs, got shape {tuple(t.shape)}.")
    if not allow_empty and t.shape[0] == 0:
        raise ValueError(f"`{name}` must have at least one row, got shape {tuple(t.shape)}.")
    if t.is_floating_point() and not all_finite(t):
        raise ValueError(f"`{name}` contains NaN or Inf values; every entry must be finite.")
    return t


def check_groups(w: object, u: object) -> tuple[Tensor, Tensor]:
    """The w-group (k_w x d) and u-group (k_u x d) of first-layer neurons."""
    w_t = check_matrix(w, "w")
    u_t = check_matrix(u, "u", columns=w_t.shape[1])
    return w_t, u_t


def float64_inputs(x: object, w: object, u: object) -> tuple[Tensor, Tensor, Tensor]:
    """Checked points x (n, d) and neuron groups w (k_w, d), u (k_u, d), in float64."""
    w_t, u_t = check_groups(w, u)
    x_t = check_matrix(x, "x", columns=w_t.shape[1])
    return x_t.to(torch.float64), w_t.to(torch.float64), u_t.to(torch.float64)


def check_alpha(alpha: object, *, relu: bool = False) -> float:
    """The Leaky-ReLU slope, 0 < alpha < 1; with ``relu=True`` also alpha = 0 (ReLU, supplementary Figure 4)."""
    return check_slope(alpha, "alpha", allow_zero=relu)


def check_positive(value: object, name: str) -> float:
    """A finite number > 0."""
    return _validation.check_positive(value, name)


def check_beta(beta: object) -> float:
    """The agreement margin beta of Definition 6.2: a finite number >= 0."""
    return check_float(beta, "beta", minimum=0.0)


def signed_labels(y: object, n: int | None = None, name: str = "y") -> Tensor:
    """Labels in {0, 1} or {-1, +1} as a float64 tensor of +-1.

    0 maps to -1. A label set that mixes 0 and -1, or holds anything else, is rejected.
    """
    t = check_tensor(y, name)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D tensor of labels, got shape {tuple(t.shape)}.")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"`{name}` has {t.shape[0]} labels but the inputs have {n} rows.")
    t64 = t.to(torch.float64)
    if not all_finite(t64):
        raise ValueError(f"`{name}` contains NaN or Inf labels; expected labels in {{0, 1}} or {{-1, +1}}.")
    values = torch.unique(t64)
    allowed = {-1.0, 0.0, 1.0}
    found = [float(v) for v in values.tolist()]
    if any(v not in allowed for v in found) or (0.0 in found and -1.0 in found):
        shown = found[:6]
        raise ValueError(
            f"`{name}` must hold labels in {{0, 1}} or {{-1, +1}}, found values {shown}"
            + (" ..." if len(found) > 6 else "")
            + "."
        )
    return torch.where(t64 > 0, 1.0, -1.0)


def output_weight(v: object, scale: object, owner: str) -> float:
    """The output weight v of Eq. (1), accepting the deprecated keyword ``scale`` (its former name).

    Args:
        v: the value passed as ``v`` (``None`` when only ``scale`` was passed).
        scale: the value passed as the deprecated ``scale`` keyword, or ``None``.
        owner: the function or class the argument belongs to, for the messages.
    """
    chosen = renamed_argument(v, scale, name="v", old_name="scale", default=None, owner=owner, stacklevel=4)
    return check_positive(1.0 if chosen is None else chosen, "v")
