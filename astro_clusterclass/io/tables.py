"""
Writing candidate tables without losing their metadata.

`write_table` writes a table in the format of its file name, refusing an
existing file unless asked and writing atomically (a temporary file
renamed into place). FITS headers cannot hold the nested provenance, so
FITS files get `fits_safe_meta`: the complete metadata as JSON.
`cached_url_name` gives the archive's name of a file in astropy's
download cache, for the readers' ``meta['file']``.
"""

import json
import os
import warnings

from astropy.utils import data as astropy_data
from astropy.utils.exceptions import AstropyUserWarning

from .._utils.files import atomic_path, check_output

__all__ = ['fits_safe_meta', 'write_table', 'cached_url_name']

_FITS_SUFFIXES = ('.fits', '.fit', '.fits.gz', '.fts')


def fits_safe_meta(meta):
    """
    Table metadata that survives a FITS header.

    A FITS header holds only scalar keywords of up to 8 characters, so the
    nested provenance would be dropped. Short scalar entries stay keywords;
    the complete metadata goes, as JSON, into the (long-string) keyword
    ``CCMETA``: ``json.loads(QTable.read(path).meta['CCMETA'])``.

    Examples
    --------
    >>> from astro_clusterclass.io import fits_safe_meta
    >>> fits_safe_meta({'device': 'cpu', 'models': [{'label': 'compactnet'}]})
    {'device': 'cpu', 'CCMETA': '{"device": "cpu", "models": [{"label": "compactnet"}]}'}
    """
    plain = (str, int, float, bool)
    out = {k: v for k, v in meta.items()
           if isinstance(k, str) and len(k) <= 8 and k.isalnum() and isinstance(v, plain)}
    out['CCMETA'] = json.dumps(meta, default=str, sort_keys=True)
    return out


def write_table(tbl, path, *, overwrite=False):
    """
    Write a table in the format of its file name; FITS files get `fits_safe_meta`.

    Nothing of the metadata is lost in FITS: the nested provenance travels
    as JSON in the ``CCMETA`` keyword.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The table.
    path : str or path-like
        Output file; its extension chooses the format (``.fits``,
        ``.ecsv``, ...).
    overwrite : bool, optional
        Replace an existing file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (nothing is written).

    Examples
    --------
    >>> import json, os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.io import write_table
    >>> tbl = QTable({'id': [1, 2]}, meta={'models': [{'label': 'compactnet'}]})
    >>> path = os.path.join(tempfile.mkdtemp(), 'out.fits')
    >>> write_table(tbl, path)
    >>> json.loads(QTable.read(path).meta['CCMETA'])['models']
    [{'label': 'compactnet'}]
    """
    path = check_output(path, overwrite=overwrite, parameter='path')
    out = tbl
    if path.lower().endswith(_FITS_SUFFIXES):
        out = tbl.copy(copy_data=False)
        out.meta = fits_safe_meta(tbl.meta)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # Units outside the FITS standard (electron / s, the flux unit of
        # drizzled HST images) are still written to TUNITn and read back by
        # astropy; the warning about other FITS readers is not the user's to act on.
        warnings.filterwarnings('ignore', message='.*could not be saved in native FITS format',
                                category=AstropyUserWarning)
        out.write(tmp)


def cached_url_name(path):
    """
    The file name of the URL whose cached copy is ``path``, or `None`.

    Files in astropy's download cache are all called ``contents``; the
    readers use this to record the archive's file name in ``meta['file']``.

    Examples
    --------
    >>> from astro_clusterclass.io import cached_url_name
    >>> cached_url_name('/not/in/the/cache/contents') is None
    True
    """
    target = os.path.realpath(os.fspath(path))
    try:
        contents = astropy_data.cache_contents(on_missing='ignore')
    except OSError:
        return None
    for url, cached in contents.items():
        if os.path.realpath(cached) == target:
            tail = url.rsplit('#', 1)[-1] if '#' in url else url.rstrip('/').rsplit('/', 1)[-1]
            return tail or None
    return None
