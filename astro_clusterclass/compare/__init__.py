"""
Comparing classifications: cross-matching, agreement and the colour-colour figure of merit.

`~astro_clusterclass.io.read_bc03_track` (the model track of the
colour-colour diagram) is re-exported here.
"""

from ..io.bc03 import read_bc03_track  # noqa: F401
from .agreement import (agreement_fractions, agreement_vs_property,  # noqa: F401
                        confusion_matrix, mean_with_error)
from .color_boxes import (COLOR_BOX_CLASSES, COLOR_BOXES, NORMALIZING_MV,  # noqa: F401
                          QR_MIN_COUNT, assign_color_boxes, color_box_counts,
                          quality_ratio)
from .crossmatch import crossmatch, in_footprint, pixel_frame, pixel_grid_offset  # noqa: F401
from .crowding import neighbor_count  # noqa: F401
from .report import CONFUSION_NORMALIZATIONS, CatalogComparison, compare_catalogs  # noqa: F401
from .tracks import TRACK_COLORS  # noqa: F401

__all__ = ['crossmatch', 'in_footprint', 'pixel_frame', 'pixel_grid_offset',
           'agreement_fractions', 'confusion_matrix',
           'agreement_vs_property', 'mean_with_error', 'COLOR_BOXES',
           'COLOR_BOX_CLASSES', 'NORMALIZING_MV', 'QR_MIN_COUNT', 'assign_color_boxes',
           'color_box_counts', 'quality_ratio', 'neighbor_count', 'read_bc03_track',
           'TRACK_COLORS', 'compare_catalogs', 'CatalogComparison', 'CONFUSION_NORMALIZATIONS']
