"""The monitors evaluate the points the run trains on, as Lightning gives them, in every stage.

* During ``fit`` the training points are those of ``trainer.train_dataloader`` (the loader Lightning made),
  not a second call of the datamodule's ``train_dataloader()``: a datamodule whose loader differs from call to
  call (a fresh random subset, a counter) must not make the monitors read another set than the model trains on.
* With ``reload_dataloaders_every_n_epochs``, each evaluation reads the loader of the epoch just trained.
* ``trainer.test(model, dataloaders=...)`` after ``trainer.fit(model, train_loader)`` evaluates the linear
  region on the given test points and the training-set diagnostics on the points of that fit.
"""

from __future__ import annotations


import math

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from _helpers import separable_gaussians
from lt_teacher import LeakyReLUTeacherNet, NetworkStateError
from lt_teacher.callbacks import ClusterRadiusMonitor, LinearTeacherMonitor, MarginMonitor

D, M = 3, 6


class Classifier(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(D, M), nn.LeakyReLU(0.2), nn.Linear(M, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        return nn.functional.softplus(-(2 * y.float() - 1) * self(x)).mean()

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        pass

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def labelled(n: int, seed: int) -> tuple[Tensor, Tensor]:
    x, y = separable_gaussians(n, D, seed=seed)
    return x.float(), (y > 0).long()


class ChangingData(LightningDataModule):
    """Each call of train_dataloader() serves another set: call c has 100 // c points of seed c."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.served: list[tuple[Tensor, Tensor]] = []

    def train_dataloader(self) -> DataLoader:
        self.calls += 1
        x, y = labelled(100 // self.calls, seed=self.calls)
        self.served.append((x, y))
        return DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True)


def loss_on(model: Classifier, points: tuple[Tensor, Tensor]) -> float:
    x, y = points
    net = model.net
    q = (2 * y.double() - 1) * net.double()(x.double())[:, 0]
    net.float()
    return float(torch.log1p(torch.exp(-q)).mean())


def test_monitors_read_the_loader_lightning_trains_on(tmp_path):
    data, model = ChangingData(), Classifier()
    monitors = [MarginMonitor(), LinearTeacherMonitor(groups=("cluster",))]
    Trainer(max_epochs=2, callbacks=monitors, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=tmp_path).fit(model, datamodule=data)
    assert data.calls == 1  # Lightning's own call only: the monitors read trainer.train_dataloader
    assert monitors[0].history[-1]["margin/loss"] == pytest.approx(loss_on(model, data.served[0]), rel=1e-9)


def test_a_reloaded_training_loader_is_read_again(tmp_path):
    data, model = ChangingData(), Classifier()
    monitor = MarginMonitor()
    Trainer(max_epochs=3, callbacks=[monitor], logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, reload_dataloaders_every_n_epochs=1, default_root_dir=tmp_path).fit(model, datamodule=data)
    assert data.calls == 3
    # the last evaluation, after epoch 3, is on the points of the third call (33 points), the set of that epoch
    assert monitor.history[-1]["margin/loss"] == pytest.approx(loss_on(model, data.served[2]), rel=1e-9)


def test_the_fused_engine_refuses_a_reloaded_training_loader(tmp_path):
    x, y = labelled(40, seed=0)
    model = LeakyReLUTeacherNet(input_dim=D, k=2)
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, reload_dataloaders_every_n_epochs=1, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="reload_dataloaders_every_n_epochs"):
        trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=40))


def test_test_after_fit_with_loaders_evaluates_the_test_points_and_the_training_points_of_the_fit(tmp_path):
    model = Classifier()
    train, test = labelled(60, seed=1), labelled(30, seed=2)
    monitor = LinearTeacherMonitor(splits=("train", "test"))
    trainer = Trainer(max_epochs=2, callbacks=[monitor], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, DataLoader(TensorDataset(*train), batch_size=20))
    results = trainer.test(model, DataLoader(TensorDataset(*test), batch_size=30), verbose=False)[0]
    assert "linear_region/outside_fraction/test" in results
    assert monitor.latest["margin/loss"] == pytest.approx(loss_on(model, train), rel=1e-9)


def test_test_without_any_training_data_logs_what_needs_none(tmp_path):
    model, test = Classifier(), labelled(30, seed=2)
    monitor = LinearTeacherMonitor(splits=("test",))
    trainer = Trainer(callbacks=[monitor], logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.warns(UserWarning, match="margin"):
        trainer.test(model, DataLoader(TensorDataset(*test), batch_size=30), verbose=False)
    assert "linear_region/outside_fraction/test" in monitor.latest and "cluster/radius" in monitor.latest
    assert not any(key.startswith(("margin/", "nar/", "par/")) for key in monitor.latest)


class BackboneClassifier(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(10, D)
        with torch.no_grad():  # output weights of both signs, whatever the seed
            self.net[2].weight.copy_(torch.tensor([[1.0, -1.0] * (M // 2)]))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.backbone(x))[:, 0]


@pytest.mark.parametrize("monitor_type", [LinearTeacherMonitor, MarginMonitor, ClusterRadiusMonitor])
def test_a_head_on_a_backbone_without_features_names_the_monitor_and_the_fix(monitor_type, tmp_path):
    x, y = torch.randn(40, 10), torch.randint(0, 2, (40,))
    trainer = Trainer(max_epochs=1, callbacks=[monitor_type()], logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match=rf"^{monitor_type.__name__}: .*features=lambda module, x: module.backbone\(x\)"):
        trainer.fit(BackboneClassifier(), DataLoader(TensorDataset(x, y), batch_size=40))


def test_a_monitor_reused_by_a_new_trainer_starts_a_new_curve(tmp_path):
    monitor = MarginMonitor()
    for _ in range(2):
        Trainer(max_epochs=2, callbacks=[monitor], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=tmp_path).fit(Classifier(), DataLoader(TensorDataset(*labelled(40, 0)), batch_size=20))
    assert [row["epoch"] for row in monitor.history] == [1.0, 2.0]


class Poison(Callback):
    """After epoch 2 (before the monitor evaluates it), break the network as training can."""

    def __init__(self, how: str) -> None:
        self.how = how

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                if self.how == "nan":
                    pl_module.net[0].weight.fill_(float("nan"))
                else:  # every output weight positive: the u-group is empty
                    pl_module.net[2].weight.abs_()


@pytest.mark.parametrize("how, reason", [("nan", "not finite"), ("one-sign", "negative output weight")])
def test_a_network_broken_by_training_is_logged_as_nan_and_the_run_goes_on(how, reason, tmp_path):
    monitor = MarginMonitor()
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    model = Classifier()
    with torch.no_grad():
        model.net[2].weight.copy_(torch.tensor([[1.0, -1.0] * (M // 2)]))
    trainer = Trainer(max_epochs=3, callbacks=[Poison(how), monitor, checkpoints], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.warns(UserWarning, match=reason):
        trainer.fit(model, DataLoader(TensorDataset(*labelled(40, 0)), batch_size=20))
    assert trainer.state.status == "finished" and len(list(tmp_path.glob("*.ckpt"))) == 3
    assert [row["epoch"] for row in monitor.history] == [1.0, 2.0, 3.0]
    assert math.isfinite(monitor.history[0]["margin/loss"]) and math.isnan(monitor.history[1]["margin/loss"])


def test_a_network_broken_before_training_is_still_refused(tmp_path):
    model = Classifier()
    with torch.no_grad():
        model.net[2].weight.abs_()
    trainer = Trainer(max_epochs=1, callbacks=[MarginMonitor()], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(NetworkStateError, match="^MarginMonitor: .*negative output weight"):
        trainer.fit(model, DataLoader(TensorDataset(*labelled(40, 0)), batch_size=20))


@pytest.mark.parametrize("weights, expected", [([2.0, -2.0, 2.0, -2.0], "fixed +-v, v = 2"), ([1.0, -2.0, 3.0, -1.0], "several magnitudes")])
def test_the_summary_describes_a_frozen_output_layer_as_viewed(weights, expected):
    from lt_teacher.callbacks.teacher_net_summary import describe_network

    model = Classifier()
    model.net[2] = nn.Linear(M, 1, bias=False)
    with torch.no_grad():
        model.net[2].weight.copy_(torch.tensor([weights + [1.0, -1.0] * ((M - 4) // 2)]))
    model.net[2].weight.requires_grad_(False)
    if expected.startswith("fixed"):
        with torch.no_grad():
            model.net[2].weight.copy_(torch.tensor([[2.0, -2.0] * (M // 2)]))
    assert expected in describe_network(model)


def test_the_summary_calls_a_training_output_layer_over_a_frozen_first_layer_learned():
    """Review: random features (first layer frozen, output training) are degree 1 now, and the summary read degree 1
    as a fixed output layer."""
    from lt_teacher.callbacks.teacher_net_summary import describe_network

    model = Classifier()
    model.net[0].requires_grad_(False)
    assert "learned (absorbed" in describe_network(model)


class PoisonSeed(Callback):
    """After epoch 1, network 1 of a three-network module diverges (NaN), as a too-large lr of a grid would do."""

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == 0:
            with torch.no_grad():
                pl_module.weight[1].fill_(float("nan"))


def grid_fit(tmp_path, max_epochs: int, monitor: LinearTeacherMonitor, ckpt_path: str | None = None, poison: bool = True,
             reload: int = 0, engine: str = "reference") -> LeakyReLUTeacherNet:
    model = LeakyReLUTeacherNet(input_dim=D, k=2, num_seeds=3, engine=engine)
    callbacks = [*([PoisonSeed()] if poison else []), monitor, ModelCheckpoint(dirpath=tmp_path, save_last=True)]
    trainer = Trainer(max_epochs=max_epochs, callbacks=callbacks, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      reload_dataloaders_every_n_epochs=reload, default_root_dir=tmp_path)
    trainer.fit(model, DataLoader(TensorDataset(*labelled(40, 0)), batch_size=40), ckpt_path=ckpt_path)
    return model


def test_one_diverged_network_of_a_grid_is_nan_and_the_others_keep_their_values(tmp_path):
    monitor = LinearTeacherMonitor()
    with pytest.warns(UserWarning, match=r"network\(s\) \[1\] of 3 cannot be analysed"):
        grid_fit(tmp_path, 3, monitor)
    last = monitor.history[-1]
    assert math.isnan(last["margin/loss/seed_1"]) and math.isnan(last["margin/loss"])
    assert math.isfinite(last["margin/loss/seed_0"]) and math.isfinite(last["margin/loss/seed_2"])
    assert math.isfinite(last["cluster/radius/seed_2"]) and math.isfinite(monitor.history[0]["margin/loss/seed_2"])


def test_a_resumed_run_with_a_diverged_network_goes_on(tmp_path):
    grid_fit(tmp_path, 2, LinearTeacherMonitor())
    monitor = LinearTeacherMonitor()
    grid_fit(tmp_path, 3, monitor, ckpt_path=str(tmp_path / "last.ckpt"), poison=False)
    assert [row["epoch"] for row in monitor.history] == [1.0, 2.0, 3.0]
    assert math.isnan(monitor.history[-1]["margin/loss/seed_1"]) and math.isfinite(monitor.history[-1]["margin/loss/seed_0"])


def test_a_network_diverged_before_training_is_refused(tmp_path):
    model = LeakyReLUTeacherNet(input_dim=D, k=2, num_seeds=3, engine="reference")
    with torch.no_grad():
        model.weight[2].fill_(float("nan"))
    trainer = Trainer(max_epochs=1, callbacks=[LinearTeacherMonitor(groups=("cluster",))], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(NetworkStateError, match=r"LinearTeacherMonitor: network\(s\) \[2\]"):
        trainer.fit(model, DataLoader(TensorDataset(*labelled(40, 0)), batch_size=40))


def test_divergence_with_reloaded_loaders_is_nan_too(tmp_path):
    data, model = ChangingData(), Classifier()
    with torch.no_grad():
        model.net[2].weight.copy_(torch.tensor([[1.0, -1.0] * (M // 2)]))
    monitor = MarginMonitor()
    trainer = Trainer(max_epochs=3, callbacks=[Poison("nan"), monitor], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, reload_dataloaders_every_n_epochs=1, default_root_dir=tmp_path)
    with pytest.warns(UserWarning, match="not finite"):
        trainer.fit(model, datamodule=data)
    assert trainer.state.status == "finished" and math.isnan(monitor.history[-1]["margin/loss"])


class FitOnlyData(LightningDataModule):
    """Builds its training split in setup('fit') only, as many datamodules do; the test split in setup('test')."""

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.train = TensorDataset(*labelled(40, 0))
        if stage == "test":
            self.test = TensorDataset(*labelled(20, 3))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=20)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test, batch_size=20)


def test_test_with_a_datamodule_that_builds_training_data_only_for_fit(tmp_path):
    monitor = LinearTeacherMonitor(splits=("test",))
    model = Classifier()
    with torch.no_grad():
        model.net[2].weight.copy_(torch.tensor([[1.0, -1.0] * (M // 2)]))
    trainer = Trainer(callbacks=[monitor], logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.warns(UserWarning, match="train_dataloader"):
        results = trainer.test(model, datamodule=FitOnlyData(), verbose=False)[0]
    assert "linear_region/outside_fraction/test" in results and "cluster/radius" in results
