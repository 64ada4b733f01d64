"""Plots of comparisons and catalogues (matplotlib), returning Figure or Axes."""

from .agreement import plot_agreement_vs_property  # noqa: F401
from .colour_colour import TRACK_AGE_LABELS, plot_colour_colour  # noqa: F401
from .confusion import plot_confusion_grid, plot_confusion_matrix  # noqa: F401
from .gallery import plot_gallery  # noqa: F401

__all__ = ['plot_colour_colour', 'TRACK_AGE_LABELS', 'plot_confusion_matrix',
           'plot_confusion_grid', 'plot_agreement_vs_property', 'plot_gallery']
