"""
The comparison report: every number of Whitmore et al. (2021, §4-5) for two classifications.

`compare_catalogs` cross-matches two catalogs one-to-one (or takes two class
columns of one catalog), and computes the agreement fractions, the four
confusion matrices, agreement versus properties and, with a distance, the
colour-box counts of objects brighter than the normalizing limit. It
returns a `CatalogComparison` holding these tables, which can write them
as ECSV files (the tables of ``clusterclass compare``).
"""

import os

import numpy as np

from .._utils.columns import float_values, require_columns
from .._utils.distance import distance_modulus as _modulus
from .._utils.files import atomic_path, check_output
from .._utils.validation import check_float
from ..tables import check_table, pixel_positions
from .agreement import agreement_fractions, agreement_vs_property, confusion_matrix
from .color_boxes import NORMALIZING_MV, color_box_counts
from .crossmatch import crossmatch

__all__ = ['CatalogComparison', 'compare_catalogs', 'CONFUSION_NORMALIZATIONS']

#: The confusion matrices of a report: name → ``normalize`` of
#: `~astro_clusterclass.compare.confusion_matrix` (counts, no ground truth,
#: A as the truth, B as the truth).
CONFUSION_NORMALIZATIONS = {'counts': None, 'mean': 'mean', 'truth_a': 'a', 'truth_b': 'b'}


class CatalogComparison:
    """
    Two classifications of the same objects, compared; made by `compare_catalogs`.

    Attributes
    ----------
    name_a, name_b : str
        Labels of the two classifications (the colour-box count columns).
    catalogs : dict
        ``name → (table, class column)`` of the two classifications as given.
    matches : `~astropy.table.QTable` or None
        The one-to-one matches (see `~astro_clusterclass.compare.crossmatch`),
        or None when two columns of one catalog were compared.
    pairs : `~astropy.table.Table`
        The table the agreement is computed on: ``matches``, or the one
        catalog itself.
    column_a, column_b : str
        The class columns of ``pairs``.
    agreement : `~astropy.table.QTable`
        `~astro_clusterclass.compare.agreement_fractions` of ``pairs``.
    confusion : dict
        `CONFUSION_NORMALIZATIONS` name → confusion matrix (QTable).
    trends : dict
        Property (a column of catalog A) → agreement versus it in
        equal-number bins (QTable).
    color_boxes : `~astropy.table.QTable` or None
        `~astro_clusterclass.compare.color_box_counts` of both catalogs,
        when a distance modulus was given.
    distance_modulus : float or None
        Distance modulus (mag).
    mv_limit : float
        Only objects with M_V = mag_F555W − distance_modulus below this
        limit are counted in colour boxes (`bright_objects`).
    files : list of str
        Paths written by `write` (empty until then).

    Examples
    --------
    >>> from astro_clusterclass.compare import compare_catalogs
    >>> from astro_clusterclass.datasets import make_cluster_field, relabel_classes
    >>> truth = make_cluster_field((300, 300), 60, seed=1).truth
    >>> comparison = compare_catalogs(truth, relabel_classes(truth, seed=0))
    >>> comparison.n_compared, sorted(comparison.confusion)
    (60, ['counts', 'mean', 'truth_a', 'truth_b'])
    >>> comparison.color_boxes is None  # no distance modulus given
    True
    """

    def __init__(self, *, name_a, name_b, catalogs, matches, pairs, column_a, column_b,
                 agreement, confusion, trends, color_boxes, distance_modulus, mv_limit):
        self.name_a = name_a
        self.name_b = name_b
        self.catalogs = catalogs
        self.matches = matches
        self.pairs = pairs
        self.column_a = column_a
        self.column_b = column_b
        self.agreement = agreement
        self.confusion = confusion
        self.trends = trends
        self.color_boxes = color_boxes
        self.distance_modulus = distance_modulus
        self.mv_limit = mv_limit
        self.files = []

    @property
    def n_compared(self):
        """Objects compared: matched pairs, or the rows of the one catalog."""
        return len(self.pairs)

    @property
    def n_used(self):
        """Objects that both classifications put in classes 1-4."""
        return int(self.agreement.meta['n_used'])

    def __repr__(self):
        return (f'<CatalogComparison {self.name_a} vs {self.name_b}: {self.n_compared} '
                f'objects compared ({self.n_used} classified 1-4 by both)>')

    def summary(self):
        """
        One line: the objects compared and the agreement fraction of every class.

        Returns
        -------
        text : str
        """
        pairs = zip(self.agreement['class'], self.agreement['fraction'])
        rows = ', '.join(f'{c} {f:.2f}' for c, f in pairs)
        return (f'{self.n_compared} objects compared ({self.n_used} classified 1-4 by '
                f'both); agreement: {rows}')

    def bright_objects(self, name):
        """
        The rows of catalog ``name`` brighter than ``mv_limit`` in M_V.

        Parameters
        ----------
        name : str
            ``name_a`` or ``name_b``.

        Returns
        -------
        rows : `~astropy.table.Table` or None
            The rows with ``mag_F555W − distance_modulus < mv_limit`` (NaN
            magnitudes excluded), or None without a distance modulus or a
            ``mag_F555W`` column.

        Raises
        ------
        ValueError
            If ``name`` is neither of the two names.
        """
        if name not in self.catalogs:
            msg = f'name must be one of {list(self.catalogs)}, got {name!r}'
            raise ValueError(msg)
        tbl, _ = self.catalogs[name]
        if self.distance_modulus is None or 'mag_F555W' not in tbl.colnames:
            return None
        v = float_values(tbl['mag_F555W'], 'mag_F555W')
        with np.errstate(invalid='ignore'):
            return tbl[v - self.distance_modulus < self.mv_limit]

    def tables(self):
        """
        The report tables, by file name, in the order they are written.

        Returns
        -------
        tables : dict
            ``matches.ecsv`` (when catalogs were cross-matched),
            ``agreement.ecsv``, ``confusion_<name>.ecsv`` (each of
            `CONFUSION_NORMALIZATIONS`), ``agreement_vs_<property>.ecsv``
            and ``color_boxes.ecsv`` (with a distance modulus) → table.
        """
        out = {}
        if self.matches is not None:
            out['matches.ecsv'] = self.matches
        out['agreement.ecsv'] = self.agreement
        for label, matrix in self.confusion.items():
            out[f'confusion_{label}.ecsv'] = matrix
        for prop, trend in self.trends.items():
            out[f'agreement_vs_{prop}.ecsv'] = trend
        if self.color_boxes is not None:
            out['color_boxes.ecsv'] = self.color_boxes
        return out

    def write(self, output_dir, *, overwrite=False):
        """
        Write `tables` as ECSV files into ``output_dir`` (created if needed).

        Every file is checked before any is written, and each is written
        atomically.

        Parameters
        ----------
        output_dir : str or path-like
        overwrite : bool, optional
            Replace existing files.

        Returns
        -------
        paths : list of str
            The files written (also appended to ``files``).

        Raises
        ------
        FileExistsError
            If a file exists and ``overwrite`` is False (nothing is written).
        """
        output_dir = os.fspath(output_dir)
        tables = {os.path.join(output_dir, name): tbl for name, tbl in self.tables().items()}
        for path in tables:
            check_output(path, overwrite=overwrite, parameter='output_dir')
        os.makedirs(output_dir, exist_ok=True)
        written = []
        for path, tbl in tables.items():
            with atomic_path(path) as tmp:
                tbl.write(tmp, format='ascii.ecsv')
            written.append(path)
        self.files.extend(written)
        return written


def _default_names(name_a, name_b, class_column_a, class_column_b):
    different = class_column_a != class_column_b
    name_a = str(name_a) if name_a is not None else (class_column_a if different else 'A')
    name_b = str(name_b) if name_b is not None else (class_column_b if different else 'B')
    if name_a == name_b:
        msg = f'name_a and name_b must differ, both are {name_a!r}'
        raise ValueError(msg)
    return name_a, name_b


def _properties(properties, tbl_a):
    if properties is None:
        return ['mag_F555W'] if 'mag_F555W' in tbl_a.colnames else []
    properties = [properties] if isinstance(properties, str) else list(properties)
    for prop in properties:
        require_columns(tbl_a, prop, parameter='properties (columns of tbl_a)')
    return properties


def _name(option_names, key):
    return (option_names or {}).get(key, key)


def _radius_text(radius):
    if hasattr(radius, 'unit'):
        return f'{radius.value:g} {radius.unit}'
    return f'{float(radius):g} px'


def _span(tbl):
    """Where a catalog's positions lie, in words."""
    from ..tables import sky_coordinates

    parts = []
    try:
        x, y = pixel_positions(tbl, use='pixel')
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            parts.append(f'pixels x {x[ok].min():.0f}..{x[ok].max():.0f}, '
                         f'y {y[ok].min():.0f}..{y[ok].max():.0f}')
    except (ValueError, TypeError):
        pass
    try:
        coords = sky_coordinates(tbl)
    except (ValueError, TypeError):
        coords = None
    if coords is not None and len(coords):
        icrs = coords.icrs
        parts.append(f'RA {np.nanmin(icrs.ra.deg):.4f}..{np.nanmax(icrs.ra.deg):.4f} deg, '
                     f'Dec {np.nanmin(icrs.dec.deg):.4f}..{np.nanmax(icrs.dec.deg):.4f} deg')
    return '; '.join(parts) or 'no positions'


def _no_match_message(tbl_a, tbl_b, matches, radius, id_column, option_names):
    meta = matches.meta
    files = {side: (f'{tbl.meta["file"]}, ' if tbl.meta.get('file') else '') + f'{len(tbl)} rows'
             for side, tbl in (('A', tbl_a), ('B', tbl_b))}
    if meta['match_mode'] == 'id':
        how = f'by the id column {id_column!r} ({_name(option_names, "id_column")})'
    else:
        how = (f'within {_radius_text(radius)} ({meta["match_mode"]} positions, '
               f'{_name(option_names, "radius")})')
        if meta['n_a_in_footprint'] < meta['n_a'] or meta['n_b_in_footprint'] < meta['n_b']:
            how += (f'; {meta["n_a_in_footprint"]} of A and {meta["n_b_in_footprint"]} of B '
                    f'are in the common footprint')
    return (f'no object of catalog A ({files["A"]}) matched one of catalog B ({files["B"]}) '
            f'{how}: nothing to compare. A spans '
            f'{_span(tbl_a)}; B spans {_span(tbl_b)}. Check that both catalogs cover the same '
            f'field, on the same pixel grid for a pixel radius (else match on the sky or by '
            f'id).')


def _check_bins(pairs, column_a, column_b, prop, suffix, n_bins, option_names):
    """A clear error when too few pairs have the property to fill the bins."""
    a = float_values(pairs[column_a], column_a)
    b = float_values(pairs[column_b], column_b)
    values = float_values(pairs[prop + suffix], prop)
    usable = int(np.sum(np.isin(a, (1, 2, 3, 4)) & np.isin(b, (1, 2, 3, 4))
                        & np.isfinite(values)))
    if usable < n_bins:
        msg = (f'only {usable} of the {len(pairs)} objects compared are classified 1-4 by '
               f'both and have a finite {prop}; agreement versus {prop} in {n_bins} '
               f'equal-number bins ({_name(option_names, "n_bins")}) needs at least '
               f'{n_bins}. Use fewer bins, leave out the property, or check that the '
               f'catalogs overlap')
        raise ValueError(msg)


def compare_catalogs(tbl_a, tbl_b=None, *, class_column_a='class', class_column_b='class',
                     name_a=None, name_b=None, radius=2.0, footprint=None, properties=None,
                     n_bins=4, distance_modulus=None, mv_limit=NORMALIZING_MV,
                     output_dir=None, overwrite=False, id_column=None, option_names=None):
    """
    Compare two classifications as Whitmore et al. (2021) do, in one call.

    Cross-matches ``tbl_a`` and ``tbl_b`` one-to-one (§4) — or, without
    ``tbl_b``, compares two class columns of ``tbl_a`` — and computes the
    agreement fractions, the four confusion matrices, agreement versus
    properties in equal-number bins and, with a distance modulus, the
    objects per class and colour box brighter than ``mv_limit`` (§5).

    Parameters
    ----------
    tbl_a : `~astropy.table.Table`
        Catalog A (not modified).
    tbl_b : `~astropy.table.Table`, optional
        Catalog B (not modified). None: compare the columns
        ``class_column_a`` and ``class_column_b`` of ``tbl_a`` (the objects
        pair with themselves).
    class_column_a, class_column_b : str, optional
        Class columns of A and B (labels 0-4).
    name_a, name_b : str, optional
        Labels of the two classifications, e.g. ``'human'`` and ``'ML'``.
        Default: the class column names when they differ, else ``'A'`` and
        ``'B'``.
    radius : float or `~astropy.units.Quantity`, optional
        Matching radius: pixels (both catalogs on one pixel grid, which is
        checked), or an angle to match the sky positions (see
        `~astro_clusterclass.compare.crossmatch`).
    footprint : {None, 'hull'}, optional
        ``'hull'``: only objects inside the other catalog's convex hull
        are matched.
    id_column : str or tuple of two str, optional
        Match by a shared id column instead of by position (see
        `~astro_clusterclass.compare.crossmatch`).
    option_names : dict, optional
        How ``radius``, ``id_column`` and ``n_bins`` are named in error
        messages (the command line passes its flags).
    properties : str or sequence of str, optional
        Columns of ``tbl_a`` to compute the agreement against. Default
        ``mag_F555W`` when ``tbl_a`` has it.
    n_bins : int, optional
        Equal-number bins of each property.
    distance_modulus : float or `~astropy.units.Quantity`, optional
        Distance modulus (mag) or distance (length); with it the colour-box
        counts are made (both catalogs need ``mag_F336W``, ``mag_F438W``,
        ``mag_F555W`` and ``mag_F814W``).
    mv_limit : float, optional
        Absolute V magnitude limit of the colour-box counts (default
        :data:`~astro_clusterclass.compare.NORMALIZING_MV`, −7.8).
    output_dir : str or path-like, optional
        Write the report tables there (see `CatalogComparison.write`).
    overwrite : bool, optional
        Replace existing files in ``output_dir``.

    Returns
    -------
    comparison : `CatalogComparison`
        ``agreement``, ``confusion``, ``trends``, ``color_boxes``,
        ``matches`` … and the ``files`` written.

    Raises
    ------
    ValueError
        If no object matched (or too few for ``n_bins`` bins of a
        property): the message says what was tried, before anything is
        written; if a class or property column is missing (the message names the
        parameter), the two class columns of one catalog are the same, the
        names are equal (or, with a distance modulus, ``'class'``, ``'box'``
        or ``'qr'``, the other columns of the colour-box counts), or the
        arguments of the functions it calls are invalid.
    TypeError
        If a catalog is not an astropy Table.
    FileExistsError
        If a report file exists in ``output_dir`` and ``overwrite`` is False
        (nothing is written).

    Examples
    --------
    The truth of a simulated field against a seeded second classifier:

    >>> from astro_clusterclass.compare import compare_catalogs
    >>> from astro_clusterclass.datasets import make_cluster_field, relabel_classes
    >>> truth = make_cluster_field((300, 300), 60, seed=1).truth
    >>> second = relabel_classes(truth, seed=0)
    >>> result = compare_catalogs(truth, second, name_a='truth', name_b='second')
    >>> result
    <CatalogComparison truth vs second: 60 objects compared (60 classified 1-4 by both)>
    >>> print(result.summary())  # doctest: +ELLIPSIS
    60 objects compared (60 classified 1-4 by both); agreement: 1 0.80, 2 0.48, ...
    >>> f = result.agreement
    >>> f['fraction'].info.format = '.2f'
    >>> f[f['class'] == '1+2']['class', 'n_a', 'n_b', 'n_both', 'fraction'].pprint()
    class n_a n_b n_both fraction
    ----- --- --- ------ --------
      1+2  25  26     22     0.86

    With ``output_dir`` the tables are written as ECSV files:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> result = compare_catalogs(truth, second, output_dir=folder)
    >>> sorted(os.listdir(folder))  # doctest: +NORMALIZE_WHITESPACE
    ['agreement.ecsv', 'agreement_vs_mag_F555W.ecsv', 'confusion_counts.ecsv',
     'confusion_mean.ecsv', 'confusion_truth_a.ecsv', 'confusion_truth_b.ecsv',
     'matches.ecsv']
    """
    check_table(tbl_a, parameter='tbl_a')
    one_catalog = tbl_b is None
    if one_catalog:
        tbl_b = tbl_a
        if class_column_a == class_column_b:
            msg = (f'class_column_a and class_column_b must differ to compare two columns of '
                   f'one catalog (tbl_b=None), both are {class_column_a!r}')
            raise ValueError(msg)
    else:
        check_table(tbl_b, parameter='tbl_b')
    require_columns(tbl_a, class_column_a, parameter='class_column_a')
    require_columns(tbl_b, class_column_b, parameter='class_column_b')
    name_a, name_b = _default_names(name_a, name_b, class_column_a, class_column_b)
    properties = _properties(properties, tbl_a)
    mv_limit = check_float(mv_limit, 'mv_limit')
    if distance_modulus is not None:
        distance_modulus = _modulus(distance_modulus, parameter='distance_modulus')

    if one_catalog:
        matches, pairs = None, tbl_a
        column_a, column_b, suffix = class_column_a, class_column_b, ''
    else:
        matches = pairs = crossmatch(tbl_a, tbl_b, radius=radius, footprint=footprint,
                                     id_column=id_column)
        if len(matches) == 0:
            raise ValueError(_no_match_message(tbl_a, tbl_b, matches, radius, id_column,
                                               option_names))
        column_a, column_b, suffix = f'{class_column_a}_a', f'{class_column_b}_b', '_a'
    agreement = agreement_fractions(pairs, column_a, column_b)
    confusion = {label: confusion_matrix(pairs, column_a, column_b, normalize=normalize)
                 for label, normalize in CONFUSION_NORMALIZATIONS.items()}
    trends = {}
    for prop in properties:
        _check_bins(pairs, column_a, column_b, prop, suffix, n_bins, option_names)
        trends[prop] = agreement_vs_property(pairs, column_a, column_b, prop + suffix,
                                             n_bins=n_bins, name=prop)
    catalogs = {name_a: (tbl_a, class_column_a), name_b: (tbl_b, class_column_b)}
    color_boxes = None
    if distance_modulus is not None:
        color_boxes = color_box_counts(catalogs, distance_modulus=distance_modulus,
                                       abs_mag_limit=mv_limit)
    result = CatalogComparison(
        name_a=name_a, name_b=name_b, catalogs=catalogs, matches=matches, pairs=pairs,
        column_a=column_a, column_b=column_b,
        agreement=agreement, confusion=confusion,
        trends=trends, color_boxes=color_boxes, distance_modulus=distance_modulus,
        mv_limit=mv_limit)
    if output_dir is not None:
        result.write(output_dir, overwrite=overwrite)
    return result
