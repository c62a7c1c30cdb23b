"""Binary MNIST digit pairs, the paper's real-data experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchvision.datasets import MNIST

from .mnist_format_pairs import MNISTFormatPairsDataModule


class MNISTPairsDataModule(MNISTFormatPairsDataModule):
    r"""Binary MNIST: images of digit ``digits[0]`` labelled +1, of ``digits[1]`` labelled −1.

    The paper's "binary MNIST" problems: pairs (0, 1) and (3, 5) in Figure 2, more pairs in
    Figure 6, the clustering measures of Figure 7. Everything but the name of the pair
    argument is :class:`MNISTFormatPairsDataModule` (read its docstring for the splits, the
    normalisation and the errors) with torchvision's ``MNIST``.

    On machines that hold only the official test split (``<data_dir>/MNIST/raw/t10k-*``),
    pass ``split_source="test-split"``; the default ``"official"`` then raises
    ``FileNotFoundError`` naming the missing training files and that option.

    Args:
        digits: ``(a, b)``, two different digits in 0..9; a → +1, b → −1.
        data_dir: torchvision root folder holding ``MNIST/raw/``.
        **kwargs: The other arguments of :class:`MNISTFormatPairsDataModule`:
            ``split_source``, ``val_fraction``, ``test_fraction``, ``normalize``,
            ``bias``, ``download``, ``seed``, ``batch_size``, ``eval_batch_size``,
            ``num_workers``.

    Raises:
        TypeError: As :class:`MNISTFormatPairsDataModule` (e.g. a digit that is not an int).
        ValueError: As :class:`MNISTFormatPairsDataModule` (e.g. a digit outside 0..9, equal digits).
        FileNotFoundError: If ``download=False`` and a needed file is missing.

    Example:
        >>> dm = MNISTPairsDataModule(digits=(3, 5), data_dir="data", split_source="test-split")  # doctest: +SKIP
        >>> x, y = dm.train_tensors()  # doctest: +SKIP
    """

    dataset_cls = MNIST
    pair_argument = "digits"

    def __init__(self, digits: tuple[int, int] = (0, 1), data_dir: str | Path = "data", **kwargs: Any) -> None:
        if "classes" in kwargs:
            raise TypeError(
                f"MNISTPairsDataModule takes its pair as `digits`, got `classes={kwargs['classes']!r}`; pass digits=(a, b)."
            )
        super().__init__(digits, data_dir, **kwargs)

    @property
    def digits(self) -> tuple[int, int]:
        """The (+1 digit, −1 digit) pair."""
        return self.classes
