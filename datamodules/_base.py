"""The part every lt-teacher datamodule shares: splits held as full tensors, seeded loaders."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.strategies import ParallelStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler, Sampler, TensorDataset
from typing_extensions import override

from lt_teacher._validation import all_finite, check_bool, check_choice, check_int
from lt_teacher.functional.network import append_bias_coordinate

SPLITS = ("train", "val", "test")
_STAGES = ("fit", "validate", "test", "predict")


def derived_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named random stream of a datamodule with base seed ``seed``.

    Streams ("train", "val", "test", "teacher", ...) are independent of each other, and
    ``(seed, stream)`` pairs never collide the way ``seed + k`` offsets would
    (``numpy.random.SeedSequence`` with the stream's CRC-32 as spawn key).
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(stream.encode()),))
    high, low = (int(v) for v in sequence.generate_state(2, dtype=np.uint32))
    return ((high << 32) | low) & ((1 << 63) - 1)


def derived_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derived_seed`."""
    return torch.Generator().manual_seed(derived_seed(seed, stream))


def _checked_split(name: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Enforce the contract of every split: float32 (n, d) inputs, float32 (n,) labels in {-1, +1}."""
    if x.dtype != torch.float32 or x.ndim != 2:
        raise RuntimeError(f"internal error: {name} inputs must be float32 (n, d), got {x.dtype} {tuple(x.shape)}.")
    if y.dtype != torch.float32 or y.shape != (x.shape[0],):
        found = f"{y.dtype} {tuple(y.shape)}"
        raise RuntimeError(f"internal error: {name} labels must be float32 ({x.shape[0]},), got {found}.")
    if not all_finite(x):
        raise ValueError(f"the {name} split holds NaN or Inf inputs; every value must be finite.")
    if not bool(((y == 1.0) | (y == -1.0)).all()):
        raise RuntimeError(f"internal error: {name} labels must be -1.0 or +1.0, got {torch.unique(y).tolist()}.")
    return x, y


class BatchIndexedTensors(TensorDataset):
    """A TensorDataset that serves a batch with one indexing operation per tensor.

    DataLoader's fetcher calls ``__getitems__`` with the sampler's batch of indices; with
    :func:`keep_batch` as ``collate_fn`` a batch is ``(X[idx], Y[idx])``, the same tensors the
    default collation would stack item by item (which costs more than a fused SGD step per item).
    """

    def __getitems__(self, indices: list[int] | slice) -> tuple[Tensor, ...]:
        if isinstance(indices, slice):  # a run of consecutive points (:class:`ConsecutiveBatches`): views, no copy
            return tuple(t[indices] for t in self.tensors)
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[index] for t in self.tensors)


class ConsecutiveBatches(Sampler[slice]):
    """Batch sampler of consecutive runs of a split, in the stored order: ``slice(0, b)``, ``slice(b, 2b)``, ...

    With :class:`BatchIndexedTensors` every batch is a view of the split's tensors (nothing is gathered or
    copied, nothing is drawn). For a model that trains from the whole training set in its own order (the
    per-example engines of :class:`~lt_teacher.LeakyReLUTeacherNet`), the loader only paces Lightning's
    steps, and a shuffled gather of n points would cost a copy of the data every epoch.
    """

    def __init__(self, n: int, batch_size: int) -> None:
        self.n = check_int(n, "n", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)

    def __iter__(self) -> Iterator[slice]:
        return (slice(start, min(start + self.batch_size, self.n)) for start in range(0, self.n, self.batch_size))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def keep_batch(batch: Any) -> Any:
    """``collate_fn`` for :class:`BatchIndexedTensors`: the batch, a tuple of tensors, is already stacked."""
    return batch


class TensorSplitsDataModule(LightningDataModule, ABC):
    """Base class: train/val/test splits held in memory as ``(X, Y)`` tensors.

    Every dataset yields ``(x, y)`` with ``x`` a float32 1-D tensor and ``y`` a float32 scalar
    in {-1.0, +1.0}. The splits are built once, deterministically from ``seed``, on the first
    call of :meth:`setup` or of a ``*_tensors`` accessor; every DDP rank builds the same
    splits and Lightning's distributed sampler divides them.

    The full tensors are what the paper's quantities need (fraction of points outside the
    linear region, NAR/PAR, the Eq. 7 SVM): use :meth:`train_tensors`, :meth:`val_tensors`,
    :meth:`test_tensors` or :meth:`tensors`. They return the stored tensors, not copies: do
    not modify them in place.

    The training loader draws a fresh order every epoch from a generator seeded by ``seed``
    (independent of the global RNG); its state is part of :meth:`state_dict`, so a run resumed
    from a Lightning checkpoint visits the examples in the same order as an uninterrupted run.

    Args:
        seed: Base seed (int >= 0) of every random stream of the datamodule.
        batch_size: Batch size of the training loader (the paper's SGD uses 1).
        eval_batch_size: Batch size of the validation and test loaders.
        num_workers: ``DataLoader`` worker processes.
        bias: Append a constant 1 to every x of every split (supplementary 8.1: a first-layer bias
            becomes one more weight column).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """

    def __init__(self, *, seed: int, batch_size: int, eval_batch_size: int, num_workers: int, bias: bool = False) -> None:
        super().__init__()
        self.bias = check_bool(bias, "bias")
        self.seed = check_int(seed, "seed", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size", minimum=1)
        self.num_workers = check_int(num_workers, "num_workers", minimum=0)
        self._splits: dict[str, tuple[Tensor, Tensor]] | None = None
        # Orders the training loader; its state is checkpointed (see `state_dict`).
        self._shuffle_generator = derived_generator(self.seed, "shuffle")
        self._splits_reported = False
        self._splits_logged_to: int | None = None

    @property
    @override
    def hparams_initial(self) -> Any:
        """The init arguments as the loggers record them, with ``bias`` as ``data_bias``.

        The datamodule's ``bias`` (a constant 1 appended to every x) and ``LeakyReLUTeacherNet``'s ``bias`` (a learned
        first-layer bias) are different settings, and Lightning refuses to merge a module's and a datamodule's
        hparams into one run config when a key they share differs (``bias=True`` data for a ``bias=False`` network of
        ``input_dim`` d + 1 stopped every fit with a logger). Checkpoints keep ``bias`` (``hparams``), which
        ``load_from_checkpoint`` passes back to ``__init__``.
        """
        initial = super().hparams_initial
        if "bias" in initial:
            initial["data_bias"] = initial.pop("bias")
        return initial

    def __getstate__(self) -> dict[str, Any]:
        # A torch.Generator (or a tensor made while pickling) does not survive torch.multiprocessing's
        # spawn (ddp_spawn shares tensors through file descriptors): ship the generator's state as bytes.
        state = self.__dict__.copy()
        state["_shuffle_generator"] = self._shuffle_generator.get_state().numpy().tobytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("_splits_reported", False)
        state.setdefault("_splits_logged_to", None)
        state.setdefault("bias", state.pop("append_bias", False))  # pickled before the option was named `bias`
        generator = torch.Generator()
        generator.set_state(torch.frombuffer(bytearray(state["_shuffle_generator"]), dtype=torch.uint8))
        self.__dict__.update({**state, "_shuffle_generator": generator})

    @abstractmethod
    def _build_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Return ``{"train": (X, Y), "val": (X, Y), "test": (X, Y)}``, without the bias coordinate."""

    @override
    def setup(self, stage: str) -> None:
        """Build the splits (once; later calls reuse them). ``stage`` is Lightning's stage name."""
        check_choice(stage, "stage", _STAGES)
        self._materialize()
        self._report_splits()

    def split_sources(self) -> dict[str, str]:
        """Where each split's points come from, one phrase per split (override in subclasses)."""
        return {name: f"seeded draw (seed {self.seed})" for name in SPLITS}

    def split_summary(self) -> dict[str, dict[str, Any]]:
        """``{split: {"size": n, "source": phrase}}`` for train, val and test (builds the splits if needed)."""
        sources = self.split_sources()
        return {name: {"size": int(self.tensors(name)[0].shape[0]), "source": sources[name]} for name in SPLITS}

    def describe_splits(self) -> str:
        """One line per split: its size and where it comes from."""
        summary = self.split_summary()
        return f"{type(self).__name__}: " + "; ".join(f"{name} {s['size']} ({s['source']})" for name, s in summary.items())

    def _report_splits(self) -> None:
        """Print the split sizes and sources once (rank zero) and give them to the loggers of each new trainer."""
        if not self._splits_reported:
            self._splits_reported = True
            rank_zero_info(self.describe_splits())
        trainer = self.trainer
        if trainer is not None and self._splits_logged_to != id(trainer):
            self._splits_logged_to = id(trainer)
            summary = self.split_summary()
            params = {f"data_splits/{name}/{field}": value for name, s in summary.items() for field, value in s.items()}
            for logger in trainer.loggers:
                logger.log_hyperparams(params)

    def _materialize(self) -> dict[str, tuple[Tensor, Tensor]]:
        if self._splits is None:
            built = self._build_splits()
            if self.bias:
                built = {name: (append_bias_coordinate(x), y) for name, (x, y) in built.items()}
            self._splits = {name: _checked_split(name, *built[name]) for name in SPLITS}
        return self._splits

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of ``split`` ("train", "val" or "test"): X float32 (n, d), Y float32 (n,) in {-1, +1}."""
        return self._materialize()[check_choice(split, "split", SPLITS)]

    def train_tensors(self) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of the training split."""
        return self.tensors("train")

    def val_tensors(self) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of the validation split (may hold 0 rows)."""
        return self.tensors("val")

    def test_tensors(self) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of the test split (may hold 0 rows)."""
        return self.tensors("test")

    @property
    def input_dim(self) -> int:
        """Number of input features d of every x (including the bias coordinate if appended)."""
        return int(self.train_tensors()[0].shape[1])

    @override
    def state_dict(self) -> dict[str, Any]:
        """The state of the generator that orders the training loader (saved in Lightning checkpoints)."""
        return {"shuffle_generator_state": self._shuffle_generator.get_state()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the training order, so a resumed run visits the examples as an uninterrupted one would."""
        state = state_dict.get("shuffle_generator_state")
        if state is not None:
            self._shuffle_generator.set_state(state)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = BatchIndexedTensors(*self.tensors(split))
        return DataLoader(
            dataset,
            batch_size=batch_size,
            # A fresh random order every epoch, one permutation drawn from the datamodule's own seeded generator
            # (not the global RNG). The generator goes to the sampler only: a DataLoader's generator also seeds its
            # workers when an iterator is made, once per fit with persistent workers, so a resumed run (a new
            # iterator) would draw once more than the uninterrupted one. Under DDP Lightning's DistributedSampler
            # orders the data instead.
            sampler=RandomSampler(dataset, generator=self._shuffle_generator) if shuffle else None,
            collate_fn=keep_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    @override
    def train_dataloader(self) -> DataLoader:
        """Shuffled training loader: every epoch visits each point once in a fresh seeded order.

        A model that does not read its training batches (``reads_training_batches = False``, as
        :class:`~lt_teacher.LeakyReLUTeacherNet` with the fused or reference engine, which draws its own
        per-example order) gets, under a single-process strategy, the same number of batches as consecutive views of the
        split (:class:`ConsecutiveBatches`): the loader then only paces Lightning's steps, at no cost per point.
        """
        if not self._paces_only():
            return self._loader("train", self.batch_size, shuffle=True)
        dataset = BatchIndexedTensors(*self.tensors("train"))
        return DataLoader(
            dataset,
            # a batch is a slice, which BatchIndexedTensors.__getitems__ serves as views (DataLoader's typing expects lists)
            batch_sampler=ConsecutiveBatches(len(dataset), self.batch_size),  # type: ignore[arg-type]
            collate_fn=keep_batch,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def _paces_only(self) -> bool:
        """Whether the attached model ignores the training batches' content, under a single-process strategy
        (a parallel one, DDP included even on one device, injects its distributed sampler into the usual loader)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or isinstance(trainer.strategy, ParallelStrategy):
            return False
        return getattr(trainer.lightning_module, "reads_training_batches", True) is False

    @override
    def val_dataloader(self) -> DataLoader:
        """Validation loader, in the stored order (under DDP each process's share, no point repeated)."""
        return self._eval_loader("val")

    @override
    def test_dataloader(self) -> DataLoader:
        """Test loader, in the stored order (under DDP each process's share, no point repeated)."""
        return self._eval_loader("test")

    def _eval_loader(self, split: str) -> DataLoader:
        """``_loader`` in the stored order; under DDP with Lightning's unrepeated sampler.

        Lightning's DistributedSampler repeats a few points to give every process as many, which an evaluation counts
        twice (13 points on 2 processes count 14); its UnrepeatedDistributedSampler, being a DistributedSampler, is kept
        by Lightning, and the monitors divide the points among the processes as it does. Every process must run its
        evaluation loop, so a split of fewer points than processes keeps the padding.
        """
        loader = self._loader(split, self.eval_batch_size, shuffle=False)
        processes = torch.distributed.get_world_size() if torch.distributed.is_available() and torch.distributed.is_initialized() else 1
        if not 1 < processes <= len(loader.dataset):  # type: ignore[arg-type]
            return loader
        return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=UnrepeatedDistributedSampler(loader.dataset, shuffle=False),
                          collate_fn=loader.collate_fn, num_workers=loader.num_workers, persistent_workers=loader.persistent_workers)
