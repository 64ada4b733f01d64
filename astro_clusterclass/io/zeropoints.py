"""
Reader for PHANGS-HST zeropoint tables (``format='phangs_zeropoints'``).

PHANGS-HST publishes the photometric keywords of each galaxy's five bands
in ``header_info_<galaxy>_prime.txt`` (one row per filter). The reader is
registered with `astropy.io.registry`, so that
``QTable.read(path, format='phangs_zeropoints')`` works too (the format
is never guessed).
"""

import os

import numpy as np
from astropy import units as u
from astropy.io import registry
from astropy.table import QTable, Table

from ..bands import normalize_band

__all__ = ['read_phangs_zeropoints']


def read_phangs_zeropoints(path):
    """
    Read a PHANGS-HST ``header_info_<galaxy>_prime.txt`` file.

    Parameters
    ----------
    path : str or path-like
        The file (whitespace-separated, one row per filter, header line
        starting with ``#``).

    Returns
    -------
    table : `~astropy.table.QTable`
        ``filter``, ``band`` (slot, see `~astro_clusterclass.bands`),
        ``detector``, ``photflam``, ``photplam``, ``photfnu``, ``zp_ab``,
        ``zp_vega`` (mag), ``exptime`` (s). ``dict(zip(t['band'],
        t['zp_vega'].value))`` gives the ``zeropoints`` argument of
        `~astro_clusterclass.photometry.candidate_photometry`.
        ``meta['file']`` is the file read.

    Raises
    ------
    ValueError
        If the file lacks the filter, PHOTFLAM, PHOTPLAM or zeropoint
        columns.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.io import read_phangs_zeropoints
    >>> path = os.path.join(tempfile.mkdtemp(), 'header_info_ngc1566_prime.txt')
    >>> with open(path, 'w') as fh:
    ...     _ = fh.write('#filter photflam photplam zpab zpvega\\n'
    ...                  'F555W 1.87653e-19 5308.23 25.7839 25.7188\\n')
    >>> zp = read_phangs_zeropoints(path)
    >>> zp['band'][0], zp['zp_vega'][0]
    (np.str_('F555W'), <Quantity 25.7188 mag>)
    """
    raw = Table.read(path, format='ascii.basic', delimiter=r'\s', guess=False,
                     header_start=0, data_start=1, comment='##')
    names = [n.lstrip('#').lower() for n in raw.colnames]
    raw.rename_columns(raw.colnames, names)
    required = ('filter', 'photflam', 'photplam', 'zpab', 'zpvega')
    missing = [n for n in required if n not in names]
    if missing:
        msg = f'{path}: not a PHANGS-HST header_info file, missing columns {missing}'
        raise ValueError(msg)
    out = QTable()
    out['filter'] = [str(f).upper() for f in raw['filter']]
    out['band'] = [normalize_band(f, parameter='filter') for f in out['filter']]
    if 'detector' in names:
        out['detector'] = raw['detector']
    out['photflam'] = np.asarray(raw['photflam'], float)
    out['photplam'] = np.asarray(raw['photplam'], float) * u.AA
    if 'photfnu' in names:
        out['photfnu'] = np.asarray(raw['photfnu'], float)
    out['zp_ab'] = np.asarray(raw['zpab'], float) * u.mag
    out['zp_vega'] = np.asarray(raw['zpvega'], float) * u.mag
    if 'exptime' in names:
        out['exptime'] = np.asarray(raw['exptime'], float) * u.s
    out.meta['file'] = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    return out


def _register():
    if 'phangs_zeropoints' not in registry.get_formats(Table)['Format']:
        registry.register_reader('phangs_zeropoints', Table, read_phangs_zeropoints)


_register()
