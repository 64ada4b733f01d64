"""
Helpers shared by every function that takes or returns a candidate table:
finding positions, validating tables and stamping provenance metadata.
Writing tables is `astro_clusterclass.io.write_table`.

Provenance convention: ``meta['file']`` names the file a table was read
from (set by the readers); a function that adds columns keeps the input's
metadata and records its own `provenance` under its own key (e.g.
``meta['photometry']``); a function that makes a new table puts its
provenance at the top level of the new table's ``meta``.

Pixel convention: positions inside the package are 0-based with pixel
centres at integers (astropy/photutils). Catalogues in 1-based conventions
(LEGUS, DS9, IRAF, SExtractor) are converted once, when they are read.
"""

import datetime
import platform

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ._utils.columns import require_columns
from ._utils.validation import check_choice

__all__ = ['PIXEL_COLUMN_PAIRS', 'pixel_positions', 'sky_column',
           'check_table', 'provenance']

#: Column pairs recognised as 0-based pixel positions, in order of preference.
PIXEL_COLUMN_PAIRS = (('x', 'y'), ('xcentroid', 'ycentroid'),
                      ('x_centroid', 'y_centroid'), ('x_0', 'y_0'),
                      ('x_fit', 'y_fit'))


def check_table(tbl, *, parameter='tbl'):
    """
    Raise `TypeError` unless ``tbl`` is an astropy `~astropy.table.Table`.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import check_table
    >>> check_table(QTable({'x': [1.0]}))
    >>> check_table([1.0], parameter='catalog')
    Traceback (most recent call last):
    ...
    TypeError: catalog must be an astropy Table or QTable, got list
    """
    if not isinstance(tbl, Table):
        msg = (f'{parameter} must be an astropy Table or QTable, got '
               f'{type(tbl).__name__}')
        raise TypeError(msg)


def sky_column(tbl):
    """
    Name of the first `~astropy.coordinates.SkyCoord` column, or `None`.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.coordinates import SkyCoord
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import sky_column
    >>> sky_column(QTable({'id': [1], 'pos': SkyCoord([10] * u.deg, [20] * u.deg)}))
    'pos'
    >>> sky_column(QTable({'x': [1.0]})) is None
    True
    """
    for name in tbl.colnames:
        if isinstance(tbl[name], SkyCoord):
            return name
    return None


def _as_float(column, name):
    values = getattr(column, 'value', column)  # strip units (pixels)
    if np.ma.isMaskedArray(column) or hasattr(column, 'mask'):
        values = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f'column {name!r} must hold numbers to be used as a position'
        raise TypeError(msg) from exc


def pixel_positions(tbl, *, wcs=None, columns=None, use='auto'):
    """
    0-based pixel positions of every row of a candidate table.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidate table with pixel columns (``x``/``y`` or one of
        :data:`PIXEL_COLUMN_PAIRS`) and/or a `~astropy.coordinates.SkyCoord`
        column.
    wcs : `~astropy.wcs.WCS`, optional
        Needed to convert sky positions to pixels.
    columns : tuple of str, optional
        Names of the columns to use: ``(x, y)`` for pixels or a single name
        (a one-element tuple or a string) for a SkyCoord column.
    use : {'auto', 'pixel', 'sky'}, optional
        With ``'auto'``, pixel columns are preferred and a SkyCoord column
        is used when there are none.

    Returns
    -------
    x, y : `~numpy.ndarray`
        Float positions; NaN where a row has no usable position (masked
        values), so that callers can flag, not drop, such rows.

    Raises
    ------
    ValueError
        If the table has no position columns, or only sky positions and no
        ``wcs``; the message lists what was looked for.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import pixel_positions
    >>> x, y = pixel_positions(QTable({'x': [1.5, 2.0], 'y': [3.0, 4.0]}))
    >>> x.tolist(), y.tolist()
    ([1.5, 2.0], [3.0, 4.0])
    """
    check_table(tbl)
    check_choice(use, ('auto', 'pixel', 'sky'), 'use')
    if isinstance(columns, str):
        columns = (columns,)
    if columns is not None:
        require_columns(tbl, columns, parameter='columns')
        pairs = [tuple(columns)] if len(columns) == 2 else []
        sky = columns[0] if len(columns) == 1 else None
    else:
        pairs = [p for p in PIXEL_COLUMN_PAIRS
                 if p[0] in tbl.colnames and p[1] in tbl.colnames]
        sky = sky_column(tbl)
    if use in ('auto', 'pixel') and pairs:
        xname, yname = pairs[0]
        return _as_float(tbl[xname], xname), _as_float(tbl[yname], yname)
    if use in ('auto', 'sky') and sky is not None:
        if wcs is None:
            msg = (f'table gives only sky positions (column {sky!r}); pass '
                   f'wcs= (or images with a WCS) to convert them to pixels')
            raise ValueError(msg)
        coords = tbl[sky]
        if not isinstance(coords, SkyCoord):
            msg = f'column {sky!r} must be a SkyCoord to be used as a position'
            raise TypeError(msg)
        x, y = wcs.world_to_pixel(coords)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    looked = ', '.join('/'.join(p) for p in PIXEL_COLUMN_PAIRS)
    msg = (f'table has no position columns: looked for pixel columns '
           f'({looked}) and a SkyCoord column; its columns are '
           f'{tbl.colnames}. Pass columns= to name them.')
    raise ValueError(msg)


def provenance(function, arguments=None):
    """
    Metadata recording how a table was made.

    Parameters
    ----------
    function : str
        Name of the public function that made the table.
    arguments : dict, optional
        Its calling arguments (converted to strings when not plain values).

    Returns
    -------
    meta : dict
        ``date`` (UTC, ISO 8601), ``function``, ``arguments`` and the
        ``version`` of this package and its main dependencies.

    Examples
    --------
    >>> from astro_clusterclass.tables import provenance
    >>> meta = provenance('my_function', {'radius': 2.0})
    >>> sorted(meta), meta['function'], meta['arguments']
    (['arguments', 'date', 'function', 'version'], 'my_function', {'radius': 2.0})
    """
    import astropy
    from ._version import __version__

    versions = {'astro_clusterclass': __version__, 'astropy': astropy.__version__,
                'numpy': np.__version__, 'python': platform.python_version()}
    for name in ('photutils', 'torch', 'torchvision'):
        module = __import__('sys').modules.get(name)
        if module is not None:
            versions[name] = str(module.__version__)  # TorchVersion is not YAML-safe
    plain = (str, int, float, bool, type(None))
    args = {k: (v if isinstance(v, plain) else repr(v))
            for k, v in (arguments or {}).items()}
    return {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'function': function, 'arguments': args, 'version': versions}
