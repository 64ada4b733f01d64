"""
Physical sanity of the simulated fields, measured against independent data.

Concentration indices are measured with photutils aperture photometry;
colours are placed in the colour-colour boxes by the comparison module;
the PSF, zeropoints, BC03 colours and extinction are compared with the
shared PHANGS-HST files (tests skip when those are absent).
"""

import csv

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)
from photutils.centroids import centroid_com
from photutils.detection import find_peaks

from astro_clusterclass import BANDS
from astro_clusterclass.compare import agreement_fractions, assign_color_boxes
from astro_clusterclass.conftest import shared_data_path
from astro_clusterclass.datasets import (HUMAN_CONFUSION, bc03_track, default_photometry,
                                         make_cluster_field, make_psf_model, relabel_classes)
from astro_clusterclass.datasets._photometry import absolute_magnitudes, ssp_colors
from astro_clusterclass.datasets._population import allocate_labels
from astro_clusterclass.datasets._psf import point_stamps


def _labels(truth):
    return np.array([s if s else str(c) for c, s in zip(truth['class'], truth['subclass'])])


def _ci(image, x, y):
    """LEGUS concentration index: m(1 px) - m(3 px), local background 7-8 px."""
    pos = np.stack([x, y], axis=1)
    a1, a3 = CircularAperture(pos, 1.0), CircularAperture(pos, 3.0)
    background = ApertureStats(image, CircularAnnulus(pos, 7.0, 8.0)).median
    f1 = aperture_photometry(image, a1)['aperture_sum'] - background * a1.area
    f3 = aperture_photometry(image, a3)['aperture_sum'] - background * a3.area
    return 2.5 * np.log10(np.asarray(f3) / np.asarray(f1))


# -- shipped tables against the shared PHANGS-HST files ----------------------

def test_bc03_table_is_the_shared_track():
    folder = shared_data_path('bc03_phangs')
    track = bc03_track()
    np.testing.assert_allclose(track['age'].to_value(u.Myr), np.load(folder / 'age_mod_sol.npy'))
    for color in ('ub', 'vi', 'bv', 'nuvb', 'nuvu'):
        np.testing.assert_allclose(track[color].to_value(u.mag),
                                   np.load(folder / f'model_{color}_sol.npy'), atol=6e-6)


def test_bc03_solar_check_values():
    # shared/data/README.md: (U-B, V-I) at 1 Myr, 100 Myr and 13.75 Gyr.
    c = ssp_colors([1e6, 1e8, 13.75e9] * u.yr)
    np.testing.assert_allclose(c['ub'], [-1.65, -0.59, 0.47], atol=0.005)
    np.testing.assert_allclose(c['vi'], [-0.33, 0.46, 1.36], atol=0.01)


def test_zeropoints_are_ngc3351():
    path = shared_data_path('hst_zeropoints_phangs', 'header_info_ngc3351_prime.txt')
    rows = {line.split()[0]: line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith('#')}
    phot = default_photometry()
    for row in phot:
        words = rows[row['band']]
        assert row['photflam'].value == pytest.approx(float(words[2]))
        assert row['photplam'].to_value(u.AA) == pytest.approx(float(words[3]))
        assert row['zp_vega'].to_value(u.mag) == pytest.approx(float(words[6]))
        assert row['exptime'].to_value(u.s) == pytest.approx(float(words[7]))


def test_extinction_ratios_match_phangs_galactic_extinction():
    path = shared_data_path('hst_zeropoints_phangs', 'phangs_hst_galactic_extinction_table.csv')
    with open(path) as handle:
        rows = {r['gal_name']: r for r in csv.DictReader(handle)}
    row = rows['ngc3351']
    a = np.array([float(row[f'{b}_UVIS_CHIP2']) for b in BANDS])
    r_ext = np.asarray(default_photometry()['r_ext'], dtype=float)
    # A_band / A_F555W from the PHANGS table vs our R_band / R_F555W.
    np.testing.assert_allclose(r_ext / r_ext[3], a / a[3], rtol=0.02)


def test_psf_encircled_energy_matches_wfc3():
    path = shared_data_path('hst_zeropoints_phangs', 'wfc3uvis1_aper_007_syn.csv')
    with open(path) as handle:
        rows = list(csv.reader(handle))
    radii = np.array([float(h.split('#')[1]) for h in rows[0][2:]]) / 0.04  # pixels
    table = {r[0]: np.array(r[2:], dtype=float) for r in rows[1:]}
    for band in BANDS:
        stamp = point_stamps(band, np.array([0.0]), np.array([0.0]), 65)[0]
        for r in (1.0, 2.0, 3.0, 5.0, 10.0):
            measured = aperture_photometry(stamp, CircularAperture((32, 32), r))['aperture_sum'][0]
            expected = np.interp(r, radii, table[band])
            # Integrating over pixels broadens the core a little (r = 1 px).
            assert measured == pytest.approx(expected, abs=0.04 if r <= 2 else 0.025), (band, r)


def test_point_stamps_are_centered_where_asked():
    offsets = np.array([-0.5, -0.3, 0.0, 0.25, 0.45])
    for band in ('F275W', 'F814W'):
        stamps = point_stamps(band, offsets, -offsets, 65)
        for stamp, dx in zip(stamps, offsets):
            cx, cy = centroid_com(stamp)
            # Positions are exact to 1/8 px (OVERSAMPLING).
            assert cx - 32 == pytest.approx(dx, abs=0.07)
            assert cy - 32 == pytest.approx(-dx, abs=0.07)
        # The same sky position seen from neighbouring pixels is the same image.
        left = point_stamps(band, np.array([0.5]), np.array([0.0]), 65)[0]
        right = point_stamps(band, np.array([-0.5]), np.array([0.0]), 65)[0]
        np.testing.assert_allclose(left[:, 1:], right[:, :-1], atol=1e-12)


def test_photutils_psf_model_has_unit_flux():
    model = make_psf_model('F555W')
    yy, xx = np.mgrid[-40:41, -40:41]
    assert model(xx, yy).sum() == pytest.approx(1.0, abs=0.01)


# -- photometry of SSPs ------------------------------------------------------

def test_absolute_magnitudes():
    mags = absolute_magnitudes([1e7, 1e8, 1.2e10] * u.yr, [1e4, 1e4, 2e5] * u.solMass)
    # Colours reproduce the BC03 track.
    c = ssp_colors([1e7, 1e8, 1.2e10] * u.yr)
    np.testing.assert_allclose(mags[:, 1] - mags[:, 2], c['ub'])
    np.testing.assert_allclose(mags[:, 3] - mags[:, 4], c['vi'])
    np.testing.assert_allclose(mags[:, 0] - mags[:, 1], c['nuvu'])
    # A 10^4 Msun cluster at 10 Myr: M_V = 4.81 + 2.5 log10(0.0205) - 10 = -9.41.
    assert mags[0, 3] == pytest.approx(-9.41, abs=0.01)
    # Fades with age, and an old 2e5 Msun cluster looks like a Milky Way
    # globular (median M_V = -7.4, Harris 1996 catalogue).
    assert mags[1, 3] > mags[0, 3]
    assert -7.9 < mags[2, 3] < -6.9
    with pytest.raises(TypeError, match='mass must be a Quantity'):
        absolute_magnitudes([1e7] * u.yr, [1e4])
    with pytest.raises(ValueError, match='age must be positive'):
        ssp_colors([-1.0] * u.yr)


# -- images: concentration index, morphology, colours ------------------------

def test_concentration_index_stars_vs_clusters():
    f = make_cluster_field((700, 700), 240, seed=21, class_fractions={1: 1, 4: 1},
                           subclass_fractions={'4.1': 1})
    t = f.truth
    bright = t['mag_F555W'] < 23.5 * u.mag
    ci = _ci(f.images['F555W'], np.asarray(t['x']), np.asarray(t['y']))
    stars = ci[bright & (t['class'] == 4)]
    clusters = ci[bright & (t['class'] == 1)]
    assert len(stars) > 30 and len(clusters) > 30
    # Stars lie below the LEGUS cluster cut of CI = 1.4.
    assert 1.15 < np.median(stars) < 1.35
    assert np.mean(stars < 1.4) > 0.9
    # Class 1 clusters are broader, like the LEGUS class-1 clusters at ~10 Mpc
    # (docs/simulations.rst).
    assert 1.45 < np.median(clusters) < 1.8
    assert np.median(clusters) - np.median(stars) > 0.25
    assert np.mean(clusters >= 1.4) > 0.85


def test_peaks_follow_the_class_definitions():
    f = make_cluster_field((1100, 1100), 170, seed=4, noise=False, galaxy=False,
                           n_field_stars=0, min_separation=60,
                           class_fractions={1: 1, 2: 1, 3: 1, 4: 0.5},
                           subclass_fractions={'4.1': 1, '4.2': 1})
    t = f.truth
    image = f.images['F555W']
    labels = _labels(t)
    peaks = {}
    for i, label in enumerate(labels):
        x, y = t['x'][i], t['y'][i]
        ix, iy = int(round(x)), int(round(y))
        cut = image[iy - 8:iy + 9, ix - 8:ix + 9]
        found = find_peaks(cut, threshold=0.05 * cut.max(), box_size=3)
        d = np.hypot(found['x_peak'] - (x - ix + 8), found['y_peak'] - (y - iy + 8))
        peaks.setdefault(label, []).append(int(np.sum(d <= 5.5)))
    peaks = {k: np.array(v) for k, v in peaks.items()}
    assert np.all(peaks['1'] == 1)
    assert np.all(peaks['4.1'] == 1)
    assert np.mean(peaks['2'] == 1) >= 0.9
    assert np.mean(peaks['3'] >= 2) >= 0.95
    assert np.mean(peaks['3'] >= 4) >= 0.6
    assert np.mean(peaks['4.2'] == 2) >= 0.5


def test_color_boxes_hold_the_expected_ages():
    f = make_cluster_field((1000, 1000), 700, seed=8, class_fractions={1: 1, 2: 1, 3: 1},
                           n_field_stars=0)
    t = assign_color_boxes(f.truth)
    age = t['age'].to_value(u.yr)
    box = np.ma.filled(t['box'], 0)
    old = age > 1e9
    very_young = age < 1e7
    young = (age >= 1e7) & (age < 1e8)
    assert old.sum() > 40 and very_young.sum() > 100 and young.sum() > 100
    assert np.mean(box[old] == 1) > 0.9
    assert np.mean(np.isin(box[very_young], (3, 4))) > 0.8
    assert np.mean(np.isin(box[young], (3, 4))) > 0.65


# -- the second classifier ---------------------------------------------------

def _synthetic_truth(n):
    counts = allocate_labels(n)
    labels = [label for label, k in counts.items() for _ in range(k)]
    return QTable({'id': np.arange(1, n + 1),
                   'class': [int(label.split('.')[0]) for label in labels],
                   'subclass': [label if '.' in label else '' for label in labels]})


def test_relabel_reproduces_human_disagreement():
    truth = _synthetic_truth(20000)
    before = truth.copy()
    out = relabel_classes(truth, seed=1)
    assert np.all(truth['class'] == before['class'])  # input untouched
    truth['second'] = out['class']
    f = agreement_fractions(truth, 'class', 'second')
    got = dict(zip(f['class'], f['fraction']))
    # NGC 3351 PHANGS-HST vs LEGUS (same human): 82, 53, 46, 73 %; 1+2: 81 %.
    for key, paper in (('1', 0.82), ('2', 0.53), ('3', 0.46), ('4', 0.73), ('1+2', 0.81)):
        assert got[key] == pytest.approx(paper, abs=0.03), key


def test_relabel_rows_and_seed():
    truth = _synthetic_truth(500)
    a = relabel_classes(truth, seed=3)
    b = relabel_classes(truth, seed=3)
    c = relabel_classes(truth, seed=4)
    np.testing.assert_array_equal(a['class'], b['class'])
    assert not np.array_equal(a['class'], c['class'])
    assert len(a) == len(truth) and list(a['id']) == list(truth['id'])
    identity = relabel_classes(truth, confusion=np.eye(4))
    np.testing.assert_array_equal(identity['class'], truth['class'])
    # Pairs go to classes 2 and 3 far more often than symmetric clusters do.
    pairs = truth['subclass'] == '4.2'
    assert HUMAN_CONFUSION['4.2'][1] + HUMAN_CONFUSION['4.2'][2] > 0.3
    assert np.mean(np.isin(a['class'][pairs], (2, 3))) > 0.2


@pytest.mark.parametrize('confusion, match', [
    (np.ones((3, 3)) / 3, 'must be a dict or a 4x4 matrix'),
    ([[1, 0, 0, 0]] * 3 + [[0.5, 0.5, 0.5, 0]], r"confusion\['4'\] must sum to 1"),
    ({1: (1, 0, 0, 0)}, r'missing \[2, 3, 4\]'),
    ({1: (1, 0, 0, 0), 2: (0, 1, 0, 0), 3: (0, 0, 1, 0), 4: (0, 0, 0, 1), '5.1': (1, 0, 0, 0)},
     "unknown key '5.1'"),
    ({1: (1, 0, 0, 0), 2: (0, 1, 0, 0), 3: (0, 0, 1, 0), 4: (-0.5, 0.5, 0, 1)},
     'non-negative probabilities'),
])
def test_relabel_bad_matrix(confusion, match):
    with pytest.raises(ValueError, match=match):
        relabel_classes(_synthetic_truth(10), confusion=confusion)


@pytest.mark.parametrize('tbl, error, match', [
    (QTable({'id': [1]}), ValueError, "class_column: 'class' is not a column"),
    (QTable({'class': [0, 1]}), ValueError, 'outside the class scheme'),
    ({'class': [1]}, TypeError, 'tbl must be an astropy Table'),
])
def test_relabel_bad_truth(tbl, error, match):
    with pytest.raises(error, match=match):
        relabel_classes(tbl)
