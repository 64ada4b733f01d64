"""Distance moduli from distances or moduli, through `astropy.coordinates.Distance`."""

import astropy.units as u
import numpy as np
from astropy.coordinates import Distance

__all__ = ['distance_modulus']


def distance_modulus(value, *, parameter='distance_modulus'):
    """
    The distance modulus (float, mag) of a distance or a modulus.

    Parameters
    ----------
    value : `~astropy.units.Quantity` or float
        A distance (length units), a modulus in mag, or a plain number (mag).
    parameter : str, optional
        Named in the error message.

    Raises
    ------
    ValueError
        If the value is not finite, or a distance is not positive.
    TypeError
        If a Quantity has units other than length or magnitude.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass._utils.distance import distance_modulus
    >>> round(distance_modulus(10 * u.Mpc), 6), distance_modulus(29.5)
    (30.0, 29.5)
    """
    if isinstance(value, u.Quantity):
        if value.unit.physical_type == 'length':
            if not (np.isfinite(value.value) and value.value > 0):
                msg = f'{parameter} must be a positive finite distance, got {value!r}'
                raise ValueError(msg)
            return float(Distance(value).distmod.to_value(u.mag))
        try:
            value = value.to_value(u.mag)
        except u.UnitConversionError:
            msg = (f'{parameter} must be a distance (e.g. 10 * u.Mpc) or a modulus in mag, '
                   f'got {value!r}')
            raise TypeError(msg) from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f'{parameter} must be a distance or a modulus, got {value!r}'
        raise TypeError(msg) from None
    if not np.isfinite(number):
        msg = f'{parameter} must be finite, got {value!r}'
        raise ValueError(msg)
    return number
