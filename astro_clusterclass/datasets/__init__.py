"""Simulated five-band HST fields of star-cluster candidates with ground truth."""

from ._field import (CANDIDATE_DENSITY, DEFAULT_CENTER, FIELD_STAR_DENSITY,  # noqa: F401
                     SimulatedField, make_cluster_field)
from ._photometry import bc03_track, default_photometry  # noqa: F401
from ._population import (DEFAULT_CLASS_FRACTIONS, DEFAULT_SUBCLASS_FRACTIONS,  # noqa: F401
                          PRESETS, Tuning)
from ._psf import PSF_PARAMETERS, make_psf_model, pixel_psf  # noqa: F401
from ._relabel import HUMAN_CONFUSION, relabel_classes  # noqa: F401
from .realism import (LEGUS_SELECTION, REALISM_PROPERTIES, RealismReport,  # noqa: F401
                      compare_catalogs, galaxy_setup, plot_realism, realism_properties,
                      realism_report, simulated_catalog)

__all__ = ['make_cluster_field', 'SimulatedField', 'relabel_classes', 'HUMAN_CONFUSION',
           'DEFAULT_CLASS_FRACTIONS', 'DEFAULT_SUBCLASS_FRACTIONS', 'CANDIDATE_DENSITY',
           'FIELD_STAR_DENSITY', 'DEFAULT_CENTER', 'bc03_track', 'default_photometry',
           'PSF_PARAMETERS', 'pixel_psf', 'make_psf_model', 'PRESETS', 'Tuning',
           'realism_report', 'RealismReport', 'realism_properties', 'compare_catalogs',
           'simulated_catalog', 'galaxy_setup', 'plot_realism', 'REALISM_PROPERTIES',
           'LEGUS_SELECTION']
