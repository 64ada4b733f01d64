"""
One-to-one cross-matching of two candidate catalogues.

Two classifications can only be compared on the objects both catalogues
contain (Whitmore et al. 2021, §4 and Table 1 note): matches are one-to-one
within 2 pixels, and only the common field of view is used.

Pixel positions can only be compared between catalogues measured on the
same pixel grid. `pixel_frame` names a catalogue's grid where its reader
knows it (``meta['pixel_frame']``: PHANGS-HST and StarcNet readers; the
LEGUS field of a LEGUS catalogue), and `crossmatch` refuses to match pixel
positions of two catalogues whose grids differ, or whose sky positions
show that they do; they are matched on the sky (an angular radius) or by
a shared id column instead.
"""

import json

import numpy as np
from astropy import units as u
from astropy.coordinates import CartesianRepresentation, SkyCoord
from astropy.table import QTable
from scipy.spatial import Delaunay, QhullError, cKDTree

from .._utils.columns import require_columns
from .._utils.validation import check_choice
from ..tables import check_table, pixel_positions, provenance, sky_coordinates

__all__ = ['crossmatch', 'in_footprint', 'pixel_frame', 'pixel_grid_offset']

_FOOTPRINTS = (None, 'hull')


def _radius(radius):
    """Return (value, 'pixel' or 'sky') for a pixel or angular radius."""
    if isinstance(radius, u.Quantity):
        if radius.unit.physical_type == 'angle':
            value = radius.to(u.arcsec)
            mode = 'sky'
        elif radius.unit == u.pix:
            value = float(radius.value)
            mode = 'pixel'
        else:
            msg = (f'radius must be a number of pixels, a Quantity in pix or '
                   f'an angle; got unit {radius.unit}')
            raise u.UnitsError(msg)
    else:
        try:
            value = float(radius)
        except (TypeError, ValueError) as exc:
            msg = f'radius must be a number of pixels or an angle, got {radius!r}'
            raise TypeError(msg) from exc
        mode = 'pixel'
    number = value.value if mode == 'sky' else value
    if not np.isfinite(number) or number <= 0:
        msg = f'radius must be positive and finite, got {radius!r}'
        raise ValueError(msg)
    return value, mode


def _sky_coords(tbl, name, parameter):
    coords = sky_coordinates(tbl, columns=name)
    if coords is None:
        msg = (f'{parameter} has no sky positions (a SkyCoord column or float RA/Dec '
               f'columns; columns: {tbl.colnames}); an angular radius matches on the sky. '
               f'Give a radius in pixels to match pixel positions, or name the column '
               f'with sky_column=')
        raise ValueError(msg)
    return coords


def _meta_value(meta, key):
    if key in meta:
        return meta[key]
    if 'CCMETA' in meta:  # the complete metadata of a FITS file written by this package
        try:
            return json.loads(meta['CCMETA']).get(key)
        except (TypeError, ValueError, AttributeError):
            return None
    return None


def pixel_frame(tbl):
    """
    Name of the pixel grid a catalogue's pixel positions refer to, or `None` when unknown.

    ``meta['pixel_frame']`` when the reader recorded it (PHANGS-HST:
    ``'PHANGS-HST <galaxy>'``; StarcNet: ``'LEGUS <galaxy>'``), else
    ``'LEGUS <field>'`` for a LEGUS catalogue; tables made from them (e.g.
    by `~astro_clusterclass.classify.classify_table`) keep their ``meta``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import pixel_frame
    >>> pixel_frame(QTable({'x': [1.0]}, meta={'layout': 'legus-35', 'galaxy': 'ngc628-c'}))
    'LEGUS ngc628-c'
    >>> pixel_frame(QTable({'x': [1.0]})) is None
    True
    """
    check_table(tbl)
    frame = _meta_value(tbl.meta, 'pixel_frame')
    if frame:
        return str(frame)
    layout, galaxy = _meta_value(tbl.meta, 'layout'), _meta_value(tbl.meta, 'galaxy')
    if isinstance(layout, str) and layout.startswith('legus') and galaxy:
        return f'LEGUS {galaxy}'
    return None


def pixel_grid_offset(tbl_a, tbl_b, *, radius=0.1 * u.arcsec, min_pairs=5):
    """
    Median pixel offset between the same objects of two catalogues, found on the sky.

    Two catalogues measured on one pixel grid put an object at the same
    pixel position; catalogues of two mosaics do not. The objects are paired
    by their sky positions (mutual nearest neighbours within ``radius``) and
    the median of ``(x_b − x_a, y_b − y_a)`` is returned.

    Parameters
    ----------
    tbl_a, tbl_b : `~astropy.table.Table`
        Catalogues with pixel and sky positions.
    radius : `~astropy.units.Quantity`, optional
        Pairing radius on the sky.
    min_pairs : int, optional
        Fewest pairs that give an answer.

    Returns
    -------
    offset : tuple of float or None
        ``(dx, dy)`` in pixels, or None when a catalogue lacks pixel or sky
        positions or fewer than ``min_pairs`` objects pair up.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import pixel_grid_offset
    >>> from astro_clusterclass.conftest import simple_wcs
    >>> wcs = simple_wcs((500, 500))
    >>> x, y = np.random.default_rng(0).uniform(0, 500, (2, 50))
    >>> a = QTable({'x': x, 'y': y, 'coord': wcs.pixel_to_world(x, y)})
    >>> b = QTable({'x': x + 400, 'y': y, 'coord': a['coord']})  # another mosaic
    >>> [round(v, 6) for v in pixel_grid_offset(a, b)]
    [400.0, 0.0]
    """
    try:
        ca, cb = sky_coordinates(tbl_a), sky_coordinates(tbl_b)
        if ca is None or cb is None or len(ca) == 0 or len(cb) == 0:
            return None
        xa, ya = pixel_positions(tbl_a, use='pixel')
        xb, yb = pixel_positions(tbl_b, use='pixel')
    except (ValueError, TypeError):
        return None
    ia, ib, _ = _mutual_nearest_sky(ca, cb, radius)
    dx, dy = xb[ib] - xa[ia], yb[ib] - ya[ia]
    ok = np.isfinite(dx) & np.isfinite(dy)
    if ok.sum() < min_pairs:
        return None
    return float(np.median(dx[ok])), float(np.median(dy[ok]))


def _check_same_grid(tbl_a, tbl_b):
    """Raise when the two catalogues' pixel positions are on different grids."""
    fa, fb = pixel_frame(tbl_a), pixel_frame(tbl_b)
    hint = ('Match on the sky with an angular radius (e.g. radius=0.08 * u.arcsec, 2 px of '
            'HST drizzled images), or on a shared id column with id_column=.')
    if fa is not None and fb is not None and fa.lower() != fb.lower():
        msg = (f'tbl_a and tbl_b are on different pixel grids (tbl_a: {fa}, tbl_b: {fb}): '
               f'their pixel positions cannot be compared. {hint}')
        raise ValueError(msg)
    offset = pixel_grid_offset(tbl_a, tbl_b)
    if offset is not None and np.hypot(*offset) > 2:
        msg = (f'tbl_a and tbl_b are on different pixel grids: the same objects, paired on '
               f'the sky, lie (dx={offset[0]:+.1f}, dy={offset[1]:+.1f}) px apart in their '
               f'pixel positions. {hint}')
        raise ValueError(msg)


def _plane(coords_a, coords_b):
    """
    Project sky positions onto the tangent plane at their mean position.

    Returns two ``(N, 2)`` arrays of offsets in arcsec, for the convex-hull
    footprint of sky catalogues.
    """
    icrs_a, icrs_b = coords_a.icrs, coords_b.icrs
    xyz = np.concatenate([icrs_a.cartesian.xyz.value, icrs_b.cartesian.xyz.value], axis=1)
    center = SkyCoord(CartesianRepresentation(*xyz.mean(axis=1)), frame='icrs')
    frame = SkyCoord(center.ra, center.dec, frame='icrs').skyoffset_frame()
    planar = []
    for coords in (icrs_a, icrs_b):
        offset = coords.transform_to(frame)
        planar.append(np.column_stack([offset.lon.wrap_at(180 * u.deg).to_value(u.arcsec),
                                       offset.lat.to_value(u.arcsec)]))
    return planar


def in_footprint(points, reference, *, parameter='reference'):
    """
    True for the points inside the convex hull of ``reference``.

    Parameters
    ----------
    points, reference : `~numpy.ndarray`
        ``(N, 2)`` and ``(M, 2)`` planar positions.
    parameter : str, optional
        Name of ``reference`` in error messages.

    Returns
    -------
    inside : `~numpy.ndarray` of bool
        ``(N,)``; points on the hull boundary count as inside.

    Raises
    ------
    ValueError
        If ``reference`` has fewer than three finite, non-collinear points
        (its footprint has no area).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.compare import in_footprint
    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    >>> in_footprint(np.array([[5, 5], [11, 5]]), square).tolist()
    [True, False]
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    reference = np.asarray(reference, dtype=float).reshape(-1, 2)
    reference = reference[np.all(np.isfinite(reference), axis=1)]
    try:
        if len(reference) < 3:
            raise QhullError('too few points')
        hull = Delaunay(reference)
    except QhullError as exc:
        msg = (f'{parameter}: its positions span no area (fewer than 3 '
               f'non-collinear points), so footprint=\'hull\' cannot be used')
        raise ValueError(msg) from exc
    inside = np.zeros(len(points), dtype=bool)
    finite = np.all(np.isfinite(points), axis=1)
    inside[finite] = hull.find_simplex(points[finite]) >= 0
    return inside


def _mutual_nearest(pa, pb, radius):
    """Indices (ia, ib, separation) of mutual nearest neighbours within radius."""
    empty = (np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([]))
    if len(pa) == 0 or len(pb) == 0:
        return empty
    bound = np.nextafter(radius, np.inf)  # cKDTree's bound is strict; ours is inclusive
    dist_ab, nearest_b = cKDTree(pb).query(pa, distance_upper_bound=bound)
    _, nearest_a = cKDTree(pa).query(pb, distance_upper_bound=bound)
    ia = np.flatnonzero(nearest_b < len(pb))
    ib = nearest_b[ia]
    mutual = nearest_a[ib] == ia
    return ia[mutual], ib[mutual], dist_ab[ia[mutual]]


def _mutual_nearest_sky(ca, cb, radius):
    if len(ca) == 0 or len(cb) == 0:
        return (np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                np.array([]) * u.arcsec)
    nearest_b, sep_ab, _ = ca.match_to_catalog_sky(cb)
    nearest_a, _, _ = cb.match_to_catalog_sky(ca)
    ia = np.arange(len(ca))
    keep = (sep_ab <= radius) & (nearest_a[nearest_b] == ia)
    return ia[keep], nearest_b[keep], sep_ab[keep].to(u.arcsec)


def crossmatch(tbl_a, tbl_b, *, radius=2.0, footprint=None, suffixes=('_a', '_b'),
               columns_a=None, columns_b=None, sky_column=None, id_column=None):
    """
    Match two catalogues one-to-one within a radius (or by a shared id).

    Each object of ``tbl_a`` is paired with its nearest neighbour in
    ``tbl_b`` when that neighbour's own nearest neighbour in ``tbl_a`` is
    the same object (mutual nearest neighbours) and they are at most
    ``radius`` apart. Every object is therefore used at most once, and the
    result does not depend on the order of the rows or on which catalogue
    is ``tbl_a``.

    Parameters
    ----------
    tbl_a, tbl_b : `~astropy.table.Table`
        The catalogues (not modified).
    radius : float, `~astropy.units.Quantity`, optional
        Matching radius (inclusive). A number or a Quantity in ``pix``
        matches 0-based pixel positions: both catalogues must be on one
        pixel grid, which is checked (`pixel_frame`, `pixel_grid_offset`);
        an angle matches the tables' sky positions (SkyCoord or float
        RA/Dec columns). Default 2 pixels, as in Whitmore et al. (2021).
    footprint : {None, 'hull'}, optional
        With ``'hull'``, only objects of each catalogue that fall inside the
        convex hull of the other catalogue's positions take part (the
        common field of view). Sky positions are projected onto the tangent
        plane at the catalogues' mean position for this.
    suffixes : tuple of two str, optional
        Appended to the column names of ``tbl_a`` and ``tbl_b``.
    columns_a, columns_b : tuple of str, optional
        Pixel position columns, see
        `~astro_clusterclass.tables.pixel_positions`.
    sky_column : str, optional
        Name of the SkyCoord column in both tables (default: the first one,
        or float RA/Dec columns).
    id_column : str or tuple of two str, optional
        Match the rows whose values in this column (of both tables, or
        ``(column of A, column of B)``) are equal, instead of by position;
        each id must appear at most once in each table (masked ids are not
        matched). ``radius`` and ``footprint`` are then not used; the
        separation is on the sky when both tables have sky positions, else
        in pixels when they share a pixel grid, else NaN.

    Returns
    -------
    matches : `~astropy.table.QTable`
        One row per matched pair, in the order of ``tbl_a``:

        - ``index_a``, ``index_b`` -- row numbers in the input tables
        - ``separation`` -- distance (pixels, or arcsec on the sky)
        - every column of ``tbl_a`` with the first suffix, then every
          column of ``tbl_b`` with the second

        Catalogues that do not overlap give a table with these columns and
        no rows. ``meta`` records the match mode (``'pixel'``, ``'sky'`` or
        ``'id'``), the numbers of rows, of rows in the common footprint and
        of matches, and the provenance.

    Raises
    ------
    ValueError
        If a catalogue has no usable positions of the kind the radius asks
        for, pixel positions are on different grids, ids repeat, if
        ``footprint`` is unknown or a footprint has no area, or if the
        suffixes are equal.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import crossmatch
    >>> a = QTable({'x': [10.0, 50.0, 90.0], 'y': [10.0, 50.0, 90.0], 'class': [1, 2, 4]})
    >>> b = QTable({'x': [50.5, 10.0, 200.0], 'y': [50.0, 11.5, 0.0], 'class': [2, 1, 3]})
    >>> m = crossmatch(a, b, radius=2)
    >>> m['index_a', 'index_b', 'class_a', 'class_b'].pprint()
    index_a index_b class_a class_b
    ------- ------- ------- -------
          0       1       1       1
          1       0       2       2

    Catalogues of two LEGUS fields are on two pixel grids:

    >>> a.meta.update(layout='legus-35', galaxy='ngc628-c')
    >>> b.meta.update(layout='legus-35', galaxy='ngc628-e')
    >>> crossmatch(a, b)
    Traceback (most recent call last):
    ...
    ValueError: tbl_a and tbl_b are on different pixel grids (tbl_a: LEGUS ngc628-c, ...
    """
    check_table(tbl_a, parameter='tbl_a')
    check_table(tbl_b, parameter='tbl_b')
    check_choice(footprint, _FOOTPRINTS, 'footprint')
    if len(suffixes) != 2 or suffixes[0] == suffixes[1]:
        msg = f'suffixes must be two different strings, got {suffixes!r}'
        raise ValueError(msg)

    if id_column is not None:
        if footprint is not None:
            msg = ("footprint='hull' cannot be used with id_column=: matching by id already "
                   "pairs only the objects both catalogs hold")
            raise ValueError(msg)
        index_a, index_b, sep = _match_ids(tbl_a, tbl_b, id_column)
        mode, ok_a, ok_b = 'id', np.ones(len(tbl_a), bool), np.ones(len(tbl_b), bool)
    else:
        value, mode = _radius(radius)
        if mode == 'pixel':
            xa, ya = pixel_positions(tbl_a, columns=columns_a, use='pixel') if len(tbl_a) \
                else _empty_xy()
            xb, yb = pixel_positions(tbl_b, columns=columns_b, use='pixel') if len(tbl_b) \
                else _empty_xy()
            _check_same_grid(tbl_a, tbl_b)
            pa, pb = np.column_stack([xa, ya]), np.column_stack([xb, yb])
            ok_a = np.all(np.isfinite(pa), axis=1)
            ok_b = np.all(np.isfinite(pb), axis=1)
        else:
            ca = _sky_coords(tbl_a, sky_column, 'tbl_a')
            cb = _sky_coords(tbl_b, sky_column, 'tbl_b')
            ok_a = _finite_sky(ca)
            ok_b = _finite_sky(cb)

        if footprint == 'hull' and len(tbl_a) and len(tbl_b):
            if mode == 'pixel':
                plane_a, plane_b = pa, pb
            else:
                plane_a, plane_b = _plane(ca, cb)
            ok_a &= in_footprint(plane_a, plane_b[ok_b], parameter='tbl_b')
            ok_b &= in_footprint(plane_b, plane_a[np.all(np.isfinite(plane_a), axis=1)],
                                 parameter='tbl_a')

        rows_a, rows_b = np.flatnonzero(ok_a), np.flatnonzero(ok_b)
        if mode == 'pixel':
            ia, ib, sep = _mutual_nearest(pa[rows_a], pb[rows_b], value)
            sep = sep * u.pix
        else:
            ia, ib, sep = _mutual_nearest_sky(ca[rows_a], cb[rows_b], value)
        index_a, index_b = rows_a[ia], rows_b[ib]
    order = np.argsort(index_a, kind='stable')
    index_a, index_b, sep = index_a[order], index_b[order], sep[order]

    out = QTable()
    out['index_a'] = index_a.astype(np.int64)
    out['index_b'] = index_b.astype(np.int64)
    out['separation'] = sep
    for tbl, index, suffix in ((tbl_a, index_a, suffixes[0]), (tbl_b, index_b, suffixes[1])):
        part = tbl[index]
        for name in part.colnames:
            new = f'{name}{suffix}'
            if new in out.colnames:
                msg = (f'suffixes={suffixes!r} give the column name {new!r} twice; '
                       f'choose other suffixes')
                raise ValueError(msg)
            out[new] = part[name]
    out.meta.update(provenance('crossmatch', {
        'radius': radius, 'footprint': footprint, 'suffixes': suffixes,
        'id_column': id_column if id_column is None or isinstance(id_column, str)
        else list(id_column)}))
    out.meta['match_mode'] = mode
    out.meta['n_a'] = len(tbl_a)
    out.meta['n_b'] = len(tbl_b)
    out.meta['n_a_in_footprint'] = int(ok_a.sum())
    out.meta['n_b_in_footprint'] = int(ok_b.sum())
    out.meta['n_matched'] = len(out)
    for key, tbl in (('source_a', tbl_a), ('source_b', tbl_b)):
        if tbl.meta.get('file'):
            out.meta[key] = tbl.meta['file']
    return out


def _finite_sky(coords):
    if len(coords) == 0:
        return np.zeros(0, dtype=bool)
    sph = coords.spherical
    return np.isfinite(sph.lon.value) & np.isfinite(sph.lat.value)


def _id_values(tbl, name, parameter):
    require_columns(tbl, name, parameter=parameter)
    column = tbl[name]
    mask = np.ma.getmaskarray(np.ma.asarray(column))
    values = np.asarray(np.ma.asarray(column).data)
    if values.dtype.kind == 'f':
        mask = mask | ~np.isfinite(values)
    if values.dtype.kind in 'US':
        values = np.char.strip(values.astype(str))
    present = values[~mask]
    unique, counts = np.unique(present, return_counts=True)
    if np.any(counts > 1):
        repeated = unique[counts > 1][:5].tolist()
        msg = (f'{parameter}: column {name!r} repeats ids (e.g. {repeated}); matching by id '
               f'needs each id once per catalog')
        raise ValueError(msg)
    return values, mask


def _match_ids(tbl_a, tbl_b, id_column):
    names = (id_column, id_column) if isinstance(id_column, str) else tuple(id_column)
    if len(names) != 2:
        msg = f'id_column must be a column name or a pair of names, got {id_column!r}'
        raise ValueError(msg)
    va, ma = _id_values(tbl_a, names[0], 'id_column (tbl_a)')
    vb, mb = _id_values(tbl_b, names[1], 'id_column (tbl_b)')
    rows_b = {value: i for i, value in enumerate(vb.tolist()) if not mb[i]}
    pairs = [(i, rows_b[value]) for i, value in enumerate(va.tolist())
             if not ma[i] and value in rows_b]
    index_a = np.array([p[0] for p in pairs], dtype=np.int64)
    index_b = np.array([p[1] for p in pairs], dtype=np.int64)
    ca, cb = sky_coordinates(tbl_a), sky_coordinates(tbl_b)
    if ca is not None and cb is not None:
        sep = ca[index_a].separation(cb[index_b]).to(u.arcsec) if len(index_a) \
            else np.array([]) * u.arcsec
        return index_a, index_b, sep
    try:
        _check_same_grid(tbl_a, tbl_b)
        xa, ya = pixel_positions(tbl_a, use='pixel')
        xb, yb = pixel_positions(tbl_b, use='pixel')
    except (ValueError, TypeError):
        return index_a, index_b, np.full(len(index_a), np.nan)
    sep = np.hypot(xa[index_a] - xb[index_b], ya[index_a] - yb[index_b]) * u.pix
    return index_a, index_b, sep


def _empty_xy():
    return np.array([], dtype=float), np.array([], dtype=float)
