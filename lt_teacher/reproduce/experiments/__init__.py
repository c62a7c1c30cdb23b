"""The reproductions, one module per figure of the paper: its runs, its claims (with thresholds) and its figures.

Each ``run_<experiment>`` takes a resolved config, trains its runs through :func:`~..runner.train`
(identical runs are shared within an invocation) and returns a :class:`~..report.Report`. Every number
of a claim is read from the monitors' float64 histories (``RunResult.history``, last row = last epoch)
or, for the 2-D boundary, measured on the final networks with :mod:`..measures`. When a claim fails at
the paper's setting, the config's ``fallback`` settings are tried in order and the first one where it
holds is reported ("holds at ...", :mod:`..claims`).

=================  ==========================  ====================================
``experiment:``    module                      configs
=================  ==========================  ====================================
boundary_2d        :mod:`.fig1`                fig1
linear_region      :mod:`.fig2`                fig2-gaussian, fig2-mnist
par_solution       :mod:`.fig3`                fig3
clustering         :mod:`.fig7`                fig7
par_entrance       :mod:`.fig8`                fig8
nar_entrance       :mod:`.fig9`                fig9
relu_vs_leaky      :mod:`.supp_relu`           supp-relu
sweep              :mod:`.sweep`               sweep
=================  ==========================  ====================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..claims import with_fallbacks
from ..config import LoadedConfig
from ..report import Report
from ..runner import Context
from .fig1 import run_boundary_2d
from .fig2 import run_linear_region
from .fig3 import run_par_solution
from .fig7 import run_clustering
from .fig8 import run_par_entrance
from .fig9 import run_nar_entrance
from .supp_relu import run_relu_vs_leaky
from .sweep import run_sweep

#: ``experiment:`` of a config -> the function that runs it and returns its report.
EXPERIMENTS: dict[str, Callable[[LoadedConfig, Context, Path, str], Report]] = {
    "boundary_2d": run_boundary_2d,
    "linear_region": run_linear_region,
    "par_solution": run_par_solution,
    "clustering": run_clustering,
    "par_entrance": run_par_entrance,
    "nar_entrance": run_nar_entrance,
    "relu_vs_leaky": run_relu_vs_leaky,
    "sweep": run_sweep,
}

__all__ = ["EXPERIMENTS", "with_fallbacks"]
