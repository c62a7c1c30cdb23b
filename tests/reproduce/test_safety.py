"""`lt-teacher reproduce` never loses work (issue 13, finding 6).

A committed-like report folder is copied into tmp_path; a typo, a bad value, a successful override
and Ctrl-C part-way must leave it byte-identical, and an interrupted ``all`` keeps what completed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lt_teacher.reproduce import main

from _helpers import REPO_ROOT


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def committed(tmp_path, monkeypatch) -> Path:
    """reports/ with the committed fig8 and fig2-gaussian reports, as in a fresh clone."""
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    reports = tmp_path / "reports"
    for name in ("fig8", "fig2-gaussian"):
        shutil.copytree(REPO_ROOT / "reports" / name, reports / name)
    (reports / "README.md").write_text("committed summary\n")
    return reports


def run_main(reports: Path, *args: str) -> int:
    return main([*args, "--scale", "tiny", "--wandb", "disabled", "--reports-dir", str(reports), "--runs-dir", str(reports.parent / "runs")])


@pytest.mark.parametrize(
    ("override", "message"),
    [("model.alpah=0.3", r"alpah"), ("model.alpha=1.5", r"alpha"), ("trainer.max_epochs=zero", r"epochs")],
    ids=["typo", "bad-value", "bad-type"],
)
def test_a_failing_override_leaves_the_committed_report_byte_identical(override, message, committed, capsys):
    before = snapshot(committed)
    code = run_main(committed, "fig8", f"--{override}")
    err = capsys.readouterr().err
    assert code != 0
    assert __import__("re").search(message, err), err
    assert snapshot(committed) == before
    assert sorted(p.name for p in committed.iterdir()) == ["README.md", "fig2-gaussian", "fig8"]  # no half-written variant


def test_an_override_writes_a_variant_next_to_the_canonical_report(committed, capsys):
    before = snapshot(committed / "fig8")
    assert run_main(committed, "fig8", "--model.alpha", "0.2") == 0
    assert snapshot(committed / "fig8") == before
    (variant,) = [p for p in committed.iterdir() if p.name.startswith("fig8") and p.name != "fig8"]
    assert "model.alpha=0.2" in variant.name
    text = (variant / "REPORT.md").read_text()
    assert "--model.alpha=0.2" in text and "variant" in text.lower()
    assert (variant / "results.json").is_file()
    assert "fig8" in capsys.readouterr().out


def test_a_copied_config_writes_a_variant_too(committed, tmp_path):
    mine = tmp_path / "my.yaml"
    mine.write_text((REPO_ROOT / "lt_teacher" / "reproduce" / "configs" / "fig8.yaml").read_text())
    before = snapshot(committed / "fig8")
    assert run_main(committed, "--config", str(mine)) == 0
    assert snapshot(committed / "fig8") == before
    assert [p.name for p in committed.iterdir() if p.name.startswith("fig8+")] == ["fig8+config-my"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_all_keeps_completed_reports_and_leaves_the_rest_byte_identical(committed, stop, status):
    """Ctrl-C or SIGTERM (a scheduler's stop) during a fit: 130 or 143, never 0 (Lightning's SIGTERMException is a
    SystemExit without a code) nor 1 (Lightning's exit after Ctrl-C)."""
    before = {name: snapshot(committed / name) for name in ("fig8", "fig2-gaussian")}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lt_teacher.cli", "reproduce", "all", "--scale", "tiny", "--wandb", "disabled",
               "--reports-dir", str(committed), "--runs-dir", str(committed.parent / "runs"), "--threads", "1"]
    # A shell's background job starts with SIGINT ignored, and Python then installs no KeyboardInterrupt handler:
    # give the child the default disposition, as an interactive terminal would, so that Ctrl-C reaches it.
    process = subprocess.Popen(
        command, cwd=committed.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in process.stdout:
            lines.append(line)
            if line.startswith("  [fig2-gaussian]") or time.monotonic() > deadline:
                break  # fig2-gaussian's first run is done, the next one is training
        process.send_signal(stop)  # at once: a tiny fig2-gaussian finishes within a second
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == status, output
    assert "lt-teacher reproduce: interrupted; completed reports were kept" in output
    assert "interrupted" in output and "fig2-gaussian" in output.split("interrupted", 1)[1], output
    assert "not finished" in output and "fig8" in output.split("not finished", 1)[1], output
    for name, files in before.items():
        assert snapshot(committed / name) == files, name
    assert (committed / "fig1" / "REPORT.md").is_file()  # completed before Ctrl-C: kept
    assert (committed / "README.md").read_text() == "committed summary\n"
    assert not [p for p in committed.iterdir() if p.name.startswith(".")], "temporary folders left behind"
    assert "--resume" in output
    if stop == signal.SIGINT:  # the same command with --resume keeps what completed and runs the rest
        fig1 = snapshot(committed / "fig1")
        resumed = subprocess.run([*command, "--resume"], cwd=committed.parent, env=env, capture_output=True, text=True, timeout=240)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "[fig1] kept" in resumed.stdout and "[fig2-gaussian] kept" not in resumed.stdout, resumed.stdout
        assert snapshot(committed / "fig1") == fig1
        summary = (committed / "README.md").read_text()
        assert "not run again: fig1" in summary and "[fig1](fig1/REPORT.md)" in summary and "[fig8](fig8/REPORT.md)" in summary


def test_resume_keeps_a_report_of_the_same_config_scale_and_version_and_runs_any_other(committed, capsys):
    from lt_teacher.reproduce.command import reproduce

    def run(*names: str, **kwargs):
        return reproduce(names, scale="tiny", wandb="disabled", reports_dir=committed, runs_dir=committed.parent / "runs", resume=True, **kwargs)

    committed_fig8 = snapshot(committed / "fig8")
    first = run("fig8")  # the committed report is of another scale: it is run again
    assert first.kept == [] and first.runs and snapshot(committed / "fig8") != committed_fig8
    made = snapshot(committed / "fig8")
    again = run("fig8")
    assert again.kept == ["fig8"] and again.runs == [] and snapshot(committed / "fig8") == made
    assert [c.verdict for c in again.reports[0].claims] == [c.verdict for c in first.reports[0].claims]
    assert [c.measured for c in again.reports[0].claims] == [c.measured for c in first.reports[0].claims]
    assert "[fig8] kept" in capsys.readouterr().out
    variant = run("fig8", overrides=["model.alpha=0.2"])  # another config: its own folder, trained
    assert variant.kept == [] and variant.runs
    results = committed / "fig8" / "results.json"
    results.write_text(results.read_text()[:-20])  # a damaged results.json is not a finished report
    assert run("fig8").kept == []


def test_what_a_killed_reproduce_left_is_tidied_by_the_next_one(tmp_path):
    """SIGKILL (or SIGTERM before Lightning's handler) leaves a staging folder, or, between publish's two renames, the
    old report moved aside: the next run removes the first and puts the second back."""
    from lt_teacher.reproduce.report_folders import staging_folder

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)  # a process that has exited
    reports = tmp_path / "reports"
    (reports / f".fig8.{dead}.tmp").mkdir(parents=True)
    (reports / f".fig8.{dead}.old").mkdir()
    (reports / f".fig8.{dead}.old" / "REPORT.md").write_text("the earlier report\n")
    (reports / f".fig9.{os.getpid()}.tmp").mkdir()  # a live process's (here: this one's) staging of another report
    staging = staging_folder(reports / "fig8")
    assert staging == reports / f".fig8.{os.getpid()}.tmp" and staging.is_dir()
    assert (reports / "fig8" / "REPORT.md").read_text() == "the earlier report\n"
    assert sorted(p.name for p in reports.iterdir()) == sorted(["fig8", staging.name, f".fig9.{os.getpid()}.tmp"])


def test_a_report_moved_aside_under_this_process_id_is_put_back(tmp_path):
    """Process ids repeat between containers: a killed run's ``.<name>.<pid>.old`` may carry this process's id."""
    from lt_teacher.reproduce.report_folders import staging_folder

    reports = tmp_path / "reports"
    aside = reports / f".fig8.{os.getpid()}.old"
    aside.mkdir(parents=True)
    (aside / "REPORT.md").write_text("the earlier report\n")
    staging_folder(reports / "fig8")
    assert (reports / "fig8" / "REPORT.md").read_text() == "the earlier report\n" and not aside.exists()


def test_the_run_key_changes_with_the_settings_the_scale_and_the_code(monkeypatch):
    """An editable install keeps its version number across pulls: the key also hashes the package's source files."""
    from lt_teacher.reproduce import config

    key = config.run_key(config.load("fig8", scale="tiny"))
    assert key == config.run_key(config.load("fig8", scale="tiny"))
    assert key != config.run_key(config.load("fig8", scale="quick"))
    assert key != config.run_key(config.load("fig8", scale="tiny", overrides=("model.alpha=0.2",)))
    assert len(config.code_digest()) == 64
    monkeypatch.setattr(config, "code_digest", lambda: "another version of the code")
    assert key != config.run_key(config.load("fig8", scale="tiny"))
