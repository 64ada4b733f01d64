"""
Five-band image input: the one place where user images are normalised.

`load_images` accepts every reasonable way of handing over five HST bands
and returns a `BandImages`: the five 2-D arrays in the order of
:data:`~astro_clusterclass.bands.BANDS`, memory-mapped when they come from
files and never copied, with one shared WCS and the photometric keywords of
each band.
"""

import os
from collections.abc import Mapping

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS, FITSFixedWarning

from .bands import BANDS, band_from_header, filter_from_header, normalize_band

__all__ = ['BandImages', 'load_images']

#: Header keywords carried into `BandImages.meta` when present.
PHOT_KEYWORDS = ('PHOTFLAM', 'PHOTPLAM', 'PHOTFNU', 'PHOTZPT', 'EXPTIME',
                 'BUNIT', 'ZP_VEGA', 'ZP_AB', 'INSTRUME', 'DETECTOR')

_ACCEPTED = ('a FITS file name, an HDU or HDUList, an NDData, a '
             '(array, WCS) or (array, header) tuple, or a 2-D array')


class BandImages:
    """
    Five aligned HST bands on one pixel grid.

    Build it with `load_images`. Arrays are kept as given (memory maps
    stay memory maps); nothing is copied.

    Attributes
    ----------
    bands : tuple of str
        Band slots, always :data:`~astro_clusterclass.bands.BANDS`.
    filters : dict
        Band slot → actual HST filter (e.g. ``'F435W'`` in the B slot), or
        the slot name when no header said otherwise.
    data : tuple of 2-D arrays
        One array per band, in ``bands`` order.
    wcs : `~astropy.wcs.WCS` or None
        The common celestial WCS, if any input had one.
    headers : dict
        Band slot → `~astropy.io.fits.Header` (empty when none was given).
    meta : dict
        Band slot → dict of photometric keywords (PHOTFLAM, PHOTPLAM,
        EXPTIME, BUNIT, ...) found in the header.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass import load_images
    >>> rng = np.random.default_rng(0)
    >>> images = load_images({band: rng.normal(size=(100, 120)).astype(np.float32)
    ...                       for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')})
    >>> images
    <BandImages 120x100 px, bands: F275W, F336W, F438W, F555W, F814W, wcs: no>
    >>> images.shape, images['F555W'].shape, len(images)
    ((100, 120), (100, 120), 5)
    """

    def __init__(self, data, *, wcs=None, headers=None, filters=None,
                 meta=None, _keep_open=()):
        self.bands = BANDS
        self.data = tuple(data)
        self.wcs = wcs
        self.headers = dict(headers or {})
        self.filters = dict(filters or {b: b for b in BANDS})
        self.meta = dict(meta or {b: {} for b in BANDS})
        # Open HDULists whose memory maps back ``data``; closed with us.
        self._keep_open = tuple(_keep_open)

    @property
    def shape(self):
        """Shape ``(ny, nx)`` of the common pixel grid."""
        return self.data[0].shape

    def __getitem__(self, band):
        return self.data[BANDS.index(normalize_band(band))]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        ny, nx = self.shape
        filters = ', '.join(self.filters[b] for b in BANDS)
        return (f'<BandImages {nx}x{ny} px, bands: {filters}, '
                f'wcs: {"yes" if self.wcs is not None else "no"}>')

    def close(self):
        """Close the FITS files opened by `load_images`."""
        for hdul in self._keep_open:
            hdul.close()
        self._keep_open = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _first_image_hdu(hdul, name):
    for hdu in hdul:
        if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
            return hdu
    msg = f'{name}: no 2-D image extension found in the FITS file'
    raise ValueError(msg)


def _celestial_wcs(header):
    import warnings
    with warnings.catch_warnings():
        # Drizzled HST headers routinely trigger harmless "fixed" notices.
        warnings.simplefilter('ignore', FITSFixedWarning)
        wcs = WCS(header)
    return wcs.celestial if wcs.has_celestial else None


def _parse_one(value, name, opened):
    """
    Return (array, wcs, header) for one band given in any accepted form.

    ``name`` identifies the input in error messages. FITS files are opened
    memory-mapped and appended to ``opened`` so they stay open.
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.exists(path):
            msg = f'{name}: file {path!r} does not exist'
            raise FileNotFoundError(msg)
        try:
            # memmap=True: pixels are read on demand, never copied whole.
            hdul = fits.open(path, memmap=True, mode='readonly')
        except OSError as exc:
            msg = f'{name}: {path!r} is not a readable FITS file ({exc})'
            raise ValueError(msg) from exc
        opened.append(hdul)
        hdu = _first_image_hdu(hdul, name)
        header = hdu.header.copy()
        if hdu is not hdul[0]:
            # Keywords such as FILTER live in the primary header of drizzled
            # products; extension keywords take precedence.
            merged = hdul[0].header.copy()
            merged.extend(hdu.header, update=True, strip=True)
            header = merged
        return hdu.data, _celestial_wcs(hdu.header), header
    if isinstance(value, fits.HDUList):
        hdu = _first_image_hdu(value, name)
        return hdu.data, _celestial_wcs(hdu.header), hdu.header
    if isinstance(value, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        return value.data, _celestial_wcs(value.header), value.header
    if isinstance(value, NDData):
        header = value.meta.get('header') if value.meta else None
        if header is None and value.meta:
            header = fits.Header({k: v for k, v in value.meta.items()
                                  if isinstance(k, str) and len(k) <= 8
                                  and isinstance(v, (str, int, float))})
        wcs = value.wcs
        if wcs is not None and not isinstance(wcs, WCS):
            msg = f'{name}: NDData.wcs must be an astropy.wcs.WCS, got {type(wcs).__name__}'
            raise TypeError(msg)
        return value.data, wcs, header
    if isinstance(value, tuple) and len(value) == 2:
        array, second = value
        if isinstance(second, WCS):
            return array, second, None
        if isinstance(second, fits.Header):
            return array, _celestial_wcs(second), second
        if second is None:
            return array, None, None
        msg = (f'{name}: the second element of a tuple must be a WCS or a '
               f'FITS Header, got {type(second).__name__}')
        raise TypeError(msg)
    if isinstance(value, np.ndarray):
        return value, None, None
    msg = f'{name}: got {type(value).__name__}; expected {_ACCEPTED}'
    raise TypeError(msg)


def _check_grid(arrays, wcses, tolerance):
    ref_band = BANDS[0]
    shape = arrays[ref_band].shape
    for band in BANDS:
        array = arrays[band]
        if array.ndim != 2:
            msg = f'band {band}: image must be 2-D, got shape {array.shape}'
            raise ValueError(msg)
        if array.shape != shape:
            msg = (f'band {band}: shape {array.shape} differs from band '
                   f'{ref_band} {shape}; all bands must share one pixel grid')
            raise ValueError(msg)
        if array.size == 0:
            msg = f'band {band}: image is empty'
            raise ValueError(msg)
    have = [b for b in BANDS if wcses[b] is not None]
    if not have:
        return None
    ref = wcses[have[0]]
    ny, nx = shape
    xs = np.array([0, nx - 1, 0, nx - 1, (nx - 1) / 2])
    ys = np.array([0, 0, ny - 1, ny - 1, (ny - 1) / 2])
    world = ref.pixel_to_world_values(xs, ys)
    for band in have[1:]:
        px, py = wcses[band].world_to_pixel_values(*world)
        offset = float(np.max(np.hypot(px - xs, py - ys)))
        if not np.isfinite(offset) or offset > tolerance:
            msg = (f'band {band}: WCS differs from band {have[0]} by up to '
                   f'{offset:.3g} px (tolerance {tolerance} px); all bands '
                   f'must be aligned on one pixel grid (reproject them first)')
            raise ValueError(msg)
    return ref


def load_images(images, *, bands=None, wcs=None, wcs_tolerance=0.05):
    """
    Normalise five HST bands given in any common form.

    Parameters
    ----------
    images : sequence or mapping
        Five bands, either as a sequence or as a mapping band → image.
        Each image may be a FITS file name (opened memory-mapped), an
        `~astropy.io.fits.HDUList` or image HDU, an
        `~astropy.nddata.NDData`, an ``(array, WCS)`` or
        ``(array, Header)`` tuple, or a bare 2-D array. A `BandImages`
        is returned unchanged.
    bands : sequence of str, optional
        Band of each element of a sequence, in order. When omitted, bands
        are read from the FITS headers (``FILTER``, ``FILTER1``/``FILTER2``,
        ``PHOTMODE``); inputs without a header then raise an error.
    wcs : `~astropy.wcs.WCS`, optional
        WCS to use for all bands, overriding those of the inputs.
    wcs_tolerance : float, optional
        Largest allowed disagreement, in pixels, between the WCS of
        different bands over the image.

    Returns
    -------
    images : `BandImages`
        The five bands in canonical order.

    Raises
    ------
    TypeError
        If an input is of an unsupported type (the message lists the
        accepted forms).
    ValueError
        If a band is missing, given twice or unidentifiable, or if the
        bands do not share one pixel grid; messages name the band.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass import load_images
    >>> arrays = {b: np.zeros((100, 120), dtype=np.float32)
    ...           for b in ['F275W', 'F336W', 'F435W', 'F555W', 'F814W']}
    >>> load_images(arrays)
    <BandImages 120x100 px, bands: F275W, F336W, F435W, F555W, F814W, wcs: no>
    """
    if isinstance(images, BandImages):
        return images
    opened = []
    given_filters = {}
    if isinstance(images, Mapping):
        if bands is not None:
            msg = 'bands must not be given when images is a mapping (its keys are the bands)'
            raise ValueError(msg)
        items = []
        for key, value in images.items():
            band = normalize_band(key, parameter='images key')
            given_filters[band] = key.strip().upper()
            items.append((band, value, f'band {band}'))
    elif isinstance(images, (list, tuple)):
        if bands is not None:
            if isinstance(bands, str) or len(bands) != len(images):
                msg = (f'bands must list one band per image: got '
                       f'{len(images)} images and bands={bands!r}')
                raise ValueError(msg)
            items = [(normalize_band(b, parameter='bands'), v, f'band {b}')
                     for b, v in zip(bands, images)]
        else:
            items = [(None, v, f'image {i}') for i, v in enumerate(images)]
    else:
        msg = (f'images must be a sequence of five images or a mapping band '
               f'→ image; got {type(images).__name__}')
        raise TypeError(msg)

    if len(items) != len(BANDS):
        msg = (f'images must hold exactly {len(BANDS)} bands '
               f'({", ".join(BANDS)}); got {len(items)}')
        raise ValueError(msg)

    arrays, wcses, headers, filters, meta = {}, {}, {}, {}, {}
    try:
        for band, value, name in items:
            array, band_wcs, header = _parse_one(value, name, opened)
            from_header = band_from_header(header)
            if band is None:
                if from_header is None:
                    msg = (f'{name}: no FILTER, FILTER1/FILTER2 or PHOTMODE '
                           f'keyword names its band; pass bands= or a '
                           f'mapping band → image')
                    raise ValueError(msg)
                band = from_header
            elif from_header is not None and from_header != band:
                msg = (f'band {band}: the header says this image is '
                       f'{filter_from_header(header)} (band {from_header})')
                raise ValueError(msg)
            if band in arrays:
                msg = f'band {band} is given twice ({name} repeats it)'
                raise ValueError(msg)
            array = np.asanyarray(array)
            if array.dtype.kind not in 'fiu':
                msg = f'band {band}: pixel values must be numbers, got dtype {array.dtype}'
                raise TypeError(msg)
            arrays[band] = array
            wcses[band] = band_wcs
            headers[band] = header if header is not None else fits.Header()
            filters[band] = (filter_from_header(header)
                             or given_filters.get(band, band))
            meta[band] = {k: headers[band][k] for k in PHOT_KEYWORDS
                          if k in headers[band]}
        missing = [b for b in BANDS if b not in arrays]
        if missing:
            msg = f'band {missing[0]} is missing; got {sorted(arrays)}'
            raise ValueError(msg)
        if wcs is not None:
            if not isinstance(wcs, WCS):
                msg = f'wcs must be an astropy.wcs.WCS, got {type(wcs).__name__}'
                raise TypeError(msg)
            wcses = dict.fromkeys(BANDS)
            common = wcs
            _check_grid(arrays, wcses, wcs_tolerance)
        else:
            common = _check_grid(arrays, wcses, wcs_tolerance)
    except BaseException:
        for hdul in opened:
            hdul.close()
        raise
    return BandImages([arrays[b] for b in BANDS], wcs=common,
                      headers=headers, filters=filters, meta=meta,
                      _keep_open=opened)
