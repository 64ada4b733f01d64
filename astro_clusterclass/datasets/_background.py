"""
Host-galaxy light, sky and detector noise of simulated images.

The host galaxy is an inclined exponential disc (scale length
`DISC_SCALE_LENGTH`) with a small central bulge, two logarithmic spiral
arms and clumpy star-forming regions along them. It is computed on a grid
`COARSE` times coarser than the image and interpolated bilinearly, in two
components with their own colours: an old disc (BC03 SSP of 4 Gyr,
E(B−V) = 0.1) and young arms (20 Myr, E(B−V) = 0.2). The same two maps
give the probability of finding young and old sources at a position.

Noise: count-rate images (e-/s) are turned into electrons with the band's
exposure time, a constant sky is added, and Gaussian noise with variance
``electrons + nexp * READ_NOISE**2`` is drawn (the Gaussian limit of
Poisson statistics is accurate here because the read noise of the several
exposures dominates the faintest pixels); the sky is then subtracted, as
in drizzled HST products.
"""

import numpy as np
from astropy import units as u
from scipy import ndimage, sparse

from ._photometry import (apparent_magnitudes, colors_to_magnitudes, mag_to_rate,
                          ssp_colors)

__all__ = ['COARSE', 'DISC_SCALE_LENGTH', 'DISC_CENTRAL_SB', 'SKY_RATE', 'READ_NOISE',
           'SATURATION_ELECTRONS', 'GalaxyModel', 'bilinear_upsample', 'add_noise',
           'pixel_noise']

#: Binning of the grid on which the galaxy light is computed.
COARSE = 8

#: Exponential scale length of the host disc.
DISC_SCALE_LENGTH = 3.0 * u.kpc

#: Central V-band (F555W) surface brightness of the disc, mag/arcsec².
DISC_CENTRAL_SB = 20.5

#: Sky + dark count rate per 0.04" pixel (e-/s): typical WFC3/UVIS values
#: for average zodiacal light (WFC3 Instrument Handbook, §9.7), rounded.
SKY_RATE = {'F275W': 0.0015, 'F336W': 0.003, 'F438W': 0.012, 'F555W': 0.045,
            'F814W': 0.035}

#: WFC3/UVIS read noise per exposure (e-).
READ_NOISE = 3.1

#: WFC3/UVIS full well (e-) of one exposure.
SATURATION_ELECTRONS = 63000.0


def _interp_matrix(n_fine, n_coarse, factor):
    # Coarse cell j covers fine pixels [j*f, (j+1)*f); its centre is at fine
    # coordinate j*f + (f-1)/2.
    u_ = (np.arange(n_fine) - (factor - 1) / 2) / factor
    j0 = np.clip(np.floor(u_).astype(int), 0, n_coarse - 1)
    j1 = np.clip(j0 + 1, 0, n_coarse - 1)
    w = np.clip(u_ - j0, 0.0, 1.0)
    rows = np.repeat(np.arange(n_fine), 2)
    cols = np.stack([j0, j1], axis=1).ravel()
    vals = np.stack([1 - w, w], axis=1).ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n_fine, n_coarse))


def bilinear_upsample(coarse, shape, factor):
    """Bilinear interpolation of a coarse map (cells of ``factor`` px) to ``shape``."""
    wy = _interp_matrix(shape[0], coarse.shape[0], factor)
    wx = _interp_matrix(shape[1], coarse.shape[1], factor)
    tmp = (wx @ coarse.T).T  # (ny_c, nx)
    return np.asarray(wy @ tmp, dtype=np.float32)


class GalaxyModel:
    """
    Coarse maps of the host galaxy: old disc and young arms.

    Parameters
    ----------
    shape : tuple of int
        Image shape.
    pc_per_pixel : float
        Physical size of a pixel at the galaxy's distance.
    rng : `numpy.random.Generator`
    center : tuple of float, optional
        Galaxy centre (x, y) in pixels; default ``(0.55 nx, 0.45 ny)``.
    """

    def __init__(self, shape, pc_per_pixel, rng, *, center=None):
        self.shape = tuple(shape)
        ny, nx = self.shape
        self.center = ((0.55 * (nx - 1), 0.45 * (ny - 1)) if center is None
                       else tuple(float(c) for c in center))
        self.axis_ratio = rng.uniform(0.55, 0.9)
        self.position_angle = rng.uniform(0.0, np.pi)
        self.scale_length = DISC_SCALE_LENGTH.to_value(u.pc) / pc_per_pixel
        nyc, nxc = -(-ny // COARSE), -(-nx // COARSE)
        yc = np.arange(nyc) * COARSE + (COARSE - 1) / 2
        xc = np.arange(nxc) * COARSE + (COARSE - 1) / 2
        xx, yy = np.meshgrid(xc - self.center[0], yc - self.center[1])
        c, s = np.cos(self.position_angle), np.sin(self.position_angle)
        xm = xx * c + yy * s
        ym = (-xx * s + yy * c) / self.axis_ratio
        radius = np.hypot(xm, ym)
        phi = np.arctan2(ym, xm)
        h = self.scale_length
        self.disc = np.exp(-radius / h) + 1.5 * np.exp(-radius / (0.06 * h))
        # Two logarithmic arms, pitch angle 18 degrees, narrowed by a power.
        phase0 = rng.uniform(0.0, 2 * np.pi)
        psi = 2 * (phi - np.log(np.maximum(radius, 1.0) / (0.3 * h)) / np.tan(np.radians(18.0)))
        arms = ((1 + np.cos(psi + phase0)) / 2) ** 3
        # Star-forming clumps: smoothed log-normal noise on ~100 pc scales.
        sigma = max(1.0, 100.0 / pc_per_pixel / COARSE)
        noise = ndimage.gaussian_filter(rng.standard_normal((nyc, nxc)), sigma, mode='wrap')
        noise /= noise.std() if noise.std() > 0 else 1.0
        clumps = np.exp(0.9 * noise)
        inner = np.clip(radius / (0.15 * h), 0.0, 1.0)  # no arms in the bulge
        self.young = (0.2 + arms) * clumps * np.exp(-radius / (1.5 * h)) * inner
        self.young /= max(self.young.max(), 1e-12)

    def sample(self, n, rng, *, young_fraction, margin=0):
        """
        Draw ``n`` positions distributed like the galaxy light.

        A fraction ``young_fraction`` follows the young arms, the rest the
        old disc. Draws that fall within ``margin`` pixels of the image edge
        are discarded, so fewer than ``n`` positions may come back.
        """
        ny, nx = self.shape
        n_young = rng.binomial(n, young_fraction) if n else 0
        out = []
        for weights, count in ((self.young, n_young), (self.disc, n - n_young)):
            p = weights.ravel() / weights.sum()
            cells = rng.choice(p.size, size=count, p=p)
            cy, cx = np.divmod(cells, weights.shape[1])
            x = cx * COARSE - 0.5 + rng.uniform(0, COARSE, count)
            y = cy * COARSE - 0.5 + rng.uniform(0, COARSE, count)
            out.append((x, y))
        x = np.concatenate([o[0] for o in out])
        y = np.concatenate([o[1] for o in out])
        inside = ((x >= margin) & (x <= nx - 1 - margin)
                  & (y >= margin) & (y <= ny - 1 - margin))
        order = rng.permutation(len(x))
        inside = inside[order]
        return x[order][inside], y[order][inside]

    def images(self, zp_vega, *, surface_brightness=DISC_CENTRAL_SB, photometry=None):
        """
        Galaxy light in each band (e-/s per pixel), ``(5, ny, nx)`` float32.

        Parameters
        ----------
        zp_vega : array-like
            Vega zeropoints of the five bands.
        surface_brightness : float
            Central F555W surface brightness of the disc (mag/arcsec²).
        """
        pixel_mag = 2.5 * np.log10(1.0 / 0.04 ** 2)  # mag/arcsec² → mag/pixel
        v_rate = mag_to_rate(surface_brightness + pixel_mag, zp_vega[3])
        old = apparent_magnitudes(colors_to_magnitudes(0.0, ssp_colors([4e9] * u.yr)),
                                  [0.1], 0.0, photometry=photometry)[0]
        young = apparent_magnitudes(colors_to_magnitudes(0.0, ssp_colors([2e7] * u.yr)),
                                    [0.2], 0.0, photometry=photometry)[0]
        old_full = bilinear_upsample(self.disc, self.shape, COARSE)
        young_full = bilinear_upsample(self.young, self.shape, COARSE)
        out = np.empty((5, *self.shape), dtype=np.float32)
        for b in range(5):
            # Colours relative to F555W: rate_b / rate_V = 10^(-0.4 (m_b - m_V - zp_b + zp_V)).
            f_old = v_rate * 10 ** (-0.4 * (old[b] - old[3] - zp_vega[b] + zp_vega[3]))
            f_young = 0.35 * v_rate * 10 ** (-0.4 * (young[b] - young[3] - zp_vega[b]
                                                     + zp_vega[3]))
            np.multiply(old_full, np.float32(f_old), out=out[b])
            out[b] += np.float32(f_young) * young_full
        return out


def pixel_noise(exptime, nexp, sky_rate):
    """Noise (e-/s) of one empty, sky-subtracted pixel."""
    return np.sqrt(sky_rate * exptime + nexp * READ_NOISE ** 2) / exptime


def add_noise(rate, rng, *, exptime, nexp, sky_rate):
    """
    Noisy, sky-subtracted count-rate image (float32, e-/s).

    Parameters
    ----------
    rate : `~numpy.ndarray`
        Noiseless source + galaxy count rate (e-/s); modified in place and
        returned.
    rng : `numpy.random.Generator`
    exptime : float
        Exposure time (s).
    nexp : int
        Number of exposures combined (read noise is added once per exposure).
    sky_rate : float
        Sky count rate (e-/s per pixel), added before the noise and
        subtracted after.
    """
    electrons = rate * np.float32(exptime) + np.float32(sky_rate * exptime)
    sigma = np.sqrt(np.maximum(electrons, 0) + np.float32(nexp * READ_NOISE ** 2))
    noise = rng.standard_normal(rate.shape, dtype=np.float32)
    noise *= sigma
    electrons += noise
    electrons /= np.float32(exptime)
    electrons -= np.float32(sky_rate)
    return electrons
