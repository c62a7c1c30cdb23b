"""Fused-engine training of S seeds on 1 or 2 processes, for ``test_ddp_seeds.py``; rank 0 saves the weights.

Lightning's ``strategy="ddp"`` starts the other ranks by running this script again, so it is a file.

    python tests/_ddp_seeds_run.py --devices 2 --out FILE [--seeds S] [--grid]
"""

from __future__ import annotations

import argparse

import torch
from lightning.pytorch import Trainer, seed_everything

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.datamodules import LinearTeacherDataModule


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="3 networks with their own alpha, init_std and lr")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(11)
    # 13 validation points: Lightning's DistributedSampler would repeat one on 2 processes (the datamodule shards without)
    datamodule = LinearTeacherDataModule(dim=3, n_train=41, n_val=13, n_test=0, batch_size=8, eval_batch_size=4, seed=2)
    if args.grid:
        net = LeakyReLUTeacherNet(input_dim=3, k=4, alpha=[0.1, 0.3, 0.2], init_std=[0.3, 0.1, 0.3], lr=[0.05, 0.1, 0.02])
    else:
        net = LeakyReLUTeacherNet(input_dim=3, k=4, init_std=0.3, lr=0.05, num_seeds=args.seeds)
    monitor = LinearTeacherMonitor(groups=("cluster", "margin", "linear_region"))
    trainer = Trainer(
        accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto", max_epochs=3,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.callbacks.append(monitor)
    trainer.fit(net, datamodule=datamodule)
    if trainer.is_global_zero:
        logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
        torch.save({"weight": net.weight.detach().clone(), "history": monitor.history, "logged": logged}, args.out)
    if torch.distributed.is_initialized():  # not left to interpreter exit, where gloo's threads can abort the process
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
