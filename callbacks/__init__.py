"""Drop-in Lightning callbacks that log the paper's diagnostics for any two-layer Leaky-ReLU network."""

from lt_teacher.callbacks.cluster_radius_monitor import ClusterRadiusMonitor
from lt_teacher.callbacks.linear_region_monitor import LinearRegionMonitor
from lt_teacher.callbacks.linear_teacher_monitor import LinearTeacherMonitor
from lt_teacher.callbacks.margin_monitor import MarginMonitor
from lt_teacher.callbacks.neural_agreement_monitor import NeuralAgreementMonitor
from lt_teacher.callbacks.neuron_plot_monitor import NeuronPlotMonitor
from lt_teacher.callbacks.par_solution_monitor import PARSolutionMonitor

__all__ = [
    "ClusterRadiusMonitor",
    "LinearRegionMonitor",
    "LinearTeacherMonitor",
    "MarginMonitor",
    "NeuralAgreementMonitor",
    "NeuronPlotMonitor",
    "PARSolutionMonitor",
]
