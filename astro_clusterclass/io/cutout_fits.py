"""
Per-candidate multi-extension FITS stamps, the PHANGS-HST tutorial format.

`write_cutout_fits` and `read_cutout_fits` exchange stamps
(`~astro_clusterclass.cutouts.Cutouts`) as one multi-extension FITS file
per candidate, the format of the PHANGS-HST classification tutorial
(Whitmore et al. 2021, Appendix A): an empty primary HDU describing the
candidate, then one image extension per band.
"""

import os
import warnings

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from .._utils.files import atomic_path, check_output
from ..bands import BANDS, band_from_header, normalize_band
from ..cutouts import CutoutFlag, Cutouts

__all__ = ['write_cutout_fits', 'read_cutout_fits']

#: Default stamp size of the per-candidate FITS files of the PHANGS tutorial.
TUTORIAL_SIZE = 299


def write_cutout_fits(cutouts, directory, *, prefix='cutout_', overwrite=False):
    """
    Write one multi-extension FITS file per candidate.

    Each file has an empty primary HDU whose header gives the candidate
    (``OBJ_ID``, ``X``/``Y`` 0-based pixel position, left out when it is
    NaN or infinite, ``RA``/``DEC`` when a WCS is known, ``FLAGS``) and one
    image extension per band, named after the band slot (``EXTNAME``) with
    its ``FILTER`` and the stamp's WCS. Every HDU carries ``CHECKSUM`` and
    ``DATASUM``, which `read_cutout_fits` verifies.

    Parameters
    ----------
    cutouts : `~astro_clusterclass.cutouts.Cutouts`
        The stamps (`~astro_clusterclass.make_cutouts` with ``size=299``
        reproduces the published tutorial's files).
    directory : str or path-like
        Output directory, created if needed.
    prefix : str, optional
        File name prefix; files are named ``{prefix}{id}.fits``.
    overwrite : bool, optional
        Overwrite existing files.

    Returns
    -------
    paths : list of str
        The files written, in candidate order.

    Raises
    ------
    FileExistsError
        If a file exists and ``overwrite`` is False; all names are checked
        before anything is written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astro_clusterclass import load_images, make_cutouts
    >>> from astro_clusterclass.io import write_cutout_fits
    >>> rng = np.random.default_rng(0)
    >>> images = load_images({band: rng.normal(size=(100, 120)).astype(np.float32)
    ...                       for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')})
    >>> stamps = make_cutouts(images, ([50.0, 70.0], [40.0, 60.0]), size=16)
    >>> paths = write_cutout_fits(stamps, tempfile.mkdtemp())
    >>> [os.path.basename(p) for p in paths]
    ['cutout_0.fits', 'cutout_1.fits']
    >>> with fits.open(paths[0]) as hdul:
    ...     print([hdu.name for hdu in hdul], hdul[0].header['X'], hdul['F555W'].data.shape)
    ['PRIMARY', 'F275W', 'F336W', 'F438W', 'F555W', 'F814W'] 50.0 (16, 16)
    """
    directory = os.fspath(directory)
    paths = [os.path.join(directory, f'{prefix}{cutouts.ids[i]}.fits')
             for i in range(len(cutouts))]
    for path in paths:
        check_output(path, overwrite=overwrite, parameter='directory')
    os.makedirs(directory, exist_ok=True)
    world = None
    if cutouts.wcs is not None and len(cutouts):
        world = cutouts.wcs.pixel_to_world_values(cutouts.x, cutouts.y)
    for i, path in enumerate(paths):
        primary = fits.PrimaryHDU()
        header = primary.header
        header['OBJ_ID'] = (str(cutouts.ids[i]), 'candidate identifier')
        # FITS headers cannot hold NaN or inf: an undefined position is left out
        # (read back as NaN) and the stamp is flagged OFF_IMAGE anyway.
        for key, value, comment in (
                ('X', cutouts.x[i], '[pix] 0-based x of candidate in image'),
                ('Y', cutouts.y[i], '[pix] 0-based y of candidate in image')):
            if np.isfinite(value):
                header[key] = (float(value), comment)
        header['X0'] = (int(cutouts.x0[i]), '[pix] 0-based image x of stamp pixel 0')
        header['Y0'] = (int(cutouts.y0[i]), '[pix] 0-based image y of stamp pixel 0')
        if world is not None and np.isfinite(world[0][i]) and np.isfinite(world[1][i]):
            header['RA'] = (float(world[0][i]), '[deg] candidate right ascension')
            header['DEC'] = (float(world[1][i]), '[deg] candidate declination')
        header['FLAGS'] = (int(cutouts.flags[i]),
                           CutoutFlag.describe(cutouts.flags[i])[:46])
        header['NBANDS'] = len(cutouts.bands)
        header['ORIGIN'] = 'astro_clusterclass'
        stamp_wcs = cutouts.stamp_wcs(i)
        wcs_header = stamp_wcs.to_header() if stamp_wcs is not None else None
        hdus = [primary]
        for b, band in enumerate(cutouts.bands):
            ext = fits.ImageHDU(cutouts.data[i, b], name=band)
            if wcs_header is not None:
                ext.header.update(wcs_header)
            ext.header['FILTER'] = cutouts.filters.get(band, band)
            ext.header['BAND'] = (band, 'band slot in astro_clusterclass order')
            hdus.append(ext)
        with atomic_path(path) as tmp:
            # CHECKSUM/DATASUM let read_cutout_fits detect a damaged file.
            fits.HDUList(hdus).writeto(tmp, checksum=True)
    return paths


#: What astropy raises on a damaged or truncated FITS file, depending on where
#: the damage is.
_FITS_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, AttributeError,
                EOFError, UnicodeDecodeError, fits.VerifyError)


def _read_file(path):
    """
    The primary header and the 2-D image extensions ``(name, header, data)`` of a file.

    Damaged, truncated and non-FITS files raise a `ValueError` naming the
    file (and the HDU whose ``CHECKSUM``/``DATASUM`` fails, when it has them).
    """
    if not os.path.exists(path):
        msg = f'paths: {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        with warnings.catch_warnings():
            # A truncated file fails below with a clearer message than the warning.
            warnings.simplefilter('ignore', AstropyUserWarning)
            with fits.open(path, memmap=False) as hdul:
                primary = hdul[0].header.copy()
                extensions = []
                for index, hdu in enumerate(hdul):
                    for label, result in (('DATASUM', hdu.verify_datasum()),
                                          ('CHECKSUM', hdu.verify_checksum())):
                        if result == 0:
                            msg = (f'{path}: HDU {index} ({hdu.name}) fails its {label} '
                                   f'check; the file is damaged')
                            raise _Damaged(msg)
                    if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
                        extensions.append((hdu.name, hdu.header.copy(), np.array(hdu.data)))
    except _Damaged:
        raise
    except _FITS_ERRORS as exc:
        msg = f'{path}: not a readable FITS file (damaged or truncated?): {exc}'
        raise ValueError(msg) from exc
    return primary, extensions


class _Damaged(ValueError):
    """A checksum failed (kept apart from astropy's own errors)."""


def read_cutout_fits(paths):
    """
    Read per-candidate multi-extension FITS files back into one set of stamps.

    Bands are identified from each extension's ``BAND``, ``FILTER`` or
    ``EXTNAME`` keyword, so files whose extensions are in another order
    (or written by other tools with one band per extension) are read
    correctly.

    Parameters
    ----------
    paths : sequence of str or path-like
        Files written by `write_cutout_fits` or in the same layout.

    Returns
    -------
    cutouts : `~astro_clusterclass.cutouts.Cutouts`

    Raises
    ------
    ValueError
        If a file lacks a band, repeats one, or its stamps differ in size
        from the others, is not FITS, is truncated or fails its
        ``CHECKSUM``/``DATASUM``; the message names the file.
    FileNotFoundError
        If a file does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astro_clusterclass import load_images, make_cutouts
    >>> from astro_clusterclass.io import read_cutout_fits, write_cutout_fits
    >>> rng = np.random.default_rng(0)
    >>> images = load_images({band: rng.normal(size=(100, 120)).astype(np.float32)
    ...                       for band in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')})
    >>> stamps = make_cutouts(images, ([50.0, 70.0], [40.0, 60.0]), size=16)
    >>> paths = write_cutout_fits(stamps, tempfile.mkdtemp())
    >>> back = read_cutout_fits(paths)
    >>> back.bands, bool(np.array_equal(back.data, stamps.data))
    (('F275W', 'F336W', 'F438W', 'F555W', 'F814W'), True)
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        msg = 'paths is empty: no cutout files to read'
        raise ValueError(msg)
    stamps, ids, xs, ys, x0s, y0s, flags = [], [], [], [], [], [], []
    wcs = None
    filters = {b: b for b in BANDS}
    size = None
    for path in paths:
        primary, extensions = _read_file(path)
        cube = {}
        for hdu_name, header, data in extensions:
            band = None
            for key in ('BAND', 'EXTNAME'):
                if isinstance(header.get(key), str):
                    try:
                        band = normalize_band(header[key])
                        break
                    except ValueError:
                        pass
            band = band or band_from_header(header)
            if band is None:
                msg = f'{path}: extension {hdu_name!r} does not name a band'
                raise ValueError(msg)
            if band in cube:
                msg = f'{path}: band {band} appears twice'
                raise ValueError(msg)
            cube[band] = np.asarray(data, dtype=np.float32)
            if isinstance(header.get('FILTER'), str):
                filters[band] = header['FILTER']
            if wcs is None and 'CTYPE1' in header:
                try:
                    stamp = WCS(header)
                except (ValueError, KeyError, TypeError) as exc:
                    msg = f'{path}: extension {hdu_name!r} has invalid WCS keywords ({exc})'
                    raise ValueError(msg) from exc
                wcs = stamp.deepcopy()
                wcs.wcs.crpix = wcs.wcs.crpix + [primary.get('X0', 0),
                                                 primary.get('Y0', 0)]
        missing = [b for b in BANDS if b not in cube]
        if missing:
            msg = f'{path}: band {missing[0]} is missing'
            raise ValueError(msg)
        shapes = {cube[b].shape for b in BANDS}
        if len(shapes) != 1 or (size is not None and shapes != {(size, size)}):
            msg = f'{path}: stamp sizes {sorted(shapes)} differ from the other files'
            raise ValueError(msg)
        size = next(iter(shapes))[0]
        stamps.append(np.stack([cube[b] for b in BANDS]))
        ids.append(primary.get('OBJ_ID', os.path.basename(path)))
        xs.append(primary.get('X', np.nan))
        ys.append(primary.get('Y', np.nan))
        x0s.append(primary.get('X0', 0))
        y0s.append(primary.get('Y0', 0))
        flags.append(primary.get('FLAGS', 0))
    return Cutouts(data=np.stack(stamps), flags=np.asarray(flags, np.uint8),
                   x=np.asarray(xs, float), y=np.asarray(ys, float),
                   x0=np.asarray(x0s, np.int64), y0=np.asarray(y0s, np.int64),
                   ids=np.asarray(ids), wcs=wcs, filters=filters)
