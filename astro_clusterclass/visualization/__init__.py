"""Plots of comparisons and catalogues (matplotlib), returning Figure or Axes."""

from .agreement import plot_agreement_vs_property  # noqa: F401
from .color_color import (COLOR_BANDS, TRACK_AGE_LABELS, plot_color_color,  # noqa: F401
                          reddening_vector)
from .comparison import plot_comparison  # noqa: F401
from .confusion import plot_confusion_grid, plot_confusion_matrix  # noqa: F401
from .gallery import (DEFAULT_RGB_BANDS, GALLERY_ORDERS, plot_gallery,  # noqa: F401
                      select_gallery_candidates)
from .reliability import plot_reliability_diagram  # noqa: F401

__all__ = ['plot_color_color', 'TRACK_AGE_LABELS', 'plot_confusion_matrix',
           'plot_confusion_grid', 'plot_agreement_vs_property', 'plot_gallery',
           'plot_comparison', 'plot_reliability_diagram', 'reddening_vector', 'COLOR_BANDS',
           'select_gallery_candidates', 'GALLERY_ORDERS', 'DEFAULT_RGB_BANDS']
