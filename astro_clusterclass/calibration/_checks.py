"""Checks of the probabilities, scores and labels that calibration functions take."""

import numpy as np

from ..classes import CLASSES

__all__ = ['SUM_TOLERANCE', 'check_categories', 'check_labels', 'check_probabilities',
           'check_scores', 'check_pair']

#: How far from 1 a row of probabilities may sum (float32 softmax and
#: averages of float32 values are off by about 1e-7).
SUM_TOLERANCE = 1e-3


def check_categories(categories):
    """``categories`` as an ascending int array of at least two classes."""
    cats = np.asarray(categories)
    if cats.ndim != 1 or cats.size < 2 or not np.issubdtype(cats.dtype, np.integer) \
            or np.any(np.diff(cats) <= 0):
        msg = f'categories must be at least two ascending integer classes, got {categories!r}'
        raise ValueError(msg)
    return cats


def check_labels(labels, categories=CLASSES, *, parameter='labels'):
    """
    Labels as an int array of class indices ``0 .. K-1`` (positions in ``categories``).

    Masked entries, NaN and classes outside ``categories`` (such as the
    LEGUS 0, "not inspected") are refused with the values found.
    """
    cats = check_categories(categories)
    values = np.ma.asarray(labels)
    if values.ndim != 1:
        msg = f'{parameter} must be one-dimensional, got shape {values.shape}'
        raise ValueError(msg)
    if values.size == 0:
        msg = f'{parameter} is empty: there is nothing to score'
        raise ValueError(msg)
    mask = np.ma.getmaskarray(values)
    if mask.any():
        msg = (f'{parameter} has {int(mask.sum())} masked value(s); remove the unlabelled '
               f'objects first')
        raise ValueError(msg)
    data = np.asarray(values.filled(0))
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        msg = f'{parameter} must be the classes {cats.tolist()}, got values of type {data.dtype}'
        raise ValueError(msg)
    data = data.astype(float)
    bad = ~np.isin(data, cats)
    if bad.any():
        shown = sorted({float(v) for v in data[bad] if np.isfinite(v)})
        shown = [int(v) if v.is_integer() else v for v in shown]
        if np.any(~np.isfinite(data[bad])):
            shown.append('nan')
        msg = (f'{parameter} holds {int(bad.sum())} value(s) outside the classes '
               f'{cats.tolist()}: {shown[:10]}')
        raise ValueError(msg)
    return np.searchsorted(cats, data.astype(np.int64))


def _as_matrix(values, k, parameter):
    array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    if array.ndim != 2 or array.shape[1] != k:
        msg = f'{parameter} must have shape (N, {k}) (one column per class), got {array.shape}'
        raise ValueError(msg)
    return array


def _nonfinite_rows(values, parameter, allow_nan):
    """Rows with NaN, inf or masked values: refused, or (``allow_nan``) set to NaN."""
    bad_rows = ~np.isfinite(values).all(axis=1)
    if bad_rows.any():
        if not allow_nan:
            msg = (f'{parameter} has {int(bad_rows.sum())} row(s) with NaN, infinite or '
                   f'masked values (first: row {int(np.flatnonzero(bad_rows)[0])}); remove '
                   f'the unclassified objects first')
            raise ValueError(msg)
        values[bad_rows] = np.nan
    return bad_rows


def check_probabilities(probabilities, k=len(CLASSES), *, parameter='probabilities',
                        allow_nan=False):
    """
    Probabilities as a float64 ``(N, K)`` array whose rows sum to one.

    With ``allow_nan`` a row holding any NaN (or a masked value) becomes a
    row of NaN and is not checked; otherwise such rows are refused.
    """
    prob = _as_matrix(probabilities, k, parameter)
    bad_rows = _nonfinite_rows(prob, parameter, allow_nan)
    good = prob[~bad_rows]
    if np.any(good < -SUM_TOLERANCE) or np.any(good > 1 + SUM_TOLERANCE):
        msg = f'{parameter} must lie between 0 and 1; got values from {good.min()} to {good.max()}'
        raise ValueError(msg)
    sums = good.sum(axis=1)
    off = np.abs(sums - 1) > SUM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(~bad_rows)[np.flatnonzero(off)[0]])
        msg = (f'{parameter}: {int(off.sum())} row(s) do not sum to 1 (within '
               f'{SUM_TOLERANCE:g}; row {first} sums to {sums[off][0]:.6g}); pass class '
               f'probabilities, or scores with kind=\'logits\'')
        raise ValueError(msg)
    prob[~bad_rows] = np.clip(good, 0.0, 1.0)
    return prob


def check_scores(scores, k=len(CLASSES), *, kind, parameter='scores', allow_nan=False):
    """
    Log-scores ``(N, K)`` (float64) from logits or probabilities.

    Probabilities become their logarithms, clipped below at the smallest
    normal float64 so that an exact 0 (an underflowed softmax) stays
    finite. Softmax of the result gives the probabilities back: softmax
    is blind to a constant added to a row, so logits and
    log-probabilities of one model calibrate identically.
    """
    if kind == 'probabilities':
        prob = check_probabilities(scores, k, parameter=parameter, allow_nan=allow_nan)
        with np.errstate(invalid='ignore'):
            return np.log(np.maximum(prob, np.finfo(float).tiny))
    if kind != 'logits':
        msg = f"kind must be 'logits' or 'probabilities'; got {kind!r}"
        raise ValueError(msg)
    logits = _as_matrix(scores, k, parameter)
    _nonfinite_rows(logits, parameter, allow_nan)
    return logits


def check_pair(values, labels, *, parameter='probabilities'):
    """Refuse a ``values``/``labels`` pair of different lengths."""
    if len(values) != len(labels):
        msg = (f'{parameter} has {len(values)} rows but labels has {len(labels)}: one label '
               f'per object')
        raise ValueError(msg)
