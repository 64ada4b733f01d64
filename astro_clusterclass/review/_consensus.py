"""
Several reviewers: the consensus class of each candidate and how well reviewers agree.

The consensus is the mode of the reviewers' current labels (LEGUS took
the mode of three humans). When two or more classes share the largest
count the candidate is a tie: it has no consensus class (masked) and
``tie`` is True, so that neither a lower nor a higher class is preferred
silently. Agreement is measured with the package's own
`~astro_clusterclass.compare.agreement_fractions` and
`~astro_clusterclass.compare.confusion_matrix` (Whitmore et al. 2021):
between every pair of reviewers on the candidates both labelled, and
between the human consensus and the machine's class.
"""

import collections
import itertools
import math

import numpy as np
from astropy.table import MaskedColumn, QTable

from .._utils.validation import check_choice
from ..classes import CLASSES
from ..compare import agreement_fractions, confusion_matrix
from ..tables import check_table, provenance
from ._store import LabelStore

__all__ = ['consensus', 'review_agreement', 'CONSENSUS_COLUMNS']

#: Columns of `consensus`, in order.
CONSENSUS_COLUMNS = ('candidate', 'class_consensus', 'subclass_consensus', 'n_reviews',
                     'n_agree', 'reviewers', 'tie')

# Machine class columns tried, in order, by review_agreement(machine_column='auto').
_MACHINE_COLUMNS = ('class_mode', 'class_ml')


def _check_store(store):
    if not isinstance(store, LabelStore):
        msg = f'store must be a LabelStore, got {type(store).__name__}'
        raise TypeError(msg)


def _mode(values):
    """(most common value, its count, tie) of a non-empty list (ties: value None)."""
    counts = collections.Counter(values).most_common()
    best = counts[0][1]
    leaders = [v for v, c in counts if c == best]
    return (leaders[0] if len(leaders) == 1 else None), best, len(leaders) > 1


def _consensus_rows(labels):
    """One tuple per candidate of ``store.current()``'s dict."""
    rows = []
    for candidate, records in labels.items():
        klass, n_agree, tie = _mode([r['label'] for r in records])
        subclass = None
        if klass == 4:
            given = [r['subclass'] for r in records if r['label'] == 4 and r['subclass']]
            if given:
                subclass = _mode(given)[0]  # None when tied
        rows.append((candidate, klass, subclass, len(records), n_agree,
                     ','.join(sorted(r['reviewer'] for r in records)), tie))
    return rows


def consensus(store, *, candidates=None):
    """
    The consensus class of every labelled candidate.

    Parameters
    ----------
    store : `LabelStore`
        The labels.
    candidates : sequence of int or str, optional
        Only these candidates (default: every candidate with a label).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per candidate with at least one current label, in catalog
        order; columns (:data:`CONSENSUS_COLUMNS`):

        - ``candidate``: the id;
        - ``class_consensus``: the mode of the reviewers' labels; masked
          for a tie;
        - ``subclass_consensus``: for class 4, the mode of the
          subclasses its reviewers gave; masked (``''``) when none gave
          one, when they are tied, and for the other classes;
        - ``n_reviews``: reviewers with a current label;
        - ``n_agree``: reviewers who gave the most common class;
        - ``reviewers``: their names, sorted, joined by commas;
        - ``tie``: True when two or more classes share the largest count.

        ``meta`` holds the provenance and the counts.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import LabelStore, consensus
    >>> catalog = QTable({'id': [1, 2], 'x': [5.0, 9.0], 'y': [4.0, 8.0]})
    >>> store = LabelStore(os.path.join(tempfile.mkdtemp(), 'l.sqlite'), catalog=catalog)
    >>> for reviewer, labels in (('ann', (1, 4)), ('bob', (1, 3)), ('cy', (2, 4))):
    ...     for candidate, label in zip((1, 2), labels):
    ...         _ = store.add_label(candidate, reviewer=reviewer, label=label)
    >>> _ = store.add_label(2, reviewer='cy', label=4, subclass='4.7')
    >>> result = consensus(store)
    >>> result['class_consensus'].tolist(), result['subclass_consensus'].tolist()
    ([1, 4], [None, '4.7'])
    >>> result['n_agree'].tolist(), result['tie'].tolist()
    ([2, 2], [False, False])
    >>> _ = store.add_label(2, reviewer='cy', label=1)     # 4, 3 and 1: a tie
    >>> tied = consensus(store, candidates=[2])
    >>> tied['class_consensus'].tolist(), tied['n_agree'].tolist(), tied['tie'].tolist()
    ([None], [1], [True])
    >>> store.close()
    """
    _check_store(store)
    labels = store.current(candidates=candidates)
    rows = _consensus_rows(labels)
    kind = int if store.info['id_kind'] == 'int' else str
    out = QTable()
    out['candidate'] = np.array([r[0] for r in rows], dtype=kind)
    out['class_consensus'] = MaskedColumn([r[1] or 0 for r in rows], dtype=np.int64,
                                          mask=[r[1] is None for r in rows])
    out['subclass_consensus'] = MaskedColumn([r[2] or '' for r in rows], dtype='U5',
                                             mask=[r[2] is None for r in rows])
    out['n_reviews'] = np.array([r[3] for r in rows], dtype=np.int64)
    out['n_agree'] = np.array([r[4] for r in rows], dtype=np.int64)
    out['reviewers'] = np.array([r[5] for r in rows], dtype=str)
    out['tie'] = np.array([r[6] for r in rows], dtype=bool)
    out['class_consensus'].description = 'mode of the reviewers\' classes (masked: tie)'
    out['subclass_consensus'].description = 'mode of the class-4 subclasses given'
    out['n_reviews'].description = 'reviewers with a current label'
    out['n_agree'].description = 'reviewers who gave the most common class'
    out['reviewers'].description = 'names of the reviewers, comma-separated'
    out['tie'].description = 'two or more classes share the largest count'
    out.meta.update(provenance('consensus', {'store': str(store.path),
                                             'candidates': None if candidates is None
                                             else 'list'}))
    out.meta['n_labelled'] = len(rows)
    out.meta['n_ties'] = int(out['tie'].sum())
    return out


def _number(value):
    """A JSON-safe float (None for NaN or masked)."""
    if value is np.ma.masked:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _agreement(tbl, column_a, column_b, classes):
    """Fractions and confusion matrices of two class columns, as plain numbers."""
    fractions = agreement_fractions(tbl, column_a, column_b, classes=classes)
    counts = confusion_matrix(tbl, column_a, column_b, classes=classes, normalize=None)
    mean = confusion_matrix(tbl, column_a, column_b, classes=classes, normalize='mean')
    names = [f'class_b_{k}' for k in classes]
    return {
        'n_used': int(fractions.meta['n_used']),
        'fractions': {str(r['class']): _number(r['fraction']) for r in fractions},
        'fraction_errors': {str(r['class']): _number(r['fraction_err']) for r in fractions},
        'confusion': [[int(row[n]) for n in names] for row in counts],
        'confusion_mean': [[_number(row[n]) for n in names] for row in mean],
    }


def review_agreement(tbl, store, *, machine_column='auto', classes=CLASSES):
    """
    Agreement between reviewers, and between the human consensus and the machine.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The store's catalog (its ``id_column`` links labels to rows), with
        the machine's classes.
    store : `LabelStore`
        The labels.
    machine_column : str or None, optional
        The machine's class column; ``'auto'`` (default) takes the first of
        ``class_mode`` (`~astro_clusterclass.classify.classify_table`) and
        ``class_ml`` (PHANGS-HST catalogs) present, and leaves the machine
        out when neither is; None leaves it out.
    classes : tuple of int, optional
        Classes compared (`~astro_clusterclass.compare.agreement_fractions`).

    Returns
    -------
    agreement : dict
        Plain numbers, lists and strings (JSON-serializable; NaN becomes
        None):

        - ``reviewers``, ``classes``, ``n_labelled`` (candidates with a
          label), ``n_consensus`` (with a consensus class), ``n_ties``;
        - ``pairs``: one dict per pair of reviewers (``reviewer_a``,
          ``reviewer_b``, ``n_common``: candidates both labelled), with
          ``n_used``, ``fractions`` and ``fraction_errors`` (class →
          f_k, and ``'mean'`` and ``'1+2'``), ``confusion`` (counts, A's
          classes as rows) and ``confusion_mean`` (the matrix without a
          ground truth);
        - ``inter_reviewer_mean``: the mean over the pairs of their mean
          fraction (None without pairs);
        - ``machine``: the same numbers for the consensus (column A)
          against ``machine_column`` (column B), with ``column`` and
          ``n_common``; None without a machine column.

    Raises
    ------
    ValueError
        If ``tbl`` lacks the store's id column or ``machine_column``.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import LabelStore, review_agreement
    >>> tbl = QTable({'id': [1, 2, 3, 4], 'x': [1.0, 2.0, 3.0, 4.0],
    ...               'y': [1.0, 2.0, 3.0, 4.0], 'class_mode': [1, 2, 3, 3]})
    >>> store = LabelStore(os.path.join(tempfile.mkdtemp(), 'l.sqlite'), catalog=tbl)
    >>> for candidate, a, b in ((1, 1, 1), (2, 2, 1), (3, 3, 3), (4, 4, 4)):
    ...     _ = store.add_label(candidate, reviewer='ann', label=a)
    ...     _ = store.add_label(candidate, reviewer='bob', label=b)
    >>> result = review_agreement(tbl, store)
    >>> pair = result['pairs'][0]
    >>> pair['reviewer_a'], pair['reviewer_b'], pair['n_common'], pair['confusion'][1]
    ('ann', 'bob', 4, [1, 0, 0, 0])
    >>> result['machine']['column'], result['machine']['fractions']['3']
    ('class_mode', 0.75)
    >>> store.close()
    """
    check_table(tbl)
    _check_store(store)
    id_column = store.info['id_column']
    if id_column not in tbl.colnames:
        msg = (f"tbl: the label database identifies candidates by the column {id_column!r}, "
               f"which tbl does not have; the columns are {tbl.colnames}")
        raise ValueError(msg)
    if machine_column == 'auto':
        machine_column = next((c for c in _MACHINE_COLUMNS if c in tbl.colnames), None)
    elif machine_column is not None:
        if not isinstance(machine_column, str) or machine_column not in tbl.colnames:
            msg = (f'machine_column: {machine_column!r} is not a column; the columns are '
                   f'{tbl.colnames}')
            raise ValueError(msg)
    classes = tuple(int(check_choice(k, CLASSES, 'classes')) for k in classes)
    labels = store.current()
    reviewers = sorted({r['reviewer'] for records in labels.values() for r in records})
    by_reviewer = {name: {} for name in reviewers}
    for candidate, records in labels.items():
        for r in records:
            by_reviewer[r['reviewer']][candidate] = r['label']
    pairs = []
    for a, b in itertools.combinations(reviewers, 2):
        common = sorted(set(by_reviewer[a]) & set(by_reviewer[b]))
        pair_tbl = QTable({'a': np.array([by_reviewer[a][c] for c in common], dtype=np.int64),
                           'b': np.array([by_reviewer[b][c] for c in common], dtype=np.int64)})
        pairs.append({'reviewer_a': a, 'reviewer_b': b, 'n_common': len(common),
                      **_agreement(pair_tbl, 'a', 'b', classes)})
    means = [p['fractions']['mean'] for p in pairs if p['fractions']['mean'] is not None]
    rows = _consensus_rows(labels)
    agreed = {r[0]: r[1] for r in rows if r[1] is not None}
    result = {
        'reviewers': reviewers, 'classes': list(classes), 'n_labelled': len(rows),
        'n_consensus': len(agreed), 'n_ties': sum(1 for r in rows if r[6]),
        'pairs': pairs,
        'inter_reviewer_mean': float(np.mean(means)) if means else None,
        'machine': None,
    }
    if machine_column is not None:
        if store.info['id_kind'] == 'int':
            ids = [int(v) for v in np.asarray(tbl[id_column])]
        else:
            ids = [str(v) for v in np.asarray(tbl[id_column])]
        row_of = {c: i for i, c in enumerate(ids)}
        common = [c for c in agreed if c in row_of]
        rows_used = np.array([row_of[c] for c in common], dtype=np.int64)
        pair_tbl = QTable({'human': np.array([agreed[c] for c in common], dtype=np.int64),
                           'machine': tbl[machine_column][rows_used]})
        result['machine'] = {'column': machine_column, 'n_common': len(common),
                             **_agreement(pair_tbl, 'human', 'machine', classes)}
    return result
