"""
Reader for Bruzual & Charlot (2003) SSP colour tracks (``format='bc03'``).

PHANGS-HST draws the BC03 simple-stellar-population track in its U−B vs
V−I diagrams (Whitmore et al. 2021, §5). `read_bc03_track` reads the
track in each form it comes in:

- the solar-metallicity track shipped with the package
  (``astro_clusterclass/data/bc03_solar_hst_vega.ecsv``, see its README),
  the default;
- the PHANGS-HST ``.npy`` files (``age_mod_<Z>.npy`` and
  ``model_<colour>_<Z>.npy``) in a folder;
- a CSV table of the same content (``age_myr``, ``ub``, ``vi``, ...).

It is registered with `astropy.io.registry`, so that
``QTable.read(path, format='bc03')`` works too (the format is never
guessed).
"""

import os

import numpy as np
from astropy import units as u
from astropy.io import registry
from astropy.table import QTable, Table
from astropy.utils.data import get_pkg_data_path

from .._utils.validation import check_choice

__all__ = ['read_bc03_track']

#: The solar track shipped with the package.
_SOLAR_TRACK = get_pkg_data_path('data', 'bc03_solar_hst_vega.ecsv', package='astro_clusterclass')

_METALLICITIES = ('sol', 'sol5', 'sol50')

#: Colour columns a track may have (their bands: `astro_clusterclass.compare.TRACK_COLORS`).
_COLORS = ('ub', 'vi', 'bv', 'nuvb', 'nuvu')

_MODEL = 'Bruzual & Charlot (2003) SSP'


def _from_ecsv(path):
    track = QTable.read(path, format='ascii.ecsv')
    if 'age' not in track.colnames:
        msg = f'{path}: no age column; columns are {track.colnames}'
        raise ValueError(msg)
    return track


def _from_csv(path):
    raw = Table.read(path, format='ascii.csv', comment='#')
    out = QTable()
    age = [c for c in raw.colnames if c.lower().startswith('age')]
    if not age:
        msg = f'{path}: no age column (expected e.g. age_myr); columns are {raw.colnames}'
        raise ValueError(msg)
    out['age'] = np.asarray(raw[age[0]], dtype=float) * u.Myr
    for color in _COLORS:
        names = [c for c in raw.colnames if c.lower() == color
                 or c.lower().startswith(color + '_')]
        if names:
            out[color] = np.asarray(raw[names[0]], dtype=float) * u.mag
    out.meta['model'] = _MODEL
    return out


def _from_npy(folder, metallicity):
    age_file = os.path.join(folder, f'age_mod_{metallicity}.npy')
    if not os.path.exists(age_file):
        msg = (f'{folder} holds no age_mod_{metallicity}.npy: not a folder of '
               f'PHANGS-HST BC03 tracks')
        raise FileNotFoundError(msg)
    out = QTable()
    out['age'] = np.load(age_file) * u.Myr
    for color in _COLORS:
        path = os.path.join(folder, f'model_{color}_{metallicity}.npy')
        if os.path.exists(path):
            out[color] = np.load(path) * u.mag
    out.meta['model'] = f'{_MODEL}, metallicity {metallicity!r}'
    return out


def read_bc03_track(path=None, *, metallicity='sol'):
    """
    Read a BC03 SSP colour track.

    Parameters
    ----------
    path : str or path-like, optional
        One of

        - None (default): the solar track shipped with the package
          (``age`` in yr, 1049 ages from 1 Myr to 13.75 Gyr);
        - an ECSV table with ``age`` and colour columns, such as the
          shipped one;
        - a CSV file with an age column in Myr (``age_myr``) and colour
          columns named ``ub``, ``vi``, ... (optionally followed by ``_``
          and the bands, e.g. ``ub_F336W-F438W``), such as
          ``bc03_phangs/bc03_solar_hst_vega_colours.csv``;
        - the folder of PHANGS-HST ``.npy`` tracks (``age_mod_sol.npy``,
          ``model_ub_sol.npy``, ...).
    metallicity : {'sol', 'sol5', 'sol50'}, optional
        Which ``.npy`` track to read from a folder (solar, 1/5, 1/50);
        the shipped track is solar only.

    Returns
    -------
    track : `~astropy.table.QTable`
        ``age`` (a time Quantity, increasing: yr in the shipped table,
        Myr from the PHANGS-HST files) and the colours found among
        ``ub``, ``vi``, ``bv``, ``nuvb``, ``nuvu`` (Vega mag, see
        `~astro_clusterclass.compare.TRACK_COLORS`). ``ub`` and ``vi``
        are always present. ``meta`` gives ``file`` (the file or folder
        read), ``model`` and ``magnitude_system``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or a folder holds no track of that
        metallicity.
    ValueError
        If the file lacks the age or the U−B / V−I colours, or
        ``metallicity`` is unknown.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.io import read_bc03_track
    >>> track = read_bc03_track()
    >>> len(track), track.meta['file'], track['age'].unit
    (1049, 'bc03_solar_hst_vega.ecsv', Unit("yr"))
    >>> QTable.read('bc03_phangs/bc03_solar_hst_vega_colours.csv',
    ...             format='bc03')  # doctest: +SKIP
    """
    check_choice(metallicity, _METALLICITIES, 'metallicity')
    if path is None:
        if metallicity != 'sol':
            msg = (f"metallicity={metallicity!r}: only the solar track ('sol') is shipped; "
                   f'pass the folder of PHANGS-HST .npy tracks as path')
            raise ValueError(msg)
        path = _SOLAR_TRACK
    if not isinstance(path, (str, os.PathLike)):
        msg = f'path must be a file or folder name, got {type(path).__name__}'
        raise TypeError(msg)
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f'path {path!r} does not exist'
        raise FileNotFoundError(msg)
    if os.path.isdir(path):
        track = _from_npy(path, metallicity)
    elif path.lower().endswith('.ecsv'):
        track = _from_ecsv(path)
    else:
        track = _from_csv(path)
    missing = [c for c in ('ub', 'vi') if c not in track.colnames]
    if missing:
        msg = f'{path}: the track lacks the colour(s) {missing}; columns are {track.colnames}'
        raise ValueError(msg)
    track = track[np.argsort(track['age'])]
    track.meta['file'] = os.path.basename(os.path.normpath(path))
    track.meta.setdefault('model', _MODEL)
    track.meta['magnitude_system'] = 'Vega'
    return track


def _register():
    # Registered for Table only, as the LEGUS reader (QTable inherits it).
    if 'bc03' not in registry.get_formats(Table)['Format']:
        registry.register_reader('bc03', Table, read_bc03_track)


_register()
