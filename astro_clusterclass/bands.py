"""
The five HST bands and how they are recognised.

Every five-band product in this package (images, cutouts, catalogue
columns, network inputs) uses the band order of :data:`BANDS`. A band is
named by the WFC3 filter of its *slot*; fields observed with ACS put
F435W in the B slot and F555W or F606W in the V slot (see
:data:`FILTER_TO_BAND`).
"""

__all__ = ['BANDS', 'BAND_LABELS', 'FILTER_TO_BAND', 'normalize_band',
           'band_from_header', 'filter_from_header']

#: Canonical band order: NUV, U, B, V, I.
BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')

#: Broad-band letter of each slot.
BAND_LABELS = {'F275W': 'NUV', 'F336W': 'U', 'F438W': 'B', 'F555W': 'V',
               'F814W': 'I'}

#: HST filter name → band slot. ACS F435W and F606W are accepted in the
#: B and V slots, as in LEGUS and PHANGS-HST.
FILTER_TO_BAND = {
    'F275W': 'F275W',
    'F336W': 'F336W',
    'F438W': 'F438W',
    'F435W': 'F438W',
    'F555W': 'F555W',
    'F606W': 'F555W',
    'F814W': 'F814W',
}

_LETTER_TO_BAND = {label: band for band, label in BAND_LABELS.items()}


def normalize_band(name, *, parameter='band'):
    """
    Return the band slot of a filter or band name.

    Parameters
    ----------
    name : str
        A filter (``'F435W'``, ``'f555w'``), a slot name, or a broad-band
        letter (``'NUV'``, ``'U'``, ``'B'``, ``'V'``, ``'I'``).
    parameter : str, optional
        Name of the caller's parameter, used in the error message.

    Returns
    -------
    band : str
        One of :data:`BANDS`.

    Raises
    ------
    ValueError
        If ``name`` is not a known filter or band.

    Examples
    --------
    >>> from astro_clusterclass.bands import normalize_band
    >>> normalize_band('f435w')
    'F438W'
    >>> normalize_band('V')
    'F555W'
    """
    if not isinstance(name, str):
        msg = f'{parameter} must be a string naming a band, got {name!r}'
        raise TypeError(msg)
    key = name.strip().upper()
    if key in FILTER_TO_BAND:
        return FILTER_TO_BAND[key]
    if key in _LETTER_TO_BAND:
        return _LETTER_TO_BAND[key]
    msg = (f'{parameter}={name!r} is not a known band; expected one of '
           f'{sorted(FILTER_TO_BAND)} or {sorted(_LETTER_TO_BAND)}')
    raise ValueError(msg)


def band_from_header(header):
    """
    Identify the band slot of an HST image from its FITS header.

    The keywords are tried in the order WFC3 and ACS pipelines write them:
    ``FILTER`` (WFC3), ``FILTER1``/``FILTER2`` (ACS, one of which is a
    ``CLEAR`` position), then the words of ``PHOTMODE``.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict-like
        The header to inspect (primary or extension, or both merged).

    Returns
    -------
    band : str or None
        The band slot, or `None` if no keyword names one of the five bands.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astro_clusterclass.bands import band_from_header
    >>> band_from_header(fits.Header({'FILTER1': 'CLEAR1L', 'FILTER2': 'F435W'}))
    'F438W'
    >>> band_from_header(fits.Header({'PHOTMODE': 'WFC3 UVIS1 F275W MJD#56538'}))
    'F275W'
    """
    name = filter_from_header(header)
    return None if name is None else FILTER_TO_BAND[name]


def filter_from_header(header):
    """
    Return the HST filter named in a header (e.g. ``'F435W'``), or `None`.

    See `band_from_header` for the keywords read and their order.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astro_clusterclass.bands import filter_from_header
    >>> filter_from_header(fits.Header({'FILTER1': 'CLEAR1L', 'FILTER2': 'F435W'}))
    'F435W'
    >>> filter_from_header(fits.Header({'FILTER': 'F555W'}))
    'F555W'
    >>> filter_from_header(fits.Header()) is None
    True
    """
    if header is None:
        return None
    words = [header.get(key) for key in ('FILTER', 'FILTER1', 'FILTER2')]
    photmode = header.get('PHOTMODE')
    if isinstance(photmode, str):
        words.extend(photmode.split())
    for word in words:
        if isinstance(word, str) and word.strip().upper() in FILTER_TO_BAND:
            return word.strip().upper()
    return None
