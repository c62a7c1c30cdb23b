"""Unpacking of (x, y) batches shared by the module and the callbacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

_X_KEYS = ("x", "input", "inputs", "image", "images")
_Y_KEYS = ("y", "target", "targets", "label", "labels")


def default_batch_to_xy(batch: Any) -> tuple[Tensor, Tensor]:
    """(x, y) from a tuple/list ``(x, y, ...)`` or a dict with keys such as ``x``/``y``, ``image``/``label``.

    Raises:
        TypeError: the batch has another form; pass your own ``batch_to_xy``.
    """
    if isinstance(batch, Mapping):
        x_key = next((k for k in _X_KEYS if k in batch), None)
        y_key = next((k for k in _Y_KEYS if k in batch), None)
        if x_key is None or y_key is None:
            raise TypeError(
                f"Cannot find inputs and labels in a batch dict with keys {sorted(map(str, batch))}; expected one of "
                f"{_X_KEYS} and one of {_Y_KEYS}, or pass `batch_to_xy`."
            )
        x, y = batch[x_key], batch[y_key]
    elif isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) >= 2:
        x, y = batch[0], batch[1]
    else:
        raise TypeError(
            f"Cannot unpack a batch of type {type(batch).__name__}; expected an (x, y) tuple or a dict with "
            "x/y keys, or pass `batch_to_xy`."
        )
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"Batch inputs and labels must be tensors, got {type(x).__name__} and {type(y).__name__}.")
    return x, y


def _describe(value: object) -> str:
    """What a ``batch_to_xy`` returned, for a message: a tensor's shape, a sequence's length or item types."""
    if isinstance(value, Tensor):
        return f"a Tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        if len(value) == 2:
            return f"a {type(value).__name__} of ({type(value[0]).__name__}, {type(value[1]).__name__})"
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__}"


def batch_xy(batch_to_xy: Callable[[Any], Any], batch: Any) -> tuple[Tensor, Tensor]:
    """``batch_to_xy(batch)``, checked to be an ``(x, y)`` pair of tensors.

    Raises:
        TypeError: it returned anything else; the message names ``batch_to_xy`` and what it returned.
    """
    result = batch_to_xy(batch)
    if (
        not isinstance(result, (tuple, list)) or len(result) != 2
        or not isinstance(result[0], Tensor) or not isinstance(result[1], Tensor)
    ):
        raise TypeError(f"`batch_to_xy` must return an (x, y) pair of tensors, got {_describe(result)}.")
    return result[0], result[1]
