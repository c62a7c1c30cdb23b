"""Micro-benchmark of the SGD engines at the MNIST size of the paper: n = 2000, d = 784, 2k = 100.

Reports microseconds per SGD step (one example, batch size 1) of

    (i)   the reference engine (``reference_sgd_steps``: per-example autograd, a plain torch loop), S = 1;
    (ii)  the fused engine (``fused_sgd_steps``: blocks of steps in torch GEMMs plus a numba pass), S = 1;
    (iii) the fused engine with S = 5 seeds in one call (time per step of all 5 seeds);

and the ratios (i)/(ii) (speed-up of the kernel) and 5 (ii)/(iii) (throughput of 5 seeds in one
call relative to 5 sequential single-seed runs). Everything runs on ONE thread:
``torch.set_num_threads(1)`` and ``numba.set_num_threads(1)``, serial kernel (``parallel=False``).
The parallel variant (the seeds on ``numba.get_num_threads()`` threads at once) is timed last,
separately, with all cores.

Run: ``python benchmarks/sgd_kernel_micro.py [--epochs 2] [--repeats 5]``; float32, inputs like
MNIST pixels scaled to [0, 1] (data are random here: the cost does not depend on their values).
Each engine is timed ``--repeats`` times on ``--epochs`` epochs in one call, after a warm-up that
compiles the kernel; the minimum (the least disturbed run) is reported, with the median beside
it: on a shared machine other processes inflate single runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numba
import torch

from lt_teacher.engines import EpochOrder, reference_sgd_steps, fused_sgd_steps

N, D, ROWS = 2000, 784, 100
LR, ALPHA, V = 1e-3, 0.2, 1.0


def _problem(num_seeds: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(N, D, generator=gen, dtype=dtype)  # MNIST-like pixels in [0, 1]
    y = torch.where(torch.rand(N, generator=gen) > 0.5, 1.0, -1.0).to(dtype)
    weight = 1e-3 * torch.randn(num_seeds, ROWS, D, generator=gen, dtype=dtype)
    return weight, x, y


def _time_per_step(engine: Callable[..., torch.Tensor], num_seeds: int, epochs: int, repeats: int, **kw: object) -> tuple[float, float]:
    """(min, median) over ``repeats`` of (wall time of ``epochs`` epochs in one call) / (steps per seed), in µs."""
    weight, x, y = _problem(num_seeds, torch.float32)
    order = EpochOrder(num_seeds, N, seed=0)
    engine(weight, x, y, order.next_epoch()[:, :50], LR, ALPHA, V, **kw)  # warm-up: JIT compile, caches
    times = []
    for _ in range(repeats):
        idx = order.next_epochs(epochs)
        t0 = time.perf_counter()
        engine(weight, x, y, idx, LR, ALPHA, V, **kw)
        times.append((time.perf_counter() - t0) / (epochs * N) * 1e6)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed call of the fused kernel")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per engine (min and median reported)")
    parser.add_argument("--autograd-epochs", type=float, default=0.25, help="epochs per timed call of the slow autograd loop")
    args = parser.parse_args()

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    print(f"n={N} d={D} 2k={ROWS} float32 | torch {torch.__version__} numba {numba.__version__} | {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"threads: torch.get_num_threads()={torch.get_num_threads()} numba.get_num_threads()={numba.get_num_threads()}")

    # (i) autograd loop: a fraction of an epoch is enough to time it.
    steps = max(1, int(args.autograd_epochs * N))
    weight, x, y = _problem(1, torch.float32)
    order = EpochOrder(1, N, seed=0).next_epoch()
    reference_sgd_steps(weight, x, y, order[:, :20], LR, ALPHA, V)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        reference_sgd_steps(weight, x, y, order[:, :steps], LR, ALPHA, V)
        times.append((time.perf_counter() - t0) / steps * 1e6)
    auto = min(times), statistics.median(times)
    fused1 = _time_per_step(fused_sgd_steps, 1, args.epochs, args.repeats)
    fused5 = _time_per_step(fused_sgd_steps, 5, args.epochs, args.repeats)

    print("                                   min      median   (us per step)")
    print(f"(i)   autograd loop, S=1      : {auto[0]:9.2f} {auto[1]:9.2f}")
    print(f"(ii)  fused kernel,  S=1      : {fused1[0]:9.2f} {fused1[1]:9.2f}")
    print(f"(iii) fused kernel,  S=5      : {fused5[0]:9.2f} {fused5[1]:9.2f}   (one step of all 5 seeds)")
    print(f"(i)/(ii)    kernel speed-up over autograd    : {auto[0] / fused1[0]:7.1f}x (min)  {auto[1] / fused1[1]:7.1f}x (median)")
    print(f"5(ii)/(iii) throughput of S=5 vs 5 x (S=1)   : {5 * fused1[0] / fused5[0]:7.2f}x (min)  {5 * fused1[1] / fused5[1]:7.2f}x (median)")

    threads = os.cpu_count() or 1
    numba.set_num_threads(threads)
    par = _time_per_step(fused_sgd_steps, 5, args.epochs, args.repeats, parallel=True)
    print(f"(extra, not single-thread) fused kernel, S=5, parallel=True, {threads} numba threads: {par[0]:.2f} min, {par[1]:.2f} median us/step")


if __name__ == "__main__":
    main()
