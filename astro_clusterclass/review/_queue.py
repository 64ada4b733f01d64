"""The order in which a reviewer sees the candidates, and the filters of the queue."""

import numbers

import numpy as np
from regions import PixCoord, PixelRegion, SkyRegion

from .._utils.columns import column_values, require_columns
from .._utils.validation import check_choice, check_float
from ..calibration import entropy, margin, probabilities_from_table
from ..classes import CLASSES, validate_classes
from ..tables import check_table, pixel_positions

__all__ = ['review_queue', 'QUEUE_ORDERS', 'DOUBTFUL_COLUMNS', 'MAGNITUDE_COLUMNS',
           'MACHINE_CLASS_COLUMNS']

#: Orders of `review_queue`, and what comes first.
QUEUE_ORDERS = {
    'doubtful': ('lowest ensemble quality (class_quality) first, ties by the highest '
                 'entropy (prob_entropy), then the smallest margin (prob_margin); rows '
                 'without these scores last'),
    'disagreement': ('rows where the two class columns (columns=(a, b)) give different '
                     'classes first, then rows only one of them labels, then rows where they '
                     'agree, then rows neither labels (catalog order within each group)'),
    'brightest': 'smallest magnitude (mag_column) first; rows without a magnitude last',
    'random': 'a random order (seed)',
    'catalog': 'the order of the catalog',
}

#: The criteria of ``order='doubtful'``, in order of precedence, and which end comes first.
DOUBTFUL_COLUMNS = (('class_quality', 'lowest'), ('prob_entropy', 'highest'),
                    ('prob_margin', 'smallest'))

#: Columns tried, in order, for the magnitudes when ``mag_column`` is not given (V band).
MAGNITUDE_COLUMNS = ('mag_F555W', 'mag_V', 'mag_F606W')

#: Columns tried, in order, for the machine's class when ``class_column`` is not given.
MACHINE_CLASS_COLUMNS = ('class_mode', 'class_ml', 'class')

_PROBABILITY_COLUMNS = tuple(f'prob_{k}' for k in CLASSES)


def _doubtful_keys(tbl):
    """The sort keys of 'doubtful' (ascending, NaN last), most important first."""
    have_probabilities = all(c in tbl.colnames for c in _PROBABILITY_COLUMNS)
    probabilities = None
    keys = []
    for name, first in DOUBTFUL_COLUMNS:
        if name in tbl.colnames:
            values = column_values(tbl, name, parameter='tbl')
        elif name != 'class_quality' and have_probabilities:
            # The uncertainty columns of classify_table, computed as it computes them.
            if probabilities is None:
                probabilities = probabilities_from_table(tbl)
            values = (entropy if name == 'prob_entropy' else margin)(probabilities)
        else:
            continue
        keys.append(-values if first == 'highest' else values)
    if not keys:
        msg = (f"order='doubtful' needs the columns of a classified table: one of "
               f"{[c for c, _ in DOUBTFUL_COLUMNS]} or the probabilities "
               f"{list(_PROBABILITY_COLUMNS)}; tbl has {tbl.colnames}")
        raise ValueError(msg)
    return keys


def _class_values(tbl, name, parameter):
    """Class labels of column ``name`` as ints, 0 where unlabelled (masked, NaN or 0)."""
    require_columns(tbl, name, parameter=parameter)
    labels = validate_classes(tbl[name], parameter=f'{parameter} ({name!r})')
    return np.asarray(labels.filled(0))


def _disagreement_order(tbl, columns):
    if columns is None or isinstance(columns, str) or len(columns) != 2:
        msg = (f"order='disagreement' needs columns=(a, b): the two class columns to "
               f"compare, got columns={columns!r}")
        raise ValueError(msg)
    a = _class_values(tbl, columns[0], 'columns')
    b = _class_values(tbl, columns[1], 'columns')
    labelled = (a > 0).astype(int) + (b > 0).astype(int)
    group = np.select([(labelled == 2) & (a != b), labelled == 1, labelled == 2], [0, 1, 2], 3)
    return np.argsort(group, kind='stable')


def _default_column(tbl, given, candidates, parameter):
    if given is not None:
        require_columns(tbl, given, parameter=parameter)
        return given
    for name in candidates:
        if name in tbl.colnames:
            return name
    msg = (f'{parameter}: none of the columns {list(candidates)} is in the table; name the '
           f'column with {parameter}=')
    raise ValueError(msg)


def _magnitudes(tbl, mag_column):
    name = _default_column(tbl, mag_column, MAGNITUDE_COLUMNS, 'mag_column')
    return column_values(tbl, name, parameter='mag_column')


def _in_region(tbl, region, wcs):
    """Boolean mask of the rows inside ``region`` (rows without a position are outside)."""
    x, y = pixel_positions(tbl, wcs=wcs)
    finite = np.isfinite(x) & np.isfinite(y)
    if isinstance(region, SkyRegion):
        if wcs is None:
            msg = 'region: a sky region needs wcs= (the WCS of the images) to place it'
            raise ValueError(msg)
        region = region.to_pixel(wcs)
    if isinstance(region, PixelRegion):
        inside = np.zeros(len(tbl), dtype=bool)
        if finite.any():
            inside[finite] = np.asarray(region.contains(PixCoord(x[finite], y[finite])))
        return inside
    try:
        box = [] if isinstance(region, str) else [check_float(v, 'region') for v in region]
    except (TypeError, ValueError):
        box = []
    if len(box) != 4 or box[0] > box[1] or box[2] > box[3]:
        msg = (f'region must be a regions PixelRegion or SkyRegion, or a pixel box '
               f'(xmin, xmax, ymin, ymax) with xmin <= xmax and ymin <= ymax; got {region!r}')
        raise ValueError(msg)
    xmin, xmax, ymin, ymax = box
    with np.errstate(invalid='ignore'):
        return finite & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)


def _only_classes(only_class):
    values = [only_class] if isinstance(only_class, (numbers.Number, str)) else list(only_class)
    for value in values:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
                or int(value) not in CLASSES:
            msg = (f'only_class must be a class of {list(CLASSES)} or a list of them, got '
                   f'{only_class!r}')
            raise ValueError(msg)
    return [int(v) for v in values]


def _reviewed(tbl, store, reviewer):
    """Boolean mask of the rows ``store`` has a current label for."""
    id_column = store.info['id_column']
    if id_column not in tbl.colnames:
        msg = (f"store: the label database identifies candidates by the column "
               f"{id_column!r}, which tbl does not have")
        raise ValueError(msg)
    labelled = store.current(reviewer=reviewer)
    if store.info['id_kind'] == 'int':
        ids = [int(v) for v in np.asarray(tbl[id_column])]
    else:
        ids = [str(v) for v in np.asarray(tbl[id_column])]
    return np.fromiter((i in labelled for i in ids), dtype=bool, count=len(ids))


def review_queue(tbl, *, order='doubtful', columns=None, seed=0, store=None, reviewer=None,
                 unreviewed=False, only_class=None, class_column=None, mag_range=None,
                 mag_column=None, region=None, wcs=None):
    """
    The rows of a candidate table in the order a reviewer should see them.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The candidates, usually classified
        (`~astro_clusterclass.classify.classify_table`).
    order : str, optional
        One of :data:`QUEUE_ORDERS`:

        - ``'doubtful'`` (default): the machine's least certain first, by
          ``class_quality`` (the fraction of the ensemble's models that
          vote for its class; lowest first), ties broken by
          ``prob_entropy`` (highest first), then by ``prob_margin``
          (smallest first), then at random (``seed``). The criteria the
          table lacks are skipped; entropy and margin are computed from
          ``prob_1`` ... ``prob_4`` (as
          `~astro_clusterclass.calibration.entropy` and
          `~astro_clusterclass.calibration.margin` do) when their columns
          are absent. Rows without any score (not classified) come last.
        - ``'disagreement'``: rows where the class columns
          ``columns=(a, b)`` differ first (e.g. a human and a machine
          classification; 0 and masked mean "no class").
        - ``'brightest'``: by ``mag_column``, brightest first.
        - ``'random'``: a random order drawn with ``seed``.
        - ``'catalog'``: the table's order.
    columns : tuple of str, optional
        The two class columns of ``order='disagreement'``.
    seed : int, optional
        Seed of ``order='random'`` and of the ties of ``'doubtful'``.
    store : `LabelStore`, optional
        The labels, for ``unreviewed``.
    reviewer : str, optional
        With ``unreviewed``: leave out what this reviewer labelled (default:
        what anybody labelled).
    unreviewed : bool, optional
        Leave out the rows ``store`` holds a current label for.
    only_class : int or sequence of int, optional
        Keep only rows whose ``class_column`` is one of these classes.
    class_column : str, optional
        Class column of ``only_class`` (default: the first of
        :data:`MACHINE_CLASS_COLUMNS` in the table).
    mag_range : tuple of float, optional
        ``(brightest, faintest)`` magnitudes to keep (inclusive; either may be
        None); rows without a magnitude are left out.
    mag_column : str, optional
        Magnitudes of ``order='brightest'`` and ``mag_range`` (default: the
        first of :data:`MAGNITUDE_COLUMNS` in the table, the V band).
    region : optional
        Keep only the candidates inside it: a ``regions`` `~regions.PixelRegion`
        or `~regions.SkyRegion` (with ``wcs``), or a pixel box
        ``(xmin, xmax, ymin, ymax)`` (0-based, inclusive).
    wcs : `~astropy.wcs.WCS`, optional
        The images' WCS, for a sky region (or a table with sky positions only).

    Returns
    -------
    rows : `~numpy.ndarray` of int
        Row indices of ``tbl`` in review order, after the filters. Only
        filters remove rows; every order keeps them all.

    Raises
    ------
    ValueError
        For an unknown order, missing columns (the message names them and
        the parameter), ``unreviewed`` without ``store``, a bad class,
        magnitude range or region.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import review_queue
    >>> tbl = QTable({'id': [1, 2, 3, 4], 'x': [5.0, 50.0, 80.0, 10.0],
    ...               'y': [5.0, 40.0, 20.0, 90.0], 'class_mode': [1, 2, 4, 1],
    ...               'class_quality': [1.0, 0.4, 0.6, 0.4],
    ...               'prob_entropy': [0.1, 0.8, 0.5, 0.9],
    ...               'mag_F555W': [22.0, 21.0, 23.5, 20.0]})
    >>> review_queue(tbl).tolist()
    [3, 1, 2, 0]
    >>> review_queue(tbl, order='brightest', mag_range=(None, 22.0)).tolist()
    [3, 1, 0]
    >>> review_queue(tbl, order='catalog', only_class=1, region=(0, 20, 0, 100)).tolist()
    [0, 3]
    """
    check_table(tbl)
    check_choice(order, tuple(QUEUE_ORDERS), 'order')
    n = len(tbl)
    rng = np.random.default_rng(seed)
    if order == 'doubtful':
        tie_break = rng.random(n)
        keys = _doubtful_keys(tbl)
        rows = np.lexsort((tie_break, *reversed(keys)))  # NaN sorts last
    elif order == 'disagreement':
        rows = _disagreement_order(tbl, columns)
    elif order == 'brightest':
        rows = np.argsort(_magnitudes(tbl, mag_column), kind='stable')
    elif order == 'random':
        rows = rng.permutation(n)
    else:
        rows = np.arange(n)
    keep = np.ones(n, dtype=bool)
    if unreviewed:
        if store is None:
            msg = 'unreviewed=True needs store= (the LabelStore of the labels)'
            raise ValueError(msg)
        keep &= ~_reviewed(tbl, store, reviewer)
    if only_class is not None:
        classes = _only_classes(only_class)
        name = _default_column(tbl, class_column, MACHINE_CLASS_COLUMNS, 'class_column')
        keep &= np.isin(_class_values(tbl, name, 'class_column'), classes)
    if mag_range is not None:
        if isinstance(mag_range, str) or len(mag_range) != 2:
            msg = f'mag_range must be (brightest, faintest), got {mag_range!r}'
            raise ValueError(msg)
        low, high = (None if v is None else check_float(v, 'mag_range') for v in mag_range)
        if low is not None and high is not None and low > high:
            msg = f'mag_range must be (brightest, faintest) with brightest <= faintest, got ' \
                  f'{mag_range!r}'
            raise ValueError(msg)
        mags = _magnitudes(tbl, mag_column)
        with np.errstate(invalid='ignore'):
            keep &= np.isfinite(mags) & (mags >= (-np.inf if low is None else low)) \
                & (mags <= (np.inf if high is None else high))
    if region is not None:
        keep &= _in_region(tbl, region, wcs)
    return rows[keep[rows]].astype(np.int64)
