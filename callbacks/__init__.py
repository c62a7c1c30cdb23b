"""Drop-in Lightning callbacks that log the paper's diagnostics for any two-layer Leaky-ReLU network."""

from lt_teacher.callbacks.cluster_radius_monitor import ClusterRadiusMonitor
from lt_teacher.callbacks.curve_plot_monitor import CurvePlotMonitor
from lt_teacher.callbacks.linear_region_monitor import LinearRegionMonitor
from lt_teacher.callbacks.linear_teacher_monitor import LinearTeacherMonitor
from lt_teacher.callbacks.margin_monitor import MarginMonitor
from lt_teacher.callbacks.neural_agreement_monitor import NeuralAgreementMonitor
from lt_teacher.callbacks.neuron_plot_monitor import NeuronPlotMonitor
from lt_teacher.callbacks.par_solution_monitor import PARSolutionMonitor
from lt_teacher.callbacks.progress_bar import LinearTeacherProgressBar
from lt_teacher.callbacks.teacher_net_summary import TeacherNetSummary

__all__ = [
    "ClusterRadiusMonitor",
    "CurvePlotMonitor",
    "LinearRegionMonitor",
    "LinearTeacherMonitor",
    "LinearTeacherProgressBar",
    "MarginMonitor",
    "NeuralAgreementMonitor",
    "NeuronPlotMonitor",
    "PARSolutionMonitor",
    "TeacherNetSummary",
]
