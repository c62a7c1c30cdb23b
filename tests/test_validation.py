"""lt_teacher._validation: one rule for every argument check (TypeError: wrong type, ValueError: wrong value)."""

from __future__ import annotations

import doctest
import math
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lt_teacher._validation
from lt_teacher._validation import (
    all_finite,
    check_bool,
    check_choice,
    check_finite,
    check_float,
    check_fraction,
    check_int,
    check_optional_int,
    check_positive,
    check_probability,
    check_slope,
    check_tensor,
    renamed_argument,
)

REJECTED: list[Any] = [
    # (check, value, error, message)
    pytest.param(lambda v: check_int(v, "k", minimum=1), True, TypeError, r"^`k` must be an int >= 1, got bool True\.$", id="int-bool"),
    pytest.param(lambda v: check_int(v, "k", minimum=1), 2.0, TypeError, r"^`k` must be an int >= 1, got float 2.0\.$", id="int-float"),
    pytest.param(lambda v: check_int(v, "k", minimum=1), 0, ValueError, r"^`k` must be an int >= 1, got 0\.$", id="int-small"),
    pytest.param(lambda v: check_int(v, "k", owner="Monitor"), "3", TypeError, r"^Monitor: `k` must be an int, got str '3'\.$", id="int-owner"),
    pytest.param(lambda v: check_optional_int(v, "n", minimum=1), 0, ValueError, r"^`n` must be None or an int >= 1, got 0\.$", id="optional-int"),
    pytest.param(lambda v: check_optional_int(v, "n", minimum=1), 2.0, TypeError, r"`n` must be None or an int >= 1, got float 2.0", id="optional-int-float"),
    pytest.param(lambda v: check_float(v, "m", minimum=0.0), "1", TypeError, r"`m` must be a finite number >= 0, got str '1'", id="float-str"),
    pytest.param(lambda v: check_float(v, "m", minimum=0.0), math.nan, ValueError, r"`m` must be a finite number >= 0, got nan", id="float-nan"),
    pytest.param(lambda v: check_float(v, "m"), math.inf, ValueError, r"`m` must be a finite number, got inf", id="float-inf"),
    pytest.param(lambda v: check_float(v, "r", minimum=0.0, strict=True, allow_inf=True), 0.0, ValueError, r"`r` must be a number \(not NaN\) > 0, got 0.0", id="float-strict"),
    pytest.param(lambda v: check_positive(v, "lr"), -0.1, ValueError, r"`lr` must be a finite number > 0, got -0.1", id="positive"),
    pytest.param(lambda v: check_positive(v, "lr"), None, TypeError, r"`lr` must be a finite number > 0, got NoneType None", id="positive-none"),
    pytest.param(lambda v: check_fraction(v, "f"), 1.0, ValueError, r"`f` must be in \[0, 1\), got 1.0", id="fraction"),
    pytest.param(lambda v: check_probability(v, "p"), -0.5, ValueError, r"`p` must be in \[0, 1\], got -0.5", id="probability"),
    pytest.param(lambda v: check_slope(v), 0.0, ValueError, r"`alpha` must be in \(0, 1\) \(the Leaky-ReLU slope\), got 0.0", id="slope-zero"),
    pytest.param(lambda v: check_slope(v, allow_zero=True), 1.0, ValueError, r"`alpha` must be in \[0, 1\)", id="slope-relu-one"),
    pytest.param(lambda v: check_slope(v), "0.1", TypeError, r"`alpha` must be a number in \(0, 1\)", id="slope-str"),
    pytest.param(lambda v: check_bool(v, "b"), 1, TypeError, r"`b` must be a bool \(True or False\), got int 1", id="bool"),
    pytest.param(lambda v: check_choice(v, "e", ("a", "b")), "c", ValueError, r"`e` must be one of 'a', 'b', got 'c'", id="choice"),
    pytest.param(lambda v: check_choice(v, "e", ("a", "b")), 1, TypeError, r"`e` must be a str, one of 'a', 'b', got int 1", id="choice-type"),
    pytest.param(lambda v: check_tensor(v, "x", ndim=2, shape="(n, d)"), [1.0], TypeError, r"`x` must be a torch.Tensor of shape \(n, d\), got list", id="tensor"),
    pytest.param(lambda v: check_tensor(v, "x", ndim=2), torch.zeros(3), ValueError, r"`x` must have 2 dimensions, got shape \(3,\)", id="tensor-ndim"),
    pytest.param(lambda v: check_finite(v, "x"), torch.tensor([0.0, math.nan]), ValueError, r"`x` contains NaN or Inf", id="finite"),
]


@pytest.mark.parametrize(("check", "value", "error", "match"), REJECTED)
def test_wrong_type_is_a_type_error_and_wrong_value_a_value_error(
    check: Callable[[object], object], value: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        check(value)


def test_accepted_values_come_back_normalised() -> None:
    assert check_int(np.int64(3), "k") == 3 and type(check_int(np.int64(3), "k")) is int
    assert check_optional_int(None, "n", minimum=1) is None and check_optional_int(4, "n", minimum=1) == 4
    assert check_float(np.float32(0.5), "m") == 0.5 and check_float(math.inf, "r", allow_inf=True) == math.inf
    assert check_positive(2, "lr") == 2.0 and check_slope(0.0, allow_zero=True) == 0.0
    assert check_fraction(0.0, "f") == 0.0 and check_probability(1.0, "p") == 1.0
    assert check_bool(False, "b") is False and check_choice("a", "e", ("a",)) == "a"


def test_renamed_argument() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert renamed_argument(True, None, name="bias", old_name="append_bias", default=False) is True
    with pytest.warns(DeprecationWarning, match=r"`append_bias` is deprecated, use `bias` instead"):
        assert renamed_argument(False, True, name="bias", old_name="append_bias", default=False) is True
    with pytest.raises(ValueError, match=r"got both, `bias`=True and `append_bias`=False"):
        renamed_argument(True, False, name="bias", old_name="append_bias", default=False)


def test_docstring_examples() -> None:
    result = doctest.testmod(lt_teacher._validation)
    assert result.attempted > 0 and result.failed == 0


def test_depends_on_torch_and_the_standard_library_only() -> None:
    source = lt_teacher._validation.__file__
    with open(source) as f:
        imports = {line.split()[1].split(".")[0] for line in f if line.startswith(("import ", "from "))}
    assert imports - {"torch"} <= set(sys.stdlib_module_names) | {"__future__"}, imports


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=40),
    dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
    columns=st.sampled_from([1, 2, 4]),
)
def test_all_finite_is_isfinite_all(values: list[float], dtype: torch.dtype, columns: int) -> None:
    """all_finite (one aminmax) answers exactly like the mask torch.isfinite(t).all(), on any shape and float dtype."""
    t = torch.tensor(values[: len(values) // columns * columns], dtype=dtype).reshape(-1, columns)
    assert all_finite(t) == bool(torch.isfinite(t).all())
    assert all_finite(t.T) == bool(torch.isfinite(t).all())  # a non-contiguous view


def test_all_finite_of_integer_tensors_is_true() -> None:
    assert all_finite(torch.arange(5)) and all_finite(torch.zeros(0, 3))


def test_all_finite_of_complex_tensors_checks_both_parts():
    assert all_finite(torch.tensor([1 + 1j, 2 - 3j])) and not all_finite(torch.tensor([1 + 1j, complex("nan")]))
