"""Lightning datamodules for the paper's data.

Every datamodule yields ``(x, y)`` with ``x`` a flat float32 tensor and ``y`` a float32 label
in {-1.0, +1.0}, and exposes the full split tensors (``train_tensors()`` etc.) for the
metrics, callbacks and solvers that need the whole data set.
"""

from ._base import TensorSplitsDataModule
from .fashion_mnist_pairs import DEBIAN_FASHION_MNIST_DIR, FashionMNISTPairsDataModule, prepare_fashion_mnist_from
from .idx_files import prepare_idx_folder
from .linear_teacher import LinearTeacherDataModule
from .mnist_format_pairs import MNISTFormatPairsDataModule
from .mnist_pairs import MNISTPairsDataModule

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "FashionMNISTPairsDataModule",
    "LinearTeacherDataModule",
    "MNISTFormatPairsDataModule",
    "MNISTPairsDataModule",
    "TensorSplitsDataModule",
    "prepare_fashion_mnist_from",
    "prepare_idx_folder",
]
