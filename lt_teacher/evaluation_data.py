"""The points an evaluation reads: one split's (capped, sharded) indices and its checked batches.

No Trainer is involved: a process says which shard it takes (``rank``, ``world_size``), and map-style data
are indexed directly, so process r of w takes every w-th index starting at r and no point is evaluated
twice (a ``DistributedSampler`` would pad the shards with duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

from lt_teacher._batch import batch_xy
from lt_teacher._validation import all_finite
from lt_teacher.functional._checks import signed_labels
from lt_teacher.functional._numerics import row_norms

__all__ = [
    "SPLITS", "BatchToXY", "EvaluationSource", "HeadInputs", "check_loaded_network", "check_split_data", "make_source",
    "read_split",
]

SPLITS = ("train", "val", "test")


def check_split_data(data: object, owner: str) -> None:
    """``data`` given to a monitor or an evaluator: ``None`` or a mapping whose keys are among :data:`SPLITS`.

    Raises:
        TypeError: not a mapping.
        ValueError: a key that is not a split (a typo would otherwise leave that split silently unevaluated).
    """
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"{owner}: `data` must be a mapping {{split: (x, y)}}, got {type(data).__name__}.")
    if extra := [s for s in data if s not in SPLITS]:
        raise ValueError(f"{owner}: `data` has unknown splits {extra}; expected keys among {SPLITS}.")


def check_loaded_network(loaded: tuple[int, bool] | None, found: tuple[int, bool], groups: Sequence[str], owner: str) -> None:
    """The data are loaded, for a network of the same ``(input_dim, bias)`` as ``found`` (its inputs were prepared for it).

    Args:
        loaded: ``(input_dim, bias)`` of the network the data were loaded for; None when nothing is loaded.
        found: that of the network to evaluate.
        groups: the chosen diagnostics evaluated on data, for the message.

    Raises:
        RuntimeError: nothing is loaded.
        ValueError: another input width or bias.
    """
    if loaded is None:
        raise RuntimeError(
            f"{owner}: the diagnostics {tuple(groups)} are evaluated on data, but no data is loaded; call "
            "`load({'train': (x, y)}, network)` first, or pass groups=('cluster',) for the data-free diagnostics."
        )
    if found != loaded:
        (d0, b0), (d1, b1) = loaded, found
        raise ValueError(
            f"{owner}: the data were loaded for a network with input_dim={d0}, bias={b0}, but `compute` got one with "
            f"input_dim={d1}, bias={b1}; call `load` again with this network."
        )


BatchToXY = Callable[[Any], "tuple[Tensor, Tensor]"]
HeadInputs = Callable[[Tensor], Tensor]  # raw inputs of a batch -> float64 inputs of the analysed network


@dataclass
class EvaluationSource:
    """The (capped) points of one split that this process evaluates.

    Attributes:
        split: ``"train"``, ``"val"`` or ``"test"``.
        dataset: the split's map-style dataset.
        indices: this process's shard of the (capped) index set.
        total: size of the capped index set over all processes.
        collate_fn: the collate function of the split's loader, if any.
        batch_size: evaluation batch size.
    """

    split: str
    dataset: Dataset
    indices: Tensor
    total: int
    collate_fn: Callable[[list[Any]], Any] | None
    batch_size: int

    def batches(self) -> Iterator[Any]:
        """This process's points in batches, as the dataset (and its collate function) gives them."""
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
    """The shard of process ``rank`` of ``world_size`` of a split capped at ``max_samples`` (a seeded subset)."""
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


def read_split(
    source: EvaluationSource, batch_to_xy: BatchToXY, prepare: HeadInputs | None, owner: str
) -> tuple[list[tuple[Tensor, Tensor]], list[tuple[Tensor, Tensor, Tensor]], Tensor | None]:
    """Read and check every batch of this process's shard of a split.

    Args:
        source: the shard.
        batch_to_xy: turns a batch into ``(x, y)``.
        prepare: ``prepare(x)`` returns the float64 inputs of the analysed network (flattened, with the bias
            coordinate); ``None`` when they are computed later from the raw inputs (a learned backbone).
        owner: who reads, for the messages.

    Returns:
        ``(raw, prepared, first)``: with ``prepare`` the prepared batches (float64 inputs, labels +-1, norms) and
        ``raw`` empty; without it the raw batches (inputs as given, labels +-1) and ``prepared`` empty; and the
        inputs of the first batch as the loader gives them.
    """
    raw: list[tuple[Tensor, Tensor]] = []
    prepared: list[tuple[Tensor, Tensor, Tensor]] = []
    first: Tensor | None = None
    for batch in source.batches():
        try:
            x, y = batch_xy(batch_to_xy, batch)
            labels = signed_labels(y, x.shape[0])
        except (TypeError, ValueError) as err:
            raise type(err)(f"{owner}: the {source.split} data does not fit: {err}") from err
        try:
            x64 = prepare(x) if prepare is not None else x
        except (TypeError, ValueError) as err:
            raise type(err)(
                f"{owner}: the {source.split} data does not fit: {err} If the network is a head on learned features (a "
                "backbone runs before it), give a monitor `features=lambda module, x: module.backbone(x)` (DiagnosticsEvaluator.load: "
                "`head=`) returning its inputs."
            ) from err
        first = x if first is None else first
        if x64.is_floating_point() and not all_finite(x64):
            raise ValueError(f"{owner}: the {source.split} data contains NaN or Inf inputs; expected finite values.")
        if prepare is not None:
            prepared.append((x64, labels.to(x64.device), row_norms(x64)))
        else:
            raw.append((x, labels))
    return raw, prepared, first
