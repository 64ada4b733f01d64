"""
The realism report: its statistics against scipy and a direct computation,
its refusals, the LEGUS-like measurement of simulated fields, and the
``'legus'`` simulator preset.
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from scipy.stats import ks_2samp

from astro_clusterclass import BANDS
from astro_clusterclass.conftest import shared_data_path
from astro_clusterclass.datasets import (PRESETS, Tuning, compare_catalogs, galaxy_setup,
                                         make_cluster_field, realism_properties,
                                         realism_report, simulated_catalog)
from astro_clusterclass.datasets.realism import summarize_d


def _ks_direct(a, b):
    """max |F_a - F_b| over the pooled sample, from the empirical CDFs."""
    grid = np.concatenate([a, b])
    fa = np.searchsorted(np.sort(a), grid, side='right') / len(a)
    fb = np.searchsorted(np.sort(b), grid, side='right') / len(b)
    return np.max(np.abs(fa - fb))


def _properties(rng, n, shift):
    tbl = QTable()
    tbl['class'] = rng.integers(1, 5, n)
    tbl['ci'] = rng.normal(1.5 + shift, 0.1, n)
    tbl['abs_mag_V'] = rng.normal(-8 + 3 * shift, 0.8, n)
    tbl['selected'] = rng.random(n) < 0.8
    return tbl


def test_ks_matches_scipy_and_a_direct_computation():
    rng = np.random.default_rng(5)
    sim, real = _properties(rng, 400, 0.05), _properties(rng, 300, 0.0)
    cmp = compare_catalogs(sim, real, properties=['ci', 'abs_mag_V'])
    for name in ('ci', 'abs_mag_V'):
        for c in (1, 2, 3, 4):
            a = np.asarray(sim[name][sim['selected'] & (sim['class'] == c)])
            b = np.asarray(real[name][real['selected'] & (real['class'] == c)])
            row = cmp[(cmp['property'] == name) & (cmp['class'] == c)][0]
            expected = ks_2samp(a, b)
            assert row['d'] == pytest.approx(expected.statistic, abs=1e-12)
            assert row['d'] == pytest.approx(_ks_direct(a, b), abs=1e-12)
            assert row['p_value'] == pytest.approx(expected.pvalue, rel=1e-9)
            assert row['median_sim'] == pytest.approx(np.median(a))
            assert row['median_real'] == pytest.approx(np.median(b))
            assert (row['n_sim'], row['n_real']) == (len(a), len(b))
    fractions = cmp[cmp['property'] == 'fraction']
    n_sel = sim['selected'].sum()
    f1 = np.sum(sim['selected'] & (sim['class'] == 1)) / n_sel
    assert fractions['median_sim'][fractions['class'] == 1][0] == pytest.approx(f1)
    median, worst = summarize_d(cmp)
    ks = np.asarray(cmp['d'][cmp['kind'] == 'ks'])
    assert (median, worst) == (pytest.approx(np.median(ks)), pytest.approx(ks.max()))


def test_identical_samples_give_zero_and_disjoint_ones_give_one():
    a = QTable({'class': [1] * 5, 'ci': [1.4, 1.5, 1.6, 1.7, 1.8], 'selected': [True] * 5})
    b = QTable({'class': [1] * 3, 'ci': [2.4, 2.5, 2.6], 'selected': [True] * 3})
    same = compare_catalogs(a, a, properties=['ci'], classes=(1,))
    apart = compare_catalogs(a, b, properties=['ci'], classes=(1,))
    assert same['d'][0] == 0.0
    assert apart['d'][0] == 1.0


def _catalog(n=6):
    tbl = QTable({'x': np.arange(n) * 4.0, 'y': np.zeros(n), 'ci': np.full(n, 1.5),
                  'class': np.arange(n) % 4 + 1})
    for band in BANDS:
        tbl[f'mag_{band}'] = np.full(n, 22.0) * u.mag
        tbl[f'magerr_{band}'] = np.full(n, 0.05) * u.mag
    return tbl


@pytest.mark.parametrize('drop, words', [
    ('class', 'class (class_column)'), ('mag_F555W', 'mag_F555W'),
    ('magerr_F336W', 'magerr_F336W'), ('ci', "'ci'")])
def test_refuses_a_catalog_without_classes_or_magnitudes(drop, words):
    tbl = _catalog()
    del tbl[drop]
    with pytest.raises(ValueError, match='cannot be compared') as info:
        realism_properties(tbl, distance=10 * u.Mpc)
    assert words in str(info.value)


def test_refuses_a_table_that_is_not_realism_properties():
    with pytest.raises(ValueError, match='realism_properties'):
        compare_catalogs(QTable({'class': [1]}), QTable({'class': [1]}))


def test_properties_colors_neighbors_and_selection():
    tbl = _catalog()
    tbl['mag_F336W'][0] = 21.0 * u.mag   # U - B = -1
    tbl['mag_F814W'][1] = 21.2 * u.mag   # V - I = 0.8
    tbl['magerr_F275W'][2] = 0.5 * u.mag   # not detected in F275W
    tbl['magerr_F438W'][2] = 0.5 * u.mag   # and F438W: 3 bands
    tbl['ci'][3] = 1.3   # CI too low
    tbl['mag_F555W'][4] = 25.0 * u.mag   # too faint at 10 Mpc (M_V = -5)
    props = realism_properties(tbl, distance=10 * u.Mpc)
    assert props['ub'][0] == pytest.approx(-1.0)
    assert props['vi'][1] == pytest.approx(0.8)
    assert props['abs_mag_V'][0] == pytest.approx(22.0 - 30.0)
    # Points 4 px apart: 1 or 2 neighbours within 5 px, 2-4 within 10 px.
    assert props['n_neighbors_5'].tolist() == [1, 2, 2, 2, 2, 1]
    assert props['n_neighbors_10'].tolist() == [2, 3, 4, 4, 3, 2]
    assert props['n_bands'].tolist() == [5, 5, 3, 5, 5, 5]
    assert props['selected'].tolist() == [True, True, False, False, False, True]
    tbl['class'][5] = 0   # not inspected
    assert not realism_properties(tbl, distance=10 * u.Mpc)['selected'][5]


def test_legus_preset_differs_and_v1_is_the_default():
    assert PRESETS['v1'] == Tuning()
    v1 = make_cluster_field((300, 300), 60, seed=3)
    same = make_cluster_field((300, 300), 60, seed=3, preset='v1')
    legus = make_cluster_field((300, 300), 60, seed=3, preset='legus')
    np.testing.assert_array_equal(v1.images.data, same.images.data)
    assert not np.array_equal(v1.images.data, legus.images.data)
    assert legus.meta['arguments']['preset'] == 'legus'
    with pytest.raises(ValueError, match="preset must be one of \\['legus', 'v1'\\]"):
        make_cluster_field((300, 300), 10, preset='paper')


def test_soft_completeness_reaches_past_v_limit():
    tuning = PRESETS['legus']
    field = make_cluster_field((1200, 1200), 800, seed=4, preset='legus',
                               distance=10 * u.Mpc)
    clusters = field.truth[np.isin(field.truth['class'], [1, 2, 3])]
    v = clusters['mag_F555W'].to_value(u.mag)
    # The detection probability is 1/2 at v_limit: a tail of fainter clusters,
    # none as faint as v_limit + 6 widths.
    assert 0.05 < np.mean(v > tuning.v_limit) < 0.5
    assert v.max() < tuning.v_limit + 6 * tuning.completeness_width
    hard = make_cluster_field((1200, 1200), 800, seed=4, distance=10 * u.Mpc)
    hard_v = hard.truth[np.isin(hard.truth['class'], [1, 2, 3])]['mag_F555W'].to_value(u.mag)
    assert hard_v.max() <= PRESETS['v1'].v_limit


def test_legus_pairs_sit_on_their_brightest_star_and_young_objects_group():
    legus = make_cluster_field((1500, 1500), 900, seed=6, preset='legus',
                               class_fractions={3: 1, 4: 1},
                               subclass_fractions={'4.2': 1})
    v1 = make_cluster_field((1500, 1500), 900, seed=6, class_fractions={3: 1, 4: 1},
                            subclass_fractions={'4.2': 1})

    def peak_offset(field):
        pairs = field.truth[field.truth['subclass'] == '4.2']
        image = field.images.data[3]
        ix = np.rint(np.asarray(pairs['x'])).astype(int)
        iy = np.rint(np.asarray(pairs['y'])).astype(int)
        # The brightest pixel of a 7 x 7 box around the candidate.
        offsets = []
        for x, y in zip(ix, iy):
            box = image[y - 3:y + 4, x - 3:x + 4]
            j, i = np.unravel_index(np.argmax(box), box.shape)
            offsets.append(np.hypot(i - 3, j - 3))
        return np.median(offsets)

    assert peak_offset(legus) <= 1.0 < peak_offset(v1)

    def close_pairs(field):
        xy = np.column_stack([field.truth['x'], field.truth['y']])
        d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        return np.mean(d.min(axis=1) < 10)

    assert close_pairs(legus) > close_pairs(v1) + 0.1


def test_simulated_catalog_is_aperture_corrected_to_the_total():
    field = make_cluster_field((1000, 1000), 400, seed=9, preset='legus',
                               class_fractions={1: 3, 4: 1}, subclass_fractions={'4.1': 1},
                               noise=False, galaxy=False, n_field_stars=0)
    cat = simulated_catalog(field, catalog_ci_min=None)
    corr = cat.meta['realism']['aperture_correction']
    assert all(-1.0 < corr[b] < 0 for b in BANDS)
    # Corrected 4 px magnitudes of these isolated clusters scatter around their totals.
    truth = field.labelled_candidates(('class', 'mag_F555W'))
    diff = cat['mag_F555W'].value - truth['mag_F555W'].value
    assert abs(np.nanmedian(diff[truth['class'] == 1])) < 0.03
    # Stars are more concentrated than clusters: the clusters' correction over-corrects them.
    assert np.nanmedian(diff[truth['class'] == 4]) < -0.05
    err = cat['magerr_F555W'].value
    assert np.all(err[np.isfinite(err)] > 0)
    cut = simulated_catalog(field)
    assert np.all(cut['ci'].value >= 1.35) and len(cut) < len(cat)


def test_galaxy_setup_reads_the_phangs_tables():
    data = shared_data_path('hst_zeropoints_phangs').parent
    setup = galaxy_setup('ngc1566', data=data)
    assert setup['distance'].to_value(u.Mpc) == pytest.approx(17.69)
    assert setup['exptime']['F555W'] == pytest.approx(1143.0)
    assert setup['nexp']['F555W'] == 3
    assert setup['zeropoints']['F555W'] == pytest.approx(25.8325)
    acs = galaxy_setup('ngc628c', data=data)
    assert acs['zeropoints']['F438W'] == pytest.approx(25.7643)   # ACS F435W in the B slot
    with pytest.raises(FileNotFoundError, match='ngc9999'):
        galaxy_setup('ngc9999', data=data)


def test_realism_report_on_a_legus_catalog():
    path = shared_data_path(
        'legus_tab', 'hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab')
    import astro_clusterclass.io  # noqa: F401  (format='legus')
    real = QTable.read(path, format='legus')
    setup = galaxy_setup('ngc628c', data=path.parents[1])
    report = realism_report(real, distance=9.8 * u.Mpc, shape=(800, 800), seed=1,
                            exptime=setup['exptime'], nexp=setup['nexp'],
                            zeropoints=setup['zeropoints'])
    cmp = report.comparison
    assert set(cmp['class']) == {1, 2, 3, 4}
    ks = cmp[cmp['kind'] == 'ks']
    assert np.all((ks['d'][np.isfinite(ks['d'])] >= 0) & (ks['d'][np.isfinite(ks['d'])] <= 1))
    # The real side is the catalogue's own numbers.
    sel = report.real['selected'] & (report.real['class'] == 1)
    ci = np.asarray(real['ci'])[np.asarray(sel)]
    row = ks[(ks['class'] == 1) & (ks['property'] == 'ci')][0]
    assert row['median_real'] == pytest.approx(np.median(ci))
    assert report.field.meta['arguments']['preset'] == 'legus'
    del real['class']
    with pytest.raises(ValueError, match='class'):
        realism_report(real, distance=9.8 * u.Mpc, shape=(200, 200))
