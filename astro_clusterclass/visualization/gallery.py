"""Cutout galleries of candidates per class."""

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

from .._utils.validation import positive_int
from ..bands import normalize_band
from ..classes import validate_classes
from ._axes import new_figure

__all__ = ['plot_gallery']


def plot_gallery(cutouts, classes, *, band='F555W', per_class=6, class_order=(1, 2, 3, 4),
                 percentile=99.5, stamp_size=1.3, scale_region=0.5):
    """
    One row of stamps per class.

    Parameters
    ----------
    cutouts : `~astro_clusterclass.cutouts.Cutouts`
        Stamps of the candidates (from `~astro_clusterclass.make_cutouts`).
    classes : array-like
        Class of each stamp (e.g. a table's class column), same length.
    band : str, optional
        Band shown.
    per_class : int, optional
        Stamps per row; the first ones of each class in input order.
    class_order : sequence of int, optional
        Classes, one row each.
    percentile : float, optional
        Percentile interval of each stamp's display scale (asinh stretch).
    stamp_size : float, optional
        Size of a stamp in inches.
    scale_region : float, optional
        Side of the central square, as a fraction of the stamp side, whose
        pixels set each stamp's display range (brighter pixels outside it
        are clipped), so that a bright neighbour near the edge of the
        stamp does not hide a fainter candidate in its centre. ``1`` uses
        the whole stamp.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`
        Each stamp is titled with the candidate id; empty slots are blank.

    Raises
    ------
    ValueError
        If ``classes`` has another length than ``cutouts`` or holds labels
        outside the scheme, or if ``scale_region`` is not in (0, 1].

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from astro_clusterclass import make_cutouts
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.visualization import plot_gallery
    >>> field = make_cluster_field((300, 300), 40, seed=1)
    >>> stamps = make_cutouts(field.images, field.truth, size=32)
    >>> fig = plot_gallery(stamps, field.truth['class'], per_class=4)
    >>> len(fig.axes)   # 4 classes x 4 stamps
    16
    >>> plt.close(fig)
    """
    band = normalize_band(band, parameter='band')
    labels = validate_classes(classes, parameter='classes').filled(-1)
    if len(labels) != len(cutouts):
        msg = f'classes has {len(labels)} entries but cutouts has {len(cutouts)} stamps'
        raise ValueError(msg)
    per_class = positive_int(per_class, 'per_class')
    if not 0 < scale_region <= 1:
        msg = f'scale_region must be in (0, 1], got {scale_region!r}'
        raise ValueError(msg)
    b = list(cutouts.bands).index(band)
    side = cutouts.data.shape[-1]
    k = min(side, max(3, int(round(scale_region * side))))
    center = slice((side - k) // 2, (side - k) // 2 + k)
    rows = len(class_order)
    fig = new_figure(figsize=(stamp_size * per_class + 0.6, stamp_size * rows + 0.3),
                     layout='constrained')
    axes = fig.subplots(rows, per_class, squeeze=False)
    for r, k in enumerate(class_order):
        members = np.flatnonzero(labels == k)[:per_class]
        axes[r, 0].set_ylabel(f'class {k}\n({int(np.sum(labels == k))})', fontsize=9)
        for c in range(per_class):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(members):
                for spine in ax.spines.values():
                    spine.set_visible(False)
                continue
            stamp = cutouts.data[members[c], b]
            vmin, vmax = PercentileInterval(percentile).get_limits(stamp[center, center])
            norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(), clip=True)
            ax.imshow(stamp, origin='lower', cmap='gray', norm=norm)
            ax.set_title(str(cutouts.ids[members[c]]), fontsize=7)
    return fig
