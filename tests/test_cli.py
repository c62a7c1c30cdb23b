"""The `lt-teacher` command line: the README's main job on a machine with no network and no W&B account."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, require_real_data

MONITOR_KEYS = {
    "cluster/radius", "cluster/radius_w", "cluster/radius_u", "cluster/mean_gap", "cluster/radius_ratio",
    "cluster/max_angle_w", "cluster/max_angle_u",
    *(f"linear_region/{name}/{split}" for name in ("outside_fraction", "disagreement") for split in ("train", "val", "test")),
    "nar/max_disagreement_w", "nar/max_disagreement_u", "nar/agreement_fraction", "nar/agreement_fraction_w",
    "nar/agreement_fraction_u", "nar/in_nar", "par/fraction_w", "par/fraction_u",
    "margin/loss", "margin/log_loss", "margin/accuracy", "margin/normalized", "margin/smoothed",
    "margin/assumption_6_1", "margin/theorem_6_2_threshold", "margin/above_threshold",
}


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(cwd), WANDB_SILENT="true", WANDB_CONFIG_DIR=str(cwd / ".wandb-config"), WANDB_CACHE_DIR=str(cwd / ".wandb-cache"))
    return subprocess.run([sys.executable, "-m", "lt_teacher.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def csv_columns(run_dir: Path) -> set[str]:
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as f:
        return set(next(csv.reader(f)))


@pytest.mark.slow
def test_main_job_runs_offline_with_every_monitor_key(tmp_path):
    """`lt-teacher fit` with no arguments: the first command of the README."""
    result = run_cli(["fit"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = tmp_path / "runs"
    assert MONITOR_KEYS <= csv_columns(runs)
    (offline_run,) = (runs / "wandb").glob("offline-run-*")
    assert list(offline_run.glob("*.wandb")), "the W&B offline run has no data file"
    assert "W&B run (offline)" in result.stdout and str(Path("runs") / "wandb") in result.stdout
    assert len(list(runs.glob("csv/version_*/lt_teacher_plots/*_epoch*.png"))) == 10  # neuron snapshots
    assert len(list(runs.glob("csv/version_*/lt_teacher_plots/curves.png"))) == 1  # the curves over the epochs
    assert list(runs.glob("csv/version_*/checkpoints/*.ckpt"))


def test_validate_and_test_subcommands(tmp_path):
    for subcommand in ("validate", "test"):
        result = run_cli([subcommand, "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    ("args", "must_say"),
    [
        (["--model.alpha", "1.5", "--trainer.max_epochs", "1"], "alpha"),
        (["--config", str(REPO_ROOT / "configs" / "mnist-pair.yaml"), "--data.init_args.data_dir", "nowhere"], "MNIST/raw"),
    ],
    ids=["model-value", "missing-mnist"],
)
def test_bad_arguments_say_what_is_wrong(args, must_say, tmp_path, monkeypatch, capsys):
    """In-process (a subprocess run of the same errors is in test_cli_output.py)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("LT_TEACHER_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args])
    assert exit_info.value.code not in (0, None)
    assert must_say in capsys.readouterr().err


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO_ROOT / "configs").glob("*.yaml")))
def test_every_config_parses(config, tmp_path, monkeypatch, capsys):
    """In-process: `--print_config` parses the whole config and exits 0 (the main job runs as a subprocess above)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(REPO_ROOT / "configs" / config), "--print_config"]
    if config == "large-init.yaml":
        args[1:1] = ["--config", str(REPO_ROOT / "configs" / "default.yaml")]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr()
    assert exit_info.value.code in (0, None), out.err[-3000:]
    assert "class_path: lt_teacher.datamodules." in out.out


def test_mnist_pair_on_the_real_test_split(tmp_path):
    data_dir = Path(os.environ.get("LT_TEACHER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not (data_dir / "MNIST" / "raw").is_dir():
        if require_real_data():
            pytest.fail(f"real MNIST data missing under {data_dir}")
        pytest.skip(f"real MNIST data missing under {data_dir}")
    result = run_cli(
        ["fit", "--config", str(REPO_ROOT / "configs" / "mnist-pair.yaml"), "--data.init_args.data_dir", str(data_dir),
         "--data.init_args.split_source", "test-split", "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert MONITOR_KEYS <= csv_columns(tmp_path / "runs")


TINY_RUN = ["--data.init_args.n_train", "40", "--data.init_args.n_val", "10", "--data.init_args.n_test", "10", "--model.k", "3",
            "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]


@pytest.mark.timeout(300)
def test_under_ddp_spawn_the_closing_message_names_the_run_folder_the_workers_wrote(tmp_path):
    """Review: the launching process asked its CSVLogger for a version only after the workers had made version_0, and
    named version_1, which does not exist."""
    result = run_cli(["fit", *TINY_RUN, "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
                      "--trainer.logger", '[{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "csv"}}]'],
                     tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"CSVLogger: {Path('runs') / 'csv' / 'version_0'}" in result.stdout, result.stdout
    assert not (tmp_path / "runs" / "csv" / "version_1").exists()


def test_the_deprecated_engine_name_trains_from_the_command_line(tmp_path):
    """Review: LightningCLI kept the raw `autograd` in the hparams, which the training step read as a per-example engine."""
    result = run_cli(["fit", *TINY_RUN, "--model.engine", "autograd", "--trainer.logger", "false"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
