"""
Science checks of a cluster catalogue (Whitmore et al. 2021, §6.2 and §7).

- `equal_number_bins` -- bin edges holding roughly equal numbers of objects.
- `power_law_fit` -- slope of dN/dx ∝ x^α from equal-number bins and a
  straight-line fit in log-log.
- `mass_function` -- β of dN/dM ∝ M^β in age ranges (paper Table 4).
- `age_distribution` -- γ of dN/dτ ∝ τ^γ in mass ranges, with and
  without the youngest bin (paper Table 5).
- `bright_end_completeness` -- fraction of sources brighter than
  M_V = −10 (the Humphreys–Davidson limit) classified as clusters.

Fit convention: the N objects in the fit range are sorted and split into
``n_bins`` bins of (as nearly as possible) equal numbers; a bin's edges are
the midpoints between the last object of one bin and the first of the next.
The first bin starts at the lower limit of the range (a completeness
limit), the last ends at the largest value. The density of a bin is its
count divided by its width in linear units, plotted at the logarithmic
centre of the bin. Since every bin holds about the same number of objects,
all points have about the same Poisson error and an unweighted
least-squares line in log10-log10 is the fit; the quoted slope error is the
standard error of that line (from the scatter of the points).

The last bin needs care. Its upper edge, the largest value, is a noisy
extreme, and fitting its density n / (x_max − x_lo) biases the slope (for
dN/dM ∝ M^−1.5 sampled 20 000 times in 8 bins the fit gives −1.79; for
−2.5 it gives −2.25). By default (``last_bin='open'``) the last bin is
therefore treated as open-ended, which it is for an untruncated power law:
its n objects above x_lo imply a density at x_lo of n (−α − 1) / x_lo, a
point that depends on the slope α, so the fit is iterated until α settles.
This recovers −1.50 and −2.50 in the same tests (also with 300 objects in
6 bins). It needs α < −1; for shallower distributions confined to a range
(ages) use ``last_bin='closed'`` (edge at the largest value) or ``'drop'``.
"""

import numpy as np
from astropy import units as u
from astropy.table import QTable

from ._utils import distance as _distance
from ._utils.columns import float_values, require_columns
from ._utils.validation import check_choice, check_int
from .classes import CLUSTER_CLASSES, validate_classes
from .tables import check_table, provenance

__all__ = ['equal_number_bins', 'power_law_fit', 'mass_function',
           'age_distribution', 'bright_end_completeness', 'distance_modulus',
           'HUMPHREYS_DAVIDSON_MV', 'MASS_FUNCTION_AGE_RANGES',
           'AGE_DISTRIBUTION_MASS_RANGES']

#: Absolute V magnitude of the brightest single stars (§6.2).
HUMPHREYS_DAVIDSON_MV = -10.0

#: log10(age / yr) ranges of the paper's mass functions (Table 4).
MASS_FUNCTION_AGE_RANGES = ((6.0, 7.0), (7.0, 8.0), (8.0, 8.6))

#: log10(mass / Msun) ranges of the paper's age distributions (Table 5).
AGE_DISTRIBUTION_MASS_RANGES = ((4.0, 4.8), (4.8, np.inf))


def equal_number_bins(values, n_bins, *, limits=None):
    """
    Bin edges that put roughly equal numbers of values in each bin.

    Parameters
    ----------
    values : array-like
        The values; NaN and masked values are ignored.
    n_bins : int
        Number of bins wanted.
    limits : tuple of float, optional
        Outer edges; default the smallest and largest value.

    Returns
    -------
    edges : `~numpy.ndarray`
        Increasing edges, ``n_bins + 1`` of them when the values allow;
        fewer when many values are tied (a bin boundary is never placed
        inside a run of equal values, so empty or duplicate bins do not
        occur).

    Raises
    ------
    ValueError
        If there are fewer finite values than bins.

    Examples
    --------
    >>> from astro_clusterclass.science import equal_number_bins
    >>> equal_number_bins([1, 2, 3, 4, 5, 6], 3).tolist()
    [1.0, 2.5, 4.5, 6.0]
    """
    n_bins = check_int(n_bins, 'n_bins', minimum=1)
    x = float_values(values, 'values')
    x = np.sort(x[np.isfinite(x)])
    if len(x) < n_bins:
        msg = f'values: {len(x)} finite values cannot fill n_bins={n_bins} bins'
        raise ValueError(msg)
    lo, hi = (x[0], x[-1]) if limits is None else (float(limits[0]), float(limits[1]))
    # Ideal split positions between sorted values, moved to the nearest place
    # where the value changes (a run of tied values is never cut).
    wanted = np.arange(1, n_bins) * len(x) / n_bins
    changes = np.flatnonzero(x[1:] > x[:-1]) + 1
    if len(changes) == 0:
        return np.array([lo, hi], dtype=float)
    nearest = np.abs(changes[None, :] - wanted[:, None]).argmin(axis=1)
    splits = np.unique(changes[nearest])
    inner = 0.5 * (x[splits - 1] + x[splits])
    inner = inner[(inner > lo) & (inner < hi)]
    return np.concatenate([[lo], inner, [hi]]).astype(float)


_LAST_BIN = ('open', 'closed', 'drop')


def _open_last_bin(log_x, log_d, x_last, n_last, fitted):
    """Iterate the slope with the last bin as open-ended (needs slope < -1)."""
    from scipy import stats  # imported on use: it is slow to import

    line = stats.linregress(log_x[fitted], log_d[fitted])
    for _ in range(100):
        if line.slope >= -1:
            msg = (f'last_bin=\'open\' needs a slope steeper than -1 (the closed bins give '
                   f'{line.slope:.2f}); use last_bin=\'closed\' or \'drop\'')
            raise ValueError(msg)
        log_d_last = np.log10(n_last * (-line.slope - 1) / x_last)
        new = stats.linregress(np.append(log_x[fitted], np.log10(x_last)),
                               np.append(log_d[fitted], log_d_last))
        converged = abs(new.slope - line.slope) < 1e-8
        line = new
        if converged:
            break
    return line, log_d_last


def power_law_fit(values, *, n_bins=6, limits=None, drop_first=False, last_bin='open'):
    """
    Fit dN/dx ∝ x^α using equal-number bins and a line in log-log.

    Parameters
    ----------
    values : array-like or `~astropy.units.Quantity`
        Positive values (e.g. masses or ages); NaN/masked are ignored.
    n_bins : int, optional
        Number of equal-number bins (at least 3).
    limits : tuple of float, optional
        Only values with ``limits[0] <= x < limits[1]`` are used
        (``np.inf``: no upper limit). The first bin starts at ``limits[0]``
        (a completeness limit); the last ends at the largest value.
    drop_first : bool, optional
        Leave the first (lowest-x) bin out of the fit; the bin is still
        listed in ``bins``.
    last_bin : {'open', 'closed', 'drop'}, optional
        How the last bin enters the fit (see the module notes): as an
        open-ended bin (needs α < −1), as a bin ending at the largest
        value, or not at all.

    Returns
    -------
    result : dict
        ``slope``, ``slope_err``, ``intercept`` (of log10 dN/dx vs log10 x),
        ``n`` (objects in the bins), ``n_fit`` (objects in the fitted bins)
        and ``bins``, a `~astropy.table.QTable` with ``x_min``, ``x_max``,
        ``x_center`` (where the point is plotted: the geometric centre, or
        the lower edge of an open last bin), ``n``, ``density``,
        ``density_err`` (density / sqrt(n)) and ``fitted`` (bool).

    Raises
    ------
    ValueError
        If values are not positive, too few bins remain to fit a line, or
        an open last bin meets a slope >= −1.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.science import power_law_fit
    >>> rng = np.random.default_rng(1)
    >>> masses = 1e4 * (1 - rng.uniform(size=20000)) ** (-2.0)  # dN/dM ∝ M^-1.5
    >>> fit = power_law_fit(masses, n_bins=8, limits=(1e4, np.inf))
    >>> round(fit['slope'], 1)
    -1.5
    """
    from scipy import stats  # imported on use: it is slow to import

    n_bins = check_int(n_bins, 'n_bins', minimum=3)
    check_choice(last_bin, _LAST_BIN, 'last_bin')
    x = float_values(values, 'values')
    x = x[np.isfinite(x)]
    if np.any(x <= 0):
        msg = 'values must be positive to be fitted in log-log'
        raise ValueError(msg)
    if limits is not None:
        lo, hi = float(limits[0]), float(limits[1])
        x = x[(x >= lo) & (x < hi)]
        if len(x) == 0:
            msg = f'no values inside limits={limits!r}'
            raise ValueError(msg)
        # The lower limit is where the (complete) sample starts; the upper
        # edge is the largest value, since the data need not reach the limit.
        edges_limits = (lo, x.max())
    else:
        edges_limits = None
    edges = equal_number_bins(x, n_bins, limits=edges_limits)
    counts = np.histogram(x, bins=edges)[0]
    width = np.diff(edges)
    density = counts / width
    center = np.sqrt(edges[:-1] * edges[1:])
    fitted = counts > 0
    if drop_first:
        fitted[0] = False
    closed = fitted.copy()
    closed[-1] = last_bin == 'closed' and fitted[-1]
    n_points = closed.sum() + (last_bin == 'open' and fitted[-1])
    if n_points < 3 or closed.sum() < 2:
        msg = (f'only {n_points} bins left to fit (n_bins={n_bins}, drop_first='
               f'{drop_first}, last_bin={last_bin!r}); at least 3 are needed')
        raise ValueError(msg)
    with np.errstate(divide='ignore'):
        log_x, log_d = np.log10(center), np.log10(density)
    if last_bin == 'open' and fitted[-1]:
        line, log_d_last = _open_last_bin(log_x, log_d, edges[-2], counts[-1], closed)
        center[-1] = edges[-2]
        density[-1] = 10 ** log_d_last
    else:
        line = stats.linregress(log_x[closed], log_d[closed])
        fitted = closed
    with np.errstate(divide='ignore', invalid='ignore'):
        density_err = density / np.sqrt(counts)
    bins = QTable({'x_min': edges[:-1], 'x_max': edges[1:], 'x_center': center,
                   'n': counts, 'density': density, 'density_err': density_err,
                   'fitted': fitted})
    return {'slope': float(line.slope), 'slope_err': float(line.stderr),
            'intercept': float(line.intercept), 'n': int(counts.sum()),
            'n_fit': int(counts[fitted].sum()), 'bins': bins}


def _try_fit(values, **kwargs):
    """Slope, error, number and a note ('' when the fit worked) for table rows."""
    try:
        fit = power_law_fit(values, **kwargs)
    except ValueError as exc:  # too few objects, or no power law above the limit
        n = int(np.sum(np.isfinite(values)))
        return np.nan, np.nan, n, str(exc)
    return fit['slope'], fit['slope_err'], fit['n'], ''


def _cluster_rows(tbl, class_column, classes):
    check_table(tbl)
    require_columns(tbl, class_column, parameter='class_column')
    labels = validate_classes(tbl[class_column], parameter=f'column {class_column!r}')
    return np.isin(labels.filled(0), classes)


def _column(tbl, name, parameter, unit):
    require_columns(tbl, name, parameter=parameter)
    column = tbl[name]
    if getattr(column, 'unit', None) is None:
        msg = f'column {name!r} must carry a unit ({unit}) to be used as {parameter}'
        raise ValueError(msg)
    try:
        return float_values(column, parameter, unit)
    except u.UnitConversionError as exc:
        msg = f'column {name!r} ({parameter}) must be in units convertible to {unit}'
        raise ValueError(msg) from exc


def mass_function(tbl, *, class_column='class', classes=CLUSTER_CLASSES,
                  age_ranges=MASS_FUNCTION_AGE_RANGES, mass_min=1e4, n_bins=6,
                  last_bin='open', age_column='age', mass_column='mass'):
    """
    Mass-function slopes β (dN/dM ∝ M^β) in ranges of age.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with ages (yr) and masses (solMass), e.g. a LEGUS table.
    class_column : str, optional
        Column of classes; rows in ``classes`` are used (default 1 and 2,
        the "class 1+2" sample).
    classes : tuple of int, optional
        Classes to include.
    age_ranges : sequence of (float, float), optional
        log10(age / yr) ranges (lower inclusive, upper exclusive).
    mass_min : float or sequence of float, optional
        Lower mass limit (solMass) of the fit, one per age range or one
        for all; a completeness limit, since older clusters fade.
    n_bins : int, optional
        Equal-number bins per fit.
    last_bin : {'open', 'closed', 'drop'}, optional
        Treatment of the most massive bin (see `power_law_fit`).
    age_column, mass_column : str, optional
        Column names (must carry units or be Quantities).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per age range: ``log_age_min``, ``log_age_max``,
        ``mass_min`` (solMass), ``n`` (objects above the limit), ``beta``,
        ``beta_err`` and ``note``: empty, or why the fit failed (too few
        objects, or no slope steeper than −1 above the limit, i.e. an
        incomplete sample), in which case ``beta`` is NaN.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> import astropy.units as u, numpy as np
    >>> from astro_clusterclass.science import mass_function
    >>> rng = np.random.default_rng(0)
    >>> n = 6000
    >>> tbl = QTable({'class': rng.integers(1, 3, n),
    ...               'age': 10 ** rng.uniform(6, 8.6, n) * u.yr,
    ...               'mass': 1e4 / (1 - rng.uniform(size=n)) * u.solMass})
    >>> mf = mass_function(tbl, n_bins=6)
    >>> np.round(mf['beta'], 0).tolist()
    [-2.0, -2.0, -2.0]
    """
    use = _cluster_rows(tbl, class_column, classes)
    age = _column(tbl, age_column, 'age_column', u.yr)
    mass = _column(tbl, mass_column, 'mass_column', u.solMass)
    log_age = np.log10(np.where(age > 0, age, np.nan))
    limits = np.broadcast_to(np.asarray(mass_min, dtype=float), (len(age_ranges),))
    rows = []
    for (lo, hi), m_min in zip(age_ranges, limits):
        sel = use & (log_age >= lo) & (log_age < hi) & np.isfinite(mass)
        in_range = mass[sel][mass[sel] >= m_min]
        beta, err, n, note = _try_fit(in_range, n_bins=n_bins, limits=(m_min, np.inf),
                                      last_bin=last_bin)
        rows.append((lo, hi, m_min, n, beta, err, note))
    out = QTable(rows=rows, names=('log_age_min', 'log_age_max', 'mass_min', 'n',
                                   'beta', 'beta_err', 'note'))
    out['mass_min'].unit = u.solMass
    out = QTable(out)
    out.meta.update(provenance('mass_function', {
        'class_column': class_column, 'classes': tuple(classes), 'n_bins': n_bins,
        'mass_min': mass_min, 'last_bin': last_bin}))
    return out


def age_distribution(tbl, *, class_column='class', classes=CLUSTER_CLASSES,
                     mass_ranges=AGE_DISTRIBUTION_MASS_RANGES, log_age_range=(6.0, 9.0),
                     n_bins=6, last_bin='closed', age_column='age', mass_column='mass'):
    """
    Age-distribution slopes γ (dN/dτ ∝ τ^γ) in ranges of mass.

    Each fit is made twice: with all equal-number age bins, and without
    the youngest bin, which the paper excludes because it lies
    systematically high (§7, Table 5).

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with ages (yr) and masses (solMass).
    class_column, classes : optional
        As in `mass_function`.
    mass_ranges : sequence of (float, float), optional
        log10(mass / solMass) ranges (``np.inf`` for no upper limit).
    log_age_range : (float, float), optional
        log10(age / yr) range of the fit.
    n_bins : int, optional
        Equal-number age bins.
    last_bin : {'closed', 'drop', 'open'}, optional
        Treatment of the oldest bin (see `power_law_fit`); ``'closed'``
        because ages are confined to ``log_age_range`` and γ > −1.
    age_column, mass_column : str, optional
        Column names.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per mass range: ``log_mass_min``, ``log_mass_max``, ``n``,
        ``gamma``, ``gamma_err`` (all bins), ``gamma_no_youngest``,
        ``gamma_no_youngest_err``, ``youngest_age_max`` (yr, upper edge
        of the youngest bin) and ``note`` (why a fit failed, NaN slope).

    Examples
    --------
    Ages drawn uniformly in log τ have dN/dτ ∝ τ^−1:

    >>> import astropy.units as u, numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.science import age_distribution
    >>> rng = np.random.default_rng(1)
    >>> n = 4000
    >>> tbl = QTable({'class': rng.integers(1, 3, n), 'age': 10 ** rng.uniform(6, 9, n) * u.yr,
    ...               'mass': 10 ** rng.uniform(4.0, 5.5, n) * u.solMass})
    >>> ad = age_distribution(tbl)
    >>> ad['n'].tolist(), np.round(ad['gamma'], 1).tolist()
    ([2105, 1895], [-1.0, -1.0])
    """
    use = _cluster_rows(tbl, class_column, classes)
    age = _column(tbl, age_column, 'age_column', u.yr)
    mass = _column(tbl, mass_column, 'mass_column', u.solMass)
    log_mass = np.log10(np.where(mass > 0, mass, np.nan))
    limits = (10 ** log_age_range[0], 10 ** log_age_range[1])
    rows = []
    for lo, hi in mass_ranges:
        sel = use & (log_mass >= lo) & (log_mass < hi) & np.isfinite(age)
        ages = age[sel][(age[sel] >= limits[0]) & (age[sel] < limits[1])]
        gamma, err, n, note = _try_fit(ages, n_bins=n_bins, limits=limits, last_bin=last_bin)
        gamma_cut, err_cut, _, note_cut = _try_fit(ages, n_bins=n_bins, limits=limits,
                                                   drop_first=True, last_bin=last_bin)
        youngest = (equal_number_bins(ages, n_bins, limits=(limits[0], ages.max()))[1]
                    if len(ages) >= n_bins else np.nan)
        rows.append((lo, hi, n, gamma, err, gamma_cut, err_cut, youngest,
                     '; '.join(t for t in (note, note_cut) if t)))
    out = QTable(rows=rows, names=('log_mass_min', 'log_mass_max', 'n', 'gamma',
                                   'gamma_err', 'gamma_no_youngest',
                                   'gamma_no_youngest_err', 'youngest_age_max', 'note'))
    out['youngest_age_max'] = out['youngest_age_max'] * u.yr
    out.meta.update(provenance('age_distribution', {
        'class_column': class_column, 'classes': tuple(classes), 'n_bins': n_bins,
        'log_age_range': tuple(log_age_range), 'last_bin': last_bin}))
    return out


def distance_modulus(distance):
    """
    Distance modulus 5 log10(d / 10 pc) of a distance.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass.science import distance_modulus
    >>> distance_modulus(17.7 * u.Mpc).round(2)
    <Quantity 31.24 mag>
    """
    if not isinstance(distance, u.Quantity) or distance.unit.physical_type != 'length':
        msg = f'distance must be a Quantity with a length unit, got {distance!r}'
        raise TypeError(msg)
    if np.any(distance <= 0):
        msg = f'distance must be positive, got {distance}'
        raise ValueError(msg)
    return (5 * np.log10(distance.to_value(u.pc) / 10.0)) * u.mag


def bright_end_completeness(tbl, *, distance_modulus, class_columns='class',
                            mag_column='mag_F555W', limit=HUMPHREYS_DAVIDSON_MV):
    """
    Fraction of sources brighter than an absolute magnitude classed 1 or 2.

    Nothing brighter than M_V ≈ −10 should be a single star (the
    Humphreys–Davidson limit, §6.2), so such sources ought to be clusters;
    the fraction classified 1 or 2 estimates completeness at the bright
    end (foreground stars and galaxy nuclei aside).

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with V magnitudes and one or more class columns.
    distance_modulus : float or `~astropy.units.Quantity`
        Distance modulus (mag), or a distance (length Quantity).
    class_columns : str or sequence of str, optional
        Class columns (one row of output each).
    mag_column : str, optional
        Apparent V magnitude column.
    limit : float, optional
        Absolute-magnitude limit.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per class column: ``class_column``, ``n_bright`` (sources
        with M_V < limit), ``n_inspected`` (of those, classes 1-4),
        ``n_1`` … ``n_4``, ``n_cluster`` (1 or 2), ``fraction``
        (n_cluster / n_inspected) and ``fraction_err`` (binomial).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.science import bright_end_completeness
    >>> tbl = QTable({'mag_F555W': [18.5, 19.0, 19.2, 22.0] * u.mag, 'class': [1, 2, 4, 1]})
    >>> out = bright_end_completeness(tbl, distance_modulus=30.0)   # M_V < -10: V < 20
    >>> out['class_column', 'n_bright', 'n_cluster'].pprint()
    class_column n_bright n_cluster
    ------------ -------- ---------
           class        3         2
    >>> round(float(out['fraction'][0]), 2)
    0.67
    """
    check_table(tbl)
    dm = _distance.distance_modulus(distance_modulus, parameter='distance_modulus')
    if isinstance(class_columns, str):
        class_columns = [class_columns]
    require_columns(tbl, mag_column, parameter='mag_column')
    require_columns(tbl, class_columns, parameter='class_columns')
    mag = float_values(tbl[mag_column], 'mag_column')
    bright = np.isfinite(mag) & (mag - dm < limit)
    rows = []
    for name in class_columns:
        labels = validate_classes(tbl[name], parameter=f'column {name!r}').filled(0)
        sel = labels[bright]
        n_k = [int(np.sum(sel == k)) for k in (1, 2, 3, 4)]
        inspected = int(np.sum(n_k))
        cluster = n_k[0] + n_k[1]
        frac = cluster / inspected if inspected else np.nan
        err = np.sqrt(frac * (1 - frac) / inspected) if inspected else np.nan
        rows.append((name, int(bright.sum()), inspected, *n_k, cluster, frac, err))
    out = QTable(rows=rows, names=('class_column', 'n_bright', 'n_inspected', 'n_1',
                                   'n_2', 'n_3', 'n_4', 'n_cluster', 'fraction',
                                   'fraction_err'))
    out.meta.update(provenance('bright_end_completeness', {
        'distance_modulus': dm, 'mag_column': mag_column, 'limit': limit}))
    return out
