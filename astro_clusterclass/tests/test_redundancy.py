"""Class 4.9: candidates within 5 px of a brighter one, against a brute-force rule."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import MaskedColumn, QTable

from astro_clusterclass.redundancy import flag_redundant


def _brute_force(x, y, mag, radius):
    n = len(x)
    out = np.full(n, -1)
    for i in range(n):
        best = None
        for j in range(n):
            if j == i or not np.isfinite(mag[j]) or not np.isfinite(x[j]):
                continue
            brighter = mag[j] < mag[i] or (mag[j] == mag[i] and j < i)
            if brighter and np.hypot(x[i] - x[j], y[i] - y[j]) <= radius:
                if best is None or mag[j] < mag[best] or (mag[j] == mag[best] and j < best):
                    best = j
        if best is not None and np.isfinite(mag[i]) and np.isfinite(x[i]):
            out[i] = best
    return out


def test_equals_brute_force_on_a_crowded_field():
    rng = np.random.default_rng(0)
    n = 400
    x, y = rng.uniform(0, 150, n), rng.uniform(0, 150, n)
    mag = np.round(rng.uniform(20, 25, n), 1)  # rounded: ties happen
    mag[:5] = np.nan
    x[5] = np.nan
    tbl = QTable({'x': x, 'y': y, 'mag_F555W': mag * u.mag, 'class': rng.integers(1, 5, n)})
    before = tbl.copy()
    out = flag_redundant(tbl, class_column='class')
    expected = _brute_force(x, y, mag, 5.0)
    np.testing.assert_array_equal(out['redundant_of'], expected)
    assert out['redundant'].sum() == np.sum(expected >= 0) > 20
    assert np.all(out['class'][out['redundant']] == 4)
    assert set(out['subclass'][out['redundant']]) == {'4.9'}
    assert set(out['subclass'][~out['redundant']]) == {''}
    np.testing.assert_array_equal(out['class'][~out['redundant']],
                                  tbl['class'][~out['redundant']])
    np.testing.assert_array_equal(tbl['class'], before['class'])  # input untouched
    assert out.meta['redundancy']['n_redundant'] == out['redundant'].sum()


def test_radius_inclusive_ties_and_chains():
    tbl = QTable({'x': [0.0, 5.0, 10.0, 0.0, 40.0, 43.0],
                  'y': [0.0, 0.0, 0.0, 5.01, 0.0, 0.0],
                  'mag_F555W': [20.0, 21.0, 22.0, 21.0, 23.0, 23.0]})
    out = flag_redundant(tbl)
    # Row 1 is exactly 5 px from row 0; row 2 is 5 px from row 1, which is
    # itself redundant: the rule applies literally. Row 3 is beyond 5 px.
    # Of the equal-magnitude pair 4/5, the earlier row counts as brighter.
    assert out['redundant_of'].tolist() == [-1, 0, 1, -1, -1, 4]


def test_existing_subclasses_and_masked_classes_kept():
    tbl = QTable({'x': [0.0, 3.0, 50.0], 'y': [0.0, 0.0, 0.0],
                  'mag_F555W': [20.0, 21.0, 22.0],
                  'class': MaskedColumn([4, 1, 2], mask=[False, False, True]),
                  'subclass': ['4.2', '', '']})
    out = flag_redundant(tbl, class_column='class')
    assert out['subclass'].tolist() == ['4.2', '4.9', '']
    assert out['class'].tolist() == [4, 4, None]


@pytest.mark.parametrize('kwargs, match', [
    ({'mag_column': 'V'}, "mag_column: 'V' is not a column"),
    ({'radius': 0}, 'radius must be a positive number'),
    ({'class_column': 'klass'}, "class_column: 'klass' is not a column"),
    ({'class_column': 'class'}, 'outside the class scheme'),
])
def test_errors_name_the_parameter(kwargs, match):
    tbl = QTable({'x': [0.0], 'y': [0.0], 'mag_F555W': [20.0], 'class': [7]})
    with pytest.raises(ValueError, match=match):
        flag_redundant(tbl, **kwargs)
