"""Binary Fashion-MNIST class pairs, and installing the Debian copy of Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import FashionMNIST

from .idx_files import prepare_idx_folder
from .mnist_format_pairs import MNISTFormatPairsDataModule

#: Where the Debian package ``dataset-fashion-mnist`` installs the four gzipped idx files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


class FashionMNISTPairsDataModule(MNISTFormatPairsDataModule):
    r"""Binary Fashion-MNIST: images of class ``classes[0]`` labelled +1, of ``classes[1]`` labelled −1.

    Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot. Not in the paper: a second real data set on which to
    check its MNIST findings. Everything is :class:`MNISTFormatPairsDataModule` (arguments,
    splits, normalisation, errors) with torchvision's ``FashionMNIST``; ``data_dir`` must
    hold ``FashionMNIST/raw/``.

    With the Debian package ``dataset-fashion-mnist`` (files in
    ``/usr/share/datasets/fashion-mnist/``), call :func:`prepare_fashion_mnist_from` once to
    extract them into a ``data_dir`` of your choice.

    Example:
        >>> root = "data"
        >>> prepare_fashion_mnist_from(DEBIAN_FASHION_MNIST_DIR, root)  # doctest: +SKIP
        >>> dm = FashionMNISTPairsDataModule(classes=(1, 9), data_dir=root)  # doctest: +SKIP
    """

    dataset_cls = FashionMNIST


def prepare_fashion_mnist_from(gz_dir: str | Path = DEBIAN_FASHION_MNIST_DIR, data_dir: str | Path = "data") -> Path:
    """Extract Fashion-MNIST idx files (e.g. Debian's) into ``<data_dir>/FashionMNIST/raw/``.

    Afterwards both :class:`FashionMNISTPairsDataModule` and torchvision's
    ``FashionMNIST(root=data_dir, download=False)`` load them. Files already extracted are
    kept. Debian recompressed the archives, so their md5 sums differ from torchvision's list
    (the contents are the official ones; torchvision checks md5 only when downloading).

    Args:
        gz_dir: Folder with ``train-images-idx3-ubyte.gz`` and the other three files.
        data_dir: torchvision root folder to write into (created if needed).

    Returns:
        The folder ``<data_dir>/FashionMNIST/raw``.

    Raises:
        FileNotFoundError: If ``gz_dir`` holds no complete split.
        ValueError: If a ``.gz`` file is corrupt.
    """
    return prepare_idx_folder(gz_dir, data_dir, FashionMNIST)
