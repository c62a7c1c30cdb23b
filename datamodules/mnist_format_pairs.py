"""Binary problems from two classes of an MNIST-format torchvision dataset."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor
from torchvision.datasets import MNIST
from typing_extensions import override

from lt_teacher._validation import check_bool, check_choice, check_fraction, check_int, renamed_argument

from ._base import TensorSplitsDataModule, derived_generator
from .idx_files import check_dataset_cls, describe_folder, find_split_files, raw_folder, read_split

SPLIT_SOURCES = ("official", "test-split")
NORMALIZATIONS = ("unit_interval", "unit_norm", "none")
# Default share of the official test split held out as test set in "test-split" mode.
_DEFAULT_TEST_FRACTION = 0.2


def _divide(y: Tensor, fractions: dict[str, float], generator: torch.Generator, source: str) -> dict[str, Tensor]:
    """Seeded stratified division of the rows of ``y`` into "train" and the named held-out parts.

    Each label's rows are permuted; a part takes ``round(fraction * count)`` of them (halves
    rounded up), "train" the rest. Indices come back sorted, so every part keeps file order.
    """
    parts: dict[str, list[Tensor]] = {"train": [], **{name: [] for name in fractions}}
    for label in (1.0, -1.0):
        rows = torch.nonzero(y == label).squeeze(1)
        rows = rows[torch.randperm(rows.numel(), generator=generator)]
        start = 0
        for name, fraction in fractions.items():
            count = math.floor(fraction * rows.numel() + 0.5)
            if fraction > 0 and count == 0:
                raise ValueError(
                    f"{source} holds only {rows.numel()} images labelled {label:+.0f}: `{name}_fraction`={fraction} "
                    f"of them rounds to 0 images. Raise `{name}_fraction` or set it to 0."
                )
            parts[name].append(rows[start : start + count])
            start += count
        if start >= rows.numel():
            raise ValueError(
                f"{source} holds only {rows.numel()} images labelled {label:+.0f}: the held-out fractions "
                f"{fractions} leave none for training. Lower the fractions."
            )
        parts["train"].append(rows[start:])
    return {name: torch.sort(torch.cat(chunks)).values for name, chunks in parts.items()}


class MNISTFormatPairsDataModule(TensorSplitsDataModule):
    r"""Base class: a binary problem from two classes of an MNIST-format torchvision dataset.

    Subclass it and set ``dataset_cls`` to use another dataset stored in the four standard idx
    files (``class KMNISTPairsDataModule(MNISTFormatPairsDataModule): dataset_cls = KMNIST``);
    :class:`MNISTPairsDataModule` and :class:`FashionMNISTPairsDataModule` are such subclasses.

    Data: ``data_dir`` is torchvision's root folder, with the idx files (extracted or ``.gz``)
    in ``<data_dir>/<ClassName>/raw/`` (``MNIST/raw/train-images-idx3-ubyte.gz``, ...). Each
    split is read on its own with torchvision's idx parsers, so the "test-split" mode works
    when only the two ``t10k-*`` files exist. Nothing is downloaded unless ``download=True``;
    then :meth:`prepare_data` runs torchvision's own download (all four files).

    Labels: images of ``classes[0]`` get y = +1, images of ``classes[1]`` get y = −1; the other
    classes are dropped. Inputs: images flattened row by row to 784 float32 values, then
    ``normalize``: ``"unit_interval"`` divides by 255 (values in [0, 1]; the default — the
    paper does not state its MNIST preprocessing), ``"unit_norm"`` scales every image to
    Euclidean norm 1 (so max‖x‖ = 1 in the Theorem 6.2 threshold), ``"none"`` keeps 0…255.
    ``bias`` then appends a constant 1 (supplementary 8.1).

    Splits (``split_source``):

    * ``"official"``: training and validation sets from the official training split (a
      seeded, per-label share ``val_fraction`` becomes validation), test set = the official
      test split. If the training files are missing, ``__init__`` (or :meth:`setup` after a
      download) raises ``FileNotFoundError`` naming the files, the folder and this option.
    * ``"test-split"``: only the official *test* split is used, divided per label with a
      seeded permutation into validation (``val_fraction``), test (``test_fraction``,
      default 0.2) and training (the rest). Chosen explicitly, never as a fallback.

    Shares are rounded to the nearest count per label; every split keeps the files' order.

    Args:
        classes: ``(a, b)``: class indices in 0..9; a → +1, b → −1 (names: ``dataset_cls.classes``). The seeded
            division into val and test draws per label in this order, so ``(b, a)`` holds out other images.
        data_dir: torchvision root folder holding ``<ClassName>/raw/``.
        split_source: ``"official"`` or ``"test-split"`` (see above).
        val_fraction: Share of each label's training pool held out for validation, in [0, 1).
        test_fraction: ``"test-split"`` only: share of each label held out for testing, in
            [0, 1), default 0.2. Must stay ``None`` with ``"official"`` (the official test
            split is the test set).
        normalize: ``"unit_interval"``, ``"unit_norm"`` or ``"none"`` (see above).
        bias: Append a constant 1 to every x.
        download: Let :meth:`prepare_data` download the dataset with torchvision (needs internet).
        seed: Base seed (>= 0) of the divisions and of the shuffling.
        batch_size: Training batch size (the paper's SGD uses 1).
        eval_batch_size: Validation and test batch size.
        num_workers: ``DataLoader`` worker processes.
        append_bias: Deprecated spelling of ``bias`` (a ``DeprecationWarning``).

    Raises:
        TypeError: If an argument has the wrong type, or the class sets no usable ``dataset_cls``.
        ValueError: If a class index is outside 0..9, the two classes are equal or not two, an
            option is unknown, the fractions leave no training data or round a split to
            nothing, or ``test_fraction`` is given with ``split_source="official"``.
        FileNotFoundError: If ``download=False`` and ``data_dir`` or a needed file is missing.
    """

    #: The torchvision dataset class; set by subclasses.
    dataset_cls: ClassVar[type[MNIST] | None] = None
    #: Name of the pair argument in error messages ("digits" for MNIST).
    pair_argument: ClassVar[str] = "classes"
    #: Height and width of every image (28 x 28 in all MNIST-format datasets).
    image_shape: ClassVar[tuple[int, int]] = (28, 28)

    def __init__(
        self,
        classes: tuple[int, int] = (0, 1),
        data_dir: str | Path = "data",
        split_source: str = "official",
        val_fraction: float = 0.1,
        test_fraction: float | None = None,
        normalize: str = "unit_interval",
        bias: bool = False,
        download: bool = False,
        seed: int = 0,
        batch_size: int = 1,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        append_bias: bool | None = None,
    ) -> None:
        bias = renamed_argument(bias, append_bias, name="bias", old_name="append_bias", default=False)
        append_bias = None  # hparams hold the new spelling only
        super().__init__(seed=seed, batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, bias=bias)
        if type(self).dataset_cls is None:
            raise TypeError(
                f"{type(self).__name__} sets no `dataset_cls`: subclass MNISTFormatPairsDataModule with "
                "`dataset_cls = <torchvision MNIST-format class>`, or use MNISTPairsDataModule / "
                "FashionMNISTPairsDataModule."
            )
        self._dataset_type = check_dataset_cls(type(self).dataset_cls)
        self.classes = self.check_pair(classes)
        if not isinstance(data_dir, (str, Path)):
            raise TypeError(f"`data_dir` must be a str or pathlib.Path, got {type(data_dir).__name__}.")
        self.data_dir = Path(data_dir)
        self.split_source = check_choice(split_source, "split_source", SPLIT_SOURCES)
        self.val_fraction = check_fraction(val_fraction, "val_fraction")
        if self.split_source == "official":
            if test_fraction is not None:
                raise ValueError(
                    f"`test_fraction` applies to split_source='test-split' only, got {test_fraction!r} with "
                    "split_source='official' (whose test set is the official test split); leave it None."
                )
            self.test_fraction = 0.0
        else:
            self.test_fraction = (
                _DEFAULT_TEST_FRACTION if test_fraction is None else check_fraction(test_fraction, "test_fraction")
            )
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"`val_fraction` + `test_fraction` must be < 1 to leave training data, got "
                f"{self.val_fraction} + {self.test_fraction}."
            )
        self.normalize = check_choice(normalize, "normalize", NORMALIZATIONS)
        self.download = check_bool(download, "download")
        if not self.download:
            self._check_files()
        # A subclass that names the pair otherwise (MNIST's `digits`) records it under that name only, so that its
        # hparams rebuild it (load_from_checkpoint passes them to its __init__).
        self.save_hyperparameters(ignore=["classes"] if type(self).pair_argument != "classes" else None)

    @classmethod
    def check_pair(cls, value: object) -> tuple[int, int]:
        """The pair argument (``classes``, or ``digits`` for MNIST) checked: two different class indices of ``dataset_cls``.

        Raises:
            TypeError, ValueError: not a pair of ints, an index outside the dataset's classes, or equal classes.
        """
        name, dataset_type = cls.pair_argument, check_dataset_cls(cls.dataset_cls)
        num_classes = len(dataset_type.classes)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"`{name}` must be a pair (a, b) of class indices, got {type(value).__name__} ({value!r}).")
        if len(value) != 2:
            raise ValueError(f"`{name}` must hold exactly two class indices (a, b), got {len(value)}: {value!r}.")
        pair = tuple(check_int(v, f"{name}[{i}]", minimum=0) for i, v in enumerate(value))
        for i, index in enumerate(pair):
            if index >= num_classes:
                names = ", ".join(f"{j}={c!r}" for j, c in enumerate(dataset_type.classes))
                raise ValueError(
                    f"`{name}[{i}]` must be a class index in 0..{num_classes - 1} of {dataset_type.__name__} "
                    f"({names}), got {index}."
                )
        if pair[0] == pair[1]:
            raise ValueError(f"`{name}` must name two different classes, got ({pair[0]}, {pair[1]}).")
        return pair[0], pair[1]

    @property
    def raw_folder(self) -> Path:
        """``<data_dir>/<ClassName>/raw``, where the idx files are read from."""
        return raw_folder(self.data_dir, self._dataset_type)

    @property
    @override
    def input_dim(self) -> int:
        """784 pixels, plus one if ``bias``; known without reading the files."""
        return self.image_shape[0] * self.image_shape[1] + int(self.bias)

    @property
    def class_names(self) -> tuple[str, str]:
        """Names of the +1 and the −1 class, e.g. ``("0 - zero", "1 - one")``."""
        return self._dataset_type.classes[self.classes[0]], self._dataset_type.classes[self.classes[1]]

    def _needed_splits(self) -> tuple[str, ...]:
        return ("train", "test") if self.split_source == "official" else ("test",)

    def _check_files(self) -> None:
        """Raise ``FileNotFoundError`` naming what is missing, where it belongs and what else works."""
        name = self._dataset_type.__name__
        if not self.data_dir.is_dir():
            raise FileNotFoundError(
                f"`data_dir` {self.data_dir} is not a folder. Create it with the {name} idx files in "
                f"{self.raw_folder}/ (torchvision's layout), or pass download=True to let torchvision download them; "
                "with only the official test split (t10k-* files) pass split_source='test-split'."
            )
        for split in self._needed_splits():
            _, missing = find_split_files(self.raw_folder, split)
            if not missing:
                continue
            remedies = [f"put them at {self.raw_folder}/<name> or <name>.gz", "pass download=True"]
            if split == "train":
                remedies.append(
                    "pass split_source='test-split' to train, validate and test on a seeded division of the "
                    "official test split (val_fraction, test_fraction)"
                )
            raise FileNotFoundError(
                f"{name} {split} files {missing} not found (as is or .gz): {describe_folder(self.raw_folder)}. "
                f"To fix: {'; or '.join(remedies)}."
            )

    @override
    def split_sources(self) -> dict[str, str]:
        name, pair = self._dataset_type.__name__, f"classes {self.classes[0]} vs {self.classes[1]}"
        if self.split_source == "official":
            return {
                "train": f"{name} official training split, {pair}, minus val_fraction={self.val_fraction:g}",
                "val": f"{name} official training split, {pair}, seeded val_fraction={self.val_fraction:g}",
                "test": f"{name} official test split, {pair}",
            }
        return {
            "train": f"{name} official test split (split_source='test-split'), {pair}, the rest",
            "val": f"{name} official test split, {pair}, seeded val_fraction={self.val_fraction:g}",
            "test": f"{name} official test split, {pair}, seeded test_fraction={self.test_fraction:g}",
        }

    @override
    def prepare_data(self) -> None:
        """Download the dataset with torchvision if ``download=True`` and a file this module reads is missing (all four
        files); else do nothing: files already in place (as is or .gz, e.g. a Debian package's recompressed ones, whose
        checksums differ from torchvision's) are used as they are.

        Raises:
            FileNotFoundError: the download failed (no internet, a mirror down): the files are still missing, and
                the message says where they belong instead.
        """
        if self.download and any(find_split_files(self.raw_folder, split)[1] for split in self._needed_splits()):
            try:
                self._dataset_type(root=str(self.data_dir), train=True, download=True)
            except (RuntimeError, OSError) as err:  # torchvision's "Error downloading ...", after every mirror
                reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
                raise FileNotFoundError(
                    f"download=True: torchvision could not download {self._dataset_type.__name__} into {self.raw_folder} "
                    f"({reason}). Without internet, put the idx files there (as is or .gz), or with only the official "
                    "test split (t10k-* files) pass split_source='test-split'; then download=False."
                ) from err

    def _pair_tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """The chosen pair of one official split: X float32 (n, 784), Y float32 (n,) in {+1, -1}."""
        images, labels = read_split(self.raw_folder, split, len(self._dataset_type.classes))
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"the {split} images in {self.raw_folder} have shape {tuple(images.shape[1:])}, expected "
                f"{self.image_shape} for {self._dataset_type.__name__}."
            )
        for index in self.classes:
            if not bool((labels == index).any()):
                raise ValueError(
                    f"the official {split} split of {self._dataset_type.__name__} in {self.raw_folder} holds no "
                    f"image of class {index}; the pair {self.classes} needs both classes."
                )
        keep = (labels == self.classes[0]) | (labels == self.classes[1])
        x = images[keep].reshape(int(keep.sum()), -1).float()
        y = torch.where(labels[keep] == self.classes[0], 1.0, -1.0)
        if self.normalize == "unit_interval":
            x = x / 255.0
        elif self.normalize == "unit_norm":
            norms = x.norm(dim=1, keepdim=True)
            if bool((norms == 0).any()):
                raise ValueError(
                    f"normalize='unit_norm' cannot scale an all-black image of the {split} split to norm 1; "
                    "use normalize='unit_interval'."
                )
            x = x / norms
        return x, y

    @override
    def _build_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        self._check_files()
        generator = derived_generator(self.seed, "division")
        if self.split_source == "official":
            x, y = self._pair_tensors("train")
            parts = _divide(y, {"val": self.val_fraction}, generator, "the official training split")
            splits = {name: (x[rows], y[rows]) for name, rows in parts.items()}
            splits["test"] = self._pair_tensors("test")
        else:
            x, y = self._pair_tensors("test")
            fractions = {"val": self.val_fraction, "test": self.test_fraction}
            parts = _divide(y, fractions, generator, "the official test split")
            splits = {name: (x[rows], y[rows]) for name, rows in parts.items()}
        return splits
