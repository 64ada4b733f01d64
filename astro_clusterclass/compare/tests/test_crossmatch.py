"""One-to-one cross-matching, checked against brute-force pairings and real LEGUS fields."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable

from astro_clusterclass.compare import (agreement_fractions, crossmatch, in_footprint,
                                        pixel_frame, pixel_grid_offset)
from astro_clusterclass.conftest import legus_file, simple_wcs


def _brute_force(pa, pb, radius):
    """Mutual nearest neighbours from the full distance matrix."""
    d = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
    pairs = set()
    for i in range(len(pa)):
        j = int(np.argmin(d[i]))
        if d[i, j] <= radius and int(np.argmin(d[:, j])) == i:
            pairs.add((i, j))
    return pairs


def _catalogs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    xa, ya = rng.uniform(0, 500, n), rng.uniform(0, 500, n)
    keep = rng.uniform(size=n) < 0.7
    order = rng.permutation(np.flatnonzero(keep))
    xb = np.concatenate([xa[order] + rng.normal(0, 0.8, len(order)),
                         rng.uniform(0, 500, 100)])
    yb = np.concatenate([ya[order] + rng.normal(0, 0.8, len(order)),
                         rng.uniform(0, 500, 100)])
    a = QTable({'id': np.arange(n), 'x': xa, 'y': ya, 'class': rng.integers(0, 5, n)})
    b = QTable({'id': 1000 + np.arange(len(xb)), 'x': xb, 'y': yb,
                'class': rng.integers(0, 5, len(xb))})
    return a, b


def test_pixel_matches_equal_brute_force():
    a, b = _catalogs()
    before = a.copy()
    matches = crossmatch(a, b, radius=2)
    expected = _brute_force(np.column_stack([a['x'], a['y']]),
                            np.column_stack([b['x'], b['y']]), 2.0)
    assert set(zip(matches['index_a'].tolist(), matches['index_b'].tolist())) == expected
    assert len(expected) > 200
    # One-to-one and in the order of A; columns of both come with suffixes.
    assert len(set(matches['index_a'])) == len(matches) == len(set(matches['index_b']))
    assert np.all(np.diff(matches['index_a']) > 0)
    np.testing.assert_array_equal(matches['id_a'], a['id'][matches['index_a']])
    np.testing.assert_array_equal(matches['class_b'], b['class'][matches['index_b']])
    sep = np.hypot(matches['x_a'] - matches['x_b'], matches['y_a'] - matches['y_b'])
    np.testing.assert_allclose(matches['separation'].to_value(u.pix), sep)
    assert matches.meta['n_matched'] == len(matches)
    assert 'radius' in matches.meta['arguments']
    np.testing.assert_array_equal(a['x'], before['x'])  # inputs untouched


def test_matching_is_symmetric():
    a, b = _catalogs(seed=4)
    ab = crossmatch(a, b, radius=2)
    ba = crossmatch(b, a, radius=2)
    assert set(zip(ab['index_a'].tolist(), ab['index_b'].tolist())) == \
        set(zip(ba['index_b'].tolist(), ba['index_a'].tolist()))


def test_one_to_one_keeps_only_the_nearest():
    a = QTable({'x': [10.0, 11.5], 'y': [10.0, 10.0]})
    b = QTable({'x': [11.0], 'y': [10.0]})
    m = crossmatch(a, b, radius=2)
    assert m['index_a'].tolist() == [1] and m['index_b'].tolist() == [0]


def test_radius_is_inclusive_and_quantity_in_pixels():
    a = QTable({'x': [0.0], 'y': [0.0]})
    b = QTable({'x': [2.0], 'y': [0.0]})
    assert len(crossmatch(a, b, radius=2)) == 1
    assert len(crossmatch(a, b, radius=2 * u.pix)) == 1
    assert len(crossmatch(a, b, radius=1.999)) == 0


def test_no_overlap_and_empty_tables_give_empty_results():
    a, b = _catalogs()
    b['x'] += 10_000  # far away
    m = crossmatch(a, b)
    assert len(m) == 0
    assert {'index_a', 'index_b', 'separation', 'x_a', 'class_b'} <= set(m.colnames)
    assert m.meta['n_matched'] == 0
    empty = crossmatch(a[:0], b)
    assert len(empty) == 0 and 'class_a' in empty.colnames
    # Footprints that do not overlap: nothing inside, still no exception.
    m = crossmatch(a, b, footprint='hull')
    assert len(m) == 0 and m.meta['n_a_in_footprint'] == 0
    # Agreement on no objects is undefined, not an error.
    f = agreement_fractions(m, 'class_a', 'class_b')
    assert np.all(np.isnan(f['fraction'].filled(np.nan)))


def test_nan_positions_are_not_matched():
    a = QTable({'x': [np.nan, 5.0], 'y': [1.0, 5.0]})
    b = QTable({'x': [5.5, 1.0], 'y': [5.0, 1.0]})
    m = crossmatch(a, b)
    assert m['index_a'].tolist() == [1]


def test_footprint_hull_restricts_to_common_area():
    rng = np.random.default_rng(2)
    corners = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)
    pa = np.vstack([corners, rng.uniform(0, 100, (300, 2))])
    pb = np.vstack([corners + [50, 0], rng.uniform(0, 100, (300, 2)) + [50, 0]])
    a = QTable({'x': pa[:, 0], 'y': pa[:, 1]})
    b = QTable({'x': pb[:, 0], 'y': pb[:, 1]})
    m = crossmatch(a, b, radius=3, footprint='hull')
    # The hulls are the two squares; the common area is 50 <= x <= 100.
    assert m.meta['n_a_in_footprint'] == np.sum(pa[:, 0] >= 50)
    assert m.meta['n_b_in_footprint'] == np.sum(pb[:, 0] <= 100)
    assert np.all(m['x_a'] >= 50) and np.all(m['x_b'] <= 100)


def test_in_footprint_and_degenerate_footprint():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert in_footprint(np.array([[10, 5], [np.nan, 1]]), square).tolist() == [True, False]
    line = QTable({'x': [0.0, 1.0, 2.0], 'y': [0.0, 1.0, 2.0]})
    a, _ = _catalogs()
    with pytest.raises(ValueError, match='span no area'):
        crossmatch(a, line, footprint='hull')


def test_sky_matching_equals_pixel_matching_through_a_wcs():
    a, b = _catalogs(seed=7)
    wcs = simple_wcs((500, 500))
    for tbl in (a, b):
        tbl['coord'] = wcs.pixel_to_world(tbl['x'], tbl['y'])
    sky = crossmatch(a, b, radius=0.08 * u.arcsec)  # 2 px of 0.04 arcsec
    pix = crossmatch(a, b, radius=2.0)
    assert sky.meta['match_mode'] == 'sky'
    assert set(zip(sky['index_a'].tolist(), sky['index_b'].tolist())) == \
        set(zip(pix['index_a'].tolist(), pix['index_b'].tolist()))
    np.testing.assert_allclose(sky['separation'].to_value(u.arcsec),
                               0.04 * pix['separation'].to_value(u.pix), rtol=1e-4)
    assert isinstance(sky['coord_a'], SkyCoord)
    # Footprints on the sky (tangent-plane hulls) give the same as in pixels.
    skyhull = crossmatch(a[:200], b, radius=0.08 * u.arcsec, footprint='hull')
    pixhull = crossmatch(a[:200], b, radius=2.0, footprint='hull')
    assert skyhull.meta['n_b_in_footprint'] == pixhull.meta['n_b_in_footprint']


@pytest.mark.parametrize('b, kwargs, error, match', [
    (None, {'radius': 2 * u.kg}, u.UnitsError, 'radius'),
    (None, {'radius': -1}, ValueError, 'radius must be positive'),
    (None, {'footprint': 'box'}, ValueError, 'footprint'),
    (None, {'suffixes': ('_x', '_x')}, ValueError, 'suffixes'),
    (None, {'radius': 0.1 * u.arcsec}, ValueError, 'has no sky positions'),
    ({'x': [1]}, {}, TypeError, 'tbl_b must be an astropy Table'),
])
def test_bad_arguments_are_named(b, kwargs, error, match):
    a, other = _catalogs()
    with pytest.raises(error, match=match):
        crossmatch(a, other if b is None else b, **kwargs)


def test_ngc628_fields_overlap_on_the_sky():
    c = QTable.read(legus_file('ngc628-c'), format='legus')
    e = QTable.read(legus_file('ngc628-e'), format='legus')
    m = crossmatch(c, e, radius=0.08 * u.arcsec, footprint='hull')
    # Independent check of every pair: mutual nearest neighbours on the sky.
    idx_ce, sep_ce, _ = c['coord'].match_to_catalog_sky(e['coord'])
    idx_ec, _, _ = e['coord'].match_to_catalog_sky(c['coord'])
    mutual = (idx_ec[idx_ce] == np.arange(len(c))) & (sep_ce <= 0.08 * u.arcsec)
    expected = set(zip(np.flatnonzero(mutual).tolist(), idx_ce[mutual].tolist()))
    found = set(zip(m['index_a'].tolist(), m['index_b'].tolist()))
    assert found <= expected  # the footprint can only remove pairs
    assert len(found) > 100
    assert np.all(m['separation'] <= 0.08 * u.arcsec)
    # Same source in two pointings: the V magnitudes agree closely.
    dv = (m['mag_F555W_a'] - m['mag_F555W_b']).filled(np.nan).value
    assert abs(np.nanmedian(dv)) < 0.15


def test_pixel_matching_refused_across_pixel_grids():
    a, b = _catalogs(seed=3)
    a.meta.update(layout='legus-35', galaxy='ngc628-c')
    b.meta['pixel_frame'] = 'LEGUS ngc628-e'
    with pytest.raises(ValueError, match=r'different pixel grids \(tbl_a: LEGUS ngc628-c, '
                                         r'tbl_b: LEGUS ngc628-e\).*angular radius.*id_column'):
        crossmatch(a, b)
    b.meta['pixel_frame'] = 'LEGUS NGC628-C'  # the same grid, written otherwise
    assert len(crossmatch(a, b)) > 200


def test_pixel_grids_told_apart_by_the_sky_positions():
    a, b = _catalogs(seed=8)
    wcs = simple_wcs((500, 500))
    a['coord'] = wcs.pixel_to_world(a['x'], a['y'])
    b['coord'] = wcs.pixel_to_world(b['x'], b['y'])
    assert np.hypot(*pixel_grid_offset(a, b)) < 0.5
    other = b.copy()
    other['x'] += 1000.0  # the same objects, measured on another mosaic
    other['y'] -= 30.0
    dx, dy = pixel_grid_offset(a, other)
    assert abs(dx - 1000) < 0.5 and abs(dy + 30) < 0.5
    with pytest.raises(ValueError, match=r'different pixel grids: the same objects, paired on '
                                         r'the sky, lie \(dx=\+1000\.\d, dy=-30\.\d\) px apart'):
        crossmatch(a, other)
    sky = crossmatch(a, other, radius=0.08 * u.arcsec)
    pix = crossmatch(a, b)
    assert set(zip(sky['index_a'].tolist(), sky['index_b'].tolist())) == \
        set(zip(pix['index_a'].tolist(), pix['index_b'].tolist()))
    assert pixel_frame(a) is None and pixel_grid_offset(a[:3], b[:3]) is None


def test_sky_matching_with_float_radec_columns():
    a, b = _catalogs(seed=7)
    wcs = simple_wcs((500, 500))
    ca, cb = wcs.pixel_to_world(a['x'], a['y']), wcs.pixel_to_world(b['x'], b['y'])
    plain_a = QTable({'RA': ca.ra.deg, 'DEC': ca.dec.deg, 'class': a['class']})
    plain_b = QTable({'ra': cb.ra.deg, 'dec': cb.dec.deg, 'class': b['class']})
    a['coord'], b['coord'] = ca, cb
    floats = crossmatch(plain_a, plain_b, radius=0.08 * u.arcsec)
    coords = crossmatch(a, b, radius=0.08 * u.arcsec)
    assert floats['index_a'].tolist() == coords['index_a'].tolist()
    assert floats['index_b'].tolist() == coords['index_b'].tolist()


def test_matching_by_id():
    a, b = _catalogs(seed=5)
    b['id'] = np.concatenate([a['id'][::-1], [9999]])[:len(b)]  # every id of A, reversed
    m = crossmatch(a, b, id_column='id')
    assert m.meta['match_mode'] == 'id'
    assert (m['id_a'] == m['id_b']).all() and len(m) == min(len(a), len(b))
    assert np.all(np.diff(m['index_a']) > 0)  # in the order of A
    np.testing.assert_allclose(m['separation'].to_value(u.pix),
                               np.hypot(m['x_a'] - m['x_b'], m['y_a'] - m['y_b']))
    b['name'] = b['id']
    assert len(crossmatch(a, b, id_column=('id', 'name'))) == len(m)
    b['id'][1] = b['id'][0]
    with pytest.raises(ValueError, match=r"id_column \(tbl_b\): column 'id' repeats ids"):
        crossmatch(a, b, id_column='id')
    with pytest.raises(ValueError, match="footprint='hull' cannot be used with id_column="):
        crossmatch(a, b, id_column='name', footprint='hull')
    # Masked ids are not matched.
    b['name'] = MaskedColumn(b['name'], mask=np.arange(len(b)) < 10)
    assert len(crossmatch(a, b, id_column=('id', 'name'))) == len(m) - 10
