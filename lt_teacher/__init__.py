"""lt-teacher: PyTorch Lightning plugins for learning from a linear teacher (Sarussi et al., ICML 2021).

The names below are imported on first use, so that ``import lt_teacher.functional`` (pure torch) or
``import lt_teacher._validation`` does not load Lightning (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lt_teacher._version import __version__

if TYPE_CHECKING:
    from lt_teacher.evaluator import DiagnosticsEvaluator
    from lt_teacher.grid import hyperparameter_grid
    from lt_teacher.model import LeakyReLUTeacherNet
    from lt_teacher.view import NetworkStateError, TwoLayerView, num_seeds, two_layer_view

_HOMES = {
    "DiagnosticsEvaluator": "lt_teacher.evaluator",
    "LeakyReLUTeacherNet": "lt_teacher.model",
    "NetworkStateError": "lt_teacher.view",
    "TwoLayerView": "lt_teacher.view",
    "hyperparameter_grid": "lt_teacher.grid",
    "num_seeds": "lt_teacher.view",
    "two_layer_view": "lt_teacher.view",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lt_teacher' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
