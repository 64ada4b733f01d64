"""The labelled catalog: every row of the catalog with the reviewers' consensus added."""

import os

import numpy as np
from astropy.table import MaskedColumn, QTable

from ..io import write_table
from ..tables import check_table, provenance
from ._consensus import consensus, review_agreement
from ._store import LabelStore

__all__ = ['export_labels', 'REVIEW_EXPORT_COLUMNS']

#: Columns `export_labels` adds (each name followed by its ``suffix``).
REVIEW_EXPORT_COLUMNS = ('class_human', 'subclass_human', 'n_reviews', 'reviewers', 'review_tie')

_DESCRIPTIONS = {
    'class_human': "consensus (mode) of the reviewers' classes; masked: not reviewed, or a tie",
    'subclass_human': 'consensus of the class-4 subclasses given; masked: none',
    'n_reviews': 'reviewers with a current label (0: not reviewed)',
    'reviewers': 'names of the reviewers, comma-separated; masked: not reviewed',
    'review_tie': 'two or more classes share the largest number of reviewers',
}


def _read_catalog(store):
    path = store.info['catalog_path']
    if path is None:
        msg = (f'catalog: the label database {os.fspath(store.path)!r} records no catalog '
               f'file (it was made from a table); pass catalog=')
        raise ValueError(msg)
    if not os.path.exists(path):
        msg = (f'catalog: the catalog recorded by {os.fspath(store.path)!r}, {path!r}, does '
               f'not exist; pass catalog= (the same catalog, read from where it is now)')
        raise FileNotFoundError(msg)
    fmt = store.info.get('catalog_format')
    return QTable.read(path, **({'format': fmt} if fmt else {})), path


def export_labels(store_or_path, *, catalog=None, suffix='', output=None, overwrite=False):
    """
    The catalog with the review columns added: every row kept, the input columns untouched.

    Parameters
    ----------
    store_or_path : `LabelStore` or str or path-like
        The labels (a store, or its database file).
    catalog : `~astropy.table.Table` or str or path-like, optional
        The catalog (a table or a file); default: the file the database
        records. It must be the database's
        (``LabelStore.check_catalog``).
    suffix : str, optional
        Appended to the names of the added columns, for a catalog that
        already has columns of these names (PHANGS-HST catalogs have a
        ``class_human``).
    output : str or path-like, optional
        Also write the table there (`~astro_clusterclass.io.write_table`:
        format from the extension, written atomically).
    overwrite : bool, optional
        Replace an existing ``output``.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy of the catalog (every row, in order; its columns and
        ``meta`` as they were) with :data:`REVIEW_EXPORT_COLUMNS` added:

        - ``class_human``: the consensus class (`consensus`: the mode of
          the reviewers' current labels), masked where nobody reviewed the
          candidate and where the reviewers are tied;
        - ``subclass_human``: the consensus subclass of class 4 (masked:
          none);
        - ``n_reviews``: how many reviewers label it (0: not reviewed);
        - ``reviewers``: their names, comma-separated (masked: none);
        - ``review_tie``: True for a tie.

        ``meta['review']`` records the provenance (database, catalog file,
        fingerprint), the reviewers, the counts (``n_rows``,
        ``n_reviewed``, ``n_consensus``, ``n_ties``, ``n_history``), the
        added ``columns``, ``label_column`` (the name of ``class_human``,
        which ``clusterclass train`` uses by default) and the
        ``agreement`` (`review_agreement`). A ``meta['review']`` the
        catalog already had is kept under ``meta['review']['input']``.

    Raises
    ------
    CatalogMismatchError
        If ``catalog`` is not the database's catalog.
    ValueError
        If the catalog already has a column of an added name (use
        ``suffix``), or the database records no catalog file and none is
        given.
    FileNotFoundError
        If the recorded catalog file is gone.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import LabelStore, export_labels
    >>> work = tempfile.mkdtemp()
    >>> QTable({'id': [1, 2, 3], 'x': [5.0, 9.0, 14.0], 'y': [4.0, 8.0, 2.0]}).write(
    ...     os.path.join(work, 'cat.ecsv'))
    >>> with LabelStore(os.path.join(work, 'labels.sqlite'),
    ...                 catalog=os.path.join(work, 'cat.ecsv')) as store:
    ...     _ = store.add_label(2, reviewer='ann', label=4, subclass='4.1')
    ...     _ = store.add_label(2, reviewer='bob', label=4)
    ...     _ = store.add_label(3, reviewer='ann', label=1)
    >>> out = export_labels(os.path.join(work, 'labels.sqlite'),
    ...                     output=os.path.join(work, 'labelled.ecsv'))
    >>> out['class_human'].tolist(), out['subclass_human'].tolist(), out['n_reviews'].tolist()
    ([None, 4, 1], [None, '4.1', None], [0, 2, 1])
    >>> QTable.read(os.path.join(work, 'labelled.ecsv')).meta['review']['label_column']
    'class_human'
    """
    if isinstance(store_or_path, LabelStore):
        return _export(store_or_path, catalog, suffix, output, overwrite)
    if not isinstance(store_or_path, (str, os.PathLike)):
        msg = (f'store_or_path must be a LabelStore or a database file, got '
               f'{type(store_or_path).__name__}')
        raise TypeError(msg)
    with LabelStore(store_or_path) as store:
        return _export(store, catalog, suffix, output, overwrite)


def _export(store, catalog, suffix, output, overwrite):
    if not isinstance(suffix, str):
        msg = f'suffix must be a string, got {type(suffix).__name__}'
        raise TypeError(msg)
    if catalog is None:
        catalog, catalog_path = _read_catalog(store)
    elif isinstance(catalog, (str, os.PathLike)):
        catalog_path = os.path.abspath(os.fspath(catalog))
        fmt = store.info.get('catalog_format')
        catalog = QTable.read(catalog_path, **({'format': fmt} if fmt else {}))
    else:
        check_table(catalog, parameter='catalog')
        catalog_path = catalog.meta.get('file')
    id_column = store.info['id_column']
    store.check_catalog(catalog, catalog_path=catalog_path)
    names = {name: f'{name}{suffix}' for name in REVIEW_EXPORT_COLUMNS}
    clash = [n for n in names.values() if n in catalog.colnames]
    if clash:
        msg = (f'the catalog already has the columns {clash}; pass suffix= (e.g. '
               f"suffix='_review') to add the review columns under other names")
        raise ValueError(msg)

    agreed = consensus(store)
    rows_of = store.candidate_rows()
    n = len(catalog)
    rows = np.array([rows_of[c] for c in agreed['candidate'].tolist()], dtype=np.int64)
    klass = np.zeros(n, dtype=np.int64)
    class_mask = np.ones(n, dtype=bool)
    subclass = np.full(n, '', dtype='U5')
    subclass_mask = np.ones(n, dtype=bool)
    n_reviews = np.zeros(n, dtype=np.int64)
    width = max([1, *(len(r) for r in agreed['reviewers'])])
    reviewers = np.full(n, '', dtype=f'U{width}')
    tie = np.zeros(n, dtype=bool)
    if len(rows):
        klass[rows] = agreed['class_consensus'].filled(0)
        class_mask[rows] = np.ma.getmaskarray(agreed['class_consensus'])
        subclass[rows] = agreed['subclass_consensus'].filled('')
        subclass_mask[rows] = np.ma.getmaskarray(agreed['subclass_consensus'])
        n_reviews[rows] = agreed['n_reviews']
        reviewers[rows] = agreed['reviewers']
        tie[rows] = agreed['tie']

    out = QTable(catalog, copy=True)
    out.meta = type(catalog.meta)(catalog.meta)
    added = {
        'class_human': MaskedColumn(klass, mask=class_mask),
        'subclass_human': MaskedColumn(subclass, mask=subclass_mask),
        'n_reviews': n_reviews,
        'reviewers': MaskedColumn(reviewers, mask=n_reviews == 0),
        'review_tie': tie,
    }
    for name, values in added.items():
        out[names[name]] = values
        out[names[name]].description = _DESCRIPTIONS[name]

    step = provenance('export_labels', {'database': os.path.abspath(os.fspath(store.path)),
                                        'suffix': suffix})
    step.update({
        'database': os.path.abspath(os.fspath(store.path)),
        'catalog_path': store.info['catalog_path'],
        'image_paths': list(store.info['image_paths']),
        'fingerprint': store.info['fingerprint'],
        'id_column': id_column,
        'reviewers': store.reviewers(),
        'n_rows': n,
        'n_reviewed': int((n_reviews > 0).sum()),
        'n_consensus': int((~class_mask).sum()),
        'n_ties': int(tie.sum()),
        'n_history': store.n_labels(),
        'columns': names,
        'label_column': names['class_human'],
        'agreement': review_agreement(catalog, store),
    })
    if 'review' in catalog.meta:
        step['input'] = catalog.meta['review']
    out.meta['review'] = step
    if output is not None:
        write_table(out, output, overwrite=overwrite)
    return out
