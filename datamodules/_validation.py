"""Argument checks shared by the datamodules.

Every check names the argument, echoes what was found and says what is expected, so that
``LinearTeacherDataModule(margin=-1)`` fails in ``__init__`` with a message that can be
acted on without reading the source.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """An integer (``bool`` is rejected), optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__} ({value!r}).")
    result = int(value)
    if minimum is not None and result < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {result}.")
    return result


def check_float(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real number (``bool`` is rejected), finite unless ``allow_inf``, ``>= minimum`` (``>`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} ({value!r}).")
    result = float(value)
    if math.isnan(result) or (math.isinf(result) and not allow_inf):
        expected = "a number (not NaN)" if allow_inf else "a finite number"
        raise ValueError(f"`{name}` must be {expected}, got {result}.")
    if minimum is not None and (result <= minimum if strict else result < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"`{name}` must be {relation} {minimum}, got {result}.")
    return result


def check_fraction(value: object, name: str) -> float:
    """A fraction in [0, 1)."""
    result = check_float(value, name, minimum=0.0)
    if result >= 1.0:
        raise ValueError(f"`{name}` must be a fraction in [0, 1), got {result}.")
    return result


def check_bool(value: object, name: str) -> bool:
    """A ``bool`` (``0``/``1`` and strings are rejected)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool (True or False), got {type(value).__name__} ({value!r}).")
    return value


def check_choice(value: object, name: str, choices: Collection[str]) -> str:
    """One of the strings ``choices``; the message lists them all."""
    listed = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str, one of {listed}, got {type(value).__name__} ({value!r}).")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {listed}, got {value!r}.")
    return value
