"""Every ``>>>`` example of lt_teacher.functional runs as written."""

import doctest
import importlib
import pkgutil

import pytest

import lt_teacher.functional

MODULES = sorted(m.name for m in pkgutil.iter_modules(lt_teacher.functional.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"lt_teacher.functional.{name}")
    assert doctest.testmod(module).failed == 0
