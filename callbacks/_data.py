"""Where a monitor's evaluation data come from, and how a process gets its shard without padding."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch import Trainer
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

from lt_teacher._sources import resolve_datasets
from lt_teacher.functional._checks import signed_labels

__all__ = ["SPLITS", "BatchToXY", "EvaluationSource", "all_training_points", "make_source", "resolve_datasets"]

SPLITS = ("train", "val", "test")
BatchToXY = Callable[[Any], "tuple[Tensor, Tensor]"]


@dataclass
class EvaluationSource:
    """The (capped) points of one split that this process evaluates.

    Map-style data are indexed directly: process r of w takes every w-th index starting at r, so no
    point is evaluated twice (a ``DistributedSampler`` would pad the shards with duplicates).
    """

    split: str
    dataset: Dataset
    indices: Tensor  # this process's shard of the (capped) index set
    total: int  # size of the capped index set over all processes
    collate_fn: Callable[[list[Any]], Any] | None
    batch_size: int

    def batches(self) -> Iterator[Any]:
        if isinstance(self.dataset, TensorDataset):  # slice tensors directly: no per-item overhead
            for start in range(0, self.indices.numel(), self.batch_size):
                idx = self.indices[start : start + self.batch_size]
                yield tuple(t[idx] for t in self.dataset.tensors)
            return
        loader = DataLoader(
            Subset(self.dataset, self.indices.tolist()),
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=self.collate_fn,
            # Every DataLoader iterator draws a base seed from its generator; with the default (the
            # global RNG) an evaluation would shift the training loader's shuffling and change the run.
            generator=torch.Generator(),
        )
        yield from loader


def make_source(
    split: str,
    dataset: Dataset,
    collate_fn: Callable[[list[Any]], Any] | None,
    *,
    max_samples: int | None,
    sample_seed: int,
    batch_size: int,
    rank: int,
    world_size: int,
    owner: str,
) -> EvaluationSource:
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError(
            f"{owner}: the {split} data is an iterable-style dataset, which cannot be evaluated exactly once per point "
            "(and split among processes without duplicates). Pass map-style data or tensors with `data=`."
        )
    n = len(dataset)  # type: ignore[arg-type]
    if max_samples is not None and n > max_samples:
        generator = torch.Generator().manual_seed(sample_seed)
        indices = torch.randperm(n, generator=generator)[:max_samples].sort().values
    else:
        indices = torch.arange(n)
    return EvaluationSource(split, dataset, indices[rank::world_size], int(indices.numel()), collate_fn, batch_size)


def all_training_points(
    trainer: Trainer,
    data: Mapping[str, Any] | None,
    batch_to_xy: BatchToXY,
    *,
    max_samples: int | None,
    sample_seed: int,
    batch_size: int,
    owner: str,
) -> tuple[Tensor, Tensor]:
    """Every (capped) training point, on every process: ``(x, y)`` with y in {-1, +1} (float64).

    Unlike the sharded evaluation of :class:`LinearTeacherMonitor`, each process reads the whole
    (capped, seeded) set: ``make_source`` is called with ``rank=0, world_size=1``. No collective is
    involved, so every process ends with the same points.
    """
    datasets = resolve_datasets(trainer, data, ("train",), owner)
    if "train" not in datasets:
        raise ValueError(f"{owner}: found no training data; pass `data={{'train': (x, y)}}`.")
    dataset, collate = datasets["train"]
    source = make_source(
        "train", dataset, collate, max_samples=max_samples, sample_seed=sample_seed, batch_size=batch_size,
        rank=0, world_size=1, owner=owner,
    )
    xs: list[Tensor] = []
    ys: list[Tensor] = []
    for batch in source.batches():
        try:
            x, y = batch_to_xy(batch)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{owner}: the training data does not fit: {err}") from err
        xs.append(x.detach().cpu())
        ys.append(y.detach().cpu())
    if not xs:
        raise ValueError(f"{owner}: the training data is empty.")
    x_all, y_all = torch.cat(xs), torch.cat(ys)
    try:
        y_signed = signed_labels(y_all, x_all.shape[0]).to(torch.float64)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{owner}: the training labels do not fit: {err}") from err
    if not bool(torch.isfinite(x_all.to(torch.float64)).all()):
        raise ValueError(f"{owner}: the training data contains NaN or Inf inputs; expected finite values.")
    return x_all, y_signed
