"""``lt-teacher reproduce``: the paper's experiments from editable configs, with W&B runs, figures and a claims report.

Each reproduction (``fig1``, ``fig2-gaussian``, ``fig2-mnist``, ``fig3``, ``fig7``, ``fig8``, ``fig9``,
``supp-relu``, ``sweep``) is a YAML config in ``lt_teacher/reproduce/configs/`` (``--list``, ``--dump NAME``).
:func:`reproduce` runs them from Python; :func:`main` is the command line.
"""

from .command import Outcome, main, reproduce
from .config import ConfigError, packaged_names
from .report import Claim, Report

__all__ = ["Claim", "ConfigError", "Outcome", "Report", "main", "packaged_names", "reproduce"]
