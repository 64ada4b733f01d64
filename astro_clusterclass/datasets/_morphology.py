"""
Intrinsic surface-brightness profiles and their PSF-convolved postage stamps.

Profiles (all elliptical: axis ratio ``q``, position angle ``theta`` in
radians from +x towards +y):

``'eff'``
    Elson, Fall & Freeman (1987) cluster profile,
    ``I(r) ∝ (1 + r²/a²)^(-gamma/2)``; its half-light radius for an
    untruncated profile is ``a * sqrt(2^(2/(gamma-2)) - 1)`` (`eff_a`).
``'sersic'``
    Sérsic profile of half-light radius ``r_eff`` and index ``n``
    (`astropy.modeling.models.Sersic2D`), for background galaxies and the
    galaxy nucleus.
``'gauss'``
    Gaussian of dispersion ``sigma``, for diffuse light ("fluff").

Stamps are rendered in batches: each profile is integrated over pixels
(the central 9 x 9 pixels with 5 x 5 sub-samples, the rest sampled at
pixel centres), truncated at the stamp edge and normalised
to unit flux there, then convolved (FFT, one batch per band) with the core
of the band's pixel-integrated PSF (`~._psf.inner_psf`, radius
`~._psf.INNER_RADIUS`). The PSF halo is added for the whole image at once
(see ``_render``). Using the
pixel-integrated PSF on a pixel-integrated profile adds a 1-pixel box
(σ = 0.29 px) in quadrature, negligible next to cluster sizes of
r_eff ≥ 0.5 px.
"""

import functools

import numpy as np
import scipy.fft
from astropy.modeling.models import Sersic2D

from ..bands import BANDS
from ._psf import INNER_RADIUS, inner_psf

__all__ = ['PROFILE_KINDS', 'eff_a', 'profile_grid', 'extended_stamps', 'stamp_size_for',
           'STAMP_SIZES',
           'CORE_SUBSAMPLING']

#: Profiles known to `profile_grid`.
PROFILE_KINDS = ('eff', 'sersic', 'gauss')

#: Stamp sizes used for extended sources.
STAMP_SIZES = (21, 41, 65)

#: Sub-samples per pixel (per axis) in the central pixels of a stamp.
CORE_SUBSAMPLING = 5

#: Width (px) of the central region integrated with sub-samples.
_CORE = 9


def eff_a(r_eff, gamma):
    """EFF core radius ``a`` of an untruncated profile with half-light radius ``r_eff``."""
    gamma = np.asarray(gamma)
    return np.asarray(r_eff) / np.sqrt(2.0 ** (2.0 / (gamma - 2.0)) - 1.0)


def stamp_size_for(r_eff_pix):
    """Stamp size used for an extended source of the given half-light radius (px)."""
    r = np.asarray(r_eff_pix, dtype=float)
    return np.where(r <= 1.6, 21, np.where(r <= 4.0, 41, 65))


def _elliptical_radius(dx, dy, q, theta):
    c, s = np.cos(theta), np.sin(theta)
    xm = dx * c + dy * s
    ym = -dx * s + dy * c
    return np.sqrt(xm ** 2 + (ym / q) ** 2)


def profile_grid(kind, dx, dy, params):
    """
    Evaluate unnormalised profiles at offsets from their centres.

    Parameters
    ----------
    kind : {'eff', 'sersic', 'gauss'}
    dx, dy : `~numpy.ndarray`
        ``(N, ...)`` offsets in pixels from each source's centre.
    params : dict of `~numpy.ndarray`
        ``(N,)`` arrays: ``q`` and ``theta`` for all kinds, plus ``r_eff``
        and ``gamma`` (eff), ``r_eff`` and ``n`` (sersic) or ``sigma``
        (gauss).

    Returns
    -------
    values : `~numpy.ndarray`
        Same shape as ``dx``.
    """
    extra = (None,) * (dx.ndim - 1)
    q = params['q'][(slice(None), *extra)]
    theta = params['theta'][(slice(None), *extra)]
    if kind == 'eff':
        gamma = params['gamma'][(slice(None), *extra)]
        a = eff_a(params['r_eff'], params['gamma'])[(slice(None), *extra)]
        r = _elliptical_radius(dx, dy, q, theta)
        return (1.0 + (r / a) ** 2) ** (-gamma / 2.0)
    if kind == 'gauss':
        sigma = params['sigma'][(slice(None), *extra)]
        r = _elliptical_radius(dx, dy, q, theta)
        return np.exp(-0.5 * (r / sigma) ** 2)
    if kind == 'sersic':
        r_eff = params['r_eff'][(slice(None), *extra)]
        n = params['n'][(slice(None), *extra)]
        return Sersic2D.evaluate(dx, dy, 1.0, r_eff, n, 0.0, 0.0, 1.0 - q, theta)
    msg = f'kind must be one of {PROFILE_KINDS}, got {kind!r}'
    raise ValueError(msg)


@functools.lru_cache(maxsize=None)
def _kernel_ffts(size):
    # Linear convolution of a (size x size) stamp with the inner PSF needs
    # size + 2 * INNER_RADIUS samples; pad to a fast FFT length.
    n = scipy.fft.next_fast_len(size + 2 * INNER_RADIUS, real=True)
    out = []
    for band in BANDS:
        kernel = np.zeros((n, n))
        k = inner_psf(band)
        kernel[:k.shape[0], :k.shape[1]] = k
        out.append(scipy.fft.rfft2(kernel.astype(np.float32)))
    return n, np.stack(out)


def _pixel_integrated(kind, params, dx0, dy0, n_pix, sub):
    """Profile integrated over ``n_pix`` x ``n_pix`` pixels around each centre."""
    half = (n_pix - 1) / 2
    # Sub-sample centres: pixel p covers [p - 0.5, p + 0.5].
    fine = ((np.arange(n_pix * sub) + 0.5) / sub - 0.5 - half).astype(np.float32)
    dx = fine[None, None, :] - dx0[:, None, None]
    dy = fine[None, :, None] - dy0[:, None, None]
    values = profile_grid(kind, dx, dy, params)
    return values.reshape(len(dx0), n_pix, sub, n_pix, sub).mean(axis=(2, 4))


def _intrinsic(kind, params, dx0, dy0, size):
    """``(N, size, size)`` pixel-integrated, unit-sum intrinsic profiles."""
    dx0 = dx0.astype(np.float32)
    dy0 = dy0.astype(np.float32)
    params = {key: value.astype(np.float32) for key, value in params.items()}
    # Sample pixel centres everywhere, and integrate the central pixels,
    # where the profiles are steep, with CORE_SUBSAMPLING^2 samples each.
    values = _pixel_integrated(kind, params, dx0, dy0, size, 1)
    c0 = (size - _CORE) // 2
    values[:, c0:c0 + _CORE, c0:c0 + _CORE] = _pixel_integrated(
        kind, params, dx0, dy0, _CORE, CORE_SUBSAMPLING)
    total = values.sum(axis=(1, 2), keepdims=True)
    return values / np.where(total > 0, total, 1.0)


def extended_stamps(kind, params, dx, dy, size, *, chunk=512):
    """
    PSF-convolved unit-flux stamps of extended sources in the five bands.

    Parameters
    ----------
    kind : {'eff', 'sersic', 'gauss'}
    params : dict of `~numpy.ndarray`
        Profile parameters, see `profile_grid`.
    dx, dy : `~numpy.ndarray`
        Offsets (px, within ±0.5) of the centres from the stamp's centre pixel.
    size : int
        One of 21, 41, 65.

    Yields
    ------
    start, stamps : int, `~numpy.ndarray`
        Index of the first source of the chunk and its ``(n, 5, size, size)``
        float32 stamps (each band's stamp sums to less than 1: the PSF core).
    """
    if size not in STAMP_SIZES:
        msg = f'size must be one of {STAMP_SIZES}, got {size!r}'
        raise ValueError(msg)
    n_fft, kernels = _kernel_ffts(size)
    lo = INNER_RADIUS
    for start in range(0, len(dx), chunk):
        stop = min(start + chunk, len(dx))
        part = {key: np.asarray(value[start:stop], dtype=float) for key, value in params.items()}
        intrinsic = _intrinsic(kind, part, np.asarray(dx[start:stop], dtype=float),
                               np.asarray(dy[start:stop], dtype=float), size)
        spectrum = scipy.fft.rfft2(intrinsic, s=(n_fft, n_fft), workers=-1)
        out = np.empty((stop - start, len(BANDS), size, size), dtype=np.float32)
        for b in range(len(BANDS)):
            full = scipy.fft.irfft2(spectrum * kernels[b][None], s=(n_fft, n_fft), workers=-1)
            out[:, b] = full[:, lo:lo + size, lo:lo + size]
        yield start, out
