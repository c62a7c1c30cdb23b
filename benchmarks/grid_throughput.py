"""A grid of 8 networks as one module vs the same 8 networks trained one after another (issue 11, item 4).

The 8 networks differ in alpha, init_std and lr (``hyperparameter_grid(alpha=[0.05, 0.2],
init_std=[1e-3, 1.0], lr=[1e-3, 1e-2])``). Data of the paper's MNIST size: n = 2000 points of d = 784
(synthetic linear-teacher inputs; the cost does not depend on the values), 2k = 100 neurons, fused engine,
float32, ``--epochs`` epochs. Timed, in this one process, alternating (the order flips every repeat):

  (grid)       one ``Trainer.fit`` of ``LeakyReLUTeacherNet(**grid)``: the networks run on numba's threads;
  (sequential) 8 ``Trainer.fit`` calls, one ``LeakyReLUTeacherNet`` per network with its own values and
               the grid's initialization of that network.

Both use ``shared_order=True`` (every network visits the points in one order, as a module of one does), so
each network of the grid must end with exactly the W of its sequential twin; the script checks that. Reported:
wall seconds of each (whole fits, first-call JIT compilation done beforehand) and their ratio.

    python benchmarks/grid_throughput.py [--epochs 3] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numba
import torch
from lightning.pytorch import Trainer

from lt_teacher import LeakyReLUTeacherNet, hyperparameter_grid
from lt_teacher.datamodules import LinearTeacherDataModule

N, D, K = 2000, 784, 50


def fit(net: LeakyReLUTeacherNet, datamodule: LinearTeacherDataModule, epochs: int) -> None:
    trainer = Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(net, datamodule=datamodule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="numba threads for the grid")
    args = parser.parse_args()
    torch.set_num_threads(1)
    numba.set_num_threads(args.threads)
    grid = hyperparameter_grid(alpha=[0.05, 0.2], init_std=[1e-3, 1.0], lr=[1e-3, 1e-2])
    datamodule = LinearTeacherDataModule(dim=D, n_train=N, n_val=0, n_test=0, batch_size=N, seed=0)
    datamodule.setup("fit")
    torch.manual_seed(0)
    template = LeakyReLUTeacherNet(input_dim=D, k=K, shared_order=True, **grid)
    initial = template.weight.detach().clone()
    fit(LeakyReLUTeacherNet(input_dim=D, k=K, num_seeds=2), datamodule, 1)  # JIT compilation of both kernels

    times: dict[str, list[float]] = {"grid": [], "sequential": []}
    for repeat in range(args.repeats):
        for kind in (("grid", "sequential") if repeat % 2 == 0 else ("sequential", "grid")):
            start = time.perf_counter()
            if kind == "grid":
                net = LeakyReLUTeacherNet(input_dim=D, k=K, shared_order=True, **grid)
                net.weight.data.copy_(initial)
                fit(net, datamodule, args.epochs)
                grid_weight = net.weight.detach().clone()
            else:
                alone = []
                for s in range(len(grid["alpha"])):
                    single = LeakyReLUTeacherNet(input_dim=D, k=K, **template.network_hparams(s))
                    single.weight.data.copy_(initial[s : s + 1])
                    fit(single, datamodule, args.epochs)
                    alone.append(single.weight.detach()[0].clone())
                sequential_weight = torch.stack(alone)
            times[kind].append(time.perf_counter() - start)
            print(f"repeat {repeat + 1}: {kind:10s} {times[kind][-1]:.3f} s", flush=True)
        identical = torch.equal(grid_weight, sequential_weight)
        print(f"repeat {repeat + 1}: every network of the grid ends with the W of its sequential twin: {identical}")
        if not identical:
            raise SystemExit("the grid and the sequential runs differ")

    g, s = statistics.median(times["grid"]), statistics.median(times["sequential"])
    print()
    print(f"n={N} d={D} 2k={2 * K} float32, fused engine, {args.epochs} epochs, 8 networks "
          f"(alpha x init_std x lr = 2 x 2 x 2), numba threads {numba.get_num_threads()}, os.cpu_count()={os.cpu_count()}")
    print(f"one module of 8 networks : {g:.3f} s (median of {args.repeats})")
    print(f"8 modules one after another: {s:.3f} s (median of {args.repeats})")
    print(f"speed-up sequential / grid: {s / g:.2f}x")


if __name__ == "__main__":
    main()
