"""Where a monitor's evaluation data come from, and how a process gets its shard without padding."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

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
        )
        yield from loader


def _dataset_of(loader: Any, split: str, owner: str) -> tuple[Dataset, Callable[[list[Any]], Any] | None]:
    if isinstance(loader, (list, tuple)) and len(loader) == 1:
        loader = loader[0]
    if isinstance(loader, DataLoader):
        return loader.dataset, loader.collate_fn
    if isinstance(loader, Dataset):
        return loader, None
    raise ValueError(
        f"{owner}: cannot evaluate the {split} data: found {type(loader).__name__}, expected one DataLoader or "
        "Dataset. Pass the points to the callback with `data={'" + split + "': (x, y)}`."
    )


def _as_dataset(value: Any, split: str, owner: str) -> tuple[Dataset, Callable[[list[Any]], Any] | None]:
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, Tensor) for v in value):
        x, y = value
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{owner}: `data['{split}']` has {x.shape[0]} inputs but {y.shape[0]} labels.")
        return TensorDataset(x, y), None
    return _dataset_of(value, split, owner)


def resolve_datasets(
    trainer: Trainer, data: Mapping[str, Any] | None, splits: tuple[str, ...], owner: str
) -> dict[str, tuple[Dataset, Callable[[list[Any]], Any] | None]]:
    """The datasets to evaluate: from ``data`` if given, else the datamodule or the trainer's loaders."""
    found: dict[str, tuple[Dataset, Callable[[list[Any]], Any] | None]] = {}
    if data is not None:
        for split in splits:
            if split in data and data[split] is not None:
                found[split] = _as_dataset(data[split], split, owner)
        return found
    datamodule = trainer.datamodule
    for split in splits:
        loader: Any = None
        if datamodule is not None and is_overridden(f"{split}_dataloader", datamodule):
            loader = getattr(datamodule, f"{split}_dataloader")()
        elif split == "train":
            loader = trainer.train_dataloader
        elif split == "val":
            loader = trainer.val_dataloaders
        if loader is not None:
            found[split] = _dataset_of(loader, split, owner)
    return found


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
