"""Every public entry point refuses bad input with an error that names the argument (issue 13, item 9).

One parametrised table per entry point: wrong types, wrong values and shapes, NaN/Inf, empty data,
missing files and unknown options each raise TypeError, ValueError or FileNotFoundError with a
message naming the argument. The monitors' errors with data (NaN in a late batch, labels, empty
splits, unknowable samplers, a network that is not what the module computes) are in
``tests/callbacks/test_trust.py`` and ``tests/callbacks/test_user_project.py``; ``reproduce`` names and
overrides also in ``tests/test_reproduce.py``; engines also in ``tests/engines/test_engine_inputs.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from lt_teacher import LeakyReLUTeacherNet, two_layer_view
from lt_teacher.callbacks import (
    ClusterRadiusMonitor,
    LinearRegionMonitor,
    LinearTeacherMonitor,
    MarginMonitor,
    NeuralAgreementMonitor,
    NeuronPlotMonitor,
    PARSolutionMonitor,
)
from lt_teacher.datamodules import LinearTeacherDataModule, MNISTPairsDataModule
from lt_teacher.engines import fused_sgd_steps
from lt_teacher.functional import cluster_radius, margins, neural_agreement, par_svm
from lt_teacher.functional.evaluation import evaluate_batch
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics

from _helpers import REPO_ROOT

Case = tuple[Callable[[], Any], type, str]


def table(cases: dict[str, Case]):
    return pytest.mark.parametrize(("call", "error", "match"), list(cases.values()), ids=list(cases))


def check(call: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def seq(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- model
MODEL: dict[str, Case] = {
    "input_dim-str": (lambda: LeakyReLUTeacherNet(input_dim="2"), TypeError, r"`input_dim` must be an int"),
    "input_dim-0": (lambda: LeakyReLUTeacherNet(input_dim=0), ValueError, r"`input_dim` must be an int >= 1, got 0"),
    "k-float": (lambda: LeakyReLUTeacherNet(2, k=2.5), TypeError, r"`k` must be an int"),
    "alpha-1.5": (lambda: LeakyReLUTeacherNet(2, alpha=1.5), ValueError, r"`alpha` must be in \(0, 1\)"),
    "alpha-str": (lambda: LeakyReLUTeacherNet(2, alpha="0.1"), TypeError, r"`alpha`"),
    "v-0": (lambda: LeakyReLUTeacherNet(2, v=0.0), ValueError, r"`v` must be a finite number > 0"),
    "init_std-nan": (lambda: LeakyReLUTeacherNet(2, init_std=math.nan), ValueError, r"`init_std`"),
    "lr-inf": (lambda: LeakyReLUTeacherNet(2, lr=math.inf), ValueError, r"`lr`"),
    "bias-int": (lambda: LeakyReLUTeacherNet(2, bias=1), TypeError, r"`bias` must be a bool"),
    "engine-unknown": (lambda: LeakyReLUTeacherNet(2, engine="fast"), ValueError, r"`engine` must be one of"),
    "engine-int": (lambda: LeakyReLUTeacherNet(2, engine=1), TypeError, r"`engine` must be a str, one of 'fused', 'reference', 'lightning'"),
    "network-str": (lambda: LeakyReLUTeacherNet(2).network_hparams("0"), TypeError, r"`network` must be an int >= 0, got str"),
    "num_seeds-0": (lambda: LeakyReLUTeacherNet(2, num_seeds=0), ValueError, r"`num_seeds`"),
    "order_seed-neg": (lambda: LeakyReLUTeacherNet(2, order_seed=-1), ValueError, r"`order_seed`"),
    "shared_order-str": (lambda: LeakyReLUTeacherNet(2, shared_order="yes"), TypeError, r"`shared_order`"),
    "forward-list": (lambda: LeakyReLUTeacherNet(2)([[1.0, 2.0]]), TypeError, r"Inputs must be a torch.Tensor"),
    "forward-width": (lambda: LeakyReLUTeacherNet(2)(torch.zeros(3, 5)), ValueError, r"input_dim=2 .* got shape \(3, 5\)"),
    "forward-nan": (lambda: LeakyReLUTeacherNet(2)(torch.tensor([[math.nan, 0.0]])), ValueError, r"NaN or Inf"),
}


@table(MODEL)
def test_model(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- two_layer_view
def _positive_only() -> nn.Sequential:
    net = seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[2].weight.fill_(1.0)
    return net


class _Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
        self.b = seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))


VIEW: dict[str, Case] = {
    "module-int": (lambda: two_layer_view(3), TypeError, r"`module` must be a torch.nn.Module, got int"),
    "seed-str": (lambda: two_layer_view(LeakyReLUTeacherNet(2), seed="0"), TypeError, r"`seed` must be an int"),
    "seed-range": (lambda: two_layer_view(LeakyReLUTeacherNet(2), seed=3), ValueError, r"`seed` must be in \[0, 1\)"),
    "relu": (lambda: two_layer_view(seq(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))), TypeError, r"ReLU is not leaky"),
    "slope-2": (lambda: two_layer_view(seq(nn.Linear(2, 3), nn.LeakyReLU(2.0), nn.Linear(3, 1, bias=False))), ValueError, r"negative_slope=2.0"),
    "output-bias": (lambda: two_layer_view(seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1))), TypeError, r"bias=False"),
    "two-outputs": (lambda: two_layer_view(seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 2, bias=False))), TypeError, r"2 outputs"),
    "three-layers": (lambda: two_layer_view(seq(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))), TypeError, r"one hidden layer"),
    "empty-group": (lambda: two_layer_view(_positive_only()), ValueError, r"no hidden neuron with a negative output weight"),
    "several": (lambda: two_layer_view(_Two()), ValueError, r"several two-layer .*`a`, `b`.*network_fn"),
    "prepare-width": (lambda: two_layer_view(LeakyReLUTeacherNet(2)).prepare_inputs(torch.zeros(4, 3)), ValueError, r"2 features per example"),
}


@table(VIEW)
def test_two_layer_view(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- every monitor (construction)
x2, y2 = torch.randn(8, 2), torch.tensor([0, 1] * 4)
MONITORS: dict[str, Case] = {
    "cluster-every_n_epochs-0": (lambda: ClusterRadiusMonitor(every_n_epochs=0), ValueError, r"ClusterRadiusMonitor: `every_n_epochs` must be an int >= 1, got 0"),
    "cluster-network_fn-int": (lambda: ClusterRadiusMonitor(network_fn=1), TypeError, r"`network_fn` must be callable, got int"),
    "cluster-features-str": (lambda: ClusterRadiusMonitor(features="backbone"), TypeError, r"`features` must be callable, got str"),
    "region-splits": (lambda: LinearRegionMonitor(splits=("dev",)), ValueError, r"LinearRegionMonitor: `splits` must be one of"),
    "region-max_samples-0": (lambda: LinearRegionMonitor(max_samples=0), ValueError, r"`max_samples` must be None or an int >= 1, got 0"),
    "region-data-split": (lambda: LinearRegionMonitor(data={"dev": (x2, y2)}), ValueError, r"`data` has unknown splits \['dev'\]"),
    "region-batch_size-float": (lambda: LinearRegionMonitor(batch_size=10.0), TypeError, r"`batch_size` must be an int >= 1, got float 10.0"),
    "agreement-beta-neg": (lambda: NeuralAgreementMonitor(beta=-1.0), ValueError, r"NeuralAgreementMonitor: `beta` must be a finite number >= 0"),
    "agreement-beta-inf": (lambda: NeuralAgreementMonitor(beta=math.inf), ValueError, r"`beta` must be a finite number >= 0, got inf"),
    "agreement-beta-str": (lambda: NeuralAgreementMonitor(beta="0"), TypeError, r"`beta` must be a finite number >= 0, got str"),
    "margin-every_n_epochs-float": (lambda: MarginMonitor(every_n_epochs=1.5), TypeError, r"`every_n_epochs` must be an int >= 1, got float 1.5"),
    "margin-data-list": (lambda: MarginMonitor(data=[x2, y2]), TypeError, r"`data` must be a mapping"),
    "margin-output_fn-str": (lambda: MarginMonitor(output_fn="logits"), TypeError, r"`output_fn` must be callable, got str"),
    "combined-groups": (lambda: LinearTeacherMonitor(("cluster", "nar")), ValueError, r"`groups` must be one of"),
    "combined-cache-neg": (lambda: LinearTeacherMonitor(cache_limit_mb=-1), ValueError, r"`cache_limit_mb` must be a number >= 0"),
    "combined-sample_seed-neg": (lambda: LinearTeacherMonitor(sample_seed=-1), ValueError, r"`sample_seed` must be an int >= 0, got -1"),
    "combined-batch_to_xy-str": (lambda: LinearTeacherMonitor(batch_to_xy="xy"), TypeError, r"`batch_to_xy` must be callable"),
    "par-tol-0": (lambda: PARSolutionMonitor(tol=0.0), ValueError, r"PARSolutionMonitor: `tol` must be a number in \(0, 1\)"),
    "par-data-val": (lambda: PARSolutionMonitor(data={"val": (x2, y2)}), ValueError, r"`data` has keys \['val'\]"),
    "par-sample_seed-str": (lambda: PARSolutionMonitor(sample_seed="a"), TypeError, r"`sample_seed` must be an int"),
    "par-features-int": (lambda: PARSolutionMonitor(features=3), TypeError, r"`features` must be callable"),
    "plot-grid_size-1": (lambda: NeuronPlotMonitor(grid_size=1), ValueError, r"NeuronPlotMonitor: `grid_size` must be an int >= 2"),
    "plot-plots": (lambda: NeuronPlotMonitor(plots=("boundary",)), ValueError, r"`plots` must be a non-empty subset"),
    "plot-save_dir-int": (lambda: NeuronPlotMonitor(save_dir=3), TypeError, r"`save_dir` must be None, a str or a Path"),
    "plot-dpi-0": (lambda: NeuronPlotMonitor(dpi=0), ValueError, r"`dpi` must be an int >= 1, got 0"),
    "plot-output_fn-int": (lambda: NeuronPlotMonitor(output_fn=1), TypeError, r"`output_fn` must be callable"),
}


@table(MONITORS)
def test_monitor_construction(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- metrics
METRICS: dict[str, Case] = {
    "agreement-k_w-0": (lambda: AgreementStatistics(0, 2), ValueError, r"`k_w` must be an int >= 1 .*got 0"),
    "agreement-k_u-str": (lambda: AgreementStatistics(2, "2"), TypeError, r"`k_u` must be an int"),
    "agreement-beta-neg": (lambda: AgreementStatistics(2, 2, beta=-0.5), ValueError, r"`beta` must be a finite number >= 0"),
    "par-k_w-float": (lambda: PARStatistics(2.0, 2), TypeError, r"`k_w` must be an int"),
    "par-beta-nan": (lambda: PARStatistics(2, 2, beta=math.nan), ValueError, r"`beta`"),
    "margin-update-tensor": (lambda: MarginStatistics().update(torch.zeros(3)), TypeError, r"`batch` must be an EvaluationBatch"),
    "region-update-tuple": (lambda: LinearRegionStatistics().update((1, 2), torch.tensor(0.0), 0.1), TypeError, r"`batch` must be an EvaluationBatch"),
    "agreement-update-norms": (
        lambda: AgreementStatistics(2, 2).update(evaluate_batch(x2, y2, torch.randn(2, 2), torch.randn(2, 2), 0.1), torch.ones(3), torch.ones(2)),
        ValueError, r"`w_norms` must have shape \(2,\)",
    ),
}


@table(METRICS)
def test_metrics(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- functional
w2, u2 = torch.randn(3, 2), torch.randn(3, 2)
FUNCTIONAL: dict[str, Case] = {
    "cluster-w-1d": (lambda: cluster_radius(torch.zeros(3), u2), ValueError, r"`w` must be a 2-D tensor"),
    "cluster-w-list": (lambda: cluster_radius([[1.0, 0.0]], u2), TypeError, r"`w` must be a torch.Tensor"),
    "cluster-u-width": (lambda: cluster_radius(w2, torch.zeros(3, 4)), ValueError, r"`u` must have 2 columns"),
    "cluster-w-nan": (lambda: cluster_radius(torch.full((3, 2), math.nan), u2), ValueError, r"`w` contains NaN or Inf"),
    "margins-y-length": (lambda: margins(x2, y2[:5], w2, u2, 0.1), ValueError, r"`y` has 5 labels but the inputs have 8 rows"),
    "margins-y-values": (lambda: margins(x2, y2 + 2, w2, u2, 0.1), ValueError, r"found values \[2.0, 3.0\]"),
    "margins-x-empty": (lambda: margins(x2[:0], y2[:0], w2, u2, 0.1), ValueError, r"`x` must have at least one row"),
    "margins-alpha": (lambda: margins(x2, y2, w2, u2, 1.0), ValueError, r"`alpha` must be in \[0, 1\) \(the Leaky-ReLU slope; 0 is the ReLU\), got 1.0"),
    "agreement-beta": (lambda: neural_agreement(x2, w2, u2, beta=-1.0), ValueError, r"`beta` must be a finite number >= 0"),
    "evaluate-x-inf": (lambda: evaluate_batch(torch.full((2, 2), math.inf), y2[:2], w2, u2, 0.1), ValueError, r"`x` contains NaN or Inf"),
    "par_svm-labels": (lambda: par_svm(x2, torch.full((8,), 2.0), 0.1), ValueError, r"`y` must hold labels"),
}


@table(FUNCTIONAL)
def test_functional(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- datamodules
DATAMODULES: dict[str, Case] = {
    "dim-0": (lambda: LinearTeacherDataModule(dim=0), ValueError, r"`dim` must be an int >= 1, got 0"),
    "dim-str": (lambda: LinearTeacherDataModule(dim="2"), TypeError, r"`dim` must be an int"),
    "n_train-1": (lambda: LinearTeacherDataModule(n_train=1), ValueError, r"`n_train`"),
    "margin-neg": (lambda: LinearTeacherDataModule(margin=-1.0), ValueError, r"`margin` must be a finite number >= 0, got -1.0"),
    "margin-nan": (lambda: LinearTeacherDataModule(margin=math.nan), ValueError, r"`margin` must be a finite number"),
    "batch_size-0": (lambda: LinearTeacherDataModule(batch_size=0), ValueError, r"`batch_size` must be an int >= 1"),
    "teacher-width": (lambda: LinearTeacherDataModule(dim=3, teacher=[1.0, 0.0]), ValueError, r"`teacher` must have shape \(3,\)"),
    "teacher-str": (lambda: LinearTeacherDataModule(teacher="east"), ValueError, r"`teacher` given as a string must be 'random'"),
    "teacher-zero": (lambda: LinearTeacherDataModule(dim=2, teacher=[0.0, 0.0]), ValueError, r"`teacher` must be a non-zero vector"),
    "antipodal-int": (lambda: LinearTeacherDataModule(antipodal=1), TypeError, r"`antipodal` must be a bool"),
    "bias-int": (lambda: LinearTeacherDataModule(bias=1), TypeError, r"`bias` must be a bool \(True or False\), got int 1"),
    "mnist-same-digits": (lambda: MNISTPairsDataModule(digits=(3, 3)), ValueError, r"two different"),
    "mnist-data_dir-int": (lambda: MNISTPairsDataModule(data_dir=3), TypeError, r"`data_dir` must be a str or pathlib.Path"),
    "mnist-split_source": (lambda: MNISTPairsDataModule(split_source="train"), ValueError, r"`split_source` must be one of"),
}


@table(DATAMODULES)
def test_datamodules(call, error, match):
    check(call, error, match)


def test_mnist_missing_files_name_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`data_dir` .*nowhere is not a folder.*MNIST/raw"):
        MNISTPairsDataModule(digits=(3, 5), data_dir=tmp_path / "nowhere").setup("fit")
    (tmp_path / "empty" / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"MNIST train files .*train-images-idx3-ubyte.* not found"):
        MNISTPairsDataModule(digits=(3, 5), data_dir=tmp_path / "empty").setup("fit")


# --------------------------------------------------------------------------- engines
def _sgd(**change: Any) -> Any:
    args: dict[str, Any] = {
        "weight": torch.zeros(1, 4, 2), "x": torch.randn(6, 2), "y": torch.tensor([1.0, -1.0] * 3),
        "order": torch.zeros(1, 6, dtype=torch.long), "lr": 0.1, "alpha": 0.1, "v": 1.0,
    }
    args.update(change)
    return fused_sgd_steps(**args)


ENGINES: dict[str, Case] = {
    "weight-2d": (lambda: _sgd(weight=torch.zeros(4, 2)), ValueError, r"`weight`"),
    "x-width": (lambda: _sgd(x=torch.randn(6, 3)), ValueError, r"`x`"),
    "y-length": (lambda: _sgd(y=torch.ones(5)), ValueError, r"`y`"),
    "order-range": (lambda: _sgd(order=torch.full((1, 6), 9, dtype=torch.long)), ValueError, r"`order`"),
    "order-float": (lambda: _sgd(order=torch.zeros(1, 6)), TypeError, r"`order` must hold int64 example indices"),
    "lr-0": (lambda: _sgd(lr=0.0), ValueError, r"`lr`"),
    "alpha-1": (lambda: _sgd(alpha=1.0), ValueError, r"`alpha`"),
    "k_w-float": (lambda: _sgd(k_w=2.0), TypeError, r"`k_w` must be an int >= 0, got float"),
    "parallel-int": (lambda: _sgd(parallel=1), TypeError, r"`parallel` must be a bool"),
    "weight-list": (lambda: _sgd(weight=[[0.0]]), TypeError, r"`weight`"),
}


@table(ENGINES)
def test_engines(call, error, match):
    check(call, error, match)


# --------------------------------------------------------------------------- fit (the command line)
FIT = {
    "unknown-option": (["fit", "--model.alpah", "0.2"], r"alpah"),
    "bad-type": (["fit", "--trainer.max_epochs", "many"], r"max_epochs"),
    "missing-config": (["fit", "--config", "nowhere.yaml"], r"nowhere.yaml"),
    "bad-value": (["fit", "--model.k", "0", "--trainer.max_epochs", "1"], r"`k` must be an int >= 1"),
}


@pytest.mark.parametrize(("args", "match"), list(FIT.values()), ids=list(FIT))
def test_fit_command_line(args, match, tmp_path, monkeypatch, capsys):
    """In-process (`lt-teacher fit` as a subprocess is tested in test_cli.py and test_cli_output.py)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("LT_TEACHER_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert __import__("re").search(match, err), err[-2000:]
    assert not list(tmp_path.glob("runs/csv/version_*/checkpoints/*.ckpt"))  # nothing trained


# --------------------------------------------------------------------------- reproduce overrides / --config
def _reproduce(tmp_path, *args: str) -> int:
    from lt_teacher.reproduce import main

    return main([*args, "--scale", "tiny", "--wandb", "disabled", "--reports-dir", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "runs")])


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    return str(path)


REPRODUCE: dict[str, tuple[Callable[[Any], list[str]], str]] = {
    "override-typo": (lambda t: ["fig8", "--model.alpah", "0.3"], r"Group 'model' does not accept option 'alpah'.*Did you mean 'alpha'"),
    "override-bad-value": (lambda t: ["fig8", "--model.alpha", "1.5"], r"`alpha` must be in \(0, 1\)"),
    "override-bad-type": (lambda t: ["fig8", "--model.k", "many"], r"--model\.k: expected int, got .many."),
    "override-epochs-0": (lambda t: ["fig8", "--trainer.max_epochs", "0"], r"`trainer.max_epochs` must be an int >= 1, got 0"),
    "override-no-value": (lambda t: ["fig8", "--model.alpha"], r"--model.alpha needs a value"),
    "set-no-equals": (lambda t: ["fig8", "--set", "model.alpha"], r"an override is KEY=VALUE"),
    "config-missing": (lambda t: ["--config", str(t / "none.yaml")], r"no such file"),
    "config-not-yaml": (lambda t: ["--config", _write(t, "name: [unclosed")], r"not valid YAML"),
    "config-not-mapping": (lambda t: ["--config", _write(t, "- 1\n- 2\n")], r"a reproduction config is a YAML mapping"),
    "config-no-experiment": (lambda t: ["--config", _write(t, "name: mine\n")], r"has no `experiment`"),
    "config-unknown-experiment": (lambda t: ["--config", _write(t, "name: mine\nexperiment: magic\n")], r"unknown experiment 'magic'"),
}


@pytest.mark.parametrize(("argv", "match"), list(REPRODUCE.values()), ids=list(REPRODUCE))
def test_reproduce_set_and_config(argv, match, tmp_path, capsys):
    code = _reproduce(tmp_path, *argv(tmp_path))
    assert code == 2
    assert __import__("re").search(match, capsys.readouterr().err)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())

