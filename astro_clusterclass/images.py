"""
Five-band image input: the one place where user images are normalised.

`load_images` accepts every reasonable way of handing over five HST bands
and returns a `BandImages`: the five 2-D arrays in the order of
:data:`~astro_clusterclass.bands.BANDS`, memory-mapped when they come from
files and never copied, with one shared WCS and the photometric keywords of
each band.

FITS files whose pixels astropy cannot memory-map (scaled integers with
``BZERO``/``BSCALE``/``BLANK``, tile-compressed images) come as a
`LazyImage`: it reads, scales or decompresses only the rows asked for,
so stamps are cut from one strip of the image at a time. Every failure to
read a file (damaged, truncated, not FITS, no image) is a `ValueError`
that names the file and the HDU and says what is wrong.
"""

import math
import os
import warnings
from collections.abc import Mapping

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

from .bands import BANDS, band_from_header, filter_from_header, normalize_band

__all__ = ['BandImages', 'LazyImage', 'load_images']

#: What astropy raises on a damaged or truncated FITS file, depending on where
#: the damage is (the header parser, the HDU list, the array constructor).
_FITS_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, AttributeError,
                EOFError, UnicodeDecodeError, fits.VerifyError)

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
    errors : dict
        Band slot → 2-D error map on the same grid (only the bands given
        to `load_images` ``errors=``).
    error_kinds : dict
        Band slot → what its map holds: ``'err'`` (1-sigma total error),
        ``'ivar'`` (inverse variance of the background) or ``'wht'``
        (exposure-time weight).

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
                 meta=None, errors=None, error_kinds=None, _keep_open=()):
        self.bands = BANDS
        self.data = tuple(data)
        self.wcs = wcs
        self.headers = dict(headers or {})
        self.filters = dict(filters or {b: b for b in BANDS})
        self.meta = dict(meta or {b: {} for b in BANDS})
        # Open HDULists whose memory maps back ``data``; closed with us.
        self._keep_open = tuple(_keep_open)
        self.errors = dict(errors or {})
        self.error_kinds = dict(error_kinds or {})

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


class LazyImage:
    """
    A 2-D FITS image read on demand, for pixels astropy cannot memory-map.

    Scaled integers (``BZERO``/``BSCALE``/``BLANK``, e.g. unsigned counts)
    and tile-compressed images cannot be memory-mapped as the values they
    stand for. `load_images` gives them as a `LazyImage`, which reads
    through astropy's `~astropy.io.fits.ImageHDU.section`: slicing rows
    reads (and scales or decompresses) only those rows, and
    `numpy.asarray` reads the whole image. Stamps
    (`~astro_clusterclass.make_cutouts`) are cut from one strip of rows
    per chunk of candidates, a copy of that strip only.

    Attributes
    ----------
    shape : tuple of int
    dtype : `numpy.dtype`
        The dtype of the values read (scaling applied).
    path : str
        The file.
    hdu : str
        Which HDU (``'HDU 1 (SCI)'``).
    reason : str
        Why the pixels are read on demand.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astro_clusterclass.images import LazyImage, load_images
    >>> work = tempfile.mkdtemp()
    >>> paths = []
    >>> for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W'):
    ...     hdu = fits.PrimaryHDU(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    ...     hdu.scale('int16', bscale=0.5, bzero=100.0)   # stored as scaled integers
    ...     hdu.header['FILTER'] = band
    ...     paths.append(os.path.join(work, f'{band}.fits'))
    ...     hdu.writeto(paths[-1])
    >>> images = load_images(paths)
    >>> band = images['F555W']
    >>> isinstance(band, LazyImage), band.shape, band.dtype
    (True, (3, 4), dtype('float32'))
    >>> band[1:2]          # only this row is read, scaled
    array([[4., 5., 6., 7.]], dtype=float32)
    >>> float(np.asarray(band).sum())
    66.0
    >>> images.close()
    """

    ndim = 2

    def __init__(self, hdu, *, path, where, reason):
        self._section = hdu.section
        self.shape = tuple(int(n) for n in hdu.shape)
        self.dtype = np.dtype(self._section.dtype)
        self.path = path
        self.hdu = where
        self.reason = reason

    @property
    def size(self):
        """Number of pixels."""
        return math.prod(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        try:
            return np.asarray(self._section[key])
        except _FITS_ERRORS as exc:
            msg = f'{self.path!r}, {self.hdu}: cannot read its pixels ({exc})'
            raise ValueError(msg) from exc

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            msg = f'{self.path!r}, {self.hdu}: its pixels cannot be read without a copy'
            raise ValueError(msg)
        data = self[...]
        return data if dtype is None else data.astype(dtype, copy=False)

    def __repr__(self):
        ny, nx = self.shape
        return (f'<LazyImage {nx}x{ny} px {self.dtype} from {os.path.basename(self.path)} '
                f'{self.hdu}: {self.reason}>')


def _where(index, hdu):
    name = getattr(hdu, 'name', '') or ''
    return f'HDU {index} ({name})' if name else f'HDU {index}'


def _first_image_hdu(hdul, name):
    for hdu in hdul:
        if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
            return hdu
    msg = f'{name}: no 2-D image extension found in the FITS file'
    raise ValueError(msg)


def _celestial_wcs(header, name='image'):
    try:
        with warnings.catch_warnings():
            # Drizzled HST headers routinely trigger harmless "fixed" notices.
            warnings.simplefilter('ignore', FITSFixedWarning)
            wcs = WCS(header)
    except (ValueError, KeyError, TypeError, MemoryError) as exc:
        msg = f'{name}: its WCS keywords are invalid ({exc})'
        raise ValueError(msg) from exc
    return wcs.celestial if wcs.has_celestial else None


def _describe(index, hdu):
    """One HDU in a few words, for messages."""
    if type(hdu).__name__ == '_ValidHDU':  # astropy's HDU of an unknown kind
        first = next(iter(hdu.header.keys()), '')
        return f'{index}: an unrecognised header starting with {first!r} (damaged?)'
    if not hdu.is_image:
        return f'{index}: table {hdu.name!r}'
    if not hdu.header.get('NAXIS', 0):
        return f'{index}: no data {hdu.name!r}'
    shape = 'x'.join(str(n) for n in reversed(hdu.shape))
    return f'{index}: {hdu.header["NAXIS"]}-D image {shape} {hdu.name!r}'


def _file_image_hdu(hdul, name, path):
    """(index, HDU) of the first 2-D image of an opened file, or a clear error."""
    corrupted, index = [], 0
    try:
        for index, hdu in enumerate(hdul):
            if type(hdu).__name__ == '_CorruptedHDU':
                corrupted.append(index)
                continue
            if hdu.is_image and hdu.header.get('NAXIS') == 2 and all(
                    hdu.header.get(f'NAXIS{i}', 0) > 0 for i in (1, 2)):
                return index, hdu
        index += 1
        info = hdul[-1].fileinfo() if len(hdul) else None
    except _FITS_ERRORS as exc:
        msg = (f'{name}: {path!r} is damaged or truncated at HDU {index + 1}, before any '
               f'2-D image ({exc})')
        raise ValueError(msg) from exc
    end = info['datLoc'] + info['datSpan'] if info else 0
    size = os.path.getsize(path)
    if corrupted:
        what = f'the header of HDU {corrupted[0]} is damaged'
    elif size > end:
        # astropy stops silently at a header it cannot parse.
        what = (f'after HDU {index - 1} come {size - end} bytes that are no readable HDU '
                f'(a truncated or damaged header)')
    else:
        what = f'its HDUs are {"; ".join(_describe(i, h) for i, h in enumerate(hdul))}'
    msg = f'{name}: {path!r} holds no readable 2-D image: {what}'
    raise ValueError(msg)


def _scaled(header):
    """Why the pixels of an uncompressed image cannot be memory-mapped, or None."""
    bitpix, bzero = header.get('BITPIX', 0), header.get('BZERO', 0)
    if bitpix > 8 and header.get('BSCALE', 1) == 1 and bzero == 2 ** (bitpix - 1):
        return 'unsigned integers (BZERO offset), converted as each strip is read'
    if header.get('BSCALE', 1) != 1 or bzero != 0:
        return 'scaled integers (BZERO/BSCALE), scaled as each strip is read'
    if header.get('BITPIX', 0) > 0 and 'BLANK' in header:
        return 'integers with BLANK (NaN where blank), converted as each strip is read'
    return None


def _file_pixels(hdu, index, name, path, checksum):
    """The pixels of image HDU ``index``: a memory map, or a `LazyImage`."""
    where = _where(index, hdu)
    size = os.path.getsize(path)
    start = hdu.fileinfo()['datLoc']
    if isinstance(hdu, fits.CompImageHDU):
        # The compressed bytes end in the last FITS block of the HDU's data span;
        # the last row is read too, since only decompressing shows damage there.
        end = start + hdu.fileinfo()['datSpan'] - 2879
        reason = 'tile-compressed, decompressed as each strip is read'
    else:
        end = start + hdu.size
        reason = _scaled(hdu.header)
    if size < end:
        msg = (f'{name}: {path!r}, {where}: the file is truncated: its pixels start at byte '
               f'{start} and need at least {end - start} bytes, the file ends '
               f'{size - start} bytes after their start')
        raise ValueError(msg)
    if checksum:
        for label, result in (('DATASUM (pixels)', hdu.verify_datasum()),
                              ('CHECKSUM (header and pixels)', hdu.verify_checksum())):
            if result == 0:
                msg = (f'{name}: {path!r}, {where}: the {label} check failed; the file is '
                       f'damaged')
                raise ValueError(msg)
    try:
        if reason is None:
            data = hdu.data  # memory-mapped: pixels are read on demand, never copied
        else:
            data = LazyImage(hdu, path=path, where=where, reason=reason)
            data[data.shape[0] - 1:]  # the last row: proves the data are readable
    except _FITS_ERRORS as exc:
        msg = f'{name}: {path!r}, {where}: its pixels cannot be read ({exc})'
        raise ValueError(msg) from exc
    return data


def _parse_one(value, name, opened, checksum=False):
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
            with warnings.catch_warnings():
                # A truncated file is reported below, naming the file and HDU.
                warnings.simplefilter('ignore', AstropyUserWarning)
                # Memory-mapped where astropy can (plain pixels): read on
                # demand, never copied; scaled or compressed pixels are read
                # strip by strip (LazyImage).
                hdul = fits.open(path, mode='readonly')
        except _FITS_ERRORS as exc:
            msg = f'{name}: {path!r} is not a readable FITS file ({exc})'
            raise ValueError(msg) from exc
        opened.append(hdul)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', AstropyUserWarning)
            index, hdu = _file_image_hdu(hdul, name, path)
            data = _file_pixels(hdu, index, name, path, checksum)
            header = hdu.header.copy()
            if index:
                # Keywords such as FILTER live in the primary header of drizzled
                # products; extension keywords take precedence.
                merged = hdul[0].header.copy()
                merged.extend(hdu.header, update=True, strip=True)
                header = merged
        return data, _celestial_wcs(hdu.header, f'{name}: {path!r}, {_where(index, hdu)}'), \
            header
    if isinstance(value, fits.HDUList):
        hdu = _first_image_hdu(value, name)
        return hdu.data, _celestial_wcs(hdu.header, name), hdu.header
    if isinstance(value, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        return value.data, _celestial_wcs(value.header, name), value.header
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
            return array, _celestial_wcs(second, name), second
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


#: Meanings of an error map given to `load_images`.
_ERROR_KINDS = ('err', 'ivar', 'wht')


def _load_errors(errors, error_kind, shape, opened, checksum):
    """Band → error map and band → kind, each map read like an image and on its grid."""
    if not isinstance(errors, Mapping):
        msg = f'errors must be a mapping band → error map, got {type(errors).__name__}'
        raise TypeError(msg)
    maps, kinds = {}, {}
    for key, value in errors.items():
        band = normalize_band(key, parameter='errors key')
        kind = error_kind.get(key, error_kind.get(band)) if isinstance(error_kind, Mapping) \
            else error_kind
        if kind not in _ERROR_KINDS:
            msg = (f'error_kind for band {band} must be one of {_ERROR_KINDS} (ERR map, '
                   f'inverse variance, exposure-time weight), got {kind!r}')
            raise ValueError(msg)
        array = _parse_one(value, f'errors[{band}]', opened, checksum)[0]
        array = array if isinstance(array, LazyImage) else np.asanyarray(array)
        if array.shape != shape:
            msg = (f'errors[{band}]: shape {array.shape} differs from the images '
                   f'{shape}; an error map must be on the pixel grid of its band')
            raise ValueError(msg)
        maps[band], kinds[band] = array, kind
    return maps, kinds


def load_images(images, *, bands=None, wcs=None, wcs_tolerance=0.05, checksum=False,
                errors=None, error_kind='ivar'):
    """
    Normalise five HST bands given in any common form.

    Parameters
    ----------
    images : sequence or mapping
        Five bands, either as a sequence or as a mapping band → image.
        Each image may be a FITS file name (opened memory-mapped; scaled
        integers and tile-compressed images come as a `LazyImage`), an
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
    checksum : bool, optional
        Verify the ``DATASUM`` and ``CHECKSUM`` keywords of the image HDUs
        of FITS files that carry them (MAST products do): a flipped bit
        anywhere in the header or pixels is then an error. It reads every
        pixel once, so it is off by default.
    errors : mapping, optional
        Band → error map, in any form an image may take (e.g. the
        PHANGS-HST ``..._err-drc-wht.fits`` next to each science image, or
        ``(hdul['WHT'].data, None)`` for the WHT extension of a drizzled
        file). Bands left out get errors from the background scatter and
        ``EXPTIME`` (`~astro_clusterclass.photometry.candidate_photometry`).
    error_kind : {'ivar', 'err', 'wht'} or mapping, optional
        What the maps hold (one for all, or band → kind): ``'ivar'``
        inverse variance of the background (drizzle IVM weights,
        PHANGS-HST ``err-drc-wht``), ``'err'`` the 1-sigma total error,
        ``'wht'`` an exposure-time weight (drizzle EXP weights).

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
        bands do not share one pixel grid; messages name the band. Also
        if a file is not FITS, is damaged or truncated, or holds no 2-D
        image; messages name the file and the HDU.

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
        if errors is None:
            return images
        opened = []
        maps, kinds = _load_errors(errors, error_kind, images.shape, opened, checksum)
        return BandImages(images.data, wcs=images.wcs, headers=images.headers,
                          filters=images.filters, meta=images.meta,
                          errors={**images.errors, **maps},
                          error_kinds={**images.error_kinds, **kinds},
                          _keep_open=images._keep_open + tuple(opened))
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
            array, band_wcs, header = _parse_one(value, name, opened, checksum)
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
            if not isinstance(array, LazyImage):
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
        maps, kinds = ({}, {}) if errors is None else _load_errors(
            errors, error_kind, arrays[BANDS[0]].shape, opened, checksum)
    except BaseException:
        for hdul in opened:
            hdul.close()
        raise
    return BandImages([arrays[b] for b in BANDS], wcs=common,
                      headers=headers, filters=filters, meta=meta,
                      errors=maps, error_kinds=kinds, _keep_open=opened)
