"""What the monitors cost: training epochs with and without ``LinearTeacherMonitor`` every epoch.

MNIST size of the paper: n = 2000 training points of d = 784, 2k = 100 neurons, SGD with batch size 1
through Lightning (``LeakyReLUTeacherNet`` and a batch-size-1 DataLoader of a ``LinearTeacherDataModule``;
synthetic linear-teacher data: the cost does not depend on the values). The monitored run attaches the
combined ``LinearTeacherMonitor`` with every group (cluster, linear region, agreement, PAR, margin),
evaluated on the training split after every epoch; the data module has no val/test split.

All configurations run in this one process, alternating (the order rotates every repeat), ``--repeats``
times ``--epochs`` epochs each. An epoch is timed from an ``on_train_epoch_start`` hook that runs before
the monitor's to an ``on_train_epoch_end`` hook that runs after it, so it includes the evaluation. The
first epoch of every fit is a warm-up and is left out. Reported: the median seconds per epoch of each
configuration and their ratio; the median over repeats of the ratio of the two adjacent fits (they share
the machine's load: on a shared machine other processes inflate whole fits); and the median time of one
evaluation alone, whose share of a bare epoch is the overhead without the noise, and its ratio to one
float32 X W^T over the same data (the floor of an evaluation). The floor is timed where the monitor evaluates,
right after each training epoch of the bare fits (the training leaves the caches as it leaves them for the
evaluation), and once more right after that with warm caches; both ratios are printed. One thread
(``torch.set_num_threads(1)``); ``logger=False``, no checkpoints, no progress bar, so the ratio measures
the monitor against the bare training loop.

Every precision of ``--precision`` (default: float64, the monitors' default, and float32) is measured in
the same run against the same bare fits, the configurations' order rotating every repeat.

Run: ``python benchmarks/monitor_overhead.py [--repeats 5] [--epochs 4] [--engine lightning|fused] [--precision float64 float32]``
(about 3 minutes with lightning, under one with fused).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import lightning
import numba
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from typing_extensions import override

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.datamodules import LinearTeacherDataModule

N, D, K = 2000, 784, 50  # points, input width, neurons per group (2k = 100)


class EpochStart(Callback):
    """Marks the start of a training epoch; attached before every other callback."""

    def __init__(self) -> None:
        self.time = 0.0

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.time = time.perf_counter()


class FloorProbe(Callback):
    """The floor of an evaluation, measured where a monitor evaluates: right after each training epoch of a bare fit,
    one float32 X W^T over the training inputs with the caches as the epoch leaves them, then the same product again
    (warm). Both are left out of the epoch's time."""

    def __init__(self) -> None:
        self.after_epoch: list[float] = []
        self.warm: list[float] = []
        self._excluded = 0.0

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        measuring = time.perf_counter()
        x32 = pl_module._train_x if pl_module._train_x is not None else torch.randn(N, D)  # the training inputs, float32
        w32 = pl_module.weight.detach()[0].float().contiguous()
        for times in (self.after_epoch, self.warm):
            start = time.perf_counter()
            x32 @ w32.T
            times.append(time.perf_counter() - start)
        self._excluded += time.perf_counter() - measuring

    def take_excluded(self) -> float:
        """Seconds this epoch spent measuring the floor (left out of the epoch's time), and reset."""
        excluded, self._excluded = self._excluded, 0.0
        return excluded


class EpochEnd(Callback):
    """Seconds since the matching :class:`EpochStart`; attached after every other callback."""

    def __init__(self, start: EpochStart, probe: FloorProbe | None = None) -> None:
        self.start = start
        self.probe = probe
        self.seconds: list[float] = []

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        excluded = self.probe.take_excluded() if self.probe is not None else 0.0  # the floor's measurement
        self.seconds.append(time.perf_counter() - self.start.time - excluded)


class TimedMonitor(LinearTeacherMonitor):
    """The combined monitor, also recording how long each end-of-epoch evaluation takes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds: list[float] = []

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        start, evaluations = time.perf_counter(), len(self.history)
        super().on_train_epoch_end(trainer, pl_module)
        if len(self.history) > evaluations:  # only epochs that evaluated
            self.seconds.append(time.perf_counter() - start)


def run(
    monitored: bool, epochs: int, datamodule: LinearTeacherDataModule, engine: str, every_n_epochs: int = 1,
    precision: str = "float64",
) -> tuple[list[float], list[float]]:
    """Fit from the same initialization; returns the epoch times after the warm-up and the evaluation times."""
    seed_everything(0, verbose=False)
    model = LeakyReLUTeacherNet(input_dim=D, k=K, alpha=0.2, init_std=1e-3, lr=1e-3, engine=engine)
    start = EpochStart()
    monitor = TimedMonitor(every_n_epochs=every_n_epochs, precision=precision) if monitored else None
    probe = None if monitored else FloorProbe()  # the floor where the monitor would run, in the bare fits
    clock = EpochEnd(start, probe)
    callbacks: list[Callback] = [start, monitor or probe, clock]  # type: ignore[list-item]  # the clock brackets the monitor
    trainer = Trainer(
        max_epochs=epochs, callbacks=callbacks, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=datamodule)
    assert len(clock.seconds) == epochs
    if monitor is not None:
        assert len(monitor.history) == epochs // every_n_epochs and set(monitor.groups) == {"cluster", "linear_region", "agreement", "par", "margin"}
    if probe is not None:
        FLOORS_AFTER_EPOCH.extend(probe.after_epoch[1:])
        FLOORS_WARM.extend(probe.warm[1:])
    return clock.seconds[1:], (monitor.seconds[1:] if monitor and every_n_epochs == 1 else monitor.seconds if monitor else [])


FLOORS_AFTER_EPOCH: list[float] = []  # float32 X W^T right after a training epoch, where the monitor evaluates
FLOORS_WARM: list[float] = []  # the same product right after it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per configuration (>= 3 for a median)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit; the first is a warm-up")
    parser.add_argument(
        "--engine", choices=("lightning", "fused"), default="lightning",
        help="lightning: Lightning SGD on a batch-size-1 loader (issue 3); fused: the compiled per-example engine (issue 5)",
    )
    parser.add_argument("--chunk", type=int, default=N, help="loader batch size with --engine fused (examples per step; n: one Lightning step per epoch)")
    parser.add_argument(
        "--precision", nargs="+", choices=("float64", "float32", "auto"), default=["float64", "float32"],
        help="the monitor's precisions, each measured against the same bare fits: float64 (exact, the monitors' default), "
             "float32 (float32 pre-activations, float64 decisions)",
    )
    parser.add_argument("--every-n-epochs", type=int, default=1, help="the monitor's evaluation interval")
    args = parser.parse_args()
    torch.set_num_threads(1)
    numba.set_num_threads(1)

    batch_size = 1 if args.engine == "lightning" else args.chunk
    datamodule = LinearTeacherDataModule(dim=D, n_train=N, n_val=0, n_test=0, batch_size=batch_size, seed=0)
    datamodule.setup("fit")
    configurations: list[str | None] = [None, *args.precision]  # None: without monitors
    epochs: dict[str | None, list[float]] = {c: [] for c in configurations}
    evaluations: dict[str | None, list[float]] = {c: [] for c in configurations}
    paired: dict[str | None, list[float]] = {c: [] for c in args.precision}
    for repeat in range(args.repeats):
        fit_medians: dict[str | None, float] = {}
        shift = repeat % len(configurations)
        for precision in configurations[shift:] + configurations[:shift]:  # the order rotates every repeat
            seconds, evaluation = run(precision is not None, args.epochs, datamodule, args.engine, args.every_n_epochs, precision or "float64")
            epochs[precision] += seconds
            evaluations[precision] += evaluation
            fit_medians[precision] = statistics.median(seconds)
            name = f"with monitor ({precision})" if precision else "without monitor"
            print(f"repeat {repeat + 1}: {name}, s/epoch {[round(s, 3) for s in seconds]}", flush=True)
        for precision in args.precision:
            paired[precision].append(fit_medians[precision] / fit_medians[None])

    bare = statistics.median(epochs[None])
    floor, floor_warm = statistics.median(FLOORS_AFTER_EPOCH), statistics.median(FLOORS_WARM)
    print()
    print(f"torch {torch.__version__}, lightning {lightning.__version__}, {platform.processor() or platform.machine()}, 1 thread")
    print(f"n = {N}, d = {D}, 2k = {2 * K}, engine {args.engine}, loader batch size {batch_size}, "
          f"{args.repeats} fits x {args.epochs - 1} timed epochs per configuration")
    print(f"without monitors: {bare:.4f} s/epoch (median of {len(epochs[None])})")
    print(f"float32 X W^T of the same data right after a training epoch (where the monitor evaluates): {floor * 1e3:.2f} ms; "
          f"the same product again (warm caches): {floor_warm * 1e3:.2f} ms (medians of {len(FLOORS_AFTER_EPOCH)})")
    interval = "every epoch" if args.every_n_epochs == 1 else f"every {args.every_n_epochs} epochs"
    for precision in args.precision:
        monitored = statistics.median(epochs[precision])
        evaluation = statistics.median(evaluations[precision])
        print(f"precision {precision}: with LinearTeacherMonitor (all groups, train split, {interval}): {monitored:.4f} s/epoch "
              f"(median of {len(epochs[precision])})")
        if args.every_n_epochs > 1:
            bare_mean, monitored_mean = statistics.mean(epochs[None]), statistics.mean(epochs[precision])
            print(f"  mean s/epoch without / with: {bare_mean:.4f} / {monitored_mean:.4f}, ratio of means: {monitored_mean / bare_mean:.3f}")
        print(f"  ratio (medians): {monitored / bare:.3f}; ratio (adjacent fits, median of {len(paired[precision])}): "
              f"{statistics.median(paired[precision]):.3f}  {[round(r, 3) for r in paired[precision]]}")
        print(f"  one evaluation alone: {evaluation * 1e3:.2f} ms (median of {len(evaluations[precision])}); "
              f"evaluation / bare epoch: {evaluation / bare:.3f}; evaluation / float32 X W^T after an epoch: {evaluation / floor:.2f} "
              f"(/ the warm product: {evaluation / floor_warm:.2f})")
    separated_regime_pass()


def separated_regime_pass() -> None:
    """The evaluation pass alone (pre-activations, N(x), every statistic of the metrics) on a network near the NAR:
    neurons within 1% of +-teacher on teacher-labelled points: float64, and float32 with float64's decisions."""
    from lt_teacher.functional.evaluation import batch_statistics, evaluate_prepared
    from lt_teacher.functional.fast_evaluation import evaluate_fast, fast_inputs

    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(D, generator=g)
    x = torch.rand(N, D, generator=g) - 0.5
    y = torch.where(x @ teacher > 0, 1.0, -1.0).double()
    neurons = torch.cat([teacher + 0.01 * torch.randn(K, D, generator=g), -teacher + 0.01 * torch.randn(K, D, generator=g)]).double()
    x64 = x.double()
    prepared, x_norm = fast_inputs(x64), x64.norm(dim=1)
    x32, n32 = x, neurons.float()

    def best(fn: Any) -> float:
        fn()
        times = []
        for _ in range(20):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    floor = best(lambda: x32 @ n32.T)
    norms, r = neurons.norm(dim=1), torch.tensor(0.01, dtype=torch.float64)

    def float64_pass() -> Any:
        return batch_statistics(evaluate_prepared(x64, y, x_norm, neurons, K, 0.2, 1.0), norms[:K], norms[K:], radius=r)

    slow = best(float64_pass)
    fast = best(lambda: evaluate_fast(x64, prepared, y, x_norm, neurons, K, 0.2, 1.0, radius=r))
    recomputed = evaluate_fast(x64, prepared, y, x_norm, neurons, K, 0.2, 1.0, radius=r).recomputed
    print(f"evaluation pass alone, separated regime (n={N}, d={D}, 2k={2 * K}): float32 X W^T {floor * 1e3:.2f} ms, "
          f"float64 pass {slow * 1e3:.2f} ms ({slow / floor:.2f}x), float32-exact pass {fast * 1e3:.2f} ms "
          f"({fast / floor:.2f}x; {recomputed} points recomputed in float64)", flush=True)


if __name__ == "__main__":
    main()
