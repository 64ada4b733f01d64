"""
The colour-colour figure of merit (Whitmore et al. 2021, §5 and Table 2).

Clusters of different ages fall in different parts of the U−B versus V−I
diagram (Vega magnitudes, U−B = F336W − F438W, V−I = F555W − F814W). The
paper counts the objects of each class in four boxes, for each
classification method, above an absolute-magnitude limit (M_V < −7.8), and
asks whether the methods find similar numbers with the quality ratio

    QR = std(counts, ddof=1) / sqrt(mean(counts)),

computed only when every method has at least 12 objects in the cell;
QR <= 1 is "good" agreement (scatter no larger than Poisson).

The boxes follow the §5 text, not the Table 2 note (which gives
0.1 < V−I for box 3); limits are strict inequalities.
"""

from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.masked import Masked

from .._utils.columns import column_values, float_values, require_columns
from .._utils.distance import distance_modulus as _modulus
from ..classes import CLASSES, is_cluster, validate_classes
from ..tables import check_table, provenance

__all__ = ['COLOR_BOXES', 'COLOR_BOX_CLASSES', 'NORMALIZING_MV', 'QR_MIN_COUNT',
           'assign_color_boxes', 'color_box_counts', 'quality_ratio']

#: The four boxes of the U−B vs V−I diagram (§5): name, ages, and the
#: (lower, upper) limits in V−I and U−B (Vega mag).
COLOR_BOXES = {
    1: {'name': 'old', 'ages': '> 1 Gyr', 'vi': (0.95, 1.5), 'ub': (-0.4, 1.0)},
    2: {'name': 'intermediate', 'ages': '0.1-1 Gyr', 'vi': (0.2, 0.95), 'ub': (-0.4, 1.0)},
    3: {'name': 'young', 'ages': '10-100 Myr', 'vi': (0.2, 0.95), 'ub': (-1.1, -0.4)},
    4: {'name': 'very young', 'ages': '< 10 Myr', 'vi': (-0.6, 0.95), 'ub': (-1.8, -1.1)},
}

#: Class labels counted in Table 2: each class and class 1+2 as one.
COLOR_BOX_CLASSES = ('1', '2', '3', '4', '1+2')

#: Absolute V magnitude limit that normalises the samples (§5.5).
NORMALIZING_MV = -7.8

#: Every method needs at least this many objects in a cell for a QR.
QR_MIN_COUNT = 12

#: Columns of the `color_box_counts` table besides the one per method
#: (so no method may have one of these names).
_COUNT_COLUMNS = ('class', 'box', 'qr')

_DEFAULT_MAGS = {'F336W': 'mag_F336W', 'F438W': 'mag_F438W', 'F555W': 'mag_F555W',
                 'F814W': 'mag_F814W'}


def _mag_columns(tbl, mag_columns, parameter='tbl'):
    columns = dict(_DEFAULT_MAGS)
    if mag_columns is not None:
        unknown = set(mag_columns) - set(_DEFAULT_MAGS)
        if unknown:
            msg = (f'mag_columns keys must be bands among {list(_DEFAULT_MAGS)}, got '
                   f'{sorted(unknown)}')
            raise ValueError(msg)
        columns.update(mag_columns)
    missing = [name for name in columns.values() if name not in tbl.colnames]
    if missing:
        present = [c for c in tbl.colnames if c.startswith('mag')]
        msg = (f'{parameter} lacks magnitude column(s) {missing}: U-B and V-I need '
               f'F336W, F438W, F555W and F814W. Magnitude-like columns present: '
               f'{present}; name others with mag_columns={{band: column}}')
        raise ValueError(msg)
    return columns


def _colors(tbl, columns):
    mags = {band: float_values(tbl[name], f'column {name!r}') for band, name in columns.items()}
    ub = mags['F336W'] - mags['F438W']
    vi = mags['F555W'] - mags['F814W']
    return ub, vi


def _boxes_of(ub, vi, boxes):
    box = np.zeros(len(ub), dtype=np.int64)
    with np.errstate(invalid='ignore'):
        for number, limits in boxes.items():
            inside = ((vi > limits['vi'][0]) & (vi < limits['vi'][1])
                      & (ub > limits['ub'][0]) & (ub < limits['ub'][1]) & (box == 0))
            box[inside] = number
    return box


def assign_color_boxes(tbl, *, mag_columns=None, boxes=COLOR_BOXES):
    """
    U−B, V−I and the colour box of every row.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with Vega magnitudes in F336W, F438W, F555W and F814W
        (columns ``mag_<band>`` as the LEGUS reader writes them).
    mag_columns : dict, optional
        Band → column name, for tables that name them differently.
    boxes : dict, optional
        Box number → ``{'vi': (lo, hi), 'ub': (lo, hi)}``; default
        :data:`COLOR_BOXES`.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy of ``tbl`` with ``ub`` and ``vi`` (mag) and ``box`` (1-4,
        0 outside every box). All three are masked where a magnitude is
        missing or not finite (e.g. LEGUS 99.999 / 66.666), so these rows
        are flagged, not dropped. ``meta['color_boxes']['n_no_color']`` counts them.

    Raises
    ------
    ValueError
        If a magnitude column is missing; the message lists what is there.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import assign_color_boxes
    >>> tbl = QTable({'mag_F336W': [20.0, 21.0, np.nan], 'mag_F438W': [21.5, 21.2, 21.0],
    ...               'mag_F555W': [21.0, 21.0, 21.0], 'mag_F814W': [21.2, 19.8, 20.0]})
    >>> assign_color_boxes(tbl)['box'].tolist()
    [4, 1, None]
    """
    check_table(tbl)
    columns = _mag_columns(tbl, mag_columns)
    ub, vi = _colors(tbl, columns)
    bad = ~(np.isfinite(ub) & np.isfinite(vi))
    out = QTable(tbl, copy=True)
    out['ub'] = Masked(u.Quantity(np.where(bad, 0.0, ub), u.mag), mask=bad)
    out['vi'] = Masked(u.Quantity(np.where(bad, 0.0, vi), u.mag), mask=bad)
    out['box'] = MaskedColumn(_boxes_of(ub, vi, boxes), mask=bad)
    out.meta['color_boxes'] = provenance('assign_color_boxes', {'mag_columns': columns})
    out.meta['color_boxes']['n_no_color'] = int(bad.sum())
    return out


def quality_ratio(counts, *, min_count=QR_MIN_COUNT):
    """
    Quality ratio of the counts of several methods in one cell.

    QR = sample standard deviation (ddof = 1) / sqrt(mean), the scatter
    between methods in units of the Poisson scatter expected for the mean.

    Parameters
    ----------
    counts : array-like
        Counts of the methods along the last axis (at least two methods).
    min_count : int, optional
        QR is NaN unless every method has at least this many objects.

    Returns
    -------
    qr : float or `~numpy.ndarray`

    Raises
    ------
    ValueError
        If fewer than two methods are given or a count is negative.

    Examples
    --------
    Two rows of the paper's Table 2:

    >>> from astro_clusterclass.compare import quality_ratio
    >>> round(float(quality_ratio([52, 34, 46, 45])), 1)
    1.1
    >>> round(float(quality_ratio([17, 18, 13, 12])), 1)
    0.8
    >>> float(quality_ratio([12, 8, 10, 8]))
    nan
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim == 0 or counts.shape[-1] < 2:
        msg = f'counts must hold at least two methods along the last axis, got shape {counts.shape}'
        raise ValueError(msg)
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        msg = 'counts must be finite and non-negative'
        raise ValueError(msg)
    mean = counts.mean(axis=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        qr = counts.std(axis=-1, ddof=1) / np.sqrt(mean)
    qr = np.where(np.all(counts >= min_count, axis=-1), qr, np.nan)
    return qr if qr.ndim else qr[()]


def _catalogs(catalogs):
    if isinstance(catalogs, Table) or not isinstance(catalogs, Mapping) or not catalogs:
        msg = ('catalogs must be a non-empty mapping of method name to a table, or to '
               'a (table, class column) pair')
        raise TypeError(msg)
    out = {}
    for name, value in catalogs.items():
        if str(name) in _COUNT_COLUMNS:
            msg = (f'catalogs: a method cannot be named {str(name)!r}, the name of another '
                   f'column of the counts (which has the columns {_COUNT_COLUMNS} and one per '
                   f'method); give it another name')
            raise ValueError(msg)
        if isinstance(value, Table):
            tbl, column = value, 'class'
        else:
            try:
                tbl, column = value
            except (TypeError, ValueError) as exc:
                msg = f'catalogs[{name!r}] must be a table or a (table, class column) pair'
                raise TypeError(msg) from exc
        check_table(tbl, parameter=f'catalogs[{name!r}]')
        require_columns(tbl, column, parameter=f'catalogs[{name!r}] class column')
        out[str(name)] = (tbl, column)
    return out


def color_box_counts(catalogs, *, distance_modulus, abs_mag_limit=NORMALIZING_MV,
                     v_column='mag_F555W', mag_columns=None, classes=COLOR_BOX_CLASSES,
                     boxes=COLOR_BOXES, min_count=QR_MIN_COUNT):
    """
    Objects per class and colour box for each method, with the quality ratio.

    Reproduces the layout of Table 2 of Whitmore et al. (2021).

    Parameters
    ----------
    catalogs : mapping
        Method name → table (class column ``'class'``) or
        ``(table, class_column)``; the same table may appear several
        times with different class columns. Each name becomes a column
        of the result, so it cannot be ``'class'``, ``'box'`` or ``'qr'``.
    distance_modulus : float, Quantity or mapping
        Distance modulus (mag) or distance (length Quantity), or a mapping
        method name → either.
    abs_mag_limit : float, optional
        Only objects with M_V = V − distance_modulus < this limit count.
    v_column : str, optional
        Apparent V (F555W) magnitude column.
    mag_columns : dict, optional
        Band → column for the colours, see `assign_color_boxes`.
    classes : sequence of str, optional
        Class labels to count: ``'1'`` … ``'4'`` and ``'1+2'``.
    boxes : dict, optional
        The boxes, default :data:`COLOR_BOXES`.
    min_count : int, optional
        The QR needs at least this many objects from every method.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per (class, box): ``class`` (str), ``box`` (int), one
        integer column per method (named after it), and ``qr`` (NaN where
        a method has fewer than ``min_count`` objects, or with one
        method). ``meta['methods']`` gives, per method, the rows, the
        objects brighter than the limit, and those among them without a
        colour (left out of every box).

    Raises
    ------
    ValueError
        If a class label is unknown, a class or magnitude column is
        missing or holds labels outside the scheme, or a method is named
        ``'class'``, ``'box'`` or ``'qr'`` (the other columns of the table).

    Examples
    --------
    Two classifications (columns of one table) of three objects; real
    catalogues have hundreds (see :doc:`/color_color`):

    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import color_box_counts
    >>> mags = {'mag_F336W': [20.0, 21.5, 20.1], 'mag_F438W': [21.2, 21.1, 21.3],
    ...         'mag_F555W': [21.0, 20.5, 21.1], 'mag_F814W': [20.8, 19.3, 20.9]}
    >>> tbl = QTable({name: values * u.mag for name, values in mags.items()})
    >>> tbl['class'] = [1, 1, 2]
    >>> tbl['class_b'] = [1, 2, 2]
    >>> counts = color_box_counts({'A': tbl, 'B': (tbl, 'class_b')}, distance_modulus=29.0,
    ...                            classes=('1', '1+2'))
    >>> counts[counts['class'] == '1+2'].pprint()
    class box  A   B   qr
    ----- --- --- --- ---
      1+2   1   1   1 nan
      1+2   2   0   0 nan
      1+2   3   0   0 nan
      1+2   4   2   2 nan

    (``qr`` is NaN unless every method has at least 12 objects in the cell.)
    """
    known = {str(k) for k in CLASSES} | {'1+2'}
    classes = tuple(str(c) for c in classes)
    if not set(classes) <= known:
        msg = f'classes must be among {sorted(known)}, got {list(classes)}'
        raise ValueError(msg)
    catalogs = _catalogs(catalogs)
    counts = {}
    info = {}
    for name, (tbl, column) in catalogs.items():
        dm = distance_modulus[name] if isinstance(distance_modulus, Mapping) \
            else distance_modulus
        dm = _modulus(dm, parameter='distance_modulus')
        v = column_values(tbl, v_column, parameter=f'catalogs[{name!r}] v_column')
        mags = _mag_columns(tbl, mag_columns, parameter=f'catalogs[{name!r}]')
        labels = validate_classes(tbl[column], parameter=f'catalogs[{name!r}] column '
                                                         f'{column!r}').filled(0)
        with np.errstate(invalid='ignore'):
            bright = np.isfinite(v) & (v - dm < abs_mag_limit)
        ub, vi = _colors(tbl, mags)
        box = _boxes_of(ub, vi, boxes)
        no_color = bright & ~(np.isfinite(ub) & np.isfinite(vi))
        cells = {}
        for label in classes:
            members = is_cluster(labels) if label == '1+2' else labels == int(label)
            for number in boxes:
                cells[label, number] = int(np.sum(bright & members & (box == number)))
        counts[name] = cells
        info[name] = {'n_rows': len(tbl), 'class_column': column, 'distance_modulus': dm,
                      'n_bright': int(bright.sum()), 'n_bright_no_color': int(no_color.sum())}
    out = QTable()
    keys = [(label, number) for label in classes for number in boxes]
    out['class'] = [k[0] for k in keys]
    out['box'] = np.array([k[1] for k in keys], dtype=np.int64)
    for name in catalogs:
        out[name] = np.array([counts[name][k] for k in keys], dtype=np.int64)
    matrix = np.column_stack([out[name] for name in catalogs])
    out['qr'] = (quality_ratio(matrix, min_count=min_count) if matrix.shape[1] >= 2
                 else np.full(len(out), np.nan))
    out.meta.update(provenance('color_box_counts', {
        'abs_mag_limit': abs_mag_limit, 'v_column': v_column, 'min_count': min_count}))
    out.meta['methods'] = info
    return out
