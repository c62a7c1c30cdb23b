"""The layers of docs/architecture.md: which part of the package may import which (imports inside functions count)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from test_packaging import imported_modules, package_modules

# Each part of the package and the parts it may import. A part is a subpackage (``functional``,
# ``engines``, ``plotting``, ``reproduce``, ``callbacks``, ``datamodules``) or a top-level module.
ALLOWED: dict[str, set[str]] = {
    "_validation": set(),
    "_version": set(),
    "_checkpoints": set(),
    "_numerics": set(),
    "functional": {"_validation"},
    "_metric_support": {"functional", "_validation"},
    "metrics": {"functional", "_metric_support", "_validation"},
    "engines": {"functional", "_validation"},
    "grid": {"_validation"},
    "_batch": set(),
    "_epoch_logging": set(),
    "_chunk_plan": {"engines", "_validation"},
    "_sources": {"_batch", "_validation"},
    "model": {"engines", "functional", "grid", "_batch", "_checkpoints", "_chunk_plan", "_epoch_logging", "_sources", "_validation"},
    "view": {"functional", "model", "_validation"},
    "datamodules": {"functional", "_validation"},
    "evaluation_data": {"functional", "_batch", "_sources", "_validation"},
    "evaluator": {"functional", "metrics", "view", "grid", "evaluation_data", "_batch", "_sources", "_validation"},
    "plotting": {"functional", "_validation"},
    "callbacks": {
        "functional", "metrics", "view", "model", "grid", "evaluator", "evaluation_data", "plotting",
        "_batch", "_sources", "_validation",
    },
    "summary": {"functional", "_validation"},
    "_resume": {"functional", "_validation", "_checkpoints"},
    "_cli_support": {"functional", "_validation", "_version"},
    "reproduce": {
        "functional", "metrics", "view", "model", "grid", "engines", "evaluator", "evaluation_data", "plotting",
        "callbacks", "datamodules", "_batch", "_sources", "_validation", "_cli_support", "_version",
    },
    "cli": {
        "functional", "model", "view", "grid", "callbacks", "datamodules", "reproduce", "summary", "_resume",
        "_cli_support", "_batch", "_chunk_plan", "_sources", "_validation",
    },
    "lt_teacher": {"functional", "model", "view", "grid", "metrics", "evaluator", "_version"},
}


def part(module: str) -> str:
    """``lt_teacher.functional.margins`` -> ``functional``; ``lt_teacher.callbacks.x`` -> ``callbacks``."""
    pieces = module.split(".")
    return "lt_teacher" if len(pieces) == 1 else pieces[1]


def test_every_part_of_the_package_has_a_place_in_the_layers():
    parts = {part(name) for name in package_modules()}
    assert parts <= set(ALLOWED), f"parts without a layer in docs/architecture.md: {sorted(parts - set(ALLOWED))}"


def test_each_part_imports_only_the_parts_below_it():
    modules = package_modules()
    known = set(modules)
    wrong = [
        f"{name} imports {target}"
        for name, path in sorted(modules.items())
        for target in sorted(imported_modules(name, path, known))
        if part(target) != part(name) and part(target) not in ALLOWED[part(name)]
    ]
    assert not wrong, "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize("lower", ["functional", "metrics", "engines", "plotting", "_validation"])
def test_the_lowest_layers_do_not_import_lightning(lower):
    """The formulas, the metrics, the engines and the figures are usable from plain PyTorch."""
    offenders = []
    for name, path in package_modules().items():
        if part(name) != lower:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{name} imports {n}" for n in names if n == "lightning" or n.startswith("lightning.")]
    assert not offenders, offenders


def test_importing_the_lowest_layers_does_not_load_lightning():
    """Checked on a fresh interpreter's sys.modules: the package's __init__ imports its Lightning parts lazily."""
    code = (
        "import sys, lt_teacher.functional, lt_teacher._validation, lt_teacher.metrics, lt_teacher.engines, lt_teacher.plotting\n"
        "print(sorted(m for m in sys.modules if m == 'lightning' or m.startswith('lightning.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_the_package_names_are_still_importable_from_the_top():
    import lt_teacher

    for name in lt_teacher.__all__:
        assert getattr(lt_teacher, name) is not None, name
    assert "LeakyReLUTeacherNet" in dir(lt_teacher)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        lt_teacher.nope  # noqa: B018


def test_the_table_of_docs_architecture_is_this_map():
    """Each row of docs/architecture.md lists at least what ALLOWED lets its parts import (no undocumented edge)."""
    import re

    from _helpers import REPO_ROOT

    text = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `lt_teacher")]
    checked = set()
    for row in rows:
        layer, _, may_import = (cell.strip() for cell in row.strip("|").split("|"))
        parts = {name.split(".")[1] for name in re.findall(r"`(lt_teacher\.[\w.]+)`", layer)}
        listed = set(re.findall(r"`(\w+)`", may_import))
        for name in parts:
            if "everything" in may_import:
                continue
            # a row of several parts lists the union of what they may import
            assert ALLOWED[name] <= listed, (name, sorted(ALLOWED[name] - listed))
            checked.add(name)
    assert {"_validation", "functional", "metrics", "engines", "model", "view", "evaluator", "plotting", "datamodules"} <= checked
