"""The experiment-level parts of a reproduction config: small typed sections, read with errors that name the key.

The run-level parts (``seed_everything``, ``model``, ``data``, ``trainer``) have the form of
``lt-teacher fit`` configs and are checked by its jsonargparse parser (:mod:`.fit_configs`). Everything
else a config holds is experiment-level: which runs to train and how to judge them. Each section is a
dataclass here (or in the experiment's module, for its ``criteria``); :func:`read_section` fills one
from the YAML mapping and rejects unknown keys and wrong types, naming ``section.key``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Schedule:
    """``schedule:``: when the monitors evaluate and how Lightning paces the fused SGD (no effect on the numbers)."""

    evaluations: int = 20  # evaluations after epoch 0, spread over the epochs (denser early); the last epoch always
    steps_per_epoch: int = 4  # Lightning steps per epoch; each runs about n / steps_per_epoch per-example SGD steps


@dataclass(frozen=True)
class InitScales:
    """``init:``: the Gaussian init std of the "small" and the "large" runs (``model.init_std`` of each)."""

    small: float = 1e-3  # Figure 1's small initialization
    large: float = 30.0  # Figure 1's large initialization


@dataclass(frozen=True)
class TwoNeuronNetwork:
    """``network:`` of supplementary Figure 4: one w-neuron and one u-neuron in the plane, untrained."""

    w: list[float] = dataclasses.field(default_factory=lambda: [1.0, 0.0])
    u: list[float] = dataclasses.field(default_factory=lambda: [0.0, 1.0])
    alpha: float = 0.1  # the Leaky-ReLU slope of the "leaky" network (the ReLU one has 0)
    v: float = 1.0  # the output weight


@dataclass(frozen=True)
class SweepGrid:
    """``grid:`` of the sweep: every init std is trained with every alpha."""

    init_std: list[float] = dataclasses.field(default_factory=lambda: [1e-3, 1.0])
    alpha: list[float] = dataclasses.field(default_factory=lambda: [0.1])


def _type_ok(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    return isinstance(value, expected) if isinstance(expected, type) else True


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", str(expected)) if typing.get_origin(expected) is None else str(expected)


def read_section(cls: type[T], value: object, where: str, key: str) -> T:
    """``cls`` filled from the mapping ``value`` (None: all defaults); unknown keys and wrong types raise naming ``key.field``.

    Values keep the type they were written with (an int where a float is expected stays an int), so the
    report prints them as the config does.
    """
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: `{key}` must be a mapping, got {type(value).__name__} {value!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ConfigError(f"{where}: `{key}` has unknown key(s) {unknown}; valid keys: {', '.join(names)}.")
    for name, item in value.items():
        if not _type_ok(item, hints[name]):
            raise ConfigError(f"{where}: `{key}.{name}` must be {_type_name(hints[name])}, got {item!r}.")
    return cls(**value)


def positive_ints(section: Any, where: str, key: str) -> None:
    """Every int field of ``section`` is >= 1 (the counts of a schedule)."""
    for field in dataclasses.fields(section):
        number = getattr(section, field.name)
        if isinstance(number, int) and number < 1:
            raise ConfigError(f"{where}: `{key}.{field.name}` must be an int >= 1, got {number!r}.")
