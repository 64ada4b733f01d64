"""
DS9 region files of candidates coloured by class, written with `regions`.

Class colours follow the PHANGS-HST convention (1 red, 2 green, 3 blue,
4 yellow). Rows without a class (LEGUS 0 "not inspected", or a masked
class, e.g. a candidate that could not be classified) are drawn as
**white dashed** circles, so they stay visible and distinguishable.

Every circle carries DS9 group tags (``tag={class 1}``, ``tag={class 4.1}``
for subclasses, ``tag={unclassified}``, ``tag={low confidence}``), so that
DS9's Region → Groups dialog lists the classes and shows or hides each of
them with one click.
"""

import re
import warnings

import numpy as np
from astropy import units as u
from astropy.utils.exceptions import AstropyUserWarning
from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, Regions

from ._utils.columns import column_values, require_columns
from ._utils.files import atomic_path, check_output
from ._utils.validation import check_choice, check_float
from .classes import CLASSES, CLASS_COLORS, validate_classes
from .tables import check_table, pixel_positions, sky_coordinates

__all__ = ['write_ds9_regions', 'catalog_regions', 'PAPER_MAGNITUDE_RADII',
           'UNCLASSIFIED_STYLE', 'LOW_CONFIDENCE_STYLE', 'CONFIDENCE_THRESHOLD',
           'UNCLASSIFIED_TAG', 'LOW_CONFIDENCE_TAG']

#: Style of rows whose class is 0 or masked.
UNCLASSIFIED_STYLE = {'color': 'white', 'linestyle': 'dashed'}

#: Style added to the class colour of rows whose confidence is below the threshold.
LOW_CONFIDENCE_STYLE = {'linestyle': 'dashed'}

#: Default confidence below which a circle is drawn dashed: the machine's
#: probability of the class drawn is below one half.
CONFIDENCE_THRESHOLD = 0.5

#: DS9 group of the rows without a class.
UNCLASSIFIED_TAG = 'unclassified'

#: DS9 group of the rows whose confidence is below the threshold.
LOW_CONFIDENCE_TAG = 'low confidence'

#: Circle radii (pixels) by V magnitude used in the figures of Whitmore et
#: al. (2021, §5.3): large circles for 20 < m_V < 23.5, small ones for
#: 23.5 < m_V < 24.5.
PAPER_MAGNITUDE_RADII = ((20.0, 23.5, 8.0), (23.5, 24.5, 4.0))

#: Default circle radius: 5 WFC3/UVIS drizzled pixels (0.2 arcsec).
DEFAULT_RADIUS_PIX = 5.0
_PIXEL_SCALE = 0.04 * u.arcsec

# The sky circle lines `regions` writes: circle(lon,lat,radius) then the meta.
_SKY_CIRCLE = re.compile(r'^(?P<head>(?:\w+; )?circle\([^,]+,[^,]+,)(?P<radius>[^)]+)\)')


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


def _subclasses(tbl, subclass_column, classes):
    """Per-row subclass label ('4.1'), '' where none or where it is not of the row's class."""
    if subclass_column is None:
        return None
    if subclass_column == 'auto':
        if 'subclass' not in tbl.colnames:
            return None
        subclass_column = 'subclass'
    require_columns(tbl, subclass_column, parameter='subclass_column')
    values = np.ma.filled(np.ma.asarray(tbl[subclass_column]).astype(str), '')
    out = []
    for value, klass in zip(values, classes):
        value = str(value).strip()
        # A subclass of another class (e.g. the truth's subclass next to a
        # predicted class) would put the circle into a wrong group.
        head = value.split('.')[0]
        keep = bool(value) and klass is not np.ma.masked and head == str(int(klass))
        out.append(value if keep else '')
    return out


def _confidence(tbl, confidence, classes):
    """Per-row confidence (NaN where unknown), or None for no confidence."""
    if confidence is None:
        return None
    if confidence == 'auto':
        names = [f'prob_{k}' for k in CLASSES]
        if not all(name in tbl.colnames for name in names):
            return None
        prob = np.column_stack([column_values(tbl, name) for name in names])
        filled = classes.filled(0)
        out = np.full(len(tbl), np.nan)
        has = np.isin(filled, CLASSES)
        out[has] = prob[np.flatnonzero(has), filled[has] - 1]
        return out
    return column_values(tbl, confidence, parameter='confidence')


def catalog_regions(tbl, *, class_column=None, coordinates='pixel', wcs=None,
                    radius=DEFAULT_RADIUS_PIX, radius_by_magnitude=None,
                    magnitude_column='mag_F555W', label=None, subclass_column='auto',
                    confidence='auto', confidence_threshold=CONFIDENCE_THRESHOLD,
                    confidence_label=False):
    """
    Build one `regions` circle per row, coloured by class and tagged with DS9 groups.

    Parameters are those of `write_ds9_regions` (without the file).

    Returns
    -------
    regions : `regions.Regions`
        One circle per row with a finite position, in table order. Sky
        circles have their radius in arcsec.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.ds9 import catalog_regions
    >>> tbl = QTable({'x': [10.0, 20.0], 'y': [5.0, 8.0], 'class': [1, 4]})
    >>> regions = catalog_regions(tbl)
    >>> len(regions), regions[0].center, regions[0].visual['color'], regions[1].visual['color']
    (2, PixCoord(x=10.0, y=5.0), 'red', 'yellow')
    >>> regions[1].meta['tag']
    ['class 4']
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
    subclasses = _subclasses(tbl, subclass_column, classes)
    quality = _confidence(tbl, confidence, classes)
    threshold = check_float(confidence_threshold, 'confidence_threshold')
    if confidence_label and quality is None:
        msg = ('confidence_label=True needs a confidence: the table has no prob_1 ... prob_4 '
               'columns; name a column with confidence=')
        raise ValueError(msg)

    if coordinates == 'sky':
        coords = sky_coordinates(tbl)
        if coords is None:
            if wcs is None:
                msg = "coordinates='sky' needs a SkyCoord column or wcs="
                raise ValueError(msg)
            x, y = pixel_positions(tbl, use='pixel')
            coords = wcs.pixel_to_world(x, y)
        good = np.isfinite(coords.spherical.lon.deg) & np.isfinite(coords.spherical.lat.deg)
        if wcs is not None:
            # Quantities in recent astropy, plain degrees in older ones.
            scales = u.Quantity(wcs.proj_plane_pixel_scales(), u.deg)
            scale = np.mean(np.abs(scales)) / u.pix
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
        if c == 0:
            visual, tags = dict(UNCLASSIFIED_STYLE), [UNCLASSIFIED_TAG]
        else:
            visual, tags = {'color': CLASS_COLORS[c]}, [f'class {c}']
            if subclasses is not None and subclasses[i]:
                tags.append(f'class {subclasses[i]}')
            if quality is not None and quality[i] < threshold:
                visual.update(LOW_CONFIDENCE_STYLE)
                tags.append(LOW_CONFIDENCE_TAG)
        text = labels[i] if labels is not None else None
        if confidence_label and np.isfinite(quality[i]):
            text = f'{quality[i]:.2f}' if text is None else f'{text} {quality[i]:.2f}'
        meta = {} if text is None else {'text': text}
        meta['tag'] = tags
        if coordinates == 'sky':
            shape = CircleSkyRegion(coords[i], (radii[i] * u.pix * scale).to(u.arcsec),
                                    meta=meta, visual=visual)
        else:
            shape = CirclePixelRegion(PixCoord(x[i], y[i]), radii[i],
                                      meta=meta, visual=visual)
        shapes.append(shape)
    return Regions(shapes)


def _header():
    """The first line `regions` writes in a DS9 file (it writes nothing for no region)."""
    return CirclePixelRegion(PixCoord(0, 0), 1).serialize(format='ds9').splitlines()[0]


def _arcsec(token):
    """A DS9 sky length as written by `regions` (plain degrees, or with a unit) in arcsec."""
    units = {'"': u.arcsec, "'": u.arcmin, 'd': u.deg, 'r': u.rad}
    token = token.strip()
    if token and token[-1] in units:
        return float(token[:-1]) * units[token[-1]].to(u.arcsec)
    return float(token) * u.deg.to(u.arcsec)


def _ds9_text(regions, coordinates):
    """
    The DS9 text of ``regions``, with sky radii in arcsec.

    `regions` writes every sky length in degrees with 8 decimals, which
    rounds a 0.2" circle to 1e-4 of its size and is hard to read; the
    radius of each sky circle line is rewritten in arcsec after checking it
    against the region it came from. The header, frame and every style and
    tag are those `regions` wrote.
    """
    if len(regions) == 0:
        frame = 'image' if coordinates == 'pixel' else 'icrs'
        return f'{_header()}\n{frame}\n'
    text = regions.serialize(format='ds9')
    if coordinates == 'pixel':
        return text
    lines = text.splitlines()
    shapes = iter(regions)
    for n, line in enumerate(lines):
        match = _SKY_CIRCLE.match(line)
        if match is None:
            continue
        expected = next(shapes).radius.to_value(u.arcsec)
        written = _arcsec(match['radius'])
        if not np.isclose(written, expected, rtol=1e-3, atol=1e-3):  # pragma: no cover
            msg = f'regions wrote radius {match["radius"]!r} for a {expected}" circle'
            raise RuntimeError(msg)
        lines[n] = f'{match["head"]}{expected:.6g}"){line[match.end():]}'
    return '\n'.join(lines) + '\n'


def write_ds9_regions(tbl, path, *, class_column=None, coordinates='pixel',
                      wcs=None, radius=DEFAULT_RADIUS_PIX,
                      radius_by_magnitude=None, magnitude_column='mag_F555W',
                      label=None, subclass_column='auto', confidence='auto',
                      confidence_threshold=CONFIDENCE_THRESHOLD, confidence_label=False,
                      overwrite=False):
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
        coordinates with radii in arcsec.
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
    subclass_column : str or None, optional
        Column of subclass labels (``'4.1'``...); a row whose subclass
        belongs to its class gets a second group, ``class 4.1``. ``'auto'``
        uses a ``subclass`` column when there is one; None adds none.
    confidence : str or None, optional
        How sure the classification is, 0-1: ``'auto'`` takes the
        probability of the class drawn from the ``prob_1`` ... ``prob_4``
        columns of `~astro_clusterclass.classify.classify_table` when the
        table has them; a column name takes that column (e.g.
        ``class_quality``); None shows no confidence.
    confidence_threshold : float, optional
        Classified rows whose confidence is below it are drawn dashed in
        their class colour (`~astro_clusterclass.ds9.LOW_CONFIDENCE_STYLE`)
        and join the ``low confidence`` group; rows without a confidence value
        (NaN or masked) are drawn as confident ones.
    confidence_label : bool, optional
        Add the confidence (two decimals) to the text of each circle.
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
    ValueError
        If a named column is missing, or ``confidence_label`` is set without
        a confidence.

    Notes
    -----
    Rows with class 0 or a masked class are drawn with
    `~astro_clusterclass.ds9.UNCLASSIFIED_STYLE`
    (white, dashed) in the ``unclassified`` group. Rows without a finite
    position cannot be drawn; they are counted in a warning. A table
    without rows gives a file with the DS9 header and the frame, which DS9
    and `regions.Regions.read` open as an empty region list.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass import write_ds9_regions
    >>> tbl = QTable({'x': [10.0, 20.0], 'y': [5.0, 8.0], 'class': [1, 3],
    ...               'prob_1': [0.9, 0.1], 'prob_2': [0.05, 0.2],
    ...               'prob_3': [0.05, 0.4], 'prob_4': [0.0, 0.3]})
    >>> path = os.path.join(tempfile.mkdtemp(), 'candidates.reg')
    >>> regs = write_ds9_regions(tbl, path, confidence_label=True)
    >>> from pathlib import Path
    >>> print(Path(path).read_text())  # doctest: +NORMALIZE_WHITESPACE
    # Region file format: DS9 astropy/regions
    image
    circle(11.00000000,6.00000000,5.00000000) # text={0.90} tag={class 1} color=red
    circle(21.00000000,9.00000000,5.00000000) # text={0.40} tag={class 3}
        tag={low confidence} color=blue dash=1
    """
    path = check_output(path, overwrite=overwrite, parameter='path')
    regions = catalog_regions(tbl, class_column=class_column,
                              coordinates=coordinates, wcs=wcs, radius=radius,
                              radius_by_magnitude=radius_by_magnitude,
                              magnitude_column=magnitude_column, label=label,
                              subclass_column=subclass_column, confidence=confidence,
                              confidence_threshold=confidence_threshold,
                              confidence_label=confidence_label)
    text = _ds9_text(regions, coordinates)
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as fh:
            fh.write(text)
    return regions
