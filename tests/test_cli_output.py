"""The first hour with `lt-teacher`: help, version, short errors, a quiet run that tells its story, W&B runs.

Every command runs as a subprocess, as a user would type it, with no network and no W&B account.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from _helpers import REPO_ROOT
from test_cli import run_cli

WARNING_LINE = re.compile(r"warn|tip:|💡|deprecat", re.IGNORECASE)


def _lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the terminal shows, the progress bar's carriage-return redraws collapsed to their last state."""
    text = (result.stdout + result.stderr).replace("\x1b[A", "")
    return [line.split("\r")[-1] for line in text.splitlines() if line.split("\r")[-1].strip()]


def _wandb_records(run_dir: Path) -> list[Any]:
    import importlib.util

    # the reader of W&B's offline transaction log (tests/callbacks/test_wandb.py)
    spec = importlib.util.spec_from_file_location("_wandb_reader", REPO_ROOT / "tests" / "callbacks" / "test_wandb.py")
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    run_records = module.run_records
    (data_file,) = run_dir.glob("run-*.wandb")
    return run_records(data_file)


def _wandb_run(records: list[Any]) -> tuple[Any, dict[str, Any]]:
    """The run record (name, group, tags, job type) and the config as W&B would upload it."""
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    config: dict[str, Any] = {}
    for record in records:
        if record.WhichOneof("record_type") == "config":
            for item in record.config.update:
                config[item.key or ".".join(item.nested_key)] = json.loads(item.value_json)
    return run, config


# ------------------------------------------------------------------------------------------- help
def test_help_lists_every_command_with_a_pointer_to_the_readme(tmp_path):
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("fit", "validate", "test", "reproduce"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.MULTILINE), f"{command} not listed:\n{result.stdout}"
    assert "README" in result.stdout
    assert "Lightning Trainer command line tool" not in result.stdout
    assert result.stderr == ""


def test_version(tmp_path):
    result = run_cli(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"lt-teacher {version('lt-teacher')}"
    import lt_teacher

    assert lt_teacher.__version__ == version("lt-teacher")  # the package's own attribute, as users read it


def test_an_unknown_command_suggests_the_closest(tmp_path):
    result = run_cli(["fitt"], tmp_path)
    assert result.returncode == 2
    assert "Did you mean 'fit'" in result.stderr


# ----------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "must_say"),
    [
        (["--model.alpha", "1.5"], ["alpha", "1.5", "(0, 1)", "--model.alpha"]),
        (["--model.alpha", "abc"], ["lt-teacher fit: error: --model.alpha: expected float or list, got 'abc'\n"]),
        (["--data.n_train", "1"], ["n_train", "got 1", "--data.n_train"]),
        (["--data.init_args.dim", "x"], ["lt-teacher fit: error: --data.dim: expected int, got 'x'\n"]),
        (["--model.alhpa", "0.2"], ["--model.alhpa", "did you mean --model.alpha?"]),
        (["--data.digits", "[3,5]"], ["digits", "MNISTPairsDataModule"]),
        (["--trainer.max_epochs", "many"], ["max_epochs", "many"]),
    ],
    ids=["out-of-range", "wrong-type", "datamodule-value", "datamodule-type", "misspelt", "wrong-class", "trainer"],
)
def test_a_bad_argument_gives_a_short_message_naming_it(args, must_say, tmp_path, monkeypatch, capsys):
    """In-process (the subprocess case is below): `main` exits with 2 and a few lines on stderr."""
    err = _fit_error(args, tmp_path, monkeypatch, capsys)
    assert len([line for line in err.splitlines() if line.strip()]) <= 15, err
    assert "Traceback" not in err
    for text in must_say:
        assert text in err, f"{text!r} missing from:\n{err}"


def _fit_error(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """``lt-teacher fit ARGS`` in-process in ``tmp_path``: it must exit with 2; our error message on stderr, from its start
    (Lightning's log handler may still write to an earlier test's closed capture stream: look at our message only)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("LT_TEACHER_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "lt-teacher fit: error:" in err, err
    return err[err.index("lt-teacher fit: error:"):]


def _refused(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """``lt-teacher fit ARGS`` in-process: exit 2 with one line, no traceback, nothing written; the line."""
    err = _fit_error(args, tmp_path, monkeypatch, capsys)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == [], "a refused command left files behind"
    return err


@pytest.mark.parametrize(
    ("args", "must_say"),
    [
        (["--optimizer", "Adam"], ["--optimizer Adam", "--model.engine fused", "ignored", "--model.lr", "--model.engine lightning"]),
        (["--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "1"],
         ["--lr_scheduler StepLR", "--model.engine fused", "--model.lr", "--model.engine lightning"]),
        (["--model.engine", "reference", "--optimizer", "SGD", "--optimizer.lr", "0.1"], ["--optimizer SGD", "--model.engine reference"]),
        (["--model.engine", "lightning", "--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "1"],
         ["--lr_scheduler StepLR needs --optimizer"]),
        (["--trainer.precision", "16-mixed"], ["--trainer.precision 16-mixed", "32-true", "64-true", "autocast", "--model.engine lightning"]),
        (["--trainer.precision", "bf16-true"], ["--trainer.precision bf16-true", "32-true", "64-true", "bfloat16", "--model.engine lightning"]),
        (["--trainer.accelerator", "cpu", "--trainer.devices", "0"], ["--trainer.devices 0", "not a valid input"]),
    ],
    ids=["optimizer", "lr-scheduler", "optimizer-reference-engine", "scheduler-without-optimizer", "16-mixed", "bf16-true", "devices"],
)
def test_a_flag_that_cannot_work_is_refused_by_name(args, must_say, tmp_path, monkeypatch, capsys):
    """The per-example engines do their own SGD with --model.lr in float32/float64: an optimizer, a scheduler or a
    half precision would be silently ignored (or fail deep inside the engine)."""
    err = _refused(args, tmp_path, monkeypatch, capsys)
    for text in must_say:
        assert text in err, f"{text!r} missing from:\n{err}"


@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_a_gpu_on_a_machine_without_one_is_one_message(accelerator, tmp_path, monkeypatch, capsys):
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: False))  # this machine, as one without a GPU
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    err = _refused(["--trainer.accelerator", accelerator], tmp_path, monkeypatch, capsys)
    assert f"--trainer.accelerator {accelerator}: this machine has no usable" in err and "--trainer.accelerator cpu" in err, err


def test_a_wrong_trainer_argument_found_during_fit_is_one_message(tmp_path):
    """Lightning's MisconfigurationException (here a monitor key that is never logged) is a wrong input too."""
    result = run_cli(["fit", "--data.n_train", "20", "--data.n_val", "10", "--model.k", "3", "--trainer.max_epochs", "1",
                      "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
                      "--trainer.callbacks+", "ModelCheckpoint", "--trainer.callbacks.monitor", "nope"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "lt-teacher fit: error: `ModelCheckpoint(monitor='nope')` could not find the monitored key" in result.stderr


def test_with_the_lightning_engine_an_optimizer_and_a_scheduler_train(tmp_path):
    """LightningCLI applies --optimizer and --lr_scheduler to engine='lightning': Adam ends elsewhere than SGD."""
    import torch

    tiny = ["fit", "--data.n_train", "20", "--data.n_val", "10", "--data.n_test", "10", "--model.k", "3", "--model.init_std", "0.1",
            "--model.engine", "lightning", "--trainer.max_epochs", "2", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    finals = {}
    for name, extra in {"sgd": [], "adam": ["--optimizer", "Adam", "--optimizer.lr", "0.01", "--lr_scheduler", "StepLR",
                                            "--lr_scheduler.step_size", "1", "--lr_scheduler.gamma", "0.5"]}.items():
        (tmp_path / name).mkdir()
        result = run_cli([*tiny, *extra], tmp_path / name)
        assert result.returncode == 0, result.stderr[-3000:]
        finals[name] = torch.load(tmp_path / name / "runs" / "checkpoints" / "last.ckpt", weights_only=False)
    adam, sgd = finals["adam"], finals["sgd"]
    assert "exp_avg" in adam["optimizer_states"][0]["state"][0] and "exp_avg" not in str(sgd["optimizer_states"][0])
    (scheduler,) = adam["lr_schedulers"]
    assert scheduler["step_size"] == 1 and scheduler["last_epoch"] == 2 and scheduler["_last_lr"] == [0.01 * 0.5**2]
    assert not sgd["lr_schedulers"]
    assert not torch.allclose(adam["state_dict"]["weight"], sgd["state_dict"]["weight"])


def test_a_bad_value_in_a_subprocess(tmp_path):
    result = run_cli(["fit", "--model.alpha", "1.5"], tmp_path)
    assert result.returncode == 2
    lines = _lines(result)
    assert len(lines) <= 15, "\n".join(lines)
    assert "Traceback" not in result.stderr
    assert "`alpha` must be in (0, 1)" in result.stderr and "--model.alpha" in result.stderr


def test_the_full_traceback_on_request(tmp_path):
    result = run_cli(["fit", "--model.alpha", "1.5", "--traceback"], tmp_path)
    assert result.returncode != 0 and "Traceback (most recent call last)" in result.stderr
    env_result = subprocess.run(
        [sys.executable, "-m", "lt_teacher.cli", "fit", "--model.alpha", "1.5"], cwd=tmp_path, capture_output=True, text=True,
        env={**_env(tmp_path), "LT_TEACHER_TRACEBACK": "1"}, timeout=300,
    )
    assert env_result.returncode != 0 and "Traceback (most recent call last)" in env_result.stderr


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "LT_TEACHER_TRACEBACK"))}
    env.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / ".wandb-config"), WANDB_CACHE_DIR=str(tmp_path / ".wandb-cache"))
    return env


def test_a_wrong_reproduce_override_is_one_message(tmp_path):
    result = run_cli(["reproduce", "fig1", "--scale", "tiny", "--model.alpha", "2.0", "--reports-dir", str(tmp_path / "r")], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(_lines(result)) <= 15, result.stderr
    assert "alpha" in result.stderr


# ------------------------------------------------------------------------------------- flag style
def _print_config(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """``lt-teacher fit ARGS --print_config`` in-process: the resolved config it prints (exit code 0)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    out = capsys.readouterr()
    assert exit_info.value.code in (0, None), out.err
    return out.out


def test_model_and_data_take_the_same_flag_style(tmp_path, monkeypatch, capsys):
    printed = _print_config(["--model.init_args.alpha", "0.3", "--data.n_train", "40", "--data.init_args.dim", "3"], tmp_path, monkeypatch, capsys)
    assert re.search(r"^  alpha: 0.3$", printed, re.MULTILINE)
    assert re.search(r"^    n_train: 40$", printed, re.MULTILINE) and re.search(r"^    dim: 3$", printed, re.MULTILINE)
    mnist = _print_config(["--data", "MNISTPairsDataModule", "--data.digits", "[3,5]", "--data.split_source", "test-split",
                           "--data.data_dir", str(tmp_path)], tmp_path, monkeypatch, capsys)
    assert "class_path: lt_teacher.datamodules.MNISTPairsDataModule" in mnist
    assert re.search(r"^    digits:\n    - 3\n    - 5$", mnist, re.MULTILINE)


# ------------------------------------------------------------------------------- a plain 3-epoch run
@pytest.fixture(scope="module")
def three_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    cwd = tmp_path_factory.mktemp("fit3")
    return run_cli(["fit", "--trainer.max_epochs", "3"], cwd), cwd


@pytest.mark.slow
def test_a_plain_run_is_quiet_and_ends_with_the_diagnostics(three_epoch_run):
    result, cwd = three_epoch_run
    assert result.returncode == 0, result.stderr[-3000:]
    lines = _lines(result)
    noisy = [line for line in lines if WARNING_LINE.search(line)]
    assert len(noisy) <= 2, "\n".join(noisy)
    assert "Seed set to 0" in result.stdout + result.stderr
    shown = result.stdout + result.stderr  # Lightning's info lines go to stderr when not on a terminal
    assert "other params" not in shown and "Modules in train mode" not in shown
    assert "200 trainable parameters" in shown and "fixed +-v, v = 1 (not trained)" in shown
    table = result.stdout[result.stdout.index("lt-teacher: final diagnostics"):]
    assert "after 3 training epochs" in table
    assert re.search(r"test points outside the linear region\s+\d+\.\d %\s+certified linear on \d+\.\d % of test points \(Theorem 5\.1\)", table)
    assert re.search(r"cluster radius r\s+\d", table)
    assert re.search(r"in a PAR: (yes|no)", table) and re.search(r"above the Theorem 6\.2 threshold: (yes|no)", table)
    # the table comes before the block that says where everything went
    assert table.index("certified linear") < table.index("W&B run (offline)") < table.index("plots (CurvePlotMonitor)")
    # the progress bar shows the two key diagnostics
    assert re.search(r"outside=[\d.e-]+, r/gap=[\d.e-]+", result.stdout + result.stderr)
    # the curves of the monitored quantities, next to the neuron snapshots
    (curves,) = (cwd / "runs").glob("csv/version_*/lt_teacher_plots/curves.png")
    from PIL import Image

    with Image.open(curves) as image:
        assert image.width >= 600


@pytest.mark.slow
def test_the_wandb_run_has_a_name_and_the_full_namespaced_config(three_epoch_run):
    result, cwd = three_epoch_run
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (cwd / "runs" / "wandb").glob("offline-run-*")
    records = _wandb_records(run_dir)
    run, config = _wandb_run(records)
    assert run.display_name == "LinearTeacher-2d-alpha0.1-init0.001"
    assert run.job_type == "fit"
    assert config["trainer"]["max_epochs"] == 3
    assert config["trainer"]["log_every_n_steps"] is None  # chosen from the data: 10 steps per epoch
    assert config["model"]["alpha"] == 0.1 and config["model"]["init_std"] == 0.001
    assert config["data"]["init_args"]["seed"] == 0 and config["seed_everything"] == 0
    assert "seed" not in config, "a flat `seed` is ambiguous (model? data?)"
    assert config["data_splits/train/size"] == 200 and config["data_splits/test/size"] == 1000
    images = [r for r in records if r.WhichOneof("record_type") == "history" and any(
        (i.key or ".".join(i.nested_key)).startswith("plots/curves") for i in r.history.item)]
    assert images, "the curves PNG did not reach W&B"


@pytest.mark.slow
@pytest.mark.parametrize("subcommand", ["validate", "test"])
def test_validate_and_test_run_the_monitors_and_log_to_the_same_project(subcommand, tmp_path):
    result = run_cli([subcommand, "--trainer.enable_progress_bar", "false"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"final diagnostics of {subcommand}" in result.stdout
    assert "certified linear on" in result.stdout and f"lt-teacher: {subcommand} finished" in result.stdout
    assert "W&B run (offline)" in result.stdout
    (run_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    run, _ = _wandb_run(_wandb_records(run_dir))
    assert run.project == "lt-teacher" and run.job_type == subcommand


def test_the_data_sizes_and_sources_are_printed_once(tmp_path):
    result = run_cli(["fit", "--trainer.max_epochs", "1", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
                      "--trainer.callbacks", "[]", "--data.n_train", "40", "--data.n_test", "30"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    described = [line for line in _lines(result) if line.startswith("LinearTeacherDataModule: train")]
    assert len(described) == 1
    assert "train 40 (" in described[0] and "val 200 (" in described[0] and "test 30 (" in described[0]


def test_the_readme_commands_use_the_short_data_flags():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.lstrip("`").startswith("lt-teacher ")]
    assert commands and not [line for line in commands if "init_args" in line]
    assert "](docs/first-run-curves.png)" in readme and (REPO_ROOT / "docs" / "first-run-curves.png").is_file()


def test_a_misspelt_reproduce_override_suggests_the_argument(tmp_path, capsys):
    from lt_teacher.reproduce import main as reproduce_main

    code = reproduce_main(["fig1", "--scale", "tiny", "--model.alpah", "0.2", "--reports-dir", str(tmp_path / "r"),
                           "--runs-dir", str(tmp_path / "runs"), "--wandb", "disabled"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) <= 15, err
    assert "Did you mean 'alpha'?" in err, err  # lt-teacher fit's parser checks the key, the message suggests the argument
