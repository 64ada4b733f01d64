"""Table values and results as plain JSON types (what a web page or a JSON file receives)."""

import math
import numbers

import numpy as np
from astropy import units as u

__all__ = ['json_value']


def json_value(value):
    """
    ``value`` as plain JSON types, with None for anything masked or not finite.

    Mappings become dicts with string keys, sequences and arrays lists,
    numpy and astropy scalars Python numbers (a `~astropy.units.Quantity`
    its value), bytes text; anything else its ``str``. NaN and infinities
    become None, because JSON has no such numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy import units as u
    >>> from astro_clusterclass._utils.jsonable import json_value
    >>> json_value({'a': np.float32(1.5), 2: np.array([1, 2]), 'c': np.nan,
    ...             'd': np.ma.masked, 'e': 3 * u.mag, 'f': (np.True_, b'x')})
    {'a': 1.5, '2': [1, 2], 'c': None, 'd': None, 'e': 3.0, 'f': [True, 'x']}
    """
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if hasattr(value, 'unmasked'):  # an astropy Masked value (a masked Quantity)
        if np.all(value.mask):
            return None
        value = value.unmasked
    if isinstance(value, u.Quantity):
        value = value.value
    if isinstance(value, np.ma.MaskedArray):
        if np.all(value.mask):
            return None
        value = value.astype(float).filled(np.nan) if np.any(value.mask) else value.data
    if isinstance(value, np.ndarray):
        return json_value(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, str):
        return value
    return str(value)
