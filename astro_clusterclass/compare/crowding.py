"""
A crowding measure from the catalogue itself.

The paper's crowding bins (§4.3) use DOLPHOT's V-band "crowd" parameter,
which a catalogue such as LEGUS does not carry. `neighbor_count` gives a
simple substitute computed from positions alone: the number of other
candidates within a radius.
"""

import numpy as np
from scipy.spatial import cKDTree

from .._utils.validation import positive_float
from ..tables import check_table, pixel_positions

__all__ = ['neighbor_count']


def neighbor_count(tbl, *, radius=20.0, columns=None, wcs=None):
    """
    Number of other candidates within ``radius`` pixels of each row.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidate table with pixel positions (or sky positions and ``wcs``).
    radius : float, optional
        Radius in pixels (inclusive).
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`
        (e.g. ``('x_a', 'y_a')`` for a cross-matched table).
    wcs : `~astropy.wcs.WCS`, optional
        Converts sky positions to pixels.

    Returns
    -------
    counts : `~numpy.ndarray` of float
        One value per row; NaN where the row has no position.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import neighbor_count
    >>> tbl = QTable({'x': [0.0, 3.0, 100.0], 'y': [0.0, 4.0, 0.0]})
    >>> neighbor_count(tbl, radius=5).tolist()
    [1.0, 1.0, 0.0]
    """
    check_table(tbl)
    radius = positive_float(radius, 'radius')
    x, y = pixel_positions(tbl, columns=columns, wcs=wcs)
    points = np.column_stack([x, y])
    ok = np.all(np.isfinite(points), axis=1)
    counts = np.full(len(tbl), np.nan)
    if ok.any():
        tree = cKDTree(points[ok])
        counts[ok] = tree.query_ball_point(points[ok], r=radius, return_length=True) - 1
    return counts
