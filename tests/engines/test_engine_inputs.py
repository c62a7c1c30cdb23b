"""Every engine rejects a bad argument with an error that names it and says what is expected; an engine checked once
for a training set (what the model runs every epoch) gives the bits of the public engine and still checks the rest."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import torch

from lt_teacher.engines import (
    EpochOrder,
    autograd_sgd_steps,
    batched_sgd_steps,
    fused_sgd_steps,
    graph_sgd_steps,
    reference_sgd_steps,
)
from lt_teacher.engines._contract import CheckedEngine

ENGINES = [
    pytest.param(fused_sgd_steps, id="fused"),
    pytest.param(batched_sgd_steps, id="batched"),
    pytest.param(reference_sgd_steps, id="reference"),
]


def good_args() -> dict[str, Any]:
    """A valid call: S = 2 seeds, 2k = 4 rows, d = 3, n = 5, m = 6 steps."""
    g = torch.Generator().manual_seed(0)
    return {
        "weight": torch.randn(2, 4, 3, generator=g, dtype=torch.float64),
        "x": torch.randn(5, 3, generator=g, dtype=torch.float64),
        "y": torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64),
        "order": torch.randint(0, 5, (2, 6), generator=g),
        "lr": 0.1,
        "alpha": 0.2,
        "v": 1.0,
    }


def _with(key: str, make: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(args: dict[str, Any]) -> dict[str, Any]:
        args[key] = make(args)
        return args

    return change


BAD = [
    # (change, error type, message pattern)
    pytest.param(_with("weight", lambda a: a["weight"].numpy()), TypeError, r"`weight` must be a torch.Tensor", id="weight-numpy"),
    pytest.param(_with("weight", lambda a: a["weight"][0]), ValueError, r"`weight` must have shape \(S, 2k, d\), got shape \(4, 3\)", id="weight-2d"),
    pytest.param(_with("weight", lambda a: a["weight"].int()), TypeError, r"`weight` must be float32 or float64, got dtype torch.int32", id="weight-int"),
    pytest.param(_with("weight", lambda a: a["weight"].half()), TypeError, r"float32 or float64, got dtype torch.float16", id="weight-half"),
    pytest.param(_with("weight", lambda a: a["weight"].transpose(1, 2).contiguous().transpose(1, 2)), ValueError, r"`weight` must be contiguous.*updated in place", id="weight-noncontiguous"),
    pytest.param(_with("weight", lambda a: a["weight"].to("meta")), ValueError, r"`weight` must be on a CPU or CUDA device, got device meta", id="weight-meta"),
    pytest.param(_with("weight", lambda a: torch.zeros(2, 0, 3, dtype=torch.float64)), ValueError, r"2k >= 1 rows.*got shape \(2, 0, 3\)", id="weight-no-rows"),
    pytest.param(_with("x", lambda a: a["x"].float()), TypeError, r"`x` must have the dtype of `weight` \(torch.float64\), got torch.float32", id="x-dtype"),
    pytest.param(_with("x", lambda a: a["x"][:, :2]), ValueError, r"`x` must have shape \(n, 3\)", id="x-columns"),
    pytest.param(_with("x", lambda a: a["x"].T.contiguous().T), ValueError, r"`x` must be contiguous.*x.contiguous\(\)", id="x-noncontiguous"),
    pytest.param(_with("x", lambda a: a["x"][None]), ValueError, r"`x` must have shape \(n, 3\), got shape \(1, 5, 3\)", id="x-3d"),
    pytest.param(_with("y", lambda a: a["y"][:4]), ValueError, r"`y` has 4 labels but `x` has 5 rows", id="y-length"),
    pytest.param(_with("y", lambda a: (a["y"] > 0).double()), ValueError, r"`y` must hold labels -1 or \+1.*\[0.0\]", id="y-zero-one"),
    pytest.param(_with("y", lambda a: a["y"] * 2), ValueError, r"labels -1 or \+1.*found other values \[-2.0, 2.0\]", id="y-scaled"),
    pytest.param(_with("y", lambda a: a["y"].long()), TypeError, r"`y` must have the dtype of `weight`", id="y-int"),
    pytest.param(_with("order", lambda a: a["order"].int()), TypeError, r"`order` must hold int64 example indices, got dtype torch.int32", id="order-int32"),
    pytest.param(_with("order", lambda a: a["order"][:1]), ValueError, r"`order` must have one row per seed, shape \(2, m\), got \(1, 6\)", id="order-seeds"),
    pytest.param(_with("order", lambda a: a["order"][0]), ValueError, r"`order` must have shape \(2, m\), got shape \(6,\)", id="order-1d"),
    pytest.param(_with("order", lambda a: a["order"] + 5), ValueError, r"`order` holds example indices in \[5, 9\] but `x` has n = 5 rows; expected \[0, 4\]", id="order-high"),
    pytest.param(_with("order", lambda a: a["order"] - 1), ValueError, r"`order` holds example indices in \[-1, 3\]", id="order-negative"),
    pytest.param(_with("lr", lambda a: 0.0), ValueError, r"`lr` must be a finite number > 0, got 0.0", id="lr-zero"),
    pytest.param(_with("lr", lambda a: -1e-3), ValueError, r"`lr` must be a finite number > 0", id="lr-negative"),
    pytest.param(_with("lr", lambda a: float("inf")), ValueError, r"`lr` must be a finite number > 0, got inf", id="lr-inf"),
    pytest.param(_with("lr", lambda a: "0.1"), TypeError, r"`lr` must be a finite number > 0, got str '0.1'", id="lr-str"),
    pytest.param(_with("alpha", lambda a: 1.0), ValueError, r"`alpha` must be in \(0, 1\).*got 1.0", id="alpha-one"),
    pytest.param(_with("alpha", lambda a: 0.0), ValueError, r"`alpha` must be in \(0, 1\).*got 0.0", id="alpha-zero"),
    pytest.param(_with("alpha", lambda a: True), TypeError, r"`alpha` must be a number in \(0, 1\).*, got bool True", id="alpha-bool"),
    pytest.param(_with("v", lambda a: -1.0), ValueError, r"`v` must be a finite number > 0, got -1.0", id="v-negative"),
    pytest.param(_with("k_w", lambda a: 5), ValueError, r"`k_w` must be in \[0, 4\].*got 5", id="k_w-too-large"),
    pytest.param(_with("k_w", lambda a: 2.0), TypeError, r"`k_w` must be an int >= 0, got float 2.0", id="k_w-float"),
    pytest.param(
        lambda a: {**a, "weight": torch.zeros(2, 3, 3, dtype=torch.float64)},
        ValueError,
        r"`weight` has an odd number of rows \(3\); pass `k_w`",
        id="odd-rows-without-k_w",
    ),
]


@pytest.mark.parametrize(("change", "error", "match"), BAD)
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_argument_is_rejected(engine: Callable[..., torch.Tensor], change: Callable[..., dict[str, Any]], error: type, match: str) -> None:
    args = good_args()
    before = args["weight"].clone()
    args = change(args)
    with pytest.raises(error, match=match):
        engine(**args)
    assert torch.equal(good_args()["weight"], before)  # the fixture is deterministic; nothing leaked


@pytest.mark.parametrize("engine", ENGINES)
def test_strided_order_and_labels_are_accepted(engine: Callable[..., torch.Tensor]) -> None:
    args = good_args()
    wide = torch.stack([args["order"], args["order"]], dim=2).reshape(2, 12)
    args["order"] = wide[:, ::2]  # a non-contiguous view, as when slicing an epoch into chunks
    args["y"] = torch.stack([args["y"], args["y"]], dim=1)[:, 0]
    assert not args["order"].is_contiguous() and not args["y"].is_contiguous()
    expected = good_args()
    losses = engine(**args)
    expected_losses = engine(**expected)
    assert torch.equal(args["weight"], expected["weight"]) and torch.equal(losses, expected_losses)


def test_fused_rejects_mixed_devices_and_bad_parallel_flag() -> None:
    args = good_args()
    with pytest.raises(TypeError, match=r"`parallel` must be a bool \(True or False\), got int 1"):
        fused_sgd_steps(**args, parallel=1)
    args["x"] = args["x"].to("meta")
    with pytest.raises(ValueError, match=r"`x` is on device meta but `weight` is on cpu"):
        fused_sgd_steps(**args)


def test_odd_rows_with_explicit_k_w_run() -> None:
    args = good_args()
    args["weight"] = args["weight"][:, :3].contiguous()
    losses = fused_sgd_steps(**args, k_w=1)
    assert losses.shape == (2,) and bool(torch.isfinite(losses).all())


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_input_is_not_scanned_but_shows_in_the_loss(engine: Callable[..., torch.Tensor]) -> None:
    args = good_args()
    args["x"][args["order"][0, 0]] = float("nan")  # the first example seed 0 visits
    losses = engine(**args)
    assert bool(torch.isnan(losses[0]))


def test_every_engine_has_the_contracts_signature() -> None:
    contract = ["weight", "x", "y", "order", "lr", "alpha", "v", "k_w"]
    engines = {fused_sgd_steps: ["parallel"], batched_sgd_steps: [], reference_sgd_steps: [], graph_sgd_steps: ["block"]}
    for engine, options in engines.items():
        parameters = inspect.signature(engine).parameters
        assert list(parameters) == contract + options, engine.__name__
        assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in options)


def test_autograd_sgd_steps_is_the_deprecated_name_of_the_reference_engine() -> None:
    args, expected = good_args(), good_args()
    with pytest.warns(DeprecationWarning, match=r"`autograd_sgd_steps` is deprecated, use `reference_sgd_steps`"):
        losses = autograd_sgd_steps(**args)
    assert torch.equal(losses, reference_sgd_steps(**expected)) and torch.equal(args["weight"], expected["weight"])


@pytest.mark.parametrize("engine", [fused_sgd_steps, reference_sgd_steps], ids=["fused", "reference"])
def test_calls_give_the_bits_of_the_public_engine(engine: Callable[..., torch.Tensor]) -> None:
    args = good_args()
    weight, x, y = args["weight"], args["x"], args["y"]
    lr, alpha, v = [0.1, 0.2], 0.2, [1.0, 0.5]
    checked = CheckedEngine(engine, weight, x, y, lr, alpha, v)
    public = weight.clone()
    order = EpochOrder(2, x.shape[0], seed=1)
    for _ in range(3):
        epoch = order.next_epoch()
        losses = checked(weight, epoch[:, 1:])  # a strided column slice, as a chunk of an epoch
        assert torch.equal(losses, engine(public, x, y, epoch[:, 1:], lr, alpha, v))
        assert torch.equal(weight, public)


def test_the_training_set_is_checked_once_and_the_public_engine_still_checks_every_call() -> None:
    args = good_args()
    bad_labels = args["y"].clone()
    bad_labels[2] = 0.5
    with pytest.raises(ValueError, match="`y` must hold labels -1 or \\+1"):
        CheckedEngine(fused_sgd_steps, args["weight"], args["x"], bad_labels, 0.1, 0.2, 1.0)
    with pytest.raises(ValueError, match="`y` must hold labels -1 or \\+1"):
        fused_sgd_steps(**{**args, "y": bad_labels})
    with pytest.raises(TypeError, match="`engine` must be an engine made by `sgd_engine`"):
        CheckedEngine(lambda *a: a, args["weight"], args["x"], args["y"], 0.1, 0.2, 1.0)  # type: ignore[arg-type]


def test_other_weights_or_orders_get_the_public_engines_checks() -> None:
    args = good_args()
    checked = CheckedEngine(fused_sgd_steps, args["weight"], args["x"], args["y"], 0.1, 0.2, 1.0)
    with pytest.raises(ValueError, match="`order` holds example indices in \\[0, 5\\]"):
        checked(args["weight"], torch.tensor([[0, 5], [1, 2]]))
    with pytest.raises(TypeError, match="`weight` must have the dtype|`x` must have the dtype"):
        checked(args["weight"].float(), args["order"])
    with pytest.raises(ValueError, match="`order` must have one row per seed"):
        checked(args["weight"], args["order"][:1])
    with pytest.raises(ValueError, match="`weight` must be contiguous"):
        checked(args["weight"].transpose(1, 2).contiguous().transpose(1, 2), args["order"])
