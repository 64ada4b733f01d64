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

Uncertainties come from what the images carry
(`~astro_clusterclass.load_images` ``errors=``):
an ERR map is used as it is; an inverse-variance map (``'ivar'``, e.g. the
PHANGS-HST ``_err-drc-wht.fits`` files or a drizzle IVM weight) is the
background variance, to which the source's Poisson noise is added; a
drizzle exposure-time weight (``'wht'``) is the per-pixel effective gain.
Without a map the background scatter is the sigma-clipped standard
deviation of the image and the Poisson term comes from ``EXPTIME``
(`photutils.utils.calc_total_error`). The flux error adds the error of the
local background (that of a median of the annulus pixels actually used)
times the unmasked aperture area.

Pixel convention: positions are 0-based with pixel centres at integers,
the photutils convention, so catalogue positions go straight into the
apertures. Images are expected in count rates (e.g. e-/s, the unit of HST
drizzled images) when magnitudes are computed from PHOTFLAM.
"""

import functools

import numpy as np
from astropy import units as u
from astropy.stats import SigmaClip, sigma_clipped_stats
from astropy.table import QTable
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)
from photutils.utils import calc_total_error

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

#: 2.5 / ln 10: magnitude error per unit relative flux error.
_MAG_PER_REL = 2.5 / np.log(10.0)

#: Pixels sampled for the global background level and scatter of a band.
_SCATTER_SAMPLE = 250_000


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


def _flux_unit(meta):
    """Astropy unit of a band's pixels from BUNIT (None when absent or unparseable)."""
    bunit = str(meta.get('BUNIT', '')).strip()
    if not bunit:
        return None
    text = bunit.lower().replace('electrons', 'electron').replace('counts', 'count')
    try:
        return u.Unit(text)
    except ValueError:
        return None


def _gain(meta):
    """Effective gain (pixel value → electrons) from BUNIT/EXPTIME, and what it rests on."""
    bunit = str(meta.get('BUNIT', '')).strip().upper()
    if bunit.startswith('ELECTRON') and '/S' not in bunit:
        return 1.0, 'electrons (BUNIT)'
    if 'EXPTIME' in meta and (not bunit or '/S' in bunit):
        exptime = float(meta['EXPTIME'])
        if exptime > 0:
            return exptime, f'count rates × EXPTIME = {exptime:g} s'
    return None, 'no EXPTIME for a rate image: source Poisson noise left out'


def _sky(data):
    """Sigma-clipped level and scatter of a band from a regular sample of its pixels."""
    step = max(1, int(np.sqrt(data.shape[0] * data.shape[1] / _SCATTER_SAMPLE)))
    flat = np.asarray(data[::step, ::step], dtype=float).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return np.nan, np.nan
    _, median, std = sigma_clipped_stats(flat, sigma=3.0, maxiters=10)
    return float(median), float(std)


def _error_map(data, meta, given, kind):
    """
    Per-pixel 1-sigma error of one band, and a description of its model.

    ``given`` is the map handed to `load_images` (or None) and ``kind``
    its meaning: 'err' (total error), 'ivar' (background inverse variance)
    or 'wht' (exposure-time weight, the effective gain per pixel).
    """
    gain, gain_note = _gain(meta)
    data = np.asarray(data, dtype=float)
    if given is not None and kind == 'err':
        return np.asarray(given, dtype=float), 'ERR map (total error, used as given)'
    level, scatter = _sky(data)
    if given is not None and kind == 'ivar':
        ivar = np.asarray(given, dtype=float)
        with np.errstate(divide='ignore', invalid='ignore'):
            bkg_error = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), np.nan)
        note = 'inverse-variance map (background)'
    else:
        bkg_error = scatter
        note = f'background scatter {scatter:.4g} (sigma-clipped std of the image)'
    if given is not None and kind == 'wht':
        weight = np.asarray(given, dtype=float)
        factor = gain / float(meta['EXPTIME']) if gain is not None and 'EXPTIME' in meta \
            else 1.0
        gain = np.where(np.isfinite(weight) & (weight > 0), weight * factor, 0.0)
        gain_note = 'exposure-time weight map (WHT) as the effective gain'
    if given is None:
        # No map: calc_total_error's variance summed over an aperture is
        # Σw·scatter² + Σw·(data − level)/gain, which the aperture sums
        # already hold, so no per-pixel map is made.
        model = (scatter ** 2, level, gain)
        if gain is None:
            return model, f'{note}; {gain_note}'
        return model, f'{note} + Poisson noise ({gain_note})'
    if gain is None:
        error = np.broadcast_to(np.asarray(bkg_error, dtype=float), data.shape)
        return error, f'{note}; {gain_note}'
    # The Poisson term is of the source above the sky; the sky's own noise
    # is in the background error.
    error = calc_total_error(data - level, np.broadcast_to(bkg_error, data.shape), gain)
    return error, f'{note} + Poisson noise ({gain_note})'


#: Sub-pixel offsets per axis of the table of `_weight_factor`.
_OFFSET_STEPS = 20


@functools.lru_cache(maxsize=128)
def _weight_table(radius, method, outer):
    """Σw²/Σw of the overlap weights w of an aperture (of w = w' − w_inner for the
    ring between ``radius`` and ``outer``), for a grid of sub-pixel centres."""
    steps = (np.arange(_OFFSET_STEPS) + 0.5) / _OFFSET_STEPS - 0.5
    table = np.empty((_OFFSET_STEPS, _OFFSET_STEPS))
    size = 2 * int(np.ceil(max(radius, outer))) + 5
    c = size // 2
    for i, dy in enumerate(steps):
        for j, dx in enumerate(steps):
            w, w2 = (CircularAperture((c + dx, c + dy), r=r).to_mask(method=method)
                     .to_image((size, size)) for r in (radius, outer))
            if outer != radius:
                w = w2 - w
            # A ring of whole pixels can be empty (method 'center'): then any factor.
            total = np.sum(w)
            table[i, j] = np.sum(w ** 2) / total if total > 0 else 1.0
    return table


def _weight_factor(positions, radius, method, outer=None):
    """
    Σw²/Σw at each position (of the ring out to ``outer`` if given): the noise
    variance of a weighted sum Σ w·pixel is Σ w² σ², while photutils'
    ``aperture_sum_err`` is √(Σ w σ²), which overstates the noise of
    apertures with many partial pixels.
    """
    frac = positions - np.round(positions)
    index = np.clip(((frac + 0.5) * _OFFSET_STEPS).astype(int), 0, _OFFSET_STEPS - 1)
    table = _weight_table(float(radius), method, float(radius if outer is None else outer))
    return table[index[:, 1], index[:, 0]]


def _band_photometry(data, positions, rows, n, radii, *, annulus, reach, method,
                     error=None, sigma_clip=None, edge=None):
    model = error if isinstance(error, tuple) else None
    error = None if model is not None else error
    """
    Background-subtracted aperture sums, their errors and the local background of one band.

    ``positions`` are the ``(len(rows), 2)`` pixel positions of the rows
    ``rows`` (of ``n``) that lie on the image; the other rows get NaN.
    ``edge`` (bool, per row of ``rows``) marks apertures that may run off
    the image, whose areas are measured rather than taken as π r².

    Returns
    -------
    flux, flux_var, sum_var, area : `~numpy.ndarray`
        ``(n, len(radii))``: aperture sums minus background × the area of
        the unmasked aperture pixels; its variance; Σ w σ² over the
        aperture's pixels (its covariance with any larger aperture around
        it); that area.
    background, background_var : `~numpy.ndarray`
        ``(n,)`` median per pixel in the annulus and the variance of that
        median (NaN without ``error``).
    nonfinite : `~numpy.ndarray`
        ``(n,)`` bool: non-finite pixels in the annulus or within ``reach``.
    """
    k = len(radii)
    sums = np.full((n, k), np.nan)
    sum_var = np.full((n, k), np.nan)
    area = np.full((n, k), np.nan)
    background = np.full(n, np.nan)
    background_var = np.full(n, np.nan)
    nonfinite = np.zeros(n, dtype=bool)
    if len(rows):
        finite = np.isfinite(data)
        if error is not None:
            finite &= np.isfinite(error)
        mask = None if finite.all() else ~finite
        apertures = [CircularAperture(positions, r=r) for r in radii]
        phot = aperture_photometry(data, apertures, mask=mask, method=method, error=error)
        for j in range(k):
            sums[rows, j] = np.asarray(phot[f'aperture_sum_{j}'], dtype=float)
            if error is not None:
                sum_var[rows, j] = np.asarray(phot[f'aperture_sum_err_{j}'], dtype=float) ** 2
        area[rows] = np.pi * np.asarray(radii) ** 2
        ring = CircularAnnulus(positions, r_in=annulus[0], r_out=annulus[1])
        # sum_method='center': the error sum runs over the very pixels of the median.
        stats = ApertureStats(data, ring, mask=mask, error=error, sigma_clip=sigma_clip,
                              sum_method='center')
        background[rows] = np.asarray(stats.median, dtype=float)
        measure = np.zeros(len(rows), dtype=bool) if edge is None else np.asarray(edge)
        if method == 'center':
            # Whole pixels: the area is their number, not π r².
            measure = np.ones(len(rows), dtype=bool)
        if mask is not None:
            bad = aperture_photometry(mask.astype(np.float32),
                                      [ring, CircularAperture(positions, r=reach)],
                                      method='center')
            nonfinite[rows] = ((np.asarray(bad['aperture_sum_0']) > 0)
                               | (np.asarray(bad['aperture_sum_1']) > 0))
            measure |= nonfinite[rows]
        if measure.any():
            # Masked or off-image pixels hold no sky either: subtract the
            # background over the pixels that were summed.
            for j, r in enumerate(radii):
                area[rows[measure], j] = CircularAperture(positions[measure], r=r).area_overlap(
                    data, mask=mask, method=method)
        used = np.asarray(stats.center_aper_area, dtype=float)
        if model is not None:
            scatter2, level, gain = model
            poisson = 0.0 if gain is None else 1.0 / gain
            sum_var[rows] = (scatter2 * area[rows]
                             + poisson * np.maximum(sums[rows] - level * area[rows], 0.0))
            mean_var = scatter2 + poisson * np.maximum(background[rows] - level, 0.0)
            background_var[rows] = 0.5 * np.pi * mean_var / used
        elif error is not None:
            mean_var = np.asarray(stats.sum_err, dtype=float) ** 2 / used
            # Variance of the median of N Gaussian deviates: (π/2) σ² / N.
            background_var[rows] = 0.5 * np.pi * mean_var / used
    flux = sums - background[:, None] * area
    factor = np.ones((n, k))
    if (error is not None or model is not None) and len(rows):
        factor[rows] = np.column_stack([_weight_factor(positions, r, method) for r in radii])
    flux_var = factor * sum_var + area ** 2 * background_var[:, None]
    return flux, flux_var, sum_var, area, background, background_var, nonfinite


def _with_unit(values, unit):
    return values if unit is None else values * unit


def _index_error(parts, r1, r2):
    """
    Error of m(r1) − m(r2), r1 < r2, from the inner flux and the independent
    ring between the radii, both of which share one background median.
    """
    f1, v1, s1, a1 = parts[r1]
    f2, _, s2, a2 = parts[r2]
    bkg_var = parts['bkg_var']
    ring = f2 - f1
    shared = np.full(len(f1), np.nan)
    if len(parts['rows']):
        shared[parts['rows']] = _weight_factor(parts['positions'], r1, parts['method'], r2)
    with np.errstate(invalid='ignore', divide='ignore'):
        # Pixel noise of the inner aperture, of the ring, and of the background.
        inner = v1 - a1 ** 2 * bkg_var
        ring_var = np.maximum(s2 - s1, 0.0) * shared
        var = _MAG_PER_REL ** 2 * ((ring / (f1 * f2)) ** 2 * inner
                                   + ring_var / f2 ** 2
                                   + (a1 / f1 - a2 / f2) ** 2 * bkg_var)
        return np.where((f1 > 0) & (f2 > 0), np.sqrt(var), np.nan)


def candidate_photometry(tbl, images, *, radii=MCI_RADII, radii_bands=('F555W',),
                         mag_radius=PHOTOMETRY_RADIUS, annulus=BACKGROUND_ANNULUS,
                         zeropoints=None, aperture_correction=None, ci_band='F555W',
                         columns=None, prefix='', method='exact', errors=True,
                         sigma_clip=None):
    """
    Aperture photometry with uncertainties, local background and concentration indices.

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
    errors : bool, optional
        Compute ``flux_err_*``, ``magerr_*`` and the errors of CI and MCI
        (default). The per-pixel errors come from the error maps given to
        `~astro_clusterclass.load_images` (``errors=``), else from the
        background scatter and ``EXPTIME`` (see the module docstring);
        ``meta['photometry']['error_model']`` says which, per band.
        False skips them (slightly faster).
    sigma_clip : float or `~astropy.stats.SigmaClip`, optional
        Sigma-clip the annulus pixels before their median (e.g. 3.0); None
        (default) takes the plain median of Whitmore et al. (2021).

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy of ``tbl``, every row kept, with (all prefixed):

        - ``bkg_<band>`` -- local background per pixel (image units)
        - ``flux_<band>_r<r>`` -- background-subtracted aperture sums
          (``r1p5`` for 1.5 px) for the measured radii, in the image unit
          (BUNIT) where the header gives one
        - ``mag_<band>_r<r>`` -- their magnitudes (NaN where flux <= 0)
        - ``mag_<band>`` -- magnitude in ``mag_radius`` plus the aperture
          correction (mag)
        - ``ci`` -- m(1 px) − m(3 px) in ``ci_band`` (mag)
        - ``mci_<r1>_<r2>`` -- m(r1) − m(r2) in ``ci_band`` for successive
          radii (mag)
        - ``phot_flag`` -- `PhotFlag` bits

        and with ``errors`` (1 sigma): ``bkg_err_<band>`` (error of the
        background median), ``flux_err_<band>_r<r>``,
        ``magerr_<band>_r<r>``, ``magerr_<band>`` (the aperture correction
        adds no error), ``cierr`` and ``mcierr_<r1>_<r2>`` (which allow
        for the shared pixels and background of nested apertures).

        ``meta['photometry']`` records the radii, annulus, magnitude
        system, zeropoints, flux units and error model.

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

    aperture_edge = ((positions[:, 0] - max(radii + (mag_radius,)) < -0.5)
                     | (positions[:, 1] - max(radii + (mag_radius,)) < -0.5)
                     | (positions[:, 0] + max(radii + (mag_radius,)) > images.shape[1] - 0.5)
                     | (positions[:, 1] + max(radii + (mag_radius,)) > images.shape[0] - 0.5))
    if sigma_clip is not None and not isinstance(sigma_clip, SigmaClip):
        sigma_clip = SigmaClip(sigma=positive_float(sigma_clip, 'sigma_clip'), maxiters=10)
    given_errors = getattr(images, 'errors', {}) or {}
    error_kinds = getattr(images, 'error_kinds', {}) or {}

    new, units, error_model = {}, {}, {}
    ci_parts = {}
    for band, data in zip(BANDS, images.data):
        meta = images.meta.get(band, {})
        unit = _flux_unit(meta)
        units[band] = str(unit) if unit is not None else None
        error = None
        if errors and len(rows):
            error, error_model[band] = _error_map(data, meta, given_errors.get(band),
                                                  error_kinds.get(band))
        band_radii = sorted(set(radii) | {mag_radius}) if band in radii_bands else [mag_radius]
        flux, flux_var, sum_var, area, bkg, bkg_var, nonfinite = _band_photometry(
            data, positions, rows, n, band_radii, annulus=annulus, reach=reach, method=method,
            error=error, sigma_clip=sigma_clip, edge=aperture_edge)
        del error
        flags[nonfinite] |= np.uint8(PhotFlag.NONFINITE)
        new[f'bkg_{band}'] = _with_unit(bkg, unit)
        mags = _to_magnitudes(flux, zp[band])
        flux_err = np.sqrt(flux_var)
        with np.errstate(invalid='ignore', divide='ignore'):
            magerr = np.where(flux > 0, _MAG_PER_REL * flux_err / flux, np.nan)
        nonpositive = np.any(np.isfinite(flux) & (flux <= 0), axis=1)
        flags[nonpositive] |= np.uint8(PhotFlag.NONPOSITIVE)
        if errors:
            new[f'bkg_err_{band}'] = _with_unit(np.sqrt(bkg_var), unit)
        keep = [r for r in band_radii if band in radii_bands and r in radii]
        if mag_radius not in keep:
            keep.append(mag_radius)
        for r in keep:
            j = band_radii.index(r)
            label = radius_label(r)
            new[f'flux_{band}_{label}'] = _with_unit(flux[:, j], unit)
            if errors:
                new[f'flux_err_{band}_{label}'] = _with_unit(flux_err[:, j], unit)
            new[f'mag_{band}_{label}'] = mags[:, j] * u.mag
            if errors:
                new[f'magerr_{band}_{label}'] = magerr[:, j] * u.mag
        j = band_radii.index(mag_radius)
        new[f'mag_{band}'] = (mags[:, j] + corrections.get(band, 0.0)) * u.mag
        if errors:
            new[f'magerr_{band}'] = magerr[:, j] * u.mag
        if band == ci_band:
            ci_parts = {r: (flux[:, band_radii.index(r)], flux_var[:, band_radii.index(r)],
                            sum_var[:, band_radii.index(r)], area[:, band_radii.index(r)])
                        for r in radii}
            ci_parts['bkg_var'] = bkg_var
            ci_parts['positions'], ci_parts['rows'], ci_parts['method'] = positions, rows, method
    m = {r: new[f'mag_{ci_band}_{radius_label(r)}'] for r in radii}
    pairs = [(1.0, 3.0, 'ci')] + [
        (r1, r2, f'mci_{radius_label(r1)[1:]}_{radius_label(r2)[1:]}')
        for r1, r2 in zip(radii[:-1], radii[1:])]
    for r1, r2, name in pairs:
        new[name] = m[r1] - m[r2]
        if errors:
            new[name.replace('ci', 'cierr', 1)] = _index_error(ci_parts, r1, r2) * u.mag
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
    out.meta['photometry']['flux_units'] = units
    out.meta['photometry']['errors'] = bool(errors)
    if errors:
        out.meta['photometry']['error_model'] = error_model
        out.meta['photometry']['sigma_clip'] = None if sigma_clip is None else repr(sigma_clip)
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
