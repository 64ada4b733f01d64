"""
Photometry of simulated sources: BC03 colours, luminosity, reddening, zeropoints.

Everything here is a documented approximation; `docs/simulations.rst` lists
the sources and accuracies:

* Colours: the Bruzual & Charlot (2003) solar-metallicity SSP track in HST
  Vega magnitudes (``astro_clusterclass/data/bc03_solar_hst_vega.ecsv``,
  read by `~astro_clusterclass.io.read_bc03_track`, made by
  ``scripts/make_bc03_table.py`` from the PHANGS-HST track files).
* Luminosity: the shared track has colours only, so the V-band mass-to-light
  ratio is approximated by a power law, ``M/L_V = 3.0 (t / 13.75 Gyr)^0.69``
  for ``t >= 10 Myr`` and constant below (see `mass_to_light_v`).
* Reddening: Fitzpatrick (1999), R_V = 3.1, at each band's pivot wavelength.
* Zeropoints and exposure times: PHANGS-HST NGC 3351 (WFC3/UVIS),
  ``astro_clusterclass/data/hst_wfc3_uvis_ngc3351.ecsv``.
"""

import functools

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.utils.data import get_pkg_data_path

from ..io import read_bc03_track

__all__ = ['bc03_track', 'default_photometry', 'ssp_colors',
           'mass_to_light_v', 'absolute_magnitudes',
           'apparent_magnitudes', 'mag_to_rate', 'rate_to_mag', 'SOLAR_MV',
           'ML_V_OLD', 'ML_V_SLOPE', 'ML_V_YOUNG_AGE', 'TRACK_MAX_AGE',
           'colors_to_magnitudes']

#: Absolute V magnitude of the Sun (Vega system; Willmer 2018, ApJS 236, 47).
SOLAR_MV = 4.81

#: V-band stellar mass-to-light ratio (solar units) of a 13.75 Gyr solar-
#: metallicity SSP with a Chabrier IMF, the normalisation of
#: `mass_to_light_v` (BC03 gives about 3 at 10-14 Gyr).
ML_V_OLD = 3.0

#: Exponent of the fading law L_V ∝ t^-0.69 at fixed mass, the fit to BC03
#: used by Fall, Chandar & Whitmore (2005, ApJ 631, L133) for 10 Myr - 1 Gyr.
ML_V_SLOPE = 0.69

#: Below this age the V luminosity per unit mass is taken as constant.
ML_V_YOUNG_AGE = 1e7 * u.yr

#: Oldest age of the BC03 track.
TRACK_MAX_AGE = 13.75e9 * u.yr


#: The photometric keywords of the simulated bands, shipped with the package.
_PHOTOMETRY_FILE = get_pkg_data_path('data', 'hst_wfc3_uvis_ngc3351.ecsv',
                                     package='astro_clusterclass')


@functools.lru_cache(maxsize=None)
def _solar_track():
    return read_bc03_track()


@functools.lru_cache(maxsize=None)
def _photometry():
    return QTable.read(_PHOTOMETRY_FILE, format='ascii.ecsv')


def bc03_track():
    """
    The Bruzual & Charlot (2003) solar SSP colour track shipped with the package.

    The same as `~astro_clusterclass.io.read_bc03_track` without a file,
    read once per session.

    Returns
    -------
    track : `~astropy.table.QTable`
        ``age`` (yr, 1 Myr - 13.75 Gyr, increasing) and the Vega colours
        ``ub`` (F336W−F438W), ``vi`` (F555W−F814W), ``bv`` (F438W−F555W),
        ``nuvb`` (F275W−F438W), ``nuvu`` (F275W−F336W), in mag.
        ``meta`` names the model, the files it was made from and the
        shipped ``file``.

    Examples
    --------
    >>> from astro_clusterclass.datasets import bc03_track
    >>> track = bc03_track()
    >>> track[0]['ub', 'vi']  # doctest: +FLOAT_CMP
    <Row index=0>
       ub       vi
      mag      mag
    float64  float64
    -------- --------
    -1.65012 -0.33222
    """
    return _solar_track().copy()


def default_photometry():
    """
    Photometric keywords of the five simulated bands (PHANGS-HST NGC 3351).

    Returns
    -------
    phot : `~astropy.table.QTable`
        One row per band in :data:`~astro_clusterclass.bands.BANDS` order:
        ``band``, ``detector``, ``photflam``, ``photplam`` (pivot wavelength),
        ``zp_vega`` (Vega zeropoint, mag for 1 e-/s), ``exptime``, ``nexp``
        (number of exposures) and ``r_ext`` (A_band / E(B−V), Fitzpatrick
        1999, R_V = 3.1; ``r_ext_ccm89`` gives Cardelli et al. 1989 for
        comparison).

    Examples
    --------
    >>> from astro_clusterclass.datasets import default_photometry
    >>> phot = default_photometry()
    >>> phot['band'].tolist()
    ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    >>> phot['zp_vega'][3]
    <Quantity 25.8325 mag>
    """
    return _photometry().copy()


def _as_years(age, parameter='age'):
    if not isinstance(age, u.Quantity):
        msg = f'{parameter} must be a Quantity with time units (e.g. 1e7 * u.yr)'
        raise TypeError(msg)
    values = np.atleast_1d(age.to_value(u.yr)).astype(float)
    if np.any(~np.isfinite(values) | (values <= 0)):
        msg = f'{parameter} must be positive and finite'
        raise ValueError(msg)
    return values


def ssp_colors(age):
    """
    BC03 solar SSP colours at the given ages (linear in log age).

    Ages outside the track (1 Myr - 13.75 Gyr) take the colours of its ends.

    Parameters
    ----------
    age : `~astropy.units.Quantity`
        Ages (time units).

    Returns
    -------
    colors : dict
        ``'ub'``, ``'vi'``, ``'bv'``, ``'nuvb'``, ``'nuvu'`` → float arrays (mag).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass.datasets._photometry import ssp_colors
    >>> c = ssp_colors([1e6, 1e8] * u.yr)
    >>> c['ub'].round(2).tolist(), c['vi'].round(2).tolist()
    ([-1.65, -0.59], [-0.33, 0.45])
    """
    years = _as_years(age)
    track = _solar_track()
    logt = np.log10(track['age'].to_value(u.yr))
    x = np.log10(years)
    return {name: np.interp(x, logt, track[name].to_value(u.mag))
            for name in ('ub', 'vi', 'bv', 'nuvb', 'nuvu')}


def mass_to_light_v(age):
    """
    Approximate V-band stellar mass-to-light ratio of a solar SSP (Chabrier IMF).

    ``M/L_V = ML_V_OLD * (t / 13.75 Gyr) ** 0.69`` for ``t >= 10 Myr``, and
    the 10 Myr value (≈ 0.0205) at younger ages. The power law is the BC03
    fading law quoted by Fall, Chandar & Whitmore (2005) for 10 Myr - 1 Gyr,
    extended to 13.75 Gyr and normalised to M/L_V = 3.0 there. Compared
    with the BC03 tables it is good to roughly ±0.3 mag in M_V from 10 Myr
    to 13 Gyr; below 10 Myr it ignores the Wolf-Rayet and red-supergiant
    excursions (up to ~0.5 mag). This is the one ingredient not taken from
    the shared BC03 colour track, which has no luminosities.

    Parameters
    ----------
    age : `~astropy.units.Quantity`

    Returns
    -------
    ml : `~numpy.ndarray`
        Mass-to-light ratio in solar units.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass.datasets._photometry import mass_to_light_v
    >>> mass_to_light_v([1e6, 1e7, 1e9, 13.75e9] * u.yr).round(4).tolist()
    [0.0205, 0.0205, 0.4917, 3.0]
    """
    years = _as_years(age)
    t = np.maximum(years, ML_V_YOUNG_AGE.to_value(u.yr))
    return ML_V_OLD * (t / TRACK_MAX_AGE.to_value(u.yr)) ** ML_V_SLOPE


def absolute_magnitudes(age, mass):
    """
    Absolute Vega magnitudes of SSPs in the five bands.

    M(F555W) is taken as Johnson M_V from `mass_to_light_v` (the F555W − V
    difference of young and old SSPs is a few hundredths of a magnitude);
    the other bands follow from the BC03 colours:
    B = V + (B−V), U = B + (U−B), NUV = U + (NUV−U), I = V − (V−I).

    Parameters
    ----------
    age : `~astropy.units.Quantity`
    mass : `~astropy.units.Quantity`
        Stellar masses (mass units), same shape as ``age``.

    Returns
    -------
    mags : `~numpy.ndarray`
        ``(N, 5)`` absolute magnitudes in :data:`~astro_clusterclass.bands.BANDS`
        order.
    """
    years = _as_years(age)
    if not isinstance(mass, u.Quantity):
        msg = 'mass must be a Quantity with mass units (e.g. 1e4 * u.solMass)'
        raise TypeError(msg)
    msun = np.atleast_1d(mass.to_value(u.solMass)).astype(float)
    if np.any(~np.isfinite(msun) | (msun <= 0)):
        msg = 'mass must be positive and finite'
        raise ValueError(msg)
    mv = SOLAR_MV + 2.5 * np.log10(mass_to_light_v(years * u.yr)) - 2.5 * np.log10(msun)
    return colors_to_magnitudes(mv, ssp_colors(years * u.yr))


def colors_to_magnitudes(v, colors):
    """(N, 5) magnitudes from V (F555W) and a dict of colours (see `ssp_colors`)."""
    v = np.broadcast_to(np.asarray(v, dtype=float), np.shape(colors['bv']))
    b = v + colors['bv']
    uu = b + colors['ub']
    nuv = uu + colors['nuvu']
    i = v - colors['vi']
    return np.stack([nuv, uu, b, v, i], axis=-1)


def apparent_magnitudes(absolute, ebv, dmod, *, photometry=None):
    """
    Apparent Vega magnitudes: absolute + distance modulus + R_band E(B−V).

    Parameters
    ----------
    absolute : array-like
        ``(N, 5)`` absolute magnitudes.
    ebv : array-like
        ``(N,)`` colour excesses E(B−V) in mag.
    dmod : float
        Distance modulus.
    photometry : `~astropy.table.QTable`, optional
        Band table with an ``r_ext`` column (default `default_photometry`).
    """
    phot = default_photometry() if photometry is None else photometry
    r_ext = np.asarray(phot['r_ext'], dtype=float)
    ebv = np.asarray(ebv, dtype=float)
    return np.asarray(absolute, dtype=float) + dmod + ebv[:, None] * r_ext[None, :]


def mag_to_rate(mag, zp_vega):
    """Count rate (e-/s) of a Vega magnitude for a zeropoint (mag of 1 e-/s)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - zp_vega))


def rate_to_mag(rate, zp_vega):
    """Vega magnitude of a count rate (e-/s); NaN for non-positive rates."""
    rate = np.asarray(rate, dtype=float)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(rate > 0, zp_vega - 2.5 * np.log10(rate), np.nan)
