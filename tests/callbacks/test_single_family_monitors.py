"""The single-family monitors forward LinearTeacherMonitor's keywords; LightningCLI still lists and checks them."""

import os
import subprocess
import sys

import pytest
from jsonargparse import ArgumentParser

from _helpers import REPO_ROOT
from lt_teacher.callbacks import LinearRegionMonitor, LinearTeacherMonitor, MarginMonitor, NeuralAgreementMonitor

FAMILIES = [
    (MarginMonitor, ("margin",), []),
    (LinearRegionMonitor, ("linear_region",), ["--m.splits", "[train, test]"]),
    (NeuralAgreementMonitor, ("agreement", "par"), ["--m.beta", "0.25"]),
]


@pytest.mark.parametrize("cls, groups, extra", FAMILIES, ids=[f[0].__name__ for f in FAMILIES])
def test_jsonargparse_resolves_the_forwarded_keywords(cls, groups, extra):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "m")
    cfg = parser.parse_args(["--m.every_n_epochs", "3", "--m.max_samples", "10", "--m.sample_seed", "2", *extra])
    monitor = parser.instantiate_classes(cfg).m
    assert isinstance(monitor, LinearTeacherMonitor) and monitor.groups == groups
    assert (monitor.every_n_epochs, monitor.max_samples, monitor.sample_seed) == (3, 10, 2)
    assert "groups" not in cfg.m  # fixed by the class, not an option
    with pytest.raises(Exception, match="every_n_epochs"):
        parser.parse_args(["--m.every_n_epochs", "three"])


def test_fit_print_config_lists_the_single_family_monitors_arguments(tmp_path):
    config = tmp_path / "monitors.yaml"
    config.write_text(
        "trainer:\n  callbacks:\n"
        "    - class_path: lt_teacher.callbacks.MarginMonitor\n      init_args:\n        every_n_epochs: 3\n"
        "    - class_path: lt_teacher.callbacks.NeuralAgreementMonitor\n      init_args:\n        beta: 0.1\n        max_samples: 64\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    result = subprocess.run(
        [sys.executable, "-m", "lt_teacher.cli", "fit", "--config", str(REPO_ROOT / "configs" / "default.yaml"),
         "--config", str(config), "--print_config"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    margin = result.stdout.split("lt_teacher.callbacks.MarginMonitor", 1)[1].split("class_path", 1)[0]
    assert "every_n_epochs: 3" in margin and "max_samples: null" in margin and "groups" not in margin
    agreement = result.stdout.split("lt_teacher.callbacks.NeuralAgreementMonitor", 1)[1].split("class_path", 1)[0]
    assert "beta: 0.1" in agreement and "max_samples: 64" in agreement
