"""
Reader for LEGUS cluster-candidate catalogues (``hlsp_legus_*.tab``).

Registered with `astropy.io.registry`, so that::

    QTable.read('hlsp_legus_hst_wfc3_ngc1566_...tab', format='legus')

works (and ``format`` may be omitted for files named ``hlsp_legus_*.tab``
whose first line holds 34-39 numbers: the name alone does not claim a
file, so a FITS table of that name is still read as FITS).

Text is read as UTF-8 (ASCII included) with or without a byte-order mark
(UTF-16 with a byte-order mark too), with Unix, Windows or old Mac line
endings.

The public LEGUS catalogues share 33 leading columns (id, positions,
photometry, CI, SED-fit results) but not their trailing class columns. The
reader identifies the layout from the number of columns *and* the values
in them, and refuses to guess: where the class column cannot be
identified with certainty it raises an error that lists the candidate
columns and tells how to pass ``class_column=``.

Each public catalogue comes with a ``.readme`` describing its columns;
`read_legus_readme` reads it, and `read_legus` uses the one beside the
file (or the one it is given) to name the class columns and the filters
of the band slots, and to record the distance modulus.

Pixel convention: LEGUS x/y are 1-based (IRAF/DS9); the reader subtracts 1
once, so ``x``/``y`` in the returned table are 0-based like everywhere in
this package.
"""

import codecs
import io
import os
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import registry
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.exceptions import AstropyUserWarning
from astropy.utils.masked import Masked

from ..bands import BANDS

__all__ = ['read_legus', 'read_legus_readme', 'LegusLayoutError', 'LEGUS_SENTINELS']

#: Magnitudes meaning "not detected" (99.999), "outside that band's
#: footprint" (66.666) and "aperture correction undefined" (44.444).
LEGUS_SENTINELS = (99.999, 66.666, 44.444)

_N_COMMON = 33  # columns 1-33 are the same in every layout
_CLASS_MEAN = 'visual class, mean of the classifiers (column 35)'

_NGC1566_COLUMNS = (
    ('class', 'final hybrid class (column 34)'),
    ('class_method', 'how the final class was obtained: 0 ML only, 1 ML checked '
                     'by one human, 3 three humans + ML, 4 three humans + ML + one '
                     'human, 6 reclassified from class 4 (column 35)'),
    ('class_human', 'mode of three human classifiers (column 36)'),
    ('class_ml', 'machine-learning class (column 37)'),
    ('class_ml_check', 'one human checking the ML class (column 38)'),
    ('class_reclass', 'reclassification of former class 4 (column 39)'),
)


class LegusLayoutError(ValueError):
    """
    The trailing columns of a LEGUS catalogue cannot be identified with certainty.

    Examples
    --------
    It is a `ValueError`; its message lists the class-like columns and says
    how to name one (see :doc:`/catalogs`):

    >>> from astro_clusterclass.io.legus import LegusLayoutError
    >>> issubclass(LegusLayoutError, ValueError)
    True
    """


def _is_class(values, allowed=(0, 1, 2, 3, 4)):
    return bool(np.all(np.isin(values, allowed)))


def _counts(values):
    vals, counts = np.unique(values, return_counts=True)
    return ', '.join(f'{v:g}: {c}' for v, c in zip(vals, counts))


def _class_like_columns(data, first):
    """0-based indices of trailing columns holding only the values 0-4."""
    return [col for col in range(first, data.shape[1]) if _is_class(data[:, col])]


def _describe_candidates(data, first):
    """Text listing the trailing columns that look like class columns."""
    lines = [f'  column {col + 1}: {{{_counts(data[:, col])}}}'
             for col in _class_like_columns(data, first)]
    return '\n'.join(lines) if lines else '  (none hold only the values 0-4)'


def _position_shift(data, path):
    """
    Number of extra pixel-coordinate columns before RA/Dec (0 or 2).

    Some catalogues (NGC 1313) carry a second x/y pair in columns 4-5 and
    RA/Dec in columns 6-7; RA/Dec are recognised by their ranges.
    """
    def is_radec(i):
        ra, dec = data[:, i], data[:, i + 1]
        return bool(np.all((ra >= 0) & (ra < 360) & (dec >= -90) & (dec <= 90)))

    if is_radec(3):
        return 0
    if data.shape[1] > 6 and is_radec(5):
        return 2
    msg = (f'{path}: columns 4-5 (or 6-7) do not hold RA/Dec in degrees; this '
           f'is not a LEGUS catalogue layout the reader knows')
    raise LegusLayoutError(msg)


def _class_mean_plausible(mode, mean):
    """A class-mean column is 0 exactly where the mode is 0 and within 1-4 elsewhere."""
    inspected = mode > 0
    return bool(np.all(mean[~inspected] == 0)
                and np.all((mean[inspected] >= 1) & (mean[inspected] <= 4)))


def _identify_layout(data, shift, path):
    """
    Return (layout name, {column name: (0-based index, description)}).

    Raises `LegusLayoutError` when the trailing columns are ambiguous.
    """
    ncol = data.shape[1]
    first = _N_COMMON + shift
    n_trailing = ncol - first
    if shift == 0 and 1 <= n_trailing <= 3 and _is_class(data[:, first]):
        mode = data[:, first]
        columns = {'class': (first, 'visual class, mode of the classifiers (column 34)')}
        if n_trailing == 1:
            return 'legus-34', columns
        second = data[:, first + 1]
        flag_like = _is_class(second, (0, 1))
        if n_trailing == 2:
            if _class_mean_plausible(mode, second):
                columns['class_mean'] = (first + 1, _CLASS_MEAN)
                return 'legus-35', columns
            if flag_like:
                columns['flag'] = (first + 1, 'undocumented 0/1 flag (column 35)')
                return 'legus-35-flag', columns
        if n_trailing == 3 and _class_mean_plausible(mode, second) \
                and _is_class(data[:, first + 2], (0, 1)):
            columns['class_mean'] = (first + 1, _CLASS_MEAN)
            columns['flag'] = (first + 2, 'undocumented 0/1 flag (column 36)')
            return 'legus-36', columns
    if shift == 0 and n_trailing == 6:
        trailing = data[:, first:]
        if (_is_class(trailing[:, 0]) and _is_class(trailing[:, 1], (0, 1, 3, 4, 6))
                and all(_is_class(trailing[:, i]) for i in range(2, 6))):
            return 'legus-ngc1566', {name: (first + i, desc) for i, (name, desc)
                                     in enumerate(_NGC1566_COLUMNS)}
    candidates = _class_like_columns(data, first) or [first]
    example = max(candidates, key=lambda c: len(np.unique(data[:, c])))
    msg = (f'{os.path.basename(path)}: cannot identify the class column of this '
           f'{ncol}-column LEGUS layout with certainty. Columns that hold only '
           f'class-like values 0-4:\n{_describe_candidates(data, first)}\n'
           f"Name the one to use as 'class' with class_column=<1-based column "
           f"number>, e.g. QTable.read(path, format='legus', class_column="
           f'{example + 1}).')
    raise LegusLayoutError(msg)


def _readme_info(path, readme, n_columns):
    """What ``read_legus(readme=...)`` takes from the readme, or None."""
    where, explicit = _readme_for(path, readme)
    if where is None:
        return None
    try:
        info = read_legus_readme(where)
        described = max(info['columns'])
        if described != n_columns:
            msg = (f'readme {os.path.basename(where)!r} describes {described} columns but '
                   f'{os.path.basename(path)} has {n_columns}: it belongs to another catalogue')
            raise ValueError(msg)
    except ValueError as exc:
        if explicit:
            raise
        warnings.warn(f'{exc}; the readme beside the catalogue is ignored (pass readme=None '
                      f'to silence this)', AstropyUserWarning, stacklevel=4)
        return None
    return dict(info, file=os.path.basename(where))


def _user_layout(data, shift, class_column, path, *, source='the caller'):
    """Columns when the caller (or the readme) names the class column(s)."""
    ncol = data.shape[1]
    first = _N_COMMON + shift
    if isinstance(class_column, dict):
        wanted = dict(class_column)
    else:
        wanted = {'class': class_column}
    if 'class' not in wanted:
        msg = "class_column as a mapping must include the key 'class'"
        raise ValueError(msg)
    columns = {}
    for name, number in wanted.items():
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
            msg = f'class_column[{name!r}] must be a 1-based column number, got {number!r}'
            raise TypeError(msg)
        index = int(number) - 1
        if not first <= index < ncol:
            msg = (f'class_column={number} is not a trailing column of this '
                   f'{ncol}-column file; choose one of {first + 1}-{ncol}')
            raise ValueError(msg)
        values = data[:, index]
        mean_like = name == 'class_mean' and bool(np.all((values >= 0) & (values <= 4)))
        if not (_is_class(values) or mean_like):
            msg = (f'class_column={number}: column holds values outside 0-4 '
                   f'({{{_counts(data[:, index])}}})')
            if source != 'the caller':
                msg = f'{os.path.basename(path)}: {source} names column {number} as {name!r}, ' \
                      f'but it holds values outside 0-4 ({{{_counts(data[:, index])}}})'
            raise ValueError(msg)
        columns[name] = (index, f'class chosen by {source} (column {number})')
    used = {index for index, _ in columns.values()}
    for index in range(first, ncol):
        if index not in used:
            columns[f'col{index + 1}'] = (index, f'undocumented column {index + 1}')
    return f'legus-{ncol}-user', columns


#: A numbered column line of a LEGUS readme ("34. Final assigned class ...").
_README_COLUMN = re.compile(r'^\s*(\d+)\s*\.\s*(.+?)\s*$')
_README_MAG = re.compile(r'final total mag in\s+(?:(\w+)/)?\s*(F\d{3}[WMN])', re.I)
_README_DISTANCE = re.compile(r'distance modulus used\s+([\d.]+)\s*mag', re.I)


def read_legus_readme(path):
    """
    Read the ``.readme`` that describes a LEGUS catalogue's columns.

    Parameters
    ----------
    path : str or path-like
        The readme (``hlsp_legus_*.readme``).

    Returns
    -------
    info : dict
        ``columns`` (1-based column number → its description),
        ``class_columns`` (``'class'`` → the number of the column of the
        final class by the mode of the classifiers, ``'class_mean'`` → the
        mean's, when described), ``bands`` (the package's band slot →
        ``'CAMERA/FILTER'`` of the photometry columns), ``distance_modulus``
        (mag, or None) and ``notes`` (the ``#`` comment lines).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it lists no numbered columns, or not the five magnitudes.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.io import read_legus_readme
    >>> path = os.path.join(tempfile.mkdtemp(), 'hlsp_legus_x.readme')
    >>> lines = ['# Distance modulus used 29.98 mag (9.9 Mpc)', 'Order of the columns',
    ...          '1. source id'] + [f'{6 + 2 * i}. final total mag in {f}' for i, f in
    ...          enumerate(['WFC3/F275W', 'WFC3/F336W', 'ACS/F435W', 'ACS/F555W', 'ACS/F814W'])]
    >>> lines += ['34. Final assigned class of the source after visual inspection, applying '
    ...           'the mode.', '35. Final assigned class ..., applying the mean.']
    >>> from pathlib import Path
    >>> _ = Path(path).write_text('\\n'.join(lines))
    >>> info = read_legus_readme(path)
    >>> info['class_columns'], info['bands']['F438W'], info['distance_modulus']
    ({'class': 34, 'class_mean': 35}, 'ACS/F435W', 29.98)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        msg = f'LEGUS readme {path!r} does not exist'
        raise FileNotFoundError(msg)
    with open(path, 'rb') as fh:
        text = _decode(fh.read(), path, errors='replace')
    columns, notes, distance = {}, [], None
    for line in text.splitlines():
        if line.lstrip().startswith('#'):
            notes.append(line.lstrip('# ').rstrip())
            match = _README_DISTANCE.search(line)
            if match:
                distance = float(match.group(1))
            continue
        match = _README_COLUMN.match(line)
        if match:
            columns[int(match.group(1))] = match.group(2)
    if not columns:
        msg = f'{path}: no numbered column descriptions ("1. source id") in this LEGUS readme'
        raise ValueError(msg)
    filters = []
    for number in sorted(columns):
        match = _README_MAG.search(columns[number])
        if match:
            camera = (match.group(1) or '').upper()
            filters.append(f'{camera}/{match.group(2).upper()}' if camera else
                           match.group(2).upper())
    if len(filters) != len(BANDS):
        msg = (f'{path}: expected the total magnitudes of {len(BANDS)} filters ("final total '
               f'mag in WFC3/F275W"), found {len(filters)}: {filters}')
        raise ValueError(msg)
    classes = {}
    for number in sorted(columns):
        text = columns[number].lower()
        if 'assigned class' in text and 'mode' in text and 'class' not in classes:
            classes['class'] = number
        elif 'assigned class' in text and 'mean' in text and 'class_mean' not in classes:
            classes['class_mean'] = number
    return {'columns': columns, 'class_columns': classes, 'bands': dict(zip(BANDS, filters)),
            'distance_modulus': distance, 'notes': notes}


def _readme_for(path, readme):
    """(readme path or None, explicit?) for ``read_legus(readme=...)``."""
    if readme is None or readme is False:
        return None, False
    if isinstance(readme, str) and readme == 'auto':
        stem, ext = os.path.splitext(path)
        candidate = stem + '.readme'
        return (candidate, False) if ext.lower() == '.tab' and os.path.isfile(candidate) \
            else (None, False)
    return os.fspath(readme), True


def _band_filters(path):
    """Actual filter behind each band slot, from the file name's instrument."""
    name = os.path.basename(path)
    if '_acs-wfc3_' in name:
        return {'F275W': 'WFC3/F275W', 'F336W': 'WFC3/F336W', 'F438W': 'ACS/F435W',
                'F555W': 'ACS/F555W or ACS/F606W (not recorded in the catalogue)',
                'F814W': 'ACS/F814W'}
    return {band: f'WFC3/{band}' for band in BANDS}


def _masked_quantity(values, unit, mask):
    return Masked(u.Quantity(values, unit), mask=mask)


#: Byte-order marks and their encodings (UTF-8 files saved by Windows tools carry one).
_BOMS = ((codecs.BOM_UTF8, 'utf-8'), (codecs.BOM_UTF16_LE, 'utf-16-le'),
         (codecs.BOM_UTF16_BE, 'utf-16-be'))


def _decode(content, path, *, errors='strict'):
    """Text of a catalogue's bytes: byte-order mark removed, line endings made ``\\n``."""
    if isinstance(content, str):
        text = content.removeprefix('\ufeff')
    else:
        encoding = 'utf-8'
        for bom, name in _BOMS:
            if content.startswith(bom):
                content, encoding = content[len(bom):], name
                break
        try:
            text = content.decode(encoding, errors=errors)
        except UnicodeDecodeError as exc:
            msg = f'{path} is not a LEGUS catalogue: it is not a text file'
            raise ValueError(msg) from exc
    return text.replace('\r\n', '\n').replace('\r', '\n')


def _looks_like_legus(head):
    """Whether the first data line of ``head`` (bytes or text) holds 34-39 numbers."""
    try:
        text = _decode(head, '', errors='ignore')
    except ValueError:  # pragma: no cover - errors='ignore' never raises
        return False
    for line in text.split('\n'):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if not 34 <= len(fields) <= 39:
            return False
        try:
            values = [float(field) for field in fields]
        except ValueError:
            return False
        return values[0] == round(values[0])
    return False


def _load(source, path):
    try:
        with warnings.catch_warnings():
            # An empty file is reported below with a clearer message.
            warnings.filterwarnings('ignore', 'loadtxt: input contained no data')
            data = np.loadtxt(source, ndmin=2, comments='#')
    except ValueError as exc:
        msg = (f'{path} is not a LEGUS catalogue: it must be whitespace-'
               f'separated numbers with 34-39 columns ({exc})')
        raise ValueError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f'{path} is not a LEGUS catalogue: it is not a text file'
        raise ValueError(msg) from exc
    if data.size == 0:
        msg = f'{path} is not a LEGUS catalogue: it holds no rows'
        raise ValueError(msg)
    if not 34 <= data.shape[1] <= 39:
        msg = (f'{path} is not a LEGUS catalogue: it has {data.shape[1]} '
               f'columns, LEGUS layouts have 34-39')
        raise ValueError(msg)
    ids = data[:, 0]
    if not np.all(ids == np.round(ids)):
        msg = f'{path} is not a LEGUS catalogue: column 1 (source id) is not integer'
        raise ValueError(msg)
    return data


def read_legus(path, *, class_column=None, readme='auto'):
    """
    Read a LEGUS cluster catalogue into a `~astropy.table.QTable`.

    Parameters
    ----------
    path : str or path-like
        A LEGUS ``.tab`` catalogue (whitespace-separated, no header).
    class_column : int or dict, optional
        1-based number of the column to read as ``class`` (as numbered in
        the LEGUS readme), required for layouts the reader cannot identify
        with certainty. A dict ``{name: number}`` reads several class
        columns; it must contain ``'class'``.
    readme : ``'auto'``, str, path-like or None, optional
        The catalogue's LEGUS readme (`read_legus_readme`): ``'auto'`` uses
        ``<name>.readme`` beside a ``<name>.tab`` file when there is one; a
        path must exist. The readme names the class columns (when
        ``class_column`` is not given), the filter of each band slot
        (``meta['bands']``) and the distance modulus
        (``meta['distance_modulus']``). A readme that does not fit the file
        (columns it describes beyond the file's) is an error when given,
        and is ignored with a warning when found automatically.

    Returns
    -------
    table : `~astropy.table.QTable`
        Columns, in order:

        - ``id`` -- LEGUS source id
        - ``x``, ``y`` -- 0-based pixel position (LEGUS 1-based minus 1)
        - ``x_2``, ``y_2`` -- second 0-based pixel pair (only in layouts
          that carry one, e.g. NGC 1313)
        - ``coord`` -- `~astropy.coordinates.SkyCoord` (ICRS)
        - ``mag_<band>``, ``magerr_<band>`` -- Vega magnitudes per band slot
          (masked where LEGUS wrote 99.999, 66.666 or 44.444)
        - ``ci`` -- concentration index in F555W (mag)
        - ``age``, ``age_max``, ``age_min`` (yr), ``mass``, ``mass_max``,
          ``mass_min`` (solMass), ``ebv``, ``ebv_max``, ``ebv_min`` (mag) --
          SED fit; masked where no fit was made (all zero in the file)
        - ``sed_resid_<band>``, ``chi2_red``, ``q_prob``, ``n_filters``
        - ``class`` and the layout's other class columns (``class_mean``,
          ``flag``; for NGC 1566 ``class_method``, ``class_human`` (three-
          human mode), ``class_ml``, ``class_ml_check``, ``class_reclass``)

        ``meta`` gives ``file``, ``layout``, ``bands`` (band slot → filter),
        ``class_column`` (always ``'class'``), ``class_columns`` (name →
        description), ``pixel_origin`` and ``sentinels``; with a readme
        also ``readme`` (its file name) and ``distance_modulus`` (mag, when
        it says).

    Raises
    ------
    LegusLayoutError
        If the class columns cannot be identified; the message lists the
        candidate columns and how to pass ``class_column=``.
    ValueError
        If the file is not a LEGUS catalogue.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> import astro_clusterclass.io  # registers format='legus'
    >>> tbl = QTable.read(path, format='legus')  # doctest: +SKIP
    """
    if hasattr(path, 'read'):
        # astropy's registry hands over an open file when format is guessed.
        name = os.fspath(getattr(path, 'name', '<file object>'))
        content, path = path.read(), name
    else:
        path = os.fspath(path)
        with open(path, 'rb') as fh:
            content = fh.read()
    data = _load(io.StringIO(_decode(content, path)), path)
    shift = _position_shift(data, path)
    info = _readme_info(path, readme, data.shape[1])
    if class_column is None and info is not None and 'class' in info['class_columns']:
        layout, trailing = _user_layout(data, shift, info['class_columns'], path,
                                        source=f"the readme ({info['file']})")
        layout = f'legus-{data.shape[1]}-readme'
        for name, number in info['class_columns'].items():
            text = info['columns'][number].split('. Only ')[0]
            trailing[name] = (number - 1, f'{text} (column {number}, as the readme says)')
    elif class_column is None:
        layout, trailing = _identify_layout(data, shift, path)
    else:
        layout, trailing = _user_layout(data, shift, class_column, path)

    tbl = QTable()
    tbl['id'] = data[:, 0].astype(np.int64)
    # LEGUS pixels are 1-based (IRAF/DS9); the package is 0-based.
    tbl['x'] = data[:, 1] - 1.0
    tbl['y'] = data[:, 2] - 1.0
    if shift:
        tbl['x_2'] = data[:, 3] - 1.0
        tbl['y_2'] = data[:, 4] - 1.0
    s = shift
    tbl['coord'] = SkyCoord(data[:, 3 + s] * u.deg, data[:, 4 + s] * u.deg, frame='icrs')
    for i, band in enumerate(BANDS):
        mag = data[:, 5 + s + 2 * i]
        err = data[:, 6 + s + 2 * i]
        sentinel = np.isin(np.round(mag, 3), LEGUS_SENTINELS)
        tbl[f'mag_{band}'] = _masked_quantity(mag, u.mag, sentinel)
        tbl[f'magerr_{band}'] = _masked_quantity(err, u.mag, sentinel)
    tbl['ci'] = _masked_quantity(data[:, 15 + s], u.mag,
                                 np.isin(np.round(data[:, 15 + s], 3), LEGUS_SENTINELS))
    no_fit = (data[:, 16 + s] == 0) & (data[:, 19 + s] == 0)
    for j, (name, unit) in enumerate((('age', u.yr), ('mass', u.solMass), ('ebv', u.mag))):
        for k, suffix in enumerate(('', '_max', '_min')):
            tbl[name + suffix] = _masked_quantity(data[:, 16 + s + 3 * j + k], unit, no_fit)
    for i, band in enumerate(BANDS):
        tbl[f'sed_resid_{band}'] = MaskedColumn(data[:, 25 + s + i], mask=no_fit)
    tbl['chi2_red'] = MaskedColumn(data[:, 30 + s], mask=no_fit)
    tbl['q_prob'] = MaskedColumn(data[:, 31 + s], mask=no_fit)
    tbl['n_filters'] = data[:, 32 + s].astype(np.int64)
    for name, (index, _) in trailing.items():
        values = data[:, index]
        integer = np.all(values == np.round(values))
        tbl[name] = values.astype(np.int64) if integer else values

    tbl.meta['file'] = os.path.basename(path)
    tbl.meta['galaxy'] = _galaxy(path)
    tbl.meta['layout'] = layout
    tbl.meta['n_columns'] = int(data.shape[1])
    tbl.meta['bands'] = _band_filters(path) if info is None else info['bands']
    if info is not None:
        tbl.meta['readme'] = info['file']
        if info['distance_modulus'] is not None:
            tbl.meta['distance_modulus'] = info['distance_modulus']
    tbl.meta['class_column'] = 'class'
    tbl.meta['class_columns'] = {name: desc for name, (_, desc) in trailing.items()
                                 if name.startswith('class') or name.startswith('col')}
    tbl.meta['pixel_origin'] = 'x, y are 0-based (LEGUS 1-based values minus 1)'
    tbl.meta['sentinels'] = ('magnitudes of 99.999 (not detected), 66.666 (outside '
                             'the band footprint) and 44.444 (no aperture '
                             'correction) are masked')
    return tbl


def _galaxy(path):
    match = re.match(r'hlsp_legus_hst_[a-z0-9-]+?_(.+?)_multiband', os.path.basename(path))
    return match.group(1) if match else None


def _identify(origin, path, fileobj, *args, **kwargs):
    """A LEGUS catalogue by its name (``hlsp_legus_*.tab``) and its first line (34-39 numbers)."""
    name = os.path.basename(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else ''
    if origin != 'read' or not (name.startswith('hlsp_legus_') and name.endswith('.tab')):
        return False
    try:
        if fileobj is not None:
            position = fileobj.tell()
            head = fileobj.read(8192)
            fileobj.seek(position)
        else:
            with open(path, 'rb') as fh:
                head = fh.read(8192)
    except (OSError, ValueError, AttributeError):
        return False
    return _looks_like_legus(head)


def _register():
    # Registered for Table only: QTable inherits it, whereas registering for
    # QTable too would hide astropy's own formats from QTable.read.
    if 'legus' not in registry.get_formats(Table)['Format']:
        registry.register_reader('legus', Table, read_legus)
        registry.register_identifier('legus', Table, _identify)


_register()
