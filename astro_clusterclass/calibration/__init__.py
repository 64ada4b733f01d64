"""
Probabilities you can trust: calibration, uncertainty and what to label next.

Measures of calibration (`expected_calibration_error`,
`reliability_curve`, `brier_score`, `negative_log_likelihood`), the
calibration maps of Guo et al. (2017) (`fit_temperature`,
`fit_calibration` on a classified table, `Calibration`, stored as small
JSON files or in checkpoint metadata and applied by
`~astro_clusterclass.classify.classify_table`), the uncertainty of an
ensemble (`entropy`, `margin`, `mutual_information`) and the choice of the
candidates a person should label next (`select_for_review`).

Layout: ``_checks`` (input checks), ``_metrics`` (scores), ``_scaling``
(maps, files, fitting), ``_uncertainty`` (entropy, margin, mutual
information), ``_review`` (selection for review). Nothing here needs torch.
"""

from ._metrics import (BIN_STRATEGIES, brier_score, calibration_scores,  # noqa: F401
                       expected_calibration_error, negative_log_likelihood, reliability_curve)
from ._scaling import (CALIBRATION_METHODS, CALIBRATION_SUFFIX, Calibration,  # noqa: F401
                       fit_calibration, fit_temperature, probabilities_from_table,
                       read_calibration, stored_calibration)
from ._uncertainty import (UNCERTAINTY_COLUMNS, entropy, margin,  # noqa: F401
                           mutual_information)
from ._review import REVIEW_COLUMNS, REVIEW_STRATEGIES, select_for_review  # noqa: F401

__all__ = ['expected_calibration_error', 'reliability_curve', 'brier_score',
           'negative_log_likelihood', 'calibration_scores', 'BIN_STRATEGIES',
           'Calibration', 'fit_temperature', 'fit_calibration', 'read_calibration',
           'stored_calibration', 'probabilities_from_table', 'CALIBRATION_METHODS',
           'CALIBRATION_SUFFIX', 'entropy', 'margin', 'mutual_information',
           'UNCERTAINTY_COLUMNS', 'select_for_review', 'REVIEW_STRATEGIES', 'REVIEW_COLUMNS']
