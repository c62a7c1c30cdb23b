"""MNIST and Fashion-MNIST pairs on the real files.

MNIST: the official test split in ``<repo>/../shared/data/MNIST/raw/`` (or ``$LT_TEACHER_DATA_DIR``).
Fashion-MNIST: the Debian package ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``
(or ``$LT_TEACHER_FASHION_MNIST_DIR``). Absent files skip these tests, unless
``LT_TEACHER_REQUIRE_REAL_DATA=1``: then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import Tensor
from _helpers import require_real_data
from torchvision.datasets import FashionMNIST

from lt_teacher.datamodules import (
    DEBIAN_FASHION_MNIST_DIR,
    FashionMNISTPairsDataModule,
    MNISTPairsDataModule,
    prepare_fashion_mnist_from,
)

TEST_SPLIT_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
ALL_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", *TEST_SPLIT_FILES]
# Images of each class in the official MNIST test split.
MNIST_TEST_COUNTS = {0: 980, 1: 1135}


def data_missing(reason: str) -> None:
    if require_real_data():
        pytest.fail(f"{reason}; LT_TEACHER_REQUIRE_REAL_DATA=1 requires the real data.")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mnist_root() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    root = Path(os.environ.get("LT_TEACHER_DATA_DIR", default))
    raw = root / "MNIST" / "raw"
    if not all((raw / name).is_file() or (raw / name[: -len(".gz")]).is_file() for name in TEST_SPLIT_FILES):
        data_missing(f"the MNIST test split ({TEST_SPLIT_FILES}) is not in {raw}; set LT_TEACHER_DATA_DIR")
    return root


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(os.environ.get("LT_TEACHER_FASHION_MNIST_DIR", DEBIAN_FASHION_MNIST_DIR))
    if not all((source / name).is_file() for name in ALL_FILES):
        data_missing(f"Fashion-MNIST ({ALL_FILES}) is not in {source}; apt-get install dataset-fashion-mnist")
    root = tmp_path_factory.mktemp("fashion-root")
    assert prepare_fashion_mnist_from(source, root) == root / "FashionMNIST" / "raw"
    return root


def fit_until(x: Tensor, y: Tensor, target: float, max_steps: int = 300) -> tuple[float, Tensor]:
    """Full-batch logistic regression (Adam) on (x, y) until the training accuracy reaches ``target``.

    Returns the last training accuracy and w. Stops early: these machines are shared.
    """
    w = torch.zeros(x.shape[1], requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=0.05)
    train_acc = 0.0
    for _ in range(max_steps):
        optimizer.zero_grad()
        margins = y * (x @ w)
        train_acc = float((margins > 0).float().mean())
        if train_acc >= target:
            break
        torch.nn.functional.softplus(-margins).mean().backward()
        optimizer.step()
    return train_acc, w.detach()


def accuracy(w: Tensor, x: Tensor, y: Tensor) -> float:
    return float(((x @ w) * y > 0).float().mean())


def test_mnist_0_1_from_the_test_split_has_the_real_counts_and_labels(mnist_root: Path) -> None:
    whole = MNISTPairsDataModule(
        digits=(0, 1), data_dir=mnist_root, split_source="test-split", val_fraction=0.0, test_fraction=0.0
    )
    x, y = whole.train_tensors()
    assert x.shape == (980 + 1135, 784) and x.dtype == torch.float32
    assert int((y == 1.0).sum()) == MNIST_TEST_COUNTS[0] and int((y == -1.0).sum()) == MNIST_TEST_COUNTS[1]
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert whole.val_tensors()[0].shape == (0, 784) and whole.test_tensors()[0].shape == (0, 784)
    assert whole.class_names == ("0 - zero", "1 - one") and whole.digits == (0, 1)

    divided = MNISTPairsDataModule(digits=(0, 1), data_dir=mnist_root, split_source="test-split")
    counts = {
        split: (int((divided.tensors(split)[1] == 1).sum()), int((divided.tensors(split)[1] == -1).sum()))
        for split in ("train", "val", "test")
    }
    # val_fraction 0.1 and test_fraction 0.2 of each digit, rounded to nearest (113.5 -> 114).
    assert counts == {"train": (686, 794), "val": (98, 114), "test": (196, 227)}
    union = torch.cat([divided.tensors(split)[0] for split in ("train", "val", "test")])
    assert torch.unique(union, dim=0).shape[0] == torch.unique(x, dim=0).shape[0]


def test_mnist_official_mode_without_train_files_names_the_test_split_option(
    mnist_root: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in TEST_SPLIT_FILES:
        source = mnist_root / "MNIST" / "raw" / name
        shutil.copyfile(source if source.is_file() else source.with_suffix(""), raw / source.name)
    with pytest.raises(FileNotFoundError) as error:
        MNISTPairsDataModule(digits=(0, 1), data_dir=tmp_path)
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and str(raw) in message
    assert "split_source='test-split'" in message


def test_mnist_0_1_is_separated_by_a_short_logistic_regression(mnist_root: Path) -> None:
    dm = MNISTPairsDataModule(digits=(0, 1), data_dir=mnist_root, split_source="test-split", bias=True)
    x, y = dm.train_tensors()
    train_acc, w = fit_until(x, y, target=1.0)
    assert train_acc == 1.0
    assert accuracy(w, *dm.test_tensors()) >= 0.99


def test_fashion_official_splits_have_the_real_sizes(fashion_root: Path) -> None:
    dm = FashionMNISTPairsDataModule(classes=(0, 1), data_dir=fashion_root)
    sizes = {}
    for split in ("train", "val", "test"):
        _, y = dm.tensors(split)
        sizes[split] = (int((y == 1).sum()), int((y == -1).sum()))
    assert sizes == {"train": (5400, 5400), "val": (600, 600), "test": (1000, 1000)}
    assert dm.class_names == ("T-shirt/top", "Trouser")


def test_fashion_install_is_what_torchvision_loads(fashion_root: Path) -> None:
    reference = FashionMNIST(root=str(fashion_root), train=False, download=False)
    keep = (reference.targets == 7) | (reference.targets == 1)
    dm = FashionMNISTPairsDataModule(classes=(7, 1), data_dir=fashion_root, normalize="none")
    x, y = dm.test_tensors()
    assert torch.equal(x, reference.data[keep].reshape(-1, 784).float())
    assert torch.equal(y, torch.where(reference.targets[keep] == 7, 1.0, -1.0))


def test_fashion_trouser_vs_sneaker_is_separable_and_tshirt_vs_trouser_nearly(fashion_root: Path) -> None:
    separable = FashionMNISTPairsDataModule(classes=(1, 7), data_dir=fashion_root, val_fraction=0.0, bias=True)
    train_acc, w = fit_until(*separable.train_tensors(), target=1.0)
    assert train_acc == 1.0
    assert accuracy(w, *separable.test_tensors()) >= 0.99
    nearly = FashionMNISTPairsDataModule(classes=(0, 1), data_dir=fashion_root, val_fraction=0.0, bias=True)
    train_acc, w = fit_until(*nearly.train_tensors(), target=0.98)
    assert train_acc >= 0.98
    assert accuracy(w, *nearly.test_tensors()) >= 0.97


@pytest.mark.parametrize("dataset", ["mnist-0-1", "fashion-1-7"])
def test_the_papers_network_separates_a_real_pair(dataset, request):
    """LeakyReLUTeacherNet with the paper's SGD (fused engine) separates a real pair in a few epochs."""
    from lightning.pytorch import Trainer, seed_everything

    from lt_teacher import LeakyReLUTeacherNet

    if dataset == "mnist-0-1":
        datamodule = MNISTPairsDataModule(
            digits=(0, 1), data_dir=request.getfixturevalue("mnist_root"), split_source="test-split", batch_size=500
        )
    else:
        datamodule = FashionMNISTPairsDataModule(classes=(1, 7), data_dir=request.getfixturevalue("fashion_root"), batch_size=2000)
    seed_everything(0)
    net = LeakyReLUTeacherNet(input_dim=datamodule.input_dim, k=50, init_std=1e-3, lr=0.01)
    trainer = Trainer(max_epochs=5, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(net, datamodule=datamodule)
    x, y = datamodule.train_tensors()
    with torch.no_grad():
        accuracy = (y * net(x) > 0).double().mean().item()
    assert accuracy == 1.0, f"training accuracy {accuracy}"
