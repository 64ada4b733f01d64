"""
Agreement between two classifications of the same objects (Whitmore et al.
2021, §4 and §6.3.2).

Neither classification is taken as the truth. For class k, with n_k the
objects both put in k and N_A(k), N_B(k) the objects each one puts in k,

    f_k = mean(n_k / N_A(k), n_k / N_B(k)).

Only objects that both classifications put in one of the compared classes
(by default 1-4) are used: LEGUS's 0 ("not inspected") and masked labels
are left out. Class 1+2, the standard cluster sample, is also reported as
one class.

Uncertainties:

- single fractions: each ratio p = n_k / N is given its binomial error
  sqrt(p (1 - p) / N); the two ratios share n_k, so their errors are
  taken as fully correlated and the error of f_k is their mean;
- means over classes (and over comparisons): the standard deviation
  (ddof = 1) divided by sqrt(N), as in the paper's Table 1 note.
"""

import numpy as np
from astropy.table import QTable

from .._utils.columns import float_values, require_columns
from .._utils.validation import check_choice
from ..classes import CLASSES, merge_1_2, validate_classes
from ..science import equal_number_bins
from ..tables import check_table, provenance

__all__ = ['agreement_fractions', 'confusion_matrix', 'agreement_vs_property',
           'mean_with_error']

_NORMALIZE = (None, 'a', 'b', 'mean')


def _check_classes(classes):
    classes = tuple(int(k) for k in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes) \
            or not set(classes) <= set(CLASSES):
        msg = (f'classes must be two or more different classes out of '
               f'{list(CLASSES)}, got {classes!r}')
        raise ValueError(msg)
    return classes


def _labels(tbl, column, parameter):
    if not isinstance(column, str):
        msg = f'{parameter} must be a column name, got {type(column).__name__}'
        raise TypeError(msg)
    require_columns(tbl, column, parameter=parameter)
    return validate_classes(tbl[column], parameter=f'{parameter} ({column!r})')


def _paired(tbl, column_a, column_b, classes):
    """Labels of A and B on the rows both put in ``classes``, and that mask."""
    check_table(tbl)
    a = _labels(tbl, column_a, 'column_a')
    b = _labels(tbl, column_b, 'column_b')
    use = (~np.ma.getmaskarray(a) & ~np.ma.getmaskarray(b)
           & np.isin(a.filled(0), classes) & np.isin(b.filled(0), classes))
    return np.asarray(a.filled(0))[use], np.asarray(b.filled(0))[use], use


def _fractions(a, b, groups):
    """Per group of labels: N_A, N_B, n_both, f, f_err (arrays)."""
    rows = []
    for group in groups:
        in_a, in_b = np.isin(a, group), np.isin(b, group)
        n_a, n_b, n = int(in_a.sum()), int(in_b.sum()), int((in_a & in_b).sum())
        if n_a and n_b:
            p_a, p_b = n / n_a, n / n_b
            err = 0.5 * (np.sqrt(p_a * (1 - p_a) / n_a) + np.sqrt(p_b * (1 - p_b) / n_b))
            f = 0.5 * (p_a + p_b)
        else:
            p_a = n / n_a if n_a else np.nan
            p_b = n / n_b if n_b else np.nan
            f = err = np.nan
        rows.append((n_a, n_b, n, p_a, p_b, f, err))
    return rows


def mean_with_error(values):
    """
    Mean of values and its error, std (ddof = 1) / sqrt(N).

    NaN values are ignored. This is how the paper's Table 1 gives the
    means over comparisons and galaxies.

    Returns
    -------
    mean, error : float

    Examples
    --------
    The "mean of means" of class 1 in Table 1 of Whitmore et al. (2021):

    >>> from astro_clusterclass.compare import mean_with_error
    >>> mean, err = mean_with_error([0.80, 0.73, 0.80, 0.82, 0.84])
    >>> round(mean, 2), round(err, 2)
    (0.8, 0.02)
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan
    if len(values) == 1:
        return float(values[0]), np.nan
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def agreement_fractions(tbl, column_a, column_b, *, classes=CLASSES, merged=True):
    """
    Agreement fraction of two classifications, class by class.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        One row per object with both classifications, e.g. the output of
        `~astro_clusterclass.compare.crossmatch` (columns ``class_a`` and
        ``class_b``) or a catalogue with two class columns.
    column_a, column_b : str
        The two class columns. Labels must be in the class scheme (0-4;
        map PHANGS subclasses first with
        `~astro_clusterclass.classes.phangs_to_legus`).
    classes : tuple of int, optional
        Classes to compare; objects either classification puts elsewhere
        are left out.
    merged : bool, optional
        Add a row for class 1+2 as one class (when 1 and 2 are compared).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per class, then ``'mean'`` (mean of the class fractions,
        error std/sqrt(N)) and ``'1+2'``. Columns: ``class`` (str),
        ``n_a`` and ``n_b`` (objects each puts in the class), ``n_both``,
        ``fraction_a`` (n_both / n_a), ``fraction_b`` (n_both / n_b),
        ``fraction`` (their mean, f_k) and ``fraction_err``. ``meta``
        holds ``n_used`` (objects compared) and ``n_rows``.

    Raises
    ------
    ValueError
        If a column is missing or holds labels outside the class scheme.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import agreement_fractions
    >>> tbl = QTable({'a': [1, 1, 1, 2, 2, 3, 4, 4, 0],
    ...               'b': [1, 1, 2, 2, 1, 3, 4, 3, 1]})
    >>> f = agreement_fractions(tbl, 'a', 'b')
    >>> f['fraction'].info.format = '.3f'
    >>> f['class', 'n_a', 'n_b', 'n_both', 'fraction'].pprint()
    class n_a n_b n_both fraction
    ----- --- --- ------ --------
        1   3   3      2    0.667
        2   2   2      1    0.500
        3   1   2      1    0.750
        4   2   1      1    0.750
     mean  --  --     --    0.667
      1+2   5   5      5    1.000
    """
    classes = _check_classes(classes)
    a, b, use = _paired(tbl, column_a, column_b, classes)
    rows = [(str(k), *r) for k, r in zip(classes, _fractions(a, b, [[k] for k in classes]))]
    per_class = np.array([r[6] for r in rows])
    mean, err = mean_with_error(per_class)
    mask_mean = (True, True, True, True, True, False, False)
    rows.append(('mean', 0, 0, 0, np.nan, np.nan, mean, err))
    masks = [(False,) * 7] * len(classes) + [mask_mean]
    if merged and {1, 2} <= set(classes):
        merged_a, merged_b = merge_1_2(a).filled(0), merge_1_2(b).filled(0)
        rows.append(('1+2', *_fractions(merged_a, merged_b, [[1]])[0]))
        masks.append((False,) * 7)
    names = ('class', 'n_a', 'n_b', 'n_both', 'fraction_a', 'fraction_b', 'fraction',
             'fraction_err')
    out = QTable(rows=rows, names=names, masked=True)
    for j, name in enumerate(names[1:]):
        out[name].mask = [m[j] for m in masks]
    out.meta.update(provenance('agreement_fractions', {
        'column_a': column_a, 'column_b': column_b, 'classes': classes, 'merged': merged}))
    out.meta['n_rows'] = len(tbl)
    out.meta['n_used'] = int(use.sum())
    return out


def confusion_matrix(tbl, column_a, column_b, *, classes=CLASSES, normalize='mean'):
    """
    Confusion matrix of two classifications.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        One row per object with both classifications.
    column_a, column_b : str
        Class columns; A's classes are the rows, B's the columns.
    classes : tuple of int, optional
        Classes compared (objects either puts elsewhere are left out).
    normalize : {'mean', None, 'a', 'b'}, optional
        - ``'mean'`` (default): the matrix without a ground truth
          (Whitmore et al. 2021, §6.3.2 footnote): cell (i, j) is the mean
          of count(A=i, B=j) / N_A(i) and count(A=i, B=j) / N_B(j); its
          diagonal equals the agreement fractions f_k;
        - ``None``: the counts;
        - ``'a'``: ordinary confusion matrix with A as the truth, cell
          (i, j) = count / N_A(i) (rows sum to 1);
        - ``'b'``: B as the truth, cell (i, j) = count / N_B(j) (columns
          sum to 1).

        Cells whose class has no objects are NaN.

    Returns
    -------
    table : `~astropy.table.QTable`
        Column ``class_a`` (A's class of the row), then one column
        ``class_b_<j>`` per class j of B. ``meta`` records ``normalize``,
        the column names and ``n_used``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import confusion_matrix
    >>> tbl = QTable({'a': [1, 1, 1, 2, 2, 3, 4, 4], 'b': [1, 1, 2, 2, 1, 3, 4, 3]})
    >>> confusion_matrix(tbl, 'a', 'b', normalize=None).pprint()
    class_a class_b_1 class_b_2 class_b_3 class_b_4
    ------- --------- --------- --------- ---------
          1         2         1         0         0
          2         1         1         0         0
          3         0         0         1         0
          4         0         0         1         1
    """
    classes = _check_classes(classes)
    check_choice(normalize, _NORMALIZE, 'normalize')
    a, b, use = _paired(tbl, column_a, column_b, classes)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    ia = np.array([index[v] for v in a], dtype=np.int64) if len(a) else np.array([], int)
    ib = np.array([index[v] for v in b], dtype=np.int64) if len(b) else np.array([], int)
    counts = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k)
    with np.errstate(invalid='ignore', divide='ignore'):
        by_a = counts / counts.sum(axis=1, keepdims=True)
        by_b = counts / counts.sum(axis=0, keepdims=True)
    matrix = {None: counts, 'a': by_a, 'b': by_b, 'mean': 0.5 * (by_a + by_b)}[normalize]
    out = QTable()
    out['class_a'] = np.array(classes)
    for j, c in enumerate(classes):
        out[f'class_b_{c}'] = matrix[:, j]
    out.meta.update(provenance('confusion_matrix', {
        'column_a': column_a, 'column_b': column_b, 'classes': classes,
        'normalize': normalize}))
    out.meta['normalize'] = normalize
    out.meta['column_a'] = column_a
    out.meta['column_b'] = column_b
    out.meta['n_used'] = int(use.sum())
    return out


def agreement_vs_property(tbl, column_a, column_b, values, *, n_bins=4, classes=CLASSES,
                          merged=True, name=None):
    """
    Agreement fractions in bins of a property holding equal numbers of objects.

    The paper's trends (§4.2-4.4) with magnitude, crowding and local
    background use bins chosen to contain roughly equal numbers of objects
    of all classes.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        One row per object with both classifications.
    column_a, column_b : str
        Class columns.
    values : str or array-like
        The property: a column name of ``tbl`` or one value per row
        (Quantity allowed). NaN and masked values are left out.
    n_bins : int, optional
        Number of bins (fewer when tied values force it, see
        `~astro_clusterclass.science.equal_number_bins`).
    classes, merged : optional
        As in `agreement_fractions`.
    name : str, optional
        Name of the property in the output (default: the column name or
        ``'value'``).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per bin: ``bin``, ``<name>_min``, ``<name>_max``,
        ``<name>_median``, ``n`` (objects compared in the bin), then
        ``fraction_<k>`` and ``fraction_err_<k>`` for each class k,
        ``mean`` and ``1+2``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import agreement_vs_property
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(1, 5, 400)
    >>> tbl = QTable({'a': a, 'b': a, 'mag': rng.uniform(20, 25, 400)})
    >>> trend = agreement_vs_property(tbl, 'a', 'b', 'mag', n_bins=4)
    >>> trend['n'].tolist(), trend['fraction_mean'].tolist()
    ([100, 100, 100, 100], [1.0, 1.0, 1.0, 1.0])
    """
    check_table(tbl)
    classes = _check_classes(classes)
    if isinstance(values, str):
        require_columns(tbl, values, parameter='values')
        name = name or values
        values = tbl[values]
    name = name or 'value'
    prop = float_values(values, 'values')
    if len(prop) != len(tbl):
        msg = f'values has {len(prop)} entries but tbl has {len(tbl)} rows'
        raise ValueError(msg)
    _, _, use = _paired(tbl, column_a, column_b, classes)
    use &= np.isfinite(prop)
    edges = equal_number_bins(prop[use], n_bins)
    which = np.clip(np.searchsorted(edges, prop, side='right') - 1, 0, len(edges) - 2)
    rows = []
    for i in range(len(edges) - 1):
        in_bin = use & (which == i)
        frac = agreement_fractions(tbl[in_bin], column_a, column_b, classes=classes,
                                   merged=merged)
        row = {'bin': i, f'{name}_min': edges[i], f'{name}_max': edges[i + 1],
               f'{name}_median': float(np.median(prop[in_bin])), 'n': int(in_bin.sum())}
        for label, f, e in zip(frac['class'], frac['fraction'], frac['fraction_err']):
            row[f'fraction_{label}'] = float(f)
            row[f'fraction_err_{label}'] = float(np.ma.filled(e, np.nan))
        rows.append(row)
    out = QTable(rows=rows)
    out.meta.update(provenance('agreement_vs_property', {
        'column_a': column_a, 'column_b': column_b, 'property': name, 'n_bins': n_bins,
        'classes': classes}))
    out.meta['property'] = name
    return out
