"""The training loader a datamodule serves a model that trains in its own per-example order (issue 11, item 2).

The fused and reference engines read the whole training split once and draw their own permutations; the
loader only paces Lightning's steps. The datamodule then serves consecutive views of the split (no shuffled
copy of the data every epoch). What must hold: the same number of batches, batches that are views of the
stored tensors covering every point once, the same trained weights as with the usual shuffled loader, the
usual loader for ``engine="lightning"`` (which reads the batches), and monitors that still know the points.
"""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, RandomSampler

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher._sources import sampler_indices
from lt_teacher.datamodules import LinearTeacherDataModule
from lt_teacher.datamodules._base import BatchIndexedTensors, ConsecutiveBatches, keep_batch


class LoaderProbe(Callback):
    """Records the training loader of the run and the data pointers of the first epoch's batches."""

    def __init__(self) -> None:
        self.loader: DataLoader | None = None
        self.pointers: list[int] = []
        self.sizes: list[int] = []

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: object, batch_idx: int) -> None:
        self.loader = trainer.train_dataloader
        if trainer.current_epoch == 0:
            x, _ = batch  # type: ignore[misc]
            self.pointers.append(x.data_ptr())
            self.sizes.append(x.shape[0])


def _fit(engine: str, batch_size: int, epochs: int = 2) -> tuple[LeakyReLUTeacherNet, LinearTeacherDataModule, LoaderProbe]:
    data = LinearTeacherDataModule(dim=5, n_train=37, n_val=0, n_test=0, batch_size=batch_size, seed=3)
    net = LeakyReLUTeacherNet(input_dim=5, k=3, engine=engine, lr=0.05, init_std=0.1, num_seeds=2)
    probe = LoaderProbe()
    trainer = Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[probe],
    )
    trainer.fit(net, datamodule=data)
    return net, data, probe


@pytest.mark.parametrize("batch_size", [1, 8, 37, 100])
def test_a_fused_model_gets_consecutive_views_of_the_split(batch_size: int) -> None:
    net, data, probe = _fit("fused", batch_size)
    assert net.reads_training_batches is False
    assert probe.loader is not None and isinstance(probe.loader.batch_sampler, ConsecutiveBatches)
    x, _ = data.train_tensors()
    n = x.shape[0]
    assert len(probe.sizes) == -(-n // batch_size) and sum(probe.sizes) == n  # as many batches as the usual loader
    row = x.element_size() * x.shape[1]
    assert probe.pointers == [x.data_ptr() + start * row for start in range(0, n, batch_size)]  # views, in order


def test_the_pacing_loader_trains_the_same_weights_as_a_shuffled_one() -> None:
    data = LinearTeacherDataModule(dim=5, n_train=37, n_val=0, n_test=0, batch_size=8, seed=3)
    torch.manual_seed(0)
    first = LeakyReLUTeacherNet(input_dim=5, k=3, engine="fused", lr=0.05, init_std=0.1, num_seeds=2)
    torch.manual_seed(0)
    second = LeakyReLUTeacherNet(input_dim=5, k=3, engine="fused", lr=0.05, init_std=0.1, num_seeds=2)
    data.setup("fit")
    x, y = data.train_tensors()
    user_loader = DataLoader(BatchIndexedTensors(x, y), batch_size=8, shuffle=True, collate_fn=keep_batch)
    for net, fit_kwargs in ((first, {"datamodule": data}), (second, {"train_dataloaders": user_loader})):
        Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False).fit(net, **fit_kwargs)
    assert torch.equal(first.weight, second.weight)


def test_the_lightning_engine_reads_shuffled_batches() -> None:
    net, _, probe = _fit("lightning", 8)
    assert net.reads_training_batches is True
    assert probe.loader is not None and isinstance(probe.loader.sampler, RandomSampler)


def test_the_consecutive_sampler_covers_the_split_once_and_monitors_know_it() -> None:
    batches = list(ConsecutiveBatches(10, 4))
    assert batches == [slice(0, 4), slice(4, 8), slice(8, 10)] and len(ConsecutiveBatches(10, 4)) == 3
    assert list(ConsecutiveBatches(0, 4)) == [] and len(ConsecutiveBatches(0, 4)) == 0
    dataset = BatchIndexedTensors(torch.arange(10.0)[:, None], torch.ones(10))
    x, _ = dataset.__getitems__(slice(4, 8))
    assert x.data_ptr() == dataset.tensors[0].data_ptr() + 4 * x.element_size()
    assert sampler_indices(ConsecutiveBatches(10, 4), 10, "train", "test") is None  # the whole split


@pytest.mark.parametrize(("kwargs", "error"), [({"n": -1, "batch_size": 2}, ValueError), ({"n": 3, "batch_size": 0}, ValueError), ({"n": 3.0, "batch_size": 2}, TypeError)])
def test_bad_sampler_arguments_are_named(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error, match=next(iter(k for k in kwargs if kwargs[k] in (-1, 0, 3.0)))):
        ConsecutiveBatches(**kwargs)
