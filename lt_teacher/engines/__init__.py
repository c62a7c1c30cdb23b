"""SGD engines: per-example SGD on the network of Eq. (1) for S seeds at once.

Every engine has the same contract, ``engine(weight, x, y, order, lr, alpha, v, k_w=None) -> losses``
(:class:`~lt_teacher.engines._contract.SGDEngine`, checked once by ``check_sgd_inputs``): ``weight``
(S, 2k, d) is updated in place by ``order.shape[1]`` SGD steps per seed (batch size 1, section 3 of
Sarussi et al., ICML 2021), and the (S,) float64 sums of the per-step losses are returned.

- :func:`fused_sgd_steps`: the fast CPU engine: blocks of steps in torch GEMMs plus a numba pass
  (the pair kernel for large n); on CUDA it runs :func:`graph_sgd_steps`.
- :func:`graph_sgd_steps`: the batched step captured in CUDA graphs of many steps (eager on CPU).
- :func:`batched_sgd_steps`: batched torch ops over the seeds, any device.
- :func:`reference_sgd_steps`: one autograd forward/backward per example; the reference
  (``autograd_sgd_steps`` is its deprecated name).

:class:`EpochOrder` draws the per-seed epoch permutations and checkpoints its generators.
"""

from lt_teacher.engines.batched import batched_sgd_steps
from lt_teacher.engines.fused import fused_sgd_steps
from lt_teacher.engines.graphs import graph_sgd_steps
from lt_teacher.engines.permutations import EpochOrder
from lt_teacher.engines.reference import autograd_sgd_steps, reference_sgd_steps

__all__ = [
    "EpochOrder",
    "autograd_sgd_steps",
    "batched_sgd_steps",
    "fused_sgd_steps",
    "graph_sgd_steps",
    "reference_sgd_steps",
]
