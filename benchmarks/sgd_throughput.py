"""Per-example SGD throughput (issue 5): Lightning batch size 1 vs plain PyTorch vs the fused engine.

On identical data (n=2,000, d=784, 2k=100, float32, one thread) it times, in one process:
  (a) Lightning, a batch_size=1 DataLoader, automatic optimization (engine="lightning");
  (b) a plain PyTorch autograd loop, one example per step;
  (c) the fused engine inside Lightning (engine="fused", S=1), fed by an lt-teacher datamodule, which serves
      a model that trains in its own order consecutive views of the split (the loader only paces the steps);
  (d) the fused engine inside Lightning with S=5 seeds at once;
  (e) the fused kernel alone: one ``fused_sgd_steps`` call per epoch on the same data, no Lightning
      (the blocked formulation: GEMMs per block of ``BLOCK_STEPS`` steps plus Gram corrections);
  (f) the pair kernel alone (``_kernels.sgd_steps_serial``: one sweep over W per two steps, what
      ``fused_sgd_steps`` ran before issue 11 item 3 and still runs when the Gram matrix is too large),
      timed epoch by epoch alternately with (e) on the same permutations;
  (g) Lightning's own epoch: an empty training step that steps the optimizer and logs once, with ``self.log``
      and as (c) logs (``self.log`` in the first epoch, then the result metric it registered);
and prints microseconds per step (a step = one example for every seed) and the ratios
(a)/(c), (b)/(c), 5*(c)/(d), (c)/(e) (Lightning's overhead on the kernel's epoch) and (f)/(e). It also
measures the core's float32 SGEMM peak (``torch.mm`` of 1024 x 1024 matrices, one thread) and prints
the fraction of it that (e) and (f) reach: a step costs 4 d 2k flops (the forward W x and the rank-1
update). Epoch times come from a callback, the first epoch (JIT compilation, the Gram matrix of the
training set, warm-up) excluded; the median of the remaining epochs is reported.

    python benchmarks/sgd_throughput.py [--epochs 5] [--chunk 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher._epoch_logging import EpochValueLogger
from lt_teacher.datamodules import TensorSplitsDataModule
from lt_teacher.engines import EpochOrder, _kernels, fused_sgd_steps

N, D, K = 2000, 784, 50


class EpochTimer(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self.times.append(time.perf_counter() - self._start)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(D, generator=g)
    x = torch.rand(N, D, generator=g)  # MNIST-like pixel scale
    y = torch.sign(x @ teacher - (x @ teacher).median())
    y[y == 0] = 1.0
    return x, y


class BenchmarkData(TensorSplitsDataModule):
    """The benchmark's points as an lt-teacher datamodule (training split only), so (c) and (d) get the loader
    the datamodules build for a model that trains in its own order: consecutive views that only pace the steps."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(seed=0, batch_size=batch_size, eval_batch_size=N, num_workers=0)

    def _build_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        x, y = data()
        empty = (x[:0], y[:0])
        return {"train": (x, y), "val": empty, "test": empty}


class PairedKernelEpoch(Callback):
    """After each Lightning epoch of (c), one epoch of the kernel alone on a copy of the weights: (c) and (e)
    measured in alternation, under the same load, for the ratio (c)/(e) epoch by epoch."""

    def __init__(self, timer: EpochTimer) -> None:
        self.timer = timer
        self.ratios: list[float] = []
        self.order = EpochOrder(1, N, seed=1)

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        x, y = pl_module._train_x, pl_module._train_y
        weight = pl_module.weight.data.clone()
        perm = self.order.next_epoch()
        start = time.perf_counter()
        fused_sgd_steps(weight, x, y, perm, 1e-3, 0.1, 1.0)
        kernel = time.perf_counter() - start
        if pl_module.current_epoch > 0:  # the first epoch compiles and computes the Gram matrix
            self.ratios.append(self.timer.times[-1] / kernel)  # the timer runs first: this epoch's time


def lightning_epoch_seconds(engine: str, batch_size: int, epochs: int, num_seeds: int = 1, paired: list[float] | None = None) -> float:
    """Median epoch of a Lightning fit; with ``paired`` (fused, S = 1) also the per-epoch ratios to the kernel alone."""
    seed_everything(0)
    x, y = data()
    net = LeakyReLUTeacherNet(input_dim=D, k=K, init_std=1e-3, lr=1e-3, engine=engine, num_seeds=num_seeds)
    timer = EpochTimer()
    pairs = PairedKernelEpoch(timer) if paired is not None else None
    trainer = Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer, *([pairs] if pairs else [])], accelerator="cpu", devices=1,
    )
    if engine == "lightning":  # the naive setting: a plain shuffled DataLoader
        trainer.fit(net, DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True))
    else:  # an lt-teacher datamodule
        trainer.fit(net, datamodule=BenchmarkData(batch_size))
    if pairs is not None and paired is not None:
        paired.extend(pairs.ratios)
    return statistics.median(timer.times[1:])


class EmptyStep(LightningModule):
    """Lightning's own cost of one fused-engine epoch: one training step that steps the (gradient-free)
    optimizer once and logs one epoch value, with no SGD. ``model_logging``: the value is logged as
    ``LeakyReLUTeacherNet``'s per-example engines log their epoch loss (:class:`EpochValueLogger`: ``self.log``
    in the first epoch, then the result metric it registered); otherwise with ``self.log`` every epoch."""

    def __init__(self, model_logging: bool) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2 * K, D))
        self.automatic_optimization = False
        self.epoch_value = EpochValueLogger("train/loss", prog_bar=True) if model_logging else None

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:  # type: ignore[override]
        self.optimizers().step()  # type: ignore[union-attr]
        if self.epoch_value is not None:
            self.epoch_value.log(self, torch.tensor(0.5))
        else:
            self.log("train/loss", torch.tensor(0.5), on_step=False, on_epoch=True, prog_bar=True, batch_size=1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self.weight], lr=1e-3)


def lightning_floor_epoch_seconds(epochs: int, model_logging: bool = False) -> float:
    """Median epoch of :class:`EmptyStep` on a one-batch loader: the part of (c) that Lightning itself costs."""
    timer = EpochTimer()
    trainer = Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer], accelerator="cpu", devices=1,
    )
    trainer.fit(EmptyStep(model_logging), DataLoader([torch.zeros(1)], batch_size=None))
    return statistics.median(timer.times[1:])


def plain_loop_epoch_seconds(epochs: int) -> float:
    torch.manual_seed(0)
    x, y = data()
    weight = (torch.randn(2 * K, D) * 1e-3).requires_grad_()
    out_w = torch.cat([torch.ones(K), -torch.ones(K)])
    opt = torch.optim.SGD([weight], lr=1e-3)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for i in torch.randperm(N).tolist():
            q = y[i] * (torch.nn.functional.leaky_relu(weight @ x[i], 0.1) @ out_w)
            loss = torch.nn.functional.softplus(-q)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def kernel_epoch_seconds(epochs: int) -> tuple[float, float]:
    """(fused engine, pair kernel) alone, one call per epoch each, alternating, on the data and initialization of (c)."""
    seed_everything(0)
    x, y = data()
    net = LeakyReLUTeacherNet(input_dim=D, k=K, init_std=1e-3, lr=1e-3)
    weight = net.weight.data.clone().contiguous()
    pair_weight = weight.clone()
    order = EpochOrder(1, N, seed=0)
    hyper = [np.full(1, value) for value in (1e-3, 0.1, 1.0)]
    times: list[float] = []
    pair_times: list[float] = []
    for _ in range(epochs):
        perm = order.next_epoch()
        start = time.perf_counter()
        fused_sgd_steps(weight, x, y, perm, 1e-3, 0.1, 1.0)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        _kernels.sgd_steps_serial(pair_weight.numpy(), x.numpy(), y.numpy(), perm.numpy(), *hyper, K, np.zeros(1))
        pair_times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), statistics.median(pair_times[1:])


def sgemm_peak_flops(size: int = 1024, repeats: int = 10) -> float:
    """float32 GEMM flops per second of this core (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per measurement (the first is warm-up)")
    parser.add_argument("--chunk", type=int, default=N, help="loader batch size = examples per Lightning step (fused)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    us = 1e6 / N
    a = lightning_epoch_seconds("lightning", 1, max(2, min(args.epochs, 3))) * us
    b = plain_loop_epoch_seconds(max(2, min(args.epochs, 3))) * us
    paired: list[float] = []
    c = lightning_epoch_seconds("fused", args.chunk, max(args.epochs, 21), paired=paired) * us
    d = lightning_epoch_seconds("fused", args.chunk, args.epochs, num_seeds=5) * us
    e, f = (seconds * us for seconds in kernel_epoch_seconds(max(args.epochs, 7)))
    g = lightning_floor_epoch_seconds(max(args.epochs, 50)) * us
    g_model = lightning_floor_epoch_seconds(max(args.epochs, 50), model_logging=True) * us
    peak = sgemm_peak_flops()
    kernel_flops = 4 * D * 2 * K / (e * 1e-6)
    pair_flops = 4 * D * 2 * K / (f * 1e-6)
    print(f"n={N} d={D} 2k={2 * K} float32, torch threads={torch.get_num_threads()}, numba threads={numba.get_num_threads()}")
    print(f"(a) Lightning, batch_size=1, automatic optimization : {a:9.2f} us/step")
    print(f"(b) plain PyTorch autograd loop                      : {b:9.2f} us/step")
    print(f"(c) fused engine in Lightning, S=1 (chunk {args.chunk})       : {c:9.2f} us/step")
    print(f"(d) fused engine in Lightning, S=5 (per step of all 5): {d:9.2f} us/step")
    print(f"(e) fused kernel alone, one call per epoch         : {e:9.2f} us/step")
    print(f"(f) pair kernel alone (the fused engine before)     : {f:9.2f} us/step   (f)/(e) = {f / e:.2f}")
    print(f"(a)/(c) = {a / c:.1f}   (b)/(c) = {b / c:.1f}   5*(c)/(d) = {5 * c / d:.2f}")
    print(f"Lightning epoch / kernel epoch (c)/(e) = {c / e:.3f}; epoch by epoch in alternation: median "
          f"{statistics.median(paired):.3f} over {len(paired)} pairs")
    print(f"(g) Lightning's own epoch (empty step, 1 optimizer.step, 1 self.log): {g * N / 1e3:.3f} ms; "
          f"logging as the model does: {g_model * N / 1e3:.3f} ms; (c)-(e) = {(c - e) * N / 1e3:.3f} ms per epoch")
    print(f"kernel: {kernel_flops / 1e9:.1f} GFLOP/s = {kernel_flops / peak:.0%} of the measured SGEMM peak {peak / 1e9:.1f} GFLOP/s")
    print(f"pair kernel: {pair_flops / 1e9:.1f} GFLOP/s = {pair_flops / peak:.0%} of that peak")


if __name__ == "__main__":
    main()
