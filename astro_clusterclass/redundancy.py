"""
Removal of redundant detections (class 4.9).

DOLPHOT sometimes finds false extra peaks after subtracting a slightly
resolved cluster. PHANGS-HST classifies the brighter object and gives every
candidate within five pixels of it class 4.9, "redundant" (Whitmore et al.
2021, §6.3.1); the same rule is applied to the machine classifications.
"""

import numpy as np
from astropy.table import QTable
from scipy.spatial import cKDTree

from ._utils.columns import column_values, require_columns
from ._utils.validation import positive_float
from .classes import validate_classes
from .tables import check_table, pixel_positions, provenance

__all__ = ['flag_redundant', 'REDUNDANT_SUBCLASS', 'REDUNDANCY_RADIUS']

#: PHANGS-HST subclass of redundant detections.
REDUNDANT_SUBCLASS = '4.9'

#: Radius (pixels) within which a fainter candidate is redundant.
REDUNDANCY_RADIUS = 5.0


def flag_redundant(tbl, *, radius=REDUNDANCY_RADIUS, mag_column='mag_F555W',
                   class_column=None, subclass_column='subclass', columns=None, wcs=None):
    """
    Flag every candidate within ``radius`` pixels of a brighter one.

    The rule is applied literally: a candidate is redundant when any
    brighter candidate lies within the radius (distance <= radius), whether
    or not that brighter one is itself redundant. Of two candidates with
    the same magnitude the one in the earlier row counts as brighter.
    Candidates without a position or a finite magnitude are never
    redundant and make no other candidate redundant.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with pixel positions and magnitudes. Not modified.
    radius : float, optional
        Radius in pixels (5 in PHANGS-HST).
    mag_column : str, optional
        Magnitude that decides which candidate is brighter.
    class_column : str, optional
        If given, redundant rows get class 4 in this column and subclass
        ``'4.9'`` in ``subclass_column`` (created, empty for other rows,
        when missing).
    subclass_column : str, optional
        Column of PHANGS-HST subclasses (strings such as ``'4.2'``).
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`.
    wcs : `~astropy.wcs.WCS`, optional
        Converts sky positions to pixels.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy with ``redundant`` (bool) and ``redundant_of`` (row index of
        the brightest candidate within the radius, −1 if none), and the
        updated class and subclass columns when ``class_column`` is given.
        ``meta['redundancy']['n_redundant']`` counts the redundant rows.

    Raises
    ------
    ValueError
        If a column is missing, ``radius`` is not positive, or the class
        column holds labels outside the scheme.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.redundancy import flag_redundant
    >>> tbl = QTable({'x': [10.0, 13.0, 40.0], 'y': [10.0, 14.0, 40.0],
    ...               'mag_F555W': [21.0, 22.5, 23.0], 'class': [1, 3, 2]})
    >>> out = flag_redundant(tbl, class_column='class')
    >>> out['redundant'].tolist(), out['redundant_of'].tolist()
    ([False, True, False], [-1, 0, -1])
    >>> out['class'].tolist(), out['subclass'].tolist()
    ([1, 4, 2], ['', '4.9', ''])
    """
    check_table(tbl)
    radius = positive_float(radius, 'radius')
    mag = column_values(tbl, mag_column, parameter='mag_column')
    if class_column is not None:
        require_columns(tbl, class_column, parameter='class_column')
    n = len(tbl)
    x, y = pixel_positions(tbl, columns=columns, wcs=wcs) if n else (np.array([]),) * 2
    usable = np.isfinite(mag) & np.isfinite(x) & np.isfinite(y)
    rows = np.flatnonzero(usable)
    redundant_of = np.full(n, -1, dtype=np.int64)
    if len(rows) > 1:
        pairs = cKDTree(np.column_stack([x[rows], y[rows]])).query_pairs(
            r=radius, output_type='ndarray')
        i, j = rows[pairs[:, 0]], rows[pairs[:, 1]]
        # Rank by magnitude, ties by row: rank 0 is the brightest.
        rank = np.empty(n, dtype=np.int64)
        rank[np.lexsort((np.arange(n), np.where(usable, mag, np.inf)))] = np.arange(n)
        i_brighter = rank[i] < rank[j]
        faint = np.where(i_brighter, j, i)
        bright = np.where(i_brighter, i, j)
        # For each faint candidate keep its brightest neighbour.
        order = np.lexsort((rank[bright], faint))
        faint, bright = faint[order], bright[order]
        first = np.unique(faint, return_index=True)[1]
        redundant_of[faint[first]] = bright[first]
    redundant = redundant_of >= 0

    out = QTable(tbl, copy=True)
    out['redundant'] = redundant
    out['redundant_of'] = redundant_of
    if class_column is not None:
        classes = validate_classes(tbl[class_column], parameter=f'column {class_column!r}')
        out[class_column] = np.ma.where(redundant, 4, classes) if np.ma.is_masked(classes) \
            else np.where(redundant, 4, np.asarray(classes))
        if subclass_column in tbl.colnames:
            sub = np.asarray(np.ma.filled(np.ma.asarray(tbl[subclass_column]).astype(str), ''),
                             dtype=object)
        else:
            sub = np.full(n, '', dtype=object)
        sub[redundant] = REDUNDANT_SUBCLASS
        out[subclass_column] = sub.astype(str)
    out.meta['redundancy'] = provenance('flag_redundant', {
        'radius': radius, 'mag_column': mag_column, 'class_column': class_column})
    out.meta['redundancy']['n_redundant'] = int(redundant.sum())
    return out
