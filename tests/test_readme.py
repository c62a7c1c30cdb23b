"""The README's code runs as written."""

import re

from _helpers import REPO_ROOT


def test_the_drop_in_example_runs(tmp_path, monkeypatch, capsys):
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Drop the monitors into your own project") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    fraction = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= fraction <= 1.0
    assert set(namespace["monitor"].history[-1]) >= {"cluster/radius", "margin/smoothed", "par/fraction_w"}
