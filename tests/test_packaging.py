"""The wheel maps callbacks/ and datamodules/ into the lt_teacher namespace, like the editable install; the
package's modules import each other without a cycle (imports inside functions count) and stay small."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _helpers import REPO_ROOT

SUBPACKAGES = (
    "lt_teacher", "lt_teacher.callbacks", "lt_teacher.datamodules", "lt_teacher.functional", "lt_teacher.engines",
    "lt_teacher.reproduce", "lt_teacher.reproduce.experiments", "lt_teacher.plotting",
)

#: pyproject's [tool.setuptools.package-dir]: the folders of the packages that do not live under lt_teacher/.
PACKAGE_DIRS = {"lt_teacher": REPO_ROOT / "lt_teacher", "lt_teacher.callbacks": REPO_ROOT / "callbacks",
                "lt_teacher.datamodules": REPO_ROOT / "datamodules"}
MAX_LINES = 400


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


def package_modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name (``pkg.__init__`` is ``pkg``), with its file."""
    modules: dict[str, Path] = {}
    for root_name, root in PACKAGE_DIRS.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            if root_name == "lt_teacher" and parts[0] in ("callbacks", "datamodules"):
                continue  # not there; the top-level folders are mapped instead
            name = ".".join((root_name, *parts))
            modules[name.removesuffix(".__init__")] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that module ``name`` imports anywhere (module level or inside functions).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``; relative imports
    are resolved against the module's package. Importing a module does not count as importing its parents.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_import_graph_helpers_find_function_level_and_relative_imports(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .a import f\n")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from pkg import b\n    return b\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import a\n")
    known = {"pkg", "pkg.a", "pkg.b"}
    graph = {m: imported_modules(m, tmp_path / "pkg" / (("__init__" if m == "pkg" else m.split(".")[1]) + ".py"), known) for m in known}
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert import_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
    assert import_cycle({"x": {"y"}, "y": set()}) is None


def test_no_import_cycle_in_the_package():
    modules = package_modules()
    assert {"lt_teacher.cli", "lt_teacher.callbacks", "lt_teacher.datamodules", "lt_teacher.reproduce.runner"} <= set(modules)
    graph = {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}
    cycle = import_cycle(graph)
    assert cycle is None, "import cycle (imports inside functions count): " + " -> ".join(cycle or [])


def test_no_package_source_file_is_longer_than_400_lines():
    too_long = {
        str(path.relative_to(REPO_ROOT)): n
        for path in package_modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these modules (at most {MAX_LINES} lines each): {too_long}"
