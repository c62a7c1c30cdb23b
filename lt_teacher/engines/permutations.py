"""Seeded epoch permutations, one independent stream per seed, resumable from a checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from lt_teacher._validation import check_bool, check_int

__all__ = ["EpochOrder"]


def _stream_seed(seed: int, index: int) -> int:
    """A 64-bit torch seed for stream ``index`` of the run seeded ``seed`` (numpy SeedSequence spawning)."""
    words = np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(2, dtype=np.uint32)
    return int(words[0]) | (int(words[1]) << 32)


class EpochOrder:
    """The order in which S seeds visit n training points: a fresh permutation every epoch.

    SGD in the paper (section 3) runs in epochs and samples without replacement: every epoch
    visits each point once in a new random order. Seed s draws its permutations from its own
    ``torch.Generator``, seeded from ``(seed, s)`` alone, so seed s gets the same sequence
    whatever the number of seeds run next to it. With ``shared=True`` all seeds follow one
    sequence (that of seed 0), which isolates the effect of the initialization.

    ``state_dict()`` holds the generator states and the epoch count; ``load_state_dict`` on a
    fresh instance with the same arguments continues with exactly the permutations the
    original would have drawn next.

    Args:
        num_seeds: S >= 1, the number of networks trained side by side.
        n: number of training points (>= 1).
        seed: integer >= 0 that fixes every permutation.
        shared: all seeds visit the points in the same order.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``num_seeds`` or ``n`` < 1, ``seed`` < 0.

    Example:
        >>> order = EpochOrder(num_seeds=2, n=5, seed=0)
        >>> order.next_epoch().shape
        torch.Size([2, 5])
        >>> state = order.state_dict()
        >>> expected = order.next_epoch()
        >>> resumed = EpochOrder(num_seeds=2, n=5, seed=0)
        >>> resumed.load_state_dict(state)
        >>> bool((resumed.next_epoch() == expected).all())
        True
    """

    def __init__(self, num_seeds: int, n: int, seed: int, shared: bool = False) -> None:
        self.num_seeds = check_int(num_seeds, "num_seeds", minimum=1)
        self.n = check_int(n, "n", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        self.shared = check_bool(shared, "shared")
        self.epoch = 0  # epochs drawn so far
        streams = 1 if shared else num_seeds
        self._generators = [torch.Generator().manual_seed(_stream_seed(seed, s)) for s in range(streams)]

    def next_epoch(self) -> Tensor:
        """The next epoch's visiting order: (S, n) int64, each row a permutation of 0..n-1."""
        perms = [torch.randperm(self.n, generator=g) for g in self._generators]
        self.epoch += 1
        if self.shared:
            return perms[0].unsqueeze(0).expand(self.num_seeds, self.n).contiguous()
        return torch.stack(perms) if len(perms) > 1 else perms[0].unsqueeze(0)  # one seed: no copy

    def next_epochs(self, count: int) -> Tensor:
        """``count`` epochs back to back: (S, count * n) int64."""
        count = check_int(count, "count", minimum=1)
        return torch.cat([self.next_epoch() for _ in range(count)], dim=1)

    def state_dict(self) -> dict[str, Any]:
        """Arguments, epoch count and generator states (picklable)."""
        return {
            "num_seeds": self.num_seeds,
            "n": self.n,
            "seed": self.seed,
            "shared": self.shared,
            "epoch": self.epoch,
            "generator_states": [g.get_state() for g in self._generators],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of an instance built with the same arguments.

        Raises:
            ValueError: the state was saved with other arguments, or lacks the generator states.
        """
        for key in ("num_seeds", "n", "seed", "shared"):
            saved = state_dict.get(key, getattr(self, key))
            if saved != getattr(self, key):
                raise ValueError(
                    f"EpochOrder state was saved with {key}={saved!r} but this instance has {key}={getattr(self, key)!r}."
                )
        states = state_dict.get("generator_states")
        if not isinstance(states, (list, tuple)) or len(states) != len(self._generators):
            found = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"EpochOrder state must hold {len(self._generators)} generator states, found {found}.")
        for g, st in zip(self._generators, states):
            g.set_state(st)
        self.epoch = int(state_dict.get("epoch", 0))
