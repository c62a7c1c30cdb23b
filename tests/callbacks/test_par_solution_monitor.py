"""PARSolutionMonitor: the learned network against the solution of Eq. (7) (Theorem 6.2, Figure 3)."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet, two_layer_view
from lt_teacher.callbacks import PARSolutionMonitor
from lt_teacher.functional import linear_direction, par_svm
from lt_teacher.functional.network import logistic_loss

KEYS = (
    "par_solution/cosine_w",
    "par_solution/cosine_u",
    "par_solution/cosine_direction",
    "par_solution/min_cosine_w",
    "par_solution/min_cosine_u",
)


def antipodal_gaussians(n: int = 400, d: int = 2, seed: int = 0, margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 3's data made antipodal: N(+mu, I) positives with the band |mu_hat . x| < margin removed,
    and their copies -x as negatives (supplementary 15: then Assumption 4 of Theorem 6.2 holds)."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(d, generator=g)
    mu = mu / mu.norm()
    positives = mu + torch.randn(n // 2, d, generator=g)
    positives = positives[positives @ mu > margin]
    x = torch.cat([positives, -positives])
    y = torch.cat([torch.ones(len(positives)), -torch.ones(len(positives))])
    return x, y


def fit(model: LightningModule, callbacks: list, x: torch.Tensor, y: torch.Tensor, tmp_path, epochs: int, batch_size: int = 20) -> Trainer:
    trainer = Trainer(
        max_epochs=epochs, default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True))
    return trainer


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def direct(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The logged values, recomputed from scratch with the functional API."""
    view = two_layer_view(module)
    w_svm, u_svm = par_svm(view.prepare_inputs(x), y, view.alpha)
    return {
        "par_solution/cosine_w": cos(view.w.mean(0), w_svm),
        "par_solution/cosine_u": cos(view.u.mean(0), u_svm),
        "par_solution/cosine_direction": cos(linear_direction(view.w, view.u), w_svm - u_svm),
        "par_solution/min_cosine_w": min(cos(w, w_svm) for w in view.w),
        "par_solution/min_cosine_u": min(cos(u, u_svm) for u in view.u),
    }


@pytest.mark.slow
def test_small_init_network_converges_to_the_par_solution(tmp_path):
    """Figure 3: small init, antipodal Gaussians -> boundary and neurons align with Eq. (7)."""
    x, y = antipodal_gaussians()
    torch.manual_seed(0)
    model = LeakyReLUTeacherNet(input_dim=2, k=10, init_std=1e-4, lr=0.5)
    monitor = PARSolutionMonitor(every_n_epochs=10)
    trainer = fit(model, [monitor], x, y, tmp_path, epochs=50)

    assert [row["epoch"] for row in monitor.history] == [10.0, 20.0, 30.0, 40.0, 50.0]
    last = monitor.history[-1]
    assert last["par_solution/cosine_direction"] > 0.99
    assert last["par_solution/cosine_w"] > 0.99 and last["par_solution/cosine_u"] > 0.99
    assert last["par_solution/min_cosine_w"] > 0.9 and last["par_solution/min_cosine_u"] > 0.9
    # The antipodal set gives u_svm = -w_svm (the constraints are symmetric under (w, u) -> (-u, -w)).
    w_svm, u_svm = monitor.solution
    assert torch.allclose(u_svm, -w_svm, atol=1e-8)
    expected = direct(model, x, y)
    for key in KEYS:
        assert last[key] == pytest.approx(expected[key], abs=1e-6), key
        assert float(trainer.callback_metrics[key]) == pytest.approx(expected[key], abs=1e-6), key


class SequentialModule(LightningModule):
    """A user's network: both layers learned, first-layer bias, Adam (not the paper's SGD)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1, bias=False))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return logistic_loss(y * self.net(x)[:, 0]).mean()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


def test_user_sequential_with_learned_output_and_bias(tmp_path):
    x, y = antipodal_gaussians(n=60, d=3, seed=1)
    torch.manual_seed(1)
    model = SequentialModule(3)
    monitor = PARSolutionMonitor(data={"train": (x, y)})
    fit(model, [monitor], x, y, tmp_path, epochs=3)

    assert len(monitor.history) == 3
    assert monitor.solution.w.shape == (4,)  # d + the bias coordinate of supplementary 8.1
    expected = direct(model.net, x, y)
    for key in KEYS:
        assert monitor.history[-1][key] == pytest.approx(expected[key], abs=1e-6), key
        assert -1.0 <= monitor.history[-1][key] <= 1.0


def test_state_dict_round_trip_and_zero_vectors():
    monitor = PARSolutionMonitor()
    monitor.history = [{"epoch": 1.0, "par_solution/cosine_w": 0.5}]
    other = PARSolutionMonitor()
    other.load_state_dict(monitor.state_dict())
    assert other.history == monitor.history
    other.load_state_dict({})  # an older checkpoint without the key
    assert other.history == []

    # Neurons of norm 0 have no direction: their cosines are 0, never NaN.
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.LeakyReLU(0.1), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
    x, y = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([1.0, -1.0])
    monitor.solution = par_svm(x, y, 0.1)

    class Holder(LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net

    values = monitor.compute(Holder())
    assert values == {key: 0.0 for key in KEYS}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every_n_epochs": 0}, ValueError, r"`every_n_epochs` must be an int >= 1, got 0"),
        ({"every_n_epochs": 1.5}, TypeError, r"got float 1.5"),
        ({"max_samples": 0}, ValueError, r"`max_samples` must be None or an int >= 1, got 0"),
        ({"max_samples": True}, TypeError, r"got bool True"),
        ({"batch_size": -3}, ValueError, r"`batch_size` .* got -3"),
        ({"data": [1, 2]}, TypeError, r"`data` must be a mapping .* got list"),
        ({"data": {"val": None}}, ValueError, r"keys \['val'\]"),
        ({"batch_to_xy": 3}, TypeError, r"`batch_to_xy` must be callable, got int"),
        ({"network_fn": "net"}, TypeError, r"`network_fn` must be callable, got str"),
        ({"tol": 0.0}, ValueError, r"`tol` must be a number in \(0, 1\), got 0.0"),
        ({"sample_seed": "a"}, TypeError, r"`sample_seed` must be an int"),
    ],
    ids=["every-0", "every-float", "max-0", "max-bool", "batch-neg", "data-list", "data-val", "b2xy", "netfn", "tol", "seed"],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PARSolutionMonitor(**kwargs)


def test_unsupported_network_fails_at_setup(tmp_path):
    model = SequentialModule(2)
    model.net[1] = nn.ReLU()
    x, y = antipodal_gaussians(n=20)
    with pytest.raises(TypeError, match="ReLU is not leaky"):
        fit(model, [PARSolutionMonitor()], x, y, tmp_path, epochs=1)


def test_infeasible_eq_7_fails_at_train_start(tmp_path):
    # Eq. (7) splits into w - alpha u separating the positives from 0 and u - alpha w the negatives:
    # positives at x and -x make it infeasible.
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([1.0, 1.0, -1.0])
    model = LeakyReLUTeacherNet(input_dim=2, k=2)
    with pytest.raises(ValueError, match=r"PARSolutionMonitor: cannot solve Eq. \(7\).*not linearly separable"):
        fit(model, [PARSolutionMonitor()], x, y, tmp_path, epochs=1)


def test_bad_labels_fail_at_train_start(tmp_path):
    x, y = antipodal_gaussians(n=20)
    monitor = PARSolutionMonitor(data={"train": (x, 3 * y)})
    with pytest.raises(ValueError, match="PARSolutionMonitor: the train data does not fit: `y` must hold labels in"):
        fit(LeakyReLUTeacherNet(input_dim=2, k=2), [monitor], x, y, tmp_path, epochs=1)
