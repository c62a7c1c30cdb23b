"""One configuration language: a reproduction's run-level keys are `lt-teacher fit` config keys, every trained run
is written as a fit config next to its report, and overrides use jsonargparse's dotted syntax (``--set`` and the
earlier config dialect still work, with a DeprecationWarning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from lt_teacher.reproduce import main, reproduce
from lt_teacher.reproduce.config import load
from lt_teacher.reproduce.dialect import dotted_overrides, legacy_set_override
from lt_teacher.reproduce.fit_configs import check_run_sections

from _helpers import REPO_ROOT


def test_every_packaged_config_is_a_fit_config_in_its_run_level_keys():
    for path in sorted((REPO_ROOT / "lt_teacher" / "reproduce" / "configs").glob("*.yaml")):
        for scale in ("tiny", "quick", "paper"):
            cfg = load(path.stem, scale=scale)
            check_run_sections(cfg.settings, str(path))  # lt-teacher fit's parser accepts them
            if "data" in cfg.settings:
                assert set(cfg.settings["data"]) == {"class_path", "init_args"}
            assert "train" not in cfg.settings


def test_a_written_run_config_is_accepted_by_lt_teacher_fit_and_retrains_the_same_network(tmp_path, capsys, monkeypatch):
    from lt_teacher import cli

    outcome = reproduce(["fig3"], scale="tiny", reports_dir=tmp_path / "reports", runs_dir=tmp_path / "runs",
                        wandb="disabled", echo=lambda _: None)
    (run,) = outcome.runs
    folder = tmp_path / "reports" / "fig3"
    results = json.loads((folder / "results.json").read_text())
    (row,) = results["runs"]
    config_path = folder / row["fit_config"]
    assert config_path.parent.name == "runs" and row["fit_config"] in (folder / "REPORT.md").read_text()
    config = yaml.safe_load(config_path.read_text())
    assert config["model"]["engine"] == "fused" and config["model"]["init_std"] == run.spec.model["init_std"]
    assert config["trainer"]["max_epochs"] == run.spec.epochs and config["seed_everything"] == run.spec.seed

    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "--config", str(config_path), "--print_config"])
    assert info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["k"] == run.k and printed["data"]["init_args"]["n_train"] == run.spec.data["n_train"]

    trained: list[torch.Tensor] = []
    monkeypatch.setattr(cli.LinearTeacherCLI, "after_fit", lambda self: trained.append(self.model.weight.detach().clone()))
    monkeypatch.chdir(tmp_path)
    cli.main(["fit", "--config", str(config_path), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
              "--trainer.enable_model_summary", "false"])
    (weight,) = trained
    assert torch.equal(weight.to(torch.float64), run.weight)  # the same networks, bit for bit


def test_dotted_overrides_are_split_from_the_commands_own_options():
    overrides, rest = dotted_overrides(["fig8", "--model.alpha", "0.3", "--trainer.max_epochs=5", "--scale", "tiny", "--pairs", "[[0, 1]]"],
                                       ["--scale", "--config"])
    assert overrides == ["model.alpha=0.3", "trainer.max_epochs=5", "pairs=[[0, 1]]"] and rest == ["fig8", "--scale", "tiny"]


def test_a_dotted_override_writes_a_variant_and_data_keys_are_short_for_init_args(tmp_path):
    outcome = reproduce(["fig8"], scale="tiny", overrides=["data.n_train=20", "model.alpha=0.2"], reports_dir=tmp_path / "r",
                        runs_dir=tmp_path / "runs", wandb="disabled", echo=lambda _: None)
    assert outcome.runs[0].spec.data["n_train"] == 20 and outcome.runs[0].spec.model["alpha"] == 0.2
    assert (tmp_path / "r" / "fig8+data.n_train=20+model.alpha=0.2" / "REPORT.md").is_file()


def test_set_still_works_with_a_deprecation_warning(tmp_path, capsys):
    assert legacy_set_override("train.epochs=2") == "trainer.max_epochs=2"
    assert legacy_set_override("train.seed=1") == "seed_everything=1"
    with pytest.warns(DeprecationWarning, match="--set KEY=VALUE is deprecated.*--trainer.max_epochs 2"):
        code = main(["fig8", "--set", "train.epochs=2", "--scale", "tiny", "--wandb", "disabled",
                     "--reports-dir", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    assert "deprecated" in capsys.readouterr().err
    results = json.loads((tmp_path / "r" / "fig8+trainer.max_epochs=2" / "results.json").read_text())
    assert results["runs"][0]["epochs"] == 2


def test_a_config_in_the_earlier_dialect_is_read_with_a_deprecation_warning(tmp_path):
    legacy = tmp_path / "old.yaml"
    legacy.write_text(
        "name: old-fig8\nexperiment: par_entrance\n"
        "data: {kind: gaussian, dim: 3, n_train: 20, n_val: 0, n_test: 0, antipodal: true}\n"
        "model: {k: 2, num_seeds: 1, init_std: 0.001}\n"
        "train: {epochs: 2, evaluations: 1, steps_per_epoch: 2, seed: 0}\n"
        "fallback: [{epochs: 3}]\nnotes: {train.epochs: 'short'}\n"
        "scales: {tiny: {data: {n_train: 10}, train: {epochs: 1}}}\n"
    )
    with pytest.warns(DeprecationWarning, match="earlier config dialect"):
        cfg = load(str(legacy), scale="tiny", is_path=True)
    s = cfg.settings
    assert s["data"] == {"class_path": "lt_teacher.datamodules.LinearTeacherDataModule",
                         "init_args": {"dim": 3, "n_train": 10, "n_val": 0, "n_test": 0, "antipodal": True}}
    assert s["trainer"] == {"max_epochs": 1} and s["schedule"] == {"evaluations": 1, "steps_per_epoch": 2} and s["seed_everything"] == 0
    assert s["fallback"] == [{"trainer": {"max_epochs": 3}}] and s["notes"] == {"trainer.max_epochs": "short"}
