"""LeakyReLUTeacherNet: Eq. (1), Eq. (2), supplementary 8.1, validation, training to Assumption 6.1."""

import inspect
import math

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.functional import network_output

from _helpers import separable_gaussians


def test_forward_is_equation_1():
    net = LeakyReLUTeacherNet(input_dim=3, k=4, alpha=0.2, v=0.5, init_std=1.0)
    x = torch.randn(7, 3)
    expected = network_output(x, net.w[0].detach(), net.u[0].detach(), 0.2, 0.5)
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_output_layer_is_a_fixed_buffer():
    net = LeakyReLUTeacherNet(input_dim=2, k=3, v=2.0)
    assert [name for name, _ in net.named_parameters()] == ["weight"]
    assert net.output_weights.tolist() == [2.0] * 3 + [-2.0] * 3
    assert "output_weights" in net.state_dict()
    assert net.weight.shape == (1, 6, 2)


@pytest.mark.parametrize("v", [1.7, [1.7, 0.3]], ids=["shared-v", "grid-v"])
def test_output_weights_hold_the_exact_v_after_any_dtype_change(v):
    """A float64 model computes with v = 1.7, not its float32 rounding 1.7000000476837158 (Eq. 1)."""
    net = LeakyReLUTeacherNet(input_dim=3, k=3, alpha=0.2, v=v, init_std=1.0).double()
    vs = [v] if isinstance(v, float) else v
    assert net.output_weights.dtype == torch.float64
    assert net.output_weights.reshape(len(vs), 6).tolist() == [[s] * 3 + [-s] * 3 for s in vs]
    x = torch.randn(5, 3, dtype=torch.float64)
    out = net.forward_all_seeds(x)
    for seed, s in enumerate(vs):
        expected = network_output(x, net.w[seed].detach(), net.u[seed].detach(), 0.2, s)
        size = s * (x @ net.weight[seed].detach().T).abs().sum(dim=1)  # sum of |terms|: the scale of rounding
        assert ((out[seed] - expected).abs() <= 1e-15 * size).all()  # float32's v would be 2.8e-8 * size off
    half = net.half().output_weights.reshape(len(vs), 6)  # each cast is of the exact value, not of a rounding
    assert half.dtype == torch.float16 and half[:, 0].tolist() == torch.tensor(vs, dtype=torch.float16).tolist()
    assert net.float().double().output_weights.reshape(len(vs), 6)[:, 0].tolist() == vs
    restored = LeakyReLUTeacherNet(input_dim=3, k=3, alpha=0.2, v=v).double()
    restored.load_state_dict(LeakyReLUTeacherNet(input_dim=3, k=3, alpha=0.2, v=v).state_dict())  # float32 state
    assert restored.output_weights.reshape(len(vs), 6)[:, 0].tolist() == vs


def test_bias_is_an_extra_column_on_a_constant_one():
    net = LeakyReLUTeacherNet(input_dim=2, k=2, bias=True, init_std=1.0)
    assert net.weight.shape == (1, 4, 3)
    x = torch.randn(5, 2)
    x1 = torch.cat([x, torch.ones(5, 1)], dim=1)
    expected = network_output(x1, net.w[0].detach(), net.u[0].detach(), net.hparams.alpha, net.hparams.v)
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_images_are_flattened():
    net = LeakyReLUTeacherNet(input_dim=12, k=2)
    assert net(torch.randn(4, 1, 3, 4)).shape == (4,)


def test_init_scale():
    torch.manual_seed(0)
    for std in (1e-6, 30.0):
        net = LeakyReLUTeacherNet(input_dim=50, k=50, init_std=std)
        assert net.weight.std().item() == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_dim": 0}, ValueError, "input_dim"),
        ({"input_dim": 2.5}, TypeError, "input_dim"),
        ({"input_dim": 2, "k": 0}, ValueError, "`k`"),
        ({"input_dim": 2, "alpha": 1.0}, ValueError, "alpha"),
        ({"input_dim": 2, "alpha": 0.0}, ValueError, "alpha"),
        ({"input_dim": 2, "v": -1.0}, ValueError, "`v`"),
        ({"input_dim": 2, "init_std": 0.0}, ValueError, "init_std"),
        ({"input_dim": 2, "lr": float("nan")}, ValueError, "lr"),
        ({"input_dim": 2, "bias": "yes"}, TypeError, "bias"),
        ({"input_dim": 2, "engine": "jit"}, ValueError, "engine"),
        ({"input_dim": 2, "num_seeds": 0}, ValueError, "num_seeds"),
        ({"input_dim": 2, "order_seed": -1}, ValueError, "order_seed"),
        ({"input_dim": 2, "shared_order": 1}, TypeError, "shared_order"),
    ],
    ids=["dim0", "dim-float", "k0", "alpha1", "alpha0", "v-neg", "std0", "lr-nan", "bias-str", "engine", "seeds0",
         "order-seed", "shared-int"],
)
def test_bad_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        LeakyReLUTeacherNet(**kwargs)


def test_bad_batches():
    net = LeakyReLUTeacherNet(input_dim=2, k=2, engine="lightning")
    with pytest.raises(ValueError, match="input_dim=2"):
        net(torch.ones(3, 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        net(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(ValueError, match="labels in"):
        net.training_step((torch.ones(2, 2), torch.tensor([2.0, 1.0])), 0)
    with pytest.raises(ValueError, match="labels in"):
        net.training_step((torch.ones(2, 2), torch.tensor([0.0, -1.0])), 0)
    with pytest.raises(TypeError, match="batch_to_xy"):
        net.training_step(torch.ones(2, 2), 0)


def test_labels_01_and_pm1_give_the_same_loss():
    net = LeakyReLUTeacherNet(input_dim=2, k=2, init_std=1.0, engine="lightning")
    x = torch.randn(6, 2)
    y_pm = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    assert net.training_step((x, (y_pm + 1) / 2), 0).item() == net.training_step({"x": x, "y": y_pm}, 0).item()


def test_loss_is_stable_at_extremes():
    net = LeakyReLUTeacherNet(input_dim=1, k=1, v=1.0, init_std=1.0, engine="lightning")
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[[1e4], [-1e4]]]))
    x, y = torch.tensor([[1.0], [-1.0]]), torch.tensor([1.0, -1.0])
    loss = net.training_step((x, y), 0)
    assert loss.item() == 0.0 and math.isfinite(loss.item())
    loss_wrong = net.training_step((x, -y), 0)
    assert loss_wrong.item() == pytest.approx(1e4 + 1e-1 * 1e4)  # -q for q = -(1e4 + alpha 1e4)


@pytest.mark.parametrize("engine", ["fused", "lightning"])
def test_sgd_batch_size_1_reaches_assumption_6_1(tmp_path, engine):
    """Theorem 4.1 in practice: SGD with batch size 1 separates the data and gets L < 1/n (Assumption 6.1)."""
    seed_everything(0)
    x, y = separable_gaussians(n=40, d=2, seed=3)
    n = x.shape[0]
    net = LeakyReLUTeacherNet(input_dim=2, k=5, alpha=0.1, init_std=1e-3, lr=0.1, engine=engine)
    loader = DataLoader(TensorDataset(x, y), batch_size=1 if engine == "lightning" else 8, shuffle=True)
    trainer = Trainer(
        max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(net, loader)
    with torch.no_grad():
        q = y * net(x)
    assert bool((q > 0).all()), "not 100% training accuracy"
    assert torch.nn.functional.softplus(-q).mean().item() < 1 / n


@pytest.mark.parametrize(("engine", "num_seeds"), [("lightning", 1), ("fused", 1), ("fused", 3)])
def test_checkpoint_resume_is_exact(tmp_path, engine, num_seeds):
    x, y = separable_gaussians(n=20, d=3, seed=1)

    def run(max_epochs, ckpt=None):
        seed_everything(7)
        net = LeakyReLUTeacherNet(input_dim=3, k=3, init_std=0.1, lr=0.05, engine=engine, num_seeds=num_seeds)
        loader = DataLoader(TensorDataset(x, y), batch_size=1, shuffle=True)
        trainer = Trainer(max_epochs=max_epochs, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(net, loader, ckpt_path=ckpt)
        return net, trainer

    full, _ = run(4)
    half, trainer = run(2)
    path = tmp_path / "half.ckpt"
    trainer.save_checkpoint(path)
    resumed, _ = run(4, ckpt=str(path))
    assert resumed.hparams == full.hparams
    assert torch.equal(LeakyReLUTeacherNet.load_from_checkpoint(path).weight, half.weight)
    # the checkpoint carries the RNG state that orders the shuffled epochs: bit-for-bit the same end
    assert torch.equal(resumed.weight, full.weight)


def _fit(tmp_path, max_epochs, ckpt=None, precision="32-true", batch_size=5, callbacks=(), n=20, **hparams):  # type: ignore[no-untyped-def]
    x, y = separable_gaussians(n=n, d=3, seed=1)
    seed_everything(7)
    net = LeakyReLUTeacherNet(input_dim=3, k=3, init_std=0.1, lr=0.05, **hparams)
    trainer = Trainer(max_epochs=max_epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, precision=precision, callbacks=list(callbacks))
    trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=batch_size), ckpt_path=ckpt)
    return net, trainer


@pytest.mark.parametrize("engine", ["fused", "lightning"])
def test_a_64_true_resume_is_exact_and_load_from_checkpoint_keeps_float64(tmp_path, engine):
    """Review: Lightning copied the float64 checkpoint into the float32 module it was built as, before 64-true converted
    it, so every resume went on from weights rounded to float32 (1.4e-8 off); load_from_checkpoint gave float32."""
    full, _ = _fit(tmp_path, 4, precision="64-true", engine=engine)
    half, trainer = _fit(tmp_path, 2, precision="64-true", engine=engine)
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    loaded = LeakyReLUTeacherNet.load_from_checkpoint(tmp_path / "half.ckpt")
    assert loaded.weight.dtype == torch.float64 and torch.equal(loaded.weight, half.weight)
    resumed, _ = _fit(tmp_path, 4, ckpt=str(tmp_path / "half.ckpt"), precision="64-true", engine=engine)
    assert torch.equal(resumed.weight, full.weight)
    with pytest.raises(ValueError, match=r"float64 weights and this Trainer's precision \(32-true\) computes in float32"):
        _fit(tmp_path, 4, ckpt=str(tmp_path / "half.ckpt"), engine=engine)  # the run would round them


def test_a_checkpoint_of_other_arguments_is_refused_by_a_trainer(tmp_path):
    """Review: alpha, lr, init_std or the engine of the module could differ from the checkpoint's, and the run mixed
    the two configurations without a word. load_from_checkpoint's keyword overrides stay allowed."""
    _, trainer = _fit(tmp_path, 1, alpha=0.2)
    trainer.save_checkpoint(tmp_path / "one.ckpt")
    with pytest.raises(ValueError, match=r"trained with other arguments: alpha=0.2 \(here 0.3\).*load_from_checkpoint"):
        _fit(tmp_path, 2, ckpt=str(tmp_path / "one.ckpt"), alpha=0.3)
    with pytest.raises(ValueError, match=r"engine='fused' \(here 'reference'\)"):
        _fit(tmp_path, 2, ckpt=str(tmp_path / "one.ckpt"), alpha=0.2, engine="reference")
    assert LeakyReLUTeacherNet.load_from_checkpoint(tmp_path / "one.ckpt", alpha=0.3).hparams["alpha"] == 0.3


def test_a_mid_epoch_checkpoint_resumed_with_another_loader_pacing_is_refused(tmp_path):
    """Review: a loader of another batch size paces the epoch otherwise, and a mid-epoch resume skipped or repeated SGD
    steps. Here the checkpoint after 2 of 4 Lightning steps has run 128 of the 256 SGD steps (64 a step): resumed with
    2 steps an epoch it would start the next epoch (skipping 128), with 8 steps of 64 (the chunks' multiple) it is exact."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    steps = ModelCheckpoint(dirpath=tmp_path / "steps", every_n_train_steps=2, save_top_k=-1, filename="{step}")
    _fit(tmp_path, 1, callbacks=[steps], n=256, batch_size=64)
    mid = str(tmp_path / "steps" / "step=2.ckpt")
    with pytest.raises(ValueError, match=r"saved after 128 of the epoch's 256 SGD steps.*resumes at step 0.*loader batch size"):
        _fit(tmp_path, 2, ckpt=mid, n=256, batch_size=128)
    full, _ = _fit(tmp_path, 2, n=256, batch_size=64)
    for batch_size in (64, 32):
        resumed, _ = _fit(tmp_path, 2, ckpt=mid, n=256, batch_size=batch_size)
        assert torch.equal(resumed.weight, full.weight)


@pytest.mark.parametrize(("engine", "num_seeds"), [("fused", 1), ("reference", 2)])
def test_a_mid_epoch_resume_logs_the_epoch_loss_of_every_step(tmp_path, engine, num_seeds):
    """The epoch's running loss sum travels in the checkpoint: the resumed epoch's train/loss is the uninterrupted one's
    (it used to average only the steps after the resume, or be missing when they were in one chunk)."""
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    x, y = separable_gaussians(n=40, d=3, seed=2)
    epoch_losses: dict[str, list[float]] = {}

    class Stop(Exception):
        pass

    class Record(Callback):
        def __init__(self, name: str, stop_at: int | None) -> None:
            self.name, self.stop_at = name, stop_at

        def on_train_batch_end(self, trainer, *args) -> None:  # type: ignore[no-untyped-def]
            if trainer.global_step == self.stop_at:
                raise Stop  # a crash inside epoch 2, before its checkpoint of this step

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
            epoch_losses.setdefault(self.name, []).append(float(trainer.callback_metrics["train/loss"]))

    def run(name, stop_at=None, ckpt=None):
        seed_everything(3)
        net = LeakyReLUTeacherNet(input_dim=3, k=3, init_std=0.1, lr=0.05, engine=engine, num_seeds=num_seeds)
        steps = ModelCheckpoint(dirpath=tmp_path / name, every_n_train_steps=1, save_top_k=-1, filename="{step}")
        trainer = Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                          callbacks=[Record(name, stop_at), steps], default_root_dir=tmp_path)
        try:
            trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=10), ckpt_path=ckpt)  # 4 Lightning steps per epoch
        except Stop:
            pass
        return net

    full = run("full")
    run("stopped", stop_at=6)
    resumed = run("resumed", ckpt=str(tmp_path / "stopped" / "step=5.ckpt"))  # the last one before the crash: mid-epoch 2
    assert torch.equal(resumed.weight, full.weight)
    assert epoch_losses["resumed"] == epoch_losses["full"][1:]  # epochs 2 and 3, the same values


def test_per_example_engine_needs_a_trainer():
    with pytest.raises(RuntimeError, match="Trainer.fit"):
        LeakyReLUTeacherNet(input_dim=2, k=2).training_step((torch.ones(1, 2), torch.ones(1)), 0)


@pytest.mark.parametrize("engine", ["fused", "reference"])
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-true"])
def test_a_per_example_engine_refuses_a_half_precision(engine, precision, tmp_path):
    """Mixed precision used to fail inside the engine ("unsupported ScalarType BFloat16"): name the precision and why."""
    x, y = separable_gaussians(n=20)
    trainer = Trainer(max_epochs=1, precision=precision, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match=rf"engine='{engine}' trains only under precision='32-true' or '64-true', got '{precision}'"):
        trainer.fit(LeakyReLUTeacherNet(input_dim=2, k=3, engine=engine), DataLoader(TensorDataset(x, y), batch_size=10))


def test_bad_engine_type_and_network_index():
    with pytest.raises(TypeError, match=r"`engine` must be a str, one of 'fused', 'reference', 'lightning', got int 3"):
        LeakyReLUTeacherNet(input_dim=2, engine=3)
    net = LeakyReLUTeacherNet(input_dim=2, k=2, num_seeds=2)
    with pytest.raises(TypeError, match=r"`network` must be an int >= 0, got bool True"):
        net.network_hparams(True)
    with pytest.raises(ValueError, match=r"`network` must be an int in \[0, 2\)"):
        net.network_hparams(2)


def test_engine_autograd_is_the_deprecated_name_of_lightning():
    with pytest.warns(DeprecationWarning, match=r"engine='autograd' is deprecated, use engine='lightning'"):
        old = LeakyReLUTeacherNet(input_dim=2, k=2, engine="autograd")
    assert old.hparams["engine"] == "lightning" and old.automatic_optimization
    assert not LeakyReLUTeacherNet(input_dim=2, k=2, engine="reference").automatic_optimization


def test_old_names_in_a_fit_config_still_work(tmp_path, monkeypatch):
    """A YAML config written before the renames (engine: autograd, append_bias) runs through LightningCLI, with warnings."""
    from lt_teacher.cli import main

    config = tmp_path / "old.yaml"
    config.write_text(
        "model:\n  engine: autograd\n  k: 2\n"
        "data:\n  class_path: lt_teacher.datamodules.LinearTeacherDataModule\n"
        "  init_args:\n    n_train: 10\n    n_val: 10\n    n_test: 0\n    append_bias: true\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.warns(DeprecationWarning) as caught:
        try:
            main(["validate", "--config", str(config), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"])
        except SystemExit as exit_info:
            assert exit_info.code in (0, None)
    messages = " ".join(str(w.message) for w in caught)
    assert "engine='autograd' is deprecated" in messages and "`append_bias` is deprecated, use `bias`" in messages


def test_every_overridden_hook_carries_override():
    from lightning.pytorch import LightningDataModule, LightningModule

    from lt_teacher.datamodules import FashionMNISTPairsDataModule, LinearTeacherDataModule, MNISTPairsDataModule

    missing = []
    for cls, base in ((LeakyReLUTeacherNet, LightningModule), (LinearTeacherDataModule, LightningDataModule),
                      (MNISTPairsDataModule, LightningDataModule), (FashionMNISTPairsDataModule, LightningDataModule)):
        for owner in cls.__mro__[: cls.__mro__.index(base)]:
            for name, member in vars(owner).items():
                function = member.fget if isinstance(member, property) else member
                overrides = not name.startswith("__") and inspect.isfunction(function) and any(hasattr(b, name) for b in owner.__mro__[1:])
                if overrides and not getattr(function, "__override__", False):
                    missing.append(f"{owner.__name__}.{name}")
    assert not missing


def test_a_state_of_another_v_is_refused_not_silently_replaced():
    state = LeakyReLUTeacherNet(input_dim=2, k=2, v=3.0).state_dict()
    with pytest.raises(ValueError, match=r"output layer is \+-3.*v = 1.0"):
        LeakyReLUTeacherNet(input_dim=2, k=2).load_state_dict(state)
    LeakyReLUTeacherNet(input_dim=2, k=2, v=3.0).double().load_state_dict(state)  # the same v in another dtype loads


def test_validation_values_are_exact_means_and_nan_for_a_diverged_network(tmp_path):
    """val/loss and val/acc are means over the points (torchmetrics), and a NaN loss reads NaN, never a mean of the rest
    (torchmetrics' MeanMetric drops NaN values by default)."""
    import math

    from lt_teacher.functional.network import logistic_loss

    x, y = separable_gaussians(n=13, d=3, seed=4)
    net = LeakyReLUTeacherNet(input_dim=3, k=3, init_std=0.5)
    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    loader = DataLoader(TensorDataset(x, y), batch_size=5)
    logged = trainer.validate(net, loader, verbose=False)[0]
    with torch.no_grad():
        q = torch.where(y > 0, 1.0, -1.0).double() * net(x).double()
    assert logged["val/loss"] == pytest.approx(float(logistic_loss(q).mean()), rel=1e-6)
    assert logged["val/acc"] == pytest.approx(float((q > 0).double().mean()), rel=1e-6)
    x[:3, 0] = 0.0  # with an infinite weight on coordinate 0, these three points' outputs are inf * 0 = NaN
    with torch.no_grad():
        net.weight[0, 0, 0] = float("inf")
    broken = trainer.validate(net, DataLoader(TensorDataset(x, y), batch_size=5), verbose=False)[0]
    assert math.isnan(broken["val/loss"])


def test_an_init_std_that_overflows_float32_is_refused():
    """Review: init_std=1e39 made every float32 weight inf at construction, and training logged NaN losses."""
    with pytest.raises(ValueError, match=r"`init_std` 1e\+39 overflows float32 weights"):
        LeakyReLUTeacherNet(input_dim=3, k=2, init_std=1e39)


def test_under_64_true_the_validation_means_are_float64(tmp_path):
    """Review: val/loss was accumulated in a float32 MeanMetric under 64-true (6.5e-8 off a float64 reference)."""
    x, y = separable_gaussians(n=30, d=3, seed=5)
    x = x.double() * (1 + 1e-9)
    net = LeakyReLUTeacherNet(input_dim=3, k=3, init_std=0.3)
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, precision="64-true")
    loader = DataLoader(TensorDataset(x, y), batch_size=7)
    trainer.fit(net, loader, loader)
    with torch.no_grad():
        expected = torch.nn.functional.softplus(-(y.double() * net(x))).mean()
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(float(expected), rel=1e-13)
