"""Seeded per-seed epoch permutations and their checkpoint state."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from lt_teacher.engines import EpochOrder


def test_every_row_is_a_fresh_permutation() -> None:
    order = EpochOrder(num_seeds=3, n=50, seed=0)
    first, second = order.next_epoch(), order.next_epoch()
    for epoch in (first, second):
        assert epoch.shape == (3, 50) and epoch.dtype == torch.int64
        assert torch.equal(epoch.sort(dim=1).values, torch.arange(50).expand(3, 50))
    assert not torch.equal(first, second)  # a new order every epoch
    assert not torch.equal(first[0], first[1])  # seeds have their own orders
    assert order.epoch == 2


def test_same_seed_same_permutations_and_other_seed_differs() -> None:
    a, b, c = EpochOrder(2, 30, seed=7), EpochOrder(2, 30, seed=7), EpochOrder(2, 30, seed=8)
    assert torch.equal(a.next_epochs(3), b.next_epochs(3))
    assert not torch.equal(EpochOrder(2, 30, seed=7).next_epoch(), c.next_epoch())


def test_a_seed_stream_does_not_depend_on_the_number_of_seeds() -> None:
    few, many = EpochOrder(2, 40, seed=3), EpochOrder(5, 40, seed=3)
    assert torch.equal(few.next_epochs(2), many.next_epochs(2)[:2])


def test_shared_order_is_seed_zeros_stream_for_everyone() -> None:
    shared, own = EpochOrder(4, 20, seed=1, shared=True), EpochOrder(4, 20, seed=1)
    epoch = shared.next_epoch()
    assert epoch.is_contiguous() and torch.equal(epoch, own.next_epoch()[0].expand(4, 20))


def test_next_epochs_concatenates_epochs() -> None:
    a, b = EpochOrder(2, 10, seed=2), EpochOrder(2, 10, seed=2)
    joined = a.next_epochs(3)
    assert joined.shape == (2, 30)
    assert torch.equal(joined, torch.cat([b.next_epoch() for _ in range(3)], dim=1))
    assert a.epoch == 3


@pytest.mark.parametrize("shared", [False, True], ids=["per-seed", "shared"])
def test_resume_from_state_dict_reproduces_the_following_epochs(shared: bool, tmp_path: Path) -> None:
    original = EpochOrder(3, 25, seed=11, shared=shared)
    original.next_epochs(2)
    torch.save(original.state_dict(), tmp_path / "order.pt")  # as inside a Lightning checkpoint
    expected = original.next_epochs(3)

    resumed = EpochOrder(3, 25, seed=11, shared=shared)
    resumed.load_state_dict(torch.load(tmp_path / "order.pt", weights_only=False))
    assert resumed.epoch == 2
    assert torch.equal(resumed.next_epochs(3), expected)
    assert resumed.epoch == original.epoch == 5


def test_state_dict_pickles_and_does_not_alias_the_live_generators() -> None:
    order = EpochOrder(2, 8, seed=4)
    state = pickle.loads(pickle.dumps(order.state_dict()))
    expected = order.next_epoch()
    order.next_epoch()  # advancing the live instance must not change the saved state
    order.load_state_dict(state)
    assert torch.equal(order.next_epoch(), expected)


def test_old_state_without_epoch_count_still_loads() -> None:
    order = EpochOrder(2, 8, seed=4)
    state = order.state_dict()
    del state["epoch"]
    EpochOrder(2, 8, seed=4).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"num_seeds": 3}, r"saved with num_seeds=2 but this instance has num_seeds=3", id="num_seeds"),
        pytest.param({"n": 9}, r"saved with n=8 but this instance has n=9", id="n"),
        pytest.param({"seed": 5}, r"saved with seed=4 but this instance has seed=5", id="seed"),
        pytest.param({"shared": True}, r"saved with shared=False but this instance has shared=True", id="shared"),
    ],
)
def test_load_state_dict_rejects_another_configuration(kwargs: dict[str, object], match: str) -> None:
    state = EpochOrder(2, 8, seed=4).state_dict()
    args: dict[str, object] = {"num_seeds": 2, "n": 8, "seed": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        EpochOrder(**args).load_state_dict(state)  # type: ignore[arg-type]


def test_load_state_dict_requires_the_generator_states() -> None:
    state = EpochOrder(2, 8, seed=4).state_dict()
    state["generator_states"] = state["generator_states"][:1]
    with pytest.raises(ValueError, match=r"must hold 2 generator states, found 1"):
        EpochOrder(2, 8, seed=4).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"num_seeds": 0}, ValueError, r"`num_seeds` must be an int >= 1, got 0", id="no-seeds"),
        pytest.param({"n": 0}, ValueError, r"`n` must be an int >= 1, got 0", id="no-points"),
        pytest.param({"seed": -1}, ValueError, r"`seed` must be an int >= 0, got -1", id="negative-seed"),
        pytest.param({"n": 2.0}, TypeError, r"`n` must be an int >= 1, got float 2.0", id="float-n"),
        pytest.param({"shared": 1}, TypeError, r"`shared` must be a bool \(True or False\), got int 1", id="int-shared"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type, match: str) -> None:
    args: dict[str, object] = {"num_seeds": 2, "n": 5, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        EpochOrder(**args)  # type: ignore[arg-type]


def test_next_epochs_rejects_a_bad_count() -> None:
    with pytest.raises(ValueError, match=r"`count` must be an int >= 1, got 0"):
        EpochOrder(1, 5, seed=0).next_epochs(0)
    with pytest.raises(TypeError, match=r"`count` must be an int >= 1, got float 2.0"):
        EpochOrder(1, 5, seed=0).next_epochs(2.0)  # type: ignore[arg-type]
