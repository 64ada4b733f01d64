"""Argument checks shared by the public functions (errors name the parameter)."""

import math

import numpy as np

__all__ = ['positive_int', 'positive_float']


def positive_int(value, name):
    """``value`` as an int, or a `ValueError` naming ``name`` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f'{name} must be a positive integer, got {value!r}'
        raise ValueError(msg)
    return int(value)


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
