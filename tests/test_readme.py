"""The README's code runs as written."""

import re

from _helpers import REPO_ROOT


def run_readme_section(heading: str, tmp_path, monkeypatch, capsys) -> tuple[dict, float]:
    """Run the first python block after ``heading`` in a fresh namespace; its namespace and last printed number."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index(heading) :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace, float(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_drop_in_example_runs(tmp_path, monkeypatch, capsys):
    namespace, fraction = run_readme_section("## Drop the monitors into your own project", tmp_path, monkeypatch, capsys)
    assert 0.0 <= fraction <= 1.0
    assert set(namespace["monitor"].history[-1]) >= {"cluster/radius", "margin/smoothed", "par/fraction_w"}


def test_the_features_example_runs_and_equals_the_functional_api_on_the_features(tmp_path, monkeypatch, capsys):
    import math

    import pytest
    import torch

    from lt_teacher import two_layer_view
    from lt_teacher.functional import linear_region_mask, log_sum_loss, logistic_loss, margins, neural_agreement, par_fraction

    namespace, printed = run_readme_section("## A head on learned features", tmp_path, monkeypatch, capsys)
    model, data, monitor = namespace["model"], namespace["data"], namespace["monitor"]
    x, y = data.train_tensors()
    model.eval()
    with torch.no_grad():
        features = model.backbone(x).double()
    view = two_layer_view(model.head)
    xp = view.prepare_inputs(features)
    q = margins(xp, y, view.w, view.u, view.alpha, view.v)
    expected = {
        "linear_region/outside_fraction/train": float((~linear_region_mask(xp, view.w, view.u)).double().mean()),
        "margin/loss": float(logistic_loss(q).mean()),
        "margin/log_loss": float(log_sum_loss(q)) - math.log(q.shape[0]),
        **{f"nar/{k}": float(v) for k, v in neural_agreement(xp, view.w, view.u)._asdict().items()},
        **{f"par/{k}": float(v) for k, v in par_fraction(xp, y, view.w, view.u)._asdict().items()},
    }
    last = monitor.history[-1]
    assert [row["epoch"] for row in monitor.history] == [1.0, 2.0, 3.0, 4.0, 5.0]
    for key, value in expected.items():
        assert last[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert printed == pytest.approx(expected["linear_region/outside_fraction/train"], abs=1e-6)
    assert 0.0 < last["margin/loss"] < math.log(2) + 1  # a real training run, not a degenerate one


def test_the_evaluator_example_runs_without_a_trainer_and_equals_the_functional_api(tmp_path, monkeypatch, capsys):
    import torch

    from lt_teacher import two_layer_view
    from lt_teacher.functional import linear_region_mask

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "Trainer" not in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = float(capsys.readouterr().out.strip().splitlines()[-1])
    x, _ = namespace["data"].train_tensors()
    view = two_layer_view(namespace["net"])
    expected = float((~linear_region_mask(view.prepare_inputs(x.double()), view.w, view.u)).double().mean())
    assert printed == expected


def test_every_python_block_of_the_readme_runs_as_written(tmp_path, monkeypatch, capsys):
    """Each block in a fresh namespace, as a reader pastes it (the three above also check their values)."""
    import torch

    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"README.md python block {number}", "exec"), {})
    printed = capsys.readouterr().out
    # the grid block prints network 7's hyper-parameters, as its comment says
    grid = next(code for code in blocks if "hyperparameter_grid(" in code)
    shown = re.search(r"print\(net\.network_hparams\(7\)\)  # (\{.*\})", grid).group(1)
    assert shown in printed
    assert torch.get_default_dtype() == torch.float32
