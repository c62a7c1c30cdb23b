"""MNISTFormatPairsDataModule and the idx helpers, on small synthetic idx files (no real data needed)."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import EMNIST, KMNIST, MNIST

from lt_teacher.datamodules import MNISTFormatPairsDataModule, MNISTPairsDataModule, prepare_idx_folder

# Images per class in the synthetic official splits.
TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 10
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file of unsigned bytes (magic 0x08, then the dimensions, big-endian)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_synthetic_split(raw: Path, prefix: str, per_class: int, seed: int) -> None:
    """``per_class`` images of each class 0..9 in shuffled order; image pixel 0 holds its label."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), per_class))
    images = rng.integers(1, 256, size=(labels.size, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
    write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


class SyntheticMNIST(MNIST):
    """MNIST whose "download" writes the synthetic files: exercises the real download code path offline."""

    def download(self) -> None:
        write_synthetic_split(Path(self.raw_folder), "train", TRAIN_PER_CLASS, seed=1)
        write_synthetic_split(Path(self.raw_folder), "t10k", TEST_PER_CLASS, seed=2)


class SyntheticPairs(MNISTFormatPairsDataModule):
    dataset_cls = SyntheticMNIST


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A torchvision root holding the four extracted synthetic files in SyntheticMNIST/raw/."""
    SyntheticMNIST(root=str(tmp_path), download=True)
    return tmp_path


def test_download_flag_runs_torchvision_download_in_prepare_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SyntheticPairs(data_dir=tmp_path)
    dm = SyntheticPairs(classes=(2, 7), data_dir=tmp_path, download=True)
    dm.prepare_data()
    assert sorted(p.name for p in dm.raw_folder.iterdir()) == sorted(FILES)
    dm.setup("fit")
    assert dm.test_tensors()[0].shape == (2 * TEST_PER_CLASS, 784)


class OfflineMNIST(MNIST):
    """MNIST on a machine without internet: torchvision's download fails after trying every mirror."""

    mirrors = ["https://mirror.invalid/mnist/"]

    def download(self) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://mirror.invalid/mnist/, got:\n<urlopen error>")


class OfflinePairs(MNISTFormatPairsDataModule):
    dataset_cls = OfflineMNIST


def test_a_failed_download_says_where_the_files_belong(tmp_path: Path) -> None:
    dm = OfflinePairs(data_dir=tmp_path, download=True)
    with pytest.raises(FileNotFoundError, match=r"download=True: torchvision could not download OfflineMNIST into .*OfflineMNIST/raw "
                       r"\(Error downloading train-images-idx3-ubyte.gz:\)\. Without internet, put the idx files there") as info:
        dm.prepare_data()
    assert "split_source='test-split'" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("split_source", ["official", "test-split"])
def test_download_true_uses_the_files_already_in_place(root: Path, split_source: str) -> None:
    """Review: download=True asked torchvision for all four files even when the ones needed were there (the test split
    alone with split_source='test-split'; a Debian package's recompressed .gz files, whose checksums torchvision rejects)."""
    shutil.copytree(root / "SyntheticMNIST", root / "OfflineMNIST")
    if split_source == "test-split":
        for path in (root / "OfflineMNIST" / "raw").glob("train-*"):
            path.unlink()
    dm = OfflinePairs(classes=(2, 7), data_dir=root, download=True, split_source=split_source)
    dm.prepare_data()  # OfflineMNIST.download would raise
    dm.setup("fit")
    assert dm.train_tensors()[0].shape[1] == 784


def test_input_dim_is_known_before_a_download(tmp_path: Path) -> None:
    assert SyntheticPairs(data_dir=tmp_path / "later", download=True).input_dim == 784
    assert SyntheticPairs(data_dir=tmp_path / "later", download=True, bias=True).input_dim == 785
    with pytest.warns(DeprecationWarning, match=r"`append_bias` is deprecated, use `bias`"):
        assert SyntheticPairs(data_dir=tmp_path / "later", download=True, append_bias=True).input_dim == 785
    assert not (tmp_path / "later").exists()


def test_official_split_sizes_labels_order_and_scaling(root: Path) -> None:
    dm = SyntheticPairs(classes=(3, 8), data_dir=root, val_fraction=0.25)
    dm.setup("fit")
    x_train, y_train = dm.train_tensors()
    x_val, y_val = dm.val_tensors()
    x_test, y_test = dm.test_tensors()
    assert x_train.shape == (30, 784) and x_val.shape == (10, 784) and x_test.shape == (20, 784)
    for x, y in ((x_train, y_train), (x_val, y_val), (x_test, y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.float32
        assert int((y == 1).sum()) == int((y == -1).sum())  # stratified
        # Pixel 0 holds the digit: 3 -> +1, 8 -> -1; everything scaled to [0, 1].
        assert torch.equal(torch.where(y > 0, 3 / 255, 8 / 255), x[:, 0])
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # Train and validation together are exactly the pair's images of the official training file.
    images, labels = read_back(root / "SyntheticMNIST" / "raw" / "train")
    keep = (labels == 3) | (labels == 8)
    pool = torch.cat([x_train, x_val])
    assert sorted(map(tuple, pool.mul(255).round().tolist())) == sorted(map(tuple, images[keep].tolist()))
    assert dm.class_names == ("3 - three", "8 - eight")


def read_back(prefix: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.frombuffer(Path(f"{prefix}-images-idx3-ubyte").read_bytes()[16:], dtype=np.uint8).reshape(-1, 784)
    labels = np.frombuffer(Path(f"{prefix}-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
    return torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def test_test_split_mode_divides_the_official_test_split_only(root: Path) -> None:
    for name in FILES[:2]:
        (root / "SyntheticMNIST" / "raw" / name).unlink()
    dm = SyntheticPairs(classes=(0, 1), data_dir=root, split_source="test-split", val_fraction=0.2, test_fraction=0.3)
    sizes = {split: dm.tensors(split)[0].shape[0] for split in ("train", "val", "test")}
    assert sizes == {"train": 10, "val": 4, "test": 6}
    rows = torch.cat([dm.tensors(split)[0] for split in ("train", "val", "test")])
    assert torch.unique(rows, dim=0).shape[0] == 20  # disjoint, and all of the pair's test images


def test_division_is_seeded(root: Path) -> None:
    first = SyntheticPairs(data_dir=root, seed=5).val_tensors()[0]
    again = SyntheticPairs(data_dir=root, seed=5).val_tensors()[0]
    other = SyntheticPairs(data_dir=root, seed=6).val_tensors()[0]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_normalize_and_bias_options(root: Path) -> None:
    raw = SyntheticPairs(data_dir=root, normalize="none").test_tensors()[0]
    assert float(raw.max()) == 255.0 and float(raw[:, 1:].min()) >= 1.0
    unit = SyntheticPairs(data_dir=root, normalize="unit_norm", bias=True)
    x, _ = unit.test_tensors()
    assert unit.input_dim == 785 and bool((x[:, -1] == 1.0).all())
    torch.testing.assert_close(x[:, :-1].norm(dim=1), torch.ones(x.shape[0]))


def test_gz_files_read_like_extracted_ones(root: Path) -> None:
    extracted = SyntheticPairs(data_dir=root).test_tensors()
    raw = root / "SyntheticMNIST" / "raw"
    for name in FILES:
        with open(raw / name, "rb") as plain, gzip.open(raw / f"{name}.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        (raw / name).unlink()
    from_gz = SyntheticPairs(data_dir=root).test_tensors()
    assert torch.equal(extracted[0], from_gz[0]) and torch.equal(extracted[1], from_gz[1])
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{name}.gz" for name in FILES)  # nothing written


def test_missing_folder_and_missing_train_files_name_the_fix(tmp_path: Path, root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"`data_dir` .*nowhere is not a folder.*download=True"):
        SyntheticPairs(data_dir=tmp_path / "nowhere")
    for name in FILES[:2]:
        (root / "SyntheticMNIST" / "raw" / name).unlink()
    with pytest.raises(FileNotFoundError) as error:
        SyntheticPairs(data_dir=root)
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and "SyntheticMNIST/raw" in message
    assert "split_source='test-split'" in message and "download=True" in message


def test_corrupt_or_inconsistent_files_are_reported(root: Path) -> None:
    raw = root / "SyntheticMNIST" / "raw"
    labels = raw / "t10k-labels-idx1-ubyte"
    write_idx(labels, np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds 100 images but .*t10k-labels-idx1-ubyte holds 3 labels"):
        SyntheticPairs(data_dir=root).setup("test")
    labels.write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte is not a valid idx label file"):
        SyntheticPairs(data_dir=root).setup("test")
    labels.unlink()
    Path(f"{labels}.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz is not a readable gzip file"):
        SyntheticPairs(data_dir=root).setup("test")
    with gzip.open(f"{labels}.gz", "wb") as compressed:  # an intact gzip of a damaged idx file: the .gz is named
        compressed.write(b"\x00\x00\x08")
    with pytest.raises(ValueError, match=r"SyntheticMNIST/raw/t10k-labels-idx1-ubyte.gz is not a valid idx label file"):
        SyntheticPairs(data_dir=root).setup("test")


def test_a_class_absent_from_the_file_is_reported(root: Path) -> None:
    raw = root / "SyntheticMNIST" / "raw"
    write_synthetic_split(raw, "t10k", TEST_PER_CLASS, seed=2)
    labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8).copy()
    labels[labels == 9] = 8
    write_idx(raw / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=r"official test split of SyntheticMNIST .* holds no image of class 9"):
        SyntheticPairs(classes=(1, 9), data_dir=root).setup("test")


def test_fractions_that_leave_a_split_empty_are_reported(root: Path) -> None:
    dm = SyntheticPairs(data_dir=root, split_source="test-split", val_fraction=0.01, test_fraction=0.5)
    with pytest.raises(ValueError, match=r"only 10 images labelled \+1: `val_fraction`=0.01 of them rounds to 0"):
        dm.setup("fit")
    dm = SyntheticPairs(data_dir=root, split_source="test-split", val_fraction=0.5, test_fraction=0.49)
    with pytest.raises(ValueError, match=r"leave none for training"):
        dm.setup("fit")


BAD_ARGUMENTS = [
    (dict(classes=(1, 10)), ValueError, r"`classes\[1\]` must be a class index in 0..9 of SyntheticMNIST"),
    (dict(classes=(-1, 2)), ValueError, r"`classes\[0\]` must be an int >= 0, got -1"),
    (dict(classes=(4, 4)), ValueError, r"`classes` must name two different classes, got \(4, 4\)"),
    (dict(classes=()), ValueError, r"`classes` must hold exactly two class indices \(a, b\), got 0"),
    (dict(classes=(1, 2, 3)), ValueError, r"`classes` must hold exactly two class indices \(a, b\), got 3"),
    (dict(classes=(1.0, 2)), TypeError, r"`classes\[0\]` must be an int >= 0, got float 1.0"),
    (dict(classes="01"), TypeError, r"`classes` must be a pair \(a, b\) of class indices, got str"),
    (dict(classes=3), TypeError, r"`classes` must be a pair \(a, b\) of class indices, got int"),
    (dict(data_dir=3), TypeError, r"`data_dir` must be a str or pathlib.Path, got int"),
    (dict(split_source="test"), ValueError, r"`split_source` must be one of 'official', 'test-split', got 'test'"),
    (dict(val_fraction=1.0), ValueError, r"`val_fraction` must be in \[0, 1\), got 1.0"),
    (dict(val_fraction=float("nan")), ValueError, r"`val_fraction` must be in \[0, 1\), got nan"),
    (dict(test_fraction=0.2), ValueError, r"`test_fraction` applies to split_source='test-split' only"),
    (
        dict(split_source="test-split", val_fraction=0.5, test_fraction=0.5),
        ValueError,
        r"`val_fraction` \+ `test_fraction` must be < 1",
    ),
    (dict(normalize="unit"), ValueError, r"`normalize` must be one of 'unit_interval', 'unit_norm', 'none'"),
    (dict(normalize=None), TypeError, r"`normalize` must be a str"),
    (dict(download="no"), TypeError, r"`download` must be a bool"),
    (dict(batch_size=0), ValueError, r"`batch_size` must be an int >= 1, got 0"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"), BAD_ARGUMENTS, ids=[str(sorted(k.items())) for k, _, _ in BAD_ARGUMENTS]
)
def test_bad_arguments_raise_in_init(root: Path, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SyntheticPairs(**{"data_dir": root, **kwargs})


def test_mnist_subclass_names_its_pair_digits(root: Path) -> None:
    with pytest.raises(ValueError, match=r"`digits\[0\]` must be a class index in 0..9 of MNIST"):
        MNISTPairsDataModule(digits=(12, 1), data_dir=root)
    with pytest.raises(TypeError, match=r"`digits\[1\]` must be an int >= 0, got str '2'"):
        MNISTPairsDataModule(digits=(1, "2"), data_dir=root)
    with pytest.raises(FileNotFoundError, match=r"MNIST test files .* not found"):
        MNISTPairsDataModule(digits=(3, 5), data_dir=root, split_source="test-split")


def test_mnist_pairs_are_rebuilt_from_their_hparams(root: Path) -> None:
    """Review: the hparams held both `classes` (the base class's argument) and `digits`, so load_from_checkpoint and
    MNISTPairsDataModule(**dm.hparams) raised "got multiple values for argument 'classes'"."""
    shutil.copytree(root / "SyntheticMNIST", root / "MNIST")
    dm = MNISTPairsDataModule(digits=(3, 5), data_dir=root, seed=4)
    assert "classes" not in dm.hparams and dm.hparams["digits"] == (3, 5)
    again = MNISTPairsDataModule(**dm.hparams)
    assert again.digits == (3, 5) and torch.equal(again.train_tensors()[0], dm.train_tensors()[0])
    with pytest.raises(TypeError, match=r"takes its pair as `digits`, got `classes=\(3, 5\)`"):
        MNISTPairsDataModule(classes=(3, 5), data_dir=root)


def test_the_base_class_needs_a_dataset_class(root: Path) -> None:
    with pytest.raises(TypeError, match=r"MNISTFormatPairsDataModule sets no `dataset_cls`"):
        MNISTFormatPairsDataModule(data_dir=root)

    class EMNISTPairs(MNISTFormatPairsDataModule):
        dataset_cls = EMNIST

    with pytest.raises(ValueError, match=r"`dataset_cls` EMNIST does not keep its data in the four standard idx"):
        EMNISTPairs(data_dir=root)

    class NotADataset(MNISTFormatPairsDataModule):
        dataset_cls = dict  # type: ignore[assignment]

    with pytest.raises(TypeError, match=r"`dataset_cls` must be torchvision.datasets.MNIST or a subclass"):
        NotADataset(data_dir=root)


def test_prepare_idx_folder_installs_torchvision_layout(tmp_path: Path, root: Path) -> None:
    source = tmp_path / "gz"
    source.mkdir()
    for name in FILES:
        with open(root / "SyntheticMNIST" / "raw" / name, "rb") as plain, gzip.open(source / f"{name}.gz", "wb") as gz:
            shutil.copyfileobj(plain, gz)
    raw = prepare_idx_folder(source, tmp_path / "out", KMNIST)
    assert raw == tmp_path / "out" / "KMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES)
    assert len(KMNIST(root=str(tmp_path / "out"), train=True, download=False)) == 10 * TRAIN_PER_CLASS
    assert prepare_idx_folder(source, tmp_path / "out", KMNIST) == raw  # idempotent
    with pytest.raises(FileNotFoundError, match=r"`source_dir` holds no complete split of MNIST"):
        prepare_idx_folder(tmp_path / "out", tmp_path / "again", MNIST)
