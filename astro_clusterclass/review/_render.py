"""
What a reviewer sees of one candidate: stamps, a colour composite, a radial profile, details.

`StampRenderer` shows a candidate the way the PHANGS-HST and LEGUS
classifiers saw it in DS9 (Whitmore et al. 2021, §3): the five bands as
grey stamps, a colour composite, a scale bar, an adjustable stretch, the
imexamine-like V-band radial profile against that of a point source, the
concentration index, magnitudes and colours, the neighbours within 5 px
and, unless the review is blind, the machine's classes and probabilities.

Everything is rendered on demand from the (memory-mapped) images with
`~astro_clusterclass.make_cutouts`: the first view of a candidate reads
its stamp's pixels and nothing else, and the pages read are handed back to
the operating system (so the server's memory does not grow with the
candidates seen). Stamps, PNG images (encoded by Pillow, matplotlib's own
image library) and profiles are kept in bounded least-recently-used caches.

Conventions:

- Stamps are shown as in DS9: north (increasing y) up, east (increasing
  x) to the right for a standard north-up mosaic, each image pixel a
  block of ``zoom x zoom`` display pixels (nearest neighbour, so pixels
  stay visible).
- The colour composite is red = F814W (I), green = F555W (V), blue =
  F438W (B), the composite of the PHANGS-HST releases; the bands are put
  on one flux-density scale first (counts times ``PHOTFLAM * PHOTPLAM**2``,
  proportional to f_nu, relative to the V band), so that a source with a
  flat f_nu spectrum is white and a source bright only in F814W is red.
  The asinh composite is `astropy.visualization.make_lupton_rgb`
  (Lupton et al. 2004), the others `astropy.visualization.make_rgb`.
- The radial profile is `photutils.profiles.RadialProfile` around the
  catalog position in 1 px bins, background-subtracted (sigma-clipped
  median in a 10-15 px annulus, the IRAF ``imexamine`` default) and
  normalized to its peak. The comparison profile is, in order of
  preference: a PSF image given as ``psf=``; the simulator's PSF
  (`~astro_clusterclass.datasets.pixel_psf`) when the images say they are
  simulated (FITS ``SIMULATE = T``); the median profile of bright isolated
  point-like candidates of the field (lowest CI); none.
"""

import copy
import io
import math
import mmap
import numbers
import operator
import os
import threading
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from astropy import units as u
from astropy.stats import sigma_clipped_stats
from astropy.visualization import (AsinhStretch, ImageNormalize, LinearStretch, LogStretch,
                                   ManualInterval, PercentileInterval, SqrtStretch,
                                   ZScaleInterval, make_lupton_rgb, make_rgb)
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy.spatial import cKDTree

from .._utils.columns import column_values
from .._utils.jsonable import json_value
from .._utils.validation import check_choice, check_float, check_int, positive_float
from ..bands import normalize_band
from ..cutouts import make_cutouts
from ..images import BandImages, load_images
from ..tables import check_table, pixel_positions

__all__ = ['StampRenderer', 'STRETCHES', 'COLOR_BANDS', 'PROFILE_BAND', 'NEIGHBOR_RADIUS',
           'machine_columns']

#: Stretches of `StampRenderer.band_png` and `StampRenderer.color_png`.
STRETCHES = ('linear', 'sqrt', 'log', 'asinh')

_STRETCH_CLASSES = {'linear': LinearStretch, 'sqrt': SqrtStretch, 'log': LogStretch,
                    'asinh': AsinhStretch}

#: Bands of the colour composite: red, green, blue.
COLOR_BANDS = ('F814W', 'F555W', 'F438W')

#: Band of the radial profile (the band of the concentration index).
PROFILE_BAND = 'F555W'

#: Neighbours closer than this (pixels) are listed and marked.
NEIGHBOR_RADIUS = 5.0

#: Side (pixels) of the stamps when ``size`` is not given.
DEFAULT_SIZE = 64

#: Percentile of the per-stamp interval when ``scale`` is not given.
DEFAULT_PERCENTILE = 99.5

#: Inner and outer radius (pixels) of the background annulus of the profile
#: (IRAF imexamine: the fitting radius 5 plus a buffer of 5 and a width of 5).
PROFILE_BACKGROUND = (10.0, 15.0)

#: Outer radius (pixels) of the radial profile.
PROFILE_RADIUS = 10

#: Point-like candidates whose median profile is the comparison of a field
#: without a PSF, and the isolation radius (pixels) they need.
REFERENCE_STARS = 15
REFERENCE_ISOLATION = 10.0

# Blocks sampled once for a whole-image ("global") scale: count and side.
_GLOBAL_BLOCKS = 256
_GLOBAL_BLOCK_SIZE = 16

_BAR_COLOR = np.array([255, 215, 0], dtype=np.uint8)
_MARK_COLOR = np.array([0, 255, 255], dtype=np.uint8)
#: Pixels of a stamp that lie off the images (a candidate near the edge).
_OFF_IMAGE_COLOR = np.array([64, 0, 64], dtype=np.uint8)
_BAR_ARCSEC = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
_BAR_PIXELS = (2, 5, 10, 20, 25, 50, 100, 200, 500)

# Columns that classify_table (and the PHANGS-HST machine catalogs) add.
_ENSEMBLE = ('class_mode', 'class_mean', 'class_median', 'class_std', 'class_quality')
_UNCERTAINTY = ('prob_entropy', 'prob_margin', 'prob_mutual_info')

_Stamp = namedtuple('_Stamp', 'data x0 y0 flag')


def _classification_like(name):
    return (name in ('class', 'subclass', 'n_models', 'n_reviews', 'reviewers', 'review_tie')
            or name.startswith(('class_', 'subclass_', 'prob_')))


def machine_columns(tbl):
    """
    Names of the columns of ``tbl`` that hold a machine classification.

    These are the columns `~astro_clusterclass.classify.classify_table`
    adds (``class_flag``, each model's ``class_<label>`` and
    ``prob_<label>``, the ensemble's ``class_mode`` ... ``class_quality``,
    ``n_models``, ``prob_1`` ... ``prob_4``, ``prob_raw_<k>``,
    ``prob_entropy``, ``prob_margin``, ``prob_mutual_info``) and those of
    the PHANGS-HST machine catalogs (any column with ``_ml`` in its name,
    e.g. ``class_ml``, ``class_ml_quality``). The ensemble statistics count
    as machine columns only when the table says it was classified
    (``meta['classification']`` or an ``n_models`` column): in a LEGUS
    catalog ``class_mean`` is the mean of the human classes.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review._render import machine_columns
    >>> tbl = QTable({'id': [1], 'class': [1], 'class_resnet18': [2], 'class_mode': [2],
    ...               'n_models': [1], 'prob_1': [0.1], 'class_ml': [2]},
    ...              meta={'classification': {'models': [{'label': 'resnet18'}]}})
    >>> machine_columns(tbl)
    ['class_resnet18', 'class_mode', 'n_models', 'prob_1', 'class_ml']
    """
    check_table(tbl)
    step = tbl.meta.get('classification')
    classified = isinstance(step, dict) or 'n_models' in tbl.colnames
    labels = set()
    if isinstance(step, dict):
        for model in step.get('models') or ():
            if isinstance(model, dict) and model.get('label'):
                labels.add(f'class_{model["label"]}')
    out = []
    for name in tbl.colnames:
        if (name.startswith('prob_') or name in ('class_flag', 'n_models')
                or '_ml' in name or name in labels or (classified and name in _ENSEMBLE)):
            out.append(name)
    return out


def _finite_list(values):
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


@lru_cache(maxsize=8)
def _font(height):
    from PIL import ImageFont

    return ImageFont.load_default(size=height)


def _encode_png(rgb, label=None, *, at=(0, 0), height=10):
    """PNG bytes of an ``(H, W, 3)`` uint8 image, with ``label`` written at ``at`` (Pillow)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(rgb, mode='RGB')
    if label:
        ImageDraw.Draw(image).text(at, label, fill=tuple(int(c) for c in _BAR_COLOR),
                                   font=_font(height), anchor='ls')
    buffer = io.BytesIO()
    image.save(buffer, format='PNG', compress_level=1)  # fast: stamps are small
    return buffer.getvalue()


def _names_files(images):
    """True when ``images`` (as given to `load_images`) names files to open."""
    if isinstance(images, Mapping):
        images = list(images.values())
    elif isinstance(images, (str, os.PathLike)) or not isinstance(images, (list, tuple)):
        images = [images]
    return any(isinstance(item, (str, os.PathLike)) for item in images)


def _backing_maps(images):
    """The memory maps (`mmap.mmap`) behind the bands."""
    maps = []
    if not hasattr(mmap, 'MADV_DONTNEED'):
        return maps
    for array in images.data:
        base = array
        while base is not None and not isinstance(base, mmap.mmap):
            base = getattr(base, 'base', None)
        if base is not None:
            maps.append(base)
    return maps


def _scale_key(scale):
    """Validated, hashable form of a ``scale`` argument."""
    if scale is None:
        return ('percentile', DEFAULT_PERCENTILE)
    if isinstance(scale, str):
        return (check_choice(scale, ('zscale', 'global'), 'scale'),)
    if isinstance(scale, numbers.Real) and not isinstance(scale, (bool, np.bool_)):
        percentile = check_float(scale, 'scale')
        if not 0 < percentile <= 100:
            msg = f'scale: a percentile must be in (0, 100], got {scale!r}'
            raise ValueError(msg)
        return ('percentile', percentile)
    try:
        low, high = scale
        low = check_float(low, 'scale[0]')
        high = check_float(high, 'scale[1]')
    except (TypeError, ValueError) as exc:
        msg = ("scale must be None, a percentile in (0, 100], 'zscale', 'global' or a "
               f'(vmin, vmax) pair of finite numbers; got {scale!r}')
        raise ValueError(msg) from exc
    if not high > low:
        msg = f'scale: vmax must be greater than vmin, got ({low}, {high})'
        raise ValueError(msg)
    return ('manual', low, high)


def _sky_subtracted(data):
    """``data`` minus its sigma-clipped median (most pixels of a stamp are sky)."""
    finite = np.isfinite(data)
    if not finite.any():
        return data
    _, median, _ = sigma_clipped_stats(data[finite], sigma=3.0, maxiters=5)
    return data - np.float32(median)


def _limits(key, data, global_data=None):
    """(vmin, vmax) of ``data`` for a validated scale key."""
    kind = key[0]
    if kind == 'manual':
        return key[1], key[2]
    values = data if kind != 'global' else global_data
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    if kind == 'zscale':
        low, high = ZScaleInterval().get_limits(values)
    else:
        percentile = DEFAULT_PERCENTILE if kind == 'global' else key[1]
        low, high = PercentileInterval(percentile).get_limits(values)
    low, high = float(low), float(high)
    if not high > low:  # a flat stamp: show it mid-grey rather than divide by zero
        high = low + max(abs(low), 1.0)
    return low, high


class StampRenderer:
    """
    Stamps, colour composites, radial profiles and details of the candidates of a table.

    Parameters
    ----------
    images : `~astro_clusterclass.images.BandImages` or input of `~astro_clusterclass.load_images`
        The five bands (FITS file names are memory-mapped).
    tbl : `~astropy.table.Table`
        The candidates: pixel columns (or sky positions with a WCS), and
        whatever else is to be shown (``ci``, ``mag_<band>``, the
        classification columns).
    size : int, optional
        Stamp side in pixels (default 64).
    cache_size : int, optional
        Rendered images (PNG bytes) and profiles kept, least recently used
        dropped first. Cut stamps are kept for a quarter as many candidates.
    zoom : int, optional
        Display pixels per image pixel (default: the stamp shown about
        256 px wide).
    pixel_scale : float or `~astropy.units.Quantity`, optional
        Arcseconds per pixel for the scale bar, overriding the WCS (the
        scale bar is in pixels when neither is known).
    color_bands : tuple of str, optional
        Red, green and blue bands of the composite (:data:`COLOR_BANDS`).
    psf : 2-D array, optional
        PSF image (centred, odd side) whose profile is the comparison.
    reference : {'auto', 'psf', 'stars', 'none'}, optional
        Comparison profile: ``'auto'`` (see the module docstring),
        ``'psf'`` (``psf=`` or the simulator's PSF), ``'stars'`` (median of
        bright isolated point-like candidates), ``'none'``.
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`.
    id_column : str, optional
        Column of the candidate identifiers (row numbers when absent).
    ci_column, mag_format : str, optional
        Column of the concentration index, and the magnitude column name
        of a band (``'mag_{band}'``; ``'magerr_{band}'`` are the errors).
    release_pages : {'auto', True, False}, optional
        After each stamp, hand the pages of memory-mapped images back to
        the operating system (``madvise(MADV_DONTNEED)``; they stay in its
        page cache), so that the resident memory of a long review does not
        grow with the candidates seen. astropy maps FITS files
        copy-on-write, and releasing a page drops any change made to it in
        memory: ``'auto'`` releases only the maps of files this renderer
        opened itself; pass True for images opened by the caller that
        nobody writes to (as ``clusterclass review`` does).

    Attributes
    ----------
    bands : tuple of str
        Band slots, in :data:`~astro_clusterclass.bands.BANDS` order.
    size, zoom : int
    pixel_scale : float or None
        Arcseconds per pixel.
    color_bands : tuple of str
    color_factors : dict
        Factor applied to each colour band to put it on the V band's
        f_nu scale (1 when the headers lack PHOTFLAM/PHOTPLAM).

    Raises
    ------
    ValueError
        If the table has no positions, an option is invalid (the message
        names it) or a colour band is unknown.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from matplotlib.image import imread
    >>> from astro_clusterclass.review._render import StampRenderer
    >>> yy, xx = np.mgrid[:100, :100]
    >>> star = np.exp(-((xx - 50.0) ** 2 + (yy - 40.0) ** 2) / 4.5).astype('f4')
    >>> images = {b: star for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
    >>> tbl = QTable({'id': [7, 8], 'x': [50.0, 52.0], 'y': [40.0, 43.0], 'ci': [1.3, 1.6]})
    >>> renderer = StampRenderer(images, tbl, size=32)
    >>> imread(io.BytesIO(renderer.band_png(0, 'F555W'))).shape
    (256, 256, 3)
    >>> imread(io.BytesIO(renderer.color_png(0, stretch='sqrt'))).shape
    (256, 256, 3)
    >>> details = renderer.details(0)
    >>> details['id'], details['ci'], [n['id'] for n in details['neighbors']]
    (7, 1.3, [8])
    >>> profile = renderer.profile(0)
    >>> profile['radius'][:3], profile['profile'][0]
    ([0.5, 1.5, 2.5], 1.0)
    >>> renderer.band_png(2, 'F555W')
    Traceback (most recent call last):
    ...
    IndexError: row 2 is out of range: the catalog has 2 rows (0 to 1)
    """

    def __init__(self, images, tbl, *, size=None, cache_size=512, zoom=None, pixel_scale=None,
                 color_bands=COLOR_BANDS, psf=None, reference='auto', columns=None,
                 id_column='id', ci_column='ci', mag_format='mag_{band}', release_pages='auto'):
        check_table(tbl)
        # Options first, so that a bad one leaves no file open.
        self.size = DEFAULT_SIZE if size is None else check_int(size, 'size', minimum=8)
        self.cache_size = check_int(cache_size, 'cache_size', minimum=1)
        self.zoom = (max(1, round(256 / self.size)) if zoom is None
                     else check_int(zoom, 'zoom', minimum=1, maximum=32))
        self.color_bands = tuple(normalize_band(b, parameter='color_bands') for b in color_bands)
        if len(self.color_bands) != 3:
            msg = f'color_bands must name three bands (red, green, blue), got {color_bands!r}'
            raise ValueError(msg)
        self.reference_kind = check_choice(reference, ('auto', 'psf', 'stars', 'none'),
                                           'reference')
        self._psf = None
        if psf is not None:
            psf = np.asarray(psf, dtype=float)
            if psf.ndim != 2 or psf.shape[0] != psf.shape[1] or psf.shape[0] % 2 != 1:
                msg = f'psf must be a square 2-D image of odd side, got shape {psf.shape}'
                raise ValueError(msg)
            self._psf = psf
        if release_pages not in ('auto', True, False) or isinstance(release_pages, int) and (
                not isinstance(release_pages, bool)):
            msg = f"release_pages must be 'auto', True or False; got {release_pages!r}"
            raise ValueError(msg)
        self.id_column = id_column if id_column in tbl.colnames else None
        self.ci_column = ci_column
        self.mag_format = mag_format
        self.tbl = tbl
        self._owned = not isinstance(images, BandImages)
        self.images = load_images(images)
        try:
            self._set_up(images, columns, pixel_scale, release_pages)
        except BaseException:
            self.close()  # files opened here are closed here
            raise

    def _set_up(self, images, columns, pixel_scale, release_pages):
        tbl = self.tbl
        self.bands = tuple(self.images.bands)
        self.x, self.y = pixel_positions(tbl, wcs=self.images.wcs, columns=columns)
        self.pixel_scale = self._pixel_scale(pixel_scale)
        self.color_factors = self._color_factors()
        finite = np.flatnonzero(np.isfinite(self.x) & np.isfinite(self.y))
        self._tree_rows = finite
        self._tree = cKDTree(np.column_stack([self.x[finite], self.y[finite]]))
        self._machine = machine_columns(tbl)
        machine = set(self._machine)
        self._catalog_classes = [n for n in tbl.colnames
                                 if _classification_like(n) and n not in machine]
        self._lock = threading.RLock()
        self._images_cache = OrderedDict()
        self._stamps = OrderedDict()
        self._stamp_bound = max(1, self.cache_size // 4)
        self._floats = {}
        self._reference = None
        self._global = None
        if release_pages == 'auto':
            release_pages = self._owned and _names_files(images)
        self._maps = _backing_maps(self.images) if release_pages else []
        self.hits = self.misses = 0

    # -- set-up helpers -------------------------------------------------------------------
    def _pixel_scale(self, pixel_scale):
        if pixel_scale is not None:
            if isinstance(pixel_scale, u.Quantity):
                pixel_scale = pixel_scale.to_value(u.arcsec)
            return positive_float(pixel_scale, 'pixel_scale')
        wcs = self.images.wcs
        if wcs is None or not wcs.has_celestial:
            return None
        scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0  # deg -> arcsec
        return float(np.mean(scales))

    def _color_factors(self):
        # f_nu is proportional to counts x PHOTFLAM x PHOTPLAM**2; relative to V.
        def fnu(band):
            meta = self.images.meta.get(band) or {}
            try:
                value = float(meta['PHOTFLAM']) * float(meta['PHOTPLAM']) ** 2
            except (KeyError, TypeError, ValueError):
                return None
            return value if math.isfinite(value) and value > 0 else None
        factors = {band: fnu(band) for band in self.color_bands + (PROFILE_BAND,)}
        if any(v is None for v in factors.values()):
            return {band: 1.0 for band in self.color_bands}
        return {band: factors[band] / factors[PROFILE_BAND] for band in self.color_bands}

    def close(self):
        """Close the images if this renderer opened them."""
        if self._owned:
            self.images.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return len(self.tbl)

    # -- validation ------------------------------------------------------------------------
    def _row(self, row):
        if isinstance(row, (bool, np.bool_)):
            msg = f'row must be an integer row index, got {row!r}'
            raise ValueError(msg)
        try:
            index = operator.index(row)
        except TypeError:
            msg = f'row must be an integer row index, got {row!r}'
            raise ValueError(msg) from None
        n = len(self.tbl)
        if not 0 <= index < n:
            rows = f'{n} rows (0 to {n - 1})' if n else 'no rows'
            msg = f'row {index} is out of range: the catalog has {rows}'
            raise IndexError(msg)
        return index

    def _band(self, band):
        if isinstance(band, str):
            if band in self.bands:
                return band
            for slot, name in self.images.filters.items():
                if name.upper() == band.strip().upper():
                    return slot
            try:
                return normalize_band(band)
            except ValueError:
                pass
        msg = f'band {band!r} is not one of the bands {", ".join(self.bands)}'
        raise ValueError(msg)

    # -- caches ----------------------------------------------------------------------------
    def _cached(self, key, make):
        with self._lock:
            if key in self._images_cache:
                self._images_cache.move_to_end(key)
                self.hits += 1
                return self._images_cache[key]
            self.misses += 1
        value = make()
        with self._lock:
            self._images_cache[key] = value
            self._images_cache.move_to_end(key)
            while len(self._images_cache) > self.cache_size:
                self._images_cache.popitem(last=False)
        return value

    def cache_info(self):
        """
        Counts of the caches: ``hits``, ``misses``, ``entries``, ``maxsize``, ``stamps``.

        Examples
        --------
        >>> import numpy as np
        >>> from astropy.table import QTable
        >>> from astro_clusterclass.review._render import StampRenderer
        >>> images = {b: np.ones((40, 40), 'f4')
        ...           for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
        >>> renderer = StampRenderer(images, QTable({'x': [20.0], 'y': [20.0]}), size=16,
        ...                          cache_size=4)
        >>> png = renderer.band_png(0, 'F814W')
        >>> png is renderer.band_png(0, 'F814W')
        True
        >>> renderer.cache_info()
        {'hits': 1, 'misses': 1, 'entries': 1, 'maxsize': 4, 'stamps': 1}
        """
        with self._lock:
            return {'hits': self.hits, 'misses': self.misses,
                    'entries': len(self._images_cache), 'maxsize': self.cache_size,
                    'stamps': len(self._stamps)}

    def _stamp(self, row):
        with self._lock:
            if row in self._stamps:
                self._stamps.move_to_end(row)
                return self._stamps[row]
        cut = make_cutouts(self.images, (self.x[row:row + 1], self.y[row:row + 1]),
                           size=self.size)
        self._release()
        stamp = _Stamp(cut.data[0], int(cut.x0[0]), int(cut.y0[0]), int(cut.flags[0]))
        with self._lock:
            self._stamps[row] = stamp
            while len(self._stamps) > self._stamp_bound:
                self._stamps.popitem(last=False)
        return stamp

    def _off_image(self, stamp):
        """Boolean (size, size) mask of the stamp's pixels that lie off the images."""
        ny, nx = self.images.shape
        rows = np.arange(stamp.y0, stamp.y0 + self.size)
        cols = np.arange(stamp.x0, stamp.x0 + self.size)
        return ~(((rows >= 0) & (rows < ny))[:, None] & ((cols >= 0) & (cols < nx))[None, :])

    def _release(self):
        # Every page a stamp touched would stay in this process's resident memory
        # for as long as the server runs; they stay in the OS page cache.
        for mapping in self._maps:
            mapping.madvise(mmap.MADV_DONTNEED)

    def _global_sample(self):
        """Pixels of blocks spread over the images, cut once (for ``scale='global'``)."""
        with self._lock:
            if self._global is None:
                ny, nx = self.images.shape
                rng = np.random.default_rng(0)
                xs = rng.uniform(0, nx - 1, _GLOBAL_BLOCKS)
                ys = rng.uniform(0, ny - 1, _GLOBAL_BLOCKS)
                cut = make_cutouts(self.images, (xs, ys), size=_GLOBAL_BLOCK_SIZE,
                                   fill_value=np.nan)
                self._release()
                self._global = {band: cut.data[:, b].ravel()
                                for b, band in enumerate(self.bands)}
            return self._global

    # -- drawing ---------------------------------------------------------------------------
    def scale_bar(self):
        """
        The scale bar drawn on the stamps.

        Returns a dict: ``pixels`` (image pixels), ``arcsec`` (or None),
        ``display_pixels`` (its length in the PNG) and ``label``.

        The bar is the largest round length not longer than about 30 % of
        the stamp: arcseconds when the pixel scale is known, else pixels.

        Examples
        --------
        >>> import numpy as np
        >>> from astropy.table import QTable
        >>> from astro_clusterclass.review._render import StampRenderer
        >>> images = {b: np.zeros((40, 40), 'f4')
        ...           for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
        >>> tbl = QTable({'x': [20.0], 'y': [20.0]})
        >>> StampRenderer(images, tbl, size=64, pixel_scale=0.04).scale_bar()
        {'pixels': 12.5, 'arcsec': 0.5, 'display_pixels': 50, 'label': '0.5" (12.5 px)'}
        >>> StampRenderer(images, tbl, size=64).scale_bar()['label']
        '10 px'
        """
        limit = 0.3 * self.size
        if self.pixel_scale is not None:
            fits = [a for a in _BAR_ARCSEC if a / self.pixel_scale <= limit]
            arcsec = fits[-1] if fits else _BAR_ARCSEC[0]
            pixels = arcsec / self.pixel_scale
            label = f'{arcsec:g}" ({pixels:.3g} px)'
        else:
            arcsec = None
            fits = [p for p in _BAR_PIXELS if p <= limit]
            pixels = float(fits[-1] if fits else 1)
            label = f'{pixels:g} px'
        return {'pixels': float(pixels), 'arcsec': arcsec,
                'display_pixels': max(1, int(round(pixels * self.zoom))), 'label': label}

    def _display(self, rgb, row, stamp, *, scale_bar, marks):
        """Flip north up, zoom, and draw the neighbour marks and the scale bar."""
        z = self.zoom
        image = np.repeat(np.repeat(np.ascontiguousarray(rgb[::-1]), z, axis=0), z, axis=1)
        height, width = image.shape[:2]
        if marks:
            radius, half = 1.5 * z, max(0.5, z / 4)
            for other in self._neighbor_rows(row):
                # Display coordinates (pixel centres) of the neighbour's image position.
                u = (self.x[other] - stamp.x0 + 0.5) * z - 0.5
                v = (self.size - 0.5 - (self.y[other] - stamp.y0)) * z - 0.5
                lo_v, hi_v = max(0, int(v - radius - 2)), min(height, int(v + radius + 3))
                lo_u, hi_u = max(0, int(u - radius - 2)), min(width, int(u + radius + 3))
                if lo_v >= hi_v or lo_u >= hi_u:
                    continue
                vv, uu = np.mgrid[lo_v:hi_v, lo_u:hi_u]
                ring = np.abs(np.hypot(uu - u, vv - v) - radius) <= half
                image[lo_v:hi_v, lo_u:hi_u][ring] = _MARK_COLOR
        label = None
        if scale_bar:
            bar = self.scale_bar()
            length = min(bar['display_pixels'], width - 2)
            thick = max(1, z // 2)
            margin = max(2, z)
            top = height - margin - thick
            image[top:top + thick, margin:margin + length] = _BAR_COLOR
            if width >= 96:  # room for the label above the bar
                label = {'label': bar['label'], 'at': (margin, top - 3),
                         'height': max(8, min(14, 3 * z))}
        return image, label

    def _png(self, rgb, row, stamp, *, scale_bar, marks):
        image, label = self._display(rgb, row, stamp, scale_bar=scale_bar, marks=marks)
        if label is None:
            return _encode_png(image)
        return _encode_png(image, label['label'], at=label['at'], height=label['height'])

    # -- public rendering ------------------------------------------------------------------
    def band_png(self, row, band, *, stretch='asinh', scale=None, scale_bar=True, marks=True):
        """
        One band's stamp of candidate ``row`` as PNG bytes (grey, north up).

        Parameters
        ----------
        row : int
            Row index of the candidate in the table.
        band : str
            One of ``bands`` (or its filter, e.g. ``'F435W'`` in the B slot).
        stretch : {'linear', 'sqrt', 'log', 'asinh'}, optional
            Stretch of `astropy.visualization` applied after the interval.
        scale : None, float, 'zscale', 'global' or (vmin, vmax), optional
            Interval: None for the 99.5 % percentile interval of the stamp,
            a number for another percentile, ``'zscale'`` for IRAF's zscale
            of the stamp, ``'global'`` for the 99.5 % interval of a sample
            of the whole band (taken once), or explicit image values.
        scale_bar, marks : bool, optional
            Draw the scale bar, and rings on the neighbours within
            :data:`NEIGHBOR_RADIUS` px.

        Returns
        -------
        png : bytes
            An RGB PNG of ``size * zoom`` pixels a side.

        Raises
        ------
        IndexError, ValueError
            If ``row`` is not a row of the table, ``band`` is not a band or
            an option is invalid; the message names them.
        """
        row = self._row(row)
        band = self._band(band)
        stretch = check_choice(stretch, STRETCHES, 'stretch')
        key = _scale_key(scale)
        cache_key = ('band', row, band, stretch, key, bool(scale_bar), bool(marks))

        def make():
            stamp = self._stamp(row)
            data = stamp.data[self.bands.index(band)]
            off = self._off_image(stamp)
            low, high = _limits(key, data[~off], self._global_sample()[band]
                                if key[0] == 'global' else None)
            norm = ImageNormalize(vmin=low, vmax=high, stretch=_STRETCH_CLASSES[stretch](),
                                  clip=True)
            values = np.ma.filled(norm(data), 0.0)
            grey = np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
            rgb = np.repeat(grey[:, :, None], 3, axis=2)
            rgb[off] = _OFF_IMAGE_COLOR
            return self._png(rgb, row, stamp, scale_bar=scale_bar, marks=marks)
        return self._cached(cache_key, make)

    def color_png(self, row, *, stretch='asinh', q=3.0, scale=None, scale_bar=True,
                  marks=True):
        """
        Colour composite of candidate ``row`` as PNG bytes.

        Red, green and blue are ``color_bands`` (F814W, F555W, F438W by
        default) on one f_nu scale (``color_factors``), with one interval
        for the three.

        Parameters
        ----------
        row : int
        stretch : {'linear', 'sqrt', 'log', 'asinh'}, optional
            ``'asinh'`` is `~astropy.visualization.make_lupton_rgb`
            (``minimum`` the interval's vmin, its linear ``stretch`` such
            that vmax is full brightness, softening ``q``); the others
            `~astropy.visualization.make_rgb` with the interval.
        q : float, optional
            Asinh softening of the Lupton composite (0 < q <= 50): small
            values are nearly linear, large ones compress the bright end
            more and lift the noise. The interval's vmax is full brightness
            either way; each band's sky (its sigma-clipped median) is black,
            and pixels off the images are drawn dark purple.
        scale : see `band_png`
            Interval of the three bands together (V-band image values when
            explicit).
        scale_bar, marks : bool, optional

        Returns
        -------
        png : bytes

        Raises
        ------
        IndexError, ValueError
            As `band_png`.
        """
        row = self._row(row)
        stretch = check_choice(stretch, STRETCHES, 'stretch')
        q = positive_float(q, 'q')
        if q > 50:
            msg = f'q must be at most 50 (the asinh softening), got {q!r}'
            raise ValueError(msg)
        key = _scale_key(scale)
        cache_key = ('color', row, stretch, q, key, bool(scale_bar), bool(marks))

        def make():
            stamp = self._stamp(row)
            # Each band's own sky is taken off first: the bands' skies differ (in f_nu the
            # red one is the brightest), and a common black level would tint the whole stamp.
            off = self._off_image(stamp)
            channels = []
            for band in self.color_bands:
                data = stamp.data[self.bands.index(band)].copy()
                data[~off] = _sky_subtracted(data[~off])
                data[off] = 0.0
                channels.append(data * np.float32(self.color_factors[band]))
            sample = None
            if key[0] == 'global':
                glob = self._global_sample()
                sample = np.concatenate([_sky_subtracted(glob[b]) * self.color_factors[b]
                                         for b in self.color_bands])
            low, high = _limits(key, np.concatenate([c[~off] for c in channels]), sample)
            if key[0] != 'manual' and high > 0:
                low = 0.0   # the sky level of every band: noise below it is black
            if stretch == 'asinh':
                # Lupton's linear stretch chosen so that vmax maps to full brightness.
                with np.errstate(invalid='ignore', divide='ignore'):
                    rgb = make_lupton_rgb(*channels, minimum=low,
                                          stretch=q * (high - low) / math.sinh(q), Q=q)
            else:
                rgb = make_rgb(*channels, interval=ManualInterval(low, high),
                               stretch=_STRETCH_CLASSES[stretch]())
            rgb = np.array(rgb, dtype=np.uint8)
            rgb[off] = _OFF_IMAGE_COLOR
            return self._png(rgb, row, stamp, scale_bar=scale_bar, marks=marks)
        return self._cached(cache_key, make)

    # -- profile ---------------------------------------------------------------------------
    @staticmethod
    def _edges():
        return np.arange(0.0, PROFILE_RADIUS + 1.0)

    @staticmethod
    def _background(data, xc, yc):
        yy, xx = np.indices(data.shape)
        r = np.hypot(xx - xc, yy - yc)
        ring = data[(r >= PROFILE_BACKGROUND[0]) & (r < PROFILE_BACKGROUND[1])
                    & np.isfinite(data)]
        if ring.size < 5:
            return 0.0
        return float(sigma_clipped_stats(ring, sigma=3.0)[1])

    def _measure(self, data, xc, yc, *, subtract=True, fit=True):
        """Radial profile (bin centres, profile / peak, pixels, peak, background, FWHM)."""
        # Imported here: photutils takes long to import and only profiles need it.
        from photutils.profiles import RadialProfile

        background = self._background(data, xc, yc) if subtract else 0.0
        data = data - background
        fwhm = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            rp = RadialProfile(data, (xc, yc), self._edges())
            profile = np.asarray(rp.profile, dtype=float)
            peak = np.nanmax(profile) if np.isfinite(profile).any() else np.nan
            if fit:
                try:
                    fwhm = float(rp.gaussian_fwhm)
                except Exception:  # the Gaussian fit fails on noise: no FWHM then
                    fwhm = np.nan
        if not peak > 0:
            peak = np.nan
        yy, xx = np.indices(data.shape)
        r = np.hypot(xx - xc, yy - yc)
        inside = r <= PROFILE_RADIUS
        return {'radius': np.asarray(rp.radius, dtype=float), 'profile': profile / peak,
                'pixel_radius': r[inside], 'pixel_value': data[inside] / peak,
                'peak': peak, 'background': background,
                'fwhm': fwhm if math.isfinite(fwhm) and 0 < fwhm < 4 * PROFILE_RADIUS
                else np.nan}

    def _simulated(self):
        header = self.images.headers.get(PROFILE_BAND)
        return header is not None and header.get('SIMULATE') is True

    def _psf_reference(self, psf, description):
        center = (psf.shape[0] - 1) / 2
        measured = self._measure(psf, center, center, subtract=False)
        return {'kind': 'psf', 'description': description,
                'radius': _finite_list(measured['radius']),
                'profile': _finite_list(measured['profile']),
                'fwhm': json_value(measured['fwhm']), 'rows': []}

    def _star_rows(self):
        """Rows of bright isolated point-like candidates (lowest CI), brightest first."""
        if self.ci_column not in self.tbl.colnames:
            return np.array([], dtype=int)
        ci = self._column(self.ci_column)
        ny, nx = self.images.shape
        half = self.size / 2
        ok = (np.isfinite(ci) & np.isfinite(self.x) & np.isfinite(self.y)
              & (self.x >= half) & (self.y >= half) & (self.x < nx - half) & (self.y < ny - half))
        rows = np.flatnonzero(ok)
        if not len(rows):
            return rows
        counts = np.array([len(n) for n in self._tree.query_ball_point(
            np.column_stack([self.x[rows], self.y[rows]]), r=REFERENCE_ISOLATION)])
        rows = rows[counts == 1]  # only itself within the isolation radius
        if not len(rows):
            return rows
        rows = rows[ci[rows] <= np.percentile(ci[rows], 25)]
        mag_name = self.mag_format.format(band=PROFILE_BAND)
        if mag_name in self.tbl.colnames:
            mag = self._column(mag_name)
            rows = rows[np.isfinite(mag[rows])]
            rows = rows[np.argsort(mag[rows], kind='stable')]
        else:
            rows = rows[np.argsort(ci[rows], kind='stable')]
        return rows[:REFERENCE_STARS]

    def _stars_reference(self):
        rows = self._star_rows()
        if not len(rows):
            return None
        band = self.bands.index(PROFILE_BAND)
        profiles = []
        for row in rows:
            # One at a time, each stamp's pages released before the next is read.
            cut = make_cutouts(self.images, (self.x[row:row + 1], self.y[row:row + 1]),
                               size=self.size)
            self._release()
            measured = self._measure(cut.data[0, band], self.x[row] - cut.x0[0],
                                     self.y[row] - cut.y0[0], fit=False)
            if np.isfinite(measured['peak']):
                profiles.append(measured['profile'])
        if not profiles:
            return None
        median = np.nanmedian(np.array(profiles), axis=0)
        median = median / np.nanmax(median)
        return {'kind': 'stars',
                'description': (f'median profile of {len(profiles)} bright isolated '
                                f'candidates with the lowest {self.ci_column}'),
                'radius': _finite_list(measured['radius']), 'profile': _finite_list(median),
                'fwhm': None, 'rows': [int(r) for r in rows]}

    def reference_profile(self):
        """
        The comparison profile (computed once), or None.

        Returns
        -------
        reference : dict or None
            ``kind`` (``'psf'`` or ``'stars'``), ``description``, ``radius``,
            ``profile`` (normalized to its peak), ``fwhm`` (px, or None) and
            ``rows`` (the candidates a ``'stars'`` profile is made of).
        """
        with self._lock:
            if self._reference is None:
                self._reference = self._make_reference() or {}
            return copy.deepcopy(self._reference) or None

    def _make_reference(self):
        kind = self.reference_kind
        if kind == 'none':
            return None
        if self._psf is not None and kind in ('auto', 'psf'):
            return self._psf_reference(self._psf, 'the PSF given')
        if kind in ('auto', 'psf') and self._simulated():
            from ..datasets import pixel_psf

            band = self.images.filters.get(PROFILE_BAND, PROFILE_BAND)
            return self._psf_reference(pixel_psf(band),
                                       f'the simulated {band} PSF (two Moffat profiles)')
        if kind in ('auto', 'stars'):
            return self._stars_reference()
        return None

    def profile(self, row):
        """
        The V-band radial profile of candidate ``row`` and the comparison profile.

        Returns
        -------
        profile : dict
            JSON-serialisable: ``row``, ``band``, ``center`` (x, y),
            ``radius`` (bin centres, px), ``profile`` (azimuthal mean
            surface brightness divided by its peak), ``pixels`` (``radius``
            and ``value`` of every pixel within the profile radius, the
            imexamine scatter), ``peak`` and ``background`` (image units),
            ``fwhm`` (px, Gaussian fit, or None), ``reference`` (see
            `reference_profile`) and ``arcsec_per_pixel``.

        Raises
        ------
        IndexError, ValueError
            If ``row`` is not a row of the table.
        """
        row = self._row(row)

        def make():
            stamp = self._stamp(row)
            xc, yc = self.x[row] - stamp.x0, self.y[row] - stamp.y0
            measured = self._measure(stamp.data[self.bands.index(PROFILE_BAND)], xc, yc)
            return {'row': row, 'band': PROFILE_BAND,
                    'center': [json_value(self.x[row]), json_value(self.y[row])],
                    'radius': _finite_list(measured['radius']),
                    'profile': _finite_list(measured['profile']),
                    'pixels': {'radius': _finite_list(np.round(measured['pixel_radius'], 3)),
                               'value': _finite_list(np.round(measured['pixel_value'], 4))},
                    'peak': json_value(measured['peak']),
                    'background': json_value(measured['background']),
                    'fwhm': json_value(measured['fwhm'])}
        out = copy.deepcopy(self._cached(('profile', row), make))
        out['reference'] = self.reference_profile()
        out['arcsec_per_pixel'] = self.pixel_scale
        return out

    # -- details ---------------------------------------------------------------------------
    def _column(self, name):
        if name not in self._floats:
            self._floats[name] = column_values(self.tbl, name)
        return self._floats[name]

    def _value(self, name, row):
        return json_value(self.tbl[name][row])

    def _neighbor_rows(self, row):
        if not (np.isfinite(self.x[row]) and np.isfinite(self.y[row])):
            return []
        found = self._tree.query_ball_point([self.x[row], self.y[row]], r=NEIGHBOR_RADIUS)
        others = [int(self._tree_rows[i]) for i in found if self._tree_rows[i] != row]
        return sorted(others, key=lambda o: (np.hypot(self.x[o] - self.x[row],
                                                      self.y[o] - self.y[row]), o))

    def neighbors(self, row):
        """
        The candidates within :data:`NEIGHBOR_RADIUS` px of ``row``, nearest first.

        Returns
        -------
        neighbors : list of dict
            ``row``, ``id``, ``dx``, ``dy`` and ``distance`` (px).
        """
        row = self._row(row)
        out = []
        for other in self._neighbor_rows(row):
            dx, dy = self.x[other] - self.x[row], self.y[other] - self.y[row]
            out.append({'row': other, 'id': self._id(other), 'dx': round(float(dx), 3),
                        'dy': round(float(dy), 3), 'distance': round(float(np.hypot(dx, dy)), 3)})
        return out

    def _id(self, row):
        return row if self.id_column is None else self._value(self.id_column, row)

    def details(self, row, *, blind=False):
        """
        What the table says about candidate ``row``, JSON-serialisable.

        Parameters
        ----------
        row : int
        blind : bool, optional
            Leave out every classification: the machine's (``machine``) and
            any other class column of the table (``catalog_classes``, e.g. a
            catalog's human classes or a simulation's truth).

        Returns
        -------
        details : dict
            ``row``, ``id``, ``x``, ``y`` (0-based pixels), ``ra``, ``dec``
            (degrees, when the images have a WCS), ``ci``, ``magnitudes``
            and ``magnitude_errors`` (band → mag, the bands present),
            ``colors`` (``'F336W-F438W'`` → mag, for successive bands
            present), ``neighbors`` (see `neighbors`), ``on_image``,
            ``edge`` (the stamp runs off the image), ``scale_bar``,
            ``color_bands``, ``filters``, ``blind``; unless blind,
            ``machine`` (``class``, ``quality``, ``n_models``, ``votes``
            model → class, ``probabilities`` class → probability,
            ``columns`` every machine column → value) and
            ``catalog_classes`` (column → value).

        Raises
        ------
        IndexError, ValueError
            If ``row`` is not a row of the table.
        """
        row = self._row(row)
        x, y = float(self.x[row]), float(self.y[row])
        out = {'row': row, 'id': self._id(row), 'x': json_value(x), 'y': json_value(y),
               'ra': None, 'dec': None}
        wcs = self.images.wcs
        if wcs is not None and wcs.has_celestial and math.isfinite(x) and math.isfinite(y):
            ra, dec = wcs.celestial.pixel_to_world_values(x, y)
            out['ra'], out['dec'] = json_value(float(ra)), json_value(float(dec))
        out['ci'] = (self._value(self.ci_column, row) if self.ci_column in self.tbl.colnames
                     else None)
        mags, errors = {}, {}
        for band in self.bands:
            name = self.mag_format.format(band=band)
            if name in self.tbl.colnames:
                mags[band] = self._value(name, row)
                error = name.replace('mag', 'magerr', 1)
                if error in self.tbl.colnames:
                    errors[band] = self._value(error, row)
        out['magnitudes'], out['magnitude_errors'] = mags, errors
        colors = {}
        for blue, red in zip(self.bands[:-1], self.bands[1:]):
            if blue in mags and red in mags:
                both = mags[blue] is not None and mags[red] is not None
                colors[f'{blue}-{red}'] = round(mags[blue] - mags[red], 4) if both else None
        out['colors'] = colors
        out['neighbors'] = self.neighbors(row)
        ny, nx = self.images.shape
        half = self.size // 2
        on_image = math.isfinite(x) and math.isfinite(y) and (
            -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5)
        out['on_image'] = bool(on_image)
        cx, cy = (round(x), round(y)) if on_image else (0, 0)
        out['edge'] = bool(not on_image or cx - half < 0 or cy - half < 0
                           or cx - half + self.size > nx or cy - half + self.size > ny)
        out['scale_bar'] = self.scale_bar()
        out['size'], out['zoom'] = self.size, self.zoom
        out['color_bands'] = {'red': self.color_bands[0], 'green': self.color_bands[1],
                              'blue': self.color_bands[2]}
        out['filters'] = dict(self.images.filters)
        out['blind'] = bool(blind)
        if not blind:
            out['machine'] = self._machine_details(row)
            out['catalog_classes'] = {name: self._value(name, row)
                                      for name in self._catalog_classes}
        return out

    def _machine_details(self, row):
        columns = {name: self._value(name, row) for name in self._machine}
        if not columns:
            return None
        names = self.tbl.colnames
        main = next((n for n in ('class_mode', 'class_ml') if n in columns), None)
        quality = next((n for n in ('class_quality', 'class_ml_quality') if n in columns), None)
        votes = {}
        step = self.tbl.meta.get('classification')
        labels = [m.get('label') for m in (step.get('models') or ())
                  if isinstance(m, dict)] if isinstance(step, dict) else []
        for label in labels:
            if label and f'class_{label}' in columns:
                votes[label] = columns[f'class_{label}']
        probabilities = {str(k): columns[f'prob_{k}'] for k in (1, 2, 3, 4)
                         if f'prob_{k}' in names}
        return {'class': columns.get(main) if main else None,
                'quality': columns.get(quality) if quality else None,
                'n_models': columns.get('n_models'),
                'votes': votes, 'probabilities': probabilities,
                'uncertainty': {n[5:]: columns[n] for n in _UNCERTAINTY if n in columns},
                'columns': columns}
