"""The package type-checks: mypy with ``disallow_untyped_defs`` (pyproject's ``[tool.mypy]``) passes on every module."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

from _helpers import REPO_ROOT

PACKAGE_FOLDERS = ("lt_teacher", "callbacks", "datamodules")


@pytest.mark.slow
def test_mypy_passes_on_the_package_with_disallow_untyped_defs(tmp_path: Path) -> None:
    stdout, stderr, status = mypy_api.run(
        [
            "--config-file", str(REPO_ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "mypy-cache"),
            "--disallow-untyped-defs",
            *(str(REPO_ROOT / folder) for folder in PACKAGE_FOLDERS),
        ]
    )
    assert status == 0, f"mypy found errors:\n{stdout}{stderr}"
