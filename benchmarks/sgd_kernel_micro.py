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

With ``--against REV`` it instead times the fused engine of git revision REV (its ``lt_teacher``
package, extracted with ``git archive`` into a temporary folder) side by side with the working
tree's, S = 1, one call per epoch, the two alternating in a shuffled order every epoch on the same
permutation, and prints per engine the median and minimum thread CPU time and wall time per step,
the fraction of the core's float32 SGEMM peak (``torch.mm`` of 1024 x 1024, one thread; a step is
4 d 2k flops), the median of the epoch-by-epoch ratio new/old, and whether the final weights are
equal bit for bit. CPU time leaves out the time other processes hold the core.

Run: ``python benchmarks/sgd_kernel_micro.py [--epochs 2] [--repeats 5] [--against REV --ab-epochs 41]``; float32, inputs like
MNIST pixels scaled to [0, 1] (data are random here: the cost does not depend on their values).
Each engine is timed ``--repeats`` times on ``--epochs`` epochs in one call, after a warm-up that
compiles the kernel; the minimum (the least disturbed run) is reported, with the median beside
it: on a shared machine other processes inflate single runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def _engine_at(rev: str) -> Callable[..., torch.Tensor]:
    """``fused_sgd_steps`` of git revision ``rev``: its package extracted and imported as ``lt_teacher_at_rev``."""
    root = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="lt_teacher_at_rev_"))
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "lt_teacher"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "lt_teacher").rename(folder / "lt_teacher_at_rev")
    for source in (folder / "lt_teacher_at_rev").rglob("*.py"):
        source.write_text(re.sub(r"\blt_teacher\b", "lt_teacher_at_rev", source.read_text()))
    sys.path.insert(0, str(folder))
    return importlib.import_module("lt_teacher_at_rev.engines").fused_sgd_steps


def _sgemm_peak(size: int = 1024, repeats: int = 20) -> float:
    """float32 GEMM flops per second of this core (best of ``repeats`` products)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


def side_by_side(rev: str, epochs: int) -> None:
    """The fused engine at ``rev`` and in the working tree, alternating epoch by epoch (S = 1, one call per epoch)."""
    engines = {f"{rev} (old)": _engine_at(rev), "working tree (new)": fused_sgd_steps}
    weight, x, y = _problem(1, torch.float32)
    order = EpochOrder(1, N, seed=0)
    weights = {name: weight.clone() for name in engines}
    for engine in engines.values():  # warm-up: JIT compile, Gram matrix
        engine(weight.clone(), x, y, order.next_epoch(), LR, ALPHA, V)
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    wall: dict[str, list[float]] = {name: [] for name in engines}
    rng = random.Random(0)
    for _ in range(epochs):
        perm = order.next_epoch()
        names = list(engines)
        rng.shuffle(names)
        for name in names:
            t0, c0 = time.perf_counter(), time.thread_time()
            engines[name](weights[name], x, y, perm, LR, ALPHA, V)
            cpu[name].append((time.thread_time() - c0) / N * 1e6)
            wall[name].append((time.perf_counter() - t0) / N * 1e6)
    peak = _sgemm_peak()
    flops = 4 * D * ROWS
    print(f"side by side, {epochs} epochs, S=1, one thread; SGEMM peak {peak / 1e9:.1f} GFLOP/s; us per step:")
    for name in engines:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(
            f"  {name:24s} cpu median {c:6.3f} min {min(cpu[name]):6.3f} | wall median {w:6.3f} min {min(wall[name]):6.3f}"
            f" | {flops / (c * 1e-6) / peak:4.0%} of peak at the cpu median, {flops / (min(cpu[name]) * 1e-6) / peak:4.0%} at the min"
        )
    old, new = engines
    ratios = [b / a for a, b in zip(cpu[old], cpu[new])]
    print(f"  new/old cpu time, median of the epoch-by-epoch ratios: {statistics.median(ratios):.3f}")
    print(f"  final weights equal bit for bit: {torch.equal(weights[old], weights[new])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed call of the fused kernel")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per engine (min and median reported)")
    parser.add_argument("--autograd-epochs", type=float, default=0.25, help="epochs per timed call of the slow autograd loop")
    parser.add_argument("--against", metavar="REV", help="time the fused engine of git revision REV side by side with the working tree's instead")
    parser.add_argument("--ab-epochs", type=int, default=41, help="epochs of the side-by-side timing (--against)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    if args.against:
        side_by_side(args.against, args.ab_epochs)
        return
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
