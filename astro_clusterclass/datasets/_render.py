"""
Render a list of source components into five noiseless count-rate images.

A `Scene` collects components in e-/s per band:

* point sources (stars, the resolved stars of clusters and associations),
  drawn with the exact pixel-integrated PSF at their sub-pixel position
  (`~._psf.point_stamps`);
* extended sources (clusters, diffuse light, galaxies, fluff), convolved
  with the PSF core in postage stamps (`~._morphology.extended_stamps`);
* ready-made stamps (saturated stars with spikes and bleeding);
* single pixels (bad pixels), added without a PSF.

Stamps only hold the PSF core (the PSF times a smooth taper that reaches
zero at `~._psf.INNER_RADIUS`); the halo (the rest, out to
`~._psf.PSF_OUTER_RADIUS`) of every source is added at once:
the sources' fluxes are deposited on a grid binned `HALO_BINNING` times,
convolved with the binned outer PSF and interpolated back. Rendering is
vectorised: stamps are made in batches and added with `numpy.add.at`; no
image-sized convolution is done per source.
"""

import numpy as np
from scipy import signal

from ..bands import BANDS
from ._background import bilinear_upsample
from ._morphology import extended_stamps
from ._psf import (INNER_RADIUS, PSF_OUTER_RADIUS, continuous_psf, core_taper, inner_psf,
                   point_stamps)

__all__ = ['Scene', 'HALO_BINNING']

#: Binning of the grid on which the outer PSF halo is convolved.
HALO_BINNING = 4

_INNER = 2 * INNER_RADIUS + 1


def _deposit(image, x0, y0, stamps):
    """Add ``(N, S, S)`` stamps whose pixel [0, 0] lands on (x0, y0)."""
    ny, nx = image.shape
    size = stamps.shape[-1]
    offsets = np.arange(size)
    xs = x0[:, None] + offsets[None, :]
    ys = y0[:, None] + offsets[None, :]
    valid = (((ys >= 0) & (ys < ny))[:, :, None] & ((xs >= 0) & (xs < nx))[:, None, :])
    flat = ys[:, :, None] * nx + xs[:, None, :]
    np.add.at(image.reshape(-1), flat[valid], stamps[valid])


def _outer_kernel(band, binning):
    """The PSF halo (PSF minus its core), binned ``binning`` x ``binning``."""
    # Cells of the binned grid are centred on image pixels j * f + (f - 1) / 2;
    # the kernel has an odd number of cells and its centre cell is centred
    # on the source, sampled at pixel offsets (f - 1) / 2 around it.
    n_cells = 2 * (-(-PSF_OUTER_RADIUS // binning)) + 1
    half = n_cells // 2
    offsets = (np.arange(n_cells * binning) - half * binning - (binning - 1) / 2)
    xx, yy = np.meshgrid(offsets, offsets)
    values = continuous_psf(band, xx, yy) * (1.0 - core_taper(np.hypot(xx, yy)))
    kernel = values.reshape(n_cells, binning, n_cells, binning).sum(axis=(1, 3))
    # Conserve flux exactly: core (in the stamps) + halo = 1.
    return kernel * (1.0 - inner_psf(band).sum()) / kernel.sum()


class Scene:
    """Components of a simulated field, in e-/s per band."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self._points = []
        self._extended = []
        self._stamps = []
        self._halo_only = []

    def add_points(self, x, y, rates):
        """Point sources at ``(x, y)`` with ``(N, 5)`` count rates."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        rates = np.asarray(rates, dtype=float).reshape(len(x), len(BANDS))
        self._points.append((x, y, rates))

    def add_extended(self, kind, x, y, rates, size, **params):
        """Extended sources of one profile ``kind``; ``params`` are ``(N,)`` arrays."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        rates = np.asarray(rates, dtype=float).reshape(len(x), len(BANDS))
        size = np.broadcast_to(np.asarray(size, dtype=int), x.shape)
        params = {k: np.broadcast_to(np.asarray(v, dtype=float), x.shape)
                  for k, v in params.items()}
        self._extended.append((kind, x, y, rates, size, params))

    def add_stamp(self, x0, y0, stamp, *, halo=None):
        """
        A ready ``(5, S, S)`` stamp whose pixel [0, 0] lands on (x0, y0).

        ``halo=(x, y, rates)`` adds the outer PSF halo of a source of these
        rates (the stamp holds only the PSF core within ``INNER_RADIUS``).
        """
        self._stamps.append((int(x0), int(y0), np.asarray(stamp, dtype=np.float32)))
        if halo is not None:
            self._halo_only.append((np.atleast_1d(float(halo[0])), np.atleast_1d(float(halo[1])),
                                    np.asarray(halo[2], dtype=float).reshape(1, len(BANDS))))

    def _merged_extended(self):
        groups = {}
        for kind, x, y, rates, size, params in self._extended:
            for s in np.unique(size):
                sel = size == s
                key = (kind, int(s), tuple(sorted(params)))
                groups.setdefault(key, []).append(
                    (x[sel], y[sel], rates[sel], {k: v[sel] for k, v in params.items()}))
        for (kind, s, names), parts in groups.items():
            x = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            rates = np.concatenate([p[2] for p in parts])
            params = {k: np.concatenate([p[3][k] for p in parts]) for k in names}
            yield kind, s, x, y, rates, params

    def render(self, images=None, *, chunk=8192):
        """
        Add all components to ``images`` (``(5, ny, nx)`` float32, created
        when `None`) and return it.
        """
        if images is None:
            images = np.zeros((len(BANDS), *self.shape), dtype=np.float32)
        halo_x = [h[0] for h in self._halo_only]
        halo_y = [h[1] for h in self._halo_only]
        halo_rates = [h[2] for h in self._halo_only]
        if self._points:
            x = np.concatenate([p[0] for p in self._points])
            y = np.concatenate([p[1] for p in self._points])
            rates = np.concatenate([p[2] for p in self._points])
            ix, iy = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
            for start in range(0, len(x), chunk):
                sl = slice(start, start + chunk)
                for b, band in enumerate(BANDS):
                    stamps = point_stamps(band, x[sl] - ix[sl], y[sl] - iy[sl], _INNER,
                                          core=True)
                    stamps *= rates[sl, b, None, None].astype(np.float32)
                    _deposit(images[b], ix[sl] - INNER_RADIUS, iy[sl] - INNER_RADIUS, stamps)
            halo_x.append(x)
            halo_y.append(y)
            halo_rates.append(rates)
        for kind, size, x, y, rates, params in self._merged_extended():
            ix, iy = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
            half = size // 2
            for start, stamps in extended_stamps(kind, params, x - ix, y - iy, size):
                sl = slice(start, start + len(stamps))
                stamps *= rates[sl, :, None, None].astype(np.float32)
                for b in range(len(BANDS)):
                    _deposit(images[b], ix[sl] - half, iy[sl] - half, stamps[:, b])
            halo_x.append(x)
            halo_y.append(y)
            halo_rates.append(rates)
        if halo_x:
            self._add_halo(images, np.concatenate(halo_x), np.concatenate(halo_y),
                           np.concatenate(halo_rates))
        for x0, y0, stamp in self._stamps:
            for b in range(len(BANDS)):
                _deposit(images[b], np.array([x0]), np.array([y0]), stamp[b][None])
        return images

    def _add_halo(self, images, x, y, rates):
        ny, nx = self.shape
        f = HALO_BINNING
        nyc, nxc = -(-ny // f), -(-nx // f)
        # Cloud-in-cell deposit on the binned grid (cell j is centred on image
        # pixel j * f + (f - 1) / 2, as in the bilinear interpolation back).
        ux = (x - (f - 1) / 2) / f
        uy = (y - (f - 1) / 2) / f
        jx, jy = np.floor(ux).astype(int), np.floor(uy).astype(int)
        wx, wy = ux - jx, uy - jy
        cells = []
        for ox, oy, w in ((0, 0, (1 - wx) * (1 - wy)), (1, 0, wx * (1 - wy)),
                          (0, 1, (1 - wx) * wy), (1, 1, wx * wy)):
            cx, cy = jx + ox, jy + oy
            ok = (cx >= 0) & (cx < nxc) & (cy >= 0) & (cy < nyc)
            cells.append((cy[ok], cx[ok], w[ok], ok))
        for b, band in enumerate(BANDS):
            grid = np.zeros((nyc, nxc))
            for cy, cx, w, ok in cells:
                np.add.at(grid, (cy, cx), w * rates[ok, b])
            halo = signal.fftconvolve(grid, _outer_kernel(band, f), mode='same')
            # Spread each binned pixel's flux over its f x f image pixels.
            images[b] += bilinear_upsample(halo / f ** 2, self.shape, f)
