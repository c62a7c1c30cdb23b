"""Any two-layer Leaky-ReLU network seen as the paper's fixed-output network (SPEC, "Model").

A learned output layer a is absorbed by positive homogeneity: a_i sigma(w_i . x) =
sign(a_i) sigma(|a_i| w_i . x) for the alpha-leaky sigma, so neurons with a_i > 0 form the w-group
(|a_i| w_i), neurons with a_i < 0 the u-group, and the resulting network, with output weights +-1,
computes exactly the same function. Neurons with a_i = 0 contribute nothing and are left out.
A first-layer bias becomes one more weight column acting on a constant 1 (supplementary 8.1).

An output layer frozen with ``requires_grad=False`` while the first layer trains is the paper's fixed
second layer: theta is the first layer's parameters alone and N is 1-homogeneous in them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from lt_teacher._validation import all_finite
from lt_teacher.functional.network import append_bias_coordinate, network_output
from lt_teacher.functional._numerics import vector_norm
from lt_teacher.model import LeakyReLUTeacherNet

class NetworkStateError(ValueError):
    """The network has the paper's structure, but its current weights cannot be read as the paper's network:
    they are not finite (training diverged), or a learned output layer has left one of the two neuron groups
    empty. Training brings a network there, so a monitor meeting it mid-run warns and logs NaN instead of
    stopping the run (:class:`~lt_teacher.callbacks.LinearTeacherMonitor`)."""


def _check_finite_weights(*weights: Tensor) -> None:
    if not all(all_finite(t) for t in weights):
        raise NetworkStateError(
            "The network's weights are not finite (NaN or inf): training has diverged (lower the learning rate, or "
            "clip the gradients); the paper's diagnostics are not defined for it."
        )


_EXPECTED = (
    "a LeakyReLUTeacherNet, or an nn.Sequential of [nn.Flatten (optional), nn.Linear(d, m), "
    "nn.LeakyReLU(alpha) with 0 < alpha < 1, nn.Linear(m, 1, bias=False)]"
)


@dataclass(frozen=True)
class TwoLayerView:
    """A two-layer Leaky-ReLU network in the (w-group, u-group, alpha, v) form of Eq. (1).

    N(x) = v * (sum_i sigma(w_i . x') - sum_i sigma(u_i . x')), x' = x or (x, 1) with a bias.

    Attributes:
        w: w-neurons, (k_w, d') float64, detached.
        u: u-neurons, (k_u, d') float64, detached.
        alpha: the Leaky-ReLU slope.
        v: the output weight (1 for a network whose output layer was learned). ``scale`` is its
            deprecated former name (a ``DeprecationWarning``).
        param_norm: ||theta|| of the trained parameters (||W|| for the fixed-output network; all
            parameters for a learned output layer).
        degree: homogeneity degree of the network in theta (1 fixed output, 2 learned output); the
            margins of Eq. (4)/(5) divide by param_norm ** degree.

    An ``nn.Sequential`` whose output layer a is frozen (``requires_grad=False``) while its first layer
    trains is the paper's fixed-output network: theta is the first layer's weight and bias, ``param_norm``
    their norm and ``degree`` 1. ``v`` is the largest |a_i| and the rows are (|a_i| / v) w_i (with the bias
    column), the same function: when every |a_i| is one value c, the first layer's rows as they are and
    ``v`` = c, the view of ``LeakyReLUTeacherNet(v=c)`` with those rows. Theorem 6.2's threshold
    sqrt(k) alpha v max ||x|| then bounds Eq. (30)'s sum alpha sum_i |a_i| ||u_i|| ||x|| / ||W|| for unequal
    |a_i| too, and moves continuously with them. With every parameter trainable, or every one frozen, the
    output layer counts as learned (degree 2, theta all parameters, rows |a_i| w_i, ``v`` = 1). With the first
    layer frozen and the output layer training (random features), N is linear in a: theta is a, ``degree`` 1
    (rows |a_i| w_i, ``v`` = 1). A first layer of which only the weight or only the bias trains, the other
    frozen at nonzero values, makes N non-homogeneous in the trained parameters: theta is then the whole
    first layer, with a warning (a bias frozen at 0 is no bias: no warning).
        input_dim: d, the width of the inputs before the bias coordinate.
        bias: whether the network has a first-layer bias, i.e. the inputs are extended by a constant 1
            (:func:`~lt_teacher.functional.append_bias_coordinate`). ``appends_bias`` is its deprecated
            former name.
        dtype: the dtype of the network's first-layer weights, the precision the network itself computes
            in (``w`` and ``u`` are float64 copies).
        output_fixed: whether the output layer is fixed (the paper's +-v layer, or a frozen one over a training
            first layer): ``v`` is then its largest magnitude; otherwise it is learned and absorbed (``v`` = 1).
    """

    w: Tensor
    u: Tensor
    alpha: float
    v: float
    param_norm: float
    degree: int
    input_dim: int
    bias: bool
    dtype: torch.dtype = torch.float64
    output_fixed: bool = True

    @property
    def scale(self) -> float:
        """Deprecated name of :attr:`v`."""
        warnings.warn("TwoLayerView.scale is deprecated; the output weight is `v`.", DeprecationWarning, stacklevel=2)
        return self.v

    @property
    def appends_bias(self) -> bool:
        """Deprecated name of :attr:`bias`."""
        warnings.warn("TwoLayerView.appends_bias is deprecated; use `bias`.", DeprecationWarning, stacklevel=2)
        return self.bias

    @property
    def neurons(self) -> Tensor:
        """[w; u], ((k_w + k_u), d') float64: the storage both groups are views of when u follows w in it (the
        teacher network's one weight matrix; no copy), else their concatenation."""
        w, u = self.w, self.u
        if (
            w.numel() and u.numel() and w.is_contiguous() and u.is_contiguous() and w.device == u.device
            and w.untyped_storage().data_ptr() == u.untyped_storage().data_ptr()
            and u.data_ptr() == w.data_ptr() + w.numel() * w.element_size()
        ):
            return w.as_strided((w.shape[0] + u.shape[0], w.shape[1]), w.stride())
        return torch.cat([w, u])

    @property
    def group_size(self) -> int:
        """The larger group size (k for the paper's network), used by the Theorem 6.2 threshold."""
        return max(self.w.shape[0], self.u.shape[0])

    def prepare_inputs(self, x: Tensor) -> Tensor:
        """Flatten a batch to (n, input_dim), cast to float64 and append the bias coordinate if any."""
        if x.ndim < 2 or x[0].numel() != self.input_dim:
            raise ValueError(
                f"Inputs must have {self.input_dim} features per example to match the network, "
                f"got shape {tuple(x.shape)}."
            )
        x64 = x.reshape(x.shape[0], self.input_dim).to(device=self.w.device, dtype=torch.float64)
        return append_bias_coordinate(x64) if self.bias else x64

    def forward(self, x: Tensor) -> Tensor:
        """N(x) in float64, equal to the viewed module's output."""
        return network_output(self.prepare_inputs(x), self.w, self.u, self.alpha, self.v)


def _teacher_view(net: LeakyReLUTeacherNet, seed: int) -> TwoLayerView:
    hp: Any = net.hparams
    if not 0 <= seed < hp.num_seeds:
        raise ValueError(f"`seed` must be in [0, {hp.num_seeds}) for a network with num_seeds={hp.num_seeds}, got {seed}.")
    weight = net.weight[seed].detach().to(torch.float64)
    _check_finite_weights(weight)
    return TwoLayerView(
        w=weight[: hp.k],
        u=weight[hp.k :],
        alpha=net.network_hparams(seed)["alpha"],
        v=net.network_hparams(seed)["v"],
        param_norm=float(vector_norm(weight)),
        degree=1,
        input_dim=int(hp.input_dim),
        bias=bool(hp.bias),
        dtype=net.weight.dtype,
    )


def _hidden_layers(seq: nn.Sequential) -> list[nn.Module]:
    """The layers of ``seq`` after an optional leading nn.Flatten."""
    layers = list(seq)
    return layers[1:] if layers and isinstance(layers[0], nn.Flatten) else layers


def _sequential_problem(seq: nn.Sequential) -> tuple[str, type[Exception]] | None:
    """None when ``seq`` has the expected structure and values, else what is wrong with it and the error it
    calls for: ``TypeError`` for a structure, ``ValueError`` for a value (a LeakyReLU slope outside (0, 1))."""
    layers = _hidden_layers(seq)
    kinds = ", ".join(type(m).__name__ for m in seq)
    if len(layers) != 3 or not isinstance(layers[0], nn.Linear) or not isinstance(layers[2], nn.Linear):
        return f"it is Sequential({kinds}); expected exactly Linear, LeakyReLU, Linear (one hidden layer)", TypeError
    act = layers[1]
    if not isinstance(act, nn.LeakyReLU):
        extra = " (ReLU is not leaky: Theorem 5.1 fails for ReLU, supplementary 11.1)" if isinstance(act, nn.ReLU) else ""
        return f"its activation is {type(act).__name__}{extra}; expected nn.LeakyReLU(alpha) with 0 < alpha < 1", TypeError
    if layers[2].out_features != 1:
        return f"its output layer has {layers[2].out_features} outputs; expected 1 (a binary classifier)", TypeError
    if layers[2].bias is not None:
        return "its output layer has a bias, which breaks the homogeneity the paper relies on; use bias=False", TypeError
    if not (0.0 < act.negative_slope < 1.0):
        return f"its LeakyReLU has negative_slope={act.negative_slope}; expected 0 < alpha < 1", ValueError
    return None


def _fixed_output(first: nn.Linear, out: nn.Linear) -> bool:
    """Whether only the first layer trains: the output layer is frozen (``requires_grad=False``) while a
    first-layer parameter is not, the paper's network with a fixed second layer."""
    return not out.weight.requires_grad and any(p.requires_grad for p in first.parameters())


def _sequential_view(seq: nn.Sequential) -> TwoLayerView:
    layers = _hidden_layers(seq)  # checked by _sequential_problem: Linear, LeakyReLU, Linear
    first, act, out = cast(nn.Linear, layers[0]), cast(nn.LeakyReLU, layers[1]), cast(nn.Linear, layers[2])
    weight = first.weight.detach().to(torch.float64)  # (m, d)
    first_params: list[Tensor] = [first.weight] if first.bias is None else [first.weight, first.bias]
    if first.bias is not None:
        weight = torch.cat([weight, first.bias.detach().to(torch.float64)[:, None]], dim=1)  # (m, d + 1)
    a = out.weight.detach().to(torch.float64)[0]  # (m,)
    _check_finite_weights(weight, a)
    fixed = _fixed_output(first, out)
    magnitudes = a.abs()
    if fixed:  # v = max |a_i|, rows (|a_i| / v) w_i: as trained when every |a_i| = v (the paper's +-v layer)
        v = float(magnitudes.max())
        rows = (magnitudes / v)[:, None] * weight if v > 0 else weight
    else:  # absorbed by homogeneity: rows |a_i| w_i, v = 1
        v, rows = 1.0, magnitudes[:, None] * weight
    w, u = rows[a > 0], rows[a < 0]
    if w.shape[0] == 0 or u.shape[0] == 0:
        missing = "positive" if w.shape[0] == 0 else "negative"
        raise NetworkStateError(
            f"The network has no hidden neuron with a {missing} output weight, so one of the paper's two "
            "neuron groups is empty; expected output weights of both signs."
        )
    # theta: the layer that trains when only one does (N is 1-homogeneous in it), else every parameter
    training = [p.requires_grad for p in first_params]
    output_only = out.weight.requires_grad and not any(training)
    params = first_params if fixed else [out.weight] if output_only else [*first_params, out.weight]
    if any(training) and any(bool(p.detach().ne(0).any()) for p in first_params if not p.requires_grad):
        warnings.warn(
            "two_layer_view: only part of the first layer trains (its weight or its nonzero bias is frozen), so N(x) is not "
            "homogeneous in the trained parameters; the margins divide by the norm of the whole first layer "
            f"({'and the output layer' if not fixed else 'weight and bias'}) as if it all trained.",
            UserWarning, stacklevel=3,
        )
    param_norm = float(vector_norm(torch.cat([p.detach().to(torch.float64).reshape(-1) for p in params])))
    return TwoLayerView(
        w=w,
        u=u,
        alpha=float(act.negative_slope),
        v=v,
        param_norm=param_norm,
        degree=1 if fixed or output_only else 2,
        input_dim=int(first.in_features),
        bias=first.bias is not None,
        dtype=first.weight.dtype,
        output_fixed=fixed,
    )


def _find_network(module: nn.Module) -> nn.Module:
    """The LeakyReLUTeacherNet or Linear -> LeakyReLU -> Linear Sequential that ``module`` is or holds."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module, got {type(module).__name__}; expected {_EXPECTED}.")
    if isinstance(module, LeakyReLUTeacherNet):
        return module
    if isinstance(module, nn.Sequential) and _sequential_problem(module) is None:
        return module
    candidates: list[tuple[str, nn.Module]] = []
    problems: list[str] = []
    error: type[Exception] = TypeError  # ValueError when a network of the expected structure has a bad value
    for name, sub in module.named_modules():
        if isinstance(sub, LeakyReLUTeacherNet) and sub is not module:
            candidates.append((name, sub))
        elif isinstance(sub, nn.Sequential) and len(sub) > 0:
            problem = _sequential_problem(sub)
            if problem is None:
                candidates.append((name, sub))
            else:
                problems.append(f"`{name or type(module).__name__}`: {problem[0]}")
                error = ValueError if problem[1] is ValueError else error
    if len(candidates) == 1:
        return candidates[0][1]
    if len(candidates) > 1:
        names = ", ".join(f"`{n}`" for n, _ in candidates)
        raise ValueError(
            f"Found several two-layer Leaky-ReLU networks in {type(module).__name__} ({names}); pass the one to "
            "analyse (the monitors take `network_fn=lambda module: module.<name>`)."
        )
    found = ("; ".join(problems)) if problems else f"{type(module).__name__} contains no nn.Sequential"
    raise error(f"Cannot view {type(module).__name__} as a two-layer Leaky-ReLU network: {found}. Expected {_EXPECTED}.")


def num_seeds(module: nn.Module) -> int:
    """How many independent networks ``module`` trains: ``num_seeds`` of a LeakyReLUTeacherNet, else 1."""
    network = _find_network(module)
    return int(cast(Any, network.hparams).num_seeds) if isinstance(network, LeakyReLUTeacherNet) else 1


def two_layer_view(module: nn.Module, seed: int = 0) -> TwoLayerView:
    """View ``module`` (or its unique two-layer sub-network) as the paper's network of Eq. (1).

    Accepts a :class:`LeakyReLUTeacherNet`, an ``nn.Sequential(nn.Linear(d, m), nn.LeakyReLU(alpha),
    nn.Linear(m, 1, bias=False))`` (optionally preceded by ``nn.Flatten``), or any module (e.g. a
    user's LightningModule) that contains exactly one of these. ``seed`` picks one of the S networks
    of a ``LeakyReLUTeacherNet(num_seeds=S)``; other networks have one seed (0).

    Raises:
        TypeError: no sub-module has the expected structure; the message says what was found.
        ValueError: several candidates (pass the sub-module itself), a LeakyReLU slope outside (0, 1) in a
            network of the expected structure, a seed out of range, or an empty neuron group.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1, bias=False))
        >>> view = two_layer_view(net)
        >>> bool(torch.allclose(view.forward(torch.ones(3, 2)), net(torch.ones(3, 2))[:, 0].double(), atol=1e-6))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}.")
    network = _find_network(module)
    if isinstance(network, LeakyReLUTeacherNet):
        return _teacher_view(network, seed)
    if seed != 0:
        raise ValueError(f"`seed` must be 0 for a network with one seed, got {seed}.")
    return _sequential_view(cast(nn.Sequential, network))


def seed_views(module: nn.Module) -> list[TwoLayerView | None]:
    """:func:`two_layer_view` of every network of ``module`` (``num_seeds``), None for a network whose current
    weights cannot be analysed (:class:`NetworkStateError`, e.g. one network of a grid diverged), with a warning
    naming them; the error itself when no network can be analysed."""
    views: list[TwoLayerView | None] = []
    errors: dict[int, NetworkStateError] = {}
    for seed in range(num_seeds(module)):
        try:
            views.append(two_layer_view(module, seed))
        except NetworkStateError as err:
            views.append(None)
            errors[seed] = err
    if len(errors) == len(views):
        raise errors[0]
    if errors:
        warnings.warn(
            f"network(s) {sorted(errors)} of {len(views)} cannot be analysed ({next(iter(errors.values()))}): their keys "
            "(.../seed_<s>) are NaN, and so are the means and spreads over networks that include them.",
            stacklevel=2,
        )
    return views
