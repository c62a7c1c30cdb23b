"""``lt-teacher reproduce``: the paper's experiments from editable configs, with W&B runs, figures and a claims report.

Each reproduction (``fig1``, ``fig2-gaussian``, ``fig2-mnist``, ``fig3``, ``fig7``, ``fig8``, ``fig9``,
``supp-relu``, ``sweep``) is a YAML config in ``lt_teacher/reproduce/configs/`` (``--list``, ``--dump NAME``).
:func:`reproduce` runs them from Python; :func:`main` is the command line.

A config's ``seed_everything``, ``model``, ``data`` and ``trainer`` are ``lt-teacher fit`` config keys;
every trained run is written as its own fit config next to its report. The modules, lowest first
(each imports only modules above it in this list):

* :mod:`.errors` (:class:`ConfigError`), :mod:`.dialect` (dotted overrides, the earlier dialect),
  :mod:`.config` (packaged YAML files, scales);
* :mod:`.run_spec` (what determines a run), :mod:`.schema` (the experiment-level sections),
  :mod:`.data` (datamodules, MNIST on disk), :mod:`.fit_configs` (``lt-teacher fit``'s parser and
  each run's fit config), :mod:`.schedule` (monitors on an evaluation schedule), :mod:`.wandb_runs`;
* :mod:`.runner` (trains a run, shares identical runs);
* :mod:`.settings`, :mod:`.claims` (a claim at the config's setting and its fallbacks), :mod:`.report`,
  :mod:`.premise`, :mod:`.diagnosis`, :mod:`.measures`;
* :mod:`.experiments` (one module per figure) and :mod:`.command` (the command line).
"""

from .command import Outcome, main, reproduce
from .config import ConfigError, packaged_names
from .report import Claim, Report

__all__ = ["Claim", "ConfigError", "Outcome", "Report", "main", "packaged_names", "reproduce"]
