"""Plots of comparisons and catalogues (matplotlib), returning Figure or Axes."""

from .agreement import plot_agreement_vs_property  # noqa: F401
from .color_color import TRACK_AGE_LABELS, plot_color_color  # noqa: F401
from .comparison import plot_comparison  # noqa: F401
from .confusion import plot_confusion_grid, plot_confusion_matrix  # noqa: F401
from .gallery import plot_gallery  # noqa: F401

__all__ = ['plot_color_color', 'TRACK_AGE_LABELS', 'plot_confusion_matrix',
           'plot_confusion_grid', 'plot_agreement_vs_property', 'plot_gallery',
           'plot_comparison']
