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


@settings(max_examples=60, deadline=None)
@given(half=st.integers(1, 20), d=st.integers(1, 5), beta=st.floats(1e-6, 1.0), seed=st.integers(0, 10**6))
def test_section_15_antipodal_data_satisfy_assumption_4(half, d, beta, seed):
    """Section 15: for the antipodal data LinearTeacherDataModule(antipodal=True) makes, V+ and V- are
    empty: a neuron classifying every positive with margin beta (it is in the PAR, par_fraction) never
    also classifies a negative as positive with margin beta, and symmetrically for the u-side."""
    from lt_teacher.datamodules import LinearTeacherDataModule

    dm = LinearTeacherDataModule(dim=d, n_train=2 * half, n_val=0, n_test=0, margin=0.05, antipodal=True, seed=seed % 1000)
    x, y = dm.train_tensors()
    g = torch.Generator().manual_seed(seed)
    positives, negatives = x[y > 0].double(), x[y < 0].double()
    for _ in range(20):
        v = dm.teacher.double() + 0.7 * torch.randn(d, generator=g, dtype=torch.float64)
        v_hat = v / v.norm()
        # v classifies every positive point as +1 with margin beta  <=>  it is in the PAR(beta) of the w-side
        on_positives = par_fraction(positives, torch.ones(positives.shape[0]), v_hat[None], -v_hat[None], beta)
        if on_positives.fraction_w.item() == 1.0:
            assert not bool((negatives @ v_hat >= beta).any()), "V+ is not empty"
        on_negatives = par_fraction(negatives, -torch.ones(negatives.shape[0]), -v_hat[None], v_hat[None], beta)
        if on_negatives.fraction_u.item() == 1.0:
            assert not bool((positives @ v_hat >= beta).any()), "V- is not empty"
