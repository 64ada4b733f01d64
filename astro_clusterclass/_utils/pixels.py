"""
Positions to pixel indices, bounded: no integer overflow for any float.

``np.floor(1e20).astype(np.int64)`` wraps around to a negative number
(and NaN to the smallest int64), after which bounds checks pass or fail
at random. Every conversion of a position to a pixel index goes through
`center_pixels`, which clips positions to ``±FAR`` first: far outside any
image, yet small enough that a stamp's corners and offsets computed from
it stay exact in int64.
"""

import numpy as np

__all__ = ['FAR', 'center_pixels']

#: Largest magnitude of a pixel index (2**52: exact as a float64 and as an int64).
FAR = 2.0 ** 52


def center_pixels(values, shift=0.5):
    """
    Integer pixel ``floor(value + shift)`` of each position, bounded by ``±FAR``.

    Non-finite values (NaN, ±inf) give ``-FAR``, outside every image, as
    `~astro_clusterclass.preprocessing.StampTransform.center_pixels` does;
    a finite value is clipped to ``±FAR`` first.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass._utils.pixels import FAR, center_pixels
    >>> center_pixels([2.5, 2.49, -0.0]).tolist()
    [3, 2, 0]
    >>> far = int(FAR)
    >>> center_pixels([1e20, -1e300, np.inf, np.nan]).tolist() == [far, -far, -far, -far]
    True
    """
    x = np.asarray(values, dtype=float)
    safe = np.where(np.isfinite(x), np.clip(x, -FAR, FAR), -FAR)
    return np.floor(safe + shift).astype(np.int64)
