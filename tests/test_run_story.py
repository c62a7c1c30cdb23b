"""What a run tells its user: the summary table, the curves figure, the model summary, the data splits, report figures."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger
from PIL import Image

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import CurvePlotMonitor, LinearTeacherMonitor, LinearTeacherProgressBar
from lt_teacher.callbacks.teacher_net_summary import describe_network
from lt_teacher.datamodules import LinearTeacherDataModule
from lt_teacher.plotting import diagnostic_curves_figure, save_png
from lt_teacher.summary import num_networks, summary_table

ONE = {
    "epoch": 5.0,
    "linear_region/outside_fraction/train": 0.0,
    "linear_region/outside_fraction/test": 0.25,
    "cluster/radius": 0.0123,
    "cluster/radius_ratio": 0.05,
    "nar/in_nar": 1.0,
    "par/fraction_w": 1.0,
    "par/fraction_u": 0.5,
    "margin/loss": 0.02,
    "margin/accuracy": 1.0,
    "margin/smoothed": 0.3,
    "margin/theorem_6_2_threshold": 2.0,
    "margin/above_threshold": 0.0,
}


def test_the_table_gives_the_papers_reading():
    table = summary_table(ONE, title="after 5 epochs")
    assert table.startswith("lt-teacher: final diagnostics after 5 epochs (1 network)")
    assert "certified linear on 75.0 % of test points (Theorem 5.1)" in table
    assert "certified linear on 100.0 % of train points (Theorem 5.1)" in table
    assert "0.0123" in table and "in a PAR: no" in table and "above the Theorem 6.2 threshold: no" in table
    assert "in an NAR (Definition 6.2)" in table and " yes " in table
    assert "val points" not in table  # missing splits are left out


def test_several_networks_show_mean_and_spread_and_count_the_readings():
    values = {}
    per_seed = {"cluster/radius": [1.0, 2.0, 3.0], "par/fraction_w": [1.0, 1.0, 0.5], "par/fraction_u": [1.0, 1.0, 1.0],
                "linear_region/outside_fraction/test": [0.0, 0.1, 0.2]}
    for key, column in per_seed.items():
        values[key] = sum(column) / 3
        values[f"{key}/std"] = float(torch.tensor(column, dtype=torch.float64).std())
        values.update({f"{key}/seed_{s}": v for s, v in enumerate(column)})
    assert num_networks(values) == 3
    table = summary_table(values)
    assert "(3 networks, mean ± std)" in table
    assert "2 ± 1" in table  # radius: mean 2, sample std 1
    assert "in a PAR: 2/3 networks" in table
    assert "10.0 % ± 10.0 %" in table


def test_nothing_known_gives_no_table():
    assert summary_table({"epoch": 1.0, "train/loss": 0.3}) == ""


def test_the_curves_figure_is_wide_and_tells_the_splits_apart_by_line_style(tmp_path):
    history = [{**ONE, "epoch": float(e), "cluster/max_angle_w": 0.1, "cluster/max_angle_u": 0.2, "nar/max_disagreement_w": 1.0,
                "nar/max_disagreement_u": 0.0, "margin/normalized": 0.01} for e in range(1, 6)]
    fig = diagnostic_curves_figure(history, title="test")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    outside = next(ax for ax in axes if "Fig. 2" in ax.get_title())
    styles = {line.get_label(): line.get_linestyle() for line in outside.get_lines()}
    assert styles == {"train": "-", "test": "--"}
    path = save_png(fig, tmp_path / "curves.png")
    with Image.open(path) as image:
        assert image.width >= 600 and image.width > image.height
    with pytest.raises(ValueError, match="no evaluation"):
        diagnostic_curves_figure([])
    with pytest.raises(ValueError, match="none of the monitored keys"):
        diagnostic_curves_figure([{"epoch": 1.0, "train/loss": 1.0}])


def test_training_writes_the_curves_and_validate_test_evaluate(tmp_path):
    monitor, curves = LinearTeacherMonitor(), CurvePlotMonitor()
    trainer = Trainer(max_epochs=2, callbacks=[curves, monitor, LinearTeacherProgressBar()], logger=CSVLogger(tmp_path),
                      enable_checkpointing=False, enable_model_summary=False, log_every_n_steps=1)
    model = LeakyReLUTeacherNet(input_dim=2, k=3, lr=0.1)
    datamodule = LinearTeacherDataModule(dim=2, n_train=20, n_val=10, n_test=10, batch_size=5)
    trainer.fit(model, datamodule=datamodule)
    (path,) = curves.saved_files
    assert Path(path).name == "curves.png" and Path(path).parent.name == "lt_teacher_plots"
    assert [row["epoch"] for row in curves.history(trainer)] == [1.0, 2.0]
    assert monitor.latest == monitor.history[-1]
    results = trainer.test(model, datamodule=datamodule, verbose=False)
    assert monitor.latest["epoch"] == 2.0 and len(monitor.history) == 2  # not a training curve point
    expected = monitor.compute(model)
    assert monitor.latest["linear_region/outside_fraction/test"] == expected["linear_region/outside_fraction/test"]
    assert math.isclose(results[0]["linear_region/outside_fraction/test"], expected["linear_region/outside_fraction/test"], abs_tol=1e-6)


def test_the_model_summary_describes_the_fixed_output_network():
    text = describe_network(LeakyReLUTeacherNet(input_dim=3, k=4, alpha=0.2, v=0.5, num_seeds=2))
    assert "w-neurons (output +v)  2 x 4 x 3" in text
    assert "fixed +-v, v = 0.5 (not trained)" in text
    assert "48 trainable parameters, 0 frozen; 2 independent networks, input width 3" in text
    assert "max(z, 0.2 z)" in text


def test_a_datamodule_reports_its_splits_once_and_logs_them(tmp_path, monkeypatch):
    from lt_teacher.datamodules import _base

    printed: list[str] = []
    monkeypatch.setattr(_base, "rank_zero_info", printed.append)  # other tests may have quietened Lightning's loggers
    datamodule = LinearTeacherDataModule(dim=2, n_train=20, n_val=6, n_test=8, seed=3, batch_size=5)
    summary = datamodule.split_summary()
    assert {k: v["size"] for k, v in summary.items()} == {"train": 20, "val": 6, "test": 8}
    assert "seed 3" in summary["train"]["source"]
    logger = CSVLogger(tmp_path)
    trainer = Trainer(max_epochs=1, logger=logger, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(LeakyReLUTeacherNet(input_dim=2, k=2), datamodule=datamodule)
    datamodule.setup("test")
    assert [line for line in printed if line.startswith("LinearTeacherDataModule: train 20 (")] == printed
    assert len(printed) == 1
    assert logger.experiment.hparams["data_splits/test/size"] == 8


def test_mnist_sources_name_the_official_split(tmp_path):
    from lt_teacher.datamodules import MNISTPairsDataModule

    dm = MNISTPairsDataModule(digits=(3, 5), data_dir=tmp_path, download=True, split_source="test-split", val_fraction=0.1, test_fraction=0.2)
    sources = dm.split_sources()
    assert "official test split" in sources["train"] and "test_fraction=0.2" in sources["test"]
    with pytest.raises(FileNotFoundError, match="split_source='test-split'.*|download=True"):
        MNISTPairsDataModule(data_dir=tmp_path / "nowhere")


def test_report_figures_are_600_px_wide_and_name_the_override(tmp_path, monkeypatch):
    from lt_teacher.plotting import neuron_figure
    from lt_teacher.reproduce.experiments import _common
    from lt_teacher.reproduce.experiments._common import save_figure

    titles = []
    real = _common.save_compact_png
    monkeypatch.setattr(_common, "save_compact_png", lambda fig, path: (titles.append(fig.get_suptitle()), real(fig, path))[1])

    fig = neuron_figure(torch.randn(5, 2), torch.randn(5, 2), size=(4.0, 4.0))  # Figure 1's neuron picture
    setup = SimpleNamespace(name="fig1", cfg=SimpleNamespace(overrides=("model.alpha=0.2",)))
    save_figure(setup, fig, tmp_path, "neurons.png")
    with Image.open(tmp_path / "neurons.png") as image:
        assert image.width >= 600 and image.width == image.height
    assert titles and "--model.alpha=0.2" in titles[0]
