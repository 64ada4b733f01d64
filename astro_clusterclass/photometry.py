"""
Candidate photometry with photutils, and candidate selection.

`candidate_photometry` measures every candidate of a table at once: one
`photutils.aperture.aperture_photometry` call per band with all positions
and all radii, and one `photutils.aperture.ApertureStats` call per band for
the local background (median in a 7-8 px annulus, Whitmore et al. 2021
§4.4). From the aperture magnitudes it derives the concentration index
CI = m(1 px) − m(3 px) in F555W (§3.2) and the multiple concentration
indices (MCI) between successive apertures of radius 1-5 px (seven by
default, as in PHANGS-HST). `select_candidates` applies the cuts (CI, MCI,
absolute magnitude, number of bands), all of them parameters since the
exact PHANGS-HST thresholds are unpublished. PHANGS-HST zeropoint tables
are read by `astro_clusterclass.io.read_phangs_zeropoints`.

Pixel convention: positions are 0-based with pixel centres at integers,
the photutils convention, so catalogue positions go straight into the
apertures. Images are expected in count rates (e.g. e-/s, the unit of HST
drizzled images) when magnitudes are computed from PHOTFLAM.
"""

import numpy as np
from astropy import units as u
from astropy.table import QTable
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)

from ._utils.columns import column_values
from ._utils.distance import distance_modulus as _modulus
from ._utils.flags import FlagBase
from ._utils.validation import check_choice, positive_float
from .bands import BANDS, normalize_band
from .images import load_images
from .tables import check_table, pixel_positions, provenance

__all__ = ['MCI_RADII', 'PhotFlag', 'SelectionFlag', 'candidate_photometry',
           'select_candidates', 'radius_label', 'zeropoints_from_photflam']

#: Radii (pixels) of the seven apertures used for the concentration indices.
MCI_RADII = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)

#: Inner and outer radius (pixels) of the local-background annulus.
BACKGROUND_ANNULUS = (7.0, 8.0)

#: Aperture radius (pixels) of the LEGUS photometry.
PHOTOMETRY_RADIUS = 4.0


class PhotFlag(FlagBase):
    """
    Bit flags of `candidate_photometry` (column ``phot_flag``).

    Examples
    --------
    >>> from astro_clusterclass.photometry import PhotFlag
    >>> PhotFlag.describe(PhotFlag.EDGE | PhotFlag.NONPOSITIVE)
    'EDGE|NONPOSITIVE'
    >>> [flag.name for flag in PhotFlag]
    ['EDGE', 'OFF_IMAGE', 'NONFINITE', 'NONPOSITIVE']
    >>> PhotFlag.EDGE.description
    'The background annulus or an aperture runs off the image.'
    """

    NONE = 0, 'All measurements are fine.'
    EDGE = 1, 'The background annulus or an aperture runs off the image.'
    OFF_IMAGE = 2, ('The position is undefined or its centre lies outside the image; '
                    'all measurements are NaN.')
    NONFINITE = 4, ('Non-finite pixels inside the background annulus or an aperture '
                    '(they are left out of the sums and the median).')
    NONPOSITIVE = 8, ('A background-subtracted flux is zero or negative, so its magnitude '
                      '(and any index using it) is undefined.')


class SelectionFlag(FlagBase):
    """
    Why `select_candidates` rejected a candidate (column ``selection_flag``).

    Examples
    --------
    >>> from astro_clusterclass.photometry import SelectionFlag
    >>> SelectionFlag.describe(SelectionFlag.CI_LOW | SelectionFlag.FAINT)
    'CI_LOW|FAINT'
    >>> [flag.name for flag in SelectionFlag]
    ['CI_LOW', 'CI_HIGH', 'FAINT', 'FEW_BANDS', 'MCI']
    >>> SelectionFlag.decode([0, 12])
    [[], ['FAINT', 'FEW_BANDS']]
    """

    NONE = 0, 'The candidate passed every cut.'
    CI_LOW = 1, 'CI below ``ci_min`` (star-like) or undefined.'
    CI_HIGH = 2, 'CI above ``ci_max``.'
    FAINT = 4, 'Fainter than the magnitude limit, or no V magnitude.'
    FEW_BANDS = 8, 'Detected in fewer than ``min_bands`` bands.'
    MCI = 16, 'Outside an MCI range of ``mci_limits`` (or the index is undefined).'


def radius_label(radius):
    """
    Column-name form of an aperture radius: ``1`` → ``'r1'``, ``1.5`` → ``'r1p5'``.

    Examples
    --------
    >>> from astro_clusterclass.photometry import radius_label
    >>> radius_label(1.0), radius_label(2.5)
    ('r1', 'r2p5')
    """
    return 'r' + f'{float(radius):g}'.replace('.', 'p')


def zeropoints_from_photflam(images, *, system='AB'):
    """
    AB or ST magnitude zeropoints from the images' PHOTFLAM/PHOTPLAM.

    ST: −2.5 log10(PHOTFLAM) − 21.10; AB: ST − 5 log10(PHOTPLAM) + 18.692
    (i.e. −2.5 log10(PHOTFLAM) − 5 log10(PHOTPLAM) − 2.408), for images in
    count rates.

    Parameters
    ----------
    images : `~astro_clusterclass.images.BandImages` or input of `~astro_clusterclass.load_images`
        Images whose headers carry PHOTFLAM (and PHOTPLAM for AB).
    system : {'AB', 'ST'}
        Magnitude system.

    Returns
    -------
    zeropoints : dict
        Band → zeropoint (mag of one count per second).

    Raises
    ------
    ValueError
        If a keyword is missing, or a band's BUNIT is not a rate.

    Examples
    --------
    The PHANGS-HST NGC 1566 F555W keywords give its tabulated AB zeropoint
    25.7839:

    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astro_clusterclass.photometry import zeropoints_from_photflam
    >>> hdus = []
    >>> for band, flam, plam in [('F275W', 3.30597e-18, 2706.95), ('F336W', 1.31683e-18, 3354.87),
    ...                          ('F438W', 6.91139e-19, 4325.93), ('F555W', 1.87653e-19, 5308.23),
    ...                          ('F814W', 1.53048e-19, 8026.81)]:
    ...     hdu = fits.ImageHDU(np.zeros((4, 4), np.float32))
    ...     hdu.header.update(FILTER=band, PHOTFLAM=flam, PHOTPLAM=plam)
    ...     hdus.append(hdu)
    >>> round(float(zeropoints_from_photflam(hdus)['F555W']), 3)
    25.784
    """
    check_choice(system, ('AB', 'ST'), 'system')
    images = load_images(images)
    zeropoints = {}
    for band in BANDS:
        meta = images.meta.get(band, {})
        needed = ('PHOTFLAM', 'PHOTPLAM') if system == 'AB' else ('PHOTFLAM',)
        missing = [k for k in needed if k not in meta]
        if missing:
            msg = (f'band {band}: header lacks {missing}, needed for {system} '
                   f'zeropoints; pass zeropoints={{band: value}} instead')
            raise ValueError(msg)
        bunit = str(meta.get('BUNIT', '')).upper()
        if bunit and '/S' not in bunit:
            msg = (f'band {band}: BUNIT={bunit!r} is not a count rate; PHOTFLAM '
                   f'zeropoints apply to images in counts per second')
            raise ValueError(msg)
        st = -2.5 * np.log10(float(meta['PHOTFLAM'])) - 21.10
        if system == 'ST':
            zeropoints[band] = st
        else:
            zeropoints[band] = st - 5 * np.log10(float(meta['PHOTPLAM'])) + 18.692
    return zeropoints


def _zeropoints(zeropoints, images, bands):
    if zeropoints is None:
        return dict.fromkeys(bands, 0.0), 'instrumental (zeropoint 0)'
    if isinstance(zeropoints, str):
        return zeropoints_from_photflam(images, system=zeropoints.upper()), zeropoints.upper()
    try:
        given = {normalize_band(k, parameter='zeropoints key'): v
                 for k, v in dict(zeropoints).items()}
    except (TypeError, ValueError) as exc:
        msg = ("zeropoints must be None, 'AB', 'ST' or a mapping band → zeropoint "
               f'(mag); got {zeropoints!r}')
        raise TypeError(msg) from exc
    missing = [b for b in bands if b not in given]
    if missing:
        msg = f'zeropoints lacks band(s) {missing}'
        raise ValueError(msg)
    values = {b: float(u.Quantity(given[b], u.mag).value) for b in bands}
    return values, 'given zeropoints'


def _check_radii(radii, annulus, mag_radius):
    radii = tuple(sorted(float(r) for r in radii))
    if len(radii) < 2 or radii[0] <= 0 or len(set(radii)) != len(radii):
        msg = f'radii must be two or more different positive radii, got {radii!r}'
        raise ValueError(msg)
    if 1.0 not in radii or 3.0 not in radii:
        msg = f'radii must include 1 and 3 px for CI = m(1) - m(3), got {radii!r}'
        raise ValueError(msg)
    inner, outer = (float(a) for a in annulus)
    if not 0 < inner < outer:
        msg = f'annulus must be (inner, outer) radii with 0 < inner < outer, got {annulus!r}'
        raise ValueError(msg)
    mag_radius = positive_float(mag_radius, 'mag_radius')
    return radii, (inner, outer), mag_radius


def _to_magnitudes(flux, zeropoint):
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(flux > 0, -2.5 * np.log10(np.where(flux > 0, flux, 1.0)) + zeropoint,
                        np.nan)


def _position_flags(x, y, shape, reach):
    """`PhotFlag` bits from the positions alone (OFF_IMAGE, EDGE) and the rows inside."""
    ny, nx = shape
    inside = (np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < nx - 0.5)
              & (y >= -0.5) & (y < ny - 0.5))
    flags = np.where(inside, PhotFlag.NONE, PhotFlag.OFF_IMAGE).astype(np.uint8)
    edge = inside & ((x - reach < -0.5) | (y - reach < -0.5)
                     | (x + reach > nx - 0.5) | (y + reach > ny - 0.5))
    flags[edge] |= np.uint8(PhotFlag.EDGE)
    return flags, np.flatnonzero(inside)


def _band_photometry(data, positions, rows, n, radii, *, annulus, reach, method):
    """
    Background-subtracted aperture sums and local background of one band.

    ``positions`` are the ``(len(rows), 2)`` pixel positions of the rows
    ``rows`` (of ``n``) that lie on the image; the other rows get NaN.

    Returns
    -------
    flux : `~numpy.ndarray`
        ``(n, len(radii))`` aperture sums minus background × aperture area.
    background : `~numpy.ndarray`
        ``(n,)`` median per pixel in the annulus.
    nonfinite : `~numpy.ndarray`
        ``(n,)`` bool: non-finite pixels in the annulus or within ``reach``.
    """
    sums = np.full((n, len(radii)), np.nan)
    background = np.full(n, np.nan)
    nonfinite = np.zeros(n, dtype=bool)
    if len(rows):
        finite = np.isfinite(data)
        mask = None if finite.all() else ~finite
        apertures = [CircularAperture(positions, r=r) for r in radii]
        phot = aperture_photometry(data, apertures, mask=mask, method=method)
        for j in range(len(radii)):
            sums[rows, j] = np.asarray(phot[f'aperture_sum_{j}'], dtype=float)
        ring = CircularAnnulus(positions, r_in=annulus[0], r_out=annulus[1])
        background[rows] = np.asarray(ApertureStats(data, ring, mask=mask).median, dtype=float)
        if mask is not None:
            bad = aperture_photometry(mask.astype(np.float32),
                                      [ring, CircularAperture(positions, r=reach)],
                                      method='center')
            nonfinite[rows] = ((np.asarray(bad['aperture_sum_0']) > 0)
                               | (np.asarray(bad['aperture_sum_1']) > 0))
    areas = np.pi * np.asarray(radii) ** 2
    return sums - background[:, None] * areas, background, nonfinite


def candidate_photometry(tbl, images, *, radii=MCI_RADII, radii_bands=('F555W',),
                         mag_radius=PHOTOMETRY_RADIUS, annulus=BACKGROUND_ANNULUS,
                         zeropoints=None, aperture_correction=None, ci_band='F555W',
                         columns=None, prefix='', method='exact'):
    """
    Aperture photometry, local background and concentration indices.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidate table with 0-based pixel positions (or sky positions,
        converted with the images' WCS). Not modified.
    images : `~astro_clusterclass.images.BandImages` or input of `~astro_clusterclass.load_images`
        The five aligned bands.
    radii : sequence of float, optional
        Aperture radii (pixels) for the concentration indices; must
        include 1 and 3. Default :data:`MCI_RADII` (1-5 px, seven).
    radii_bands : sequence of str, optional
        Bands measured at every radius; the others are measured at
        ``mag_radius`` only (which is much faster). ``BANDS`` measures
        all bands at all radii.
    mag_radius : float, optional
        Radius (pixels) of the magnitudes ``mag_<band>`` (LEGUS: 4 px).
    annulus : (float, float), optional
        Inner and outer radius (pixels) of the background annulus; the
        local background is the median of the pixels whose centres lie in
        it (photutils `~photutils.aperture.ApertureStats`).
    zeropoints : None, 'AB', 'ST' or mapping, optional
        None gives instrumental magnitudes (zeropoint 0); ``'AB'``/``'ST'``
        use each band's PHOTFLAM (and PHOTPLAM), see
        `zeropoints_from_photflam`; a mapping band → zeropoint gives e.g.
        Vega magnitudes (see `~astro_clusterclass.io.read_phangs_zeropoints`).
    aperture_correction : mapping, optional
        Band → correction (mag, negative: the total is brighter) added to
        ``mag_<band>`` only.
    ci_band : str, optional
        Band of the concentration indices (F555W).
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`.
    prefix : str, optional
        Prepended to every new column name (use it when the table already
        has columns such as ``mag_F555W`` or ``ci``).
    method : {'exact', 'center', 'subpixel'}, optional
        photutils overlap method of the apertures.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy of ``tbl``, every row kept, with (all prefixed):

        - ``bkg_<band>`` -- local background per pixel (image units)
        - ``flux_<band>_r<r>`` -- background-subtracted aperture sums
          (``r1p5`` for 1.5 px) for the measured radii
        - ``mag_<band>_r<r>`` -- their magnitudes (NaN where flux <= 0)
        - ``mag_<band>`` -- magnitude in ``mag_radius`` plus the aperture
          correction (mag)
        - ``ci`` -- m(1 px) − m(3 px) in ``ci_band`` (mag)
        - ``mci_<r1>_<r2>`` -- m(r1) − m(r2) in ``ci_band`` for successive
          radii (mag)
        - ``phot_flag`` -- `PhotFlag` bits

        ``meta['photometry']`` records the radii, annulus, magnitude
        system and zeropoints.

    Raises
    ------
    ValueError
        On bad radii, annulus, zeropoints or bands, or when a new column
        name already exists (the message suggests ``prefix``).

    Examples
    --------
    A Gaussian source of total flux 1000 on a flat background of 5:

    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.photometry import candidate_photometry
    >>> yy, xx = np.mgrid[:64, :64]
    >>> image = 5 + 1000 * np.exp(-((xx - 30) ** 2 + (yy - 32) ** 2) / 4.5) / (4.5 * np.pi)
    >>> bands = ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    >>> phot = candidate_photometry(QTable({'x': [30.0], 'y': [32.0]}),
    ...                             dict.fromkeys(bands, image),
    ...                             zeropoints=dict.fromkeys(bands, 25.0))
    >>> round(float(phot['bkg_F555W'][0]), 2)
    5.0
    >>> round(float(phot['mag_F555W'][0].value), 2)  # 25 - 2.5 log10(1000 (1 - exp(-16 / 4.5)))
    17.54
    >>> round(float(phot['ci'][0].value), 2)  # 1.59 for an unsampled Gaussian
    1.64
    """
    check_table(tbl)
    images = load_images(images)
    radii, annulus, mag_radius = _check_radii(radii, annulus, mag_radius)
    ci_band = normalize_band(ci_band, parameter='ci_band')
    radii_bands = {normalize_band(b, parameter='radii_bands') for b in radii_bands}
    radii_bands.add(ci_band)
    zp, system = _zeropoints(zeropoints, images, BANDS)
    corrections = {normalize_band(k, parameter='aperture_correction key'): float(v)
                   for k, v in dict(aperture_correction or {}).items()}

    n = len(tbl)
    x, y = pixel_positions(tbl, wcs=images.wcs, columns=columns) if n \
        else (np.array([]), np.array([]))
    reach = max(annulus[1], max(radii), mag_radius)
    flags, rows = _position_flags(x, y, images.shape, reach)
    positions = np.column_stack([x[rows], y[rows]])

    new = {}
    for band, data in zip(BANDS, images.data):
        band_radii = sorted(set(radii) | {mag_radius}) if band in radii_bands else [mag_radius]
        flux, bkg, nonfinite = _band_photometry(data, positions, rows, n, band_radii,
                                                annulus=annulus, reach=reach, method=method)
        flags[nonfinite] |= np.uint8(PhotFlag.NONFINITE)
        new[f'bkg_{band}'] = bkg
        mags = _to_magnitudes(flux, zp[band])
        nonpositive = np.any(np.isfinite(flux) & (flux <= 0), axis=1)
        flags[nonpositive] |= np.uint8(PhotFlag.NONPOSITIVE)
        for j, r in enumerate(band_radii):
            if band in radii_bands and r in radii:
                new[f'flux_{band}_{radius_label(r)}'] = flux[:, j]
                new[f'mag_{band}_{radius_label(r)}'] = mags[:, j] * u.mag
        j = band_radii.index(mag_radius)
        if band not in radii_bands or mag_radius not in radii:
            new[f'flux_{band}_{radius_label(mag_radius)}'] = flux[:, j]
            new[f'mag_{band}_{radius_label(mag_radius)}'] = mags[:, j] * u.mag
        new[f'mag_{band}'] = (mags[:, j] + corrections.get(band, 0.0)) * u.mag
    m = {r: new[f'mag_{ci_band}_{radius_label(r)}'] for r in radii}
    new['ci'] = m[1.0] - m[3.0]
    for r1, r2 in zip(radii[:-1], radii[1:]):
        new[f'mci_{radius_label(r1)[1:]}_{radius_label(r2)[1:]}'] = m[r1] - m[r2]
    new['phot_flag'] = flags

    clash = [prefix + name for name in new if prefix + name in tbl.colnames]
    if clash:
        msg = (f'tbl already has column(s) {clash[:5]}; pass prefix= (e.g. '
               f"prefix='phot_') to keep both")
        raise ValueError(msg)
    out = QTable(tbl, copy=True)
    for name, values in new.items():
        out[prefix + name] = values
    out.meta['photometry'] = provenance('candidate_photometry', {
        'radii': radii, 'radii_bands': tuple(sorted(radii_bands)), 'mag_radius': mag_radius,
        'annulus': annulus, 'ci_band': ci_band, 'method': method, 'prefix': prefix})
    out.meta['photometry']['magnitude_system'] = system
    out.meta['photometry']['zeropoints'] = {b: float(v) for b, v in zp.items()}
    out.meta['photometry']['aperture_correction'] = corrections
    out.meta['photometry']['pixel_origin'] = '0-based, pixel centres at integers'
    return out


def select_candidates(tbl, *, ci_min=1.4, ci_max=None, ci_column='ci', v_column='mag_F555W',
                      distance_modulus=None, abs_mag_limit=-6.0, mag_limit=None,
                      min_bands=4, band_columns=None, max_magerr=None, mci_limits=None):
    """
    Apply candidate-selection cuts, flagging every row.

    The LEGUS defaults: CI >= 1.4 mag, detected in at least four bands and
    M_V <= −6 (Adamo et al. 2017); PHANGS-HST adds cuts on the multiple
    concentration indices, whose thresholds are parameters here.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with CI, magnitudes and (for ``mci_limits``) MCI columns,
        e.g. the output of `candidate_photometry` or a LEGUS catalogue.
    ci_min, ci_max : float or None, optional
        Range of the concentration index (None: no limit).
    ci_column : str, optional
        CI column.
    v_column : str, optional
        Apparent V magnitude column.
    distance_modulus : float or Quantity, optional
        With ``abs_mag_limit``: keep M_V = V − distance_modulus <= limit.
    abs_mag_limit : float, optional
        Absolute-magnitude limit (used when ``distance_modulus`` is given).
    mag_limit : float, optional
        Apparent-magnitude limit V <= mag_limit (instead of, or besides,
        the absolute one).
    min_bands : int, optional
        Minimum number of bands with a finite magnitude.
    band_columns : sequence of str, optional
        Magnitude columns counted for ``min_bands`` (default
        ``mag_<band>`` of the five bands that exist in the table).
    max_magerr : float, optional
        A band counts only if its error column (``magerr_<band>``, or the
        magnitude column name with ``mag`` → ``magerr``) is below this.
    mci_limits : mapping, optional
        Column → (low, high) inclusive limits (None for open ends), e.g.
        ``{'mci_1_1p5': (0.4, None)}``.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy with ``selected`` (bool), ``selection_flag`` (`SelectionFlag`
        bits saying which cuts failed) and ``n_bands``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.photometry import select_candidates, SelectionFlag
    >>> tbl = QTable({'ci': [1.2, 1.6, 1.8], 'mag_F555W': [22.0, 22.0, 26.0]})
    >>> sel = select_candidates(tbl, distance_modulus=30.0, min_bands=1)
    >>> sel['selected'].tolist()
    [False, True, False]
    >>> [SelectionFlag.describe(f) for f in sel['selection_flag']]
    ['CI_LOW', 'NONE', 'FAINT']
    """
    check_table(tbl)
    n = len(tbl)
    flag = np.zeros(n, dtype=np.uint8)
    ci = column_values(tbl, ci_column, parameter='ci_column')
    with np.errstate(invalid='ignore'):
        if ci_min is not None:
            flag[~(ci >= ci_min)] |= np.uint8(SelectionFlag.CI_LOW)
        if ci_max is not None:
            flag[ci > ci_max] |= np.uint8(SelectionFlag.CI_HIGH)
        if distance_modulus is not None or mag_limit is not None:
            v = column_values(tbl, v_column, parameter='v_column')
            faint = ~np.isfinite(v)
            if distance_modulus is not None:
                faint |= ~(v - _modulus(distance_modulus) <= abs_mag_limit)
            if mag_limit is not None:
                faint |= ~(v <= mag_limit)
            flag[faint] |= np.uint8(SelectionFlag.FAINT)
    if band_columns is None:
        band_columns = [f'mag_{b}' for b in BANDS if f'mag_{b}' in tbl.colnames]
    n_bands = np.zeros(n, dtype=np.int64)
    for name in band_columns:
        mag = column_values(tbl, name, parameter='band_columns')
        ok = np.isfinite(mag)
        if max_magerr is not None:
            err_name = name.replace('mag', 'magerr', 1)
            err = column_values(tbl, err_name, parameter='max_magerr (error column)')
            with np.errstate(invalid='ignore'):
                ok &= err < max_magerr
        n_bands += ok
    flag[n_bands < min_bands] |= np.uint8(SelectionFlag.FEW_BANDS)
    for name, limits in dict(mci_limits or {}).items():
        values = column_values(tbl, name, parameter='mci_limits key')
        lo, hi = limits
        with np.errstate(invalid='ignore'):
            bad = ~np.isfinite(values)
            if lo is not None:
                bad |= values < lo
            if hi is not None:
                bad |= values > hi
        flag[bad] |= np.uint8(SelectionFlag.MCI)
    out = QTable(tbl, copy=True)
    out['n_bands'] = n_bands
    out['selection_flag'] = flag
    out['selected'] = flag == 0
    out.meta['selection'] = provenance('select_candidates', {
        'ci_min': ci_min, 'ci_max': ci_max, 'abs_mag_limit': abs_mag_limit,
        'distance_modulus': distance_modulus, 'mag_limit': mag_limit, 'min_bands': min_bands,
        'max_magerr': max_magerr, 'mci_limits': mci_limits})
    return out
