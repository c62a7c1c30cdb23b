"""The per-example engines inside Lightning: the paper's SGD, exact, seeded, many seeds at once."""

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.engines import EpochOrder, fused_sgd_steps, reference_sgd_steps

from _helpers import separable_gaussians


def fit(engine, *, epochs=10, num_seeds=1, precision="32-true", batch_size=7, init=None, shared_order=False, x_y=None):
    seed_everything(3)
    x, y = x_y if x_y is not None else separable_gaussians(n=30, d=4, seed=2)
    net = LeakyReLUTeacherNet(input_dim=4, k=3, alpha=0.2, init_std=0.5, lr=0.05, engine=engine,
                              num_seeds=num_seeds, shared_order=shared_order)
    if init is not None:
        with torch.no_grad():
            net.weight.copy_(init)
    start = net.weight.detach().clone()
    trainer = Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, precision=precision)
    trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True))
    return start, net.weight.detach().clone()


@pytest.mark.parametrize(("precision", "tolerance"), [("64-true", 1e-12), ("32-true", 1e-5)], ids=["float64", "float32"])
def test_fused_equals_the_autograd_reference_after_10_epochs(precision, tolerance):
    start_f, fused = fit("fused", precision=precision)
    start_r, reference = fit("reference", precision=precision)
    assert torch.equal(start_f, start_r)
    assert fused.dtype == (torch.float64 if precision == "64-true" else torch.float32)
    assert ((fused - reference).abs().max() / reference.abs().max()).item() <= tolerance


def test_lightning_runs_the_papers_sgd():
    """W after 3 epochs = 3 epochs of per-example SGD in EpochOrder's permutations, whatever the loader's batch size."""
    x, y = separable_gaussians(n=30, d=4, seed=2)
    start, trained = fit("fused", epochs=3, precision="64-true", batch_size=4)
    order = EpochOrder(1, x.shape[0], seed=0).next_epochs(3)
    expected = start.double().clone()
    reference_sgd_steps(expected, x.double(), y.double(), order, 0.05, 0.2, 1.0)
    assert torch.allclose(trained, expected, rtol=0, atol=1e-12)
    for batch_size in (30, 7, 3):  # one chunk; chunks of 6 (not 5) and 2 (not 3) examples
        assert torch.equal(trained, fit("fused", epochs=3, precision="64-true", batch_size=batch_size)[1])
    _, float32 = fit("fused", epochs=3, batch_size=4)
    assert torch.equal(float32, fit("fused", epochs=3, batch_size=11)[1])


@pytest.mark.parametrize("num_seeds", [1, 3])
def test_the_fit_gives_the_bits_of_the_public_fused_engine(num_seeds):
    """The model checks its training set once per fit and then skips the engine's checks: same bits as checked calls."""
    x, y = separable_gaussians(n=30, d=4, seed=2)
    start, trained = fit("fused", epochs=3, num_seeds=num_seeds, batch_size=x.shape[0])
    expected, order = start.clone(), EpochOrder(num_seeds, x.shape[0], seed=0)
    for _ in range(3):
        fused_sgd_steps(expected, x.float().contiguous(), y.float(), order.next_epoch(), 0.05, 0.2, 1.0)
    assert torch.equal(trained, expected)


def test_seeded_runs_are_bit_for_bit_repeatable():
    assert torch.equal(fit("fused", epochs=3)[1], fit("fused", epochs=3)[1])


def test_seeds_are_independent_networks():
    start, many = fit("fused", epochs=4, num_seeds=3)
    _, alone = fit("fused", epochs=4, num_seeds=1, init=start[:1])
    assert torch.equal(many[:1], alone)  # seed 0 runs as if alone
    assert not torch.equal(many[1], many[2])


def test_shared_order_isolates_the_initialization():
    start, shared = fit("fused", epochs=2, num_seeds=2, shared_order=True)
    _, again = fit("fused", epochs=2, num_seeds=2, shared_order=True, init=start.flip(0))
    assert torch.equal(shared.flip(0), again)  # same order for both seeds: swapping inits swaps results


def test_image_and_dict_datasets_work_with_the_fused_engine():
    x, y = separable_gaussians(n=16, d=4, seed=5)

    class DictImages(torch.utils.data.Dataset):
        def __len__(self):
            return x.shape[0]

        def __getitem__(self, i):
            return {"image": x[i].reshape(1, 2, 2), "label": (y[i] + 1) / 2}

    seed_everything(0)
    net = LeakyReLUTeacherNet(input_dim=4, k=2, lr=0.1)
    trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(net, DataLoader(DictImages(), batch_size=4))
    assert trainer.global_step == 8 and torch.isfinite(net.weight).all()
