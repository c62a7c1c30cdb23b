"""The README example: a user's own Lightning project with the monitors attached.

The project is not built on LeakyReLUTeacherNet: its LightningModule trains an
``nn.Sequential(Linear(d, m), LeakyReLU, Linear(m, 1, bias=False))`` with a learned output layer and a
first-layer bias, and its LightningDataModule yields dict batches ``{"image": (n, 1, h, w), "label": 0/1}``
with a train and a val split. Every documented key must be logged, and every value must equal a direct
call of :mod:`lt_teacher.functional` on :func:`lt_teacher.two_layer_view` of the final weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from _helpers import separable_gaussians
from lt_teacher import two_layer_view
from lt_teacher.callbacks import (
    ClusterRadiusMonitor,
    LinearRegionMonitor,
    LinearTeacherMonitor,
    MarginMonitor,
    NeuralAgreementMonitor,
)
from lt_teacher.functional import (
    cluster_radius,
    linear_direction,
    linear_region_mask,
    log_sum_loss,
    logistic_loss,
    margins,
    network_output,
    neural_agreement,
    normalized_margin,
    par_fraction,
    satisfies_assumption_6_1,
    smoothed_margin,
    theorem_6_2_threshold,
)

SIDE = 3  # images are 1 x SIDE x SIDE
WIDTH = 8  # hidden units m
HISTORY_TOL = {"rel": 1e-9, "abs": 1e-12}  # float64 history against float64 functional calls
LOGGED_TOL = {"rel": 1e-6, "abs": 1e-7}  # Lightning logs float32


# ----------------------------------------------------------------------------- the user's project
class ImagePairs(Dataset):
    """Map-style images with 0/1 labels as dicts; remembers which indices were read."""

    def __init__(self, images: Tensor, labels: Tensor, keys: tuple[str, str] = ("image", "label")) -> None:
        self.images, self.labels, self.keys = images, labels, keys
        self.seen: list[int] = []

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        self.seen.append(int(i))
        return {self.keys[0]: self.images[i], self.keys[1]: self.labels[i]}


def image_pairs(n: int, seed: int, keys: tuple[str, str] = ("image", "label")) -> ImagePairs:
    x, y = separable_gaussians(n, d=SIDE * SIDE, seed=seed)
    return ImagePairs(x.reshape(-1, 1, SIDE, SIDE), (y > 0).long(), keys)


class ImagePairsDataModule(LightningDataModule):
    def __init__(self, keys: tuple[str, str] = ("image", "label"), shuffle: bool = True) -> None:
        super().__init__()
        self.train_set, self.val_set = image_pairs(48, seed=1, keys=keys), image_pairs(24, seed=2, keys=keys)
        self.shuffle = shuffle

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=8, shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=16)


class ImageClassifier(LightningModule):
    def __init__(self, keys: tuple[str, str] = ("image", "label"), lr: float = 0.2) -> None:
        super().__init__()
        torch.manual_seed(0)  # the same initial weights (and shuffling) in every test
        self.net = nn.Sequential(nn.Linear(SIDE * SIDE, WIDTH), nn.LeakyReLU(0.2), nn.Linear(WIDTH, 1, bias=False))
        self.keys, self.lr = keys, lr
        self.steps_run = 0

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images.flatten(1))[:, 0]

    def _loss(self, batch: dict[str, Tensor]) -> Tensor:
        x, y = batch[self.keys[0]], batch[self.keys[1]]
        return nn.functional.binary_cross_entropy_with_logits(self(x), y.float())

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        self.steps_run += 1
        return self._loss(batch)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call, to see at which epochs the monitors logged."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append(dict(metrics))

    def epochs_with(self, key: str) -> list[int]:
        return [int(row["epoch"]) for row in self.rows if key in row]


def fit(
    callbacks: Sequence[Callback],
    tmp_path: Any,
    *,
    module: LightningModule | None = None,
    datamodule: LightningDataModule | None = None,
    epochs: int = 2,
    **trainer_kwargs: Any,
) -> tuple[Trainer, LightningModule]:
    module = module if module is not None else ImageClassifier()
    trainer_kwargs.setdefault("logger", False)
    trainer_kwargs.setdefault("enable_checkpointing", False)
    trainer_kwargs.setdefault("log_every_n_steps", 1)
    trainer = Trainer(
        max_epochs=epochs, callbacks=list(callbacks), default_root_dir=tmp_path, accelerator="cpu", devices=1,
        enable_progress_bar=False, enable_model_summary=False, **trainer_kwargs,
    )
    trainer.fit(module, datamodule=datamodule if datamodule is not None else ImagePairsDataModule())
    return trainer, module


def all_monitors() -> list[LinearTeacherMonitor]:
    return [ClusterRadiusMonitor(), LinearRegionMonitor(), NeuralAgreementMonitor(), MarginMonitor()]


MONITOR_SETS: dict[str, Callable[[], list[LinearTeacherMonitor]]] = {
    "combined": lambda: [LinearTeacherMonitor()],
    "four-monitors": all_monitors,
}


# ------------------------------------------------------------------------------- references
def documented_keys(monitor_type: type, splits: Sequence[str]) -> set[str]:
    """The keys a monitor's docstring documents: the combined table, or a subclass's "Logged metrics"."""
    doc = monitor_type.__doc__ or ""
    rules = [i for i, line in enumerate(doc.splitlines()) if re.fullmatch(r"\s*=+\s+=+\s*", line)]
    if rules:  # the table of LinearTeacherMonitor: key column, then meaning
        lines = doc.splitlines()
        width = len(lines[rules[0]].split()[0])
        cells = [line.strip()[:width] for line in lines[rules[1] + 1 : rules[2]]]
    else:
        cells = [doc.split("Logged metrics:")[1].split("\n\n")[0]]
    keys: list[str] = []
    for cell in cells:
        for token in re.findall(r"``([^`]+)``", cell):
            if "/" not in token and not token.startswith("..."):
                continue  # an argument named in the text, such as ``splits``
            keys.append(keys[-1].rsplit("_", 1)[0] + token[3:] if token.startswith("...") else token)
    return {k.replace("<split>", s) for k in keys for s in splits} | {k for k in keys if "<split>" not in k}


def functional_reference(
    module: nn.Module, splits: dict[str, tuple[Tensor, Tensor]], beta: float = 0.0
) -> dict[str, float]:
    """Every monitored value from the public functional API on the final weights, in float64."""
    view = two_layer_view(module)
    seq = next(m for m in module.modules() if isinstance(m, nn.Sequential))
    a = seq[2].weight[0].detach()
    theta_norm = math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in seq.parameters()))
    assert view.degree == 2 and view.param_norm == pytest.approx(theta_norm, rel=1e-12)
    w, u, alpha, scale = view.w, view.u, view.alpha, view.v
    values = {f"cluster/{name}": float(v) for name, v in cluster_radius(w, u)._asdict().items()}
    for split, (images, _) in splits.items():
        x = view.prepare_inputs(images)
        out = network_output(x, w, u, alpha, scale)
        assert torch.allclose(out, seq(images.flatten(1))[:, 0].double(), atol=1e-5)  # the view is the network
        values[f"linear_region/outside_fraction/{split}"] = float((~linear_region_mask(x, w, u)).double().mean())
        disagree = torch.sign(out) != torch.sign(x @ linear_direction(w, u))
        values[f"linear_region/disagreement/{split}"] = float(disagree.double().mean())
    images, labels = splits["train"]
    x = view.prepare_inputs(images)
    values.update({f"nar/{k}": float(v) for k, v in neural_agreement(x, w, u, beta)._asdict().items()})
    values.update({f"par/{k}": float(v) for k, v in par_fraction(x, labels, w, u, beta)._asdict().items()})
    q = margins(x, labels, w, u, alpha, scale)
    smoothed = float(smoothed_margin(q, theta_norm, degree=2))
    k = max(int((a > 0).sum()), int((a < 0).sum()))
    threshold = float(theorem_6_2_threshold(k, alpha, scale, x.norm(dim=1).max()))
    values.update({
        "margin/loss": float(logistic_loss(q).mean()),
        "margin/log_loss": float(log_sum_loss(q)) - math.log(q.shape[0]),
        "margin/accuracy": float((q > 0).double().mean()),
        "margin/normalized": float(normalized_margin(q, theta_norm, degree=2)),
        "margin/smoothed": smoothed,
        "margin/assumption_6_1": float(satisfies_assumption_6_1(log_sum_loss(q))),
        "margin/theorem_6_2_threshold": threshold,
        "margin/above_threshold": float(smoothed > threshold),
    })
    return values


def tensors(dataset: ImagePairs) -> tuple[Tensor, Tensor]:
    return dataset.images, dataset.labels


def last_values(monitors: Sequence[LinearTeacherMonitor]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for monitor in monitors:
        merged.update({k: v for k, v in monitor.history[-1].items() if k != "epoch"})
    return merged


def assert_matches(found: dict[str, float], expected: dict[str, float], tol: dict[str, float]) -> None:
    mismatched = {k: (found[k], expected[k]) for k in found if found[k] != pytest.approx(expected[k], **tol)}
    assert not mismatched, f"monitored != functional for {mismatched}"


# ------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("monitor_set", list(MONITOR_SETS), ids=list(MONITOR_SETS))
def test_every_documented_key_is_logged_and_equals_the_functional_api(monitor_set, tmp_path):
    monitors = MONITOR_SETS[monitor_set]()
    datamodule = ImagePairsDataModule()
    trainer, module = fit(monitors, tmp_path, datamodule=datamodule, epochs=3)

    documented = documented_keys(LinearTeacherMonitor, ("train", "val"))
    for monitor in monitors:
        assert [row["epoch"] for row in monitor.history] == [1.0, 2.0, 3.0]
        assert set(monitor.history[-1]) - {"epoch"} == documented_keys(type(monitor), ("train", "val"))
    values = last_values(monitors)
    assert set(values) == documented
    assert documented <= set(trainer.callback_metrics)

    expected = functional_reference(module, {"train": tensors(datamodule.train_set), "val": tensors(datamodule.val_set)})
    assert_matches(values, expected, HISTORY_TOL)
    logged = {k: float(trainer.callback_metrics[k]) for k in documented}
    assert_matches(logged, expected, LOGGED_TOL)


def test_monitors_do_not_change_the_training_run(tmp_path):
    """Evaluating must not draw from the global RNG that shuffles the training data."""
    _, bare = fit([], tmp_path, epochs=3)
    _, monitored = fit(all_monitors(), tmp_path, epochs=3)
    for p, q in zip(bare.parameters(), monitored.parameters()):
        assert torch.equal(p, q)


def test_neuron_that_changes_group_during_training(tmp_path):
    """A learned output weight that changes sign moves its neuron to the other group between evaluations."""

    class SignFlip(Callback):
        def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
            with torch.no_grad():
                pl_module.net[2].weight[0, :3] *= -1

    datamodule = ImagePairsDataModule()
    sizes = []

    class RecordSizes(Callback):
        def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
            view = two_layer_view(pl_module)
            sizes.append((view.w.shape[0], view.u.shape[0]))

    monitor = LinearTeacherMonitor()
    _, module = fit([SignFlip(), monitor, RecordSizes()], tmp_path, datamodule=datamodule, epochs=2, module=ImageClassifier(lr=1e-4))
    assert sizes[0] != sizes[1]
    expected = functional_reference(module, {"train": tensors(datamodule.train_set), "val": tensors(datamodule.val_set)})
    assert_matches(last_values([monitor]), expected, HISTORY_TOL)


class Points(IterableDataset):
    def __iter__(self):
        yield from zip(torch.zeros(4, SIDE * SIDE), torch.tensor([0, 1, 0, 1]))


def bad_data(case: str) -> dict[str, Any]:
    images, labels = tensors(image_pairs(16, seed=3))
    if case == "wrong-width":
        return {"train": (torch.zeros(16, SIDE * SIDE + 1), labels)}
    if case == "labels-2-3":
        return {"train": (images, labels + 2)}
    if case == "nan":
        return {"train": (images.index_put((torch.tensor([5]),), torch.tensor(math.nan)), labels)}
    if case == "iterable":
        return {"train": Points()}
    return {"train": DataLoader(Points(), batch_size=2)}


BAD_DATA = {
    "wrong-width": (ValueError, r"train data does not fit: Inputs must have 9 features .* got shape \(16, 10\)"),
    "labels-2-3": (ValueError, r"train data does not fit: `y` must hold labels in \{0, 1\} or \{-1, \+1\}, found values \[2.0, 3.0\]"),
    "nan": (ValueError, r"train data contains NaN or Inf inputs"),
    "iterable": (ValueError, r"train data is an iterable-style dataset"),
    "iterable-loader": (ValueError, r"train data is an iterable-style dataset"),
}


@pytest.mark.parametrize("case", list(BAD_DATA), ids=list(BAD_DATA))
def test_bad_data_fails_before_the_first_training_step(case, tmp_path):
    error, message = BAD_DATA[case]
    module = ImageClassifier()
    with pytest.raises(error, match=message) as raised:
        fit([LinearTeacherMonitor(data=bad_data(case))], tmp_path, module=module)
    assert "LinearTeacherMonitor" in str(raised.value)
    assert module.steps_run == 0 and module.trainer.global_step == 0


@pytest.mark.parametrize("case", ["labels-2-3", "nan"])
def test_bad_datamodule_fails_before_the_first_training_step(case, tmp_path):
    datamodule = ImagePairsDataModule()
    if case == "nan":
        datamodule.train_set.images[7, 0, 1, 1] = math.nan
    else:
        datamodule.train_set.labels += 2
    module = ImageClassifier()
    with pytest.raises(ValueError, match=BAD_DATA[case][1]):
        fit([MarginMonitor()], tmp_path, module=module, datamodule=datamodule)
    assert module.steps_run == 0 and module.trainer.global_step == 0


def test_an_empty_split_of_the_run_is_skipped_but_an_empty_data_split_is_an_error(tmp_path):
    datamodule = ImagePairsDataModule()
    datamodule.val_set = ImagePairs(datamodule.val_set.images[:0], datamodule.val_set.labels[:0])
    monitor = LinearRegionMonitor()
    fit([monitor], tmp_path, datamodule=datamodule, epochs=1)
    assert set(monitor.history[-1]) == {"epoch", "linear_region/outside_fraction/train", "linear_region/disagreement/train"}

    images, labels = tensors(image_pairs(16, seed=3))
    module = ImageClassifier()
    with pytest.raises(ValueError, match="LinearRegionMonitor: the val data is empty"):
        fit([LinearRegionMonitor(data={"train": (images, labels), "val": (images[:0], labels[:0])})], tmp_path, module=module)
    assert module.steps_run == 0


def test_unknown_batch_layout_fails_early_and_batch_to_xy_fixes_it(tmp_path):
    keys = ("pixels", "cls")
    module = ImageClassifier(keys=keys)
    with pytest.raises(TypeError, match=r"train data does not fit: Cannot find inputs and labels .*\['cls', 'pixels'\]"):
        fit([LinearTeacherMonitor()], tmp_path, module=module, datamodule=ImagePairsDataModule(keys=keys))
    assert module.steps_run == 0

    datamodule = ImagePairsDataModule(keys=keys)
    monitor = LinearTeacherMonitor(batch_to_xy=lambda batch: (batch["pixels"], batch["cls"]))
    _, module = fit([monitor], tmp_path, module=ImageClassifier(keys=keys), datamodule=datamodule)
    expected = functional_reference(module, {"train": tensors(datamodule.train_set), "val": tensors(datamodule.val_set)})
    assert_matches(last_values([monitor]), expected, HISTORY_TOL)


class WithReference(ImageClassifier):
    """Holds a second two-layer network (a frozen copy), so the one to analyse is ambiguous."""

    def __init__(self) -> None:
        super().__init__()
        self.reference = nn.Sequential(nn.Linear(SIDE * SIDE, 3), nn.LeakyReLU(0.5), nn.Linear(3, 1, bias=False))
        self.reference.requires_grad_(False)


def test_network_fn_picks_the_network_to_analyse(tmp_path):
    module = WithReference()
    with pytest.raises(ValueError, match=r"several two-layer Leaky-ReLU networks .*`net`, `reference`"):
        fit([LinearTeacherMonitor()], tmp_path, module=module)
    assert module.steps_run == 0

    datamodule = ImagePairsDataModule()
    monitor = LinearTeacherMonitor(network_fn=lambda m: m.net)
    _, module = fit([monitor], tmp_path, module=WithReference(), datamodule=datamodule)
    expected = functional_reference(module.net, {"train": tensors(datamodule.train_set), "val": tensors(datamodule.val_set)})
    assert_matches(last_values([monitor]), expected, HISTORY_TOL)


def test_max_samples_evaluates_a_fixed_seeded_subset(tmp_path):
    subsets = []
    for seed in (0, 1):
        evaluated = image_pairs(48, seed=1)
        monitor = LinearTeacherMonitor(("linear_region", "margin"), max_samples=10, sample_seed=seed, data={"train": evaluated})
        _, module = fit([monitor], tmp_path, epochs=3)
        subset = sorted(set(evaluated.seen))
        assert len(subset) == 10
        assert len(evaluated.seen) == 10 * 4  # the check at the start, then the same 10 points every epoch
        expected = functional_reference(module, {"train": (evaluated.images[subset], evaluated.labels[subset])})
        assert_matches(last_values([monitor]), {k: expected[k] for k in last_values([monitor])}, HISTORY_TOL)
        subsets.append(subset)
    assert subsets[0] != subsets[1]

    everything = image_pairs(48, seed=1)
    fit([LinearTeacherMonitor(("margin",), max_samples=1000, data={"train": everything})], tmp_path, epochs=1)
    assert sorted(set(everything.seen)) == list(range(len(everything)))


def test_every_n_epochs(tmp_path):
    logger = RecordingLogger()
    monitor = ClusterRadiusMonitor(every_n_epochs=2)
    fit([monitor], tmp_path, epochs=5, logger=logger)
    assert [row["epoch"] for row in monitor.history] == [2.0, 4.0, 5.0]  # and the last epoch
    assert logger.epochs_with("cluster/radius") == [1, 3, 4]  # Lightning counts epochs from 0


CONSTRUCTOR_ERRORS = [
    ({"groups": ("cluster", "nar")}, ValueError, r"`groups` must be one of .*got \('cluster', 'nar'\)"),
    ({"groups": ()}, ValueError, r"`groups` must be one of .* a non-empty subset"),
    ({"groups": "nar"}, ValueError, r"`groups` must be one of .*got 'nar'"),
    ({"splits": ("train", "dev")}, ValueError, r"`splits` must be one of .*got \('train', 'dev'\)"),
    ({"splits": ()}, ValueError, r"`splits` must be one of .* a non-empty subset"),
    ({"sample_seed": "a"}, TypeError, r"`sample_seed` must be an int >= 0, got str 'a'"),
    ({"every_n_epochs": 0}, ValueError, r"`every_n_epochs` must be an int >= 1, got 0"),
    ({"every_n_epochs": 1.5}, TypeError, r"`every_n_epochs` must be an int >= 1, got float 1.5"),
    ({"every_n_epochs": True}, TypeError, r"`every_n_epochs` must be an int >= 1, got bool True"),
    ({"max_samples": 0}, ValueError, r"`max_samples` must be None or an int >= 1, got 0"),
    ({"max_samples": 2.0}, TypeError, r"`max_samples` must be None or an int >= 1, got float 2.0"),
    ({"batch_size": 0}, ValueError, r"`batch_size` must be an int >= 1, got 0"),
    ({"beta": -0.1}, ValueError, r"`beta` must be a finite number >= 0, got -0.1"),
    ({"beta": math.nan}, ValueError, r"`beta` must be a finite number >= 0, got nan"),
    ({"beta": "0.1"}, TypeError, r"`beta` must be a finite number >= 0, got str"),
    ({"data": [torch.zeros(2, 2)]}, TypeError, r"`data` must be a mapping \{split: \(x, y\)\}, got list"),
    ({"data": {"dev": None}}, ValueError, r"`data` has unknown splits \['dev'\]"),
    ({"batch_to_xy": "xy"}, TypeError, r"`batch_to_xy` must be callable, got str"),
    ({"network_fn": 1}, TypeError, r"`network_fn` must be callable, got int"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"), CONSTRUCTOR_ERRORS, ids=[f"{next(iter(k))}={next(iter(k.values()))!r}" for k, *_ in CONSTRUCTOR_ERRORS]
)
def test_constructor_rejects_bad_arguments(kwargs, error, message):
    groups = kwargs.pop("groups", None)
    with pytest.raises(error, match=message):
        LinearTeacherMonitor(groups, **kwargs)


@pytest.mark.parametrize(
    ("monitor_type", "kwargs"),
    [(LinearRegionMonitor, {"splits": ("train", "dev")}), (NeuralAgreementMonitor, {"beta": -1.0}), (MarginMonitor, {"every_n_epochs": 0})],
    ids=["linear-region-splits", "agreement-beta", "margin-every-n"],
)
def test_subclasses_validate_too(monitor_type, kwargs):
    with pytest.raises(ValueError, match=rf"{monitor_type.__name__}: `{next(iter(kwargs))}`"):
        monitor_type(**kwargs)


def test_checkpoint_resume_keeps_history_and_epoch_numbering(tmp_path):
    uninterrupted = LinearTeacherMonitor()
    fit([uninterrupted], tmp_path / "full", epochs=3, datamodule=ImagePairsDataModule(shuffle=False))

    first = LinearTeacherMonitor()
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_train_epoch_end=True)
    fit([first, checkpoints], tmp_path / "first", epochs=2, enable_checkpointing=True, datamodule=ImagePairsDataModule(shuffle=False))
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"][first.state_key]
    assert [row["epoch"] for row in saved["history"]] == [1.0, 2.0]

    resumed, logger = LinearTeacherMonitor(), RecordingLogger()
    trainer = Trainer(
        max_epochs=3, callbacks=[resumed], default_root_dir=tmp_path / "resumed", logger=logger, accelerator="cpu", log_every_n_steps=1,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(ImageClassifier(), datamodule=ImagePairsDataModule(shuffle=False), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert [row["epoch"] for row in resumed.history] == [1.0, 2.0, 3.0]
    assert resumed.history[:2] == first.history
    assert logger.epochs_with("cluster/radius") == [2]
    for row, reference in zip(resumed.history, uninterrupted.history):
        assert_matches(row, reference, HISTORY_TOL)

    fresh = LinearTeacherMonitor()
    fresh.load_state_dict({})  # a checkpoint written before the monitor existed
    assert fresh.history == []


def test_monitors_with_different_arguments_keep_separate_state(tmp_path):
    monitors = [
        LinearRegionMonitor(splits=("train",)),
        LinearRegionMonitor(splits=("val",), every_n_epochs=2),
        NeuralAgreementMonitor(beta=0.05),
        LinearTeacherMonitor(("cluster", "margin"), max_samples=20),
    ]
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_train_epoch_end=True)
    trainer, _ = fit([*monitors, checkpoints], tmp_path, epochs=2, enable_checkpointing=True)
    assert len({m.state_key for m in monitors}) == len(monitors)
    assert set(monitors[0].history[-1]) == {"epoch", "linear_region/outside_fraction/train", "linear_region/disagreement/train"}
    assert [row["epoch"] for row in monitors[1].history] == [2.0]
    assert set(monitors[1].history[-1]) == {"epoch", "linear_region/outside_fraction/val", "linear_region/disagreement/val"}
    for key in ("linear_region/outside_fraction/train", "linear_region/outside_fraction/val", "nar/in_nar", "margin/loss"):
        assert key in trainer.callback_metrics

    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"]
    restored = [LinearRegionMonitor(splits=("train",)), LinearRegionMonitor(splits=("val",)), NeuralAgreementMonitor(beta=0.05)]
    restored.append(LinearTeacherMonitor(("cluster", "margin")))
    for monitor, original in zip(restored, monitors):
        monitor.load_state_dict(saved[monitor.state_key])
        assert monitor.history == original.history


@pytest.mark.parametrize(
    "monitors",
    [
        lambda: [NeuralAgreementMonitor(beta=0.0), NeuralAgreementMonitor(beta=0.3)],
        lambda: [LinearTeacherMonitor(), MarginMonitor()],
        lambda: [LinearRegionMonitor(splits=("train", "val")), LinearRegionMonitor(splits=("val", "test"))],
    ],
    ids=["two-betas", "combined-and-margin", "overlapping-splits"],
)
def test_monitors_logging_the_same_key_are_rejected(monitors, tmp_path):
    """Lightning would silently average two values logged under one key."""
    module = ImageClassifier()
    with pytest.raises(ValueError, match=r"both log \[.*\]; Lightning would average"):
        fit(monitors(), tmp_path, module=module)
    assert module.steps_run == 0


def test_one_name_is_accepted_for_groups_and_splits():
    monitor = LinearTeacherMonitor(groups="cluster", splits="train")
    assert monitor.groups == ("cluster",) and monitor.splits == ("train",)


class LazyTestSplitDataModule(LightningDataModule):
    """The common pattern: the test set is built only in setup('test'), so test_dataloader() fails during fit."""

    def setup(self, stage: str) -> None:
        x, y = separable_gaussians(n=20, d=2, seed=1)
        self.train_set = torch.utils.data.TensorDataset(x, y)
        if stage == "test":
            self.test_set = torch.utils.data.TensorDataset(x, y)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=5)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=5)


def test_a_split_the_datamodule_cannot_serve_during_fit_is_skipped_with_a_warning(tmp_path):
    from lt_teacher import LeakyReLUTeacherNet

    monitor = LinearTeacherMonitor()
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, callbacks=[monitor])
    with pytest.warns(UserWarning, match=r"skipping the test split.*test_dataloader\(\) failed.*setup\('test'\)"):
        trainer.fit(LeakyReLUTeacherNet(input_dim=2, k=2), datamodule=LazyTestSplitDataModule())
    assert "linear_region/outside_fraction/train" in monitor.history[-1]
    assert not any(key.endswith("/test") for key in monitor.history[-1])
