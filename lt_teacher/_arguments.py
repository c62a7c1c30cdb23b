"""Argument checks of the monitors and the evaluator: errors name the owner, the argument and the value found."""

from __future__ import annotations

from collections.abc import Mapping


def check_int(value: object, name: str, owner: str, *, optional: bool = False, minimum: int = 1) -> None:
    """An int >= ``minimum`` (or None if ``optional``), else a ValueError echoing the value."""
    if optional and value is None:
        return
    expected = f"None or an int >= {minimum}" if optional else f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: `{name}` must be {expected}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: `{name}` must be {expected}, got {value!r}.")


def check_subset(value: object, name: str, allowed: tuple[str, ...], owner: str) -> tuple[str, ...]:
    """One name or a non-empty sequence of names from ``allowed`` (in the order given)."""
    chosen = (value,) if isinstance(value, str) else value
    if not isinstance(chosen, (list, tuple)) or not chosen or any(item not in allowed for item in chosen):
        raise ValueError(f"{owner}: `{name}` must be one of {allowed} or a non-empty subset of them, got {value!r}.")
    return tuple(chosen)


def check_train_data(data: object, owner: str) -> None:
    """``data`` must be None or a mapping whose only key is ``"train"``."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"{owner}: `data` must be a mapping {{'train': (x, y)}}, got {type(data).__name__}.")
    if extra := [s for s in data if s != "train"]:
        raise ValueError(f"{owner}: `data` has keys {extra}; it uses the training points only, expected the key 'train'.")


def check_callable(fn: object, name: str, owner: str) -> None:
    if fn is not None and not callable(fn):
        raise TypeError(f"{owner}: `{name}` must be callable, got {type(fn).__name__}.")
