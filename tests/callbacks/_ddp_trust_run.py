"""Runs for ``test_ddp_trust.py``: a NaN in a late batch of one rank (``--case nan``), a trainable
parameter outside the analysed network (``--case backbone``) and the history after ``ddp_spawn``
(``--case spawn``). Every rank (and, for spawn, the launching process) writes a JSON file.

    python tests/callbacks/_ddp_trust_run.py --case nan --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import torch
from lightning.pytorch import Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.datamodules import LinearTeacherDataModule

N = 40  # rank r evaluates the indices r, r + 2, ...: index 39 is in rank 1's last evaluation batch


class WithExtra(LeakyReLUTeacherNet):
    """A trainable parameter that the analysed network does not contain."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.temperature = nn.Parameter(torch.ones(()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=("nan", "backbone", "spawn"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0, verbose=False)
    strategy = "ddp_spawn" if args.case == "spawn" else "ddp"
    monitor = LinearTeacherMonitor(batch_size=4)
    trainer = Trainer(
        accelerator="cpu", devices=2, strategy=strategy, max_epochs=2, callbacks=[monitor], default_root_dir=args.out,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    dm = LinearTeacherDataModule(dim=3, n_train=N, n_val=10, n_test=10, batch_size=8)
    model_type = WithExtra if args.case == "backbone" else LeakyReLUTeacherNet
    model = model_type(input_dim=3, k=3, engine="lightning")
    if args.case == "nan":
        dm.setup("fit")
        x, y = dm.tensors("train")
        x = x.clone()
        x[N - 1, 2] = math.nan
        train = DataLoader(TensorDataset(x, y), batch_size=8)
        fit_kwargs = {"train_dataloaders": train}
    else:
        fit_kwargs = {"datamodule": dm}
    try:
        trainer.fit(model, **fit_kwargs)
        outcome = {"error": None}
    except Exception as err:  # noqa: BLE001: the test compares the messages of every rank
        outcome = {"error": f"{type(err).__name__}: {err}"}
    rank = int(os.environ.get("LOCAL_RANK", trainer.global_rank))
    outcome.update(rank=rank, history=monitor.history, steps=int(trainer.global_step))
    name = "launcher" if args.case == "spawn" else f"rank{rank}"
    (args.out / f"{args.case}-{name}.json").write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
