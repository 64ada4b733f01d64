"""Choosing the candidates a person should label next (active learning)."""

import numpy as np
from astropy.table import QTable

from .._utils.columns import column_values, require_columns
from .._utils.validation import check_choice, positive_int
from ..classes import CLASSES
from ..tables import check_table, provenance
from ._scaling import probabilities_from_table
from ._uncertainty import entropy, margin

__all__ = ['select_for_review', 'REVIEW_STRATEGIES', 'REVIEW_COLUMNS']

#: Ways of ranking candidates for review, and what comes first.
REVIEW_STRATEGIES = {
    'entropy': 'largest entropy of the ensemble probabilities (prob_entropy)',
    'margin': 'smallest margin between the two most probable classes (prob_margin)',
    'disagreement': 'largest mutual information between class and model (prob_mutual_info)',
    'quality': 'smallest fraction of models agreeing with the mode (class_quality)',
    'random': 'uniformly at random',
    'magnitude': 'brightest first (magnitude_column)',
}

#: Columns added to the selected rows.
REVIEW_COLUMNS = ('review_rank', 'review_row', 'review_score')


def _excluded(tbl, exclude):
    """Boolean mask of the rows ``exclude`` names."""
    n = len(tbl)
    if exclude is None:
        return np.zeros(n, dtype=bool)
    if isinstance(exclude, str):
        require_columns(tbl, [exclude], parameter='exclude')
        column = tbl[exclude]
        values = np.ma.asarray(column)
        if values.dtype == bool:
            return np.asarray(values.filled(False))
        data = np.ma.masked_invalid(np.ma.asarray(column, dtype=float))
        return ~np.ma.getmaskarray(data) & np.isin(data.filled(0), CLASSES)
    mask = np.asarray(exclude)
    if mask.dtype != bool or mask.shape != (n,):
        msg = (f'exclude must be a column name or {n} booleans (one per row), got '
               f'{mask.dtype} of shape {mask.shape}')
        raise ValueError(msg)
    return mask


def _scores(tbl, strategy, rng, magnitude_column):
    """(score, ascending): the criterion of every row (NaN: not eligible)."""
    n = len(tbl)
    if strategy == 'random':
        return rng.random(n), True
    if strategy == 'magnitude':
        return column_values(tbl, magnitude_column, parameter='magnitude_column'), True
    if strategy == 'quality':
        return column_values(tbl, 'class_quality', parameter='tbl'), True
    if strategy == 'disagreement':
        require_columns(tbl, ['prob_mutual_info'], parameter='tbl')
        if 'n_models' in tbl.colnames and not np.any(np.ma.filled(tbl['n_models'], 0) > 1):
            msg = ("strategy='disagreement' ranks by how much the models of an ensemble "
                   "disagree; tbl was classified by one model (n_models = 1)")
            raise ValueError(msg)
        return column_values(tbl, 'prob_mutual_info', parameter='tbl'), False
    column = {'entropy': 'prob_entropy', 'margin': 'prob_margin'}[strategy]
    if column in tbl.colnames:
        values = column_values(tbl, column, parameter='tbl')
    else:
        values = (entropy if strategy == 'entropy' else margin)(probabilities_from_table(tbl))
    return values, strategy == 'margin'


def select_for_review(tbl, n, *, strategy='entropy', seed=0, exclude=None,
                      magnitude_column='mag_F555W'):
    """
    The ``n`` candidates to label next, most useful first.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Classified candidates (`~astro_clusterclass.classify.classify_table`).
    n : int
        How many to return (fewer when fewer are eligible).
    strategy : str, optional
        Ranking (:data:`REVIEW_STRATEGIES`): ``'entropy'``, ``'margin'``,
        ``'disagreement'`` (needs an ensemble), ``'quality'`` (the vote
        fraction of Whitmore et al. 2021), ``'random'`` or ``'magnitude'``.
    seed : int, optional
        Seed of the random order that breaks ties (and of ``'random'``).
    exclude : str or array-like of bool, optional
        Rows not to return: a boolean mask, a boolean column, or a column
        of labels (rows that already have a class 1-4 are skipped).
    magnitude_column : str, optional
        Magnitudes for ``strategy='magnitude'``.

    Returns
    -------
    rows : `~astropy.table.QTable`
        The selected rows in order, with ``review_rank`` (1 = first),
        ``review_row`` (row index in ``tbl``) and ``review_score`` (the
        criterion: entropy, margin, ... or the random key).
        ``rows.meta['review']`` records the strategy, seed and counts.
        Rows without a score (unclassified: masked probabilities; NaN
        magnitudes) are never selected.

    Raises
    ------
    ValueError
        For an unknown strategy, missing columns, ``'disagreement'`` on a
        single model's classification, or a bad ``exclude``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.calibration import select_for_review
    >>> tbl = QTable({'id': [1, 2, 3], 'prob_1': [0.9, 0.4, 0.6], 'prob_2': [0.1, 0.4, 0.4],
    ...               'prob_3': [0.0, 0.1, 0.0], 'prob_4': [0.0, 0.1, 0.0]})
    >>> select_for_review(tbl, 2)['id'].tolist()
    [2, 3]
    >>> select_for_review(tbl, 2, strategy='margin')['review_score'].round(2).tolist()
    [0.0, 0.2]
    """
    check_table(tbl)
    n = positive_int(n, 'n')
    check_choice(strategy, tuple(REVIEW_STRATEGIES), 'strategy')
    clash = [c for c in REVIEW_COLUMNS if c in tbl.colnames]
    if clash:
        msg = f'tbl already has the columns {clash}; remove or rename them first'
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    tie_break = rng.random(len(tbl))
    score, ascending = _scores(tbl, strategy, rng, magnitude_column)
    skipped = _excluded(tbl, exclude)
    eligible = np.isfinite(score) & ~skipped
    rows = np.flatnonzero(eligible)
    key = score[rows] if ascending else -score[rows]
    rows = rows[np.lexsort((tie_break[rows], key))][:n]
    out = QTable(tbl[rows], copy=True)
    out['review_rank'] = np.arange(1, len(rows) + 1)
    out['review_row'] = rows.astype(np.int64)
    out['review_score'] = score[rows]
    out['review_rank'].description = 'order of review (1 = first)'
    out['review_row'].description = 'row index in the classified table'
    out['review_score'].description = f'{strategy}: {REVIEW_STRATEGIES[strategy]}'
    step = provenance('select_for_review', {'n': n, 'strategy': strategy, 'seed': seed,
                                            'exclude': exclude if isinstance(exclude, str)
                                            else None if exclude is None else 'mask',
                                            'magnitude_column': magnitude_column})
    step.update({'strategy': strategy, 'n_rows': len(tbl), 'n_excluded': int(skipped.sum()),
                 'n_eligible': int(eligible.sum()), 'n_selected': len(rows),
                 'order': REVIEW_STRATEGIES[strategy]})
    out.meta['review'] = step
    return out
