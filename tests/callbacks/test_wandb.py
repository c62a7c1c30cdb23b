"""The monitors with a W&B logger, offline: what the written run holds.

W&B 0.31 writes an offline run as one ``run-<id>.wandb`` file (no ``wandb-summary.json``): a LevelDB-style
log of ``wandb.proto`` ``Record`` messages in 32 KiB blocks. :func:`run_records` reads it back, so the
test checks what W&B would upload: the history rows, the ``define_metric`` records that plot every
monitor key against ``epoch``, the final summary, and the PNG files of :class:`NeuronPlotMonitor`.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wandb
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.loggers import WandbLogger
from wandb.proto import wandb_internal_pb2

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import ClusterRadiusMonitor, LinearRegionMonitor, LinearTeacherMonitor, MarginMonitor
from lt_teacher.callbacks import NeuralAgreementMonitor, NeuronPlotMonitor
from lt_teacher.datamodules import LinearTeacherDataModule

_FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)  # identifier, magic, version
_BLOCK, _RECORD_HEADER = 32768, struct.Struct("<IHB")  # crc32(type + data), length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
NAMESPACES = ("cluster", "linear_region", "margin", "nar", "par")


def run_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of a ``.wandb`` file, checking each chunk's crc32."""
    data = path.read_bytes()
    assert data[: len(_FILE_HEADER)] == _FILE_HEADER, f"{path} is not a W&B transaction log"
    offset, pending, chunks = len(_FILE_HEADER), b"", []
    while offset + _RECORD_HEADER.size <= len(data):
        if _BLOCK - offset % _BLOCK < _RECORD_HEADER.size:  # a block's tail too short for a header is padding
            offset += _BLOCK - offset % _BLOCK
            continue
        crc, length, kind = _RECORD_HEADER.unpack_from(data, offset)
        chunk = data[offset + _RECORD_HEADER.size : offset + _RECORD_HEADER.size + length]
        offset += _RECORD_HEADER.size + length
        assert zlib.crc32(bytes([kind]) + chunk) == crc, f"corrupt chunk at byte {offset}"
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            chunks.append(pending)
    return [wandb_internal_pb2.Record.FromString(chunk) for chunk in chunks]


def _items(items: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) of history/summary items; nested keys such as an image's fields are joined by '.'."""
    for item in items:
        yield (item.key or ".".join(item.nested_key)), json.loads(item.value_json)


@dataclass
class OfflineRun:
    run_dir: Path
    monitors: list[Callback]
    history: list[dict[str, Any]]  # one dict per W&B history row
    summary: dict[str, Any]  # the summary after every update
    metrics: list[wandb_internal_pb2.MetricRecord]


def _monitors(kind: str) -> list[Callback]:
    if kind == "combined":
        return [LinearTeacherMonitor()]
    return [ClusterRadiusMonitor(), LinearRegionMonitor(), NeuralAgreementMonitor(), MarginMonitor()]


def _plot_monitor() -> Callback:
    return NeuronPlotMonitor(grid_size=16, dpi=40)


@pytest.fixture(scope="module", params=["combined", "four-monitors"])
def offline_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineRun]:
    tmp_path = tmp_path_factory.mktemp(f"wandb-{request.param}")
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
            "WANDB_CONFIG_DIR": str(tmp_path / "config"), "WANDB_CACHE_DIR": str(tmp_path / "cache"),
            "WANDB_DATA_DIR": str(tmp_path / "data"), "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true",
        }.items():
            env.setenv(name, value)
        seed_everything(0, verbose=False)
        monitors = _monitors(request.param)
        plots = _plot_monitor() if request.param == "combined" else None
        logger = WandbLogger(save_dir=tmp_path, offline=True, project="lt-teacher-test")
        trainer = Trainer(
            max_epochs=2, logger=logger, callbacks=[*monitors, *([plots] if plots else [])], default_root_dir=tmp_path,
            accelerator="cpu", devices=1, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            log_every_n_steps=1,
        )
        datamodule = LinearTeacherDataModule(dim=2, n_train=24, n_val=10, n_test=0, batch_size=4)
        trainer.fit(LeakyReLUTeacherNet(input_dim=2, k=3, lr=0.1), datamodule=datamodule)
        run = logger.experiment
        run_dir = Path(run.dir).parent
        run.finish()
        wandb.teardown()  # stops the wandb-core service: only then is the offline file completely written
        records = run_records(next(run_dir.glob("run-*.wandb")))
    history = [dict(_items(r.history.item)) for r in records if r.WhichOneof("record_type") == "history"]
    summary: dict[str, Any] = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            summary.update(_items(record.summary.update))
    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    yield OfflineRun(run_dir, [*monitors, *([plots] if plots else [])], history, summary, metrics)


def _monitor_history(run: OfflineRun) -> list[dict[str, float]]:
    """The monitors' float64 history, merged across monitors, one dict per evaluated epoch."""
    rows: dict[float, dict[str, float]] = {}
    for monitor in run.monitors:
        for row in getattr(monitor, "history", []):
            rows.setdefault(row["epoch"], {}).update(row)
    return [rows[epoch] for epoch in sorted(rows)]


def test_every_monitor_key_is_in_the_run_history(offline_run):
    expected = _monitor_history(offline_run)
    assert [row["epoch"] for row in expected] == [1.0, 2.0]
    keys = set(expected[-1]) - {"epoch"}
    assert {key.split("/")[0] for key in keys} == set(NAMESPACES)
    assert {"linear_region/outside_fraction/val", "linear_region/outside_fraction/train"} <= keys  # n_test=0: no test keys
    rows = [row for row in offline_run.history if keys & set(row)]
    assert len(rows) == 2  # one W&B row per evaluation, with every key
    for row, reference in zip(rows, expected):
        assert keys <= set(row)
        assert row["epoch"] == reference["epoch"] - 1  # Lightning's epoch counter is 0-based, the history's 1-based
        for key in keys:  # Lightning logs float32
            assert row[key] == pytest.approx(reference[key], rel=1e-6, abs=1e-7), key


def test_monitor_keys_are_plotted_against_the_epoch(offline_run):
    defined = {m.glob_name or m.name: m.step_metric for m in offline_run.metrics}
    assert "epoch" in defined
    for namespace in NAMESPACES:
        assert defined.get(f"{namespace}/*") == "epoch", f"no define_metric('{namespace}/*', step_metric='epoch')"


def test_summary_holds_the_last_values_in_float64(offline_run):
    last = _monitor_history(offline_run)[-1]
    for key, value in last.items():
        if key != "epoch":
            assert offline_run.summary[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


# ----------------------------------------------------------------------------- NeuronPlotMonitor
def test_neuron_plots_are_in_the_run(offline_run):
    plots = next((m for m in offline_run.monitors if type(m).__name__ == "NeuronPlotMonitor"), None)
    if not any(type(m) is LinearTeacherMonitor for m in offline_run.monitors):
        assert plots is None  # the four-monitors run does not draw
        return
    assert plots is not None, "the combined run attaches a NeuronPlotMonitor"
    for name in ("neurons", "decision_boundary"):
        rows = [row for row in offline_run.history if f"plots/{name}._type" in row]
        assert len(rows) == 2, name  # one image per epoch
        for row in rows:
            assert row[f"plots/{name}._type"] == "images/separated" and row[f"plots/{name}.format"] == "png"
            (filename,) = row[f"plots/{name}.filenames"]
            assert filename.startswith(f"media/images/plots/{name}_")
            assert (offline_run.run_dir / "files" / filename).stat().st_size > 0
    assert len(plots.saved_files) == 4 and all(Path(p).is_file() for p in plots.saved_files)
