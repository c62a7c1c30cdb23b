"""Two gloo processes on CPU: rank r updates every metric of lt_teacher.metrics with every r-th batch.

Run by tests/test_metrics.py; writes rank zero's computed values (after the states are reduced) to --out.
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from _metrics_cases import all_metric_values


def _worker(rank: int, world_size: int, out: str, store: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        values = all_metric_values(rank=rank, world_size=world_size)
        if rank == 0:
            torch.save(values, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--store", required=True, help="a file the processes rendezvous in (no port needed)")
    parser.add_argument("--world-size", type=int, default=2)
    args = parser.parse_args()
    mp.spawn(_worker, args=(args.world_size, args.out, args.store), nprocs=args.world_size, join=True)


if __name__ == "__main__":
    main()
