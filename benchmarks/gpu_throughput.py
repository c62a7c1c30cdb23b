"""Per-example SGD on a GPU (issue 11, item 5): microseconds per network-step for S = 1, 8, 64, 256.

The paper's MNIST size: n = 2000 points of d = 784, 2k = 100 neurons, float32. For each S, S networks
train one epoch each (2000 steps, own permutations) with ``fused_sgd_steps`` on CUDA tensors, which runs
:func:`lt_teacher.engines.graph_sgd_steps` (blocks of 64 steps captured as CUDA graphs). The first epoch
captures the graphs and is not timed; the median of ``--epochs`` timed epochs is reported, with
``torch.cuda.synchronize()`` around each. The CPU kernel (numba, one thread, S = 1) runs the same epoch
on this machine's CPU for the ratio.

Equivalence: 8 networks, 3 epochs, on the GPU and with the CPU kernel from the same initialization and
order: max relative difference of W (float32, goal <= 1e-5) and of W in float64 on a smaller problem
(goal <= 1e-12). The script exits non-zero if either fails.

    python benchmarks/gpu_throughput.py [--epochs 3]     (about a minute on one GPU)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numba
import torch

from lt_teacher.engines import EpochOrder, fused_sgd_steps

N, D, K = 2000, 784, 50


def data(device: str, dtype: torch.dtype = torch.float32, n: int = N, d: int = D) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)  # MNIST-like pixel scale
    score = x @ teacher
    y = torch.where(score > score.median(), 1.0, -1.0)
    return x.to(device, dtype), y.to(device, dtype)


def init(num_seeds: int, device: str, dtype: torch.dtype = torch.float32, d: int = D, rows: int = 2 * K) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (1e-3 * torch.randn(num_seeds, rows, d, generator=g, dtype=torch.float64)).to(device, dtype).contiguous()


def epoch_seconds(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    order = EpochOrder(weight.shape[0], x.shape[0], seed=0)
    cuda = weight.device.type == "cuda"
    times = []
    for epoch in range(epochs + 1):
        perm = order.next_epoch().to(weight.device)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fused_sgd_steps(weight, x, y, perm, 1e-3, 0.1, 1.0)
        if cuda:
            torch.cuda.synchronize()
        if epoch > 0:  # the first epoch compiles (CPU) or captures the graphs (GPU)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def equivalence(dtype: torch.dtype, n: int, d: int, rows: int, epochs: int) -> float:
    x_cpu, y_cpu = data("cpu", dtype, n, d)
    w_cpu = init(8, "cpu", dtype, d, rows)
    w_gpu = w_cpu.cuda()
    order = EpochOrder(8, n, seed=3).next_epochs(epochs)
    fused_sgd_steps(w_cpu, x_cpu, y_cpu, order, 0.05, 0.2, 1.0)
    fused_sgd_steps(w_gpu, x_cpu.cuda(), y_cpu.cuda(), order.cuda(), 0.05, 0.2, 1.0)
    return rel_err(w_gpu.cpu(), w_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per S (after one untimed)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("No CUDA device: this benchmark needs a GPU.")
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    x_cpu, y_cpu = data("cpu")
    cpu_us = epoch_seconds(init(1, "cpu"), x_cpu, y_cpu, args.epochs) / N * 1e6
    print(f"CPU fused kernel, S=1, one thread: {cpu_us:8.3f} us per network-step")
    x, y = data("cuda")
    for num_seeds in (1, 8, 64, 256):
        seconds = epoch_seconds(init(num_seeds, "cuda"), x, y, args.epochs)
        per_network = seconds / (N * num_seeds) * 1e6
        print(f"GPU S={num_seeds:4d}: {seconds / N * 1e6:9.2f} us per step of all S, {per_network:8.3f} us per network-step, "
              f"{cpu_us / per_network:6.1f}x the CPU kernel per network")
    err32 = equivalence(torch.float32, N, D, 2 * K, 3)
    err64 = equivalence(torch.float64, 200, 50, 20, 3)
    print(f"equivalence to the CPU kernel, 8 networks x 3 epochs: float32 max rel. diff of W {err32:.2e} (goal <= 1e-5), "
          f"float64 (n=200, d=50, 2k=20) {err64:.2e} (goal <= 1e-12)")
    if not (err32 <= 1e-5 and err64 <= 1e-12):
        sys.exit("GPU and CPU engines differ beyond tolerance")


if __name__ == "__main__":
    main()
