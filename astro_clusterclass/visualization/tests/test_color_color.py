"""The colour-colour diagram: reddening vector, accounting of every row, class 4, errors."""

import csv

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from matplotlib.collections import LineCollection

from astro_clusterclass.bands import BANDS
from astro_clusterclass.conftest import legus_file, shared_data_path
from astro_clusterclass.datasets import bc03_track, default_photometry, make_cluster_field
from astro_clusterclass.visualization import plot_color_color, reddening_vector


def _ccm89(wavelength_um, r_v=3.1):
    """A(λ)/A(V) of Cardelli, Clayton & Mathis (1989, ApJ 345, 245), eqs. 2-3, 0.3-3.3 / µm."""
    x = 1.0 / wavelength_um
    if x < 1.1:
        a, b = 0.574 * x ** 1.61, -0.527 * x ** 1.61
    else:
        y = x - 1.82
        a = np.polyval([0.32999, -0.77530, 0.01979, 0.72085, -0.02427, -0.50447, 0.17699, 1.0],
                       y)
        b = np.polyval([-2.09002, 5.30260, -0.62251, -5.38434, 1.07233, 2.28305, 1.41338, 0.0],
                       y)
    return a + b / r_v


def test_reddening_vector_against_the_phangs_extinction_table():
    # PHANGS-HST's Milky Way extinction in each band, computed by PHANGS
    # (independently of this package): its band ratios fix the direction of
    # the vector and its length relative to A(F555W).
    path = shared_data_path('hst_zeropoints_phangs', 'phangs_hst_galactic_extinction_table.csv')
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    a = {b: np.array([float(r[f'{b}_UVIS_CHIP2']) for r in rows])
         for b in ('F336W', 'F438W', 'F555W', 'F814W')}
    vector = reddening_vector(1 * u.mag)
    vi, ub = vector['vi'].to_value(u.mag), vector['ub'].to_value(u.mag)
    # A(F555W) for A_V = 1: CCM89 at the F555W pivot wavelength (F99 and CCM89
    # agree to about 1 % there).
    pivot = default_photometry()['photplam'][3].to_value(u.um)
    a_555 = _ccm89(pivot)
    assert vi == pytest.approx(a_555 * np.median(1 - a['F814W'] / a['F555W']), rel=0.02)
    assert ub == pytest.approx(a_555 * np.median((a['F336W'] - a['F438W']) / a['F555W']),
                               rel=0.02)
    assert ub / vi == pytest.approx(np.median((a['F336W'] - a['F438W'])
                                              / (a['F555W'] - a['F814W'])), rel=0.02)
    # Linear in A_V.
    assert reddening_vector(2.5 * u.mag)['vi'].to_value(u.mag) == pytest.approx(2.5 * vi)
    assert reddening_vector(0.5)['ub'].to_value(u.mag) == pytest.approx(0.5 * ub)


def test_reddening_vector_is_the_law_of_the_simulations():
    # Smooth class 1 clusters are BC03 SSPs reddened by E(B-V): their colour
    # minus the track's colour at their age is A_V times the vector.
    truth = make_cluster_field((500, 500), 200, seed=3).truth
    track = bc03_track()
    log_age = np.log10(track['age'].to_value(u.yr))
    ones = truth[truth['class'] == 1]
    a_v = 3.1 * np.asarray(ones['ebv'])
    assert np.ptp(a_v) > 0.5  # a range of reddening, not one value
    x = np.log10(ones['age'].to_value(u.yr))
    vector = reddening_vector(1 * u.mag)
    for name, (blue, red) in (('ub', ('F336W', 'F438W')), ('vi', ('F555W', 'F814W'))):
        observed = (ones[f'mag_{blue}'] - ones[f'mag_{red}']).to_value(u.mag)
        intrinsic = np.interp(x, log_age, track[name].to_value(u.mag))
        np.testing.assert_allclose(observed - intrinsic, a_v * vector[name].to_value(u.mag),
                                   atol=1e-6)


def _catalog(n=200, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(20, 24, n)
    tbl = QTable({'mag_F336W': (v + rng.uniform(-1.8, 0.5, n)) * u.mag,
                  'mag_F438W': v * u.mag, 'mag_F555W': v * u.mag,
                  'mag_F814W': (v - rng.uniform(-0.3, 1.3, n)) * u.mag,
                  'class': rng.integers(0, 5, n)})
    return tbl


def _shown(ax):
    return {c.get_label(): len(c.get_offsets()) for c in ax.collections
            if c.get_label().startswith('class')}


def test_every_row_is_accounted_for():
    tbl = _catalog()
    tbl['mag_F814W'][:7] = np.nan * u.mag  # no colours
    tbl['mag_F336W'][7:10] = 40 * u.mag  # U-B far outside the axes
    ax = plot_color_color(tbl, class_column='class')
    klass = np.asarray(tbl['class'])
    has_color = np.arange(len(tbl)) >= 7
    inside = np.arange(len(tbl)) >= 10
    expected_title = (f'{inside.sum()} of {len(tbl)} plotted;\n7 without colours,\n'
                      f'3 outside the axes')
    legend = ax.get_legend()
    assert legend.get_title().get_text() == expected_title
    texts = [t.get_text() for t in legend.get_texts()]
    for k in range(5):
        n_in, n_all = np.sum(inside & (klass == k)), np.sum(klass == k)
        label = f'class {k} ({n_in})' if n_in == n_all else f'class {k} ({n_in} of {n_all})'
        assert label in texts
    # Points outside the axes are drawn (they appear if the limits change).
    assert sum(_shown(ax).values()) == has_color.sum()
    # Hiding class 4, and choosing classes, are reasons too.
    hidden = plot_color_color(tbl, class_column='class', class4='hide')
    n4 = np.sum(has_color & (klass == 4))
    assert f'{n4} class 4 hidden' in hidden.get_legend().get_title().get_text()
    assert not any(t.get_text().startswith('class 4') for t in hidden.get_legend().get_texts())
    chosen = plot_color_color(tbl, class_column='class', classes=(1, 2))
    n_other = np.sum(has_color & ~np.isin(klass, (1, 2)))
    assert f'{n_other} in classes not shown' in chosen.get_legend().get_title().get_text()


def test_class_4_is_drawn_under_the_clusters():
    ax = plot_color_color(_catalog(), class_column='class')
    order = [c.get_label().split()[1] for c in ax.collections]
    assert order[:2] == ['0', '4']  # drawn first
    z = {c.get_label().split()[1]: c.get_zorder() for c in ax.collections}
    assert z['4'] < min(z['1'], z['2'], z['3'])


def test_reddening_arrow_drawn_with_its_length():
    ax = plot_color_color(_catalog(), reddening=2 * u.mag)
    arrows = [t for t in ax.texts if getattr(t, 'arrow_patch', None) is not None]
    assert len(arrows) == 1
    (x1, y1), (x0, y0) = arrows[0].xy, arrows[0].xyann
    vector = reddening_vector(2 * u.mag)
    assert x1 - x0 == pytest.approx(vector['vi'].value)
    assert y1 - y0 == pytest.approx(vector['ub'].value)
    assert '$A_V$ = 2 mag' in [t.get_text() for t in ax.texts]
    none = plot_color_color(_catalog(), reddening=None)
    assert not [t for t in none.texts if getattr(t, 'arrow_patch', None) is not None]


def test_typical_error_cross_and_error_bars():
    tbl = _catalog()
    rng = np.random.default_rng(1)
    for band in ('F336W', 'F438W', 'F555W', 'F814W'):
        tbl[f'phot_mag_{band}'] = tbl[f'mag_{band}']
        tbl[f'phot_magerr_{band}'] = rng.uniform(0.01, 0.3, len(tbl)) * u.mag
    mags = {b: f'phot_mag_{b}' for b in ('F336W', 'F438W', 'F555W', 'F814W')}
    ax = plot_color_color(tbl, mag_columns=mags)
    e = {b: tbl[f'phot_magerr_{b}'].value for b in mags}
    ub = (tbl['mag_F336W'] - tbl['mag_F438W']).value
    vi = (tbl['mag_F555W'] - tbl['mag_F814W']).value
    inside = (vi >= -1) & (vi <= 2) & (ub >= -2.2) & (ub <= 1.2)
    sigma_vi = np.median(np.hypot(e['F555W'], e['F814W'])[inside])
    sigma_ub = np.median(np.hypot(e['F336W'], e['F438W'])[inside])
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(bars) == 2  # the two arms of one cross
    widths = sorted(np.ptp(seg[:, i]) for c in bars for seg in c.get_segments()
                    for i in (0, 1) if np.ptp(seg[:, i]) > 0)
    assert widths == pytest.approx(sorted([2 * sigma_vi, 2 * sigma_ub]))
    assert any(t.get_text().startswith('median error') for t in ax.texts)
    # Default magerr_ columns next to mag_ columns, and one bar per point.
    for band in mags:
        tbl[f'magerr_{band}'] = tbl[f'phot_magerr_{band}']
    per_point = plot_color_color(tbl, errors='bars')
    segments = sum(len(c.get_segments()) for c in per_point.collections
                   if isinstance(c, LineCollection))
    assert segments == 2 * len(tbl)
    assert not plot_color_color(tbl, errors=None).collections[1:]
    with pytest.raises(ValueError, match="errors='cross' needs magnitude errors"):
        plot_color_color(_catalog(), errors='cross')
    with pytest.raises(ValueError, match='errors must be one of'):
        plot_color_color(_catalog(), errors='yes')


def test_ngc1566_accounts_for_the_rows_without_colours():
    tbl = QTable.read(legus_file('ngc1566'), format='legus')
    ax = plot_color_color(tbl, class_column='class', classes=(4,))
    klass = np.asarray(tbl['class'])
    bands = ('F336W', 'F438W', 'F555W', 'F814W')
    mags = [tbl[f'mag_{b}'].filled(np.nan).value for b in bands]
    no_color = ~np.all(np.isfinite(mags), axis=0)
    assert no_color.sum() > 0
    title = ax.get_legend().get_title().get_text()
    assert f'{no_color.sum()} without colours' in title
    n4 = np.sum(klass == 4)
    label = [t.get_text() for t in ax.get_legend().get_texts()][0]
    assert label.startswith('class 4 (') and label.endswith(f' of {n4})')
    # LEGUS carries magerr_ columns: the typical-error cross is drawn.
    assert any(t.get_text().startswith('median error') for t in ax.texts)
    assert set(BANDS) <= {c[len('magerr_'):] for c in tbl.colnames if c.startswith('magerr_')}
