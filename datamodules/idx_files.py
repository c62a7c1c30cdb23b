"""Find, read and install the idx files of torchvision's MNIST-format datasets.

torchvision's ``MNIST`` (and ``FashionMNIST``, ``KMNIST``) with ``download=False`` needs the
four *extracted* idx files of both splits in ``<root>/<ClassName>/raw/``. The helpers here
read one split on its own, from the extracted file or from its ``.gz`` (decompressed into a
temporary directory that is removed at once; nothing is written next to the data), with
torchvision's own parsers ``read_image_file``/``read_label_file``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from torchvision.datasets import EMNIST, MNIST, QMNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

# Base names of the images and labels file of each official split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def check_dataset_cls(dataset_cls: object) -> type[MNIST]:
    """A torchvision dataset class stored in the four standard MNIST idx files."""
    if not (isinstance(dataset_cls, type) and issubclass(dataset_cls, MNIST)):
        raise TypeError(
            "`dataset_cls` must be torchvision.datasets.MNIST or a subclass of it (FashionMNIST, KMNIST), "
            f"got {dataset_cls!r}."
        )
    expected = {f"{name}.gz" for pair in SPLIT_FILES.values() for name in pair}
    resources = getattr(dataset_cls, "resources", None)
    names = {entry[0] for entry in resources} if isinstance(resources, list) else set()
    if issubclass(dataset_cls, (EMNIST, QMNIST)) or names != expected:
        raise ValueError(
            f"`dataset_cls` {dataset_cls.__name__} does not keep its data in the four standard idx files "
            f"{sorted(expected)}; supported are MNIST, FashionMNIST, KMNIST and subclasses with the same files."
        )
    return dataset_cls


def raw_folder(data_dir: str | Path, dataset_cls: type[MNIST]) -> Path:
    """``<data_dir>/<ClassName>/raw``: where torchvision keeps the idx files of ``dataset_cls``."""
    return Path(data_dir) / dataset_cls.__name__ / "raw"


def find_split_files(raw: Path, split: str) -> tuple[list[Path], list[str]]:
    """The images and labels files of ``split`` in ``raw`` (extracted preferred over ``.gz``), and the missing names."""
    found, missing = [], []
    for name in SPLIT_FILES[split]:
        candidates = [raw / name, raw / f"{name}.gz"]
        present = [path for path in candidates if path.is_file()]
        if present:
            found.append(present[0])
        else:
            missing.append(name)
    return found, missing


def describe_folder(folder: Path) -> str:
    """What a folder holds, for error messages."""
    if not folder.is_dir():
        return f"{folder} does not exist"
    entries = sorted(entry.name for entry in folder.iterdir())
    return f"{folder} holds {entries}" if entries else f"{folder} is empty"


def _decompress(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as compressed, open(target, "wb") as plain:
            shutil.copyfileobj(compressed, plain)
    except (OSError, EOFError) as error:
        raise ValueError(f"{source} is not a readable gzip file ({error}); replace it with an intact copy.") from error


def _parse(path: Path, reader: Callable[[str], Tensor], what: str, shown: Path) -> Tensor:
    """``reader`` of ``path``; a ValueError naming ``shown``, the user's file (``path`` may be its decompressed copy)."""
    try:
        return reader(str(path))
    except (AssertionError, TypeError, ValueError, IndexError, RuntimeError) as error:
        message = f"{shown} is not a valid idx {what} file ({error!r}); replace it with an intact copy."
        raise ValueError(message) from error


def read_split(raw: Path, split: str, num_classes: int) -> tuple[Tensor, Tensor]:
    """Images (n, h, w) uint8 and labels (n,) int64 of one split.

    Raises:
        FileNotFoundError: If a file of the split is missing.
        ValueError: If a file is corrupt, the counts differ or a label is not a class index.
    """
    found, missing = find_split_files(raw, split)
    if missing:
        raise FileNotFoundError(f"missing {missing} (as is or .gz): {describe_folder(raw)}.")
    images_path, labels_path = found
    with tempfile.TemporaryDirectory(prefix="lt-teacher-idx-") as scratch:
        readable = []
        for path in found:
            if path.suffix == ".gz":
                target = Path(scratch) / path.stem
                _decompress(path, target)
                path = target
            readable.append(path)
        images = _parse(readable[0], read_image_file, "image", images_path)
        labels = _parse(readable[1], read_label_file, "label", labels_path)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels; "
            "the two files must come from the same split."
        )
    if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise ValueError(f"{labels_path} holds labels outside 0..{num_classes - 1}: {torch.unique(labels).tolist()}.")
    return images, labels


def prepare_idx_folder(source_dir: str | Path, data_dir: str | Path, dataset_cls: type[MNIST] = MNIST) -> Path:
    """Install idx files found in ``source_dir`` into torchvision's layout under ``data_dir``.

    Every standard idx file of ``dataset_cls`` present in ``source_dir`` (extracted or
    ``.gz``, e.g. the Debian package ``dataset-fashion-mnist``) is written *extracted* to
    ``<data_dir>/<ClassName>/raw/``, where torchvision's ``dataset_cls(root=data_dir,
    download=False)`` and the pair datamodules find it. Files already there are kept. The md5
    sums are not checked: recompressed archives (Debian's) differ from torchvision's list.

    Args:
        source_dir: Folder holding the idx files, e.g. ``/usr/share/datasets/fashion-mnist``.
        data_dir: Root folder of the torchvision layout (created if needed).
        dataset_cls: The torchvision dataset class (decides the ``<ClassName>`` folder).

    Returns:
        The ``raw`` folder the files are in.

    Raises:
        FileNotFoundError: If ``source_dir`` holds no complete split (images and labels).
        TypeError: If ``dataset_cls`` is not an MNIST-format torchvision dataset class.
        ValueError: If ``dataset_cls`` keeps its data in other files, or a ``.gz`` is corrupt.
    """
    dataset_cls = check_dataset_cls(dataset_cls)
    source = Path(source_dir)
    raw = raw_folder(data_dir, dataset_cls)
    searched = {split: find_split_files(source, split) for split in SPLIT_FILES}
    complete = {split: found for split, (found, missing) in searched.items() if not missing}
    if not complete:
        names = [name for pair in SPLIT_FILES.values() for name in pair]
        raise FileNotFoundError(
            f"`source_dir` holds no complete split of {dataset_cls.__name__} (images and labels, each as is or .gz, "
            f"named {names}): {describe_folder(source)}."
        )
    raw.mkdir(parents=True, exist_ok=True)
    for found in complete.values():
        for path in found:
            target = raw / (path.stem if path.suffix == ".gz" else path.name)
            if target.is_file():
                continue
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            if path.suffix == ".gz":
                _decompress(path, partial)
            else:
                shutil.copyfile(path, partial)
            os.replace(partial, target)
    return raw
