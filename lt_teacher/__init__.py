"""lt-teacher: PyTorch Lightning plugins for learning from a linear teacher (Sarussi et al., ICML 2021)."""

from lt_teacher.evaluator import DiagnosticsEvaluator
from lt_teacher.grid import hyperparameter_grid
from lt_teacher.model import LeakyReLUTeacherNet
from lt_teacher.view import TwoLayerView, num_seeds, two_layer_view

__all__ = ["DiagnosticsEvaluator", "LeakyReLUTeacherNet", "TwoLayerView", "hyperparameter_grid", "num_seeds", "two_layer_view"]
