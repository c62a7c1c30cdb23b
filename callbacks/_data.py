"""Where a monitor's evaluation data come from: the trainer's data, or the points given with ``data=``.

The Trainer-free part (the shard of a process, reading and checking batches) is :mod:`lt_teacher.evaluation_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch import Trainer
from torch import Tensor

from lt_teacher._sources import resolve_datasets
from lt_teacher.evaluation_data import SPLITS, BatchToXY, EvaluationSource, make_source, read_split

__all__ = ["SPLITS", "BatchToXY", "EvaluationSource", "all_training_points", "make_source", "resolve_datasets"]


def all_training_points(
    trainer: Trainer,
    data: Mapping[str, Any] | None,
    batch_to_xy: BatchToXY,
    *,
    max_samples: int | None,
    sample_seed: int,
    batch_size: int,
    owner: str,
) -> tuple[Tensor, Tensor]:
    """Every (capped) training point, on every process: ``(x, y)`` with y in {-1, +1} (float64).

    Unlike the sharded evaluation of :class:`LinearTeacherMonitor`, each process reads the whole
    (capped, seeded) set: ``make_source`` is called with ``rank=0, world_size=1``. No collective is
    involved, so every process ends with the same points.
    """
    datasets = resolve_datasets(trainer, data, ("train",), owner)
    if "train" not in datasets:
        raise ValueError(f"{owner}: found no training data; pass `data={{'train': (x, y)}}`.")
    dataset, collate = datasets["train"]
    source = make_source(
        "train", dataset, collate, max_samples=max_samples, sample_seed=sample_seed, batch_size=batch_size,
        rank=0, world_size=1, owner=owner,
    )
    raw, _, _ = read_split(source, batch_to_xy, None, owner)  # checked batches: labels +-1, finite inputs
    if not raw:
        raise ValueError(f"{owner}: the training data is empty.")
    x_all = torch.cat([x.detach().cpu() for x, _ in raw])
    y_signed = torch.cat([y.detach().cpu() for _, y in raw]).to(torch.float64)
    return x_all, y_signed
