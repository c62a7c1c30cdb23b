"""Every diagnostic at weight scales where the plain sum of squares of a neuron overflows or underflows.

A neuron of norm 1e155 has a sum of squares of 1e310 (inf in float64) and one of 1e-170 a sum of squares
of 1e-340 (0): computed naively, the first looks infinite and the second like a zero neuron, which
classifies nothing (Definition 6.2), so the agreement, the PAR and Theorem 5.1's certificate would read 0
and the margins of Eq. (4)/(5) 0 or -inf. The diagnostics are scale-invariant (signs and w_hat . x) or
scale as ||theta||^degree, so every value is checked against the same network at scale 1.
"""

from __future__ import annotations

import math

import pytest
import torch

import lt_teacher.functional as F
from lt_teacher import DiagnosticsEvaluator, LeakyReLUTeacherNet
from lt_teacher.functional._numerics import row_norms, vector_norm

X = torch.tensor([[1.0, 0.5], [-1.0, -0.3], [2.0, 1.0], [0.5, -1.5]], dtype=torch.float64)
Y = torch.tensor([1, -1, 1, 1])
W = torch.tensor([[1.0, 0.2], [1.0, -0.1]], dtype=torch.float64)
U = torch.tensor([[-1.0, -0.2], [-0.9, 0.1], [-1.1, 0.0]], dtype=torch.float64)
SCALES = [1e-300, 1e-200, 1e-170, 1e-160, 1e-6, 30.0, 1e150, 1e155, 1e200, 1e300]


@pytest.mark.parametrize("scale", SCALES)
def test_norms_are_accurate_at_any_magnitude(scale: float) -> None:
    rows = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], dtype=torch.float64) * scale
    norms = row_norms(rows)
    assert norms[1] == 0.0
    assert math.isclose(float(norms[0]), 5.0 * scale, rel_tol=1e-15) and math.isclose(float(norms[2]), scale, rel_tol=1e-15)
    assert math.isclose(float(vector_norm(rows)), math.sqrt(26.0) * scale, rel_tol=1e-15)


def test_norms_in_the_usual_range_are_torchs_bit_for_bit() -> None:
    rows = torch.randn(50, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(row_norms(rows), rows.norm(dim=1))


@pytest.mark.parametrize("scale", SCALES)
def test_functional_diagnostics_do_not_depend_on_the_scale(scale: float) -> None:
    for beta in (0.0, 0.05):
        base, scaled = F.neural_agreement(X, W, U, beta), F.neural_agreement(X, W * scale, U * scale, beta)
        assert all(torch.equal(a, b) for a, b in zip(base, scaled))
    assert F.par_fraction(X, Y, W * scale, U * scale) == F.par_fraction(X, Y, W, U)
    assert torch.equal(F.agreement_certificate_mask(X, W * scale, U * scale), F.agreement_certificate_mask(X, W, U))
    q = F.margins(X, Y, W, U, 0.2)
    assert math.isclose(float(F.normalized_margin(q * scale, float(vector_norm(torch.cat([W, U]) * scale)))),
                        float(F.normalized_margin(q, float(vector_norm(torch.cat([W, U]))))), rel_tol=1e-14)


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("scale", [1e-170, 1e-160, 1e155, 1e200])
def test_evaluator_at_extreme_scales(scale: float, precision: str) -> None:
    def values(s: float) -> dict[str, float]:
        net = LeakyReLUTeacherNet(input_dim=2, k=2).double()
        with torch.no_grad():
            net.weight.copy_((torch.cat([W, U[:2]]) * s)[None])
        evaluator = DiagnosticsEvaluator(precision=precision)
        evaluator.load({"train": (X, Y)}, net)
        return evaluator.compute(net)

    base, scaled = values(1.0), values(scale)
    for key in ("nar/in_nar", "nar/agreement_fraction", "par/fraction_w", "par/fraction_u", "linear_region/outside_fraction/train",
                "margin/accuracy"):
        assert scaled[key] == base[key], key
    # Eq. (4) is scale-invariant for the fixed-output network (degree 1): q and ||W|| both scale by s
    assert math.isclose(scaled["margin/normalized"], base["margin/normalized"], rel_tol=1e-12)
    assert math.isclose(scaled["cluster/radius"], base["cluster/radius"] * scale, rel_tol=1e-12)
    assert math.isfinite(scaled["margin/smoothed"])


def test_margins_divide_by_a_power_that_overflows() -> None:
    # ||theta||^2 = 1e310 overflows, the quotient 1e200 / 1e310 = 1e-110 does not
    assert math.isclose(float(F.normalized_margin(torch.tensor([1e200], dtype=torch.float64), 1e155, degree=2)), 1e-110, rel_tol=1e-15)
    assert math.isclose(float(F.smoothed_margin(torch.tensor([1e200], dtype=torch.float64), 1e155, degree=2)), 1e-110, rel_tol=1e-15)


def test_norms_up_to_the_largest_float64() -> None:
    rows = torch.tensor([[1.5e308, 0.0], [1e308, 1e308], [5e-324, 0.0], [3e-320, 4e-320]], dtype=torch.float64)
    assert row_norms(rows).tolist() == pytest.approx([1.5e308, math.sqrt(2.0) * 1e308, 5e-324, 5e-320], rel=1e-15)
