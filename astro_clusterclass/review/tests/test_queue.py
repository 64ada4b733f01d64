"""review_queue: every order and filter against an independent computation."""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable
from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, RectanglePixelRegion

from astro_clusterclass.calibration import select_for_review
from astro_clusterclass.conftest import simple_wcs
from astro_clusterclass.review import QUEUE_ORDERS, LabelStore, review_queue

N = 80
UNCLASSIFIED = [5, 17, 33, 50, 71]


@pytest.fixture
def classified():
    """A classified table (3-model ensemble) with a few unclassified rows and NaN magnitudes."""
    rng = np.random.default_rng(1)
    members = rng.dirichlet(np.full(4, 0.6), size=(N, 3))
    mean = members.mean(axis=1)
    done = np.ones(N, bool)
    done[UNCLASSIFIED] = False
    tbl = QTable({'id': np.arange(500, 500 + N), 'x': rng.uniform(0, 400, N),
                  'y': rng.uniform(0, 300, N)})
    for k in range(4):
        tbl[f'prob_{k + 1}'] = MaskedColumn(mean[:, k], mask=~done)
    votes = np.argmax(members, axis=2) + 1
    counts = np.array([np.bincount(v, minlength=5) for v in votes])
    tbl['class_mode'] = MaskedColumn(np.argmax(counts, axis=1), mask=~done)
    tbl['class_quality'] = MaskedColumn(counts.max(axis=1) / 3, mask=~done)
    p = np.clip(mean, 1e-300, 1)
    ent = -np.sum(mean * np.log(p), axis=1) / np.log(4)          # written out independently
    top = np.sort(mean, axis=1)
    tbl['prob_entropy'] = MaskedColumn(ent, mask=~done)
    tbl['prob_margin'] = MaskedColumn(top[:, -1] - top[:, -2], mask=~done)
    human = rng.integers(0, 5, N)                                # 0: not inspected
    tbl['class_human'] = MaskedColumn(human, mask=rng.random(N) < 0.1)
    tbl['mag_F555W'] = rng.uniform(19, 25, N) * u.mag
    tbl['mag_F555W'][[7, 40]] = np.nan * u.mag
    return tbl


def plain(column):
    values = getattr(column, 'value', column)
    return np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)


def nan_last(value):
    return (math.isnan(value), 0.0 if math.isnan(value) else value)


def test_doubtful_is_quality_then_entropy_then_margin(classified):
    q, e, m = (plain(classified[c]) for c in ('class_quality', 'prob_entropy', 'prob_margin'))
    out = review_queue(classified).tolist()
    classified_rows = [i for i in range(N) if i not in UNCLASSIFIED]
    expected = sorted(classified_rows, key=lambda i: (q[i], -e[i], m[i]))
    assert out[:len(expected)] == expected
    assert sorted(out[len(expected):]) == UNCLASSIFIED          # no score: last, all kept
    assert len(set(q[classified_rows])) == 3                    # the ties were real
    # The quality ties really were broken by entropy.
    assert any(q[a] == q[b] and e[a] > e[b] for a, b in zip(out, out[1:len(expected)]))


def test_doubtful_falls_back_on_what_is_present(classified):
    full = review_queue(classified).tolist()
    # Entropy and margin computed from the probabilities when their columns are missing.
    bare = classified.copy()
    bare.remove_columns(['prob_entropy', 'prob_margin'])
    assert review_queue(bare).tolist() == full
    # Without quality: entropy (highest first), then margin.
    e, m = plain(classified['prob_entropy']), plain(classified['prob_margin'])
    no_quality = classified.copy()
    no_quality.remove_column('class_quality')
    out = review_queue(no_quality).tolist()
    expected = sorted(range(N), key=lambda i: (nan_last(-e[i]), nan_last(m[i])))
    assert out[:N - len(UNCLASSIFIED)] == expected[:N - len(UNCLASSIFIED)]
    # Margin alone: smallest first.
    only_margin = QTable({'prob_margin': classified['prob_margin']})
    expected = sorted(range(N), key=lambda i: nan_last(m[i]))
    assert review_queue(only_margin).tolist()[:N - 5] == expected[:N - 5]


def test_doubtful_with_quality_alone_agrees_with_select_for_review(classified):
    quality_only = classified['id', 'class_quality']
    for seed in (0, 4):
        chosen = select_for_review(quality_only, N, strategy='quality', seed=seed)
        out = review_queue(quality_only, seed=seed)
        assert out[:len(chosen)].tolist() == chosen['review_row'].tolist()
        assert sorted(out[len(chosen):].tolist()) == UNCLASSIFIED
    assert review_queue(quality_only, seed=0).tolist() != review_queue(quality_only,
                                                                       seed=4).tolist()


def test_doubtful_without_scores_names_the_columns(classified):
    with pytest.raises(ValueError, match=r"order='doubtful' needs .*class_quality.*prob_1"):
        review_queue(classified['id', 'x', 'y'])


def test_brightest(classified):
    mags = plain(classified['mag_F555W'])
    out = review_queue(classified, order='brightest').tolist()
    finite = [i for i in range(N) if np.isfinite(mags[i])]
    assert out[:-2] == sorted(finite, key=lambda i: mags[i])
    assert sorted(out[-2:]) == [7, 40]
    other = classified.copy()
    other['v'] = -plain(classified['mag_F555W'])
    assert review_queue(other, order='brightest', mag_column='v').tolist()[:-2] == out[:-2][::-1]
    with pytest.raises(ValueError, match="mag_column: none of the columns"):
        review_queue(classified['id', 'x'], order='brightest')
    with pytest.raises(ValueError, match="mag_column: 'mag_I' is not a column"):
        review_queue(classified, order='brightest', mag_column='mag_I')


def test_random_and_catalog(classified):
    a = review_queue(classified, order='random', seed=3)
    assert sorted(a.tolist()) == list(range(N))
    assert a.tolist() == review_queue(classified, order='random', seed=3).tolist()
    assert a.tolist() != review_queue(classified, order='random', seed=4).tolist()
    assert a.tolist() != list(range(N))
    assert review_queue(classified, order='catalog').tolist() == list(range(N))
    assert review_queue(classified, order='catalog').dtype == np.int64
    assert set(QUEUE_ORDERS) == {'doubtful', 'disagreement', 'brightest', 'random', 'catalog'}


def test_disagreement(classified):
    a = np.ma.filled(classified['class_mode'], 0)
    b = np.ma.filled(classified['class_human'], 0)
    out = review_queue(classified, order='disagreement',
                       columns=('class_mode', 'class_human')).tolist()

    def group(i):
        if a[i] and b[i]:
            return 0 if a[i] != b[i] else 2
        return 1 if a[i] or b[i] else 3

    assert out == sorted(range(N), key=lambda i: (group(i), i))
    assert group(out[0]) == 0 and {group(i) for i in range(N)} == {0, 1, 2, 3}
    for bad in (None, 'class_mode', ('class_mode',)):
        with pytest.raises(ValueError, match=r"needs columns=\(a, b\)"):
            review_queue(classified, order='disagreement', columns=bad)
    with pytest.raises(ValueError, match="columns: 'nope' is not a column"):
        review_queue(classified, order='disagreement', columns=('class_mode', 'nope'))
    with pytest.raises(ValueError, match='columns .*outside the class scheme'):
        review_queue(classified, order='disagreement', columns=('class_mode', 'x'))


def test_unreviewed_by_reviewer_and_by_anybody(tmp_path, classified):
    with LabelStore(tmp_path / 'l.sqlite', catalog=classified) as store:
        store.add_label(500 + 3, reviewer='ann', label=1)
        store.add_label(500 + 9, reviewer='bob', label=2)
        store.add_label(500 + 11, reviewer='ann', label=3)
        store.undo(reviewer='ann')                  # 11 is unreviewed again
        full = review_queue(classified).tolist()
        for reviewer, gone in ((None, {3, 9}), ('ann', {3}), ('bob', {9})):
            out = review_queue(classified, store=store, reviewer=reviewer, unreviewed=True)
            assert out.tolist() == [i for i in full if i not in gone]
        with pytest.raises(ValueError, match="store: .*column 'id', which tbl does not have"):
            renamed = classified.copy()
            renamed.rename_column('id', 'name')
            review_queue(renamed, store=store, unreviewed=True)
    with pytest.raises(ValueError, match='unreviewed=True needs store='):
        review_queue(classified, unreviewed=True)


def test_only_class_and_magnitude_range(classified):
    full = review_queue(classified, order='random', seed=1).tolist()
    mode = np.ma.filled(classified['class_mode'], 0)
    out = review_queue(classified, order='random', seed=1, only_class=[1, 4])
    assert out.tolist() == [i for i in full if mode[i] in (1, 4)]
    human = np.ma.filled(classified['class_human'], 0)
    out = review_queue(classified, order='random', seed=1, only_class=2,
                       class_column='class_human')
    assert out.tolist() == [i for i in full if human[i] == 2]
    mags = plain(classified['mag_F555W'])
    out = review_queue(classified, order='random', seed=1, mag_range=(20.5, 23))
    assert out.tolist() == [i for i in full if 20.5 <= mags[i] <= 23]
    out = review_queue(classified, order='random', seed=1, mag_range=(None, 21))
    assert out.tolist() == [i for i in full if mags[i] <= 21]
    for bad, match in ((5, 'only_class must be a class'), (True, 'only_class'),
                       ('1', 'only_class'), ([1, 0], 'only_class')):
        with pytest.raises(ValueError, match=match):
            review_queue(classified, only_class=bad)
    for bad, match in (((23, 21), 'brightest <= faintest'), ((1, 2, 3), 'mag_range must be'),
                       (('a', 2), 'mag_range must be a finite number')):
        with pytest.raises(ValueError, match=match):
            review_queue(classified, mag_range=bad)
    with pytest.raises(ValueError, match='class_column: none of the columns'):
        review_queue(classified['id', 'class_quality'], only_class=1)


def test_regions(classified):
    x, y = plain(classified['x']), plain(classified['y'])
    full = review_queue(classified).tolist()
    out = review_queue(classified, region=(100, 250, 50, 200))
    assert out.tolist() == [i for i in full if 100 <= x[i] <= 250 and 50 <= y[i] <= 200]
    assert 0 < len(out) < N
    circle = CirclePixelRegion(PixCoord(200, 150), radius=90)
    inside = np.hypot(x - 200, y - 150) < 90
    assert review_queue(classified, region=circle).tolist() == [i for i in full if inside[i]]
    rectangle = RectanglePixelRegion(PixCoord(175, 125), width=150, height=150)
    assert review_queue(classified, region=rectangle).tolist() == \
        [i for i in full if 100 <= x[i] <= 250 and 50 <= y[i] <= 200]
    # A sky circle, placed with the images' WCS.
    wcs = simple_wcs((300, 400))
    center = wcs.pixel_to_world(200, 150)
    sky = CircleSkyRegion(center, radius=90 * 0.04 * u.arcsec)
    separation = center.separation(SkyCoord(wcs.pixel_to_world(x, y))).to_value(u.arcsec)
    out = set(review_queue(classified, region=sky, wcs=wcs).tolist())
    assert {i for i in range(N) if separation[i] < 0.95 * 3.6} <= out
    assert not out & {i for i in range(N) if separation[i] > 1.05 * 3.6}
    with pytest.raises(ValueError, match='region: a sky region needs wcs='):
        review_queue(classified, region=sky)
    for bad in ((1, 2, 3), (5, 1, 0, 9), 'box', (0, 1, 'a', 2), 3):
        with pytest.raises(ValueError, match='region must be a regions PixelRegion'):
            review_queue(classified, region=bad)


def test_rows_without_positions_are_outside_any_region(classified):
    tbl = classified.copy()
    tbl['x'] = MaskedColumn(plain(tbl['x']), mask=np.arange(N) == 0)
    tbl['x'][1] = np.nan
    out = review_queue(tbl, order='catalog', region=(-1e9, 1e9, -1e9, 1e9)).tolist()
    assert out == list(range(2, N))


def test_unknown_order_and_table(classified):
    with pytest.raises(ValueError, match="order must be one of 'doubtful'"):
        review_queue(classified, order='worst')
    with pytest.raises(TypeError, match='tbl must be an astropy Table'):
        review_queue([1, 2])
