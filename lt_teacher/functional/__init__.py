"""Every quantity of the paper as a pure, documented torch function (no Lightning import).

Equation and theorem numbers refer to Sarussi, Brutzkus & Globerson, "Towards Understanding
Learning in Neural Networks with Linear Teachers", ICML 2021, with its supplementary.
"""

from lt_teacher.functional.agreement import (
    AgreementStatisticsState,
    NeuralAgreement,
    PARFraction,
    agreement_certificate_mask,
    neural_agreement,
    par_fraction,
)
from lt_teacher.functional.clustering import (
    ClusterRadius,
    LinearRegionFractions,
    LinearRegionStatisticsState,
    cluster_radius,
    linear_direction,
    linear_disagreement,
    linear_projection,
    linear_region_fractions,
    linear_region_mask,
    max_pairwise_angle,
    neuron_distances,
    radius,
)
from lt_teacher.functional.evaluation import EvaluationBatch, evaluate_batch
from lt_teacher.functional.margins import (
    MarginStatisticsState,
    MarginSummary,
    log_sum_loss,
    margin_summary,
    normalized_margin,
    satisfies_assumption_6_1,
    smoothed_margin,
    theorem_6_2_threshold,
)
from lt_teacher.functional.network import (
    append_bias_coordinate,
    leaky_relu,
    log_logistic_loss,
    logistic_loss,
    margins,
    network_output,
    output_from_activations,
    output_from_preactivations,
    sgd_logistic_loss,
    signed_output_weights,
)
from lt_teacher.functional.par_solution import PARSolutionCosines, cosine, par_solution_cosines, row_cosines
from lt_teacher.functional.par_svm import PARSolution, par_features, par_svm
from lt_teacher.functional.separability import Separability, linear_separability

__all__ = [
    "AgreementStatisticsState",
    "ClusterRadius",
    "EvaluationBatch",
    "LinearRegionFractions",
    "LinearRegionStatisticsState",
    "MarginStatisticsState",
    "MarginSummary",
    "NeuralAgreement",
    "PARFraction",
    "PARSolution",
    "PARSolutionCosines",
    "Separability",
    "agreement_certificate_mask",
    "append_bias_coordinate",
    "cluster_radius",
    "cosine",
    "evaluate_batch",
    "leaky_relu",
    "linear_direction",
    "linear_disagreement",
    "linear_projection",
    "linear_region_fractions",
    "linear_region_mask",
    "linear_separability",
    "log_logistic_loss",
    "log_sum_loss",
    "logistic_loss",
    "margin_summary",
    "margins",
    "max_pairwise_angle",
    "network_output",
    "output_from_activations",
    "neuron_distances",
    "neural_agreement",
    "normalized_margin",
    "output_from_preactivations",
    "par_features",
    "par_fraction",
    "par_solution_cosines",
    "par_svm",
    "radius",
    "row_cosines",
    "satisfies_assumption_6_1",
    "sgd_logistic_loss",
    "signed_output_weights",
    "smoothed_margin",
    "theorem_6_2_threshold",
]
