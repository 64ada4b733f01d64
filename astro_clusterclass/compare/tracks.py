"""
Model colour tracks for the colour-colour diagram.

PHANGS-HST draws the Bruzual & Charlot (2003) simple-stellar-population
track of solar metallicity in its U−B vs V−I diagrams (Whitmore et al.
2021, §5). The track is not shipped with this package; `read_bc03_track`
reads it from the PHANGS-HST files (``age_mod_<Z>.npy`` and
``model_<colour>_<Z>.npy``) or from a CSV table of the same content.
"""

import os

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

__all__ = ['read_bc03_track', 'TRACK_COLOURS']

#: Colours of a track and the HST bands they are made of.
TRACK_COLOURS = {'ub': 'F336W-F438W', 'vi': 'F555W-F814W', 'bv': 'F438W-F555W',
                 'nuvb': 'F275W-F438W', 'nuvu': 'F275W-F336W'}

_METALLICITIES = ('sol', 'sol5', 'sol50')


def _from_csv(path):
    raw = Table.read(path, format='ascii.csv', comment='#')
    out = QTable()
    age = [c for c in raw.colnames if c.lower().startswith('age')]
    if not age:
        msg = f'{path}: no age column (expected e.g. age_myr); columns are {raw.colnames}'
        raise ValueError(msg)
    out['age'] = np.asarray(raw[age[0]], dtype=float) * u.Myr
    for colour in TRACK_COLOURS:
        names = [c for c in raw.colnames if c.lower() == colour
                 or c.lower().startswith(colour + '_')]
        if names:
            out[colour] = np.asarray(raw[names[0]], dtype=float) * u.mag
    return out


def _from_npy(folder, metallicity):
    if metallicity not in _METALLICITIES:
        msg = f'metallicity must be one of {_METALLICITIES}, got {metallicity!r}'
        raise ValueError(msg)
    age_file = os.path.join(folder, f'age_mod_{metallicity}.npy')
    if not os.path.exists(age_file):
        msg = (f'{folder} holds no age_mod_{metallicity}.npy: not a folder of '
               f'PHANGS-HST BC03 tracks')
        raise FileNotFoundError(msg)
    out = QTable()
    out['age'] = np.load(age_file) * u.Myr
    for colour in TRACK_COLOURS:
        path = os.path.join(folder, f'model_{colour}_{metallicity}.npy')
        if os.path.exists(path):
            out[colour] = np.load(path) * u.mag
    return out


def read_bc03_track(path, *, metallicity='sol'):
    """
    Read a BC03 SSP colour track.

    Parameters
    ----------
    path : str or path-like
        Either a CSV file with an age column in Myr (``age_myr``) and colour
        columns named ``ub``, ``vi``, ... (optionally followed by ``_``
        and the bands, e.g. ``ub_F336W-F438W``), such as
        ``bc03_phangs/bc03_solar_hst_vega_colours.csv``; or the folder of
        PHANGS-HST ``.npy`` tracks (``age_mod_sol.npy``,
        ``model_ub_sol.npy``, ...).
    metallicity : {'sol', 'sol5', 'sol50'}, optional
        Which ``.npy`` track to read from a folder (solar, 1/5, 1/50).

    Returns
    -------
    track : `~astropy.table.QTable`
        ``age`` (Myr, increasing) and the colours found among ``ub``,
        ``vi``, ``bv``, ``nuvb``, ``nuvu`` (Vega mag, see
        :data:`TRACK_COLOURS`). ``ub`` and ``vi`` are always present.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file lacks the age or the U−B / V−I colours.

    Examples
    --------
    >>> from astro_clusterclass.compare import read_bc03_track
    >>> track = read_bc03_track('../shared/data/bc03_phangs/'
    ...                         'bc03_solar_hst_vega_colours.csv')  # doctest: +SKIP
    >>> track[0]['ub', 'vi']  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f'path {path!r} does not exist'
        raise FileNotFoundError(msg)
    track = _from_npy(path, metallicity) if os.path.isdir(path) else _from_csv(path)
    missing = [c for c in ('ub', 'vi') if c not in track.colnames]
    if missing:
        msg = f'{path}: the track lacks the colour(s) {missing}; columns are {track.colnames}'
        raise ValueError(msg)
    order = np.argsort(track['age'])
    track = track[order]
    track.meta['source'] = os.path.basename(os.path.normpath(path))
    track.meta['model'] = f'Bruzual & Charlot (2003) SSP, metallicity {metallicity!r}' \
        if os.path.isdir(path) else 'Bruzual & Charlot (2003) SSP'
    track.meta['magnitude_system'] = 'Vega'
    return track
