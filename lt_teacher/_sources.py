"""Finding the data a run trains and evaluates on (shared by the module's engines and the monitors)."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from lt_teacher._batch import default_batch_to_xy

Collate = Callable[[list[Any]], Any]


def _unknowable(split: str, owner: str, what: str) -> ValueError:
    return ValueError(
        f"{owner}: cannot tell which points the {split} loader yields: its sampler {what}. The diagnostics are exact on a fixed set "
        f"of points; pass the points to evaluate with `data={{'{split}': (x, y)}}` (or a Dataset), or use a loader whose "
        "sampler visits a fixed set of indices (SequentialSampler, RandomSampler, SubsetRandomSampler)."
    )


def _flat_indices(sampler: Iterable[Any], n: int) -> list[int]:
    indices: list[int] = []
    for item in sampler:
        if isinstance(item, slice):  # a batch sampler of consecutive runs (datamodules' ConsecutiveBatches)
            indices.extend(range(*item.indices(n)))
        elif isinstance(item, (list, tuple)) or (isinstance(item, Tensor) and item.ndim > 0):
            indices.extend(int(i) for i in item)  # a batch sampler yields lists of indices
        else:
            indices.append(int(item))
    return indices


def _probe(sampler: Any, n: int, split: str, owner: str) -> list[int]:
    """The indices a sampler of unknown type visits in one epoch, if they are the same under two RNG states.

    The sampler is deep-copied and iterated twice with different seeds of every global RNG (and of any
    torch.Generator it holds); the RNG states are restored, so the training run is not changed.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    runs: list[list[int]] = []
    try:
        with torch.random.fork_rng(devices=[]):
            for seed in (1, 2):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
                probe = copy.deepcopy(sampler)
                for value in vars(probe).values() if hasattr(probe, "__dict__") else ():
                    if isinstance(value, torch.Generator):
                        value.manual_seed(seed)
                runs.append(sorted(_flat_indices(probe, n)))
    except Exception as err:  # noqa: BLE001: any failure means the set of points is unknown
        raise _unknowable(split, owner, f"({type(sampler).__name__}) cannot be copied and iterated ({err!r})") from err
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    if runs[0] != runs[1]:
        raise _unknowable(split, owner, f"({type(sampler).__name__}) visits different points from one epoch to the next")
    return runs[0]


def sampler_indices(sampler: Any, n: int, split: str, owner: str) -> list[int] | None:
    """The indices of a map-style dataset of length ``n`` that ``sampler`` visits in an epoch (with repeats).

    None means every index once (the whole dataset). A ``DistributedSampler`` counts as the whole
    dataset: the monitors divide the points among processes themselves, without its padding. A sequential
    loader with ``drop_last=True`` yields its full batches only; with shuffling the dropped points change from
    epoch to epoch and every point counts (as for the training set, whose every point is trained on).

    Raises:
        ValueError: the set changes from epoch to epoch (weighted sampling, replacement, a random subset).
    """
    wrapped = getattr(getattr(sampler, "dataset", None), "_sampler", None)
    if isinstance(sampler, DistributedSampler) and wrapped is not None:  # Lightning's wrapper of a custom sampler
        return sampler_indices(wrapped, n, split, owner)
    if isinstance(sampler, BatchSampler):
        if sampler.drop_last and isinstance(sampler.sampler, SequentialSampler) and len(sampler) * sampler.batch_size < n:
            return list(range(len(sampler) * sampler.batch_size))  # the full batches: the loader drops the rest
        return sampler_indices(sampler.sampler, n, split, owner)
    if isinstance(sampler, (DistributedSampler, SequentialSampler)):
        return None
    if isinstance(sampler, WeightedRandomSampler):
        return _raise(_unknowable(split, owner, "(WeightedRandomSampler) draws points at random with replacement"))
    if isinstance(sampler, RandomSampler):
        if sampler.replacement:
            return _raise(_unknowable(split, owner, "(RandomSampler with replacement=True) draws points with replacement"))
        if sampler.num_samples != n:
            return _raise(_unknowable(split, owner, f"(RandomSampler with num_samples={sampler.num_samples}) draws a random {sampler.num_samples} of {n} points each epoch"))
        return None
    if isinstance(sampler, SubsetRandomSampler):
        return sorted(int(i) for i in sampler.indices)
    indices = _probe(sampler, n, split, owner)
    return None if indices == list(range(n)) else indices


def _raise(error: Exception) -> Any:
    raise error


def _loader_dataset(loader: DataLoader, split: str, owner: str) -> Dataset:
    """The loader's dataset restricted to the indices its sampler selects."""
    dataset = loader.dataset
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        return dataset  # make_source explains that iterable data cannot be evaluated exactly
    sampler = loader.batch_sampler if loader.batch_sampler is not None else loader.sampler
    indices = sampler_indices(sampler, len(dataset), split, owner)
    if indices is None:
        return dataset
    if isinstance(dataset, TensorDataset):
        chosen = torch.as_tensor(indices, dtype=torch.long)
        return TensorDataset(*(t[chosen] for t in dataset.tensors))
    return Subset(dataset, indices)


def _dataset_of(loader: Any, split: str, owner: str) -> tuple[Dataset, Collate | None]:
    if isinstance(loader, (list, tuple)) and len(loader) == 1:
        loader = loader[0]
    if isinstance(loader, DataLoader):
        return _loader_dataset(loader, split, owner), loader.collate_fn
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


def datasets_from_data(
    data: Mapping[str, Any], splits: tuple[str, ...], owner: str
) -> dict[str, tuple[Dataset, Collate | None]]:
    """``{split: (dataset, collate_fn)}`` from ``{split: (x, y) | Dataset | DataLoader}``, for the given splits.

    A loader stands for the points its sampler visits (a fixed set of indices, else a ValueError).
    """
    found: dict[str, tuple[Dataset, Collate | None]] = {}
    for split in splits:
        if split in data and data[split] is not None:
            found[split] = _as_dataset(data[split], split, owner)
    return found


#: The trainer's property holding the loader Lightning made for each split in the running stage.
_RUNNING_LOADER = {"train": "train_dataloader", "val": "val_dataloaders", "test": "test_dataloaders"}


def _declared_source(trainer: Trainer, split: str) -> Any:
    """Lightning's record of where the split's loader comes from in this run (the loaders given to ``fit``/
    ``validate``/``test``, or the datamodule or module whose ``<split>_dataloader`` makes it); None if this
    Lightning version keeps it elsewhere."""
    fitting = trainer.state.fn == TrainerFn.FITTING
    loops = {
        "train": getattr(trainer, "fit_loop", None),
        "val": getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None), "val_loop", None) if fitting
        else getattr(trainer, "validate_loop", None),
        "test": getattr(trainer, "test_loop", None),
    }
    source = getattr(loops[split], "_data_source", None)
    return source if callable(getattr(source, "is_defined", None)) and callable(getattr(source, "dataloader", None)) else None


def _split_loader(trainer: Trainer, split: str, owner: str) -> Any:
    """The loader of ``split`` in this run, as Lightning uses it.

    The loader Lightning already made for the running stage (``trainer.train_dataloader`` during ``fit``, so
    the monitors read exactly the points the model trains on, also when ``train_dataloader()`` is not
    deterministic or the loaders are reloaded), else the one the run declares, asked for now (the validation
    loader before the first validation, the test split of a datamodule during ``fit``).
    """
    loader = getattr(trainer, _RUNNING_LOADER[split], None)
    if loader is not None:
        return loader
    source = _declared_source(trainer, split)
    datamodule = trainer.datamodule  # type: ignore[attr-defined]
    if datamodule is not None and is_overridden(f"{split}_dataloader", datamodule):
        make = getattr(datamodule, f"{split}_dataloader")
    elif source is not None and source.is_defined():  # loaders given to fit/validate/test (or the module's methods)
        make = source.dataloader
    else:
        return None
    try:
        return make()
    except Exception as err:  # e.g. test data built only in setup("test"), training data only in setup("fit")
        if split == "train" and trainer.state.fn == TrainerFn.FITTING:
            raise ValueError(f"{owner}: the run's train_dataloader() failed: {err!r}") from err
        stage = {"train": "fit", "val": "validate", "test": "test"}[split]
        rank_zero_warn(
            f"{owner}: skipping the {split} split: its {split}_dataloader() failed during {getattr(trainer.state.fn, 'value', 'the run')} "
            f"({err!r}); it may build that split only in setup('{stage}'). "
            f"Pass `splits` without '{split}', or the points with `data={{'{split}': (x, y)}}`."
        )
        return None


def resolve_datasets(
    trainer: Trainer, data: Mapping[str, Any] | None, splits: tuple[str, ...], owner: str
) -> dict[str, tuple[Dataset, Collate | None]]:
    """The datasets to evaluate: from ``data`` if given, else the run's loaders (:func:`_split_loader`)."""
    if data is not None:
        return datasets_from_data(data, splits, owner)
    found: dict[str, tuple[Dataset, Collate | None]] = {}
    for split in splits:
        loader = _split_loader(trainer, split, owner)
        if isinstance(loader, (list, tuple)) and len(loader) == 1:
            loader = loader[0]
        if loader is not None:
            dataset, collate = _dataset_of(loader, split, owner)
            found[split] = (_within_batch_limit(trainer, split, loader, dataset, owner), collate)
    return found


_LIMITS = {"train": "limit_train_batches", "val": "limit_val_batches", "test": "limit_test_batches"}


def _within_batch_limit(trainer: Trainer, split: str, loader: Any, dataset: Dataset, owner: str) -> Dataset:
    """The points of ``dataset`` that Lightning's ``limit_<split>_batches`` lets the loader yield.

    With a limit, Lightning runs only the first batches of the loader per epoch (per process under DDP). A
    sequential loader then yields the same leading points every epoch, and those are the split (as a sequential
    ``drop_last`` loader's full batches are); a shuffled one yields another subset every epoch, so every point
    counts, with a warning. A module that draws its own per-example order over the whole training set
    (``reads_training_batches`` False: LeakyReLUTeacherNet's engines) trains on every point whatever the limit.
    """
    limit = getattr(trainer, _LIMITS[split], 1.0)  # an int is a number of batches (1: one batch), a float a fraction
    if (isinstance(limit, float) and limit >= 1.0) or not isinstance(loader, DataLoader) or isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        return dataset
    if split == "train" and getattr(trainer.lightning_module, "reads_training_batches", True) is False:
        return dataset
    batches = loader.batch_sampler
    sampler = batches.sampler if isinstance(batches, BatchSampler) else loader.sampler
    batch_size = batches.batch_size if isinstance(batches, BatchSampler) else loader.batch_size
    drop_last = batches.drop_last if isinstance(batches, BatchSampler) else loader.drop_last
    world = max(1, trainer.world_size)
    per_process = len(loader)  # batches per epoch
    lightning_shards = bool(getattr(getattr(trainer, "_accelerator_connector", None), "use_distributed_sampler", True))
    if not lightning_shards:  # every process runs the first batches of the whole loader
        world = 1
    elif batch_size is not None and world > 1 and not isinstance(sampler, DistributedSampler):
        points = -(-len(loader.dataset) // world)  # type: ignore[arg-type]  # Lightning's DistributedSampler: ceil(n / world) each
        per_process = points // batch_size if drop_last else -(-points // batch_size)
    kept = min(per_process, int(limit)) if isinstance(limit, int) else int(per_process * limit)
    if kept >= per_process:
        return dataset
    if batch_size is not None and _in_order(sampler):
        leading = min(len(dataset), world * kept * batch_size)  # type: ignore[arg-type]
        if isinstance(dataset, TensorDataset):
            return TensorDataset(*(t[:leading] for t in dataset.tensors))
        return Subset(dataset, range(leading))
    rank_zero_warn(
        f"{owner}: `{_LIMITS[split]}={limit}` runs {kept} of the {per_process} batches of the {split} loader per epoch"
        f"{' and process' if world > 1 else ''}, a different subset each epoch (its sampler is not sequential): the {split} "
        f"keys are computed on all {len(dataset)} points it can yield. Pass `data={{'{split}': (x, y)}}` to evaluate other points."  # type: ignore[arg-type]
    )
    return dataset


def _in_order(sampler: Any) -> bool:
    """Whether ``sampler`` visits 0, 1, 2, ... (per process with a DistributedSampler that does not shuffle)."""
    if isinstance(sampler, DistributedSampler):
        wrapped = getattr(getattr(sampler, "dataset", None), "_sampler", None)  # Lightning's wrapper of a custom sampler
        return not sampler.shuffle and (wrapped is None or _in_order(wrapped))
    return isinstance(sampler, SequentialSampler)


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
