"""NeuralAgreementMonitor: max(n_diff), agreement, the NAR flag and PAR fractions (Definitions 6.2, 6.3)."""

from __future__ import annotations

from typing import Any

from .linear_teacher_monitor import LinearTeacherMonitor

__all__ = ["NeuralAgreementMonitor"]


class NeuralAgreementMonitor(LinearTeacherMonitor):
    """On the training points: how much the neurons of each group agree, and how many are in the PAR.

    Logged metrics: ``nar/max_disagreement_w``, ``nar/max_disagreement_u`` (Figure 9c),
    ``nar/agreement_fraction``, ``nar/agreement_fraction_w``, ``nar/agreement_fraction_u``, ``nar/in_nar``,
    ``par/fraction_w``, ``par/fraction_u`` (Figure 8).

    Args:
        beta: the margin of Definitions 6.2/6.3, >= 0 (0: sign agreement; a zero pre-activation never agrees).
        **kwargs: the other keyword arguments of :class:`LinearTeacherMonitor` (``every_n_epochs``,
            ``max_samples``, ``data``, ``network_fn``, ...) except ``groups``; LightningCLI lists them from there.

    Example:
        >>> NeuralAgreementMonitor(0.1).groups
        ('agreement', 'par')
    """

    def __init__(self, beta: float = 0.0, **kwargs: Any) -> None:
        super().__init__(("agreement", "par"), beta=beta, **kwargs)
