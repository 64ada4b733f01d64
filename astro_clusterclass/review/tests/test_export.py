"""export_labels: every row kept, input columns identical, ECSV round trip, errors."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable

from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.io import write_table
from astro_clusterclass.review import (REVIEW_EXPORT_COLUMNS, CatalogMismatchError, LabelStore,
                                       consensus, export_labels, review_agreement)


@pytest.fixture
def catalog_file(tmp_path):
    field = make_cluster_field((256, 256), 30, seed=4)
    tbl = field.labelled_candidates(columns=('class', 'subclass', 'mag_F555W'))
    rng = np.random.default_rng(0)
    tbl['flux'] = rng.uniform(1, 10, len(tbl)) * u.electron / u.s
    tbl['note'] = MaskedColumn(['a'] * len(tbl), mask=rng.random(len(tbl)) < 0.3)
    tbl['class_mode'] = MaskedColumn(rng.integers(1, 5, len(tbl)),
                                     mask=rng.random(len(tbl)) < 0.1)
    tbl.meta['origin'] = 'simulated'
    path = tmp_path / 'cat.ecsv'
    tbl.write(path)
    return path


LABELS = {  # row -> {reviewer: (class, subclass)}
    0: {'ann': (1, None), 'bob': (1, None)},
    2: {'ann': (2, None), 'bob': (3, None)},                 # tie
    3: {'ann': (4, '4.7'), 'bob': (4, None), 'cy': (1, None)},
    7: {'cy': (3, None)},
}


@pytest.fixture
def labelled(tmp_path, catalog_file):
    tbl = QTable.read(catalog_file)
    path = tmp_path / 'labels.sqlite'
    with LabelStore(path, catalog=str(catalog_file), images=['a.fits']) as store:
        for row, given in LABELS.items():
            for reviewer, (klass, subclass) in given.items():
                store.add_label(int(tbl['id'][row]), reviewer=reviewer, label=klass,
                                subclass=subclass)
        store.add_label(int(tbl['id'][9]), reviewer='ann', label=2)
        store.undo(reviewer='ann')                           # row 9: reviewed, then undone
    return path, tbl


def same_column(a, b):
    if isinstance(a, SkyCoord):
        return (np.array_equal(a.ra.deg, b.ra.deg) and np.array_equal(a.dec.deg, b.dec.deg)
                and a.frame.name == b.frame.name)
    mask_a = np.ma.getmaskarray(np.ma.asarray(getattr(a, 'value', a)))
    mask_b = np.ma.getmaskarray(np.ma.asarray(getattr(b, 'value', b)))
    data_a = np.asarray(getattr(a, 'value', a))
    data_b = np.asarray(getattr(b, 'value', b))
    return (data_a.dtype == data_b.dtype and data_a.tobytes() == data_b.tobytes()
            and np.array_equal(mask_a, mask_b) and getattr(a, 'unit', None) == getattr(
                b, 'unit', None))


def test_every_row_kept_and_input_columns_identical(labelled):
    path, tbl = labelled
    out = export_labels(path)
    assert len(out) == len(tbl)
    assert out.colnames == tbl.colnames + list(REVIEW_EXPORT_COLUMNS)
    for name in tbl.colnames:
        assert same_column(out[name], tbl[name]), name
    assert out.meta['origin'] == 'simulated'
    # The review columns, row by row, against the labels given above.
    expected_class = {0: 1, 3: 4, 7: 3}
    for row in range(len(tbl)):
        given = LABELS.get(row, {})
        assert out['n_reviews'][row] == len(given)
        assert out['review_tie'][row] == (row == 2)
        if row in expected_class:
            assert out['class_human'][row] == expected_class[row]
        else:
            assert out['class_human'][row] is np.ma.masked
        if given:
            assert out['reviewers'][row] == ','.join(sorted(given))
        else:
            assert out['reviewers'][row] is np.ma.masked
    assert out['subclass_human'].tolist() == [None, None, None, '4.7'] + [None] * (len(tbl) - 4)
    review = out.meta['review']
    assert review['function'] == 'export_labels' and review['label_column'] == 'class_human'
    assert (review['n_rows'], review['n_reviewed'], review['n_consensus'], review['n_ties']) \
        == (len(tbl), 4, 3, 1)
    assert review['reviewers'] == ['ann', 'bob', 'cy'] and review['n_history'] == 10
    assert review['columns'] == {c: c for c in REVIEW_EXPORT_COLUMNS}
    assert review['catalog_path'].endswith('cat.ecsv') and review['image_paths'][0].endswith(
        'a.fits')
    with LabelStore(path) as store:
        assert review['agreement'] == review_agreement(tbl, store)
        agreed = consensus(store)
    assert review['agreement']['machine']['column'] == 'class_mode'
    assert out['class_human'][~out['class_human'].mask].tolist() == \
        agreed['class_consensus'][~agreed['class_consensus'].mask].tolist()


def test_round_trip_through_ecsv_and_fits(tmp_path, labelled):
    path, tbl = labelled
    out = export_labels(path, output=tmp_path / 'labelled.ecsv')
    back = QTable.read(tmp_path / 'labelled.ecsv')
    assert back.colnames == out.colnames and len(back) == len(out)
    for name in out.colnames:
        # Text columns: ECSV keeps the values, not the width of the dtype.
        if getattr(out[name], 'dtype', None) is not None and out[name].dtype.kind == 'U':
            assert back[name].tolist() == out[name].tolist(), name
        else:
            assert same_column(back[name], out[name]), name
    assert back.meta['review'] == out.meta['review']
    with pytest.raises(FileExistsError, match='exists; pass overwrite=True'):
        export_labels(path, output=tmp_path / 'labelled.ecsv')
    export_labels(path, output=tmp_path / 'labelled.ecsv', overwrite=True)
    fits_out = export_labels(path, catalog=tbl, output=tmp_path / 'labelled.fits')
    back = QTable.read(tmp_path / 'labelled.fits')
    assert back['class_human'].tolist() == fits_out['class_human'].tolist()
    assert back['n_reviews'].tolist() == fits_out['n_reviews'].tolist()


def test_the_catalog_is_checked(tmp_path, labelled, catalog_file):
    path, tbl = labelled
    # The same catalog from another file and format is accepted.
    write_table(tbl, tmp_path / 'copy.fits')
    assert len(export_labels(path, catalog=str(tmp_path / 'copy.fits'))) == len(tbl)
    for change in ('id', 'positions'):
        other = tbl.copy()
        if change == 'id':
            other['id'][0] = -1
        else:
            other['x'][0] += 3
        with pytest.raises(CatalogMismatchError, match='cat.ecsv'):
            export_labels(path, catalog=other)
    catalog_file.rename(tmp_path / 'moved.ecsv')
    with pytest.raises(FileNotFoundError, match='pass catalog='):
        export_labels(path)
    assert len(export_labels(path, catalog=tmp_path / 'moved.ecsv')) == len(tbl)
    with LabelStore(tmp_path / 'mem.sqlite', catalog=QTable(tbl, copy=True)) as store:
        with pytest.raises(ValueError, match='records no catalog file'):
            export_labels(store)
        assert len(export_labels(store, catalog=tbl)) == len(tbl)
    with pytest.raises(TypeError, match='store_or_path must be a LabelStore'):
        export_labels(3)


def test_name_clashes_and_earlier_review_meta(tmp_path, labelled):
    path, tbl = labelled
    phangs_like = QTable(tbl, copy=True)
    phangs_like['class_human'] = np.ones(len(tbl), dtype=int)
    phangs_like.meta['review'] = {'function': 'select_for_review'}
    with pytest.raises(ValueError, match=r"already has the columns \['class_human'\].*suffix="):
        export_labels(path, catalog=phangs_like)
    out = export_labels(path, catalog=phangs_like, suffix='_review')
    assert out['class_human'].tolist() == [1] * len(tbl)                   # untouched
    assert out['class_human_review'][0] == 1 and out['n_reviews_review'][0] == 2
    assert out.meta['review']['label_column'] == 'class_human_review'
    assert out.meta['review']['input'] == {'function': 'select_for_review'}


def test_a_store_with_no_labels_exports_every_row_masked(tmp_path, catalog_file):
    with LabelStore(tmp_path / 'empty.sqlite', catalog=str(catalog_file)) as store:
        out = export_labels(store)
    assert len(out) == len(QTable.read(catalog_file))
    assert out['class_human'].mask.all() and not out['n_reviews'].any()
    assert out.meta['review']['n_reviewed'] == 0
