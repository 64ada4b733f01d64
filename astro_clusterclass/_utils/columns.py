"""Column access with units, and the one "is not a column" error."""

import astropy.units as u
import numpy as np

__all__ = ['require_columns', 'float_values', 'column_values']


def require_columns(tbl, names, *, parameter=None):
    """
    Raise `ValueError` unless every name in ``names`` is a column of ``tbl``.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
    names : str or sequence of str
    parameter : str, optional
        The parameter (or command-line flag) that named the column; the
        message starts with it.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass._utils.columns import require_columns
    >>> require_columns(QTable({'x': [1.0]}), ['x'])
    >>> require_columns(QTable({'x': [1.0]}), 'mag', parameter='mag_column')
    Traceback (most recent call last):
    ...
    ValueError: mag_column: 'mag' is not a column; the columns are ['x']
    """
    if isinstance(names, str):
        names = [names]
    for name in names:
        if name not in tbl.colnames:
            prefix = f'{parameter}: ' if parameter else ''
            msg = f'{prefix}{name!r} is not a column; the columns are {tbl.colnames}'
            raise ValueError(msg)


def float_values(values, parameter, unit=None):
    """
    Float array of ``values``, NaN where masked.

    Accepts plain arrays, masked arrays and columns, Quantities and astropy
    ``Masked`` Quantities (converted to ``unit`` when given).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass._utils.columns import float_values
    >>> float_values(np.ma.MaskedArray([1, 2], mask=[False, True]), 'mag').tolist()
    [1.0, nan]
    """
    mask = None
    if hasattr(values, 'unmasked'):  # astropy Masked, e.g. a Masked Quantity
        mask = np.asarray(values.mask)
        values = values.unmasked
    column_unit = getattr(values, 'unit', None)
    if isinstance(values, u.Quantity):
        values = values.to_value(unit) if unit is not None else values.value
    elif unit is not None and column_unit is not None:  # Column with a unit
        values = np.ma.asarray(values, dtype=float) * column_unit.to(unit)
    array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    if mask is not None:
        array = np.where(mask, np.nan, array)
    if array.ndim != 1:
        msg = f'{parameter} must be one-dimensional, got shape {array.shape}'
        raise ValueError(msg)
    return array


def column_values(tbl, name, *, parameter=None, unit=None):
    """
    The values of column ``name`` as floats (NaN where masked), after checking it exists.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from astro_clusterclass._utils.columns import column_values
    >>> column_values(QTable({'r': [1.0, 2.0] * u.arcsec}), 'r', unit=u.arcmin).round(4).tolist()
    [0.0167, 0.0333]
    """
    require_columns(tbl, [name], parameter=parameter)
    return float_values(tbl[name], parameter or f'column {name!r}', unit=unit)
