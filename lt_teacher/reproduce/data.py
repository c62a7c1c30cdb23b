"""Where a reproduction's data comes from: the datamodule of a run and, for MNIST, the files found on disk."""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lt_teacher._cli_support import suggest
from lt_teacher.datamodules import LinearTeacherDataModule, MNISTPairsDataModule
from lt_teacher.datamodules.idx_files import find_split_files

from .dialect import DATA_CLASSES
from .errors import ConfigError

class DataNotFound(ConfigError):
    """The real data set a reproduction needs is not on this machine."""


@dataclass(frozen=True)
class MNISTLocation:
    """Where MNIST was found and which split the runs use (the report states it)."""

    data_dir: Path
    split_source: str  # "official" or "test-split"
    note: str


def _mnist_candidates() -> list[Path]:
    """Folders searched for ``MNIST/raw`` when ``data_dir: auto``, in order."""
    repo = Path(__file__).resolve().parents[2]  # the repository root of an editable install
    candidates = [Path(p) for p in (os.environ.get("LT_TEACHER_DATA_DIR"),) if p]
    candidates += [Path("data"), Path("../shared/data"), repo / "data", repo.parent / "shared" / "data"]
    unique: list[Path] = []
    for path in candidates:
        if path.resolve() not in [u.resolve() for u in unique]:
            unique.append(path)
    return unique


def _relative(path: Path) -> str:
    """``path`` relative to the working directory (reports name no absolute path of the machine that made them)."""
    try:
        return os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:  # another drive (Windows)
        return path.name


def locate_mnist(data_dir: str, split_source: str) -> MNISTLocation:
    """Resolve ``data_dir: auto`` and ``split_source: auto`` to the official split found on disk.

    ``auto`` split: the official training split if its files exist, else the official *test* split
    divided into train/val/test (never silently: the note says so and the report prints it).
    """
    if split_source not in ("auto", "official", "test-split"):
        raise ConfigError(f"`data.split_source` must be auto, official or test-split, got {split_source!r}.")
    candidates = _mnist_candidates() if data_dir == "auto" else [Path(data_dir)]
    for root in candidates:
        raw = root / "MNIST" / "raw"
        _, missing_test = find_split_files(raw, "test")
        if missing_test:
            continue
        _, missing_train = find_split_files(raw, "train")
        if split_source == "official" and missing_train:
            raise DataNotFound(
                f"split_source=official, but the official MNIST training files {missing_train} are not in {raw}; "
                "use `--data.split_source auto` (or test-split), or put the files there."
            )
        chosen = split_source if split_source != "auto" else ("test-split" if missing_train else "official")
        shown = _relative(raw)
        if chosen == "official":
            note = f"official MNIST split from {shown}: training (with a held-out validation share) and test files."
        else:
            note = (
                f"only the official MNIST *test* split (t10k, 10,000 images) is on this machine ({shown}); "
                "the official training files are not, so the training and test sets (and a validation set if val_fraction > 0) are a seeded, per-label "
                "division of the official test split. Numbers are therefore not on the official training set."
            )
        return MNISTLocation(root, chosen, note)
    looked = ", ".join(str(c / "MNIST" / "raw") for c in candidates)
    raise DataNotFound(
        f"MNIST not found (looked for t10k-images-idx3-ubyte[.gz] in: {looked}). Set LT_TEACHER_DATA_DIR or "
        "`--data.data_dir PATH` (torchvision layout PATH/MNIST/raw), or `--data.download true` with internet."
    )


def closest_argument(err: TypeError, cls: type) -> str:
    """ " Did you mean 'alpha'?" for an unexpected keyword argument close to one of ``cls``'s, else ""."""
    match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    if not match:
        return ""
    names = [p for klass in cls.__mro__ if "__init__" in vars(klass) for p in inspect.signature(vars(klass)["__init__"]).parameters]
    close = suggest(match.group(1), [n for n in names if n not in {"self", "args", "kwargs"}])
    return f" Did you mean {close!r}?" if close else ""


@dataclass(frozen=True)
class PreparedData:
    """The datamodule of a run, and what ``lt-teacher fit`` needs to build the same one."""

    datamodule: Any
    class_path: str  # data.class_path of the run's fit config
    init_args: dict[str, Any]  # the arguments it was built with (MNIST files resolved)
    note: str | None  # for MNIST: which split was used (the report prints it)


def data_kind(class_path: object, where: str) -> str:
    """``data.class_path`` (full or the class name alone, as jsonargparse accepts it) -> "gaussian" or "mnist"."""
    for kind, path in DATA_CLASSES.items():
        if class_path in (path, path.rsplit(".", 1)[-1]):
            return kind
    raise ConfigError(f"{where}: `data.class_path` must be one of {', '.join(DATA_CLASSES.values())}, got {class_path!r}.")


def make_datamodule(kind: str, kwargs: dict[str, Any]) -> PreparedData:
    """The datamodule of a run and, for MNIST, the note on which split was used."""
    where = f"`data` ({DATA_CLASSES.get(kind, kind)})"
    if kind == "gaussian":
        try:
            return PreparedData(LinearTeacherDataModule(**kwargs), DATA_CLASSES[kind], dict(kwargs), None)
        except TypeError as err:
            raise ConfigError(f"{where}: {err} (see LinearTeacherDataModule's arguments).{closest_argument(err, LinearTeacherDataModule)}") from err
    if kind == "mnist":
        args = dict(kwargs)
        location = locate_mnist(str(args.pop("data_dir", "auto")), str(args.pop("split_source", "auto")))
        if location.split_source == "official":
            args.pop("test_fraction", None)  # the official test split is the test set
        try:
            dm = MNISTPairsDataModule(data_dir=location.data_dir, split_source=location.split_source, **args)
        except TypeError as err:
            raise ConfigError(f"{where}: {err} (see MNISTPairsDataModule's arguments).{closest_argument(err, MNISTPairsDataModule)}") from err
        init_args = {"data_dir": str(location.data_dir), "split_source": location.split_source, **args}
        return PreparedData(dm, DATA_CLASSES[kind], init_args, location.note)
    raise ConfigError(f"`data.class_path` must be one of {', '.join(DATA_CLASSES.values())}, got kind {kind!r}.")
