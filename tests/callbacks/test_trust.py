"""The monitors never log a plausible wrong number in someone else's project (issue 13, findings 1-5).

Each test is a small user project in which an earlier version of the monitors analysed another
network, other inputs or other points than the module trains on, without an error.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from torch import Tensor, nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from _helpers import separable_gaussians
from lt_teacher import two_layer_view
from lt_teacher.callbacks import ClusterRadiusMonitor, LinearRegionMonitor, LinearTeacherMonitor, MarginMonitor
from lt_teacher.callbacks import NeuralAgreementMonitor, NeuronPlotMonitor, PARSolutionMonitor
from lt_teacher.functional import (
    cluster_radius,
    linear_region_mask,
    log_sum_loss,
    logistic_loss,
    margins,
    neural_agreement,
    par_fraction,
)

D, M = 4, 6
TOL = {"rel": 1e-9, "abs": 1e-12}


def points(n: int = 40, seed: int = 0, d: int = D) -> tuple[Tensor, Tensor]:
    x, y = separable_gaussians(n, d=d, seed=seed)
    return x, (y > 0).long()


def fit(module: LightningModule, callbacks: list, data: Any, tmp_path, epochs: int = 1, **kwargs: Any) -> Trainer:
    trainer = Trainer(
        max_epochs=epochs, callbacks=callbacks, default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1, num_sanity_val_steps=0, **kwargs,
    )
    if isinstance(data, LightningDataModule):
        trainer.fit(module, datamodule=data)
    else:
        trainer.fit(module, train_dataloaders=data)
    return trainer


class Base(LightningModule):
    steps = 0

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        self.steps += 1
        x, y = batch
        return nn.functional.binary_cross_entropy_with_logits(self(x), y.float())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class HeadOnBackbone(Base):
    """Finding 1: a trainable backbone in front of a two-layer Leaky-ReLU head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(D, D), nn.LeakyReLU())
        self.head = nn.Sequential(nn.Linear(D, M), nn.LeakyReLU(0.2), nn.Linear(M, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))[:, 0]


class ScalesInForward(Base):
    """Finding 2: uint8 inputs divided by 255 inside forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(D, M), nn.LeakyReLU(0.2), nn.Linear(M, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.float() / 255.0)[:, 0]


class Plain(ScalesInForward):
    """The same network on inputs as given."""

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]


# --------------------------------------------------------------------------- finding 1 and 2
def test_a_head_behind_a_trainable_backbone_is_refused_before_training(tmp_path):
    module = HeadOnBackbone()
    with pytest.raises(ValueError, match=r"backbone\.0\.weight.*outside the analysed network.*features=") as raised:
        fit(module, [MarginMonitor()], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert "largest" in str(raised.value)  # the output difference is reported too
    assert module.steps == 0


@pytest.mark.parametrize("monitor_type", [ClusterRadiusMonitor, PARSolutionMonitor, NeuronPlotMonitor])
def test_every_monitor_verifies_the_network(monitor_type, tmp_path):
    module = HeadOnBackbone()
    with pytest.raises(ValueError, match=r"outside the analysed network"):
        fit(module, [monitor_type()], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert module.steps == 0


def test_preprocessing_inside_forward_is_detected(tmp_path):
    x, y = points()
    images = (x - x.min()).div(x.max() - x.min()).mul(255).round().to(torch.uint8)
    module = ScalesInForward()
    with pytest.raises(ValueError, match=r"differs from what .*ScalesInForward.* computes.*largest difference"):
        fit(module, [LinearTeacherMonitor()], DataLoader(TensorDataset(images, y), batch_size=8), tmp_path)
    assert module.steps == 0
    # features= states what the head sees: then every value is computed on those inputs
    monitor = MarginMonitor(features=lambda m, x: x.float() / 255.0)
    module = ScalesInForward()
    fit(module, [monitor], DataLoader(TensorDataset(images, y), batch_size=8), tmp_path)
    view = two_layer_view(module.net)
    q = margins(view.prepare_inputs(images.double() / 255.0), y, view.w, view.u, view.alpha, view.v)
    assert monitor.history[-1]["margin/loss"] == pytest.approx(float(logistic_loss(q).mean()), **TOL)


def test_forward_that_cannot_be_called_warns_and_falls_back_to_the_parameter_check(tmp_path):
    class NoForward(Base):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(D, M), nn.LeakyReLU(0.2), nn.Linear(M, 1, bias=False))

        def forward(self, batch: dict) -> Tensor:  # takes the whole batch dict: x alone does not fit
            return self.net(batch["x"])[:, 0]

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return nn.functional.binary_cross_entropy_with_logits(self({"x": x}), y.float())

    monitor = MarginMonitor()
    with pytest.warns(UserWarning, match=r"could not compare .* forward.*parameter"):
        fit(NoForward(), [monitor], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert monitor.history
    # output_fn says how to call it; then the outputs are compared and nothing is warned
    monitor = MarginMonitor(output_fn=lambda m, x: m({"x": x}))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*could not compare.*")
        fit(NoForward(), [monitor], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)


# --------------------------------------------------------------------------- features=
def reference(head: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    view = two_layer_view(head)
    xp = view.prepare_inputs(x)
    q = margins(xp, y, view.w, view.u, view.alpha, view.v)
    values = {f"cluster/{k}": float(v) for k, v in cluster_radius(view.w, view.u)._asdict().items()}
    values["linear_region/outside_fraction/train"] = float((~linear_region_mask(xp, view.w, view.u)).double().mean())
    values.update({f"nar/{k}": float(v) for k, v in neural_agreement(xp, view.w, view.u)._asdict().items()})
    values.update({f"par/{k}": float(v) for k, v in par_fraction(xp, y, view.w, view.u)._asdict().items()})
    values["margin/loss"] = float(logistic_loss(q).mean())
    values["margin/log_loss"] = float(log_sum_loss(q)) - math.log(q.shape[0])
    return values


def test_features_analyses_the_head_on_learned_features_with_every_monitor(tmp_path):
    x, y = points(48)
    features = lambda module, x: module.backbone(x)  # noqa: E731
    monitors = [
        ClusterRadiusMonitor(features=features),
        LinearRegionMonitor(splits="train", features=features),
        NeuralAgreementMonitor(features=features),
        MarginMonitor(features=features),
    ]
    others = [PARSolutionMonitor(features=features, max_samples=20), NeuronPlotMonitor(features=features, save_dir=tmp_path / "p")]
    module = HeadOnBackbone()
    fit(module, monitors + others, DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True), tmp_path, epochs=2)
    module.eval()
    with torch.no_grad():
        expected = reference(module.head, module.backbone(x).double(), y)
    found = {k: v for m in monitors for k, v in m.history[-1].items() if k != "epoch"}
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, **TOL), key
    assert [row["epoch"] for row in monitors[-1].history] == [1.0, 2.0]
    assert others[0].history and others[1].saved_files


def test_features_that_do_not_reproduce_the_output_are_refused(tmp_path):
    module = HeadOnBackbone()
    monitor = MarginMonitor(features=lambda m, x: x)  # forgets the backbone
    with pytest.raises(ValueError, match=r"largest difference"):
        fit(module, [monitor], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert module.steps == 0
    with pytest.raises(TypeError, match=r"`features` must be callable"):
        MarginMonitor(features="backbone")


def test_features_with_a_wrong_width_names_what_was_found(tmp_path):
    module = HeadOnBackbone()
    monitor = MarginMonitor(features=lambda m, x: torch.cat([x, x], dim=1))
    with pytest.raises(ValueError, match=r"features.*8.*4"):
        fit(module, [monitor], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert module.steps == 0


# --------------------------------------------------------------------------- finding 3: samplers
class Recording(Dataset):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y, self.seen = x, y, set()

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        self.seen.add(int(i))
        return self.x[i], self.y[i]


def margin_loss_on(module: Plain, x: Tensor, y: Tensor) -> float:
    return reference(module.net, x.double(), y)["margin/loss"]


SAMPLERS = {
    "subset-random": lambda n, idx: {"sampler": SubsetRandomSampler(idx)},
    "batch-sampler-of-subset": lambda n, idx: {"batch_sampler": BatchSampler(SubsetRandomSampler(idx), 5, False)},
    "sequential": lambda n, idx: {"sampler": SequentialSampler(range(n))},
    "random": lambda n, idx: {"shuffle": True},
    "sequential-drop-last": lambda n, idx: {"drop_last": True},  # 40 points in batches of 7: the loader yields 35
    "random-drop-last": lambda n, idx: {"shuffle": True, "drop_last": True},  # other points each epoch: all count
}


@pytest.mark.parametrize("kind", list(SAMPLERS), ids=list(SAMPLERS))
@pytest.mark.parametrize("dataset_kind", ["tensor", "map"])
def test_the_points_the_sampler_selects_are_evaluated(kind, dataset_kind, tmp_path):
    x, y = points(40)
    train_idx = list(range(0, 40, 3))
    dataset = TensorDataset(x, y) if dataset_kind == "tensor" else Recording(x, y)
    kwargs = SAMPLERS[kind](40, train_idx)
    batch = {"batch_size": 7 if "drop_last" in kwargs else 5} if "batch_sampler" not in kwargs else {}
    loader = DataLoader(dataset, **batch, **kwargs)
    monitor = MarginMonitor()
    module = Plain()
    fit(module, [monitor], loader, tmp_path)
    chosen = train_idx if "subset" in kind else list(range(35)) if kind == "sequential-drop-last" else list(range(40))
    assert monitor.history[-1]["margin/loss"] == pytest.approx(margin_loss_on(module, x[chosen], y[chosen]), **TOL)


@pytest.mark.parametrize(
    "loader",
    [
        lambda d: DataLoader(d, sampler=WeightedRandomSampler(torch.ones(len(d)), len(d)), batch_size=5),
        lambda d: DataLoader(d, sampler=RandomSampler(d, replacement=True), batch_size=5),
        lambda d: DataLoader(d, sampler=RandomSampler(d, num_samples=10), batch_size=5),
    ],
    ids=["weighted", "replacement", "random-subset"],
)
def test_a_sampler_whose_points_cannot_be_known_is_an_error_that_suggests_data(loader, tmp_path):
    module = Plain()
    with pytest.raises(ValueError, match=r"sampler.*`data="):
        fit(module, [MarginMonitor()], loader(TensorDataset(*points())), tmp_path)
    assert module.steps == 0


def test_a_custom_sampler_with_a_fixed_set_of_points_is_followed(tmp_path):
    class EvenIndices(torch.utils.data.Sampler):
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self):
            order = torch.randperm(self.n // 2) * 2
            return iter(order.tolist())

        def __len__(self) -> int:
            return self.n // 2

    x, y = points(40)
    monitor = MarginMonitor()
    module = Plain()
    fit(module, [monitor], DataLoader(TensorDataset(x, y), sampler=EvenIndices(40), batch_size=5), tmp_path)
    assert monitor.history[-1]["margin/loss"] == pytest.approx(margin_loss_on(module, x[::2], y[::2]), **TOL)


# --------------------------------------------------------------------------- finding 4: label dtypes
@pytest.mark.parametrize(
    ("dtype", "signed"),
    [(torch.bool, False), (torch.uint8, False), (torch.int8, False), (torch.int8, True), (torch.int16, False),
     (torch.int16, True), (torch.int32, True), (torch.int64, False), (torch.float16, True), (torch.float32, False),
     (torch.float64, True)],
)
def test_every_real_label_dtype_is_accepted(dtype, signed, tmp_path):
    x, y01 = points(40)
    labels = (2 * y01 - 1 if signed else y01).to(dtype)
    monitor = MarginMonitor(data={"train": (x, labels)})
    module = Plain()
    fit(module, [monitor], DataLoader(TensorDataset(x, y01), batch_size=8), tmp_path)
    assert monitor.history[-1]["margin/loss"] == pytest.approx(margin_loss_on(module, x, y01), **TOL)


@pytest.mark.parametrize(
    ("labels", "found"),
    [(torch.tensor([0, 1, 2] * 10, dtype=torch.uint8), r"\[0.0, 1.0, 2.0\]"),
     (torch.tensor([-1, 0, 1] * 10, dtype=torch.int8), r"\[-1.0, 0.0, 1.0\]"),
     (torch.tensor([0.5, 1.0] * 15), r"\[0.5, 1.0\]")],
    ids=["uint8-0-1-2", "int8-mixed", "float-half"],
)
def test_other_label_values_are_named(labels, found, tmp_path):
    x, _ = points(60)
    module = Plain()
    with pytest.raises(ValueError, match=found):
        fit(module, [MarginMonitor(data={"train": (x[:30], labels)})], DataLoader(TensorDataset(*points()), batch_size=8), tmp_path)
    assert module.steps == 0


# --------------------------------------------------------------------------- finding 5 (one process)
@pytest.mark.parametrize("where", ["train", "val"])
def test_a_nan_in_a_late_batch_is_found_before_training(where, tmp_path):
    x, y = points(40)
    bad = x.clone()
    bad[37, 1] = math.nan  # the last batch of 8

    class DM(LightningDataModule):
        def train_dataloader(self) -> DataLoader:
            return DataLoader(TensorDataset(bad if where == "train" else x, y), batch_size=8)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(Recording(bad if where == "val" else x, y), batch_size=8)

    module = Plain()
    with pytest.raises(ValueError, match=rf"{where} data contains NaN or Inf"):
        fit(module, [LinearTeacherMonitor(batch_size=8)], DM(), tmp_path)
    assert module.steps == 0


def test_single_seed_monitors_verify_every_seed_of_a_multi_seed_module(tmp_path):
    """NeuronPlotMonitor and PARSolutionMonitor draw seed 0, but forward returns every seed's logit:
    the check compares all of them instead of giving up with a warning."""
    from lt_teacher import LeakyReLUTeacherNet
    from lt_teacher.callbacks import NeuronPlotMonitor, PARSolutionMonitor
    from lt_teacher.datamodules import LinearTeacherDataModule

    def fit(net, monitor):
        trainer = Trainer(max_epochs=1, callbacks=[monitor], logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(net, datamodule=LinearTeacherDataModule(dim=2, n_train=40, n_val=0, n_test=0, batch_size=10))

    for monitor in (NeuronPlotMonitor(save_dir=tmp_path / "plots"), PARSolutionMonitor()):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(LeakyReLUTeacherNet(input_dim=2, k=3, num_seeds=3), monitor)
        assert not [w for w in caught if "could not compare" in str(w.message)]

    class SecondSeedScaled(LeakyReLUTeacherNet):
        def forward(self, x):
            out = super().forward(x)
            return out * torch.tensor([1.0, 3.0, 1.0])[:, None]

    with pytest.raises(ValueError, match="differs from what SecondSeedScaled computes"):
        fit(SecondSeedScaled(input_dim=2, k=3, num_seeds=3), PARSolutionMonitor())


def test_a_module_whose_forward_returns_probabilities_is_verified(tmp_path):
    """A BCELoss project: forward returns sigmoid(N(x)). That is the analysed network too, so the monitors
    run (no error, no warning) and log what the functional API gives on the same network."""

    class ProbabilityClassifier(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1, bias=False))

        def forward(self, x: Tensor) -> Tensor:
            return torch.sigmoid(self.net(x)[:, 0])

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return nn.functional.binary_cross_entropy(self(x), (y > 0).float())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x, y = separable_gaussians(n=60, d=2, seed=3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=10)
    monitor = LinearTeacherMonitor(groups=("cluster", "linear_region"), splits=("train",))
    module = ProbabilityClassifier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(max_epochs=2, callbacks=[monitor], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=tmp_path).fit(module, train_dataloaders=loader)
    assert not [w for w in caught if "could not compare" in str(w.message)]
    view = two_layer_view(module)
    expected = 1.0 - float(linear_region_mask(view.prepare_inputs(x), view.w, view.u).double().mean())  # bias coordinate
    assert monitor.history[-1]["linear_region/outside_fraction/train"] == pytest.approx(expected, abs=1e-12)

    class ScaledProbability(ProbabilityClassifier):
        def forward(self, x: Tensor) -> Tensor:
            return torch.sigmoid(2.0 * self.net(x)[:, 0])  # not the network the monitors would analyse

    with pytest.raises(ValueError, match="not sigmoid"):
        Trainer(max_epochs=1, callbacks=[LinearTeacherMonitor()], logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path).fit(
                    ScaledProbability(), train_dataloaders=loader)


class DividesInForward(ScalesInForward):
    """``x / 255`` inside forward, in the dtype of the batch (so that it runs under ``64-true`` too); it validates."""

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x / 255.0)[:, 0]

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/loss", nn.functional.binary_cross_entropy_with_logits(self(batch[0]), batch[1].to(batch[0].dtype)))


class Exact(DividesInForward):
    """The same module whose forward is the analysed network, in any dtype."""

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]


def test_under_64_true_forward_is_compared_on_the_inputs_the_trainer_gives_it(tmp_path):
    """Review: the check called forward on the loader's float32 batch, which a float64 module cannot take, so it only
    warned, and the monitors logged the analysis of net(x) for a forward of net(x / 255) (margin/loss 0.205, not 0.076)."""
    x, y = points()
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    module = DividesInForward()
    with pytest.raises(ValueError, match=r"differs from what .*DividesInForward.* computes"):
        fit(module, [MarginMonitor()], loader, tmp_path, precision="64-true")
    assert module.steps == 0
    monitor = MarginMonitor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(Exact(), [monitor], loader, tmp_path, precision="64-true")
    assert not [w for w in caught if "could not compare" in str(w.message)]
    assert math.isfinite(monitor.history[-1]["margin/loss"])


def test_validate_without_training_data_verifies_the_network_on_the_validation_inputs(tmp_path):
    """Review: a fresh Trainer's ``validate(model, dataloaders=...)`` found no training inputs and ran the parameter check
    only, logging the linear region of net(x) for a forward of net(x / 255); it is refused now, and nothing is logged."""
    x, y = points()
    trainer = Trainer(callbacks=[LinearRegionMonitor()], default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.validate(DividesInForward(), dataloaders=DataLoader(TensorDataset(x, y), batch_size=8))
    assert any("differs from what" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert not [key for key in trainer.callback_metrics if key.startswith("linear_region/")]
    assert not [w for w in caught if "could not compare" in str(w.message)]


@pytest.mark.parametrize("limit", [1, 3, 0.5, 100])
@pytest.mark.parametrize("loader_kind", ["tensor", "map", "batch-sampler"])
def test_limit_train_batches_of_a_sequential_loader_evaluates_the_batches_lightning_runs(limit, loader_kind, tmp_path):
    """Review: with limit_train_batches a sequential loader trains on its first batches only, but the training keys
    were computed on every point (margin/loss 0.402 for 0.389 on the 80 trained points); the int 1 is one batch
    (it equals 1.0, which is no limit), and a BatchSampler of a SequentialSampler is sequential."""
    x, y = points(40)
    dataset = TensorDataset(x, y) if loader_kind == "tensor" else Recording(x, y)
    loader = DataLoader(dataset, batch_sampler=BatchSampler(SequentialSampler(dataset), 5, False)) if loader_kind == "batch-sampler" \
        else DataLoader(dataset, batch_size=5)
    monitor, module = MarginMonitor(), Plain()
    fit(module, [monitor], loader, tmp_path, limit_train_batches=limit)  # 8 batches: 1, 3, 4 or all 8 run
    trained = {1: 5, 3: 15, 0.5: 20, 100: 40}[limit]
    assert monitor.history[-1]["margin/loss"] == pytest.approx(margin_loss_on(module, x[:trained], y[:trained]), **TOL)


def test_limit_train_batches_of_a_shuffled_loader_counts_every_point_and_says_so(tmp_path):
    x, y = points(40)
    monitor, module = MarginMonitor(), Plain()
    with pytest.warns(UserWarning, match=r"limit_train_batches=3.*3 of the 8 batches.*all 40 points"):
        fit(module, [monitor], DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True), tmp_path, limit_train_batches=3)
    assert monitor.history[-1]["margin/loss"] == pytest.approx(margin_loss_on(module, x, y), **TOL)


def test_limits_do_not_restrict_a_module_that_trains_on_every_point(tmp_path):
    """LeakyReLUTeacherNet's per-example engines spread the whole epoch over the batches Lightning runs."""
    from lt_teacher import LeakyReLUTeacherNet
    from lt_teacher.datamodules import LinearTeacherDataModule

    monitor = MarginMonitor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(LeakyReLUTeacherNet(input_dim=3, k=2), [monitor], LinearTeacherDataModule(dim=3, n_train=40, n_val=0, n_test=0, batch_size=5),
            tmp_path, limit_train_batches=2)
    assert not [w for w in caught if "limit_train_batches" in str(w.message)]
    assert monitor.evaluator.sources["train"].total == 40


def test_limit_val_batches_of_a_sequential_loader_evaluates_the_batches_lightning_runs(tmp_path):
    x, y = points(40)
    vx, vy = points(30, seed=1)
    monitor, module = LinearRegionMonitor(), Exact()
    trainer = Trainer(max_epochs=1, callbacks=[monitor], default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=2)
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=8), [DataLoader(TensorDataset(vx, vy), batch_size=4)])  # a list of one
    view = two_layer_view(module.net)
    from lt_teacher.functional import linear_disagreement

    run = linear_disagreement(view.prepare_inputs(vx[:8].double()), view.w, view.u, view.alpha)  # 2 batches of 4
    every = linear_disagreement(view.prepare_inputs(vx.double()), view.w, view.u, view.alpha)
    assert float(run.double().mean()) != float(every.double().mean())  # the case tells the two apart
    assert monitor.history[-1]["linear_region/disagreement/val"] == pytest.approx(float(run.double().mean()), abs=1e-12)
