"""Issue 11, item 4: grids of networks with their own alpha, init_std, lr and v in one module."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import pytest
import torch
from lightning.pytorch import Trainer

import lt_teacher.grid
from lt_teacher import LeakyReLUTeacherNet, hyperparameter_grid
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.engines import EpochOrder, reference_sgd_steps, batched_sgd_steps, fused_sgd_steps
from lt_teacher.grid import combine_seeds

from _helpers import separable_gaussians

GRID = {"alpha": [0.05, 0.1, 0.3, 0.5], "init_std": [1e-3, 0.5, 1e-3, 0.5], "lr": [0.05, 0.2, 0.1, 0.02], "v": [1.0, 1.0, 2.0, 0.5]}


def test_grid_helper_is_the_cartesian_product_times_seeds() -> None:
    grid = hyperparameter_grid(alpha=[0.1, 0.5], lr=[0.01, 0.1, 1.0], seeds=2)
    assert len(grid["alpha"]) == 12 and grid["v"] == [1.0] * 12 and grid["init_std"] == [1e-3] * 12
    combos = list(zip(grid["alpha"], grid["lr"]))
    assert combos[:4] == [(0.1, 0.01), (0.1, 0.01), (0.1, 0.1), (0.1, 0.1)]
    assert sorted(set(combos)) == [(a, lr) for a in (0.1, 0.5) for lr in (0.01, 0.1, 1.0)]
    assert doctest.testmod(lt_teacher.grid).failed == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"seeds": 0}, ValueError, "seeds", id="no-seeds"),
        pytest.param({"alpha": []}, ValueError, "alpha.*empty", id="empty"),
        pytest.param({"lr": "0.1"}, TypeError, "lr", id="string"),
    ],
)
def test_grid_helper_rejects(kwargs, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        hyperparameter_grid(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"alpha": [0.1, 0.2], "lr": [0.1, 0.2, 0.3]}, ValueError, "alpha has 2, lr has 3", id="lengths"),
        pytest.param({"alpha": [0.1, 0.2], "num_seeds": 3}, ValueError, "num_seeds.*3.*length 2", id="num_seeds"),
        pytest.param({"alpha": [0.1, 1.5]}, ValueError, "network 1.*alpha", id="bad-value"),
        pytest.param({"lr": [0.1, "x"]}, TypeError, "network 1.*lr", id="bad-type"),
        pytest.param({"init_std": []}, ValueError, "empty", id="empty"),
    ],
)
def test_bad_per_network_hyperparameters(kwargs, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        LeakyReLUTeacherNet(input_dim=2, k=2, **kwargs)


def test_lists_set_the_number_of_networks_and_their_initialization() -> None:
    torch.manual_seed(0)
    net = LeakyReLUTeacherNet(input_dim=50, k=20, init_std=[1e-3, 1.0, 30.0])
    assert net.hparams.num_seeds == 3 and net.weight.shape == (3, 40, 50) and net.is_grid
    stds = net.weight.detach().std(dim=(1, 2))
    assert stds.tolist() == pytest.approx([1e-3, 1.0, 30.0], rel=0.1)
    assert net.network_hparams(2) == {"alpha": 0.1, "v": 1.0, "init_std": 30.0, "lr": 1e-2}
    assert not LeakyReLUTeacherNet(input_dim=2, k=2, num_seeds=3).is_grid
    with pytest.raises(ValueError, match="network"):
        net.network_hparams(3)


def test_grid_forward_is_each_network_alone() -> None:
    net = LeakyReLUTeacherNet(input_dim=3, k=4, **GRID).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    out = net(x)
    for s in range(4):
        alone = LeakyReLUTeacherNet(input_dim=3, k=4, **net.network_hparams(s)).double()
        alone.weight.data.copy_(net.weight.data[s : s + 1])
        torch.testing.assert_close(out[s], alone(x), rtol=1e-13, atol=1e-300)  # sums in another order


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_engines_train_each_network_of_a_grid_as_alone(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(15, 5, generator=g, dtype=torch.float64).to(dtype)
    y = torch.where(x[:, 0] > 0, 1.0, -1.0).to(dtype)
    weight = (0.3 * torch.randn(4, 6, 5, generator=g, dtype=torch.float64)).to(dtype)
    order = EpochOrder(4, 15, seed=1).next_epochs(3)
    for engine in (fused_sgd_steps, batched_sgd_steps, reference_sgd_steps):
        grid_w = weight.clone()
        grid_loss = engine(grid_w, x, y, order, GRID["lr"], torch.tensor(GRID["alpha"], dtype=torch.float64), tuple(GRID["v"]))
        for s in range(4):
            alone_w = weight[s : s + 1].clone()
            alone_loss = engine(alone_w, x, y, order[s : s + 1], GRID["lr"][s], GRID["alpha"][s], GRID["v"][s])
            if engine is fused_sgd_steps or engine is reference_sgd_steps:  # per-network loops: the same bits
                assert torch.equal(grid_w[s], alone_w[0]) and float(grid_loss[s]) == float(alone_loss[0])
            else:  # batched torch ops: per-seed values enter as tensors, equal to rounding
                torch.testing.assert_close(grid_w[s], alone_w[0])
    parallel_w = weight.clone()
    fused_sgd_steps(parallel_w, x, y, order, GRID["lr"], GRID["alpha"], GRID["v"], parallel=True)
    serial_w = weight.clone()
    fused_sgd_steps(serial_w, x, y, order, GRID["lr"], GRID["alpha"], GRID["v"])
    assert torch.equal(parallel_w, serial_w)


def test_engine_rejects_a_list_of_the_wrong_length() -> None:
    w = torch.zeros(2, 2, 3, dtype=torch.float64)
    x, y = torch.ones(1, 3, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="`lr` must be one number or one per network \\(2\\), got a sequence of 3"):
        fused_sgd_steps(w, x, y, torch.zeros(2, 1, dtype=torch.int64), [0.1, 0.2, 0.3], 0.1, 1.0)


def _fit(net: LeakyReLUTeacherNet, x: torch.Tensor, y: torch.Tensor, monitor: LinearTeacherMonitor | None = None) -> Trainer:
    from torch.utils.data import DataLoader, TensorDataset

    trainer = Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[monitor] if monitor else [])
    trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=8))
    return trainer


@pytest.mark.parametrize("engine", ["fused", "reference", "lightning"])
def test_each_network_of_a_grid_ends_as_trained_alone(engine: str) -> None:
    """Same initialization, same order (shared_order: every network uses stream 0, as a module of one does)."""
    x, y = separable_gaussians(n=30, d=3, seed=4)
    torch.manual_seed(0)
    grid = LeakyReLUTeacherNet(input_dim=3, k=3, engine=engine, shared_order=True, **GRID).double()
    initial = grid.weight.detach().clone()
    monitor = LinearTeacherMonitor(groups=("margin",))
    trainer = _fit(grid, x.double(), y.double(), monitor)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for s in range(4):
        alone = LeakyReLUTeacherNet(input_dim=3, k=3, engine=engine, **grid.network_hparams(s)).double()
        alone.weight.data.copy_(initial[s : s + 1])
        alone_monitor = LinearTeacherMonitor(groups=("margin",))
        alone_logged = {k: float(v) for k, v in _fit(alone, x.double(), y.double(), alone_monitor).callback_metrics.items()}
        if engine == "lightning":  # torch.utils.data shuffles nothing here; per-network lr scales the gradient
            torch.testing.assert_close(grid.weight.data[s], alone.weight.data[0], rtol=1e-12, atol=1e-14)
        else:
            assert torch.equal(grid.weight.data[s], alone.weight.data[0]), s
        for key in ("margin/theorem_6_2_threshold", "margin/log_loss", "margin/normalized"):
            assert logged[f"{key}/seed_{s}"] == pytest.approx(alone_logged[key], rel=1e-9), (key, s)


def test_cli_accepts_per_network_lists(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "lt_teacher.cli", "fit", "--print_config",
         "--model.alpha=[0.1, 0.2]", "--model.init_std=[0.001, 1.0]", "--model.lr=0.05"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "alpha:\n  - 0.1\n  - 0.2\n" in result.stdout and "init_std:\n  - 0.001\n  - 1.0\n" in result.stdout
    assert "lr: 0.05" in result.stdout


def test_fused_engine_warns_about_tiny_loader_batches() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    x, y = separable_gaussians(n=200, d=3, seed=1)
    net = LeakyReLUTeacherNet(input_dim=3, k=2)
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.warns(UserWarning, match="fewer, larger batches"):
        trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=1))
    quiet = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.fit(LeakyReLUTeacherNet(input_dim=3, k=2), DataLoader(TensorDataset(x, y), batch_size=len(x)))
    assert not any("fewer, larger batches" in str(w.message) for w in caught)


def test_monitor_logs_the_mean_of_each_setting_of_a_grid() -> None:
    from lt_teacher.grid import grid_groups

    x, y = separable_gaussians(n=30, d=3, seed=2)
    grid = hyperparameter_grid(alpha=[0.1, 0.4], init_std=[0.5], seeds=3)
    net = LeakyReLUTeacherNet(input_dim=3, k=2, **grid).double()
    assert grid_groups(net) == [[0, 1, 2], [3, 4, 5]] and grid_groups(LeakyReLUTeacherNet(input_dim=3, k=2, num_seeds=2)) == []
    monitor = LinearTeacherMonitor(groups=("margin", "cluster"))
    _fit(net, x.double(), y.double(), monitor)
    row = monitor.history[-1]
    for key in ("margin/log_loss", "cluster/radius"):
        for g, members in enumerate(grid_groups(net)):
            values = torch.tensor([row[f"{key}/seed_{s}"] for s in members], dtype=torch.float64)
            assert row[f"{key}/grid_{g}"] == pytest.approx(float(values.mean()), rel=1e-12)
            assert row[f"{key}/grid_{g}/std"] == pytest.approx(float(values.std()), rel=1e-9, abs=1e-15)


def test_spread_of_equal_values_is_exactly_zero() -> None:
    # 0.1 three times: the mean rounds to 0.10000000000000002 and torch's std of the column was 2.7e-16
    combined = combine_seeds([{"a": 0.1}, {"a": 0.1}, {"a": 0.1}])
    assert combined["a/std"] == 0.0
    assert combine_seeds([{"a": 1.0}, {"a": 3.0}])["a/std"] == math.sqrt(2.0)
