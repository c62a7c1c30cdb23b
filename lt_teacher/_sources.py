"""Finding the data a run trains and evaluates on (shared by the module's engines and the monitors)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from lt_teacher._batch import default_batch_to_xy

Collate = Callable[[list[Any]], Any]


def _dataset_of(loader: Any, split: str, owner: str) -> tuple[Dataset, Collate | None]:
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


def _as_dataset(value: Any, split: str, owner: str) -> tuple[Dataset, Collate | None]:
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, Tensor) for v in value):
        x, y = value
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{owner}: `data['{split}']` has {x.shape[0]} inputs but {y.shape[0]} labels.")
        return TensorDataset(x, y), None
    return _dataset_of(value, split, owner)


def resolve_datasets(
    trainer: Trainer, data: Mapping[str, Any] | None, splits: tuple[str, ...], owner: str
) -> dict[str, tuple[Dataset, Collate | None]]:
    """The datasets to evaluate: from ``data`` if given, else the datamodule or the trainer's loaders."""
    found: dict[str, tuple[Dataset, Collate | None]] = {}
    if data is not None:
        for split in splits:
            if split in data and data[split] is not None:
                found[split] = _as_dataset(data[split], split, owner)
        return found
    datamodule = trainer.datamodule
    for split in splits:
        loader: Any = None
        if datamodule is not None and is_overridden(f"{split}_dataloader", datamodule):
            try:
                loader = getattr(datamodule, f"{split}_dataloader")()
            except Exception as err:  # e.g. test data built only in setup("test")
                if split == "train":
                    raise ValueError(f"{owner}: the datamodule's train_dataloader() failed: {err!r}") from err
                stage = "test" if split == "test" else "validate"
                rank_zero_warn(
                    f"{owner}: skipping the {split} split: {type(datamodule).__name__}.{split}_dataloader() failed during "
                    f"fit ({err!r}); it may build that split only in setup('{stage}'). "
                    f"Pass `splits` without '{split}', or the points with `data={{'{split}': (x, y)}}`."
                )
                continue
        elif split == "train":
            loader = trainer.train_dataloader
        elif split == "val":
            loader = trainer.val_dataloaders
        if loader is not None:
            found[split] = _dataset_of(loader, split, owner)
    return found



def training_dataset(trainer: Trainer, owner: str) -> tuple[Dataset, Collate | None]:
    """The training set of a run (datamodule's or trainer's train loader)."""
    found = resolve_datasets(trainer, None, ("train",), owner)
    if "train" not in found:
        raise ValueError(f"{owner}: found no training data; pass a train DataLoader or a datamodule to `fit`.")
    return found["train"]


def stack_dataset(dataset: Dataset, collate: Collate | None, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
    """A whole map-style dataset as (x, y) tensors, x flattened to (n, features)."""
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors[0], dataset.tensors[1]
        return x.reshape(x.shape[0], -1), y
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError("Per-example SGD needs a map-style training dataset (with a length), got an iterable one.")
    xs, ys = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        x, y = default_batch_to_xy(batch)
        xs.append(x.reshape(x.shape[0], -1))
        ys.append(y.reshape(-1))
    return torch.cat(xs), torch.cat(ys)
