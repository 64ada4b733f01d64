"""
Five-band stamps around candidates.

`make_cutouts` returns an ``(N, 5, S, S)`` float32 array for N candidates,
extracted with vectorised indexing straight from the (memory-mapped)
mosaics; `iter_cutouts` does the same chunk by chunk so that a million
candidates never sit in memory at once. No candidate is dropped: stamps
that run off the image are padded and flagged, stamps with non-finite
pixels are flagged (`CutoutFlag`).

Centring convention: the stamp of a candidate at 0-based position
``(x, y)`` is centred on the pixel ``(round(x), round(y))`` (halves round
up) and that pixel sits at index ``(S // 2, S // 2)`` of the stamp.
``x0``/``y0`` give the image pixel of stamp index ``[0, 0]``.

`~astro_clusterclass.io.write_cutout_fits` and
`~astro_clusterclass.io.read_cutout_fits` exchange stamps as one
multi-extension FITS file per candidate, the format of the PHANGS-HST
classification tutorial (Whitmore et al. 2021, Appendix A).
"""

import os
from dataclasses import dataclass, field

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from numpy.lib.stride_tricks import sliding_window_view

from ._utils.flags import FlagBase
from ._utils.pixels import center_pixels
from ._utils.validation import check_int, positive_int
from .bands import BANDS
from .images import load_images
from .tables import pixel_positions

__all__ = ['CutoutFlag', 'Cutouts', 'make_cutouts', 'iter_cutouts']


class CutoutFlag(FlagBase):
    """
    Bit flags describing the quality of a candidate's stamp.

    Flags combine: ``CutoutFlag.EDGE | CutoutFlag.NONFINITE``.

    Examples
    --------
    >>> from astro_clusterclass import CutoutFlag
    >>> flag = CutoutFlag.EDGE | CutoutFlag.NONFINITE
    >>> int(flag), CutoutFlag.describe(flag)
    (5, 'EDGE|NONFINITE')
    >>> bool(flag & CutoutFlag.OFF_IMAGE)
    False
    >>> CutoutFlag.decode(flag)
    ['EDGE', 'NONFINITE']
    """

    NONE = 0, 'The stamp is complete and finite.'
    EDGE = 1, 'Part of the stamp lies outside the image and was padded with the fill value.'
    OFF_IMAGE = 2, ("The candidate's centre pixel lies outside the image or its position "
                    'is undefined (NaN); the stamp is padding only (EDGE is set too).')
    NONFINITE = 4, ('Non-finite (NaN/inf) pixels inside the image part of the stamp '
                    '(replaced by the fill value unless asked otherwise).')
    MISSING_BAND = 8, ('At least one band has no data at the candidate: its central 3x3 '
                       "pixels are all zero or non-finite (outside that band's footprint).")


@dataclass
class Cutouts:
    """
    Stamps of N candidates in five bands.

    Attributes
    ----------
    data : `~numpy.ndarray`
        ``(N, 5, S, S)`` float32 stamps, bands in
        :data:`~astro_clusterclass.bands.BANDS` order.
    flags : `~numpy.ndarray`
        ``(N,)`` uint8 `CutoutFlag` values.
    x, y : `~numpy.ndarray`
        0-based pixel positions of the candidates (float).
    x0, y0 : `~numpy.ndarray`
        Image pixel (0-based, integer) of stamp pixel ``[0, 0]``.
    ids : `~numpy.ndarray`
        Candidate identifiers (row indices when none were given).
    wcs : `~astropy.wcs.WCS` or None
        WCS of the full image the stamps come from.
    filters : dict
        Band slot → actual HST filter.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass import load_images, make_cutouts
    >>> rng = np.random.default_rng(0)
    >>> images = load_images({band: rng.normal(size=(100, 120)).astype(np.float32)
    ...                       for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')})
    >>> stamps = make_cutouts(images, ([50.0, 2.0], [40.0, 60.0]), size=16)
    >>> len(stamps), stamps.data.shape
    (2, (2, 5, 16, 16))
    >>> stamps.ids.tolist(), stamps.flags.tolist()   # the second is at the edge
    ([0, 1], [0, 1])
    >>> stamps.x0.tolist(), stamps.y0.tolist()       # image pixel of stamp pixel [0, 0]
    ([42, -6], [32, 52])
    """

    data: np.ndarray
    flags: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    ids: np.ndarray
    wcs: WCS = None
    filters: dict = field(default_factory=lambda: {b: b for b in BANDS})
    bands: tuple = BANDS

    def __len__(self):
        return self.data.shape[0]

    @property
    def size(self):
        """Stamp side length S in pixels."""
        return self.data.shape[-1]

    def stamp_wcs(self, index):
        """WCS of stamp ``index`` (the image WCS shifted to the stamp), or None."""
        if self.wcs is None:
            return None
        wcs = self.wcs.deepcopy()
        wcs.wcs.crpix = wcs.wcs.crpix - [self.x0[index], self.y0[index]]
        return wcs


def _positions(positions, images, columns):
    """Turn any accepted ``positions`` into float arrays x, y and ids."""
    if isinstance(positions, Table):
        x, y = pixel_positions(positions, wcs=images.wcs, columns=columns)
        ids = (np.asarray(positions['id']) if 'id' in positions.colnames
               else np.arange(len(positions)))
        return x, y, ids
    if isinstance(positions, SkyCoord):
        if images.wcs is None:
            msg = 'positions are sky coordinates but the images have no WCS'
            raise ValueError(msg)
        x, y = images.wcs.world_to_pixel(positions.reshape(-1))
        x, y = np.asarray(x, float), np.asarray(y, float)
        return x, y, np.arange(len(x))
    try:
        x, y = positions
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
    except (TypeError, ValueError) as exc:
        msg = ('positions must be a Table, a SkyCoord or an (x, y) pair of '
               f'0-based pixel arrays; got {type(positions).__name__}')
        raise TypeError(msg) from exc
    if x.shape != y.shape or x.ndim != 1:
        msg = f'positions: x and y must be 1-D of equal length, got {x.shape} and {y.shape}'
        raise ValueError(msg)
    return x, y, np.arange(len(x))


def _corners(x, y, size, shape):
    """Integer stamp origins and the OFF_IMAGE mask."""
    ny, nx = shape
    # Bounded: 1e20 or inf never wraps around int64; NaN lands far off the image.
    ix = center_pixels(x)
    iy = center_pixels(y)
    off = (ix < 0) | (iy < 0) | (ix >= nx) | (iy >= ny)
    return ix - size // 2, iy - size // 2, off


def _extract(array, x0, y0, size, fill_value, out, valid):
    """
    Copy ``(size, size)`` windows at origins (x0, y0) of ``array`` into ``out``.

    Windows wholly inside the image are taken as strided views of the
    (possibly memory-mapped) array, copied row-block by row-block by numpy;
    only windows crossing the border go through per-pixel indexing, with
    padding. ``valid`` receives the in-image mask of the border windows.
    An image that is not an array (a `~astro_clusterclass.images.LazyImage`:
    scaled integers, tile compression) is read as one strip, the rows
    the windows touch, and the windows are cut from that strip.
    """
    if not isinstance(array, np.ndarray):
        ny = array.shape[0]
        touching = (y0 < ny) & (y0 + size > 0)
        if not touching.any():
            out[...] = fill_value
            valid[...] = False
            return np.ones(len(x0), dtype=bool)
        low = max(int(y0[touching].min()), 0)
        high = min(int(y0[touching].max()) + size, ny)
        array, y0 = np.asarray(array[low:high]), y0 - low
    ny, nx = array.shape
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + size <= nx) & (y0 + size <= ny)
    if inside.any():
        windows = sliding_window_view(array, (size, size))
        out[inside] = windows[y0[inside], x0[inside]]
    border = ~inside
    if border.any():
        offsets = np.arange(size)
        yy = y0[border, None] + offsets
        xx = x0[border, None] + offsets
        ok = (((yy >= 0) & (yy < ny))[:, :, None]
              & ((xx >= 0) & (xx < nx))[:, None, :])
        values = array[np.clip(yy, 0, ny - 1)[:, :, None],
                       np.clip(xx, 0, nx - 1)[:, None, :]]
        out[border] = np.where(ok, values, fill_value)
        valid[border] = ok
    return border


def _physical_memory():
    """Bytes of memory of this machine, or None where the platform does not say."""
    try:
        return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def _allocate(n, size):
    """The stamp array and the validity mask of ``n`` stamps, or a clear error."""
    need = n * size * size * (4 * len(BANDS) + 1)
    memory = _physical_memory()
    msg = (f'size={size}: {n} stamps of {size} x {size} px in {len(BANDS)} bands need '
           f'{need / 2 ** 30:.3g} GiB, more than this machine can hold; choose a smaller '
           f'size, or cut fewer candidates at once (iter_cutouts with a smaller chunk_size)')
    if memory is not None and need > memory:
        raise ValueError(msg)
    try:
        return (np.empty((n, len(BANDS), size, size), dtype=np.float32),
                np.ones((n, size, size), dtype=bool))
    except (MemoryError, ValueError) as exc:  # numpy: "array is too big" / cannot allocate
        raise ValueError(msg) from exc


def _cut(images, x, y, ids, size, fill_value, replace_nonfinite):
    n = len(x)
    x0, y0, off = _corners(x, y, size, images.shape)
    data, valid = _allocate(n, size)
    flags = np.where(off, CutoutFlag.OFF_IMAGE | CutoutFlag.EDGE,
                     CutoutFlag.NONE).astype(np.uint8)
    center = slice(size // 2 - 1, size // 2 + 2)
    missing = np.zeros(n, dtype=bool)
    nonfinite = np.zeros(n, dtype=bool)
    for b, array in enumerate(images.data):
        out = data[:, b]
        border = _extract(array, x0, y0, size, fill_value, out, valid)
        flags[border] |= np.uint8(CutoutFlag.EDGE)
        bad = ~np.isfinite(out) & valid
        nonfinite |= bad.any(axis=(1, 2))
        core = out[:, center, center]
        core_ok = valid[:, center, center] & np.isfinite(core) & (core != 0)
        missing |= ~core_ok.any(axis=(1, 2)) & ~off
        if replace_nonfinite:
            out[bad] = fill_value
    flags[nonfinite] |= np.uint8(CutoutFlag.NONFINITE)
    flags[missing] |= np.uint8(CutoutFlag.MISSING_BAND)
    return Cutouts(data=data, flags=flags, x=x, y=y, x0=x0, y0=y0, ids=ids,
                   wcs=images.wcs, filters=dict(images.filters))


def iter_cutouts(images, positions, *, size=64, chunk_size=4096,
                 fill_value=0.0, replace_nonfinite=True, columns=None):
    """
    Yield stamps chunk by chunk.

    Parameters are those of `make_cutouts`, plus ``chunk_size``, the number
    of candidates per chunk.

    Yields
    ------
    start : int
        Index of the chunk's first candidate in ``positions``.
    cutouts : `Cutouts`
        Stamps of candidates ``start`` to ``start + len(cutouts)``.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass import iter_cutouts, load_images
    >>> rng = np.random.default_rng(0)
    >>> images = load_images({band: rng.normal(size=(100, 120)).astype(np.float32)
    ...                       for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')})
    >>> positions = ([50.0, 2.0, 80.0], [40.0, 60.0, 70.0])
    >>> for start, chunk in iter_cutouts(images, positions, size=16, chunk_size=2):
    ...     print(start, chunk.data.shape)
    0 (2, 5, 16, 16)
    2 (1, 5, 16, 16)
    """
    size = check_int(size, 'size', minimum=1)
    chunk_size = positive_int(chunk_size, 'chunk_size')
    images = load_images(images)
    x, y, ids = _positions(positions, images, columns)
    for start in range(0, len(x), chunk_size):
        stop = start + chunk_size
        yield start, _cut(images, x[start:stop], y[start:stop], ids[start:stop],
                          size, fill_value, replace_nonfinite)


def make_cutouts(images, positions, *, size=64, fill_value=0.0,
                 replace_nonfinite=True, columns=None):
    """
    Cut five-band stamps around every candidate.

    Parameters
    ----------
    images : `~astro_clusterclass.images.BandImages` or sequence or mapping
        The five bands, in any form `~astro_clusterclass.load_images` accepts.
    positions : `~astropy.table.Table`, `~astropy.coordinates.SkyCoord` or (x, y)
        Candidate positions: a table with pixel columns (``x``/``y``, ...)
        or a SkyCoord column, sky coordinates (converted with the images'
        WCS), or a pair of 0-based pixel arrays.
    size : int, optional
        Stamp side S in pixels.
    fill_value : float, optional
        Value of padded pixels beyond the image edge (and of replaced
        non-finite pixels).
    replace_nonfinite : bool, optional
        Replace NaN/inf pixels by ``fill_value`` (they are flagged either way).
    columns : tuple of str, optional
        Position columns of a table, see
        `~astro_clusterclass.tables.pixel_positions`.

    Returns
    -------
    cutouts : `Cutouts`
        ``cutouts.data`` has shape ``(N, 5, S, S)``, one stamp per input
        row in input order; ``cutouts.flags`` says which were padded, off
        the image, non-finite or missing a band.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass import make_cutouts
    >>> image = np.arange(100.0).reshape(10, 10)
    >>> from astro_clusterclass.cutouts import CutoutFlag
    >>> bands = ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    >>> stamps = make_cutouts(dict(zip(bands, [image] * 5)),
    ...                       ([5.0, 0.2], [5.0, 9.0]), size=4)
    >>> stamps.data.shape
    (2, 5, 4, 4)
    >>> stamps.data[0, 0, 2, 2]  # the centre pixel (x=5, y=5)
    np.float32(55.0)
    >>> [CutoutFlag.describe(f) for f in stamps.flags]
    ['NONE', 'EDGE']
    """
    size = check_int(size, 'size', minimum=1)
    images = load_images(images)
    x, y, ids = _positions(positions, images, columns)
    return _cut(images, x, y, ids, size, fill_value, replace_nonfinite)
