"""NeuronPlotMonitor and the figure builders of lt_teacher.plotting (Figures 1, 3)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import wandb
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from _helpers import separable_gaussians
from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import NeuronPlotMonitor
from lt_teacher.plotting import decision_boundary_figure, neuron_figure, projection_plane

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fit(model: LightningModule, callbacks: list, x: torch.Tensor, y: torch.Tensor, tmp_path: Path, epochs: int, logger=False) -> Trainer:
    trainer = Trainer(
        max_epochs=epochs, default_root_dir=tmp_path, logger=logger, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True))
    return trainer


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_2d_gets_both_plots_at_the_right_epochs(tmp_path):
    x, y = separable_gaussians(n=30, d=2)
    monitor = NeuronPlotMonitor(every_n_epochs=2, grid_size=40)
    fit(LeakyReLUTeacherNet(input_dim=2, k=5), [monitor], x, y, tmp_path, epochs=5)

    folder = tmp_path / "lt_teacher_plots"  # logger=False: trainer.log_dir is default_root_dir
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "decision_boundary_epoch0002.png", "decision_boundary_epoch0004.png",
        "neurons_epoch0002.png", "neurons_epoch0004.png",
    ]
    assert [Path(p).name for p in monitor.saved_files] == [
        "neurons_epoch0002.png", "decision_boundary_epoch0002.png",
        "neurons_epoch0004.png", "decision_boundary_epoch0004.png",
    ]
    for path in folder.iterdir():
        assert_png(path)
    assert plt.get_fignums() == []  # nothing left open in pyplot


def test_high_dimensional_bias_and_learned_output_get_only_the_neuron_plot(tmp_path):
    x, y = separable_gaussians(n=20, d=50)

    class UserModule(LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(50, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1, bias=False))

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            return nn.functional.softplus(-yb * self.net(xb)[:, 0]).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    monitor = NeuronPlotMonitor(save_dir=tmp_path / "plots")
    fit(UserModule(), [monitor], x, y, tmp_path, epochs=1)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["neurons_epoch0001.png"]
    assert_png(tmp_path / "plots" / "neurons_epoch0001.png")


def test_2d_with_bias_and_plots_subset(tmp_path):
    x, y = separable_gaussians(n=20, d=2)
    monitor = NeuronPlotMonitor(save_dir=str(tmp_path / "out"), plots=["decision_boundary"], max_points=7, grid_size=10)
    fit(LeakyReLUTeacherNet(input_dim=2, k=3, bias=True), [monitor], x, y, tmp_path, epochs=1)
    assert [Path(p).name for p in monitor.saved_files] == ["decision_boundary_epoch0001.png"]
    assert monitor._points[0].shape == (7, 2)  # the seeded max_points subset


def test_nothing_written_on_other_ranks(tmp_path, monkeypatch):
    x, y = separable_gaussians(n=20, d=2)
    monitor = NeuronPlotMonitor(save_dir=tmp_path / "plots", grid_size=10)
    monkeypatch.setattr(Trainer, "is_global_zero", property(lambda self: False))
    fit(LeakyReLUTeacherNet(input_dim=2, k=3), [monitor], x, y, tmp_path, epochs=2)
    assert not (tmp_path / "plots").exists() and monitor.saved_files == []
    assert monitor._points is not None  # the data were still read and checked on this rank


def test_wandb_offline_receives_the_images(tmp_path, monkeypatch):
    for name, value in {
        "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(tmp_path / "config"),
        "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_DATA_DIR": str(tmp_path / "data"), "WANDB_DISABLE_GIT": "true",
    }.items():
        monkeypatch.setenv(name, value)
    logger = WandbLogger(project="lt-teacher-test", save_dir=str(tmp_path), offline=True)
    x, y = separable_gaussians(n=20, d=2)
    monitor = NeuronPlotMonitor(grid_size=10)
    try:
        fit(LeakyReLUTeacherNet(input_dim=2, k=3), [monitor], x, y, tmp_path, epochs=2, logger=logger)
        run_dir = Path(logger.experiment.dir)  # <save_dir>/wandb/offline-run-*/files
    finally:
        logger.experiment.finish()
        wandb.teardown()  # stops the wandb-core service, which completes its writes
    images = sorted((run_dir / "media" / "images").rglob("*.png"))
    assert len(images) == 4  # two plots x two epochs
    assert {p.name.split("_")[0] for p in images} == {"neurons", "decision"}
    for path in images:
        assert_png(path)
    assert len(monitor.saved_files) == 4
    assert all(Path(p).parent == tmp_path / "lt_teacher_plots" for p in monitor.saved_files)


def test_state_dict_round_trip():
    monitor = NeuronPlotMonitor()
    monitor.saved_files = ["a/neurons_epoch0001.png"]
    other = NeuronPlotMonitor()
    other.load_state_dict(monitor.state_dict())
    assert other.saved_files == monitor.saved_files
    other.load_state_dict({})
    assert other.saved_files == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every_n_epochs": 0}, ValueError, r"`every_n_epochs` must be an int >= 1, got 0"),
        ({"max_points": -1}, ValueError, r"`max_points` must be None or an int >= 1, got -1"),
        ({"grid_size": 1}, ValueError, r"`grid_size` must be an int >= 2, got 1"),
        ({"save_dir": 3}, TypeError, r"`save_dir` must be None, a str or a Path, got int"),
        ({"plots": ["neurons", "heatmap"]}, ValueError, r"`plots` must be a non-empty subset .* got \['neurons', 'heatmap'\]"),
        ({"plots": "neurons"}, ValueError, r"got 'neurons'"),
        ({"plots": []}, ValueError, r"got \[\]"),
        ({"data": {"test": None}}, ValueError, r"keys \['test'\]"),
        ({"network_fn": 1}, TypeError, r"`network_fn` must be callable, got int"),
        ({"dpi": 0}, ValueError, r"`dpi` must be an int >= 1, got 0"),
    ],
    ids=["every", "max-points", "grid", "save-dir", "plots-unknown", "plots-str", "plots-empty", "data-test", "netfn", "dpi"],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        NeuronPlotMonitor(**kwargs)


# ------------------------------------------------------------------ the pure figure builders
def test_projection_plane_is_orthonormal_and_starts_with_the_linear_direction():
    torch.manual_seed(0)
    w, u = torch.randn(6, 7) + 2.0, torch.randn(6, 7) - 1.0
    basis, _ = projection_plane(w, u)
    assert torch.allclose(basis @ basis.T, torch.eye(2, dtype=torch.float64), atol=1e-12)
    gap = (w.mean(0) - u.mean(0)).double()
    assert torch.allclose(basis[0], gap / gap.norm(), atol=1e-12)


@pytest.mark.parametrize(
    ("w", "u"),
    [
        (torch.zeros(3, 5), torch.zeros(3, 5)),  # no neuron has a direction
        (torch.ones(3, 5), -torch.ones(3, 5)),  # every neuron on the first axis
        (torch.ones(3, 5), torch.ones(3, 5)),  # w_bar = u_bar
        (torch.ones(2, 1), -torch.ones(2, 1)),  # 1-D inputs
    ],
    ids=["all-zero", "collinear", "equal-means", "one-dim"],
)
def test_degenerate_neurons_still_draw(w, u):
    basis, _ = projection_plane(w, u)
    assert torch.isfinite(basis).all()
    assert len(neuron_figure(w, u).axes) == 1


def test_decision_boundary_regions_match_the_network():
    # Figure 4a: w = (1, 0), u = (0, 1): the Leaky-ReLU boundary is the line x1 = x2.
    w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    x, y = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([1, 0])
    fig = decision_boundary_figure(w, u, 0.1, 1.0, x, y, grid_size=5)
    regions = fig.axes[0].images[0].get_array()
    grid = torch.linspace(-1.2, 1.2, 5)
    expected = torch.sign(grid[None, :] - grid[:, None])  # rows: x2, columns: x1
    assert torch.equal(torch.as_tensor(regions.data), expected.double())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": torch.zeros(3, 3)}, "`x` must have 2 columns"),
        ({"w": torch.zeros(2, 4), "u": torch.zeros(2, 4)}, "width 2 .* or 3 .* got width 4"),
        ({"grid_size": 1}, "`grid_size` must be an int >= 2, got 1"),
        ({"y": torch.tensor([2, 2, 2])}, "labels"),
    ],
    ids=["x-width", "neuron-width", "grid", "labels"],
)
def test_decision_boundary_bad_inputs(kwargs, match):
    args = {"w": torch.ones(2, 2), "u": -torch.ones(2, 2), "alpha": 0.1, "v": 1.0, "x": torch.randn(3, 2), "y": torch.tensor([1, -1, 1])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        decision_boundary_figure(**args)
