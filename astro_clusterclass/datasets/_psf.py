"""
Band-dependent point-spread functions of the simulated WFC3/UVIS images.

Each band's PSF is the sum of two circular Moffat profiles (a core and a
halo), evaluated with `photutils.psf.MoffatPSF`. The parameters are a
least-squares fit to the WFC3/UVIS1 encircled-energy curves of the
PHANGS-HST shared data (``hst_zeropoints_phangs/wfc3uvis1_aper_007_syn.csv``,
radii 1-25 px of 0.04"; ``docs/simulations.rst`` gives the residuals). The
PSF is normalised to unit flux within a radius of `PSF_OUTER_RADIUS` pixels
(5.1"); postage stamps hold its central
``2 * PSF_RADIUS + 1`` pixels and the rest of the halo is added for whole
images at once (see ``_render``).

Pixel values are integrals over pixels: the continuous PSF is sampled on a
grid `OVERSAMPLING` times finer than the pixels and block-averaged, so that
a point source at any sub-pixel position is rendered by picking the
matching samples (`point_stamps`).
"""

import functools

import numpy as np
from photutils.psf import ImagePSF, MoffatPSF
from scipy import ndimage

from .._utils.validation import check_int, positive_int
from ..bands import normalize_band

__all__ = ['PSF_PARAMETERS', 'PSF_RADIUS', 'PSF_OUTER_RADIUS', 'INNER_RADIUS', 'TAPER_START',
           'OVERSAMPLING', 'moffat_alpha', 'encircled_energy', 'continuous_psf', 'core_taper',
           'psf_image', 'pixel_psf', 'inner_psf', 'point_stamps', 'make_psf_model']

#: Two-Moffat PSF per band: core FWHM and beta, fraction of the light in
#: the halo and the halo's FWHM and beta (pixels of 0.04"). Fitted to the
#: WFC3/UVIS1 encircled energies (see the module docstring).
PSF_PARAMETERS = {
    'F275W': {'fwhm': 2.92, 'beta': 4.23, 'halo_fraction': 0.210, 'halo_fwhm': 14.2,
              'halo_beta': 1.6},
    'F336W': {'fwhm': 2.72, 'beta': 2.62, 'halo_fraction': 0.134, 'halo_fwhm': 20.0,
              'halo_beta': 1.6},
    'F438W': {'fwhm': 2.12, 'beta': 2.37, 'halo_fraction': 0.117, 'halo_fwhm': 20.0,
              'halo_beta': 1.6},
    'F555W': {'fwhm': 2.18, 'beta': 2.37, 'halo_fraction': 0.110, 'halo_fwhm': 19.0,
              'halo_beta': 1.6},
    'F814W': {'fwhm': 2.28, 'beta': 2.16, 'halo_fraction': 0.104, 'halo_fwhm': 20.0,
              'halo_beta': 1.6},
}

#: Half-size of the PSF image in pixels (the PSF is 2 * PSF_RADIUS + 1 wide).
PSF_RADIUS = 32

#: Radius (px) within which the PSF holds all of a source's light.
PSF_OUTER_RADIUS = 128

#: Postage stamps hold the PSF "core": the PSF times a radial taper that is
#: 1 inside TAPER_START and falls smoothly (cos²) to 0 at INNER_RADIUS px;
#: the complement (the halo) is added to whole images at once. The smooth
#: split leaves no edge where the two meet, even around saturated stars.
INNER_RADIUS = 10
TAPER_START = 6.0

#: Sub-pixel sampling of the rendered PSF (positions are exact to 1/8 px).
OVERSAMPLING = 8


def moffat_alpha(fwhm, beta):
    """Core radius ``alpha`` of a Moffat profile of the given FWHM and beta."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _moffat_ee(r, fwhm, beta):
    return 1.0 - (1.0 + (r / moffat_alpha(fwhm, beta)) ** 2) ** (1.0 - beta)


def encircled_energy(band, radius):
    """
    Fraction of the light of the (untruncated) PSF within ``radius`` pixels.

    Examples
    --------
    >>> from astro_clusterclass.datasets._psf import encircled_energy
    >>> round(float(encircled_energy('F555W', 3.0)), 2)
    0.74
    """
    p = PSF_PARAMETERS[normalize_band(band)]
    r = np.asarray(radius, dtype=float)
    return ((1.0 - p['halo_fraction']) * _moffat_ee(r, p['fwhm'], p['beta'])
            + p['halo_fraction'] * _moffat_ee(r, p['halo_fwhm'], p['halo_beta']))


def continuous_psf(band, x, y):
    """
    Surface brightness of the PSF at offsets ``(x, y)`` (px) from the source.

    Normalised to unit flux within `PSF_OUTER_RADIUS` (zero beyond).
    """
    band = normalize_band(band)
    p = PSF_PARAMETERS[band]
    core = MoffatPSF(flux=1.0 - p['halo_fraction'], alpha=moffat_alpha(p['fwhm'], p['beta']),
                     beta=p['beta'])
    halo = MoffatPSF(flux=p['halo_fraction'],
                     alpha=moffat_alpha(p['halo_fwhm'], p['halo_beta']), beta=p['halo_beta'])
    values = (core(x, y) + halo(x, y)) / encircled_energy(band, PSF_OUTER_RADIUS)
    return np.where(np.hypot(x, y) <= PSF_OUTER_RADIUS, values, 0.0)


def core_taper(r):
    """Weight of the stamp part of the PSF at distance ``r`` (px) from the source."""
    r = np.asarray(r, dtype=float)
    t = np.clip((r - TAPER_START) / (INNER_RADIUS - TAPER_START), 0.0, 1.0)
    return np.cos(0.5 * np.pi * t) ** 2


@functools.lru_cache(maxsize=None)
def _pixel_psf_oversampled(band, oversampling):
    # Continuous PSF on a grid ``oversampling`` times finer than the pixels,
    # one pixel wider on each side so that block averages are complete.
    n = (2 * (PSF_RADIUS + 1)) * oversampling + 1
    c = (n - 1) / 2
    grid = (np.arange(n) - c) / oversampling
    xx, yy = np.meshgrid(grid, grid)
    fine = continuous_psf(band, xx, yy)
    # Integral over one pixel centred on each fine sample: a centred
    # trapezoid-rule box (oversampling + 1 taps, half weight at the ends),
    # applied along both axes.
    taps = np.ones(oversampling + 1)
    taps[[0, -1]] = 0.5
    taps /= oversampling
    box = ndimage.convolve1d(fine, taps, axis=0, mode='constant')
    box = ndimage.convolve1d(box, taps, axis=1, mode='constant')
    half = oversampling * 1
    box = box[half:-half, half:-half]  # drop the padding pixel on each side
    box.setflags(write=False)
    return box


def psf_image(band, *, oversampling=OVERSAMPLING):
    """
    Pixel-integrated PSF of a band sampled ``oversampling`` times per pixel.

    Parameters
    ----------
    band : str
        Band or filter name.
    oversampling : int, optional
        Samples per pixel (odd or even).

    Returns
    -------
    psf : `~numpy.ndarray`
        Square array of side ``(2 * PSF_RADIUS) * oversampling + 1``; the
        centre sample is the pixel centred on the source. Taking every
        ``oversampling``-th sample gives the pixel image of a source at the
        corresponding sub-pixel offset (summing to the fraction of the light
        inside the image).
    """
    band = normalize_band(band)
    oversampling = positive_int(oversampling, 'oversampling')
    return np.array(_pixel_psf_oversampled(band, oversampling))


def pixel_psf(band, *, radius=PSF_RADIUS):
    """
    Pixel image of a point source centred on a pixel.

    The full PSF has unit flux within ``PSF_OUTER_RADIUS``; the image holds
    the part of it inside ``2 * radius + 1`` pixels.

    Parameters
    ----------
    band : str
    radius : int, optional
        Half-size of the returned image (at most 32).

    Returns
    -------
    psf : `~numpy.ndarray`
        ``(2 * radius + 1, 2 * radius + 1)`` float array.

    Examples
    --------
    >>> from astro_clusterclass.datasets import pixel_psf
    >>> psf = pixel_psf('F555W')
    >>> psf.shape, round(float(psf.sum()), 2)
    ((65, 65), 0.98)
    """
    band = normalize_band(band)
    radius = check_int(radius, 'radius', minimum=1, maximum=PSF_RADIUS)
    full = _pixel_psf_oversampled(band, OVERSAMPLING)[::OVERSAMPLING, ::OVERSAMPLING]
    cut = PSF_RADIUS - radius
    return np.array(full[cut:full.shape[0] - cut, cut:full.shape[1] - cut])


@functools.lru_cache(maxsize=None)
def _padded(band, core):
    # One zero pixel around the PSF so that shifted samples never index out.
    psf = _pixel_psf_oversampled(band, OVERSAMPLING)
    if core:
        n = psf.shape[0]
        offsets = (np.arange(n) - (n - 1) / 2) / OVERSAMPLING
        psf = psf * core_taper(np.hypot(offsets[None, :], offsets[:, None]))
    out = np.pad(psf, OVERSAMPLING)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def _inner_psf(band):
    out = _padded(band, True)[::OVERSAMPLING, ::OVERSAMPLING]
    c = out.shape[0] // 2
    out = out[c - INNER_RADIUS:c + INNER_RADIUS + 1, c - INNER_RADIUS:c + INNER_RADIUS + 1]
    out.setflags(write=False)
    return out


def inner_psf(band):
    """
    The PSF core of a source centred on a pixel: ``(2 INNER_RADIUS + 1)²`` pixels.

    It is the pixel PSF times `core_taper`; the rest is the halo that the
    simulator adds to whole images at once.
    """
    return np.array(_inner_psf(normalize_band(band)))


def point_stamps(band, dx, dy, size, *, core=False):
    """
    Stamps of unit-flux point sources at sub-pixel offsets.

    Parameters
    ----------
    band : str
    dx, dy : array-like
        Offsets in pixels of each source from the stamp centre, in
        ``[-0.5, 0.5]``.
    size : int
        Odd stamp size, at most ``2 * PSF_RADIUS + 1``.
    core : bool, optional
        Only the PSF core (the PSF times `core_taper` around the source).

    Returns
    -------
    stamps : `~numpy.ndarray`
        ``(N, size, size)`` float32 array; pixel ``[size // 2, size // 2]``
        is the pixel containing the source.
    """
    if size % 2 != 1 or not 1 <= size <= 2 * PSF_RADIUS + 1:
        msg = f'size must be odd and at most {2 * PSF_RADIUS + 1}, got {size!r}'
        raise ValueError(msg)
    psf = _padded(normalize_band(band), bool(core))
    os_ = OVERSAMPLING
    half = size // 2
    center = (PSF_RADIUS + 1) * os_  # index of the centred sample
    # A source at +dx appears at stamp pixel offset k where the PSF sample
    # offset is (k - dx): index = centre + (k - dx) * os.
    phase_x = np.rint(-np.asarray(dx, dtype=float) * os_).astype(int)
    phase_y = np.rint(-np.asarray(dy, dtype=float) * os_).astype(int)
    k = np.arange(-half, half + 1) * os_
    ix = center + k[None, :] + phase_x[:, None]
    iy = center + k[None, :] + phase_y[:, None]
    return psf[iy[:, :, None], ix[:, None, :]].astype(np.float32)


def make_psf_model(band, *, oversampling=4):
    """
    The simulator's PSF of a band as a photutils `~photutils.psf.ImagePSF`.

    Use it for PSF photometry or fitting on simulated fields.

    Parameters
    ----------
    band : str
    oversampling : int, optional

    Returns
    -------
    model : `~photutils.psf.ImagePSF`
        Pixel-integrated PSF (a PRF) with unit flux.

    Examples
    --------
    >>> from astro_clusterclass.datasets import make_psf_model
    >>> model = make_psf_model('F814W')
    >>> round(float(model(0.0, 0.0)), 4) > 0.05
    True
    """
    data = psf_image(band, oversampling=oversampling)
    # ImagePSF expects the oversampled samples to sum to oversampling**2
    # (unit flux inside the image).
    data = data / data.sum() * oversampling ** 2
    return ImagePSF(data, oversampling=oversampling)
