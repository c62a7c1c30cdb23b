"""One run of a fixed network under every monitor, for ``test_ddp.py``; each rank writes a JSON file.

Lightning's ``strategy="ddp"`` starts the other ranks by running this script again, so it must be a
file of its own. The network is a LeakyReLUTeacherNet whose optimizer has learning rate 0: the weights
are the same in every run whatever the number of processes, so every monitored value must be too.

    python tests/callbacks/_ddp_run.py --devices 2 --out DIR [--layout tensor|dict]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, Dataset

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import LinearTeacherMonitor
from lt_teacher.datamodules import LinearTeacherDataModule

N_TRAIN, N_VAL, N_TEST = 37, 11, 9  # odd sizes: the two ranks get shards of different sizes
EVAL_BATCH = 8  # several evaluation batches per shard, the last one partial


class FrozenTeacherNet(LeakyReLUTeacherNet):
    """Trains with learning rate 0 (the constructor requires lr > 0): the weights never change."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self.weight], lr=0.0)


class DictPoints(Dataset):
    """The same points as ``{"x": ..., "y": ...}`` items, so the monitors read them through a DataLoader."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class DictDataModule(LinearTeacherDataModule):
    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(DictPoints(*self.tensors(split)), batch_size=batch_size, shuffle=shuffle)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layout", choices=("tensor", "dict"), default="tensor")
    args = parser.parse_args()

    torch.set_num_threads(1)
    seed_everything(0, verbose=False)
    datamodule_type = DictDataModule if args.layout == "dict" else LinearTeacherDataModule
    datamodule = datamodule_type(dim=4, n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST, batch_size=4, eval_batch_size=4)
    model = FrozenTeacherNet(input_dim=4, k=5, alpha=0.2, bias=True)
    with torch.no_grad():  # two loose clusters around +-e_1: every diagnostic strictly between its extremes
        teacher = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])  # the datamodule's w* = e_1, and a 0 for the bias
        model.weight.copy_(torch.cat([teacher.expand(5, 5), -teacher.expand(5, 5)]) + 0.2 * torch.randn(10, 5))
    monitor = LinearTeacherMonitor(beta=0.05, batch_size=EVAL_BATCH)
    trainer = Trainer(
        accelerator="cpu", devices=args.devices, strategy="ddp", max_epochs=2, callbacks=[monitor],
        default_root_dir=args.out, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=datamodule)

    weights = model.weight.detach().double().numpy()
    result: dict[str, Any] = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "shard_sizes": {split: int(source.indices.numel()) for split, source in monitor.evaluator.sources.items()},
        "weights_sha256": hashlib.sha256(weights.tobytes()).hexdigest(),
        "history": monitor.history,
        "logged": {key: float(value) for key, value in trainer.callback_metrics.items()},
    }
    (args.out / f"devices{args.devices}-rank{trainer.global_rank}.json").write_text(json.dumps(result))
    if torch.distributed.is_initialized():  # Lightning leaves the gloo group up; torn down at interpreter exit instead,
        torch.distributed.destroy_process_group()  # its threads sometimes abort the process ("terminate called ...")


if __name__ == "__main__":
    main()
