"""DiagnosticsEvaluator: a plain PyTorch loop, with no Trainer, gets exactly the numbers LinearTeacherMonitor logs."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from _helpers import separable_gaussians
from lt_teacher import LeakyReLUTeacherNet, two_layer_view
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.evaluator import DiagnosticsEvaluator, combine_seeds


def _data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    x, y = separable_gaussians(60, d=3, seed=4)
    xv, yv = separable_gaussians(30, d=3, seed=5)
    return {"train": (x, y), "val": (xv, yv)}


class Classifier(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(3, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.binary_cross_entropy_with_logits(self(x), (y > 0).float())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_plain_loop_gets_the_monitors_numbers(tmp_path):
    data = _data()
    monitor = LinearTeacherMonitor(data=data, max_samples=50, batch_size=16, beta=0.01)
    module = Classifier()
    loader = DataLoader(TensorDataset(*data["train"]), batch_size=10, shuffle=False)
    trainer = Trainer(max_epochs=3, callbacks=[monitor], logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, loader)

    torch.manual_seed(0)  # the same network and the same SGD, without Lightning
    net = nn.Sequential(nn.Linear(3, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1, bias=False))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    evaluator = DiagnosticsEvaluator(max_samples=50, batch_size=16, beta=0.01)
    evaluator.load(data, net)
    history = []
    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], (y > 0).float()).backward()
            optimizer.step()
        history.append({"epoch": float(epoch + 1), **evaluator.compute(net)})

    assert [row.keys() for row in history] == [row.keys() for row in monitor.history]
    for mine, logged in zip(history, monitor.history):
        assert mine == logged  # bit-identical


def test_the_evaluator_combines_the_seeds_of_a_multi_seed_module():
    x, y = _data()["train"]
    net = LeakyReLUTeacherNet(input_dim=3, k=2, num_seeds=3, init_std=0.5)
    evaluator = DiagnosticsEvaluator(("cluster", "margin"))
    evaluator.load({"train": (x, y)}, net)
    values = evaluator.compute(net)
    per_seed = [{k.rsplit("/seed_", 1)[0]: v for k, v in values.items() if k.endswith(f"/seed_{s}")} for s in range(3)]
    assert per_seed[0].keys() == {k for k in values if "/" in k and not k.endswith(("/std",)) and "/seed_" not in k}
    assert values == combine_seeds(per_seed)
    assert values["margin/smoothed"] == pytest.approx(sum(row["margin/smoothed"] for row in per_seed) / 3, rel=1e-15)


def test_evaluator_arguments_are_checked():
    with pytest.raises(ValueError, match=r"DiagnosticsEvaluator: `groups` must be one of"):
        DiagnosticsEvaluator(("radius",))
    with pytest.raises(TypeError, match=r"`sample_seed` must be an int >= 0, got float"):
        DiagnosticsEvaluator(sample_seed=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"found no training data"):
        DiagnosticsEvaluator(("margin",)).load({"val": _data()["val"]}, LeakyReLUTeacherNet(input_dim=3, k=2))


def test_the_docstring_examples_run():
    import doctest

    import lt_teacher.evaluator

    assert doctest.testmod(lt_teacher.evaluator).failed == 0


def _tiny_net() -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 4, bias=False), torch.nn.LeakyReLU(0.1), torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, -1.0, -1.0]]))
    return net


_X = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
_Y = (_X[:, 0] > 0).long()


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"train": (torch.full((10, 2), float("nan")), _Y)}, ValueError, r"train data contains NaN or Inf inputs"),
        ({"train": (torch.randn(10, 3), _Y)}, ValueError, r"Inputs must have 2 features per example .* got shape \(10, 3\)"),
        ({"train": (_X, torch.full((10,), 2))}, ValueError, r"labels in \{0, 1\} or \{-1, \+1\}, found values \[2.0\]"),
        ({"train": (_X, _Y[:5])}, ValueError, r"has 10 inputs but 5 labels"),
        ({"trian": (_X, _Y)}, ValueError, r"`data` has unknown splits \['trian'\]"),
        ([(_X, _Y)], TypeError, r"`data` must be a mapping \{split: \(x, y\)\}, got list"),
    ],
    ids=["nan", "width", "labels", "lengths", "typo-split", "not-a-mapping"],
)
def test_the_evaluator_refuses_bad_data_naming_the_cause(data, error, match):
    evaluator = DiagnosticsEvaluator()
    with pytest.raises(error, match=match):
        evaluator.load(data, _tiny_net())
        evaluator.compute(_tiny_net())


def test_compute_before_load_says_to_load_or_choose_the_cluster_group():
    with pytest.raises(RuntimeError, match=r"no data is loaded.*call `load\(.*groups=\('cluster',\)"):
        DiagnosticsEvaluator().compute(_tiny_net())
    evaluator = DiagnosticsEvaluator(("margin",))
    evaluator.load({"train": (_X, _Y)}, _tiny_net())
    evaluator.reset()  # forgets the data
    with pytest.raises(RuntimeError, match=r"no data is loaded"):
        evaluator.compute(_tiny_net())
    assert set(DiagnosticsEvaluator(("cluster",)).compute(_tiny_net())) >= {"cluster/radius"}  # needs no data


def _other_net(width: int, bias: bool) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(width, 4, bias=bias), torch.nn.LeakyReLU(0.1), torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, -1.0, -1.0]]))
    return net


@pytest.mark.parametrize(
    ("width", "bias", "found"),
    [(3, False, "input_dim=3, bias=False"), (1, True, "input_dim=1, bias=True"), (2, True, "input_dim=2, bias=True")],
    ids=["wider", "same-extended-width", "bias-only"],
)
def test_compute_with_another_network_than_loaded_names_both(width, bias, found):
    evaluator = DiagnosticsEvaluator()
    evaluator.load({"train": (_X, _Y)}, _tiny_net())
    with pytest.raises(ValueError, match=rf"loaded for a network with input_dim=2, bias=False.*got one with {found}.*`load`"):
        evaluator.compute(_other_net(width, bias))
    assert "margin/smoothed" in evaluator.compute(_tiny_net())  # the loaded network's kind still works


@pytest.mark.parametrize(
    ("batch_to_xy", "found"),
    [(lambda batch: batch[0], r"a Tensor of shape \(10, 2\)"), (lambda batch: (*batch, batch[1]), r"a tuple of 3 items"),
     (lambda batch: (batch[0].tolist(), batch[1]), r"a tuple of \(list, Tensor\)")],
    ids=["one-tensor", "three-items", "not-tensors"],
)
def test_batch_to_xy_returning_no_pair_is_named(batch_to_xy, found):
    evaluator = DiagnosticsEvaluator(batch_to_xy=batch_to_xy)
    with pytest.raises(TypeError, match=rf"train data does not fit: `batch_to_xy` must return .*\(x, y\).*got {found}"):
        evaluator.load({"train": (_X, _Y)}, _tiny_net())


def test_precision_is_checked():
    with pytest.raises(ValueError, match=r"DiagnosticsEvaluator: `precision` must be one of 'auto', 'float32', 'float64', got 'float16'"):
        DiagnosticsEvaluator(precision="float16")
    with pytest.raises(TypeError, match=r"`precision` must be a str"):
        DiagnosticsEvaluator(precision=64)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"LinearTeacherMonitor: `precision`"):
        LinearTeacherMonitor(precision="fast")


@pytest.mark.parametrize("init_std", [1e-6, 1e-3, 1.0, 30.0], ids=["small", "paper", "unit", "large"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_float32_precision_gives_the_float64_decisions(init_std, dtype):
    """Every count and fraction, the accuracy and the normalized margin equal; the loss within float32's bound."""
    torch.manual_seed(1)
    x = torch.randn(300, 40, dtype=dtype)
    y = (x @ torch.randn(40, dtype=dtype) > 0).long()
    net = LeakyReLUTeacherNet(input_dim=40, k=8, alpha=0.2, init_std=init_std).to(dtype)
    values = {}
    for precision in ("float64", "float32"):
        evaluator = DiagnosticsEvaluator(precision=precision, beta=0.01 * init_std, batch_size=128)
        evaluator.load({"train": (x, y), "val": (x[:50], y[:50])}, net)
        values[precision] = evaluator.compute(net)
    exact, fast = values["float64"], values["float32"]
    assert exact.keys() == fast.keys()
    for key in exact:
        if key in ("margin/loss", "margin/log_loss", "margin/smoothed"):
            assert fast[key] == pytest.approx(exact[key], rel=1e-4, abs=1e-12), key
        elif key == "margin/normalized":
            assert fast[key] == pytest.approx(exact[key], rel=1e-12), key
        else:
            assert fast[key] == exact[key], key


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_auto_precision_follows_the_network(dtype):
    """'auto' evaluates a float32 network in float32, a float64 one in float64, as the network itself computes."""
    net = LeakyReLUTeacherNet(input_dim=6, k=3).to(dtype)
    view = two_layer_view(net)
    assert DiagnosticsEvaluator().precision == "float64" and LinearTeacherMonitor().evaluator.precision == "float64"
    assert DiagnosticsEvaluator(precision="auto").uses_float32(view) == (dtype == torch.float32)
    assert DiagnosticsEvaluator(precision="float64").uses_float32(view) is False
    assert DiagnosticsEvaluator(precision="float32").uses_float32(view) is True
    sequential = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LeakyReLU(0.1), torch.nn.Linear(4, 1, bias=False)).to(dtype)
    with torch.no_grad():
        sequential[2].weight.copy_(torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    assert DiagnosticsEvaluator(precision="auto").uses_float32(two_layer_view(sequential)) == (dtype == torch.float32)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_one_batch_without_metric_objects_equals_many_batches(precision):
    """A split in one batch on one process is computed from its statistics directly; in many batches through the
    metrics: the same counts, and the same values to rounding."""
    torch.manual_seed(2)
    x = torch.randn(90, 12)
    y = (x @ torch.randn(12) > 0).long()
    net = LeakyReLUTeacherNet(input_dim=12, k=5, init_std=0.5)
    values = {}
    for batch_size in (90, 16):
        evaluator = DiagnosticsEvaluator(precision=precision, beta=0.01, batch_size=batch_size)
        evaluator.load({"train": (x, y), "val": (x[:30], y[:30])}, net)
        values[batch_size] = evaluator.compute(net)
    assert values[90].keys() == values[16].keys()
    for key, value in values[90].items():
        float32_accurate = precision == "float32" and key in ("margin/loss", "margin/log_loss", "margin/smoothed")
        assert values[16][key] == pytest.approx(value, rel=1e-5 if float32_accurate else 1e-12, abs=1e-15), key
