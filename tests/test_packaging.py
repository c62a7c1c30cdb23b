"""The wheel maps callbacks/ and datamodules/ into the lt_teacher namespace, like the editable install."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _helpers import REPO_ROOT

SUBPACKAGES = (
    "lt_teacher", "lt_teacher.callbacks", "lt_teacher.datamodules", "lt_teacher.functional", "lt_teacher.engines",
    "lt_teacher.reproduce",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO_ROOT)],
        check=True,
        cwd=out,
    )
    (path,) = out.glob("lt_teacher-*.whl")
    return path


def test_wheel_file_list(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for package in SUBPACKAGES:
        assert package.replace(".", "/") + "/__init__.py" in names
    assert any(name.startswith("lt_teacher/reproduce/configs/") and name.endswith(".yaml") for name in names)
    top_level = {name.split("/")[0] for name in names if not name.startswith("lt_teacher-")}
    assert top_level == {"lt_teacher"}, f"the wheel installs generic top-level modules: {top_level}"


def test_wheel_imports_like_the_editable_install(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = "; ".join(f"import {p}" for p in SUBPACKAGES) + "; " + "; ".join(
        f"print({p}.__file__)" for p in SUBPACKAGES
    )
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == len(SUBPACKAGES)
    assert all(f.startswith(str(tmp_path / "site")) for f in files), files


def test_editable_install_maps_the_top_level_folders():
    import lt_teacher.callbacks
    import lt_teacher.datamodules

    # the README installs with -e: the namespace points into the repository's top-level folders
    assert Path(lt_teacher.callbacks.__file__).parent == REPO_ROOT / "callbacks"
    assert Path(lt_teacher.datamodules.__file__).parent == REPO_ROOT / "datamodules"
