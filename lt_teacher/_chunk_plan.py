"""How a process runs its part of each epoch with a per-example engine inside Lightning's training steps."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from lt_teacher._validation import check_choice, check_int
from lt_teacher.engines import fused_sgd_steps, reference_sgd_steps
from lt_teacher.engines._contract import CheckedEngine, SGDEngine
from lt_teacher.engines.fused import BLOCK_STEPS


ENGINES = ("fused", "reference", "lightning")
OLD_ENGINE_NAMES = {"autograd": "lightning"}  # deprecated spelling -> name


def resolve_engine(engine: object) -> str:
    """The engine's name; an old name (``"autograd"``) gives its new one with a ``DeprecationWarning``."""
    if isinstance(engine, str) and engine in OLD_ENGINE_NAMES:
        new = OLD_ENGINE_NAMES[engine]
        warnings.warn(f"engine={engine!r} is deprecated, use engine={new!r} (the same engine).", DeprecationWarning, stacklevel=3)
        return new
    return check_choice(engine, "engine", ENGINES)


@dataclass(frozen=True)
class ChunkPlan:
    """One process's way through every epoch of a fit (made once, again if the loader's length changes)."""

    batches: int  # Lightning steps per epoch (the training loader's length)
    n: int  # training examples
    chunk: int  # per-example steps of one Lightning step (a multiple of BLOCK_STEPS)
    seeds: list[int]  # the seeds this process trains
    all_seeds: bool  # whether that is every seed
    engine: SGDEngine  # the engine
    options: dict[str, Any]  # its own keyword arguments
    hyper: dict[str, list[float]]  # lr, alpha and v of those seeds

    def bounds(self, batch_idx: int) -> tuple[int, int]:
        """The examples [start, stop) of the epoch's order that Lightning step ``batch_idx`` runs (the last runs the rest)."""
        start = min(self.n, batch_idx * self.chunk)
        stop = self.n if batch_idx == self.batches - 1 else min(self.n, start + self.chunk)
        return start, stop

    def seed_weights(self, weight: Tensor) -> Tensor:
        """The weights (len(seeds), 2k, d) of this plan's seeds in ``weight`` (S, 2k, d): ``weight`` itself when they
        are all S, else a contiguous copy (written back by the caller)."""
        return weight if self.all_seeds else weight[self.seeds].contiguous()

    def chunk_order(self, epoch_order: Tensor, start: int, stop: int) -> Tensor:
        """The visiting order (len(seeds), stop - start) of this plan's seeds in the epoch's ``epoch_order`` (S, n)
        for the steps [start, stop): ``epoch_order`` itself for a whole epoch of every seed, else a slice."""
        if not self.all_seeds:
            return epoch_order[self.seeds, start:stop]
        return epoch_order if stop - start == self.n else epoch_order[:, start:stop]

    def checked_engine(self, weight: Tensor, x: Tensor, y: Tensor, k_w: int) -> CheckedEngine:
        """The engine on the training set (``x``, ``y``) and this plan's hyper-parameters, checked once here, for the
        calls of every epoch of the fit: ``weight`` (len(seeds), 2k, d) is a sample of the weights they update."""
        return CheckedEngine(self.engine, weight, x, y, **self.hyper, k_w=k_w, **self.options)


def make_chunk_plan(
    engine: str, n: int, batches: int, seeds: list[int], num_seeds: int, per_network: Mapping[str, Sequence[float]]
) -> ChunkPlan:
    """The plan of ``engine`` ("fused" or "reference") for ``n`` examples in ``batches`` Lightning steps per epoch,
    training ``seeds`` of ``num_seeds`` networks whose ``lr``, ``alpha`` and ``v`` are ``per_network[name][s]``.

    Raises:
        TypeError, ValueError: ``engine`` is not one of the two, ``n`` or ``batches`` is not an int >= 1.
    """
    engine = check_choice(engine, "engine", ("fused", "reference"))
    n, batches = check_int(n, "n", minimum=1), check_int(batches, "batches", minimum=1)
    # Chunks start at multiples of BLOCK_STEPS: the fused engine updates W once per block of that many
    # steps of a call, so the result does not depend on how many Lightning steps (or processes) share it.
    chunk = BLOCK_STEPS * math.ceil(n / (BLOCK_STEPS * batches))
    step: SGDEngine = reference_sgd_steps
    options: dict[str, Any] = {}
    if engine == "fused":
        # seeds on numba's threads when there are several: bit-identical to the serial loop
        step, options = fused_sgd_steps, {"parallel": len(seeds) > 1 and numba.get_num_threads() > 1}
    hyper = {name: [per_network[name][s] for s in seeds] for name in ("lr", "alpha", "v")}
    return ChunkPlan(batches, n, chunk, seeds, len(seeds) == num_seeds, step, options, hyper)


def check_per_example_run(engine: str, precision: object, dtype: torch.dtype, reload_every: int) -> None:
    """What a per-example engine needs of the run: the Trainer's precision 32-true or 64-true (float32/float64
    weights, no autocast), and a training set that stays."""
    problem = per_example_precision_problem(precision)  # the Trainer's, in Lightning's spelling
    if problem or dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"engine={engine!r} trains only under precision='32-true' or '64-true', got {precision!r} (weights {dtype}: "
            f"{problem or 'not float32/64'}); or use engine='lightning'."
        )
    if reload_every:
        raise ValueError(
            f"engine={engine!r} reads the training set once, at the start of training, but the Trainer reloads the "
            f"training loader every {reload_every} epoch(s) (`reload_dataloaders_every_n_epochs`): the engine would keep "
            "training on the first set. Set reload_dataloaders_every_n_epochs=0, or use engine='lightning' to train on the "
            "reloaded batches."
        )


def warn_small_chunks(engine: str, n: int, batches: float) -> None:
    """Warn (on rank 0) when ``engine`` trains on ``n`` examples in so many Lightning steps per epoch
    (``batches``) that Lightning's per-step cost, which a fused engine pays once per loader batch, dominates."""
    if engine != "fused" or not math.isfinite(batches) or batches <= 64 or n / batches >= 64:
        return
    rank_zero_warn(
        f"engine='fused' runs the epoch's {n} per-example SGD steps inside the {int(batches)} steps of the training "
        f"loader, about {max(1, round(n / batches))} examples per Lightning step, and every Lightning step costs "
        "far more than a few SGD steps (measured at n=2000, d=784: 21 ms per epoch with batch_size=2000, 1.6 s with "
        "batch_size=1). Give the training loader fewer, larger batches (e.g. the datamodule's `batch_size=n`); "
        "the trained weights do not depend on it."
    )


# The Trainer precisions a per-example engine trains under: its numba passes and GEMMs read and write W itself,
# in W's dtype, so autocast (the "-mixed" precisions) and half-precision weights have nothing to apply to.
PER_EXAMPLE_PRECISIONS = ("32-true", "64-true")
_PRECISION_ALIASES = {"None": "32-true", "32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}


def per_example_precision_problem(precision: object) -> str | None:
    """Why a per-example engine (fused, reference) cannot train under the Trainer's ``precision``; None when it can."""
    name = _PRECISION_ALIASES.get(str(precision), str(precision))
    if name in PER_EXAMPLE_PRECISIONS:
        return None
    half = {"16": "float16", "bf16": "bfloat16"}.get(name.split("-")[0])
    if half and name.endswith("-mixed"):
        return f"{name} runs the products under autocast in {half}{' (bfloat16 on CPU)' if half == 'float16' else ''}, which its float32/float64 passes cannot read"
    if half and name.endswith("-true"):
        return f"{name} makes the weights {half}, and it updates W in float32 or float64 only"
    return f"it updates W in float32 or float64 only and has no {name} version"
