"""What the metric classes of :mod:`lt_teacher.metrics` share: the float64-state base class, the reductions of
their states across processes, and the checks of their arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lt_teacher._validation import check_finite, check_tensor
from lt_teacher.functional._checks import check_float
from lt_teacher.functional.evaluation import EvaluationBatch

_F64 = torch.float64


class Float64Metric(Metric):
    """A torchmetrics ``Metric`` whose float64 states stay float64 when the module holding it changes dtype.

    torchmetrics guards ``.half()``/``.float()``/``.double()``, but ``module.to(dtype)``, which Lightning's
    ``precision="16-true"``/``"bf16-true"`` applies to a LightningModule and every metric in it, would turn
    the counts into float16/bfloat16 (exact only up to 2048/256 points) and round the margins. Device moves
    apply as usual, and so does torchmetrics' explicit ``set_dtype`` (e.g. float32 on a device without float64).
    """

    def _apply(self, fn: Callable[[Tensor], Tensor], exclude_state: Sequence[str] = "") -> Any:
        if self._dtype_convert:  # torchmetrics' explicit ``set_dtype``: the user's choice
            return super()._apply(fn, exclude_state)

        @functools.wraps(fn)  # keeps str(fn), which torchmetrics reads to tell dtype casts from device moves
        def keep_float64(t: Tensor) -> Tensor:
            moved = fn(t)
            return t.to(device=moved.device) if t.dtype == _F64 and moved.dtype != _F64 else moved

        return super()._apply(keep_float64, exclude_state)


def logsumexp_reduce(stacked: Tensor) -> Tensor:
    """Reduce per-process log-sums: log(sum_p exp(s_p))."""
    return torch.logsumexp(stacked, dim=0)


def min_reduce(stacked: Tensor) -> Tensor:
    return stacked.min(dim=0).values


def max_reduce(stacked: Tensor) -> Tensor:
    return stacked.max(dim=0).values


def check_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int >= 1 (neurons in the group), got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an int >= 1 (neurons in the group), got {value}.")
    return value


def check_batch(batch: object) -> EvaluationBatch:
    if not isinstance(batch, EvaluationBatch):
        raise TypeError(
            f"`batch` must be an EvaluationBatch (from lt_teacher.functional.evaluation.evaluate_batch) or the metric's "
            f"statistics state (a field of lt_teacher.functional.evaluation.batch_statistics), got {type(batch).__name__}."
        )
    return batch


def check_radius(radius: object) -> Tensor:
    """The cluster radius r: a one-element tensor or a real number, finite and >= 0, as a float64 tensor."""
    if isinstance(radius, Tensor):
        if radius.numel() != 1:
            raise ValueError(f"`radius` must hold one value (the cluster radius r), got shape {tuple(radius.shape)}.")
        value = radius.detach().to(_F64).reshape(())
        check_float(float(value), "radius", minimum=0.0)
        return value
    return torch.tensor(check_float(radius, "radius", minimum=0.0), dtype=_F64)


def check_norms(norms: object, name: str, size: int) -> Tensor:
    """``norms``, the neurons' norms ||w_j||: a floating tensor of shape (size,) of finite values >= 0."""
    norms = check_tensor(norms, name, ndim=1, shape=f"({size},), one norm per neuron of the group")
    if not norms.is_floating_point():
        raise TypeError(f"`{name}` must be a floating tensor of the group's neuron norms, got dtype {norms.dtype}.")
    if norms.shape != (size,):
        raise ValueError(f"`{name}` must have shape ({size},), one norm per neuron of the group, got {tuple(norms.shape)}.")
    check_finite(norms, name)
    if not bool((norms >= 0).all()):
        raise ValueError(f"`{name}` must hold norms >= 0, got {norms.tolist()}.")
    return norms
