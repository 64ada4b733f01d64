"""
How much a simulated field looks like a real catalogue.

`realism_report` simulates a field for a real LEGUS catalogue's galaxy (its
distance, exposure times and zeropoints), measures the simulated candidates
with the package's own photometry as LEGUS measured its catalogues (4 px
aperture, 7-8 px background annulus, an average aperture correction from
isolated clusters, CI = m(1 px) − m(3 px) in F555W), applies the selection
for visual inspection to both (CI, M_V, number of bands) and compares the
two per class: CI, M_V, U−B, V−I, B−V, the F555W magnitude error,
neighbour counts within 5 and 10 px (two-sample Kolmogorov-Smirnov D and
medians), the detection fraction per band and the class fractions.
`realism_properties` and `compare_catalogs` do the same on any two tables.
"""

import os
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.table import QTable
from photutils.aperture import ApertureStats, CircularAnnulus
from scipy.spatial import cKDTree
from scipy.stats import ks_2samp

from .._utils.distance import distance_modulus
from .._utils.validation import non_negative_int, positive_float
from ..bands import BANDS
from ..photometry import BACKGROUND_ANNULUS, PHOTOMETRY_RADIUS, candidate_photometry
from ..tables import provenance

__all__ = ['REALISM_PROPERTIES', 'LEGUS_SELECTION', 'realism_properties', 'compare_catalogs',
           'simulated_catalog', 'aperture_correction', 'realism_report', 'RealismReport',
           'galaxy_setup', 'plot_realism', 'summarize_d']

#: Per-class distributions compared with the KS statistic: column → label.
REALISM_PROPERTIES = {'ci': 'CI', 'abs_mag_V': 'M_V', 'ub': 'U-B', 'vi': 'V-I', 'bv': 'B-V',
                      'magerr_V': 'err(V)', 'n_neighbors_5': 'N(<5 px)',
                      'n_neighbors_10': 'N(<10 px)'}

#: The selection of the LEGUS candidates for visual inspection used in the
#: comparison (NGC 1566's catalogue goes down to CI = 1.35 and M_V = −5.5).
LEGUS_SELECTION = {'ci_min': 1.35, 'abs_mag_limit': -5.5, 'min_bands': 4, 'max_magerr': 0.3}

#: A band counts as detected below this magnitude error (LEGUS N_flt).
_DETECTION_ERROR = 0.3


def _values(tbl, name):
    col = tbl[name]
    if isinstance(col, u.Quantity):
        col = col.value
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan), dtype=float)


def realism_properties(tbl, *, distance, class_column='class', selection=None):
    """
    The compared properties of every candidate of a catalogue.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        A catalogue with ``x``, ``y`` (pixels), ``ci``, ``mag_<band>`` and
        ``magerr_<band>`` of the five bands (masked or NaN where not
        measured) and a class column: a LEGUS catalogue read with
        ``format='legus'`` or the output of `simulated_catalog`.
    distance : `~astropy.units.Quantity`
        Distance of the galaxy (M_V = m_V − distance modulus).
    class_column : str, optional
        Column with the classes 1-4 (0 or masked: not inspected).
    selection : dict, optional
        Cuts for inspection: ``ci_min``, ``abs_mag_limit``, ``min_bands``,
        ``max_magerr`` (default `LEGUS_SELECTION`).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per input row: ``class``, ``ci``, ``mag_V``, ``abs_mag_V``,
        ``ub``, ``vi``, ``bv``, ``magerr_V``, ``detected_<band>``,
        ``n_bands``, ``n_neighbors_5``, ``n_neighbors_10`` (other catalogue
        entries within 5 and 10 px) and ``selected`` (passes the cuts and
        has a class 1-4).

    Raises
    ------
    ValueError
        If the catalogue has no class column, no magnitudes or errors of
        the five bands, or no CI or positions (the message lists what is
        missing).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.datasets.realism import realism_properties
    >>> tbl = QTable({'x': [0.0, 3.0, 50.0], 'y': [0.0, 0.0, 0.0], 'ci': [1.5, 1.2, 1.6],
    ...               'class': [1, 4, 2]})
    >>> for b, m in zip(['F275W', 'F336W', 'F438W', 'F555W', 'F814W'], [21, 21, 22, 22, 21.5]):
    ...     tbl[f'mag_{b}'] = [m, m, m]
    ...     tbl[f'magerr_{b}'] = [0.05, 0.05, 0.5]
    >>> props = realism_properties(tbl, distance=10 * u.Mpc)
    >>> props['n_neighbors_5'].tolist(), props['selected'].tolist()
    ([1, 1, 0], [True, False, False])
    >>> round(float(props['abs_mag_V'][0]), 2), float(props['vi'][0])
    (-8.0, 0.5)
    """
    missing = [name for name in ('x', 'y', 'ci') if name not in tbl.colnames]
    if class_column not in tbl.colnames:
        missing.append(f'{class_column} (class_column)')
    for band in BANDS:
        missing += [name for name in (f'mag_{band}', f'magerr_{band}')
                    if name not in tbl.colnames]
    if missing:
        msg = (f'tbl cannot be compared: it has no column(s) {missing}; a catalogue needs '
               f'positions, CI, classes and the magnitudes and errors of the five bands '
               f'(columns: {tbl.colnames[:12]}{" ..." if len(tbl.colnames) > 12 else ""})')
        raise ValueError(msg)
    cuts = dict(LEGUS_SELECTION, **(selection or {}))
    dmod = distance_modulus(distance, parameter='distance')
    mags = {b: _values(tbl, f'mag_{b}') for b in BANDS}
    errs = {b: _values(tbl, f'magerr_{b}') for b in BANDS}
    out = QTable()
    classes = np.ma.filled(np.ma.asarray(tbl[class_column]), 0)
    classes = np.where(np.isfinite(np.asarray(classes, dtype=float)), classes, 0)
    out['class'] = np.asarray(classes, dtype=int)
    out['ci'] = _values(tbl, 'ci')
    out['mag_V'] = mags['F555W']
    out['abs_mag_V'] = mags['F555W'] - dmod
    out['ub'] = mags['F336W'] - mags['F438W']
    out['vi'] = mags['F555W'] - mags['F814W']
    out['bv'] = mags['F438W'] - mags['F555W']
    out['magerr_V'] = errs['F555W']
    n_bands = np.zeros(len(tbl), dtype=int)
    for b in BANDS:
        with np.errstate(invalid='ignore'):
            detected = np.isfinite(mags[b]) & (errs[b] < cuts['max_magerr'])
        out[f'detected_{b}'] = detected
        n_bands += detected
    out['n_bands'] = n_bands
    xy = np.column_stack([_values(tbl, 'x'), _values(tbl, 'y')])
    tree = cKDTree(xy) if len(xy) else None
    for radius in (5, 10):
        counts = (np.array([len(p) - 1 for p in tree.query_ball_point(xy, radius)], dtype=int)
                  if tree is not None else np.zeros(0, dtype=int))
        out[f'n_neighbors_{radius}'] = counts
    with np.errstate(invalid='ignore'):
        out['selected'] = ((out['class'] >= 1) & (out['class'] <= 4)
                           & (out['ci'] >= cuts['ci_min'])
                           & (out['abs_mag_V'] <= cuts['abs_mag_limit'])
                           & (n_bands >= cuts['min_bands']))
    out.meta['realism'] = provenance('realism_properties', {
        'distance': distance, 'class_column': class_column, 'selection': cuts})
    return out


def compare_catalogs(simulated, real, *, properties=None, classes=(1, 2, 3, 4)):
    """
    Per-class comparison of two `realism_properties` tables.

    Only the ``selected`` rows are compared. For each class and property:
    the two-sample Kolmogorov-Smirnov statistic D (`scipy.stats.ks_2samp`,
    finite values only) and the medians; for each class the class
    fraction and the detection fraction per band (``property`` =
    ``'fraction'``, ``'detected_<band>'``; D is their absolute difference).

    Parameters
    ----------
    simulated, real : `~astropy.table.QTable`
        Outputs of `realism_properties`.
    properties : sequence of str, optional
        Columns to compare (default the keys of `REALISM_PROPERTIES`).
    classes : sequence of int, optional

    Returns
    -------
    table : `~astropy.table.QTable`
        ``class``, ``property``, ``kind`` (``'ks'`` or ``'fraction'``),
        ``n_sim``, ``n_real``, ``median_sim``, ``median_real``, ``d``
        (KS D, or the difference of the fractions) and ``p_value``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.datasets.realism import compare_catalogs
    >>> a = QTable({'class': [1, 1, 1, 2], 'ci': [1.4, 1.5, 1.6, 2.0], 'selected': [True] * 4})
    >>> b = QTable({'class': [1, 1, 2, 2], 'ci': [1.45, 1.55, 2.0, 2.1], 'selected': [True] * 4})
    >>> cmp = compare_catalogs(a, b, properties=['ci'], classes=(1, 2))
    >>> [(int(r['class']), str(r['property']), round(float(r['d']), 3)) for r in cmp]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(1, 'ci', 0.333), (2, 'ci', 0.5), (1, 'fraction', 0.25), (2, 'fraction', 0.25)]
    """
    properties = list(REALISM_PROPERTIES if properties is None else properties)
    for name, tbl in (('simulated', simulated), ('real', real)):
        missing = [c for c in ['class', 'selected', *properties] if c not in tbl.colnames]
        if missing:
            msg = f'{name} has no column(s) {missing}; pass the output of realism_properties'
            raise ValueError(msg)
    sim = simulated[np.asarray(simulated['selected'], dtype=bool)]
    ref = real[np.asarray(real['selected'], dtype=bool)]
    rows = []
    for name in properties:
        for c in classes:
            a = np.asarray(sim[name][sim['class'] == c], dtype=float)
            b = np.asarray(ref[name][ref['class'] == c], dtype=float)
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if len(a) and len(b):
                res = ks_2samp(a, b)
                d, p = float(res.statistic), float(res.pvalue)
            else:
                d = p = np.nan
            rows.append((c, name, 'ks', len(a), len(b),
                         float(np.median(a)) if len(a) else np.nan,
                         float(np.median(b)) if len(b) else np.nan, d, p))
    extra = ['fraction'] + [f'detected_{b}' for b in BANDS
                            if f'detected_{b}' in sim.colnames and f'detected_{b}' in ref.colnames]
    for name in extra:
        for c in classes:
            a_rows, b_rows = sim['class'] == c, ref['class'] == c
            if name == 'fraction':
                fa = a_rows.sum() / max(len(sim), 1)
                fb = b_rows.sum() / max(len(ref), 1)
            else:
                fa = np.mean(sim[name][a_rows]) if a_rows.any() else np.nan
                fb = np.mean(ref[name][b_rows]) if b_rows.any() else np.nan
            rows.append((c, name, 'fraction', int(a_rows.sum()), int(b_rows.sum()), float(fa),
                         float(fb), float(abs(fa - fb)), np.nan))
    out = QTable(rows=rows, names=('class', 'property', 'kind', 'n_sim', 'n_real', 'median_sim',
                                   'median_real', 'd', 'p_value'))
    out.meta['realism'] = provenance('compare_catalogs', {'properties': properties,
                                                          'classes': list(classes)})
    return out


def summarize_d(comparison, *, properties=None):
    """
    Median and largest KS D of a `compare_catalogs` table.

    Parameters
    ----------
    comparison : `~astropy.table.QTable`
    properties : sequence of str, optional
        Restrict to these properties (default every ``'ks'`` row).

    Returns
    -------
    median, worst : float
    """
    ks = comparison[comparison['kind'] == 'ks']
    if properties is not None:
        ks = ks[np.isin(ks['property'], list(properties))]
    d = np.asarray(ks['d'], dtype=float)
    d = d[np.isfinite(d)]
    if not len(d):
        return np.nan, np.nan
    return float(np.median(d)), float(np.max(d))


def galaxy_setup(galaxy, *, data):
    """
    Distance, exposure times, exposures and Vega zeropoints of a galaxy.

    Read from the PHANGS-HST tables (``hst_zeropoints_phangs/``:
    ``distance_table.csv`` and ``header_info_<galaxy>_prime.txt``).

    Parameters
    ----------
    galaxy : str
        PHANGS name, e.g. ``'ngc1566'``, ``'ngc628c'``.
    data : path-like
        The folder holding ``hst_zeropoints_phangs/`` (the project's shared
        data folder, e.g. ``../shared/data``).

    Returns
    -------
    setup : dict
        ``distance`` (Quantity, the ``current`` column), ``exptime``,
        ``nexp`` and ``zeropoints`` (band slot → value).

    Raises
    ------
    FileNotFoundError
        If the tables are absent.
    ValueError
        If the galaxy is not in them.
    """
    from astropy.io import ascii

    from ..bands import normalize_band
    from ..io import read_phangs_zeropoints

    folder = os.path.join(os.fspath(data), 'hst_zeropoints_phangs')
    name = str(galaxy).lower().replace(' ', '')
    header = os.path.join(folder, f'header_info_{name}_prime.txt')
    if not os.path.exists(header):
        raise FileNotFoundError(f'galaxy {galaxy!r}: no {header}')
    distances = ascii.read(os.path.join(folder, 'distance_table.csv'), format='csv',
                           comment='#')
    rows = distances[distances['rootName'] == name]
    if not len(rows):
        raise ValueError(f'galaxy {galaxy!r} is not in {folder}/distance_table.csv')
    zp = read_phangs_zeropoints(header)
    raw = ascii.read(header, format='basic', delimiter=' ', guess=False,
                     names=['filter', 'detector', 'photflam', 'photplam', 'photfnu', 'zpab',
                            'zpvega', 'exptime', 'number', 'date'], comment='#')
    nexp = {normalize_band(f): int(n) for f, n in zip(raw['filter'], raw['number'])}
    bands = [normalize_band(str(f)) for f in zp['filter']] if 'filter' in zp.colnames \
        else [normalize_band(str(f)) for f in raw['filter']]
    return {'distance': float(rows['current'][0]) * u.Mpc,
            'exptime': dict(zip(bands, np.asarray(zp['exptime'].to_value(u.s), float))),
            'nexp': nexp,
            'zeropoints': dict(zip(bands, np.asarray(zp['zp_vega'].to_value(u.mag), float)))}


def aperture_correction(field, photometry, *, n_brightest=50, isolation=20.0):
    """
    Average aperture corrections measured on isolated bright clusters.

    LEGUS corrects its 4 px magnitudes with the mean correction of isolated
    clusters of the field. The simulation knows the clusters' total
    magnitudes, so the correction of each band is the median of
    m_total − m(4 px) over the ``n_brightest`` class-1 clusters with no
    other candidate within ``isolation`` px.

    Parameters
    ----------
    field : `~astro_clusterclass.datasets.SimulatedField`
    photometry : `~astropy.table.QTable`
        `~astro_clusterclass.photometry.candidate_photometry` of
        ``field.candidates`` (without a correction).
    n_brightest : int, optional
    isolation : float, optional

    Returns
    -------
    correction : dict
        Band → correction (mag; negative).
    scatter : dict
        Band → robust standard deviation (1.4826 MAD) of the corrections of those clusters
        (mag), which LEGUS adds in quadrature to the magnitude errors.
    """
    n_brightest = non_negative_int(n_brightest, 'n_brightest')
    isolation = positive_float(isolation, 'isolation')
    truth = field.truth
    row_of = {int(i): r for r, i in enumerate(truth['id'])}
    rows = np.array([row_of[int(i)] for i in photometry['truth_id']], dtype=int)
    xy = np.column_stack([np.asarray(truth['x']), np.asarray(truth['y'])])
    near = cKDTree(xy).query(xy, k=2)[0][:, 1] if len(xy) > 1 else np.full(len(xy), np.inf)
    good = (np.asarray(truth['class'])[rows] == 1) & (near[rows] > isolation)
    v = truth['mag_F555W'].to_value(u.mag)[rows]
    pick = np.nonzero(good)[0]
    pick = pick[np.argsort(v[pick])][:n_brightest]
    out, scatter = {}, {}
    for band in BANDS:
        total = truth[f'mag_{band}'].to_value(u.mag)[rows][pick]
        ap = _values(photometry, f'mag_{band}_r{PHOTOMETRY_RADIUS:g}')[pick]
        diff = total - ap
        diff = diff[np.isfinite(diff)]
        out[band] = float(np.median(diff)) if len(diff) else 0.0
        scatter[band] = (float(1.4826 * np.median(np.abs(diff - np.median(diff))))
                         if len(diff) > 1 else 0.0)
    return out, scatter


def _magnitude_errors(photometry, images, field_exptime):
    """
    1-sigma magnitude errors of the 4 px magnitudes, as IRAF phot gives them.

    σ_F² = F t / t² (photon noise of the source, image in e-/s) +
    A σ² + A² σ² / N (the background scatter σ in the annulus of N pixels).
    """
    x, y = np.asarray(photometry['x'], float), np.asarray(photometry['y'], float)
    positions = np.column_stack([x, y])
    annulus = CircularAnnulus(positions, *BACKGROUND_ANNULUS)
    area = np.pi * PHOTOMETRY_RADIUS ** 2
    out = {}
    for band, data in zip(BANDS, images.data):
        stats = ApertureStats(data, annulus, sigma_clip=None)
        sigma = np.asarray(stats.std, dtype=float)
        n_sky = np.asarray(stats.sum_aper_area.value, dtype=float)
        flux = _values(photometry, f'flux_{band}_r{PHOTOMETRY_RADIUS:g}')
        t = float(field_exptime[band])
        var = np.maximum(flux, 0) / t + area * sigma ** 2 + area ** 2 * sigma ** 2 / n_sky
        with np.errstate(divide='ignore', invalid='ignore'):
            err = 2.5 / np.log(10) * np.sqrt(var) / flux
        out[band] = np.where(flux > 0, err, np.nan)
    return out


def simulated_catalog(field, *, catalog_ci_min=1.35):
    """
    Measure a simulated field's candidates as LEGUS measured its catalogues.

    4 px aperture magnitudes with the 7-8 px median background, the
    average aperture correction of ``aperture_correction``, magnitude errors
    from the photon and background noise with the scatter of the aperture
    correction added in quadrature (as LEGUS did), CI in F555W, and the catalogue's
    own CI cut (LEGUS catalogues list only CI ≥ 1.35-1.4 sources).

    Parameters
    ----------
    field : `~astro_clusterclass.datasets.SimulatedField`
    catalog_ci_min : float or None, optional
        CI cut of the catalogue (None: keep every candidate).

    Returns
    -------
    table : `~astropy.table.QTable`
        ``field.labelled_candidates()`` with the photometry (``mag_<band>``
        aperture-corrected, ``magerr_<band>``, ``ci``), kept rows only;
        ``meta['realism']['aperture_correction']``.
    """
    cands = field.labelled_candidates(('class', 'subclass'))
    phot = candidate_photometry(cands, field.images, zeropoints={
        b: float(h.header['ZP_VEGA']) for b, h in zip(BANDS, field.hdus)})
    apcor, apcor_scatter = aperture_correction(field, phot)
    exptime = {b: float(h.header['EXPTIME']) for b, h in zip(BANDS, field.hdus)}
    errors = _magnitude_errors(phot, field.images, exptime)
    for band in BANDS:
        phot[f'mag_{band}'] = phot[f'mag_{band}'] + apcor[band] * u.mag
        phot[f'magerr_{band}'] = np.hypot(errors[band], apcor_scatter[band]) * u.mag
    if catalog_ci_min is not None:
        with np.errstate(invalid='ignore'):
            phot = phot[np.asarray(phot['ci'].value) >= catalog_ci_min]
    phot.meta['realism'] = {'aperture_correction': apcor,
                            'aperture_correction_scatter': apcor_scatter,
                            'catalog_ci_min': catalog_ci_min}
    return phot


class RealismReport(NamedTuple):
    """
    The result of `realism_report`.

    Attributes
    ----------
    comparison : `~astropy.table.QTable`
        `compare_catalogs` of the simulated and real catalogues.
    simulated, real : `~astropy.table.QTable`
        Their `realism_properties`; ``simulated.meta['measurement']`` has
        the aperture corrections of `simulated_catalog`.
    field : `~astro_clusterclass.datasets.SimulatedField`
    median_d, max_d : float
        Over the KS rows of ``comparison``.
    """

    comparison: QTable
    simulated: QTable
    real: QTable
    field: object
    median_d: float
    max_d: float


def realism_report(real, *, distance, shape=(4000, 4000), seed=0, class_column='class',
                   preset='legus', selection=None, field_options=None, **setup):
    """
    Simulate a field for a real catalogue's galaxy and compare the two.

    Parameters
    ----------
    real : `~astropy.table.Table`
        The real catalogue (e.g. ``QTable.read(path, format='legus')``).
    distance : `~astropy.units.Quantity`
        Distance of the galaxy.
    shape : (int, int), optional
        Shape of the simulated field (candidate density as the default).
    seed : int, optional
    class_column : str, optional
        The real catalogue's class column (e.g. ``'class_human'`` for NGC 1566).
    preset : str, optional
        Simulator preset (`~astro_clusterclass.datasets.make_cluster_field`).
    selection : dict, optional
        See `realism_properties`.
    field_options : dict, optional
        More arguments of `make_cluster_field`.
    **setup
        ``exptime``, ``nexp``, ``zeropoints`` (e.g. from `galaxy_setup`).

    Returns
    -------
    report : `RealismReport`
    """
    from ._field import make_cluster_field

    ref = realism_properties(real, distance=distance, class_column=class_column,
                             selection=selection)
    options = dict(field_options or {})
    options.update({k: v for k, v in setup.items() if k in ('exptime', 'nexp', 'zeropoints')})
    field = make_cluster_field(shape, distance=distance, seed=seed, preset=preset, **options)
    catalog = simulated_catalog(field)
    sim = realism_properties(catalog, distance=distance, selection=selection)
    sim.meta['measurement'] = catalog.meta['realism']
    comparison = compare_catalogs(sim, ref)
    median, worst = summarize_d(comparison)
    return RealismReport(comparison, sim, ref, field, median, worst)


def plot_realism(simulated, real, path=None, *, properties=None, title=None):
    """
    Side-by-side histograms of the compared properties, one row per class.

    Parameters
    ----------
    simulated, real : `~astropy.table.QTable`
        Outputs of `realism_properties` (selected rows are plotted).
    path : str, optional
        Write a PNG there.
    properties : sequence of str, optional
    title : str, optional

    Returns
    -------
    figure : `matplotlib.figure.Figure`
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    properties = list(REALISM_PROPERTIES if properties is None else properties)
    sim = simulated[np.asarray(simulated['selected'], dtype=bool)]
    ref = real[np.asarray(real['selected'], dtype=bool)]
    fig, axes = plt.subplots(4, len(properties), figsize=(2.2 * len(properties), 8.5),
                             squeeze=False)
    for j, name in enumerate(properties):
        both = np.concatenate([np.asarray(sim[name], float), np.asarray(ref[name], float)])
        both = both[np.isfinite(both)]
        if name.startswith('n_neighbors'):
            bins = np.arange(-0.5, max(both.max() if len(both) else 1, 1) + 1.5)
        elif len(both):
            lo, hi = np.percentile(both, [1, 99])
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
        else:
            bins = 10
        for i, c in enumerate((1, 2, 3, 4)):
            ax = axes[i, j]
            for tbl, color, label in ((ref, 'k', 'real'), (sim, 'C1', 'simulated')):
                v = np.asarray(tbl[name][tbl['class'] == c], float)
                v = v[np.isfinite(v)]
                if len(v):
                    ax.hist(v, bins=bins, density=True, histtype='step', color=color,
                            label=label, lw=1.3)
            if i == 0:
                ax.set_title(REALISM_PROPERTIES.get(name, name), fontsize=9)
            if j == 0:
                ax.set_ylabel(f'class {c}')
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig
