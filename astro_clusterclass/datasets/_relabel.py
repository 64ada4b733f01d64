"""
A simulated "second classifier": the truth relabelled through a confusion matrix.

The default matrix, :data:`HUMAN_CONFUSION`, imitates the disagreements
between two human classifications of the same objects (PHANGS-HST vs
LEGUS) described by Whitmore et al. (2021, §4.1, §6.3): frequent 1↔2
swaps, class 3 confused with 2 and 4, and pairs and triplets (4.2, 4.3)
that the second classifier calls class 2 or 3 (LEGUS counts them as
clusters or associations). With the default class mix, comparing the truth
with its relabelling gives agreement fractions close to the NGC 3351
human-to-human values of 82, 53, 46 and 73 % for classes 1-4 (§4.1).
"""

import numpy as np
from astropy.table import QTable

from .._utils.columns import require_columns
from ..classes import CLASSES, SUBCLASSES, validate_classes
from ..tables import check_table, provenance

__all__ = ['HUMAN_CONFUSION', 'relabel_classes']

#: Probability that an object of each true class or subclass is called class
#: 1, 2, 3 or 4 by the second classifier. Keys are classes (int) and, where
#: a subclass behaves differently, subclasses (str); missing subclasses use
#: their class's row.
HUMAN_CONFUSION = {
    1: (0.84, 0.11, 0.01, 0.04),
    2: (0.19, 0.57, 0.12, 0.12),
    3: (0.02, 0.19, 0.52, 0.27),
    4: (0.02, 0.05, 0.06, 0.87),
    '4.2': (0.03, 0.22, 0.15, 0.60),
    '4.3': (0.01, 0.10, 0.44, 0.45),
    '4.9': (0.02, 0.08, 0.22, 0.68),
}


def _matrix_rows(confusion):
    if isinstance(confusion, dict):
        rows = {}
        for key, probs in confusion.items():
            label = str(key)
            if label not in SUBCLASSES and label not in {str(c) for c in CLASSES}:
                msg = (f'confusion has an unknown key {key!r}; use classes 1-4 or '
                       f'subclasses {list(SUBCLASSES)}')
                raise ValueError(msg)
            rows[label] = probs
        missing = [c for c in CLASSES if str(c) not in rows]
        if missing:
            msg = f'confusion must give a row for every class; missing {missing}'
            raise ValueError(msg)
    else:
        matrix = np.asarray(confusion, dtype=float)
        if matrix.shape != (len(CLASSES), len(CLASSES)):
            msg = (f'confusion must be a dict or a {len(CLASSES)}x{len(CLASSES)} matrix '
                   f'(rows: true class, columns: assigned class), got shape {matrix.shape}')
            raise ValueError(msg)
        rows = {str(c): matrix[i] for i, c in enumerate(CLASSES)}
    out = {}
    for label, probs in rows.items():
        probs = np.asarray(probs, dtype=float)
        if probs.shape != (len(CLASSES),) or np.any(~np.isfinite(probs)) or np.any(probs < 0):
            msg = (f'confusion[{label!r}] must be {len(CLASSES)} non-negative '
                   f'probabilities, got {probs.tolist()}')
            raise ValueError(msg)
        if not np.isclose(probs.sum(), 1.0, atol=1e-6):
            msg = f'confusion[{label!r}] must sum to 1, got {probs.sum():.6g}'
            raise ValueError(msg)
        out[label] = probs / probs.sum()
    return out


def relabel_classes(tbl, *, confusion=None, seed=0, class_column='class',
                    subclass_column='subclass'):
    """
    Classify the truth again with a confusion matrix: a seeded second classifier.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Table with true classes (1-4) and, optionally, PHANGS subclasses
        (``'4.2'`` …), such as ``SimulatedField.truth``. Not modified.
    confusion : dict or (4, 4) array-like, optional
        Row = true class (or subclass, for a dict), columns = probabilities
        of being called class 1, 2, 3, 4. Default :data:`HUMAN_CONFUSION`.
    seed : int, optional
        Seed of the random draws.
    class_column, subclass_column : str, optional
        Names of the truth columns (the subclass column may be absent).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per truth row, in the same order: ``id`` (when the truth has
        one), ``x``, ``y`` and ``coord`` (copied when present, so the result
        can be cross-matched) and ``class`` (the new label, 1-4).

    Raises
    ------
    ValueError
        If the classes are outside 1-4 or the matrix is malformed (rows
        must be four non-negative probabilities summing to 1).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.datasets import relabel_classes
    >>> truth = QTable({'id': [1, 2, 3, 4], 'class': [1, 2, 3, 4]})
    >>> relabel_classes(truth, confusion=[[1, 0, 0, 0], [0, 0, 1, 0],
    ...                                    [0, 0, 1, 0], [0, 0, 0, 1]])['class'].tolist()
    [1, 3, 3, 4]
    """
    check_table(tbl)
    require_columns(tbl, class_column, parameter='class_column')
    classes = validate_classes(tbl[class_column], allow_zero=False,
                               parameter=f'tbl[{class_column!r}]')
    if np.ma.is_masked(classes):
        msg = f'tbl[{class_column!r}] has masked classes; every row needs a true class'
        raise ValueError(msg)
    classes = np.asarray(classes)
    if subclass_column in tbl.colnames:
        sub = np.ma.asarray(tbl[subclass_column]).astype(str).filled('')
    else:
        sub = np.full(len(tbl), '')
    rows = _matrix_rows(HUMAN_CONFUSION if confusion is None else confusion)
    probs = np.array([rows.get(s, rows[str(c)]) if s else rows[str(c)]
                      for c, s in zip(classes, sub)]).reshape(len(tbl), len(CLASSES))
    rng = np.random.default_rng(seed)
    u_ = rng.random(len(tbl))
    new = np.array(CLASSES)[np.minimum((u_[:, None] > np.cumsum(probs, axis=1)).sum(axis=1),
                                       len(CLASSES) - 1)]
    out = QTable()
    for name in ('id', 'x', 'y', 'coord'):
        if name in tbl.colnames:
            out[name] = tbl[name].copy()
    out['class'] = new.astype(int)
    out.meta.update(provenance('relabel_classes', {
        'confusion': 'HUMAN_CONFUSION' if confusion is None else confusion, 'seed': seed}))
    return out
