"""`lt-teacher fit --ckpt_path last` resumes the interrupted run (issue 13, finding 7).

The default config keeps last.ckpt; resuming continues the same CSV version (its metrics.csv keeps
the earlier rows) and the same W&B run id.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(cwd), WANDB_SILENT="true", WANDB_MODE="offline", WANDB_CONFIG_DIR=str(cwd / ".wandb-config"),
               WANDB_CACHE_DIR=str(cwd / ".wandb-cache"))
    return subprocess.run([sys.executable, "-m", "lt_teacher.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


TINY = ["--data.init_args.n_train", "20", "--data.init_args.n_val", "10", "--data.init_args.n_test", "10",
        "--model.k", "3", "--trainer.enable_progress_bar", "false"]


def wandb_ids(runs: Path) -> set[str]:
    return {p.name.rsplit("-", 1)[1] for p in (runs / "wandb").glob("offline-run-*")}


@pytest.mark.slow
def test_ckpt_path_last_resumes_the_same_csv_version_and_wandb_run(tmp_path):
    first = run_cli(["fit", *TINY, "--trainer.max_epochs", "2"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    runs = tmp_path / "runs"
    (last,) = runs.glob("csv/version_*/checkpoints/last.ckpt")
    assert torch.load(last, weights_only=False)["epoch"] == 1
    ids = wandb_ids(runs)
    assert len(ids) == 1

    resumed = run_cli(["fit", *TINY, "--trainer.max_epochs", "4", "--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "No checkpoint will be loaded" not in resumed.stderr
    assert [p.name for p in runs.glob("csv/version_*")] == ["version_0"]
    with (runs / "csv" / "version_0" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    epochs = sorted(int(float(r["epoch"])) for r in rows if r.get("cluster/radius"))
    assert epochs == [0, 1, 2, 3]  # one history: the first run's epochs and the resumed ones, each once
    assert wandb_ids(runs) == ids
    assert torch.load(last, weights_only=False)["epoch"] == 3


def test_ckpt_path_last_without_a_checkpoint_is_an_error(tmp_path):
    result = run_cli(["fit", *TINY, "--trainer.max_epochs", "1", "--ckpt_path", "last"], tmp_path)
    assert result.returncode != 0
    assert "last.ckpt" in result.stderr and "ckpt_path" in result.stderr
