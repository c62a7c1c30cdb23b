"""Verifying the analysed network against the LightningModule, and deciding jointly under DDP.

A monitor analyses a :class:`~lt_teacher.view.TwoLayerView` of one sub-network on some inputs. Before
the first training step it checks that this is what the module computes: the view's N(x) (on
``features(module, x)`` when given) must equal the module's output on a sample of training inputs (of the evaluated splits when a run has none),
and no trainable parameter may lie outside the analysed network (unless ``features`` says that the
network is a head on learned features). Every check that reads one process's data ends in
:func:`decide_jointly`, so a problem found on one rank stops every rank with the same error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.plugins.precision import MixedPrecision
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lt_teacher._validation import all_finite
from lt_teacher.functional.network import network_output
from lt_teacher.model import LeakyReLUTeacherNet
from lt_teacher.view import TwoLayerView, _find_network, num_seeds, two_layer_view

Features = Callable[[LightningModule, Tensor], Tensor]
OutputFn = Callable[[LightningModule, Tensor], Tensor]

SAMPLE_SIZE = 256  # training inputs compared per process
_ERRORS: dict[str, type[Exception]] = {"TypeError": TypeError, "FileNotFoundError": FileNotFoundError}


def decide_jointly(trainer: Trainer, error: Exception | None) -> None:
    """Raise ``error`` on every process if any process has one (the first rank's, identical everywhere).

    One boolean reduction when all is well; the messages are gathered only when some rank failed.
    """
    if trainer.world_size <= 1:
        if error is not None:
            raise error
        return
    if trainer.strategy.reduce_boolean_decision(error is None, all=True):
        return
    import torch.distributed as dist

    found: list[Any] = [None] * trainer.world_size
    dist.all_gather_object(found, None if error is None else (type(error).__name__, str(error)))
    rank, (kind, message) = next((r, f) for r, f in enumerate(found) if f is not None)
    raise _ERRORS.get(kind, ValueError)(
        f"{message} (found by process {rank} of {trainer.world_size}; every process stops with this error)"
    ) from error


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """``module.eval()`` and ``torch.no_grad()`` for the duration; every sub-module's mode is restored."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def as_trained(pl_module: LightningModule) -> Iterator[None]:
    """Eval mode without gradients, and the trainer's precision context as in its steps (``64-true``: float64 default
    dtype); autocast (mixed precision) is left out, so the module's output is compared at its parameters' precision."""
    plugin = getattr(getattr(pl_module, "_trainer", None), "precision_plugin", None)
    mixed = isinstance(plugin, MixedPrecision) or "mixed" in str(getattr(plugin, "precision", ""))  # autocast (also FSDP's)
    context = plugin.forward_context() if plugin is not None and not mixed else nullcontext()
    with eval_mode(pl_module), context:
        yield


def _as_trained_input(pl_module: LightningModule, x: Tensor) -> Tensor:
    """``x`` on the module's device, converted as the trainer's precision converts a batch (``64-true``: float64)."""
    plugin = getattr(getattr(pl_module, "_trainer", None), "precision_plugin", None)
    x = x.to(pl_module.device)
    return plugin.convert_input(x) if plugin is not None else x


def head_inputs(pl_module: LightningModule, features: Features | None, x: Tensor, view: TwoLayerView, owner: str) -> Tensor:
    """The analysed network's inputs for a batch ``x``, prepared by the view (float64, bias coordinate).

    Without ``features`` these are ``x`` itself; with it, ``features(pl_module, x)`` computed in eval mode
    without gradients. Raises ValueError/TypeError naming what ``features`` returned.
    """
    if features is None:
        try:
            x64 = view.prepare_inputs(x)
        except ValueError as err:
            raise ValueError(
                f"{owner}: the training inputs do not fit the analysed network: {err} If the network is a head on learned "
                "features (a backbone runs before it), pass `features=lambda module, x: module.backbone(x)` returning its inputs."
            ) from err
    else:
        with as_trained(pl_module):
            out = features(pl_module, _as_trained_input(pl_module, x))
        if not isinstance(out, Tensor):
            raise TypeError(f"{owner}: `features(module, x)` must return a tensor, got {type(out).__name__}.")
        if out.ndim < 1 or out.shape[0] != x.shape[0] or out[0].numel() != view.input_dim:
            raise ValueError(
                f"{owner}: `features(module, x)` returned shape {tuple(out.shape)} for {x.shape[0]} inputs, but the analysed "
                f"network takes {view.input_dim} inputs per example; `features` must map a batch to the inputs of the "
                "two-layer head."
            )
        x64 = view.prepare_inputs(out.detach())
    if not all_finite(x64):
        where = "`features(module, x)` returned" if features is not None else "the inputs contain"
        raise ValueError(f"{owner}: {where} NaN or Inf values; expected finite values.")
    return x64


def _network_name(pl_module: nn.Module, network: nn.Module) -> str:
    if network is pl_module:
        return f"{type(pl_module).__name__} itself"
    name = next((n for n, m in pl_module.named_modules() if m is network), None)
    return f"`{name}`" if name else f"the {type(network).__name__} returned by `network_fn`"


def _module_output(pl_module: LightningModule, output_fn: OutputFn | None, x: Tensor, seeds: int) -> Tensor:
    """(seeds, n) float64 outputs of the module on ``x``; raises RuntimeError saying why they cannot be had."""
    call = "output_fn(module, x)" if output_fn is not None else f"{type(pl_module).__name__}.forward(x)"
    try:
        with as_trained(pl_module):
            x = _as_trained_input(pl_module, x)
            out = output_fn(pl_module, x) if output_fn is not None else pl_module(x)
    except Exception as err:  # noqa: BLE001: any failure means the output cannot be obtained
        raise RuntimeError(f"{call} failed on a batch of inputs ({type(err).__name__}: {err})") from err
    if not isinstance(out, Tensor):
        raise RuntimeError(f"{call} returned {type(out).__name__}, not a tensor of logits")
    n = x.shape[0]
    if out.numel() != seeds * n or (seeds > 1 and out.shape[0] != seeds):
        expected = f"({seeds}, {n})" if seeds > 1 else f"({n},) or ({n}, 1)"
        raise RuntimeError(f"{call} returned shape {tuple(out.shape)} for {n} inputs; expected one logit per input, {expected}")
    return out.detach().reshape(seeds, n).to(device="cpu", dtype=torch.float64)


def verify_network(
    trainer: Trainer,
    pl_module: LightningModule,
    network: nn.Module,
    views: list[TwoLayerView],
    x: Tensor | None,
    *,
    features: Features | None,
    output_fn: OutputFn | None,
    owner: str,
) -> None:
    """Check that ``views`` (one per seed) of ``network`` are what ``pl_module`` computes on the inputs ``x``.

    Raises (on every process, see :func:`decide_jointly`):
        ValueError: trainable parameters outside the analysed network (without ``features``), or the
            view's N(x) differs from the module's output beyond rounding.
    Warns once and keeps only the parameter check when the module's output cannot be obtained.
    """
    problems: list[str] = []
    network = _find_network(network)  # the sub-network the views are of
    name = _network_name(pl_module, network)
    if len(views) != num_seeds(network):  # a monitor of one seed: forward still returns every seed's logit
        views = [two_layer_view(network, seed=s) for s in range(num_seeds(network))]
    if features is None:
        analysed = [network.weight] if isinstance(network, LeakyReLUTeacherNet) else list(network.parameters())
        inside = {id(p) for p in analysed}
        outside = [n for n, p in pl_module.named_parameters() if p.requires_grad and id(p) not in inside]
        if outside:
            shown = ", ".join(outside[:8]) + (f" and {len(outside) - 8} more" if len(outside) > 8 else "")
            problems.append(
                f"trainable parameters [{shown}] of {type(pl_module).__name__} lie outside the analysed network {name}, "
                "which the monitors would analyse on the raw inputs as if it were the whole network"
            )
    unverified: str | None = None
    error: Exception | None = None
    try:
        if x is None or x.shape[0] == 0:
            unverified = "no inputs were found"
        else:
            x = x[:SAMPLE_SIZE].to(pl_module.device)
            try:
                found = _module_output(pl_module, output_fn, x, len(views))
            except RuntimeError as err:
                unverified = str(err)
            else:
                # The module may return the logit N(x) or the probability sigmoid(N(x)) (a BCELoss project):
                # either is the analysed network, as long as every seed matches in the same form.
                logit_ok, probability_ok, worst, worst_scale = True, True, 0.0, 0.0
                for seed, view in enumerate(views):
                    x64 = head_inputs(pl_module, features, x, view, owner)
                    expected = network_output(x64, view.w, view.u, view.alpha, view.v).cpu()
                    h = view.neurons @ x64.T  # (2k, n): the size of every term of N(x)
                    magnitude = view.v * h.abs().sum(dim=0).cpu() + 1.0
                    dtype = found.dtype if found.dtype.is_floating_point else torch.float32
                    eps = torch.finfo(dtype).eps
                    module_eps = torch.finfo(_param_dtype(pl_module)).eps
                    tolerance = 16 * max(eps, module_eps) * (x64.shape[1] + h.shape[0]) * magnitude
                    finite = all_finite(found[seed])
                    difference = (found[seed] - expected).abs()
                    if bool((difference > tolerance).any()) or not finite:
                        logit_ok = False
                        worst = max(worst, float(torch.nan_to_num(difference, nan=float("inf")).max()))
                        worst_scale = max(worst_scale, float(expected.abs().max()))
                    # sigmoid is 1/4-Lipschitz: the logit tolerance bounds the probability error too
                    if not finite or bool(((found[seed] - torch.sigmoid(expected)).abs() > tolerance).any()):
                        probability_ok = False
                if not (logit_ok or probability_ok):
                    call = "output_fn(module, x)" if output_fn is not None else f"{type(pl_module).__name__}.forward(x)"
                    inputs = "features(module, x)" if features is not None else "the raw batch inputs"
                    problems.append(
                        f"the network the monitors analyse ({name} on {inputs}) differs from what {type(pl_module).__name__} "
                        f"computes: on {x.shape[0]} inputs the largest difference between {call} and the analysed "
                        f"N(x) is {worst:.3g} (|N(x)| up to {worst_scale:.3g}), and it is not sigmoid(N(x)) either"
                    )
    except (TypeError, ValueError) as err:
        error = err
    if problems and error is None:
        error = ValueError(
            f"{owner}: " + "; and ".join(problems) + ". If forward transforms the inputs before the two-layer network "
            "(a backbone, a scaling such as x / 255), pass `features=lambda module, x: ...` returning the inputs of the "
            "head (e.g. module.backbone(x)); if forward returns something other than the logit N(x), pass "
            "`output_fn=lambda module, x: ...` returning it; `network_fn=` picks another sub-network."
        )
    decide_jointly(trainer, error)
    if unverified is not None:
        checked = "that no trainable parameter lies outside it" if features is None else "nothing else (`features` is set)"
        rank_zero_warn(
            f"{owner}: could not compare the analysed network {name} with the module's forward ({unverified}); only the "
            f"parameter check ran, which verifies {checked}. Pass `output_fn=lambda module, x: ...` returning the "
            "module's logit for inputs x so the monitors can verify the network they analyse."
        )


def _param_dtype(module: nn.Module) -> torch.dtype:
    return next((p.dtype for p in module.parameters() if p.dtype.is_floating_point), torch.float32)
