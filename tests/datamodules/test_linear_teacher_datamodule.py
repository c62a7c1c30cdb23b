"""LinearTeacherDataModule: the paper's Gaussian data under a linear teacher."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor, nn

from lt_teacher.datamodules import LinearTeacherDataModule


def teacher_margins(dm: LinearTeacherDataModule, x: Tensor, y: Tensor) -> Tensor:
    """y·w*·x for every row, in float64 (where the datamodule guarantees the margin)."""
    return y.double() * (x.double() @ dm.teacher.double())


SETTINGS = {
    "figure1-2d": dict(dim=2, n_train=100, margin=0.1),
    "figure3-margin": dict(dim=2, n_train=200, margin=1.0, cluster_distance=3.0),
    "figure8-antipodal-50d": dict(dim=50, n_train=400, antipodal=True, margin=0.5, radius=12.0),
    "figure9-outlier": dict(dim=2, n_train=100, antipodal=True, outliers=1, margin=0.2, radius=5.0),
    "random-teacher-bias": dict(dim=5, n_train=50, teacher="random", bias=True, outliers=3, margin=0.3),
}


@pytest.mark.parametrize("kwargs", SETTINGS.values(), ids=SETTINGS.keys())
def test_splits_have_the_promised_shape_labels_margin_and_radius(kwargs: dict) -> None:
    dm = LinearTeacherDataModule(n_val=20, n_test=40, **kwargs)
    dm.setup("fit")
    dim = kwargs["dim"]
    input_dim = dim + int(kwargs.get("bias", False))
    assert dm.input_dim == input_dim
    assert dm.teacher.shape == (input_dim,) and dm.teacher.dtype == torch.float32
    assert math.isclose(float(dm.teacher[:dim].double().norm()), 1.0, rel_tol=1e-6)
    radius = kwargs.get("radius", math.inf)
    sizes = {"train": kwargs["n_train"] + kwargs.get("outliers", 0), "val": 20, "test": 40}
    for split, n in sizes.items():
        x, y = dm.tensors(split)
        assert x.shape == (n, input_dim) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.float32
        assert set(y.tolist()) == {-1.0, 1.0}
        assert bool((teacher_margins(dm, x, y) >= kwargs["margin"]).all())
        assert bool((x[:, :dim].double().norm(dim=1) <= radius).all())
        if kwargs.get("bias"):
            assert bool((x[:, -1] == 1.0).all())
    x, y = dm.train_tensors()
    batch_x, batch_y = next(iter(dm.train_dataloader()))
    assert batch_x.shape == (1, input_dim) and batch_y.shape == (1,)
    assert dm.val_tensors()[0].shape[0] == 20 and dm.test_tensors()[0].shape[0] == 40


def test_clusters_sit_around_plus_minus_mu_teacher() -> None:
    dm = LinearTeacherDataModule(dim=3, n_train=4000, margin=0.0, cluster_distance=6.0, cluster_std=0.5)
    x, y = dm.train_tensors()
    torch.testing.assert_close(x[y > 0].mean(0), torch.tensor([3.0, 0.0, 0.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(x[y < 0].mean(0), torch.tensor([-3.0, 0.0, 0.0]), atol=0.05, rtol=0)
    assert abs(float(x[y > 0, 1].std()) - 0.5) < 0.03
    assert int((y > 0).sum()) == 2000


@pytest.mark.parametrize("n_train", [2, 400])
def test_antipodal_set_is_exactly_symmetric(n_train: int) -> None:
    dm = LinearTeacherDataModule(dim=50, n_train=n_train, n_val=10, n_test=0, antipodal=True, margin=0.5)
    for split in ("train", "val"):
        x, y = dm.tensors(split)
        half = x.shape[0] // 2
        assert torch.equal(x[half:], -x[:half])
        assert torch.equal(y[half:], -y[:half])
        assert bool((y[:half] == 1.0).all())


def test_outlier_is_a_single_unusual_positive_point_and_data_stay_separable() -> None:
    dm = LinearTeacherDataModule(dim=2, n_train=100, antipodal=True, outliers=1, margin=0.2, radius=5.0)
    x, y = dm.train_tensors()
    outlier = x[-1]
    assert x.shape[0] == 101 and y[-1] == 1.0
    # The clean part is symmetric, the outlier has no mirror image.
    assert torch.equal(x[50:100], -x[:50])
    assert not bool(torch.isclose(x, -outlier).all(dim=1).any())
    # On the margin's edge, at the radius, far off the teacher's axis.
    assert math.isclose(float(outlier @ dm.teacher), 0.2, abs_tol=1e-3)
    assert math.isclose(float(outlier.norm()), 5.0, rel_tol=1e-3)
    # Still separable by the teacher, with margin 0.2.
    assert float(teacher_margins(dm, x, y).min()) >= 0.2
    # Unusual: farther from the positive cluster centre than any other positive point.
    centre = x[:50].mean(0)
    distances = (x[:50] - centre).norm(dim=1)
    assert float((outlier - centre).norm()) > float(distances.max())
    # Validation and test splits hold no outlier: exactly symmetric.
    xv, _ = dm.val_tensors()
    assert torch.equal(xv[50:], -xv[:50])


def test_two_outliers_in_the_plane_take_both_sides() -> None:
    dm = LinearTeacherDataModule(dim=2, n_train=10, outliers=2, margin=0.1)
    x, _ = dm.train_tensors()
    first, second = x[-2], x[-1]
    assert math.isclose(float(first[0]), float(second[0]), abs_tol=1e-6)
    assert math.isclose(float(first[1]), -float(second[1]), rel_tol=1e-6)
    # With no radius the outliers take the largest norm among the clean training points.
    assert math.isclose(float(first.norm()), float(x[:-2].norm(dim=1).max()), rel_tol=1e-4)


def test_same_seed_reproduces_and_other_seeds_differ() -> None:
    kwargs = dict(dim=4, n_train=30, n_val=10, n_test=10, teacher="random", outliers=1)
    first = LinearTeacherDataModule(seed=3, **kwargs)
    again = LinearTeacherDataModule(seed=3, **kwargs)
    other = LinearTeacherDataModule(seed=4, **kwargs)
    for split in ("train", "val", "test"):
        assert torch.equal(first.tensors(split)[0], again.tensors(split)[0])
        assert not torch.equal(first.tensors(split)[0], other.tensors(split)[0])
    assert torch.equal(first.teacher, again.teacher) and not torch.equal(first.teacher, other.teacher)
    # The splits are distinct draws from one distribution.
    assert not torch.equal(first.val_tensors()[0], first.test_tensors()[0])
    # The shuffled order is reproducible too.
    order = [b[0] for b in first.train_dataloader()]
    assert all(torch.equal(a, b[0]) for a, b in zip(order, again.train_dataloader()))


def test_teacher_argument_forms() -> None:
    default = LinearTeacherDataModule(dim=3, n_train=4)
    assert default.teacher.tolist() == [1.0, 0.0, 0.0]
    given = LinearTeacherDataModule(dim=2, n_train=4, teacher=[3.0, 4.0])
    torch.testing.assert_close(given.teacher, torch.tensor([0.6, 0.8]))
    tensor = LinearTeacherDataModule(dim=2, n_train=4, teacher=torch.tensor([0.0, -2.0]))
    assert tensor.teacher.tolist() == [0.0, -1.0]
    x, y = tensor.train_tensors()
    assert bool((y * x[:, 1] <= -0.1).all())


def test_trains_in_a_lightning_trainer(tmp_path) -> None:
    class Linear(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 1, bias=False)

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            x, y = batch
            return nn.functional.softplus(-y * self.layer(x).squeeze(1)).mean()

        def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
            x, y = batch
            self.log("val_acc", ((self.layer(x).squeeze(1) * y) > 0).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = LinearTeacherDataModule(n_train=40, n_val=40, n_test=0, batch_size=4)
    trainer = Trainer(
        default_root_dir=tmp_path, max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(Linear(), datamodule=dm)
    assert trainer.callback_metrics["val_acc"] >= 0.9


class RecordingModule(LightningModule):
    """A linear model that records every training batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1, bias=False)
        self.seen: list[Tensor] = []

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        self.seen.append(x.clone())
        return nn.functional.softplus(-y * self.layer(x).squeeze(1)).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_recording(tmp_path: Path, max_epochs: int, ckpt_path: Path | None = None) -> tuple[Trainer, list[Tensor]]:
    module = RecordingModule()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    datamodule = LinearTeacherDataModule(n_train=8, n_val=0, n_test=0, batch_size=2, seed=7)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    return trainer, module.seen


def test_each_epoch_has_a_fresh_order_and_a_resumed_run_keeps_it(tmp_path: Path) -> None:
    _, uninterrupted = fit_recording(tmp_path, max_epochs=3)
    epochs = [torch.cat(uninterrupted[4 * e : 4 * e + 4]) for e in range(3)]
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])
    assert all(torch.equal(e.sort(dim=0).values, epochs[0].sort(dim=0).values) for e in epochs)  # each point once
    first, _ = fit_recording(tmp_path, max_epochs=1)
    first.save_checkpoint(tmp_path / "epoch1.ckpt")
    torch.manual_seed(1234)  # the order does not depend on the global RNG
    _, resumed = fit_recording(tmp_path, max_epochs=3, ckpt_path=tmp_path / "epoch1.ckpt")
    assert len(resumed) == 8
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted[4:]))


BAD_ARGUMENTS = [
    (dict(dim=0), ValueError, r"`dim` must be an int >= 1, got 0"),
    (dict(dim=2.0), TypeError, r"`dim` must be an int >= 1, got float 2.0"),
    (dict(n_train=1), ValueError, r"`n_train` must be an int >= 2"),
    (dict(n_train=True), TypeError, r"`n_train` must be an int >= 0, got bool True"),
    (dict(n_val=1), ValueError, r"`n_val` must be 0 or an int >= 2"),
    (dict(n_test=-2), ValueError, r"`n_test` must be an int >= 0, got -2"),
    (dict(n_train=5, antipodal=True), ValueError, r"`n_train` must be even when `antipodal=True`"),
    (dict(antipodal=1), TypeError, r"`antipodal` must be a bool"),
    (dict(margin=-0.1), ValueError, r"`margin` must be a finite number >= 0, got -0.1"),
    (dict(margin=math.nan), ValueError, r"`margin` must be a finite number >= 0, got nan"),
    (dict(margin="0.1"), TypeError, r"`margin` must be a finite number >= 0, got str '0.1'"),
    (dict(radius=0.0), ValueError, r"`radius` must be a number \(not NaN\) > 0, got 0.0"),
    (dict(radius=0.5, margin=0.5), ValueError, r"`margin` \(0.5\) must be smaller than `radius` \(0.5\)"),
    (dict(cluster_std=0.0), ValueError, r"`cluster_std` must be a finite number > 0"),
    (dict(cluster_distance=math.inf), ValueError, r"`cluster_distance` must be a finite number >= 0, got inf"),
    (dict(outliers=-1), ValueError, r"`outliers` must be an int >= 0, got -1"),
    (dict(outliers=1, dim=1), ValueError, r"`outliers` need `dim` >= 2"),
    (dict(outliers=3, dim=2), ValueError, r"`outliers` must be <= 2 when `dim` == 2"),
    (dict(outliers=1, margin=0.0), ValueError, r"`outliers` need `margin` > 0"),
    (dict(teacher="e1"), ValueError, r"`teacher` given as a string must be 'random', got 'e1'"),
    (dict(teacher=[1.0, 0.0, 0.0]), ValueError, r"`teacher` must have shape \(2,\) to match `dim`, got \(3,\)"),
    (dict(teacher=[0.0, 0.0]), ValueError, r"`teacher` must be a non-zero vector"),
    (dict(teacher=[math.inf, 0.0]), ValueError, r"`teacher` must be finite"),
    (dict(teacher=["a", 0.0]), TypeError, r"`teacher` must be a sequence of real numbers"),
    (dict(teacher=3.0), TypeError, r"`teacher` must be None \(e_1\), 'random', or a vector of length `dim`, got float"),
    (dict(seed=-1), ValueError, r"`seed` must be an int >= 0, got -1"),
    (dict(batch_size=0), ValueError, r"`batch_size` must be an int >= 1, got 0"),
    (dict(eval_batch_size=None), TypeError, r"`eval_batch_size` must be an int >= 1, got NoneType None"),
    (dict(num_workers=-1), ValueError, r"`num_workers` must be an int >= 0"),
    (dict(bias="yes"), TypeError, r"`bias` must be a bool"),
    (dict(margin=4.0, cluster_distance=0.0), ValueError, r"acceptance rate .* Lower `margin`, raise `radius`"),
    (dict(dim=50, radius=2.0, margin=0.1), ValueError, r"acceptance rate .* Lower `margin`, raise `radius`"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"), BAD_ARGUMENTS, ids=[str(sorted(k.items())) for k, _, _ in BAD_ARGUMENTS]
)
def test_bad_arguments_raise_in_init(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LinearTeacherDataModule(**kwargs)


def test_unknown_split_and_stage_are_rejected() -> None:
    dm = LinearTeacherDataModule(n_train=4)
    with pytest.raises(ValueError, match=r"`split` must be one of 'train', 'val', 'test', got 'validation'"):
        dm.tensors("validation")
    with pytest.raises(ValueError, match=r"`stage` must be one of 'fit', 'validate', 'test', 'predict', got 'train'"):
        dm.setup("train")



def build_in_child(rank: int, dm: LinearTeacherDataModule, out: Path) -> None:
    """Runs in a spawned process: build the splits there and save them with the next training order."""
    order = [x for x, _ in dm.train_dataloader()]
    torch.save({"x": dm.train_tensors()[0], "teacher": dm.teacher, "order": torch.cat(order)}, out)


@pytest.mark.ddp
def test_a_spawned_process_gets_the_same_data_and_order(tmp_path: Path) -> None:
    """ddp_spawn pickles the datamodule through torch.multiprocessing (file-descriptor tensor sharing)."""
    dm = LinearTeacherDataModule(n_train=16, n_val=0, n_test=0, batch_size=4, seed=3, teacher="random")
    torch.multiprocessing.start_processes(build_in_child, args=(dm, tmp_path / "child.pt"), nprocs=1)
    child = torch.load(tmp_path / "child.pt")
    assert torch.equal(child["x"], dm.train_tensors()[0]) and torch.equal(child["teacher"], dm.teacher)
    assert torch.equal(child["order"], torch.cat([x for x, _ in dm.train_dataloader()]))


def test_append_bias_is_the_deprecated_name_of_bias() -> None:
    new = LinearTeacherDataModule(dim=3, n_train=8, n_val=0, n_test=0, bias=True)
    with pytest.warns(DeprecationWarning, match=r"`append_bias` is deprecated, use `bias` instead"):
        old = LinearTeacherDataModule(dim=3, n_train=8, n_val=0, n_test=0, append_bias=True)
    assert old.bias and old.input_dim == 4 and old.hparams["bias"] and old.hparams["append_bias"] is None
    assert torch.equal(old.train_tensors()[0], new.train_tensors()[0]) and torch.equal(old.teacher, new.teacher)
    assert bool((new.train_tensors()[0][:, 3] == 1.0).all())
    with pytest.raises(ValueError, match=r"`append_bias` is the old name of `bias`; got both"):
        LinearTeacherDataModule(bias=True, append_bias=False)


def test_data_with_a_bias_coordinate_trains_a_network_without_its_own_bias_under_a_logger(tmp_path):
    """Lightning merges the module's and the datamodule's hparams for the loggers and refuses a shared key of two values:
    the datamodule logs its `bias` as `data_bias` (a constant coordinate is not the network's learned bias)."""
    import yaml
    from lightning.pytorch import Trainer
    from lightning.pytorch.loggers import CSVLogger

    from lt_teacher import LeakyReLUTeacherNet

    data = LinearTeacherDataModule(dim=3, n_train=20, n_val=0, n_test=0, batch_size=20, bias=True)
    model = LeakyReLUTeacherNet(input_dim=4, k=2, bias=False)
    logger = CSVLogger(tmp_path)
    trainer = Trainer(max_epochs=1, logger=logger, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, accelerator="cpu", devices=1)
    trainer.fit(model, datamodule=data)
    logged = yaml.safe_load((Path(logger.log_dir) / "hparams.yaml").read_text())
    assert logged["bias"] is False and logged["data_bias"] is True
    assert data.hparams["bias"] is True  # what a checkpoint keeps and load_from_checkpoint passes back
    restored = LinearTeacherDataModule.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    assert restored.bias and restored.input_dim == 4


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_resumed_loader_visits_the_examples_as_the_uninterrupted_one_with_workers_too(num_workers):
    """Review: with persistent workers the DataLoader drew its workers' seed from the datamodule's generator once per
    iterator, so a resumed run (a new iterator) drew once more than the uninterrupted one and every later epoch's
    order shifted. The generator now orders the sampler only."""
    def first_coordinates(loader):
        return torch.cat([x[:, 0] for x, _ in loader])

    data = LinearTeacherDataModule(dim=2, n_train=12, n_val=0, n_test=0, batch_size=3, num_workers=num_workers)
    loader = data.train_dataloader()
    first = first_coordinates(loader)
    state = data.state_dict()  # what a checkpoint at the end of epoch 1 holds
    second, third = first_coordinates(loader), first_coordinates(loader)
    resumed = LinearTeacherDataModule(dim=2, n_train=12, n_val=0, n_test=0, batch_size=3, num_workers=num_workers)
    resumed.load_state_dict(state)
    again = resumed.train_dataloader()
    assert torch.equal(first_coordinates(again), second) and torch.equal(first_coordinates(again), third)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("teacher", [torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1, 2]), [1, 2]])
def test_a_vector_teacher_is_a_list_of_floats_in_the_hparams_a_logger_writes(teacher, tmp_path):
    """Review: a tensor teacher went into hparams.yaml as a pickled tensor that Lightning's YAML loader refuses;
    a numpy array was refused."""
    from lightning.pytorch.core.saving import load_hparams_from_yaml, save_hparams_to_yaml

    data = LinearTeacherDataModule(dim=2, teacher=teacher)
    assert data.hparams["teacher"] == [1.0, 2.0] or data.hparams["teacher"] == [1, 2]
    save_hparams_to_yaml(tmp_path / "hparams.yaml", data.hparams_initial)
    assert [float(v) for v in load_hparams_from_yaml(tmp_path / "hparams.yaml")["teacher"]] == [1.0, 2.0]
    assert torch.allclose(data.teacher, torch.tensor([1.0, 2.0]) / math.sqrt(5.0))
