"""`lt-teacher fit --ckpt_path last` resumes the interrupted run (issue 13, finding 7); `validate` and
`test` evaluate the same checkpoint; a checkpoint that cannot be used is one message, before any run exists.

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


def run_cli(args: list[str], cwd: Path, console_script: bool = False) -> subprocess.CompletedProcess:
    """``python -m lt_teacher.cli ARGS``, or the installed ``lt-teacher ARGS`` as a user types it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(cwd), WANDB_SILENT="true", WANDB_MODE="offline", WANDB_CONFIG_DIR=str(cwd / ".wandb-config"),
               WANDB_CACHE_DIR=str(cwd / ".wandb-cache"))
    command = [str(Path(sys.executable).parent / "lt-teacher")] if console_script else [sys.executable, "-m", "lt_teacher.cli"]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


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
    (first_dir,) = (runs / "wandb").glob("offline-run-*")

    resumed = run_cli(["fit", *TINY, "--trainer.max_epochs", "4", "--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "No checkpoint will be loaded" not in resumed.stderr
    assert [p.name for p in runs.glob("csv/version_*")] == ["version_0"]
    with (runs / "csv" / "version_0" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    epochs = sorted(int(float(r["epoch"])) for r in rows if r.get("cluster/radius"))
    assert epochs == [0, 1, 2, 3]  # one history: the first run's epochs and the resumed ones, each once
    # offline, W&B cannot resume a run (a second offline run of one id restarts at step 0 and `wandb sync` keeps one
    # history): the resumed segment is a new run in the first one's group, and the final message syncs both
    (first_id,) = ids
    new_ids = wandb_ids(runs) - ids
    assert len(new_ids) == 1
    identity = torch.load(last, weights_only=False)["lt_teacher_run"]
    assert identity["wandb_group"] == first_id and identity["wandb_id"] == next(iter(new_ids))
    (second_dir,) = (runs / "wandb").glob(f"offline-run-*-{identity['wandb_id']}")
    hint = next(line for line in resumed.stdout.splitlines() if "upload later with" in line)
    assert hint.split("wandb sync ")[1].split() == [str(first_dir.relative_to(tmp_path)), str(second_dir.relative_to(tmp_path))]
    assert torch.load(last, weights_only=False)["epoch"] == 3


def test_ckpt_path_last_without_a_checkpoint_is_an_error(tmp_path):
    result = run_cli(["fit", *TINY, "--trainer.max_epochs", "1", "--ckpt_path", "last"], tmp_path)
    assert result.returncode != 0
    assert "last.ckpt" in result.stderr and "ckpt_path" in result.stderr


# ------------------------------------------------------------------ validate / test --ckpt_path, wrong checkpoints
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A 3-epoch run: runs/csv/version_0/checkpoints/last.ckpt."""
    cwd = tmp_path_factory.mktemp("trained")
    result = run_cli(["fit", *TINY, "--trainer.max_epochs", "3"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd, result


def _loss_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "training loss / accuracy" in line)


@pytest.mark.parametrize("subcommand", ["validate", "test"])
def test_validate_and_test_ckpt_path_last_evaluate_the_trained_network(subcommand, trained):
    """Not an untrained net after Lightning's buried warning: the fit's last.ckpt, with its epochs in the table."""
    cwd, fit = trained
    result = run_cli([subcommand, *TINY, "--ckpt_path", "last"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "No checkpoint will be loaded" not in result.stderr + result.stdout
    assert f"final diagnostics of {subcommand}, after 3 training epochs" in result.stdout
    assert _loss_line(result.stdout) == _loss_line(fit.stdout)  # the trained network's loss, not an untrained one's


def test_an_explicit_checkpoint_states_its_epochs(trained):
    cwd, fit = trained
    last = cwd / "runs" / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    result = run_cli(["validate", *TINY, "--trainer.logger", "false", "--ckpt_path", str(last)], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final diagnostics of validate, after 3 training epochs" in result.stdout
    assert _loss_line(result.stdout) == _loss_line(fit.stdout)


def _run_folders(cwd: Path) -> tuple[list[str], set[str], str]:
    runs = cwd / "runs"
    metrics = runs / "csv" / "version_0" / "metrics.csv"
    return sorted(p.name for p in runs.glob("csv/version_*")), wandb_ids(runs), metrics.read_text() if metrics.exists() else ""


@pytest.mark.parametrize(
    ("args", "must_say"),
    [
        (["fit", "--data.dim", "3", "--trainer.max_epochs", "4"],
         ["--ckpt_path", "other model/data arguments", "weight (1, 6, 2) in the checkpoint, (1, 6, 3) here", "data.dim=2 (here 3)"]),
        (["validate", "--data.dim", "3"], ["--ckpt_path", "other model/data arguments", "(1, 6, 2)", "(1, 6, 3)"]),
        (["fit", "--trainer.max_epochs", "2"], ["--trainer.max_epochs 2", "has trained 3 epochs"]),
        (["test", "--trainer.precision", "bf16-true"], ["holds float32 weights", "computes in bfloat16", "pass --trainer.precision 32-true"]),
        (["fit", "--data.seed", "3", "--trainer.max_epochs", "4"], ["trained on data of other arguments (data.seed=0 (here 3))", "start a new run"]),
        (["fit", "--model.alpha", "0.3", "--trainer.max_epochs", "4"], ["model.alpha=0.3 (the checkpoint's: 0.1), given on the command line or in a --config file, would be ignored", "start a new run"]),
        (["test", "--model.lr", "0.5"], ["model.lr=0.5 (the checkpoint's: 0.01)", "would be ignored", "pass another checkpoint"]),
    ],
    ids=["fit-other-dim", "validate-other-dim", "fit-fewer-epochs", "test-narrower-precision", "fit-other-training-set",
         "fit-dropped-model-flag", "test-dropped-model-flag"],
)
def test_a_checkpoint_that_cannot_be_used_is_one_message_and_touches_no_run(args, must_say, trained):
    """No size-mismatch traceback, no new CSV version or W&B run, the resumed run's metrics.csv untouched."""
    cwd, _ = trained
    before = _run_folders(cwd)
    result = run_cli([*args, *TINY, "--ckpt_path", "last"], cwd)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"lt-teacher {args[0]}: error: "), result.stderr
    for text in must_say:
        assert text in errors[0], f"{text!r} missing from {errors[0]}"
    assert _run_folders(cwd) == before


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
@pytest.mark.parametrize("ckpt_path", ["nowhere/nothing.ckpt", "last"])
def test_a_checkpoint_that_is_not_there_fails_before_any_run_folder(subcommand, ckpt_path, tmp_path, monkeypatch, capsys):
    """In-process: one line naming --ckpt_path, and nothing written (no runs/csv/version_N, no W&B run)."""
    from lt_teacher.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("LT_TEACHER_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, *TINY, "--ckpt_path", ckpt_path])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    err = err[err.index(f"lt-teacher {subcommand}: error:"):]
    assert len(err.strip().splitlines()) == 1, err
    assert f"--ckpt_path {ckpt_path}:" in err and ("no such file" in err if ckpt_path != "last" else "found no last.ckpt" in err)
    assert list(tmp_path.iterdir()) == []


def _progress(started: int, processed: int, completed: int, last_batch: bool) -> dict:
    counts = {"ready": started, "started": started, "processed": processed, "completed": completed}
    return {"fit_loop": {"epoch_progress": {"total": counts, "current": counts}, "epoch_loop.batch_progress": {"is_last_batch": last_batch}}}


@pytest.mark.parametrize(
    ("checkpoint", "epochs"),
    [
        ({"epoch": 2, "loops": _progress(3, 3, 2, True)}, 3),  # saved in on_train_epoch_end of the third epoch
        ({"epoch": 2, "loops": _progress(3, 2, 2, True)}, 3),  # saved after the third epoch's last batch (its validation)
        ({"epoch": 2, "loops": _progress(3, 2, 2, False)}, 2),  # saved inside the third epoch
        ({"epoch": 3, "loops": _progress(3, 3, 3, True)}, 3),  # saved after fit ended (trainer.save_checkpoint)
        ({"epoch": 4}, 4),  # no loop state: Lightning's count
    ],
    ids=["epoch-end", "validation-end", "mid-epoch", "after-fit", "no-loops"],
)
def test_completed_epochs_of_a_checkpoint(checkpoint, epochs):
    from lt_teacher._resume import completed_epochs

    assert completed_epochs(checkpoint) == epochs


def test_completed_epochs_of_a_real_checkpoint(trained):
    from lt_teacher._resume import completed_epochs

    cwd, _ = trained
    checkpoint = torch.load(cwd / "runs" / "csv" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    assert (checkpoint["epoch"], completed_epochs(checkpoint)) == (2, 3)


@pytest.mark.parametrize("damage", ["truncated", "text"])
@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_a_damaged_checkpoint_is_one_message(damage, subcommand, trained, tmp_path):
    """A save interrupted by a kill leaves a truncated file: one line naming it and what to do, no unpickler traceback."""
    cwd, _ = trained
    good = (cwd / "runs" / "csv" / "version_0" / "checkpoints" / "last.ckpt").read_bytes()
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(good[: len(good) // 3] if damage == "truncated" else b"not a checkpoint\n")
    result = run_cli([subcommand, *TINY, "--trainer.max_epochs", "4", "--ckpt_path", str(bad)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (error,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert error.startswith(f"lt-teacher {subcommand}: error: --ckpt_path {bad}: {bad} cannot be read as a checkpoint")
    assert "pass an earlier checkpoint" in error
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_last_ckpt_holds_the_last_epoch_when_validation_skips_epochs(tmp_path):
    """Lightning saves after validation when there is one, so with check_val_every_n_epoch 2 a finished 3-epoch fit
    left last.ckpt at 2 epochs (and before the epoch's monitors); the CLI's checkpoints save at the epoch's end."""
    result = run_cli(["fit", *TINY, "--trainer.max_epochs", "3", "--trainer.check_val_every_n_epoch", "2"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = tmp_path.glob("runs/csv/version_0/checkpoints/last.ckpt")
    state = torch.load(last, weights_only=False)
    assert state["epoch"] == 2 and state["global_step"] == 3 * 1  # 20 points, batch 20: one step per epoch
    history = next(v for k, v in state["callbacks"].items() if k.startswith("LinearTeacherMonitor"))
    assert [row["epoch"] for row in history["history"]] == [1, 2, 3]  # the last epoch's evaluation is in it


@pytest.mark.slow
def test_sigterm_stops_a_fit_with_status_143_and_a_resumable_checkpoint(tmp_path):
    """Lightning ends a SIGTERM'd fit with a SystemExit without a code: status 0, read as success by timeout/Slurm/CI."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_SILENT="true", WANDB_MODE="offline")
    process = subprocess.Popen([sys.executable, "-m", "lt_teacher.cli", "fit", *TINY, "--trainer.max_epochs", "100000"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("runs/csv/version_0/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr[-3000:]
    assert "lt-teacher fit: stopped by SIGTERM; every finished epoch is in a checkpoint: resume with --ckpt_path last" in stderr
    resumed = run_cli(["fit", *TINY, "--trainer.max_epochs", "100", "--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_validate_without_a_checkpoint_says_it_evaluates_an_untrained_network(tmp_path):
    result = run_cli(["validate", *TINY], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lt-teacher validate: no --ckpt_path, so the network is evaluated as initialized (untrained)" in result.stderr
    assert "final diagnostics of validate, after 0 training epochs" in result.stdout


@pytest.mark.parametrize("killed_before", [False, True], ids=["plain", "killed-between-removal-and-rewrite"])
def test_the_rows_before_a_resume_are_kept_even_after_a_kill_mid_way(tmp_path, killed_before):
    """metrics.csv is rebuilt through .metrics.csv.resume: a kill after Lightning's writer removed the file leaves the rows
    there, and the next resume takes them from it."""
    from types import SimpleNamespace

    from lightning.pytorch.loggers import CSVLogger

    from lt_teacher._resume import Resume, keep_earlier_rows

    logger = CSVLogger(tmp_path, name="csv", version=0)
    folder = Path(logger.log_dir)
    folder.mkdir(parents=True)
    rows = "epoch,step,train/loss\n0,9,0.5\n1,19,0.4\n2,29,0.3\n"
    (folder / ("metrics.csv" if not killed_before else ".metrics.csv.resume")).write_text(rows)
    keep_earlier_rows(SimpleNamespace(loggers=[logger], is_global_zero=True), Resume(tmp_path / "x.ckpt", folder, None, 20))  # type: ignore[arg-type]
    assert (folder / "metrics.csv").read_text().splitlines() == ["epoch,step,train/loss", "0,9,0.5", "1,19,0.4"]
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.csv"]


@pytest.mark.slow
def test_a_float64_checkpoint_is_not_resumed_in_float32_but_a_float32_one_may_go_on_in_float64(tmp_path):
    """Narrowing would round the trained weights (a 64-true run resumed without the flag went on in float32); widening
    holds every value exactly, so it is the user's choice."""
    first = run_cli(["fit", *TINY, "--trainer.max_epochs", "1", "--trainer.precision", "64-true"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    refused = run_cli(["fit", *TINY, "--trainer.max_epochs", "2", "--ckpt_path", "last"], tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    assert "holds float64 weights and this precision computes in float32, which would round them; pass --trainer.precision 64-true" in refused.stderr
    resumed = run_cli(["fit", *TINY, "--trainer.max_epochs", "2", "--trainer.precision", "64-true", "--ckpt_path", "last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    float32_run = tmp_path / "float32"
    float32_run.mkdir()
    first32 = run_cli(["fit", *TINY, "--trainer.max_epochs", "1"], float32_run)
    assert first32.returncode == 0, first32.stderr[-3000:]
    widened = run_cli(["fit", *TINY, "--trainer.max_epochs", "2", "--trainer.precision", "64-true", "--ckpt_path", "last"], float32_run)
    assert widened.returncode == 0, widened.stderr[-3000:]
    (last,) = float32_run.glob("runs/csv/version_0/checkpoints/last.ckpt")
    assert torch.load(last, weights_only=False)["state_dict"]["weight"].dtype == torch.float64


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_two_process_fit_with_the_default_loggers_saves_and_ends(tmp_path):
    """The checkpoint hook of the resume bookkeeping runs on every process, where a W&B logger's run is Lightning's
    dummy object on all but rank zero (it crashed every DDP fit of the default config once). Run as the installed
    `lt-teacher` command, as the README says (review: DDP's launcher restarted `./lt-teacher`, and every run was killed;
    `python -m lt_teacher.cli` worked)."""
    result = run_cli(["fit", *TINY, "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
                      "--trainer.strategy", "ddp"], tmp_path, console_script=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = tmp_path.glob("runs/csv/version_0/checkpoints/last.ckpt")
    state = torch.load(last, weights_only=False)
    assert state["epoch"] == 1 and state["lt_teacher_run"]["wandb_group"] == state["lt_teacher_run"]["wandb_id"]


def test_keep_last_leaves_a_monitoring_or_within_epoch_checkpoint_to_lightning(tmp_path):
    """Saving at the training epoch's end suits a checkpoint that monitors nothing; one that monitors a validation
    metric must save when validation logged it (else it files epoch 1's val/loss under epoch 2's weights)."""
    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lt_teacher._resume import keep_last

    def flags(val_check_interval: float) -> list[object]:
        plain, monitoring = ModelCheckpoint(), ModelCheckpoint(monitor="val/loss")
        trainer = Trainer(callbacks=[plain, monitoring], logger=False, default_root_dir=tmp_path, val_check_interval=val_check_interval)
        keep_last(trainer)
        assert plain.save_last and monitoring.save_last
        return [plain._save_on_train_epoch_end, monitoring._save_on_train_epoch_end]

    assert flags(1.0) == [True, None]
    assert flags(0.5) == [None, None]


@pytest.mark.parametrize("offline", [True, False])
def test_a_resumed_wandb_run_gets_its_id_online_and_a_new_one_in_its_group_offline(tmp_path, offline, monkeypatch):
    """Offline, a second run of one id restarts its history (and a user's fixed id would too); a run begun online and
    resumed offline joins a group named by the online run's id."""
    from lt_teacher._resume import Resume, point_loggers_at

    monkeypatch.delenv("WANDB_MODE", raising=False)
    config = [{"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"offline": offline, "id": "myfixed1"}}]
    point_loggers_at(config, Resume(tmp_path / "last.ckpt", None, "onlinerun", 10))  # an identity without a group
    args = config[0]["init_args"]
    if offline:
        assert args["group"] == "onlinerun" and args["id"] not in ("onlinerun", "myfixed1") and len(args["id"]) == 8
    else:
        assert args["id"] == "onlinerun" and "group" not in args


def test_wandb_mode_disabled_means_no_wandb_run(tmp_path):
    """The default config's WandbLogger passed offline=True, which overrode WANDB_MODE=disabled: an offline run was written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_MODE="disabled")
    result = subprocess.run([sys.executable, "-m", "lt_teacher.cli", "fit", *TINY, "--trainer.max_epochs", "1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "runs" / "wandb").exists() and "W&B run" not in result.stdout
    assert (tmp_path / "runs" / "csv" / "version_0" / "metrics.csv").is_file()
