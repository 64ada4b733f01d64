"""Argument checks shared by the public functions (errors name the parameter)."""

import math
import numbers

import numpy as np

__all__ = ['check_int', 'positive_int', 'non_negative_int', 'check_float', 'positive_float',
           'non_negative_float', 'check_choice']


def check_int(value, name, *, minimum=None, maximum=None):
    """
    ``value`` as an int, or a `ValueError` naming ``name``.

    Booleans are refused (``True`` is not a count); numpy integers are accepted.

    Examples
    --------
    >>> from astro_clusterclass._utils.validation import check_int
    >>> check_int(np.int64(3), 'size', minimum=1)
    3
    >>> check_int(0, 'size', minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: size must be an integer >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        ok = False
    else:
        value = int(value)
        ok = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            what = f'an integer from {minimum} to {maximum}'
        elif minimum is not None:
            what = f'an integer >= {minimum}'
        elif maximum is not None:
            what = f'an integer <= {maximum}'
        else:
            what = 'an integer'
        msg = f'{name} must be {what}, got {value!r}'
        raise ValueError(msg)
    return value


def positive_int(value, name):
    """``value`` as an int, or a `ValueError` naming ``name`` unless it is an integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 1:
        msg = f'{name} must be a positive integer, got {value!r}'
        raise ValueError(msg)
    return int(value)


def non_negative_int(value, name):
    """``value`` as an int, or a `ValueError` naming ``name`` unless it is an integer >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 0:
        msg = f'{name} must be a non-negative integer, got {value!r}'
        raise ValueError(msg)
    return int(value)


def check_float(value, name, *, minimum=None, maximum=None, inclusive=True):
    """
    ``value`` as a finite float within the bounds, or a `ValueError` naming ``name``.

    Examples
    --------
    >>> from astro_clusterclass._utils.validation import check_float
    >>> check_float('0.5', 'fraction', minimum=0, maximum=1)
    0.5
    >>> check_float(float('nan'), 'fraction')
    Traceback (most recent call last):
    ...
    ValueError: fraction must be a finite number, got nan
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float('nan')
    if isinstance(value, (bool, np.bool_)):
        number = float('nan')
    ok = math.isfinite(number)
    if ok and minimum is not None:
        ok = number >= minimum if inclusive else number > minimum
    if ok and maximum is not None:
        ok = number <= maximum if inclusive else number < maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f'{">=" if inclusive else ">"} {minimum}')
        if maximum is not None:
            bounds.append(f'{"<=" if inclusive else "<"} {maximum}')
        what = 'a finite number' + (f' {" and ".join(bounds)}' if bounds else '')
        msg = f'{name} must be {what}, got {value!r}'
        raise ValueError(msg)
    return number


def positive_float(value, name):
    """``value`` as a float, or a `ValueError` naming ``name`` unless it is finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float('nan')
    if not (math.isfinite(number) and number > 0):
        msg = f'{name} must be a positive number, got {value!r}'
        raise ValueError(msg)
    return number


def non_negative_float(value, name):
    """``value`` as a float, or a `ValueError` naming ``name`` unless it is finite and >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float('nan')
    if not (math.isfinite(number) and number >= 0):
        msg = f'{name} must be a non-negative number, got {value!r}'
        raise ValueError(msg)
    return number


def check_choice(value, choices, name):
    """
    ``value`` if it is one of ``choices``, else a `ValueError` naming ``name`` and the choices.

    Examples
    --------
    >>> from astro_clusterclass._utils.validation import check_choice
    >>> check_choice('sgd', ('adamw', 'sgd'), 'optimizer')
    'sgd'
    >>> check_choice('lbfgs', ('adamw', 'sgd'), 'optimizer')
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of 'adamw', 'sgd'; got 'lbfgs'
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        msg = f'{name} must be one of {", ".join(map(repr, choices))}; got {value!r}'
        raise ValueError(msg)
    return value
