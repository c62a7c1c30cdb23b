"""Monitors on a module that trains S seeds at once: each seed, their mean and their spread."""

import statistics

import pytest
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet, num_seeds, two_layer_view
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.functional import cluster_radius, linear_region_mask, neural_agreement, smoothed_margin

from _helpers import separable_gaussians


def test_each_seed_and_the_mean_with_spread(tmp_path):
    seed_everything(0)
    x, y = separable_gaussians(n=24, d=3, seed=4)
    net = LeakyReLUTeacherNet(input_dim=3, k=4, init_std=0.3, lr=0.05, num_seeds=3)
    monitor = LinearTeacherMonitor()
    trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, callbacks=[monitor])
    trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True))
    assert num_seeds(net) == 3
    row = monitor.history[-1]
    x64 = x.double()
    per_seed = []
    for s in range(3):
        view = two_layer_view(net, s)
        expected = {
            "cluster/radius": cluster_radius(view.w, view.u).radius.item(),
            "linear_region/outside_fraction/train": (~linear_region_mask(x64, view.w, view.u)).double().mean().item(),
            "nar/max_disagreement_w": neural_agreement(x64, view.w, view.u).max_disagreement_w.item(),
            "margin/smoothed": smoothed_margin(y.double() * view.forward(x), view.param_norm).item(),
        }
        for key, value in expected.items():
            assert row[f"{key}/seed_{s}"] == pytest.approx(value, rel=1e-9, abs=1e-12)
        per_seed.append(expected)
    for key in per_seed[0]:
        column = [values[key] for values in per_seed]
        assert row[key] == pytest.approx(statistics.mean(column), rel=1e-9, abs=1e-12)
        assert row[f"{key}/std"] == pytest.approx(statistics.stdev(column), rel=1e-7, abs=1e-12)
    assert "cluster/radius/seed_2" in trainer.callback_metrics
