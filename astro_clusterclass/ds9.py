"""
DS9 region files of candidates coloured by class, written with `regions`.

Class colours follow the PHANGS-HST convention (1 red, 2 green, 3 blue,
4 yellow). Rows without a class (LEGUS 0 "not inspected", or a masked
class, e.g. a candidate that could not be classified) are drawn as
**white dashed** circles, so they stay visible and distinguishable.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.utils.exceptions import AstropyUserWarning
from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, Regions

from ._utils.columns import column_values, require_columns
from ._utils.files import atomic_path, check_output
from ._utils.validation import check_choice
from .classes import CLASS_COLORS, validate_classes
from .tables import check_table, pixel_positions, sky_column

__all__ = ['write_ds9_regions', 'catalog_regions', 'PAPER_MAGNITUDE_RADII',
           'UNCLASSIFIED_STYLE']

#: Style of rows whose class is 0 or masked.
UNCLASSIFIED_STYLE = {'color': 'white', 'linestyle': 'dashed'}

#: Circle radii (pixels) by V magnitude used in the figures of Whitmore et
#: al. (2021, §5.3): large circles for 20 < m_V < 23.5, small ones for
#: 23.5 < m_V < 24.5.
PAPER_MAGNITUDE_RADII = ((20.0, 23.5, 8.0), (23.5, 24.5, 4.0))

#: Default circle radius: 5 WFC3/UVIS drizzled pixels (0.2 arcsec).
DEFAULT_RADIUS_PIX = 5.0
_PIXEL_SCALE = 0.04 * u.arcsec


def _class_column(tbl, class_column):
    if class_column is not None:
        require_columns(tbl, class_column, parameter='class_column')
        return class_column
    for name in (tbl.meta.get('class_column'), 'class_mode', 'class'):
        if name and name in tbl.colnames:
            return name
    msg = (f"table has no class column ('class_mode' or 'class', or "
           f"meta['class_column']); pass class_column=. Its columns are "
           f'{tbl.colnames}')
    raise ValueError(msg)


def _radii(tbl, radius, radius_by_magnitude, magnitude_column):
    """Per-row radius in pixels."""
    radii = np.full(len(tbl), float(radius))
    if radius_by_magnitude is None:
        return radii
    mag = column_values(tbl, magnitude_column,
                        parameter='magnitude_column (used by radius_by_magnitude)')
    mag[~np.isfinite(mag)] = np.nan
    for entry in radius_by_magnitude:
        try:
            bright, faint, rad = (float(v) for v in entry)
        except (TypeError, ValueError) as exc:
            msg = ('radius_by_magnitude must be a sequence of '
                   f'(bright, faint, radius) triples, got {entry!r}')
            raise ValueError(msg) from exc
        radii[(mag >= bright) & (mag < faint)] = rad
    return radii


def catalog_regions(tbl, *, class_column=None, coordinates='pixel', wcs=None,
                    radius=DEFAULT_RADIUS_PIX, radius_by_magnitude=None,
                    magnitude_column='mag_F555W', label=None):
    """
    Build one `regions` circle per row, coloured by class.

    Parameters are those of `write_ds9_regions` (without the file).

    Returns
    -------
    regions : `regions.Regions`
        One circle per row with a finite position, in table order.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.ds9 import catalog_regions
    >>> tbl = QTable({'x': [10.0, 20.0], 'y': [5.0, 8.0], 'class': [1, 4]})
    >>> regions = catalog_regions(tbl)
    >>> len(regions), regions[0].center, regions[0].visual['color'], regions[1].visual['color']
    (2, PixCoord(x=10.0, y=5.0), 'red', 'yellow')
    """
    check_table(tbl)
    check_choice(coordinates, ('pixel', 'sky'), 'coordinates')
    name = _class_column(tbl, class_column)
    classes = validate_classes(tbl[name], parameter=f'column {name!r}')
    if label is not None and label not in ('id', 'class') and label not in tbl.colnames:
        msg = f"label must be None, 'id', 'class' or a column name, got {label!r}"
        raise ValueError(msg)
    radius = u.Quantity(radius, u.pix).value
    radii = _radii(tbl, radius, radius_by_magnitude, magnitude_column)

    if coordinates == 'sky':
        sky = sky_column(tbl)
        if sky is not None:
            coords = tbl[sky]
        else:
            if wcs is None:
                msg = "coordinates='sky' needs a SkyCoord column or wcs="
                raise ValueError(msg)
            x, y = pixel_positions(tbl, use='pixel')
            coords = wcs.pixel_to_world(x, y)
        good = np.isfinite(coords.spherical.lon.deg) & np.isfinite(coords.spherical.lat.deg)
        if wcs is not None:
            scale = np.mean(np.abs(wcs.proj_plane_pixel_scales())) * u.deg / u.pix
        else:
            scale = _PIXEL_SCALE / u.pix
    else:
        x, y = pixel_positions(tbl, wcs=wcs)
        good = np.isfinite(x) & np.isfinite(y)

    if not np.all(good):
        warnings.warn(f'{np.sum(~good)} of {len(tbl)} rows have no finite '
                      f'position and get no region', AstropyUserWarning)
    labels = None
    if label == 'class':
        labels = [str(c) if c is not np.ma.masked else '?' for c in classes]
    elif label is not None:
        column = tbl['id'] if label == 'id' else tbl[label]
        labels = [str(v) for v in column]

    shapes = []
    cls_filled = classes.filled(0)
    for i in np.flatnonzero(good):
        c = int(cls_filled[i])
        visual = (dict(UNCLASSIFIED_STYLE) if c == 0
                  else {'color': CLASS_COLORS[c]})
        meta = {'text': labels[i]} if labels is not None else None
        if coordinates == 'sky':
            shape = CircleSkyRegion(coords[i], (radii[i] * u.pix * scale).to(u.arcsec),
                                    meta=meta, visual=visual)
        else:
            shape = CirclePixelRegion(PixCoord(x[i], y[i]), radii[i],
                                      meta=meta, visual=visual)
        shapes.append(shape)
    return Regions(shapes)


def write_ds9_regions(tbl, path, *, class_column=None, coordinates='pixel',
                      wcs=None, radius=DEFAULT_RADIUS_PIX,
                      radius_by_magnitude=None, magnitude_column='mag_F555W',
                      label=None, overwrite=False):
    """
    Write a DS9 region file with one circle per candidate, coloured by class.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with positions and a class column.
    path : str or path-like
        Output ``.reg`` file.
    class_column : str, optional
        Column holding classes 0-4; by default ``meta['class_column']``,
        then ``class_mode`` (output of classification), then ``class``.
    coordinates : {'pixel', 'sky'}, optional
        Write image coordinates (DS9 ``image``, 1-based on disk; `regions`
        converts from the package's 0-based pixels) or ``icrs`` sky
        coordinates.
    wcs : `~astropy.wcs.WCS`, optional
        Converts between pixel and sky positions when the table lacks the
        requested kind, and gives the pixel scale of sky radii.
    radius : float, optional
        Circle radius in pixels (sky radii use the WCS pixel scale, or
        0.04 arcsec per pixel without a WCS).
    radius_by_magnitude : sequence of (bright, faint, radius), optional
        Radius for rows with ``bright <= mag < faint``; other rows keep
        ``radius``. `~astro_clusterclass.ds9.PAPER_MAGNITUDE_RADII`
        reproduces the paper's large and small circles.
    magnitude_column : str, optional
        Magnitude used by ``radius_by_magnitude``.
    label : {None, 'id', 'class'} or str, optional
        Text shown next to each circle: the id, the class, or any column.
    overwrite : bool, optional
        Overwrite an existing file.

    Returns
    -------
    regions : `regions.Regions`
        The regions written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    Rows with class 0 or a masked class are drawn with
    `~astro_clusterclass.ds9.UNCLASSIFIED_STYLE`
    (white, dashed). Rows without a finite position cannot be drawn; they
    are counted in a warning.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass import write_ds9_regions
    >>> tbl = QTable({'x': [10.0, 20.0], 'y': [5.0, 8.0], 'class': [1, 3]})
    >>> path = os.path.join(tempfile.mkdtemp(), 'candidates.reg')
    >>> regs = write_ds9_regions(tbl, path)
    >>> [r.visual['color'] for r in regs]
    ['red', 'blue']
    """
    path = check_output(path, overwrite=overwrite, parameter='path')
    regions = catalog_regions(tbl, class_column=class_column,
                              coordinates=coordinates, wcs=wcs, radius=radius,
                              radius_by_magnitude=radius_by_magnitude,
                              magnitude_column=magnitude_column, label=label)
    with atomic_path(path) as tmp:
        regions.write(tmp, format='ds9')
    return regions
