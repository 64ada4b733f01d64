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
(LEGUS, DS9, IRAF, SExtractor, StarcNet) are converted once, when they are
read (`standardize_positions`, or ``pixel_origin=1``).

Positions are never silently wrong: a pixel column holding angles is
refused, plain RA/Dec float columns are sky positions (degrees unless
their unit says otherwise), and when a table has both pixel and sky
positions and the images have a WCS, `pixel_positions` checks the two
against each other (`POSITION_TOLERANCE`) before using the pixels.
"""

import datetime
import platform
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from astropy.utils.exceptions import AstropyUserWarning

from ._utils.columns import require_columns
from ._utils.validation import check_choice

__all__ = ['PIXEL_COLUMN_PAIRS', 'ONE_BASED_PIXEL_PAIRS', 'SKY_COLUMN_PAIRS',
           'POSITION_TOLERANCE', 'OFF_IMAGE_WARNING_FRACTION', 'PositionMismatchError',
           'pixel_positions', 'sky_column', 'sky_columns', 'sky_coordinates',
           'standardize_positions', 'check_on_image', 'check_table', 'provenance']

#: Column pairs recognised as 0-based pixel positions, in order of preference.
PIXEL_COLUMN_PAIRS = (('x', 'y'), ('xcentroid', 'ycentroid'),
                      ('x_centroid', 'y_centroid'), ('x_0', 'y_0'),
                      ('x_fit', 'y_fit'), ('PHANGS_X', 'PHANGS_Y'))

#: Column pairs recognised as 1-based pixel positions (SExtractor, FITS
#: convention); they are converted to 0-based when used.
ONE_BASED_PIXEL_PAIRS = (('X_IMAGE', 'Y_IMAGE'), ('XWIN_IMAGE', 'YWIN_IMAGE'))

#: Float column pairs recognised as sky positions (ICRS degrees unless the
#: columns carry another angular unit), in order of preference; names are
#: matched without regard to case.
SKY_COLUMN_PAIRS = (('ra', 'dec'), ('RAJ2000', 'DEJ2000'), ('RA_ICRS', 'DE_ICRS'),
                    ('ALPHA_J2000', 'DELTA_J2000'), ('PHANGS_RA', 'PHANGS_DEC'))

#: Largest offset (pixels) between a pixel position and the position the
#: image WCS gives for the same row's sky coordinates that counts as
#: agreement (the sky positions of catalogues are often rounded to ~1 px).
POSITION_TOLERANCE = 1.5

#: `check_on_image` warns when more than this fraction of the positions
#: falls outside the images.
OFF_IMAGE_WARNING_FRACTION = 0.9

# How options are named in error messages: Python keywords by default; the
# command line passes its flags (astro_clusterclass.cli._common).
_PYTHON_NAMES = {
    'use': "use='{}'",
    'pixel_origin': 'pixel_origin={}',
    'pixel_columns': "columns=('<x>', '<y>')",
    'sky_columns': "columns=('<sky>',) or columns=('<ra>', '<dec>') with use='sky'",
    'x_column': "x_column='{}'",
    'y_column': "y_column='{}'",
    'ra_column': "ra_column='{}'",
    'dec_column': "dec_column='{}'",
    'wcs': 'wcs= (or images with a WCS)',
}


def _say(option_names, key, value=''):
    template = (option_names or {}).get(key, _PYTHON_NAMES[key])
    return template.format(value)


class PositionMismatchError(ValueError):
    """
    Pixel and sky positions of a table disagree through the image WCS.

    Raised by `pixel_positions`; the message says by how much, what
    probably happened (another mosaic, another pixel origin) and how to
    choose the positions to use.

    Examples
    --------
    >>> from astro_clusterclass.tables import PositionMismatchError
    >>> issubclass(PositionMismatchError, ValueError)
    True
    """


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


def sky_columns(tbl):
    """
    Names of the first pair of float RA/Dec columns (:data:`SKY_COLUMN_PAIRS`), or `None`.

    Names are compared without regard to case (``RA``/``Dec``,
    ``ra``/``DEC``...).

    Raises
    ------
    ValueError
        If two columns differ only by case (``ra`` and ``RA``), so that the
        pair cannot be chosen without asking.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import sky_columns
    >>> sky_columns(QTable({'id': [1], 'RA': [150.1], 'Dec': [2.2]}))
    ('RA', 'Dec')
    >>> sky_columns(QTable({'x': [1.0]})) is None
    True
    """
    lower = {}
    for name in tbl.colnames:
        if isinstance(tbl[name], SkyCoord):
            continue
        lower.setdefault(name.lower(), []).append(name)
    for ra, dec in SKY_COLUMN_PAIRS:
        found = lower.get(ra.lower()), lower.get(dec.lower())
        if found[0] and found[1]:
            for names in found:
                if len(names) > 1:
                    msg = (f'columns {names} differ only by case; name the sky '
                           f'columns to use')
                    raise ValueError(msg)
            return found[0][0], found[1][0]
    return None


def _pixel_values(tbl, name, option_names=None):
    """Float values of a pixel column (NaN where masked); angles are refused."""
    column = tbl[name]
    unit = getattr(column, 'unit', None)
    if unit is not None and unit not in (u.pix, u.dimensionless_unscaled):
        if unit.physical_type == 'angle':
            msg = (f'column {name!r} holds angles ({unit}), not pixel positions; '
                   f'name it as a sky column ({_say(option_names, "sky_columns")}) '
                   f'or give pixel columns')
        else:
            msg = (f'column {name!r} has unit {unit}; pixel positions must be plain '
                   f'numbers or in pix')
        raise u.UnitTypeError(msg)
    values = column
    if hasattr(values, 'unmasked'):  # astropy Masked Quantity
        values = np.where(np.asarray(values.mask), np.nan, values.unmasked.value)
    values = getattr(values, 'value', values)
    if isinstance(values, SkyCoord):
        msg = f'column {name!r} is a SkyCoord, not a pixel position'
        raise TypeError(msg)
    try:
        array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    except (TypeError, ValueError) as exc:
        msg = f'column {name!r} must hold numbers to be used as a position'
        raise TypeError(msg) from exc
    if array.ndim != 1:
        msg = f'column {name!r} must be one-dimensional to be used as a position'
        raise ValueError(msg)
    return np.array(array, dtype=float)


def _angle_values(tbl, name, option_names=None):
    """Float degrees of a sky column (NaN where masked); other units refused."""
    column = tbl[name]
    unit = getattr(column, 'unit', None)
    if unit is None or unit == u.dimensionless_unscaled:
        unit = u.deg
    elif unit.physical_type != 'angle':
        msg = (f'column {name!r} has unit {unit}, not an angle; it cannot be a sky '
               f'position')
        raise u.UnitTypeError(msg)
    values = column
    if hasattr(values, 'unmasked'):
        values = np.where(np.asarray(values.mask), np.nan, values.unmasked.value)
    values = getattr(values, 'value', values)
    try:
        array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    except (TypeError, ValueError) as exc:
        msg = f'column {name!r} must hold numbers to be used as a sky position'
        raise TypeError(msg) from exc
    return (np.array(array, dtype=float) * unit).to_value(u.deg)


def _coords_from_floats(tbl, ra, dec, frame='icrs', option_names=None):
    ra_deg = _angle_values(tbl, ra, option_names)
    dec_deg = _angle_values(tbl, dec, option_names)
    with np.errstate(invalid='ignore'):
        bad_ra = np.isfinite(ra_deg) & ((ra_deg < -360) | (ra_deg > 360))
        bad_dec = np.isfinite(dec_deg) & ((dec_deg < -90) | (dec_deg > 90))
    if np.any(bad_ra) or np.any(bad_dec):
        msg = (f'columns {ra!r}/{dec!r} do not hold sky positions in degrees (RA '
               f'{np.nanmin(ra_deg):g}..{np.nanmax(ra_deg):g}, Dec '
               f'{np.nanmin(dec_deg):g}..{np.nanmax(dec_deg):g}); give them an angular '
               f'unit if they are not degrees, or name other columns '
               f'({_say(option_names, "sky_columns")})')
        raise ValueError(msg)
    return SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame=frame)


def sky_coordinates(tbl, *, columns=None, frame='icrs'):
    """
    The sky positions of a table as one `~astropy.coordinates.SkyCoord`, or `None`.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
    columns : str or tuple of str, optional
        A SkyCoord column (one name) or float RA/Dec columns (two names).
        Default: the first SkyCoord column, else the first pair of
        :data:`SKY_COLUMN_PAIRS`.
    frame : str, optional
        Frame of float RA/Dec columns (default ICRS).

    Returns
    -------
    coords : `~astropy.coordinates.SkyCoord` or None
        None when the table has no sky positions (and ``columns`` is not given).

    Raises
    ------
    ValueError, TypeError
        If named columns are missing or not sky positions, or float columns
        do not hold angles (values outside RA/Dec ranges, non-angular unit).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import sky_coordinates
    >>> c = sky_coordinates(QTable({'RA': [150.0], 'DEC': [2.0]}))
    >>> c.ra.deg.tolist(), c.dec.deg.tolist(), c.frame.name
    ([150.0], [2.0], 'icrs')
    """
    if isinstance(columns, str):
        columns = (columns,)
    if columns is not None:
        columns = tuple(columns)
        require_columns(tbl, columns, parameter='columns')
        if len(columns) == 1:
            coords = tbl[columns[0]]
            if not isinstance(coords, SkyCoord):
                msg = (f'column {columns[0]!r} must be a SkyCoord to be used as a sky '
                       f'position (or name two float RA/Dec columns)')
                raise TypeError(msg)
            return coords
        if len(columns) == 2:
            return _coords_from_floats(tbl, *columns, frame=frame)
        msg = f'columns must name one SkyCoord or two RA/Dec columns, got {columns!r}'
        raise ValueError(msg)
    name = sky_column(tbl)
    if name is not None:
        return tbl[name]
    pair = sky_columns(tbl)
    if pair is not None:
        return _coords_from_floats(tbl, *pair, frame=frame)
    return None


def _sky_name(tbl, columns):
    if columns is not None:
        return '/'.join(columns)
    name = sky_column(tbl)
    return name if name is not None else '/'.join(sky_columns(tbl) or ())


def _detect_pixel_pair(tbl):
    """(pair, origin) of the first recognised pixel columns, or (None, None)."""
    for pair in PIXEL_COLUMN_PAIRS:
        if pair[0] in tbl.colnames and pair[1] in tbl.colnames:
            return pair, 0
    for pair in ONE_BASED_PIXEL_PAIRS:
        if pair[0] in tbl.colnames and pair[1] in tbl.colnames:
            return pair, 1
    return None, None


def _check_origin(pixel_origin, option_names=None):
    if pixel_origin is None:
        return None
    if isinstance(pixel_origin, (bool, np.bool_)) or pixel_origin not in (0, 1):
        msg = (f'{_say(option_names, "pixel_origin", repr(pixel_origin))} is not a pixel '
               f'origin: give 0 (astropy, photutils, PHANGS-HST) or 1 (FITS, DS9, IRAF, '
               f'LEGUS, SExtractor, StarcNet)')
        raise ValueError(msg)
    return int(pixel_origin)


def _signed(value, digits):
    """``value`` with its sign, never ``-0.0``."""
    return f'{round(value, digits) + 0.0:+.{digits}f}'


def _cross_check(x, y, coords, wcs, pixel_names, sky_name, option_names=None):
    """Raise PositionMismatchError when pixel and sky positions disagree through ``wcs``."""
    sx, sy = wcs.world_to_pixel(coords)
    dx, dy = x - np.asarray(sx, dtype=float), y - np.asarray(sy, dtype=float)
    ok = np.isfinite(dx) & np.isfinite(dy)
    if not ok.any():
        return
    dx, dy = dx[ok], dy[ok]
    far = np.hypot(dx, dy) > POSITION_TOLERANCE
    mdx, mdy = float(np.median(dx)), float(np.median(dy))
    pixels = '/'.join(pixel_names)
    choose = (f'Choose the positions to use: {_say(option_names, "use", "sky")} places '
              f'the candidates by their sky positions through the WCS, '
              f'{_say(option_names, "use", "pixel")} uses the pixel columns as they are.')
    if far.mean() > 0.5:
        msg = (f'pixel columns {pixels} and sky column {sky_name} disagree through the '
               f"images' WCS: for {far.sum()} of {ok.sum()} rows ({100 * far.mean():.0f} %) "
               f'the pixel position is more than {POSITION_TOLERANCE:g} px from where the '
               f'WCS puts the sky position (median offset dx={_signed(mdx, 1)}, '
               f'dy={_signed(mdy, 1)} px). '
               f'The pixel positions were probably measured on another mosaic (another '
               f'pixel grid), or the sky positions belong to another field. {choose}')
        raise PositionMismatchError(msg)
    for shift, origin in ((1.0, 1), (-1.0, 0)):
        if abs(mdx - shift) < 0.3 and abs(mdy - shift) < 0.3:
            msg = (f'pixel columns {pixels} are offset by (dx={_signed(mdx, 2)}, '
                   f'dy={_signed(mdy, 2)}) px '
                   f"from sky column {sky_name} through the images' WCS: they look "
                   f'{"1" if origin else "0"}-based. Give their origin with '
                   f'{_say(option_names, "pixel_origin", origin)} (this package works '
                   f'0-based). {choose}')
            raise PositionMismatchError(msg)


def pixel_positions(tbl, *, wcs=None, columns=None, use='auto', pixel_origin=None,
                    option_names=None):
    """
    0-based pixel positions of every row of a candidate table.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidate table with pixel columns (``x``/``y`` or one of
        :data:`PIXEL_COLUMN_PAIRS` and :data:`ONE_BASED_PIXEL_PAIRS`) and/or
        sky positions: a `~astropy.coordinates.SkyCoord` column or float
        RA/Dec columns (:data:`SKY_COLUMN_PAIRS`).
    wcs : `~astropy.wcs.WCS`, optional
        Needed to convert sky positions to pixels; with it, a table that has
        both pixel and sky positions is checked (``use='auto'``).
    columns : tuple of str, optional
        Names of the columns to use: ``(x, y)`` for pixels, a single name
        (a one-element tuple or a string) for a SkyCoord column, or, with
        ``use='sky'``, ``(ra, dec)`` float columns. Named columns are used
        as they are, without the check against the sky positions.
    use : {'auto', 'pixel', 'sky'}, optional
        With ``'auto'``, pixel columns are preferred and sky positions are
        used when there are none. When the table has both and ``wcs`` is
        given, the pixel positions must agree with the sky positions
        through the WCS within :data:`POSITION_TOLERANCE` for most rows.
        ``'pixel'`` and ``'sky'`` choose without checking.
    pixel_origin : {None, 0, 1}, optional
        Origin of the pixel columns: 0 (astropy, photutils, PHANGS-HST) or
        1 (FITS, DS9, IRAF, LEGUS files, SExtractor). Default: 0, or 1 for
        :data:`ONE_BASED_PIXEL_PAIRS`.
    option_names : dict, optional
        How the options are named in error messages (the command line
        passes its flags).

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
    PositionMismatchError
        If pixel and sky positions disagree through ``wcs`` (another
        mosaic, another origin); the message says how to choose.
    astropy.units.UnitTypeError
        If a pixel column holds angles (or any unit but pixels), or a sky
        column a non-angular unit.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import pixel_positions
    >>> x, y = pixel_positions(QTable({'x': [1.5, 2.0], 'y': [3.0, 4.0]}))
    >>> x.tolist(), y.tolist()
    ([1.5, 2.0], [3.0, 4.0])

    DS9 and IRAF count pixels from 1:

    >>> x, y = pixel_positions(QTable({'x': [1.5, 2.0], 'y': [3.0, 4.0]}), pixel_origin=1)
    >>> x.tolist(), y.tolist()
    ([0.5, 1.0], [2.0, 3.0])

    A column in degrees is not a pixel position:

    >>> import astropy.units as u
    >>> pixel_positions(QTable({'x': [150.1] * u.deg, 'y': [2.2] * u.deg}))
    Traceback (most recent call last):
    ...
    astropy.units.errors.UnitTypeError: column 'x' holds angles (deg), not pixel positions; ...
    """
    check_table(tbl)
    check_choice(use, ('auto', 'pixel', 'sky'), 'use')
    origin = _check_origin(pixel_origin, option_names)
    if isinstance(columns, str):
        columns = (columns,)
    pair, pair_origin, sky_names, explicit = None, None, None, columns is not None
    if explicit:
        columns = tuple(columns)
        require_columns(tbl, columns, parameter='columns')
        if len(columns) == 2 and use != 'sky':
            pair, pair_origin = columns, 0
        elif len(columns) in (1, 2):
            sky_names = columns
        else:
            msg = (f'columns must name two pixel columns, one SkyCoord column or (with '
                   f"use='sky') two RA/Dec columns; got {columns!r}")
            raise ValueError(msg)
    else:
        pair, pair_origin = _detect_pixel_pair(tbl)
    if use == 'sky':
        pair = None
    origin = pair_origin if origin is None else origin

    coords = None
    if (pair is None and use != 'pixel') or (use == 'auto' and not explicit
                                             and wcs is not None):
        coords = sky_coordinates(tbl, columns=sky_names) if (sky_names or not explicit) \
            else None

    if pair is not None and use in ('auto', 'pixel'):
        x = _pixel_values(tbl, pair[0], option_names) - origin
        y = _pixel_values(tbl, pair[1], option_names) - origin
        if coords is not None and len(tbl):
            _cross_check(x, y, coords, wcs, pair, _sky_name(tbl, sky_names), option_names)
        return x, y
    if coords is not None:
        if wcs is None:
            msg = (f'table gives only sky positions (column {_sky_name(tbl, sky_names)}); '
                   f'pass {_say(option_names, "wcs")} to convert them to pixels')
            raise ValueError(msg)
        x, y = wcs.world_to_pixel(coords)
        return np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1)
    looked = ', '.join('/'.join(p) for p in PIXEL_COLUMN_PAIRS + ONE_BASED_PIXEL_PAIRS)
    sky = ', '.join('/'.join(p) for p in SKY_COLUMN_PAIRS)
    if use == 'pixel':
        what = f'pixel columns ({looked})'
    elif use == 'sky':
        what = f'a SkyCoord column or float sky columns ({sky}, any case)'
    else:
        what = (f'pixel columns ({looked}), a SkyCoord column and float sky columns '
                f'({sky}, any case)')
    msg = (f'table has no position columns: looked for {what}; its columns are '
           f'{tbl.colnames}. Name them with {_say(option_names, "pixel_columns")} or '
           f'{_say(option_names, "sky_columns")}.')
    raise ValueError(msg)


def standardize_positions(tbl, *, x_column=None, y_column=None, ra_column=None,
                          dec_column=None, pixel_origin=None, frame='icrs',
                          option_names=None):
    """
    A table whose positions follow the package's conventions, for reading catalogues.

    Catalogues from other tools name and count their positions in their own
    ways. This function turns them, once, into the package's names:

    - pixel columns that are named (``x_column``/``y_column``) or 1-based
      (``pixel_origin=1``, or a pair of :data:`ONE_BASED_PIXEL_PAIRS`)
      become 0-based float columns ``x`` and ``y``, in the place of the
      originals; recognised 0-based pairs (:data:`PIXEL_COLUMN_PAIRS`) are
      left as they are;
    - float RA/Dec columns (named, or a pair of :data:`SKY_COLUMN_PAIRS`;
      degrees unless their unit is another angle) become one
      `~astropy.coordinates.SkyCoord` column ``coord``, in the place of the
      RA column, when the table has no SkyCoord column yet.

    Every row is kept, in order; ``meta`` is kept and, when columns were
    converted, ``meta['positions']`` records what was done
    (``original_names``: new name → original column(s)).

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The catalogue (not modified).
    x_column, y_column : str, optional
        Pixel position columns (both or neither).
    ra_column, dec_column : str, optional
        Float sky position columns (both or neither).
    pixel_origin : {None, 0, 1}, optional
        Origin of the pixel columns: 0 (astropy, photutils, PHANGS-HST) or
        1 (FITS, DS9, IRAF, LEGUS files, SExtractor, StarcNet). Default: 1
        for :data:`ONE_BASED_PIXEL_PAIRS`, else 0.
    frame : str, optional
        Sky frame of float RA/Dec columns.
    option_names : dict, optional
        How the options are named in error messages.

    Returns
    -------
    table : `~astropy.table.QTable`
        A new table (columns not copied unless converted). A table without
        positions is returned as it is (the functions that need positions
        say so).

    Raises
    ------
    ValueError
        If a named column is missing, only one of a pair is named, the new
        names ``x``/``y``/``coord`` are taken by other columns, or float sky
        columns do not hold angles.
    astropy.units.UnitTypeError
        If a pixel column holds angles, or a sky column another unit.

    Examples
    --------
    A catalogue with 1-based pixel positions and RA/Dec in degrees:

    >>> from astropy.table import QTable
    >>> from astro_clusterclass.tables import standardize_positions
    >>> cat = QTable({'ID': [7, 8], 'X': [10.0, 20.0], 'Y': [5.0, 6.0],
    ...               'RA': [150.1, 150.2], 'DEC': [2.1, 2.2]})
    >>> out = standardize_positions(cat, x_column='X', y_column='Y', pixel_origin=1)
    >>> out.colnames
    ['ID', 'x', 'y', 'coord']
    >>> out['x'].tolist(), out['coord'].ra.deg.tolist()
    ([9.0, 19.0], [150.1, 150.2])
    >>> out.meta['positions']['original_names']
    {'x': 'X', 'y': 'Y', 'coord': 'RA, DEC'}
    """
    check_table(tbl)
    origin = _check_origin(pixel_origin, option_names)
    for first, second, a, b in ((x_column, y_column, 'x_column', 'y_column'),
                                (ra_column, dec_column, 'ra_column', 'dec_column')):
        if (first is None) != (second is None):
            given, missing = (a, b) if first is not None else (b, a)
            msg = (f'{_say(option_names, given, first or second)} needs '
                   f'{_say(option_names, missing, "NAME")} as well')
            raise ValueError(msg)
    out = QTable(tbl, copy=False)
    out.meta = type(tbl.meta)(tbl.meta)
    record = {}
    renamed = {}

    if x_column is not None:
        for key, name in (('x_column', x_column), ('y_column', y_column)):
            require_columns(tbl, name, parameter=_say(option_names, key, name))
        pair, pair_origin = (x_column, y_column), 0
    else:
        pair, pair_origin = _detect_pixel_pair(tbl)
    if pair is not None:
        origin_used = pair_origin if origin is None else origin
        convert = x_column is not None or origin_used != 0
        x = _pixel_values(tbl, pair[0], option_names) - origin_used
        y = _pixel_values(tbl, pair[1], option_names) - origin_used
        if convert:
            for new, old in zip(('x', 'y'), pair):
                if new in tbl.colnames and new not in pair:
                    msg = (f'the table has a column {new!r} besides the pixel columns '
                           f'{pair[0]!r}/{pair[1]!r} named as positions; rename it first')
                    raise ValueError(msg)
            for new, old, values in (('x', pair[0], x), ('y', pair[1], y)):
                index = out.colnames.index(old)
                out.remove_column(old)
                out.add_column(values, name=new, index=index)
                if new != old:
                    renamed[new] = old
            record['pixel_origin'] = (f'x, y are 0-based: {pair[0]}, {pair[1]} (origin '
                                      f'{origin_used})' + (' minus 1' if origin_used else ''))
        record['pixel_columns'] = ['x', 'y'] if convert else list(pair)

    if ra_column is not None:
        for key, name in (('ra_column', ra_column), ('dec_column', dec_column)):
            require_columns(tbl, name, parameter=_say(option_names, key, name))
        floats = (ra_column, dec_column)
    else:
        floats = None if sky_column(tbl) is not None else sky_columns(tbl)
    if floats is not None:
        existing = sky_column(tbl)
        if existing is not None:
            msg = (f'the table already has a SkyCoord column {existing!r}; it cannot also '
                   f'take its sky positions from {floats[0]!r}/{floats[1]!r}')
            raise ValueError(msg)
        if 'coord' in out.colnames and 'coord' not in floats:
            msg = (f"the table has a column 'coord' that is not a SkyCoord; rename it to "
                   f'use {floats[0]!r}/{floats[1]!r} as sky positions')
            raise ValueError(msg)
        coords = _coords_from_floats(tbl, *floats, frame=frame, option_names=option_names)
        index = out.colnames.index(floats[0])
        out.remove_columns(list(floats))
        out.add_column(coords, name='coord', index=min(index, len(out.colnames)))
        renamed['coord'] = ', '.join(floats)
        record['sky_column'] = 'coord'
    elif sky_column(tbl) is not None:
        record['sky_column'] = sky_column(tbl)

    if renamed or 'pixel_origin' in record:  # recorded only when something was converted
        record['original_names'] = renamed
        out.meta['positions'] = record
    return out


def check_on_image(x, y, shape, *, what='candidates', option_names=None):
    """
    Which positions fall on an image; an error when none does.

    A catalogue made on another mosaic lands off the images, and would
    otherwise come back with every row flagged and no error.

    Parameters
    ----------
    x, y : array-like
        0-based pixel positions (NaN for rows without one).
    shape : tuple of int
        ``(ny, nx)`` of the images.
    what : str, optional
        What the positions are, for the messages.
    option_names : dict, optional
        How the position options are named in the messages.

    Returns
    -------
    inside : `~numpy.ndarray` of bool
        True for positions whose pixel lies on the image.

    Raises
    ------
    ValueError
        If there are positions and none falls on the image.

    Warns
    -----
    `~astropy.utils.exceptions.AstropyUserWarning`
        If more than :data:`OFF_IMAGE_WARNING_FRACTION` of them fall off it.

    Examples
    --------
    >>> from astro_clusterclass.tables import check_on_image
    >>> check_on_image([5.0, 50.0], [5.0, 5.0], (20, 20)).tolist()
    [True, False]
    >>> check_on_image([500.0, 600.0], [5.0, 5.0], (20, 20))
    Traceback (most recent call last):
    ...
    ValueError: none of the 2 candidates falls on the images (20 x 20 px): ...
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    ny, nx = int(shape[0]), int(shape[1])
    finite = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid='ignore'):
        inside = finite & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    n = len(x)
    if n == 0:
        return inside
    hint = (f'the catalog was probably made on another mosaic (another pixel grid), or its '
            f'positions use another origin; check {_say(option_names, "pixel_columns")}, '
            f'{_say(option_names, "pixel_origin", 1)}, or place the candidates by their '
            f'sky positions ({_say(option_names, "use", "sky")})')
    if not finite.any():
        msg = (f'none of the {n} {what} has a finite pixel position, so none falls on the '
               f'images ({nx} x {ny} px)')
        raise ValueError(msg)
    span = (f'x {np.min(x[finite]):.1f}..{np.max(x[finite]):.1f}, '
            f'y {np.min(y[finite]):.1f}..{np.max(y[finite]):.1f}')
    if not inside.any():
        msg = (f'none of the {n} {what} falls on the images ({nx} x {ny} px): their pixel '
               f'positions span {span}; {hint}')
        raise ValueError(msg)
    off = n - int(inside.sum())
    if off / n > OFF_IMAGE_WARNING_FRACTION:
        warnings.warn(f'{off} of the {n} {what} ({100 * off / n:.0f} %) fall off the images '
                      f'({nx} x {ny} px; positions span {span}); {hint}', AstropyUserWarning)
    return inside


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
