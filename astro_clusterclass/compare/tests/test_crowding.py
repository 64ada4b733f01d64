"""`neighbor_count` against a brute-force count."""

import numpy as np
import pytest
from astropy.table import QTable

from astro_clusterclass.compare import neighbor_count
from astro_clusterclass.conftest import simple_wcs


def _brute_force(x, y, radius):
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    counts = (d <= radius).sum(axis=1) - 1.0
    counts[~(np.isfinite(x) & np.isfinite(y))] = np.nan
    return counts


def test_counts_equal_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 200, 500), rng.uniform(0, 200, 500)
    x[::50] = np.nan
    tbl = QTable({'x': x, 'y': y})
    np.testing.assert_array_equal(neighbor_count(tbl, radius=12.0),
                                  _brute_force(x, y, 12.0))


def test_radius_is_inclusive_and_columns_and_wcs():
    tbl = QTable({'x_a': [0.0, 3.0, 6.0], 'y_a': [0.0, 4.0, 8.0]})
    assert neighbor_count(tbl, radius=5.0, columns=('x_a', 'y_a')).tolist() == [1.0, 2.0, 1.0]
    wcs = simple_wcs((50, 50))
    sky = QTable({'coord': wcs.pixel_to_world(tbl['x_a'], tbl['y_a'])})
    np.testing.assert_array_equal(neighbor_count(sky, radius=5.0 + 1e-6, wcs=wcs),
                                  [1.0, 2.0, 1.0])


@pytest.mark.parametrize('tbl, kwargs, error, match', [
    (QTable({'x': [0.0], 'y': [0.0]}), {'radius': 0}, ValueError, 'radius'),
    ({'x': [0.0], 'y': [0.0]}, {}, TypeError, 'must be an astropy Table'),
])
def test_errors(tbl, kwargs, error, match):
    with pytest.raises(error, match=match):
        neighbor_count(tbl, **kwargs)
