"""
The base class of the package's bit flags.

Each flag member carries a one-line description (``EDGE = 1, 'Part of the
stamp ...'``); `FlagBase.describe` names the bits set in one value and
`FlagBase.decode` does so for arrays, as ``photutils.psf.decode_psf_flags``
does for photutils' fit flags.
"""

import enum

import numpy as np

__all__ = ['FlagBase']


class FlagBase(enum.IntFlag):
    """
    Bit flags whose members carry a description.

    Examples
    --------
    >>> from astro_clusterclass._utils.flags import FlagBase
    >>> class DemoFlag(FlagBase):
    ...     NONE = 0, 'nothing to report'
    ...     EDGE = 1, 'at the image edge'
    ...     NAN = 2, 'non-finite pixels'
    >>> DemoFlag.describe(3), DemoFlag.EDGE.description
    ('EDGE|NAN', 'at the image edge')
    >>> DemoFlag.decode([0, 2])
    [[], ['NAN']]
    """

    def __new__(cls, value, description=''):
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.description = description
        return obj

    @classmethod
    def describe(cls, value):
        """Names of the flags set in ``value``, joined by ``|`` (``'NONE'`` when none)."""
        names = cls._names(int(value))
        return '|'.join(names) if names else 'NONE'

    @classmethod
    def decode(cls, values):
        """
        Names of the flags set, for one value (a list) or an array of them (a list of lists).
        """
        array = np.asarray(values)
        if array.ndim == 0:
            return cls._names(int(array))
        return [cls._names(int(v)) for v in array.ravel()]

    @classmethod
    def descriptions(cls):
        """``{name: description}`` of every flag bit."""
        return {f.name: f.description for f in cls if f.value}

    @classmethod
    def _names(cls, value):
        return [f.name for f in cls if f.value and value & f.value]
