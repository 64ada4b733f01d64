"""Power-law fits, mass functions, age distributions and bright-end completeness."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable

from astro_clusterclass.conftest import legus_file
from astro_clusterclass.science import (age_distribution, bright_end_completeness,
                                        distance_modulus, equal_number_bins,
                                        mass_function, power_law_fit)


def _power_law(n, slope, x_min, rng, x_max=np.inf):
    """Draws from dN/dx ∝ x^slope between x_min and x_max, by inverting the CDF."""
    p = slope + 1
    upper = 0.0 if np.isinf(x_max) else x_max ** p  # slope < -1 when unbounded
    return (x_min ** p + rng.uniform(size=n) * (upper - x_min ** p)) ** (1 / p)


def test_equal_number_bins_hold_equal_numbers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    edges = equal_number_bins(x, 5)
    assert len(edges) == 6 and edges[0] == x.min() and edges[-1] == x.max()
    counts = np.histogram(x, edges)[0]
    assert counts.tolist() == [200] * 5
    # NaN and masked values are ignored.
    assert equal_number_bins(np.ma.masked_invalid([1, 2, np.nan, 3, 4]), 2).tolist() == \
        [1.0, 2.5, 4.0]


def test_equal_number_bins_never_split_tied_values():
    x = np.repeat([1.0, 2.0, 3.0, 4.0], [10, 1, 1, 8])
    edges = equal_number_bins(x, 4)
    counts = np.histogram(x, edges)[0]
    assert counts.sum() == len(x)
    # No edge falls on a value, so each run of ties stays in one bin.
    assert not np.any(np.isin(edges[1:-1], x))
    with pytest.raises(ValueError, match='cannot fill'):
        equal_number_bins([1.0, 2.0], 3)
    with pytest.raises(ValueError, match='n_bins must be an integer'):
        equal_number_bins([1.0, 2.0], 0)


@pytest.mark.parametrize('slope', [-1.5, -2.0, -2.5])
def test_power_law_fit_recovers_the_slope(slope):
    rng = np.random.default_rng(11)
    x = _power_law(20000, slope, 1e3, rng)
    fit = power_law_fit(x, n_bins=8, limits=(1e3, np.inf))
    assert fit['slope'] == pytest.approx(slope, abs=0.03)
    bins = fit['bins']
    assert fit['n'] == fit['n_fit'] == bins['n'].sum() == len(x)
    assert bins['x_min'][0] == 1e3 and bins['x_max'][-1] == x.max()
    closed = bins[:-1]
    np.testing.assert_allclose(closed['density'], closed['n'] / (closed['x_max'] - closed['x_min']))
    # The open last bin is drawn at its lower edge, at the density its count
    # implies for the fitted slope: n (-slope - 1) / x_lo.
    last = bins[-1]
    assert last['x_center'] == last['x_min']
    assert last['density'] == pytest.approx(last['n'] * (-fit['slope'] - 1) / last['x_min'])
    # The slope is that of a straight-line fit to the plotted points.
    line = np.polyfit(np.log10(bins['x_center']), np.log10(bins['density']), 1)
    assert fit['slope'] == pytest.approx(line[0])


def test_last_bin_treatments():
    rng = np.random.default_rng(11)
    x = _power_law(20000, -1.5, 1e3, rng)
    closed = power_law_fit(x, n_bins=8, limits=(1e3, np.inf), last_bin='closed')
    assert closed['slope'] < -1.7  # module notes: about -1.79, biased
    dropped = power_law_fit(x, n_bins=8, limits=(1e3, np.inf), last_bin='drop')
    assert dropped['slope'] == pytest.approx(-1.5, abs=0.05)
    assert dropped['n_fit'] == len(x) - dropped['bins']['n'][-1]
    # Small samples: 300 objects in 6 bins, unbiased on average.
    slopes = [power_law_fit(_power_law(300, -2.0, 1e4, np.random.default_rng(seed)),
                            limits=(1e4, np.inf))['slope'] for seed in range(60)]
    assert np.mean(slopes) == pytest.approx(-2.0, abs=0.05)
    with pytest.raises(ValueError, match='needs a slope steeper than -1'):
        power_law_fit(_power_law(2000, -0.5, 1.0, rng, 100.0))
    with pytest.raises(ValueError, match='last_bin must be one of'):
        power_law_fit(x, last_bin='half')


def test_power_law_fit_without_the_first_bin():
    rng = np.random.default_rng(3)
    # A power law with an excess of young objects, all in the first of 8 bins.
    x = np.concatenate([_power_law(16000, -1.5, 1e6, rng, 1e9),
                        rng.uniform(1.0e6, 1.1e6, 1000)])
    fit_all = power_law_fit(x, n_bins=8, limits=(1e6, 1e9), last_bin='drop')
    fit_cut = power_law_fit(x, n_bins=8, limits=(1e6, 1e9), drop_first=True, last_bin='drop')
    assert fit_cut['slope'] == pytest.approx(-1.5, abs=0.15)
    assert fit_all['slope'] < fit_cut['slope'] - 0.1  # the young excess steepens the fit
    assert not fit_cut['bins']['fitted'][0] and fit_cut['bins']['fitted'][1:-1].all()
    with pytest.raises(ValueError, match='positive'):
        power_law_fit([-1.0, 2.0, 3.0, 4.0], n_bins=3)
    with pytest.raises(ValueError, match='at least 3 are needed'):
        power_law_fit(x, n_bins=3, drop_first=True)


def _synthetic_catalog(seed=0):
    rng = np.random.default_rng(seed)
    slopes = {(6.0, 7.0): -1.6, (7.0, 8.0): -2.0, (8.0, 8.6): -2.4}
    rows = []
    for (lo, hi), slope in slopes.items():
        n = 20000
        rows.append((rng.uniform(lo, hi, n), _power_law(n, slope, 3e3, rng),
                     rng.integers(1, 5, n)))
    log_age = np.concatenate([r[0] for r in rows])
    mass = np.concatenate([r[1] for r in rows])
    klass = np.concatenate([r[2] for r in rows])
    return QTable({'age': 10 ** log_age * u.yr, 'mass': mass * u.solMass,
                   'class': klass}), slopes


def test_mass_function_recovers_slopes_per_age_range():
    tbl, slopes = _synthetic_catalog()
    mf = mass_function(tbl, mass_min=1e4, n_bins=6)
    assert len(mf) == 3
    for row, slope in zip(mf, slopes.values()):
        assert row['beta'] == pytest.approx(slope, abs=0.15)
    # Only classes 1 and 2 are counted by default.
    use = np.isin(tbl['class'], (1, 2)) & (tbl['mass'] >= 1e4 * u.solMass)
    log_age = np.log10(tbl['age'].value)
    assert mf['n'][0] == np.sum(use & (log_age >= 6) & (log_age < 7))
    per_range = mass_function(tbl, mass_min=(3e3, 1e4, 3e4), classes=(1,), n_bins=5)
    assert per_range['mass_min'].to_value(u.solMass).tolist() == [3e3, 1e4, 3e4]
    assert per_range['note'].tolist() == ['', '', '']
    # A range that cannot be fitted is reported, not raised: NaN and a note.
    sparse = mass_function(tbl, age_ranges=((6.0, 7.0), (9.0, 10.0)), n_bins=5)
    assert np.isfinite(sparse['beta'][0]) and np.isnan(sparse['beta'][1])
    assert sparse['n'][1] == 0 and 'no values inside limits' in sparse['note'][1]


def test_age_distribution_with_and_without_youngest_bin():
    rng = np.random.default_rng(5)
    n = 8000
    # dN/dtau ∝ tau^-0.6 between 1 Myr and 1 Gyr, plus a young excess.
    age = np.concatenate([_power_law(n, -0.6, 1e6, rng, 1e9), np.full(800, 1.5e6)])
    mass = 10 ** rng.uniform(4.0, 5.5, len(age))
    tbl = QTable({'age': age * u.yr, 'mass': mass * u.solMass, 'class': np.ones(len(age), int)})
    ad = age_distribution(tbl, n_bins=6, mass_ranges=((4.0, np.inf),))
    assert ad['gamma_no_youngest'][0] == pytest.approx(-0.6, abs=0.15)
    assert ad['gamma'][0] < ad['gamma_no_youngest'][0]
    assert ad['youngest_age_max'].unit == u.yr


@pytest.mark.parametrize('change, kwargs, match', [
    (lambda tbl: QTable({'age': tbl['age'].value, 'mass': tbl['mass'], 'class': tbl['class']}),
     {}, "column 'age' must carry a unit"),
    (lambda tbl: tbl, {'class_column': 'klass'}, "class_column: 'klass' is not a column"),
    (lambda tbl: QTable({'age': tbl['age'], 'mass': tbl['mass'].value * u.m,
                         'class': tbl['class']}),
     {}, 'convertible to solMass'),
])
def test_missing_units_and_columns_are_errors(change, kwargs, match):
    tbl, _ = _synthetic_catalog()
    with pytest.raises(ValueError, match=match):
        mass_function(change(tbl), **kwargs)


def test_bright_end_completeness_counts():
    tbl = QTable({'mag_F555W': [19.0, 19.5, 19.9, 20.5, np.nan, 18.0] * u.mag,
                  'class': [1, 2, 4, 1, 1, 0], 'ml': [1, 4, 4, 2, 2, 3]})
    out = bright_end_completeness(tbl, distance_modulus=30.0, class_columns=['class', 'ml'])
    # M_V < -10 means V < 20: rows 0, 1, 2 and 5 (row 4 has no magnitude).
    assert out['n_bright'].tolist() == [4, 4]
    assert out['n_inspected'].tolist() == [3, 4]
    assert out['n_cluster'].tolist() == [2, 1]
    assert out['fraction'][0] == pytest.approx(2 / 3)
    assert out['fraction_err'][0] == pytest.approx(np.sqrt(2 / 3 * 1 / 3 / 3))
    same = bright_end_completeness(tbl, distance_modulus=10 ** 1.0 * u.Mpc)
    assert same['n_cluster'][0] == 2
    with pytest.raises(ValueError, match="mag_column: 'V' is not a column"):
        bright_end_completeness(tbl, distance_modulus=30.0, mag_column='V')


def test_distance_modulus():
    assert distance_modulus(10 * u.pc).value == pytest.approx(0.0)
    assert distance_modulus(9.8 * u.Mpc).value == pytest.approx(29.956, abs=1e-3)
    with pytest.raises(TypeError, match='length unit'):
        distance_modulus(9.8)
    with pytest.raises(ValueError, match='positive'):
        distance_modulus(-1 * u.Mpc)


def test_ngc1566_mass_function_near_the_paper():
    """LEGUS NGC 1566 classes 1+2, ages 6-7 and 7-8: beta near the paper's -1.7 and -2.0."""
    tbl = QTable.read(legus_file('ngc1566'), format='legus')
    mf = mass_function(tbl, mass_min=(10 ** 3.5, 10 ** 4.25, 10 ** 4.5), n_bins=6)
    paper = (-1.73, -2.01)  # Table 4, LEGUS column
    for row, expected in zip(mf[:2], paper):
        assert abs(row['beta'] - expected) < 3 * row['beta_err'] + 0.1
    assert mf['n'][0] > 200
