"""What a checkpoint must agree on before its weights load into a module: its arguments and its precision.

Lightning copies a checkpoint's ``state_dict`` into the module as it was built: a module of other arguments
(``alpha``, ``lr``, ...) would go on from weights trained with different ones, and a float32 module would
round float64 weights before ``precision="64-true"`` converts it. :func:`prepare_checkpoint_load` runs in
``on_load_checkpoint``, before the copy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def differing_arguments(saved: Any, built: Any, prefix: str = "") -> list[str]:
    """``[prefix.]name=saved (here built)`` for every saved hyper-parameter that differs from this run's."""
    saved, built = dict(saved or {}), dict(built or {})
    return [
        f"{prefix + '.' if prefix else ''}{name}={value!r} (here {built[name]!r})"
        for name, value in saved.items() if not name.startswith("_") and name in built and plain_value(built[name]) != plain_value(value)
    ]


def plain_value(value: Any) -> Any:
    """Tuples as lists: a checkpoint's YAML-like hyper-parameters hold lists where the module may hold tuples."""
    return [plain_value(v) for v in value] if isinstance(value, (list, tuple)) else value


def run_parameter_dtype(trainer: Any) -> torch.dtype:
    """The dtype the trainer's precision gives a module's parameters (float64 under ``64-true``, float32 under mixed)."""
    return trainer.precision_plugin.convert_module(nn.Linear(1, 1)).weight.dtype  # type: ignore[no-any-return]


def prepare_checkpoint_load(module: Any, checkpoint: dict[str, Any], parameter: str = "weight") -> None:
    """Refuse a checkpoint a Trainer would load into a module of other arguments or round to its precision; give the
    module the dtype of the checkpoint's ``parameter`` so that the copy of its values is exact.

    With a Trainer (resuming ``fit``, or ``validate``/``test`` with ``ckpt_path``) the module's hyper-parameters must be
    the checkpoint's, and the run's precision must hold the saved dtype. Without one (``load_from_checkpoint``, whose
    keyword arguments may override hyper-parameters on purpose) the module takes the saved dtype: a float64 checkpoint
    gives float64 weights back.

    Raises:
        ValueError: naming the arguments that differ, or the precision that would round the weights.
    """
    owner = type(module).__name__
    trainer = getattr(module, "_trainer", None)
    saved = (checkpoint.get("state_dict") or {}).get(parameter)
    if trainer is not None:
        differing = differing_arguments(checkpoint.get("hyper_parameters"), module.hparams)
        if differing:
            raise ValueError(
                f"{owner}: the checkpoint was trained with other arguments: {', '.join(differing)}. "
                f"Build the module with the checkpoint's arguments ({owner}.load_from_checkpoint(path) rebuilds it) to "
                "resume or evaluate it; a run of other arguments starts from its own initialization."
            )
    if not isinstance(saved, Tensor) or not saved.is_floating_point() or saved.dtype == getattr(module, parameter).dtype:
        return
    if trainer is not None:
        target = run_parameter_dtype(trainer)
        if torch.promote_types(saved.dtype, target) != target:
            raise ValueError(
                f"{owner}: the checkpoint holds {str(saved.dtype).removeprefix('torch.')} weights and this Trainer's precision "
                f"({trainer.precision}) computes in {str(target).removeprefix('torch.')}, which would round them; resume with "
                "the precision it was trained with (e.g. Trainer(precision='64-true') for float64 weights)."
            )
    module.to(dtype=saved.dtype)  # the copy is then exact; the precision plugin converts the module later
