"""two_layer_view: the teacher net and Linear -> LeakyReLU -> Linear networks as Eq. (1)."""

import pytest
import torch
from lightning.pytorch import LightningModule
from torch import nn

from lt_teacher import DiagnosticsEvaluator, LeakyReLUTeacherNet, two_layer_view


def test_teacher_net_view():
    net = LeakyReLUTeacherNet(input_dim=3, k=4, alpha=0.3, v=0.7, init_std=1.0)
    view = two_layer_view(net)
    assert view.w.shape == (4, 3) and view.u.shape == (4, 3)
    assert (view.alpha, view.v, view.degree) == (0.3, 0.7, 1)
    assert view.param_norm == pytest.approx(net.weight.norm().item(), rel=1e-6)
    with pytest.raises(ValueError, match="seed"):
        two_layer_view(net, seed=1)
    x = torch.randn(10, 3)
    assert torch.allclose(view.forward(x), net(x).double(), atol=1e-6)


def test_teacher_net_with_bias_view():
    net = LeakyReLUTeacherNet(input_dim=2, k=2, bias=True, init_std=1.0)
    view = two_layer_view(net)
    assert view.bias and view.w.shape == (2, 3)
    x = torch.randn(5, 2)
    assert torch.allclose(view.forward(x), net(x).double(), atol=1e-6)


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "first-layer-bias"])
@pytest.mark.parametrize("flatten", [False, True], ids=["flat", "flatten-layer"])
def test_learned_output_layer_is_an_equivalent_fixed_output_network(bias, flatten):
    torch.manual_seed(0)
    layers = [nn.Linear(6, 9, bias=bias), nn.LeakyReLU(0.15), nn.Linear(9, 1, bias=False)]
    net = nn.Sequential(*([nn.Flatten()] if flatten else []), *layers)
    view = two_layer_view(net)
    a = layers[2].weight[0]
    assert view.w.shape[0] == int((a > 0).sum()) and view.u.shape[0] == int((a < 0).sum())
    assert view.v == 1.0 and view.degree == 2
    params = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert view.param_norm == pytest.approx(params.norm().item(), rel=1e-6)
    x = torch.randn(20, 2, 3) if flatten else torch.randn(20, 6)
    assert torch.allclose(view.forward(x), net(x)[:, 0].double(), atol=1e-6)


def _fixed_output_net(a: list[float], bias: bool) -> nn.Sequential:
    """Linear(3, 4) -> LeakyReLU(0.2) -> Linear(4, 1) with output weights ``a``, frozen."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 4, bias=bias), nn.LeakyReLU(0.2), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([a]))
    net[2].weight.requires_grad_(False)
    return net


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "first-layer-bias"])
def test_frozen_equal_output_layer_is_the_papers_network(bias):
    """A frozen +-c output layer over a trained first layer: theta = the first layer, degree 1, v = c."""
    net = _fixed_output_net([0.5, -0.5, 0.5, -0.5], bias)
    view = two_layer_view(net)
    rows = net[0].weight.detach().double()
    if bias:
        rows = torch.cat([rows, net[0].bias.detach().double()[:, None]], dim=1)
    assert (view.v, view.degree) == (0.5, 1)
    assert torch.equal(view.w, rows[[0, 2]]) and torch.equal(view.u, rows[[1, 3]])
    assert view.param_norm == pytest.approx(rows.norm().item(), rel=1e-12)
    x = torch.randn(10, 3)
    assert torch.allclose(view.forward(x), net(x)[:, 0].double(), atol=1e-6)
    teacher = LeakyReLUTeacherNet(input_dim=3, k=2, alpha=0.2, v=0.5, bias=bias)
    with torch.no_grad():
        teacher.weight[0] = rows[[0, 2, 1, 3]].float()
    expected = two_layer_view(teacher)
    assert (expected.v, expected.degree, expected.alpha) == (view.v, view.degree, view.alpha)
    assert torch.equal(expected.w, view.w) and torch.equal(expected.u, view.u)
    assert expected.param_norm == view.param_norm


def test_frozen_unequal_output_layer_has_v_the_largest_magnitude_and_degree_one():
    net = _fixed_output_net([2.0, -0.5, 1.0, -1.0], bias=True)
    view = two_layer_view(net)
    rows = torch.cat([net[0].weight.detach().double(), net[0].bias.detach().double()[:, None]], dim=1)
    assert (view.v, view.degree) == (2.0, 1)  # v = max |a_i|, rows (|a_i| / v) w_i
    assert torch.equal(view.w, rows[[0, 2]] * torch.tensor([[1.0], [0.5]], dtype=torch.float64))
    assert torch.equal(view.u, rows[[1, 3]] * torch.tensor([[0.25], [0.5]], dtype=torch.float64))
    assert view.param_norm == pytest.approx(rows.norm().item(), rel=1e-12)  # the first layer's own parameters
    x = torch.randn(10, 3)
    assert torch.allclose(view.forward(x), net(x)[:, 0].double(), atol=1e-6)


def test_frozen_output_layer_diagnostics_move_continuously_with_its_magnitudes():
    """|a_i| all c, or one of them c (1 + 1e-12): the same function, so the same margins, threshold and verdict
    (Theorem 6.2's sqrt(k) alpha v max ||x|| with v = max |a_i| bounds Eq. (30) for unequal |a_i| too)."""
    torch.manual_seed(0)
    x = torch.randn(200, 2, dtype=torch.float64)
    x[:, 0] = torch.sign(x[:, 0]) * (0.1 + x[:, 0].abs())
    y = torch.where(x[:, 0] > 0, 1, -1)
    first = torch.zeros(6, 2, dtype=torch.float64)
    first[:3, 0], first[3:, 0] = 300.0, -300.0
    results = []
    for a0 in (4.0, 4.0 * (1 + 1e-12)):
        net = nn.Sequential(nn.Linear(2, 6, bias=False), nn.LeakyReLU(0.1), nn.Linear(6, 1, bias=False)).double()
        with torch.no_grad():
            net[0].weight.copy_(first)
            net[2].weight.copy_(torch.tensor([[a0, 4.0, 4.0, -4.0, -4.0, -4.0]], dtype=torch.float64))
        net[2].weight.requires_grad_(False)
        evaluator = DiagnosticsEvaluator(("cluster", "margin"))
        evaluator.load({"train": (x, y)}, net)
        results.append(evaluator.compute(net))
    equal, unequal = results
    assert equal["margin/above_threshold"] == unequal["margin/above_threshold"] == 0.0  # 0.59 < 2.25
    for key in ("margin/smoothed", "margin/normalized", "margin/theorem_6_2_threshold", "cluster/radius", "cluster/radius_ratio"):
        assert unequal[key] == pytest.approx(equal[key], rel=1e-9, abs=1e-9), key


@pytest.mark.parametrize("frozen", ["nothing", "everything"])
def test_all_or_no_parameters_trainable_is_a_learned_output_layer(frozen):
    net = _fixed_output_net([0.5, -0.5, 0.5, -0.5], bias=True)
    net.requires_grad_(frozen == "nothing")
    view = two_layer_view(net)
    params = torch.cat([p.detach().double().flatten() for p in net.parameters()])
    assert (view.v, view.degree) == (1.0, 2)
    assert view.param_norm == pytest.approx(params.norm().item(), rel=1e-12)


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "first-layer-bias"])
def test_a_frozen_first_layer_under_a_training_output_layer_is_linear_in_the_output_weights(bias):
    """Random features: N(x) = sum_i a_i sigma(w_i . x) with fixed w_i is 1-homogeneous in a, so theta = a (review:
    it counted as a learned output layer, margins divided by ||(W, a)||^2: -0.090 for min y N / ||a|| = -2.55)."""
    net = _fixed_output_net([0.5, -2.0, 1.5, -0.25], bias=bias)
    net[0].requires_grad_(False)
    net[2].weight.requires_grad_(True)
    view = two_layer_view(net)
    assert (view.v, view.degree) == (1.0, 1)
    assert view.param_norm == pytest.approx(net[2].weight.detach().double().norm().item(), rel=1e-12)
    x = torch.randn(5, 3)
    assert torch.allclose(view.forward(x), net(x)[:, 0].double(), atol=1e-6)


@pytest.mark.parametrize("frozen_value", [0.0, 0.3])
def test_a_first_layer_that_trains_only_in_part_warns_unless_the_frozen_part_is_zero(frozen_value):
    import warnings

    net = _fixed_output_net([0.5, -0.5, 0.5, -0.5], bias=True)
    with torch.no_grad():
        net[0].bias.fill_(frozen_value)
    net[0].bias.requires_grad_(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view = two_layer_view(net)
    warned = [w for w in caught if "not homogeneous" in str(w.message)]
    assert len(warned) == (1 if frozen_value else 0)
    first = torch.cat([net[0].weight.detach().double().flatten(), net[0].bias.detach().double()])
    assert view.degree == 1 and view.param_norm == pytest.approx(first.norm().item(), rel=1e-12)


def test_zero_output_weights_are_left_out():
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[1.0, 0.0, -2.0]]))
    view = two_layer_view(net)
    assert view.w.shape == (1, 2) and view.u.shape == (1, 2)
    assert torch.allclose(view.u, 2 * net[0].weight[2:].double())


class UserModule(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1, bias=False))

    def forward(self, x):
        return self.net(x)


def test_finds_the_network_inside_a_users_module():
    torch.manual_seed(1)
    module = UserModule()
    x = torch.randn(8, 4)
    assert torch.allclose(two_layer_view(module).forward(x), module(x)[:, 0].double(), atol=1e-6)


@pytest.mark.parametrize(
    ("net", "error", "match"),
    [
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)), TypeError, "ReLU is not leaky"),
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1)),
         TypeError, "one hidden layer"),
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1)), TypeError, "output layer has a bias"),
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(1.5), nn.Linear(3, 1, bias=False)), ValueError, "negative_slope=1.5"),
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 2, bias=False)), TypeError, "2 outputs"),
        (nn.Linear(2, 1), TypeError, "contains no nn.Sequential"),
        ("not a module", TypeError, "torch.nn.Module"),
    ],
    ids=["relu", "deep", "output-bias", "slope", "two-outputs", "no-structure", "not-module"],
)
def test_unsupported_structures_say_what_is_expected(net, error, match):
    with pytest.raises(error, match=match):
        two_layer_view(net)


@pytest.mark.parametrize("slope", [0.0, -0.1, 1.0, 1.5], ids=["zero-relu", "negative", "one-linear", "above-one"])
@pytest.mark.parametrize("nested", [False, True], ids=["the-sequential", "inside-a-module"])
def test_a_slope_out_of_range_is_a_value_error(slope, nested):
    """The structure is right and one value is wrong: ValueError, as for alpha of LeakyReLUTeacherNet."""
    net = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(slope), nn.Linear(3, 1, bias=False))
    holder = nn.Module()
    holder.net = net
    with pytest.raises(ValueError, match=rf"negative_slope={slope}; expected 0 < alpha < 1"):
        two_layer_view(holder if nested else net)
    with pytest.raises(ValueError, match=r"`alpha` must be"):
        LeakyReLUTeacherNet(input_dim=2, alpha=slope)
    wrong_structure = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(slope), nn.Linear(3, 1))  # and an output bias
    with pytest.raises(TypeError, match=r"output layer has a bias"):
        two_layer_view(wrong_structure)


def test_several_candidates_are_ambiguous():
    holder = nn.Module()
    holder.a = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
    holder.b = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
    with pytest.raises(ValueError, match="several"):
        two_layer_view(holder)


def test_one_signed_group_is_an_error():
    net = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[2].weight.abs_()
    with pytest.raises(ValueError, match="negative output weight"):
        two_layer_view(net)


def test_deprecated_view_attribute_names_still_work_with_a_warning():
    view = two_layer_view(LeakyReLUTeacherNet(input_dim=2, k=2, v=0.5, bias=True, init_std=1.0))
    with pytest.deprecated_call(match="`v`"):
        assert view.scale == view.v == 0.5
    with pytest.deprecated_call(match="`bias`"):
        assert view.appends_bias is view.bias is True


def test_neurons_stack_w_over_u_whatever_storage_the_groups_share() -> None:
    """view.neurons is [w; u]: a view of the weight matrix when u follows w in it, a copy otherwise."""
    import dataclasses

    view = two_layer_view(LeakyReLUTeacherNet(input_dim=5, k=3, num_seeds=2), 1)
    assert torch.equal(view.neurons, torch.cat([view.w, view.u])) and view.neurons.data_ptr() == view.w.data_ptr()
    weight = torch.randn(7, 4, dtype=torch.float64)
    cases = {
        "u before w": (weight[4:], weight[:4]),
        "separate tensors": (weight[:3].clone(), weight[3:].clone()),
        "a gap between them": (weight[:2], weight[3:]),
        "strided rows": (weight[0:6:2], weight[6:]),
    }
    for name, (w, u) in cases.items():
        stacked = dataclasses.replace(view, w=w, u=u).neurons
        assert torch.equal(stacked, torch.cat([w, u])), name
