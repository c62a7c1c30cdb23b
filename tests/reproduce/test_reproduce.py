"""`lt-teacher reproduce`: a tiny reproduction end to end, its report against the monitors' history, the configs, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from lt_teacher.reproduce import ConfigError, main, packaged_names, reproduce
from lt_teacher.reproduce.config import SCALES, load
from lt_teacher.reproduce.experiments import EXPERIMENTS, with_fallbacks
from lt_teacher.reproduce.measures import network_nonlinearity
from lt_teacher.reproduce.report import fmt
from lt_teacher.reproduce.data import DataNotFound, locate_mnist
from lt_teacher.reproduce.run_spec import RunSpec
from lt_teacher.reproduce.runner import Context

from _helpers import REPO_ROOT, require_real_data

NAMES = ["fig1", "fig2-gaussian", "fig2-mnist", "fig3", "fig7", "fig8", "fig9", "supp-relu", "sweep"]


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """Keep W&B's config, cache and data folders inside tmp_path; never go online."""
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def claims_rows(markdown: str) -> list[list[str]]:
    """The cells of the claims table of a REPORT.md."""
    block = markdown.split("## Claims", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_tiny_reproduction_writes_a_report_whose_numbers_are_the_monitors_history(tmp_path, wandb_env):
    outcome = reproduce(["fig2-gaussian"], scale="tiny", reports_dir=tmp_path / "reports", runs_dir=tmp_path / "runs",
                        wandb="auto", echo=lambda _: None)
    folder = tmp_path / "reports" / "fig2-gaussian"
    text = (folder / "REPORT.md").read_text()
    for heading in ("# fig2-gaussian:", "## Claims", "## Figures", "## Setting", "## Runs"):
        assert heading in text
    assert "lt_teacher/reproduce/configs/fig2-gaussian.yaml" in text  # which config made it
    assert "Left open by the paper" in text and "model.alpha" in text and "trainer.max_epochs" in text
    png = folder / "outside_fraction.png"
    assert png.stat().st_size > 2_000 and f"]({png.name})" in text

    small, large = outcome.runs  # tiny: no fallbacks; one run per init scale
    assert [r.spec.model["init_std"] for r in (small, large)] == [0.001, 30.0]
    assert [row["epoch"] for row in small.history] == [0.0, 1.0, 3.0]  # epoch 0, then the schedule
    rows = claims_rows(text)
    assert len(rows) == 2 and all(row[-1].strip("*") in ("holds", "does not hold") or row[-1].startswith("**holds at") for row in rows)

    last = small.history[-1]
    train_seeds = [last[f"linear_region/outside_fraction/train/seed_{s}"] for s in range(2)]
    test_seeds = [last[f"linear_region/outside_fraction/test/seed_{s}"] for s in range(2)]
    train_mean, test_mean = last["linear_region/outside_fraction/train"], last["linear_region/outside_fraction/test"]
    assert train_mean == pytest.approx(sum(train_seeds) / 2) and test_mean == pytest.approx(sum(test_seeds) / 2)
    assert rows[0][3] == (f"mean over seeds: train {fmt(train_mean)}, test {fmt(test_mean)} "
                          f"(max over seeds {fmt(max(train_seeds))}, {fmt(max(test_seeds))})")
    assert rows[0][5] == ("**holds**" if max(train_mean, test_mean) <= 0.01 else "**does not hold**")
    big = large.history[-1]
    assert rows[1][3] == f"mean over seeds: train {fmt(big['linear_region/outside_fraction/train'])}, test {fmt(big['linear_region/outside_fraction/test'])}"

    results = json.loads((folder / "results.json").read_text())
    assert results["claims"][0]["values"] == {"train": train_seeds, "test": test_seeds, "train_mean": train_mean, "test_mean": test_mean}
    assert results["claims"][1]["values"]["test_mean"] == big["linear_region/outside_fraction/test"]

    # every run is a W&B run, offline without credentials, listed in the report
    for run in outcome.runs:
        assert run.wandb_dir is not None and "offline-run-" in run.wandb_dir and Path(run.wandb_dir).is_dir()
        assert run.wandb_dir in text


def test_a_failing_claim_tries_the_fallback_settings_and_reports_where_it_holds(tmp_path):
    ctx = Context(runs_dir=tmp_path, wandb="disabled", echo=lambda _: None)
    spec = RunSpec("t", "tiny", "gaussian", {"dim": 3, "n_train": 20, "n_val": 0, "n_test": 0},
                   {"k": 2, "num_seeds": 1, "init_std": 1e-3}, epochs=1, evaluations=1)

    def evaluate(result):  # "holds" only for the second fallback's init scale
        value = result.spec.model["init_std"]
        return f"init {value}", value == 1e-5, {}

    fallbacks = [{"model": {"init_std": 1e-4}}, {"model": {"init_std": 1e-5}}, {"model": {"init_std": 1e-6}}]
    checked = with_fallbacks(ctx, spec, evaluate, fallbacks)
    assert not checked.holds and checked.config_run.spec.model["init_std"] == 1e-3
    assert checked.found_at == "model.init_std=1e-05 (init 1e-05)"
    assert [t[2] for t in checked.tried] == [False, False, True] and len(checked.runs) == 3  # stops at the first that holds
    claim = checked.as_claim("c", "s", "k")
    assert claim.verdict == "holds at model.init_std=1e-05 (init 1e-05)" and claim.tried == checked.tried
    again = with_fallbacks(ctx, spec, evaluate, fallbacks)
    assert again.config_run is checked.config_run and len(ctx.trained) == 3  # identical runs are trained once


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", SCALES)
def test_every_packaged_config_resolves(name, scale):
    cfg = load(name, scale=scale)
    assert cfg.settings["name"] == name and cfg.settings["experiment"] in EXPERIMENTS
    assert Path(cfg.source).is_file() and Path(cfg.source).parent.name == "configs"


@pytest.mark.parametrize("scale", SCALES)
def test_fig7_trains_exactly_the_small_init_runs_of_fig2(scale):
    """fig7 shares fig2-*'s runs (the cache hits only if the settings are identical)."""
    fig7, gauss, mnist = (load(n, scale=scale).settings for n in ("fig7", "fig2-gaussian", "fig2-mnist"))
    assert fig7["data"] == gauss["data"]
    assert {"class_path": "lt_teacher.datamodules.MNISTPairsDataModule", "init_args": fig7["mnist"]} == mnist["data"]
    assert all([a, b] in mnist["pairs"] for a, b in fig7["pairs"])
    for other in (gauss, mnist):
        for key in ("model", "trainer", "schedule", "seed_everything"):
            assert fig7[key] == other[key], key
        assert fig7["init"]["small"] == other["init"]["small"]


def test_names_list_and_dump(capsys):
    assert packaged_names() == NAMES
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in NAMES)
    assert main(["--dump", "fig9"]) == 0
    dumped = capsys.readouterr().out
    assert dumped.startswith("# lt-teacher reproduce fig9") and "init_std: 0.0001" in dumped


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fig99"], "unknown reproduction 'fig99'; valid names: fig1, fig2-gaussian, fig2-mnist, fig3, fig7, fig8, fig9, supp-relu, sweep, all"),
        ([], "name a reproduction"),
        (["fig1", "--nope", "1"], "'nope' is not a top-level key of the config"),
        (["fig1", "--model.nope", "1"], "Group 'model' does not accept option 'nope'"),
        (["fig1", "--data.dimm", "3"], "Option 'dimm' is not accepted"),
        (["fig1", "--modl.alpha", "0.2"], "'modl' is not a top-level key"),
        (["fig1", "--model.alpha"], "--model.alpha needs a value"),
        (["fig1", "--trainer.max_epochs", "zero"], "trainer.max_epochs"),
        (["fig1", "--trainer.devices", "2"], "a reproduction sets only max_epochs"),
        (["fig1", "--init.smal", "1e-4"], "`init` has unknown key(s) ['smal']; valid keys: small, large"),
        (["fig1", "--criteria.linear_at_most", "low"], "`criteria.linear_at_most` must be float, got 'low'"),
        (["fig1", "--schedule.evaluations", "0"], "`schedule.evaluations` must be an int >= 1, got 0"),
        (["fig1", "--set", "model.alpha"], "an override is KEY=VALUE"),
        (["fig1", "fig8", "--model.alpha", "0.2"], "change one config"),
        (["--config", "/nonexistent/my.yaml"], "no such file"),
        (["--dump", "fig99"], "valid names"),
    ],
    ids=["unknown-name", "nothing", "unknown-top-key", "unknown-model-key", "unknown-data-key", "unknown-section", "no-value",
         "bad-trainer-type", "other-trainer-key", "unknown-init-key", "bad-criterion-type", "bad-schedule-value", "set-no-value",
         "override-with-two", "missing-file", "dump-unknown"],
)
def test_bad_names_and_arguments_are_rejected_with_the_valid_choices(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_options_and_scales_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fig1", "--scale", "huge"])
    assert info.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


def test_a_config_with_an_unknown_key_fails_before_training(tmp_path):
    config = tmp_path / "my.yaml"
    text = load("fig8").source
    config.write_text(Path(text).read_text().replace("criteria:", "critera:", 1))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['critera'\]; valid keys: .*criteria"):
        reproduce(configs=[str(config)], scale="tiny", reports_dir=tmp_path / "r", runs_dir=tmp_path / "runs", wandb="disabled", echo=lambda _: None)


def test_the_lt_teacher_command_dispatches_reproduce(capsys):
    from lt_teacher.cli import main as cli_main

    cli_main(["reproduce", "--list"])
    assert "supp-relu" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli_main(["reproduce", "nope"])
    assert info.value.code == 2


def test_angular_nonlinearity_of_the_two_neuron_networks():
    w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert network_nonlinearity(w, u, 0.1) == 0.0
    assert network_nonlinearity(w, u, 0.0, zero_as=1.0) == pytest.approx(0.125)  # a 45 degree wedge of 360
    assert network_nonlinearity(w, u, 0.0, zero_as=-1.0) == pytest.approx(0.125)
    assert network_nonlinearity(w, u, 0.0) == pytest.approx(0.25)  # the zero quadrant matches no line


def test_mnist_reproduction_uses_the_split_on_disk_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("LT_TEACHER_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data"))
    try:
        location = locate_mnist("auto", "auto")
    except DataNotFound:
        if require_real_data():
            raise
        pytest.skip("MNIST is not on this machine")
    outcome = reproduce(["fig2-mnist"], scale="tiny", reports_dir=tmp_path / "r", runs_dir=tmp_path / "runs", wandb="disabled", echo=lambda _: None)
    text = (tmp_path / "r" / "fig2-mnist" / "REPORT.md").read_text()
    if location.split_source == "test-split":
        assert "only the official MNIST *test* split" in text
    assert outcome.runs[0].data_note in text


def test_wandb_tags_name_the_reproduction_the_data_and_the_role():
    from lt_teacher.reproduce.wandb_runs import wandb_tags

    spec = RunSpec("fig2-mnist", "MNIST 3 vs 5, init std 0.001", "mnist", {}, {}, epochs=1, evaluations=1)
    assert wandb_tags(spec) == ["fig2-mnist", "reproduce", "MNIST 3 vs 5", "config-setting"]
    fallback = spec.with_overrides({"model": {"init_std": 1e-5}}, label="MNIST 3 vs 5, init std 0.001 [model.init_std=1e-05]")
    assert wandb_tags(fallback) == ["fig2-mnist", "reproduce", "MNIST 3 vs 5", "fallback"]


@pytest.mark.parametrize("name", ["fig2-mnist", "fig7"])
@pytest.mark.parametrize("pair", ["[3, 3]", "[3, 12]", "[3, true]"])
def test_a_bad_pair_is_refused_before_any_pair_is_trained(name, pair, tmp_path, capsys):
    """The README promises bad values are refused before anything is trained: [[0, 1], [3, 3]] used to train 0 vs 1 first."""
    code = main([name, "--scale", "tiny", "--pairs", f"[[0, 1], {pair}]", "--wandb", "disabled",
                 "--reports-dir", str(tmp_path / "reports"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    assert "`pairs` holds [3, " in capsys.readouterr().err  # then the datamodule's own reason for `digits`
    assert not (tmp_path / "runs").exists() and not list((tmp_path / "reports").glob("*/REPORT.md"))
