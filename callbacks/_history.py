"""Former name of :mod:`lt_teacher.callbacks._evaluation_callback` (kept so older imports keep working)."""

from ._evaluation_callback import EvaluationCallback

__all__ = ["EvaluationCallback"]
