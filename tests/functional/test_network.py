"""Eq. (1) with alpha = 0 (ReLU, supplementary Figure 4), and the output weight's one name, v."""

import pytest
import torch

from lt_teacher.functional import evaluate_batch, margins, network_output, output_from_preactivations, theorem_6_2_threshold

X = torch.tensor([[1.0, -2.0], [-1.0, 0.5], [0.3, 0.3]], dtype=torch.float64)
W = torch.tensor([[1.0, 0.5], [-0.5, 1.0]], dtype=torch.float64)
U = torch.tensor([[0.2, -1.0]], dtype=torch.float64)


def reference(x: torch.Tensor, alpha: float, v: float) -> list[float]:
    act = lambda z: z if z > 0 else alpha * z  # noqa: E731
    return [v * (sum(act(float(w @ xi)) for w in W) - sum(act(float(u @ xi)) for u in U)) for xi in x]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5], ids=["relu", "leaky-0.1", "leaky-0.5"])
def test_network_output_matches_a_loop_also_for_relu(alpha):
    got = network_output(X, W, U, alpha, 0.7)
    assert got.tolist() == pytest.approx(reference(X, alpha, 0.7), rel=1e-15)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 1.5])
def test_network_output_rejects_slopes_outside_0_1(alpha):
    with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 1\) \(the Leaky-ReLU slope; 0 is the ReLU\), got"):
        network_output(X, W, U, alpha)


def test_the_paper_functions_other_than_eq_1_still_need_a_leaky_slope():
    with pytest.raises(ValueError, match=r"`alpha` must be in \(0, 1\)"):
        theorem_6_2_threshold(2, 0.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda **kw: network_output(X, W, U, 0.2, **kw),
        lambda **kw: margins(X, torch.tensor([1, 0, 1]), W, U, 0.2, **kw),
        lambda **kw: evaluate_batch(X, torch.tensor([1, 0, 1]), W, U, 0.2, **kw).output,
        lambda **kw: theorem_6_2_threshold(2, 0.2, max_input_norm=3.0, **kw),
    ],
    ids=["network_output", "margins", "evaluate_batch", "theorem_6_2_threshold"],
)
def test_the_deprecated_scale_keyword_still_works_and_warns(call):
    expected = call(v=0.7)
    with pytest.deprecated_call(match=r"`scale` is deprecated, use `v` instead"):
        got = call(scale=0.7)
    assert torch.equal(torch.as_tensor(got), torch.as_tensor(expected))
    with pytest.raises(ValueError, match="`scale` is the old name of `v`; got both"):
        call(v=0.7, scale=0.5)


def test_output_from_preactivations_takes_v_and_scale():
    h_w, h_u = X @ W.T, X @ U.T
    with pytest.deprecated_call():
        assert torch.equal(output_from_preactivations(h_w, h_u, 0.2, scale=0.5), output_from_preactivations(h_w, h_u, 0.2, 0.5))


def test_the_matrix_form_of_eq_1_is_the_group_sum_form_to_rounding():
    """N(x) = a . sigma(W x) with a = (v, .., v, -v, .., -v) equals v (sum sigma(w.x) - sum sigma(u.x))."""
    from lt_teacher.functional import leaky_relu, network_output, output_from_activations, signed_output_weights

    torch.manual_seed(0)
    x, w, u = torch.randn(7, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    a = signed_output_weights(4, 2.5).double()
    assert a.tolist() == [2.5] * 4 + [-2.5] * 4
    matrix = output_from_activations(leaky_relu(x @ torch.cat([w, u]).T, 0.2), a)
    assert torch.allclose(matrix, network_output(x, w, u, 0.2, 2.5), rtol=1e-13, atol=1e-13)
    per_network = signed_output_weights(4, [1.0, 3.0]).double()  # (S, 2k): one row per network of a grid
    assert per_network.shape == (2, 8) and per_network[1].tolist() == [3.0] * 4 + [-3.0] * 4
    stacked = leaky_relu(torch.stack([x, x]) @ torch.cat([w, u]).T, 0.2)  # (S, n, 2k)
    both = output_from_activations(stacked, per_network)
    assert torch.allclose(both[1], network_output(x, w, u, 0.2, 3.0), rtol=1e-13, atol=1e-13)
