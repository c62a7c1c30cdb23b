"""TeacherNetSummary: a model summary that describes the two-layer network of Eq. (1)."""

from __future__ import annotations

from typing import cast

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from typing_extensions import override

from lt_teacher.view import _find_network, _hidden_layers, num_seeds, two_layer_view


def _output_layer(pl_module: LightningModule, v: float) -> str:
    """The fixed output layer: the paper's +-v, or frozen weights of several magnitudes, v the largest."""
    network = _find_network(pl_module)
    if isinstance(network, nn.Sequential):
        a = cast(nn.Linear, _hidden_layers(network)[2]).weight.detach()[0].abs()
        if not bool((a == a[0]).all()):
            return f"fixed (not trained), of several magnitudes: a_i s(w_i.x) = sign(a_i) v s(|a_i|/v w_i.x), v = max|a_i| = {v:g}"
    return f"fixed +-v, v = {v:g} (not trained)"


def describe_network(pl_module: LightningModule) -> str:
    """A short table: the w- and u-neurons, the output layer, the trainable parameters.

    Raises:
        ValueError: the module holds no two-layer network :func:`lt_teacher.two_layer_view` can read.
    """
    view = two_layer_view(pl_module)
    seeds = num_seeds(pl_module)
    trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in pl_module.parameters() if not p.requires_grad)
    width = view.w.shape[1]
    bias = " (+1 bias coordinate)" if view.bias else ""
    fixed = view.output_fixed
    prefix = f"{seeds} x " if seeds > 1 else ""
    rows = [
        ("w-neurons (output +v)", f"{prefix}{view.w.shape[0]} x {width}"),
        ("u-neurons (output -v)", f"{prefix}{view.u.shape[0]} x {width}"),
        ("output layer", _output_layer(pl_module, view.v) if fixed else "learned (absorbed: a_i s(w_i.x) = sign(a_i) s(|a_i| w_i.x))"),
    ]
    first = max(len(r[0]) for r in rows)
    lines = [f"{type(pl_module).__name__}: N(x) = v sum s(w_i.x) - v sum s(u_i.x), s(z) = max(z, {view.alpha:g} z)"]
    lines += [f"  {name:<{first}}  {shape}" for name, shape in rows]
    networks = f"{seeds} independent networks, " if seeds > 1 else ""
    lines.append(
        f"  {trainable} trainable parameters, {frozen} frozen; {networks}input width {view.input_dim}{bias}"
    )
    return "\n".join(lines)


class TeacherNetSummary(ModelSummary):
    """Lightning's :class:`~lightning.pytorch.callbacks.ModelSummary`, replaced by :func:`describe_network` for
    a two-layer Leaky-ReLU network (whose parameters sit directly on the module, where Lightning's table
    shows only "other params | n/a"). Other modules get Lightning's table.
    """

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        try:
            text = describe_network(pl_module)
        except (TypeError, ValueError):
            super().on_fit_start(trainer, pl_module)
            return
        rank_zero_info(text)
