"""Candidate photometry against direct pixel sums, analytic profiles and PHANGS zeropoints."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from scipy.special import erf

from astro_clusterclass.bands import BANDS
from astro_clusterclass.conftest import gaussian_field, legus_file, shared_data_path
from astro_clusterclass.io import read_phangs_zeropoints
from astro_clusterclass.photometry import (MCI_RADII, PhotFlag, SelectionFlag,
                                           candidate_photometry, select_candidates,
                                           zeropoints_from_photflam)


def _integrated_gaussian(shape, positions, fluxes, sigma, background=0.0):
    """Gaussians integrated over each pixel (pixel centres at integers)."""
    ny, nx = shape
    image = np.full(shape, background, dtype=float)
    edges_x, edges_y = np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5
    for (x, y), flux in zip(positions, fluxes):
        cx = 0.5 * np.diff(erf((edges_x - x) / (np.sqrt(2) * sigma)))
        cy = 0.5 * np.diff(erf((edges_y - y) / (np.sqrt(2) * sigma)))
        image += flux * np.outer(cy, cx)
    return image


def _bands(image):
    return dict.fromkeys(BANDS, image)


def test_sums_and_background_equal_direct_pixel_selection():
    """With method='center' an aperture is the set of pixels whose centres lie inside."""
    rng = np.random.default_rng(1)
    image = rng.normal(10.0, 1.0, (80, 90))
    candidates = QTable({'x': [30.3, 55.71, 44.2], 'y': [40.6, 33.17, 52.9]})
    phot = candidate_photometry(candidates, _bands(image), method='center',
                                radii_bands=BANDS, zeropoints=dict.fromkeys(BANDS, 25.0))
    yy, xx = np.mgrid[:80, :90]
    for i, (x, y) in enumerate(zip(candidates['x'], candidates['y'])):
        d = np.hypot(xx - x, yy - y)
        bkg = np.median(image[(d >= 7) & (d <= 8)])
        assert phot['bkg_F814W'][i] == pytest.approx(bkg)
        for r in MCI_RADII:
            label = f'r{r:g}'.replace('.', 'p')
            inside = d <= r
            # The background is subtracted over the pixels summed, not π r².
            expected = image[inside].sum() - bkg * inside.sum()
            assert phot[f'flux_F336W_{label}'][i] == pytest.approx(expected)
    # Pure noise: fluxes scatter around zero, so only NONPOSITIVE may be set.
    other = PhotFlag.EDGE | PhotFlag.OFF_IMAGE | PhotFlag.NONFINITE
    assert not np.any(phot['phot_flag'] & np.uint8(other))


def test_magnitudes_ci_and_mci_of_a_gaussian():
    sigma, flux, zp = 1.5, 5000.0, 25.0
    image = _integrated_gaussian((64, 64), [(31.3, 30.8)], [flux], sigma, background=3.0)
    phot = candidate_photometry(QTable({'x': [31.3], 'y': [30.8]}), _bands(image),
                                zeropoints=dict.fromkeys(BANDS, zp))

    def analytic(r):  # flux of a circular Gaussian inside radius r
        return flux * (1 - np.exp(-r ** 2 / (2 * sigma ** 2)))

    assert phot['bkg_F555W'][0] == pytest.approx(3.0, abs=0.01)
    for band in BANDS:
        expected = zp - 2.5 * np.log10(analytic(4.0))
        assert phot[f'mag_{band}'][0].to_value(u.mag) == pytest.approx(expected, abs=0.01)
    expected_ci = 2.5 * np.log10(analytic(3.0) / analytic(1.0))
    # Pixel integration blurs the core a little: CI within 0.05 mag.
    assert phot['ci'][0].to_value(u.mag) == pytest.approx(expected_ci, abs=0.05)
    mci = [c for c in phot.colnames if c.startswith('mci_')]
    assert mci == ['mci_1_1p5', 'mci_1p5_2', 'mci_2_2p5', 'mci_2p5_3', 'mci_3_4', 'mci_4_5']
    total = sum(phot[c][0] for c in mci)
    assert total.to_value(u.mag) == pytest.approx(
        (phot['mag_F555W_r1'][0] - phot['mag_F555W_r5'][0]).to_value(u.mag))
    # Other bands are measured at the photometry radius only, unless asked.
    assert 'mag_F336W_r1' not in phot.colnames and 'mag_F336W_r4' in phot.colnames


def test_vectorised_equals_one_at_a_time(small_field):
    positions = QTable({'x': [60.0, 150.3, 20.0, 100.0], 'y': [50.0, 120.7, 180.0, 100.0]})
    together = candidate_photometry(positions, small_field, zeropoints='AB')
    for i in range(len(positions)):
        alone = candidate_photometry(positions[i:i + 1], small_field, zeropoints='AB')
        for name in ('mag_F555W', 'ci', 'bkg_F275W', 'mci_2_2p5'):
            np.testing.assert_allclose(np.asarray(alone[name]), np.asarray(together[name][i:i + 1]))


def test_every_row_comes_back_flagged():
    image = np.ones((50, 50)) * 2.0
    image[10, 10] = np.nan
    yy, xx = np.mgrid[:50, :50]
    for x0, y0 in ((25, 25), (12, 12), (2, 25)):
        image += 300 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 4.0)
    candidates = QTable({'x': [25.0, 2.0, 80.0, np.nan, 12.0],
                         'y': [25.0, 25.0, 10.0, 3.0, 12.0], 'id': np.arange(5)})
    before = candidates.copy()
    phot = candidate_photometry(candidates, _bands(image))
    assert len(phot) == 5
    np.testing.assert_array_equal(candidates['x'], before['x'])
    assert 'ci' not in candidates.colnames
    flags = [PhotFlag.describe(f) for f in phot['phot_flag']]
    assert flags[0] == 'NONE'
    assert flags[1] == 'EDGE'
    assert flags[2] == 'OFF_IMAGE' and flags[3] == 'OFF_IMAGE'
    assert np.isnan(phot['mag_F555W'][2].value) and np.isnan(phot['ci'][3].value)
    assert flags[4] == 'NONFINITE'
    assert np.isfinite(phot['mag_F555W'][4].value)  # NaN pixel left out, not propagated
    # The same source as row 0, less the one masked pixel (about 40 of 1200 counts).
    assert 0 < (phot['mag_F555W'][4] - phot['mag_F555W'][0]).to_value(u.mag) < 0.1


def test_negative_flux_gives_nan_magnitude():
    image = np.full((40, 40), 5.0)
    image[18:23, 18:23] = 1.0  # a hole: fainter than the background
    phot = candidate_photometry(QTable({'x': [20.0], 'y': [20.0]}), _bands(image))
    assert phot['phot_flag'][0] & PhotFlag.NONPOSITIVE
    assert np.isnan(phot['mag_F555W'][0].value)


def test_zeropoints_from_photflam_match_phangs_tables():
    """AB zeropoints computed from PHOTFLAM/PHOTPLAM equal the PHANGS-HST tabulated ones."""
    zp = read_phangs_zeropoints(shared_data_path('hst_zeropoints_phangs',
                                                 'header_info_ngc1566_prime.txt'))
    assert zp['band'].tolist() == list(BANDS)
    hdus = gaussian_field(shape=(20, 20), positions=())
    for hdu, row in zip(hdus, zp):
        hdu.header['PHOTFLAM'] = row['photflam']
        hdu.header['PHOTPLAM'] = row['photplam'].to_value(u.AA)
    ours = zeropoints_from_photflam(hdus, system='AB')
    for row in zp:
        assert ours[row['band']] == pytest.approx(row['zp_ab'].to_value(u.mag), abs=2e-3)
    st = zeropoints_from_photflam(hdus, system='ST')
    assert st['F555W'] == pytest.approx(-2.5 * np.log10(zp['photflam'][3]) - 21.10)


def test_zeropoint_options(small_field):
    candidates = QTable({'x': [60.0], 'y': [50.0]})
    inst = candidate_photometry(candidates, small_field)
    vega = candidate_photometry(candidates, small_field,
                                zeropoints={b: 20.0 + i for i, b in enumerate(BANDS)},
                                aperture_correction={'F555W': -0.3})
    diff = (vega['mag_F555W'] - inst['mag_F555W'])[0].to_value(u.mag)
    assert diff == pytest.approx(23.0 - 0.3)
    assert inst.meta['photometry']['magnitude_system'].startswith('instrumental')


def _counts_not_rates():
    hdus = gaussian_field(shape=(20, 20), positions=())
    hdus[0].header['BUNIT'] = 'ELECTRONS'
    return hdus


@pytest.mark.parametrize('call, match', [
    (lambda field, cands: candidate_photometry(cands, field,
                                               zeropoints={b: 25 for b in BANDS[:4]}),
     r"zeropoints lacks band\(s\) \['F814W'\]"),
    (lambda field, cands: candidate_photometry(cands, field, zeropoints='VEGA'),
     "system must be one of 'AB', 'ST'"),
    (lambda field, cands: candidate_photometry(cands, _bands(np.zeros((20, 20))),
                                               zeropoints='AB'),
     'header lacks'),
    (lambda field, cands: zeropoints_from_photflam(_counts_not_rates()), 'not a count rate'),
])
def test_zeropoint_errors(small_field, call, match):
    candidates = QTable({'x': [60.0], 'y': [50.0]})
    with pytest.raises(ValueError, match=match):
        call(small_field, candidates)


def test_column_clash(small_field):
    candidates = QTable({'x': [60.0], 'y': [50.0], 'ci': [1.5]})
    with pytest.raises(ValueError, match=r"already has column\(s\) \['ci'\]; pass prefix="):
        candidate_photometry(candidates, small_field)
    out = candidate_photometry(candidates, small_field, prefix='ph_')
    assert 'ph_ci' in out.colnames and out['ci'][0] == 1.5


@pytest.mark.parametrize('kwargs, match', [
    ({'radii': (2, 4)}, 'must include 1 and 3'),
    ({'annulus': (8, 7)}, 'annulus'),
    ({'ci_band': 'F999W'}, 'ci_band'),
])
def test_bad_parameters(small_field, kwargs, match):
    candidates = QTable({'x': [60.0], 'y': [50.0], 'ci': [1.5]})
    with pytest.raises(ValueError, match=match):
        candidate_photometry(candidates, small_field, prefix='p_', **kwargs)


def test_select_candidates_flags():
    tbl = QTable({'ci': [1.2, 1.6, 1.8, 1.5, np.nan, 2.5],
                  'mag_F555W': [22.0, 22.0, 24.5, 22.0, 22.0, 22.0] * u.mag,
                  'mag_F336W': [22.0, 22.0, 22.0, np.nan, 22.0, 22.0] * u.mag,
                  'mci_1_1p5': [0.5, 0.5, 0.5, 0.5, 0.5, 0.1]})
    sel = select_candidates(tbl, distance_modulus=30.0, min_bands=2,
                            mci_limits={'mci_1_1p5': (0.3, None)})
    names = [SelectionFlag.describe(f) for f in sel['selection_flag']]
    assert names == ['CI_LOW', 'NONE', 'FAINT', 'FEW_BANDS', 'CI_LOW', 'MCI']
    assert sel['selected'].tolist() == [False, True, False, False, False, False]
    assert sel['n_bands'].tolist() == [2, 2, 2, 1, 2, 2]
    capped = select_candidates(tbl, ci_max=2.0, mag_limit=23.0, min_bands=1)
    assert SelectionFlag.describe(capped['selection_flag'][5]) == 'CI_HIGH'
    with pytest.raises(ValueError, match="ci_column: 'CI' is not a column"):
        select_candidates(tbl, ci_column='CI')


def test_legus_catalog_passes_its_own_cuts():
    """The LEGUS readme: the catalogue holds only CI >= 1.4 sources, and only those with
    at least four bands and M_V <= -6 were inspected."""
    tbl = QTable.read(legus_file('ngc628-c'), format='legus')
    sel = select_candidates(tbl, ci_min=1.4, min_bands=0)
    ci = tbl['ci'].filled(np.nan).value
    assert not np.any(sel['selection_flag'][np.isfinite(ci)] & SelectionFlag.CI_LOW)
    inspected = tbl['class'] > 0
    cuts = select_candidates(tbl, ci_min=1.4, min_bands=4)
    assert np.all(cuts['selected'][inspected])
    # (The readme's V <= -6 cut used a CI-dependent aperture correction, not
    # the average one of these magnitudes, so it cannot be re-applied here.)
