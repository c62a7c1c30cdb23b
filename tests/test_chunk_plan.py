"""The per-example engines' plan of an epoch: which examples each Lightning step runs, made once per fit."""

from __future__ import annotations


import pytest

from lt_teacher._chunk_plan import make_chunk_plan
from lt_teacher.engines import fused_sgd_steps, reference_sgd_steps
from lt_teacher.engines.fused import BLOCK_STEPS

HYPER = {"lr": (0.1, 0.2, 0.3), "alpha": (0.1, 0.1, 0.2), "v": (1.0, 2.0, 3.0)}


@pytest.mark.parametrize("n, batches", [(1, 1), (150, 3), (2000, 1), (2000, 7), (100, 40)])
def test_the_steps_of_an_epoch_cover_it_once_in_block_aligned_chunks(n: int, batches: int) -> None:
    plan = make_chunk_plan("fused", n, batches, [0, 1, 2], 3, HYPER)
    bounds = [plan.bounds(b) for b in range(batches)]
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(n))
    assert all(start % BLOCK_STEPS == 0 for start, stop in bounds if stop > start)


def test_the_plan_holds_the_engine_and_the_hyperparameters_of_its_seeds() -> None:
    fused = make_chunk_plan("fused", 10, 1, [1], 3, HYPER)
    assert fused.engine is fused_sgd_steps and fused.options == {"parallel": False}
    assert fused.hyper == {"lr": [0.2], "alpha": [0.1], "v": [2.0]} and not fused.all_seeds
    reference = make_chunk_plan("reference", 10, 1, [0, 1, 2], 3, HYPER)
    assert reference.engine is reference_sgd_steps and reference.options == {} and reference.all_seeds


@pytest.mark.parametrize(
    "engine, n, batches, error, match",
    [
        ("lightning", 10, 1, ValueError, "engine"),
        (3, 10, 1, TypeError, "engine"),
        ("fused", 0, 1, ValueError, "`n`"),
        ("fused", 10, 0, ValueError, "`batches`"),
        ("fused", 10, 1.0, TypeError, "`batches`"),
    ],
)
def test_bad_arguments(engine: object, n: object, batches: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_chunk_plan(engine, n, batches, [0], 1, HYPER)  # type: ignore[arg-type]
