"""`compare_catalogs`: its numbers against independent computations, files and errors."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Distance, SkyCoord
from astropy.table import QTable

from astro_clusterclass.compare import (CONFUSION_NORMALIZATIONS, NORMALIZING_MV,
                                        CatalogComparison, agreement_fractions,
                                        agreement_vs_property, compare_catalogs,
                                        confusion_matrix, crossmatch)

DM = 30.0

# The colour boxes of SPEC §6 (V-I and U-B limits), written out again here.
BOXES = {1: ((0.95, 1.5), (-0.4, 1.0)), 2: ((0.2, 0.95), (-0.4, 1.0)),
         3: ((0.2, 0.95), (-1.1, -0.4)), 4: ((-0.6, 0.95), (-1.8, -1.1))}


def _catalogs(seed=0, n=400):
    """Catalog A (five magnitudes, classes 0-4) and B (80 % of A, shifted, 70 % same class)."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 500, n), rng.uniform(0, 500, n)
    v = rng.uniform(20.0, 24.5, n)
    vi = rng.uniform(-0.7, 1.6, n)
    ub = rng.uniform(-1.9, 1.1, n)
    b = v + rng.uniform(-0.3, 0.5, n)
    a = QTable({'x': x, 'y': y, 'class': rng.integers(0, 5, n),
                'mag_F275W': (b + 0.5) * u.mag, 'mag_F336W': (b + ub) * u.mag,
                'mag_F438W': b * u.mag, 'mag_F555W': v * u.mag, 'mag_F814W': (v - vi) * u.mag})
    keep = rng.uniform(size=n) < 0.8
    m = int(keep.sum())
    other = QTable({'x': x[keep] + rng.normal(0, 0.4, m), 'y': y[keep] + rng.normal(0, 0.4, m),
                    'klass': np.where(rng.uniform(size=m) < 0.7, a['class'][keep],
                                      rng.integers(1, 5, m))})
    for name in ('mag_F336W', 'mag_F438W', 'mag_F555W', 'mag_F814W'):
        other[name] = a[name][keep] + rng.normal(0, 0.02, m) * u.mag
    return a, other


def _fractions(a, b):
    """f_k = mean(n_k / N_A(k), n_k / N_B(k)) over objects both put in 1-4 (SPEC §5)."""
    use = (a >= 1) & (a <= 4) & (b >= 1) & (b <= 4)
    a, b = a[use], b[use]
    out = {}
    for name, members in (('1', [1]), ('2', [2]), ('3', [3]), ('4', [4]), ('1+2', [1, 2])):
        in_a, in_b = np.isin(a, members), np.isin(b, members)
        both = np.sum(in_a & in_b)
        out[name] = np.mean([both / in_a.sum(), both / in_b.sum()])
    return out, int(use.sum())


def _box_counts(tbl, column, dm, limit):
    v = tbl['mag_F555W'].to_value(u.mag)
    vi = v - tbl['mag_F814W'].to_value(u.mag)
    ub = tbl['mag_F336W'].to_value(u.mag) - tbl['mag_F438W'].to_value(u.mag)
    labels = np.asarray(tbl[column])
    bright = v - dm < limit
    counts = {}
    for label, members in (('1', [1]), ('2', [2]), ('3', [3]), ('4', [4]), ('1+2', [1, 2])):
        for box, ((vi0, vi1), (ub0, ub1)) in BOXES.items():
            inside = (vi > vi0) & (vi < vi1) & (ub > ub0) & (ub < ub1)
            counts[label, box] = int(np.sum(bright & inside & np.isin(labels, members)))
    return counts


@pytest.fixture(scope='module')
def pair():
    return _catalogs()


@pytest.fixture(scope='module')
def result(pair):
    a, b = pair
    return compare_catalogs(a, b, class_column_b='klass', name_a='A', distance_modulus=DM)


def test_matches_are_the_crossmatch(pair, result):
    a, b = pair
    matches = crossmatch(a, b, radius=2.0)
    assert isinstance(result, CatalogComparison)
    assert result.pairs is result.matches
    assert len(result.matches) == len(matches) == result.n_compared
    np.testing.assert_array_equal(result.matches['index_a'], matches['index_a'])
    np.testing.assert_array_equal(result.matches['index_b'], matches['index_b'])
    assert (result.column_a, result.column_b) == ('class_a', 'klass_b')
    assert (result.name_a, result.name_b) == ('A', 'klass')
    default = compare_catalogs(a, b, class_column_b='klass')
    assert (default.name_a, default.name_b) == ('class', 'klass')  # the column names differ


def test_agreement_fractions_match_independent_numbers(pair, result):
    a, b = pair
    matches = crossmatch(a, b, radius=2.0)
    direct = agreement_fractions(matches, 'class_a', 'klass_b')
    np.testing.assert_array_equal(result.agreement['class'], direct['class'])
    np.testing.assert_allclose(result.agreement['fraction'], direct['fraction'])
    expected, n_used = _fractions(np.asarray(matches['class_a']), np.asarray(matches['klass_b']))
    got = dict(zip(result.agreement['class'], result.agreement['fraction']))
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name
    assert got['mean'] == pytest.approx(np.mean([expected[k] for k in '1234']))
    assert result.n_used == n_used == result.agreement.meta['n_used']
    assert result.summary().startswith(f'{len(matches)} objects compared ({n_used} classified '
                                       f'1-4 by both); agreement: 1 {expected["1"]:.2f}, ')


def test_confusion_matrices(pair, result):
    a, b = pair
    matches = crossmatch(a, b, radius=2.0)
    assert list(result.confusion) == list(CONFUSION_NORMALIZATIONS)
    for label, normalize in CONFUSION_NORMALIZATIONS.items():
        direct = confusion_matrix(matches, 'class_a', 'klass_b', normalize=normalize)
        for name in direct.colnames:
            np.testing.assert_array_equal(result.confusion[label][name], direct[name])
    counts = result.confusion['counts']
    number_columns = [c for c in counts.colnames if c != counts.colnames[0]]
    matrix = np.array([[row[c] for c in number_columns] for row in counts], dtype=float)
    assert matrix.sum() == result.n_used
    # The diagonal of the "no ground truth" matrix is the agreement fraction (SPEC §5).
    mean = result.confusion['mean']
    diagonal = [mean[number_columns[i]][i] for i in range(4)]
    np.testing.assert_allclose(diagonal, result.agreement['fraction'][:4])


def test_agreement_versus_magnitude(pair, result):
    a, b = pair
    matches = crossmatch(a, b, radius=2.0)
    assert list(result.trends) == ['mag_F555W']
    direct = agreement_vs_property(matches, 'class_a', 'klass_b', 'mag_F555W_a', n_bins=4,
                                   name='mag_F555W')
    for name in direct.colnames:
        np.testing.assert_array_equal(np.ma.filled(result.trends['mag_F555W'][name], -1),
                                      np.ma.filled(direct[name], -1))


def test_color_box_counts_match_independent_counts(pair, result):
    a, b = pair
    boxes = result.color_boxes
    assert boxes.colnames == ['class', 'box', 'A', 'klass', 'qr']
    for name, (tbl, column) in (('A', (a, 'class')), ('klass', (b, 'klass'))):
        expected = _box_counts(tbl, column, DM, NORMALIZING_MV)
        got = {(row['class'], int(row['box'])): int(row[name]) for row in boxes}
        assert got == expected, name
    assert result.mv_limit == NORMALIZING_MV and result.distance_modulus == DM


def test_mv_limit_and_bright_objects(pair, result):
    a, b = pair
    strict = compare_catalogs(a, b, class_column_b='klass', name_a='A', distance_modulus=DM,
                              mv_limit=-9.0)
    expected = _box_counts(a, 'class', DM, -9.0)
    got = {(row['class'], int(row['box'])): int(row['A']) for row in strict.color_boxes}
    assert got == expected
    assert sum(expected.values()) < sum(_box_counts(a, 'class', DM, NORMALIZING_MV).values())
    v = a['mag_F555W'].to_value(u.mag)
    assert len(result.bright_objects('A')) == np.sum(v - DM < NORMALIZING_MV)
    assert len(strict.bright_objects('A')) == np.sum(v - DM < -9.0)
    assert compare_catalogs(a, b, class_column_b='klass').bright_objects('class') is None
    with pytest.raises(ValueError, match="name must be one of"):
        result.bright_objects('B')


def test_distance_instead_of_modulus(pair):
    a, b = pair
    distance = 17.7 * u.Mpc
    by_distance = compare_catalogs(a, b, class_column_b='klass', name_a='A',
                                   distance_modulus=distance)
    modulus = Distance(distance).distmod.to_value(u.mag)
    assert by_distance.distance_modulus == pytest.approx(modulus)
    by_modulus = compare_catalogs(a, b, class_column_b='klass', name_a='A',
                                  distance_modulus=modulus)
    for name in ('A', 'klass'):
        np.testing.assert_array_equal(by_distance.color_boxes[name], by_modulus.color_boxes[name])


def test_two_columns_of_one_catalog(pair):
    a, _ = pair
    tbl = a.copy()
    rng = np.random.default_rng(5)
    tbl['second'] = np.where(rng.uniform(size=len(tbl)) < 0.6, tbl['class'],
                             rng.integers(0, 5, len(tbl)))
    result = compare_catalogs(tbl, class_column_a='class', class_column_b='second',
                              name_a='human', name_b='ML', properties=['mag_F555W', 'mag_F814W'])
    assert result.matches is None and result.pairs is tbl and result.n_compared == len(tbl)
    expected, n_used = _fractions(np.asarray(tbl['class']), np.asarray(tbl['second']))
    got = dict(zip(result.agreement['class'], result.agreement['fraction']))
    assert all(got[k] == pytest.approx(v) for k, v in expected.items())
    assert result.n_used == n_used
    assert list(result.trends) == ['mag_F555W', 'mag_F814W']
    assert 'matches.ecsv' not in result.tables()
    assert repr(result) == (f'<CatalogComparison human vs ML: {len(tbl)} objects compared '
                            f'({n_used} classified 1-4 by both)>')


def test_sky_matching():
    rng = np.random.default_rng(2)
    n = 120
    ra, dec = 24.17 + rng.uniform(0, 0.01, n), 15.78 + rng.uniform(0, 0.01, n)
    coords = SkyCoord(ra, dec, unit='deg')
    a = QTable({'coord': coords, 'class': rng.integers(1, 5, n)})
    b = QTable({'coord': coords.spherical_offsets_by(0.02 * u.arcsec, 0 * u.arcsec),
                'class': a['class']})
    result = compare_catalogs(a, b, radius=0.08 * u.arcsec)
    assert result.n_compared == n
    assert np.all(result.agreement['fraction'][:4] == 1.0)
    assert (result.name_a, result.name_b) == ('A', 'B')  # same column names


def test_write(tmp_path, pair):
    a, b = pair
    out = tmp_path / 'report'
    result = compare_catalogs(a, b, class_column_b='klass', name_a='A', distance_modulus=DM,
                              output_dir=out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(result.tables()) == [
        'agreement.ecsv', 'agreement_vs_mag_F555W.ecsv', 'color_boxes.ecsv',
        'confusion_counts.ecsv', 'confusion_mean.ecsv', 'confusion_truth_a.ecsv',
        'confusion_truth_b.ecsv', 'matches.ecsv']
    assert sorted(result.files) == sorted(str(out / n) for n in names)
    back = QTable.read(out / 'agreement.ecsv')
    np.testing.assert_allclose(np.ma.filled(back['fraction'], np.nan),
                               np.ma.filled(result.agreement['fraction'], np.nan))
    # An existing file stops the whole report; nothing else is written.
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'confusion_mean.ecsv').write_text('keep')
    with pytest.raises(FileExistsError, match="output_dir: .*confusion_mean.ecsv' exists"):
        result.write(other)
    assert sorted(p.name for p in other.iterdir()) == ['confusion_mean.ecsv']
    assert result.write(other, overwrite=True)
    assert (other / 'confusion_mean.ecsv').read_text() != 'keep'


@pytest.mark.parametrize('kwargs, error, match', [
    ({'class_column_a': 'nope'}, ValueError, "class_column_a: 'nope' is not a column"),
    ({'class_column_b': 'class'}, ValueError, "class_column_b: 'class' is not a column"),
    ({'name_a': 'X', 'name_b': 'X'}, ValueError, "name_a and name_b must differ"),
    ({'properties': ['nope']}, ValueError, "properties.*'nope' is not a column"),
    ({'mv_limit': np.nan}, ValueError, 'mv_limit must be a finite number'),
    ({'distance_modulus': 10 * u.s}, TypeError, 'distance_modulus must be a distance'),
    ({'footprint': 'box'}, ValueError, 'footprint'),
    # With a distance modulus the names become columns of the colour-box counts,
    # which refuse 'class', 'box' and 'qr' (name_a defaults to class_column_a).
    ({'distance_modulus': DM}, ValueError, "catalogs: a method cannot be named 'class'"),
    ({'distance_modulus': DM, 'name_a': 'A', 'name_b': 'qr'}, ValueError,
     "catalogs: a method cannot be named 'qr'"),
])
def test_errors_name_the_parameter(pair, kwargs, error, match):
    a, b = pair
    args = {'class_column_b': 'klass'}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        compare_catalogs(a, b, **args)


@pytest.mark.parametrize('args, error, match', [
    (lambda a: ({'class': [1]},), TypeError, 'tbl_a must be an astropy Table'),
    (lambda a: (a, [1, 2]), TypeError, 'tbl_b must be an astropy Table'),
    (lambda a: (a,), ValueError, 'class_column_a and class_column_b must differ'),
])
def test_errors_for_tables(pair, args, error, match):
    a, _ = pair
    with pytest.raises(error, match=match):
        compare_catalogs(*args(a))


def test_no_match_stops_before_writing(tmp_path, pair):
    a, b = pair
    far = b.copy()
    far['x'] += 10_000
    folder = tmp_path / 'report'
    with pytest.raises(ValueError, match=r'no object of catalog A \(400 rows\) matched one of '
                                         r'catalog B \(\d+ rows\) within 2 px \(pixel positions, '
                                         r'radius\): nothing to compare\. A spans pixels x 0'):
        compare_catalogs(a, far, class_column_b='klass', output_dir=folder)
    assert not folder.exists()
    ids = QTable({'id': [1, 2], 'x': [1.0, 2.0], 'y': [1.0, 2.0], 'class': [1, 2]})
    other = QTable({'id': [3, 4], 'x': [1.0, 2.0], 'y': [1.0, 2.0], 'class': [1, 2]})
    with pytest.raises(ValueError, match=r"by the id column 'id' \(id_column\)"):
        compare_catalogs(ids, other, id_column='id')


def test_too_few_matches_for_the_bins(pair):
    a, b = pair
    few = b.copy()
    few['x'][3:] += 10_000
    with pytest.raises(ValueError, match=r'only \d of the 3 objects compared are classified 1-4 '
                                         r'by both and have a finite mag_F555W; agreement versus '
                                         r'mag_F555W in 4 equal-number bins \(n_bins\)'):
        compare_catalogs(a, few, class_column_b='klass')
    assert compare_catalogs(a, few, class_column_b='klass', properties=[]).n_compared == 3


def test_matching_by_id_gives_the_same_report(pair):
    a, b = pair
    by_position = compare_catalogs(a, b, class_column_b='klass')
    matches = by_position.matches
    a = a.copy()
    b = b.copy()
    a['id'] = np.arange(len(a))
    b['id'] = -1 - np.arange(len(b))  # ids only the matched objects share
    b['id'][matches['index_b']] = a['id'][matches['index_a']]
    by_id = compare_catalogs(a, b, class_column_b='klass', id_column='id')
    assert by_id.matches.meta['match_mode'] == 'id'
    assert by_id.matches['index_b'].tolist() == matches['index_b'].tolist()
    np.testing.assert_array_equal(by_id.agreement['fraction'], by_position.agreement['fraction'])
