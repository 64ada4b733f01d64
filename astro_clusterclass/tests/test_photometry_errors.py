"""Photometric errors against the truth of simulated fields with known noise."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)
from scipy.special import erf

from astro_clusterclass.bands import BANDS
from astro_clusterclass.images import load_images
from astro_clusterclass.photometry import (MCI_RADII, PhotFlag, candidate_photometry,
                                           radius_label)

SIGMA = 1.3          # PSF sigma (px)
SPACING = 36         # px between sources: isolated (annulus 7-8 px, wings negligible)
READ_NOISE = 4.0     # electrons per pixel
#: Per band: exposure time (s), sky (e-/s/px).
EXPOSURES = {'F275W': (1500.0, 0.004), 'F336W': (1100.0, 0.01), 'F438W': (900.0, 0.03),
             'F555W': (700.0, 0.08), 'F814W': (500.0, 0.15)}


def _gaussians(shape, x, y, flux):
    """Point sources integrated over each pixel (pixel centres at integers)."""
    ny, nx = shape
    image = np.zeros(shape)
    ex, ey = np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5
    half = 12  # the stamp of each source: 9 sigma
    for xi, yi, fi in zip(x, y, flux):
        x0, y0 = max(int(xi) - half, 0), max(int(yi) - half, 0)
        x1, y1 = min(int(xi) + half + 1, nx), min(int(yi) + half + 1, ny)
        cx = 0.5 * np.diff(erf((ex[x0:x1 + 1] - xi) / (np.sqrt(2) * SIGMA)))
        cy = 0.5 * np.diff(erf((ey[y0:y1 + 1] - yi) / (np.sqrt(2) * SIGMA)))
        image[y0:y1, x0:x1] += fi * np.outer(cy, cx)
    return image


def _field(seed=0, n_side=18):
    """
    Five bands in e-/s of isolated point sources: Poisson noise of source and sky
    plus Gaussian read noise. Returns the noisy HDUs, the noiseless source
    images (sky excluded), the true variances, the candidate table and the
    positions.
    """
    rng = np.random.default_rng(seed)
    side = SPACING * (n_side + 1)
    grid = SPACING * (np.arange(n_side) + 1.0)
    x, y = (g.ravel() + rng.uniform(-0.5, 0.5, g.size) for g in np.meshgrid(grid, grid))
    hdus, models, variances = [], {}, {}
    for band, (exptime, sky) in EXPOSURES.items():
        electrons = 10 ** rng.uniform(2.3, 4.5, x.size)     # 200-30 000 e- in total
        model = _gaussians((side, side), x, y, electrons / exptime)
        expected = (model + sky) * exptime
        counts = rng.poisson(expected) + rng.normal(0.0, READ_NOISE, expected.shape)
        hdu = fits.ImageHDU((counts / exptime).astype(np.float32))
        hdu.header.update(FILTER=band, EXPTIME=exptime, BUNIT='ELECTRONS/S')
        hdus.append(hdu)
        models[band] = model
        variances[band] = (expected + READ_NOISE ** 2) / exptime ** 2
    return hdus, models, variances, QTable({'x': x, 'y': y}), np.column_stack([x, y])


@pytest.fixture(scope='module')
def field():
    return _field()


def _truth(model, positions, radius, mask=None):
    """Noiseless aperture sum of the sources alone (what the photometry estimates)."""
    phot = aperture_photometry(model, CircularAperture(positions, r=radius), mask=mask)
    return np.asarray(phot['aperture_sum'], dtype=float)


@pytest.mark.parametrize('mode', ['exptime', 'ivar', 'err'])
def test_pulls_have_unit_scatter_in_every_band_and_aperture(field, mode):
    hdus, models, variances, candidates, positions = field
    errors, kind = None, 'ivar'
    if mode == 'ivar':   # inverse variance of sky + read noise, as drizzle IVM weights
        errors = {b: 1 / ((EXPOSURES[b][1] * EXPOSURES[b][0] + READ_NOISE ** 2)
                          / EXPOSURES[b][0] ** 2) * np.ones(models[b].shape) for b in BANDS}
    elif mode == 'err':  # the true total error, source Poisson noise included
        errors, kind = {b: np.sqrt(variances[b]) for b in BANDS}, 'err'
    images = load_images(hdus, errors=errors, error_kind=kind)
    phot = candidate_photometry(candidates, images, radii_bands=BANDS)
    assert not np.any(phot['phot_flag'] & np.uint8(PhotFlag.EDGE | PhotFlag.NONFINITE))
    for band in BANDS:
        for r in MCI_RADII:
            label = radius_label(r)
            flux = phot[f'flux_{band}_{label}'].to_value(u.electron / u.s)
            err = phot[f'flux_err_{band}_{label}'].to_value(u.electron / u.s)
            pull = (flux - _truth(models[band], positions, r)) / err
            assert np.std(pull) == pytest.approx(1.0, abs=0.1), (band, r)
            assert abs(np.mean(pull)) < 0.2, (band, r)
    # The concentration index, whose two apertures share pixels and background.
    true_flux = {r: _truth(models['F555W'], positions, r) for r in MCI_RADII}
    true_ci = 2.5 * np.log10(true_flux[3.0] / true_flux[1.0])
    ok = np.isfinite(phot['ci'].value)
    pull = ((phot['ci'] - true_ci * u.mag) / phot['cierr']).to_value(u.one)[ok]
    assert ok.sum() > 0.9 * len(ok)
    # The ring's partial pixels are weighted as if sigma were uniform across it:
    # a little generous near a bright core (see docs/photometry.rst).
    assert np.std(pull) == pytest.approx(1.0, abs=0.12)
    true_mci = 2.5 * np.log10(true_flux[4.0] / true_flux[3.0])
    ok = np.isfinite(phot['mcierr_3_4'].value)
    assert ok.sum() > 0.9 * np.isfinite(phot['mci_3_4'].value).sum()
    pull = ((phot['mci_3_4'] - true_mci * u.mag)[ok] / phot['mcierr_3_4'][ok]).to_value(u.one)
    assert np.std(pull) == pytest.approx(1.0, abs=0.1)


def test_magnitude_errors_follow_flux_errors(field):
    hdus, _, _, candidates, _ = field
    phot = candidate_photometry(candidates, hdus)
    flux, err = phot['flux_F814W_r4'].value, phot['flux_err_F814W_r4'].value
    good = flux > 0
    np.testing.assert_allclose(phot['magerr_F814W'][good].to_value(u.mag),
                               2.5 / np.log(10) * err[good] / flux[good])
    assert phot['flux_F814W_r4'].unit == u.electron / u.s
    assert phot['bkg_err_F555W'].unit == u.electron / u.s
    model = phot.meta['photometry']['error_model']['F555W']
    assert 'Poisson' in model and 'EXPTIME = 700 s' in model
    assert phot.meta['photometry']['flux_units']['F555W'] == str(u.electron / u.s)


@pytest.mark.parametrize('edge_offset', [6.0, 0.0])
def test_background_near_a_nan_footprint_edge_is_unbiased(edge_offset):
    """NaN pixels right of each source: half the annulus (and, at offset 0, half the
    aperture) is masked; the fluxes must still scatter around the truth of the
    unmasked pixels, where the sky median × π r² would be biased."""
    rng = np.random.default_rng(3)
    sky, noise = 20.0, 2.0
    n_side = 16
    side = SPACING * (n_side + 1)
    grid = SPACING * (np.arange(n_side) + 1.0)
    x, y = (g.ravel() for g in np.meshgrid(grid, grid))
    model = _gaussians((side, side), x, y, np.full(x.size, 2000.0))
    image = sky + model + rng.normal(0.0, noise, model.shape)
    xx = np.arange(side)[None, :] - grid[:, None]     # offset from every column of sources
    right = np.any((xx > edge_offset) & (xx < SPACING / 2), axis=0)
    nan = np.broadcast_to(right, image.shape)
    image[nan] = np.nan
    positions = np.column_stack([x, y])
    err = {b: np.full(image.shape, noise) for b in BANDS}
    images = load_images(dict.fromkeys(BANDS, image), errors=err, error_kind='err')
    phot = candidate_photometry(QTable({'x': x, 'y': y}), images)
    assert np.all(phot['phot_flag'] & np.uint8(PhotFlag.NONFINITE))
    assert np.all(np.isfinite(phot['mag_F555W']))
    bkg = phot['bkg_F555W']
    assert abs(np.mean(bkg) - sky) < 3 * np.std(bkg) / np.sqrt(len(bkg))
    # Half an annulus: about 24 pixels; the error of their median is sqrt(pi/2) sigma/sqrt(N).
    assert np.std((bkg - sky) / phot['bkg_err_F555W']) == pytest.approx(1.0, abs=0.15)
    for r in (1.0, 3.0, 4.0, 5.0):
        label = radius_label(r)
        truth = _truth(model, positions, r, mask=nan)
        pull = (phot[f'flux_F555W_{label}'] - truth) / phot[f'flux_err_F555W_{label}']
        assert abs(np.mean(pull)) < 4 / np.sqrt(len(pull)), r
        assert np.std(pull) == pytest.approx(1.0, abs=0.15), r
        if edge_offset == 0 and r >= 3:
            # The old background × π r² over-subtracts the sky under the masked half.
            sums = aperture_photometry(image, CircularAperture(positions, r=r),
                                       mask=~np.isfinite(image))['aperture_sum']
            old = np.asarray(sums) - np.asarray(bkg) * np.pi * r ** 2
            assert np.mean((old - truth) / phot[f'flux_err_F555W_{label}']) < -5


def test_magnitudes_equal_the_previous_ones_where_nothing_is_masked(field):
    """The previous implementation: photutils aperture sums minus the annulus median
    × π r², recomputed here directly; magnitudes, CI and MCI must not move."""
    hdus, _, _, candidates, positions = field
    zeropoints = {b: 24.0 + 0.3 * i for i, b in enumerate(BANDS)}
    new = candidate_photometry(candidates, hdus, zeropoints=zeropoints, radii_bands=BANDS)
    without = candidate_photometry(candidates, hdus, zeropoints=zeropoints, radii_bands=BANDS,
                                   errors=False)
    assert 'flux_err_F555W_r4' not in without.colnames
    ring = CircularAnnulus(positions, r_in=7.0, r_out=8.0)
    for hdu in hdus:
        band = hdu.header['FILTER']
        data = hdu.data
        bkg = np.asarray(ApertureStats(data, ring).median)
        mags = {}
        for r in MCI_RADII:
            flux = (np.asarray(aperture_photometry(data, CircularAperture(positions, r=r))
                               ['aperture_sum']) - bkg * np.pi * r ** 2)
            with np.errstate(invalid='ignore'):
                mags[r] = np.where(flux > 0, zeropoints[band] - 2.5 * np.log10(flux), np.nan)
            for out in (new, without):
                np.testing.assert_allclose(out[f'flux_{band}_{radius_label(r)}'].value, flux,
                                           rtol=1e-10)
                np.testing.assert_allclose(out[f'mag_{band}_{radius_label(r)}'].value, mags[r],
                                           rtol=1e-12)
        np.testing.assert_allclose(new[f'bkg_{band}'].value, bkg, rtol=1e-12)
        np.testing.assert_allclose(new[f'mag_{band}'].value, mags[4.0], rtol=1e-12)
        if band == 'F555W':
            np.testing.assert_allclose(new['ci'].value, mags[1.0] - mags[3.0], rtol=1e-10)
            np.testing.assert_allclose(new['mci_3_4'].value, mags[3.0] - mags[4.0],
                                       rtol=1e-10)


def test_error_maps_from_files_and_on_band_images(tmp_path, field):
    hdus, models, variances, candidates, _ = field
    paths = {}
    for hdu in hdus:
        band = hdu.header['FILTER']
        paths[band] = tmp_path / f'{band.lower()}_err-drc-wht.fits'
        fits.PrimaryHDU((1 / variances[band]).astype(np.float32)).writeto(paths[band])
    from_files = load_images(hdus, errors=paths)
    assert set(from_files.errors) == set(BANDS) and from_files.error_kinds['F336W'] == 'ivar'
    later = load_images(load_images(hdus), errors={'F555W': paths['F555W']})
    assert list(later.errors) == ['F555W']
    phot = candidate_photometry(candidates[:20], later)
    model = phot.meta['photometry']['error_model']
    assert model['F555W'].startswith('inverse-variance map')
    assert model['F814W'].startswith('background scatter')
    from_files.close()
    later.close()


def test_exposure_weight_map_is_the_effective_gain(field):
    """A drizzle EXP weight equal to EXPTIME everywhere gives the errors of EXPTIME
    (up to calc_total_error's per-pixel clipping of negative source counts, which
    the aperture-sum form without a map does not do)."""
    hdus, models, _, candidates, _ = field
    weights = {b: np.full(models[b].shape, EXPOSURES[b][0]) for b in BANDS}
    a = candidate_photometry(candidates, load_images(hdus, errors=weights, error_kind='wht'))
    b = candidate_photometry(candidates, hdus)
    assert a.meta['photometry']['error_model']['F438W'].endswith(
        'exposure-time weight map (WHT) as the effective gain)')
    np.testing.assert_allclose(a['flux_err_F438W_r4'].value, b['flux_err_F438W_r4'].value,
                               rtol=0.05)
    # The clipped negative noise only ever adds variance.
    assert np.all(a['flux_err_F438W_r4'].value >= b['flux_err_F438W_r4'].value * (1 - 1e-9))


def test_no_exptime_leaves_poisson_out_and_says_so():
    rng = np.random.default_rng(5)
    image = rng.normal(10.0, 1.0, (60, 60))
    phot = candidate_photometry(QTable({'x': [30.0], 'y': [30.0]}), dict.fromkeys(BANDS, image))
    assert 'source Poisson noise left out' in phot.meta['photometry']['error_model']['F275W']
    # Background only: sqrt(pi r^2) sigma for the pixels, plus the median's error.
    yy, xx = np.mgrid[:60, :60]
    d = np.hypot(xx - 30, yy - 30)
    n_ring = np.count_nonzero((d >= 7) & (d <= 8))
    expected = np.sqrt(np.pi * 16 + (np.pi * 16) ** 2 * np.pi / 2 / n_ring)
    assert phot['flux_err_F555W_r4'][0] == pytest.approx(expected, rel=0.05)
    assert phot['flux_F555W_r4'].unit is None


@pytest.mark.parametrize('kwargs, error, match', [
    ({'errors': {'F555W': np.ones((5, 5))}}, ValueError,
     r'errors\[F555W\]: shape \(5, 5\) differs'),
    ({'errors': {'F555W': np.ones((60, 60))}, 'error_kind': 'sigma'}, ValueError,
     "error_kind for band F555W must be one of"),
    ({'errors': {'F999W': np.ones((60, 60))}}, ValueError, 'errors key'),
    ({'errors': [np.ones((60, 60))]}, TypeError, 'errors must be a mapping'),
])
def test_bad_error_maps(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_images(dict.fromkeys(BANDS, np.zeros((60, 60))), **kwargs)
