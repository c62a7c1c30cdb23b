"""Definition 6.2 (NAR, max(n_diff)), Definition 6.3 (PAR) and section 15 (antipodal data)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lt_teacher.functional import neural_agreement, par_fraction


def slow_max_ndiff(x, neurons):
    h = x.double() @ neurons.double().T
    best = 0
    for a in range(h.shape[1]):
        for b in range(a + 1, h.shape[1]):
            same = ((h[:, a] > 0) & (h[:, b] > 0)) | ((h[:, a] < 0) & (h[:, b] < 0))
            best = max(best, int((~same).sum()))
    return best


def test_hand_computed_agreement():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    w = torch.tensor([[1.0, 1.0], [1.0, -0.5]])  # signs (+,+,+) and (+,-,+): differ on 1 point
    u = torch.tensor([[-1.0, 0.0], [-2.0, 0.0]])  # signs (-,0,-) twice: the 0 is a disagreement
    a = neural_agreement(x, w, u)
    assert a.max_disagreement_w.item() == 1
    assert a.max_disagreement_u.item() == 1
    assert a.agreement_fraction_w.item() == pytest.approx(2 / 3)
    assert a.agreement_fraction_u.item() == pytest.approx(2 / 3)
    assert a.agreement_fraction.item() == pytest.approx(2 / 3)  # both groups split on point 1 only
    assert not bool(a.in_nar)


def test_margin_beta_is_on_unit_neurons():
    x = torch.tensor([[1.0, 0.0]])
    w = torch.tensor([[10.0, 10.0], [3.0, 0.0]])  # w_hat . x = 0.707 and 1
    u = torch.tensor([[-1.0, 0.0], [-1.0, 0.1]])
    assert bool(neural_agreement(x, w, u, beta=0.7).in_nar)
    assert not bool(neural_agreement(x, w, u, beta=0.75).in_nar)


def test_nar_with_perfect_agreement():
    x = torch.tensor([[1.0, 0.2], [-1.0, 0.3]])
    w = torch.tensor([[1.0, 0.0], [2.0, 0.1]])
    a = neural_agreement(x, w, -w, beta=0.1)
    assert a.max_disagreement_w.item() == 0 and a.max_disagreement_u.item() == 0
    assert bool(a.in_nar) and a.agreement_fraction.item() == 1.0


def test_zero_norm_neuron_never_agrees():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    a = neural_agreement(x, w, -w)
    assert a.max_disagreement_w.item() == 2
    assert a.agreement_fraction_w.item() == 0.0
    p = par_fraction(x, torch.tensor([1, 1]), w, -w)
    assert p.fraction_w.item() == 0.5 and p.fraction_u.item() == 0.5


@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 6), n=st.integers(1, 30), seed=st.integers(0, 10**6), ties=st.booleans())
def test_max_ndiff_matches_pairwise_reference(k, n, seed, ties):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    if ties:  # integer data produce exact zeros
        x = x.round()
    w = torch.randn(k, 3, generator=g).round() if ties else torch.randn(k, 3, generator=g)
    assert neural_agreement(x, w, -w).max_disagreement_w.item() == slow_max_ndiff(x, w)


def test_par_fraction_hand_computed():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.5]])
    y = torch.tensor([1.0, 0.0, 1.0])  # {0, 1} labels
    w = torch.tensor([[1.0, 0.0], [1.0, 2.0], [1.0, 0.1]])
    u = torch.tensor([[-1.0, -1.0], [0.0, 1.0]])
    p = par_fraction(x, y, w, u)
    # y * w_hat . x: w0 (1, 1, 0.5), w1 (0.447, 0.447, 0.671), w2 (0.995, 0.995, 0.547): all in the PAR
    assert p.fraction_w.item() == 1.0
    # -y * u_hat . x: u0 (0.707, 0.707, 0.707) in; u1 (0, 0, -0.5) out (a zero is no classification)
    assert p.fraction_u.item() == 0.5
    assert par_fraction(x, y, w, u, beta=0.5).fraction_w.item() == pytest.approx(2 / 3)  # w1 drops out


def test_labels_are_validated():
    x, w = torch.ones(2, 2), torch.ones(1, 2)
    with pytest.raises(ValueError, match="labels in"):
        par_fraction(x, torch.tensor([2.0, 1.0]), w, w)
    with pytest.raises(ValueError, match="labels in"):
        par_fraction(x, torch.tensor([0.0, -1.0]), w, w)
    with pytest.raises(ValueError, match="2 rows"):
        par_fraction(x, torch.tensor([1.0]), w, w)
    with pytest.raises(ValueError, match="beta"):
        neural_agreement(x, w, w, beta=-0.1)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 20), d=st.integers(1, 5), beta=st.floats(1e-6, 1.0), seed=st.integers(0, 10**6))
def test_section_15_antipodal_data_satisfy_assumption_4(n, d, beta, seed):
    """For antipodal data, V+ and V- are empty: a vector classifying every positive with margin beta
    misclassifies no negative with margin beta (checked on the vector's own classification)."""
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(d, generator=g, dtype=torch.float64)
    half = torch.randn(n, d, generator=g, dtype=torch.float64)
    half = half[(half @ teacher).abs() > 1e-9]
    x = torch.cat([half, -half])
    y = torch.sign(x @ teacher)
    for _ in range(20):
        v_hat = teacher / teacher.norm() + 0.7 * torch.randn(d, generator=g, dtype=torch.float64)
        v_hat = v_hat / v_hat.norm()
        s = x @ v_hat
        if bool((s[y > 0] >= beta).all()) and (y > 0).any():
            assert not bool((s[y < 0] >= beta).any()), "V+ is not empty"
        if bool((s[y < 0] >= beta).all()) and (y < 0).any():
            assert not bool((s[y > 0] >= beta).any()), "V- is not empty"
