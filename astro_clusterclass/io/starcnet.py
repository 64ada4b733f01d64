"""
Reader for the outputs of StarcNet (Pérez et al. 2021), the LEGUS cluster classifier.

StarcNet writes two kinds of files (registered here as ``format='starcnet'``,
recognised from their content, so ``format`` may be omitted):

- ``predictions.csv``: a CSV table with the header
  ``Galaxy,Id,X,Y,Prediction``, one row per candidate of one or several
  LEGUS fields;
- ``<galaxy>.tab``: tab-separated rows ``id, X, Y, class,
  [p1 - p2 - p3 - p4]`` (the four class probabilities in brackets).

``Id`` is the LEGUS source id; ``X``/``Y`` are the LEGUS 1-based pixel
positions *truncated to integers*; ``Prediction`` (or class) is 1-4. The
reader gives the package's names: ``galaxy``, ``id``, 0-based ``x``/``y``
and ``class`` (and ``prob_1`` … ``prob_4``). A truncated 1-based ``X``
stands for a 0-based position between ``X − 1`` and ``X``, so ``x`` is
``X − 0.5``, within half a pixel of the LEGUS position (``x + 0.5`` gives
``X`` back).
"""

import os
import re

import numpy as np
from astropy.io import ascii, registry
from astropy.table import QTable, Table

from .tables import cached_url_name

__all__ = ['read_starcnet', 'STARCNET_POSITION_ERROR']

#: Largest difference (pixels) between the positions read from a StarcNet
#: file and the LEGUS positions they were truncated from.
STARCNET_POSITION_ERROR = 0.5

_CSV_HEADER = ('Galaxy', 'Id', 'X', 'Y', 'Prediction')
_TAB_ROW = re.compile(r'^\s*(\d+)\s+(-?\d+)\s+(-?\d+)\s+(\d+)\s+\[\s*([-+0-9.eE]+)\s+-\s+'
                      r'([-+0-9.eE]+)\s+-\s+([-+0-9.eE]+)\s+-\s+([-+0-9.eE]+)\s*\]\s*$')


def _text(path):
    """(text, name) of a path or file object."""
    if hasattr(path, 'read'):
        name = os.fspath(getattr(path, 'name', '') or '<file object>')
        content = path.read()
    else:
        name = os.fspath(path)
        with open(name, 'rb') as f:
            content = f.read()
    if isinstance(content, bytes):
        try:
            content = content.decode('utf-8')
        except UnicodeDecodeError as exc:
            msg = f'{name} is not a StarcNet output: it is not a text file'
            raise ValueError(msg) from exc
    return content, name


def _first_line(text):
    return next((line for line in text.splitlines() if line.strip()), '')


def _kind(text):
    first = _first_line(text)
    if tuple(part.strip() for part in first.split(',')) == _CSV_HEADER:
        return 'predictions'
    if _TAB_ROW.match(first):
        return 'tab'
    return None


def _identify(origin, path, fileobj, *args, **kwargs):
    if fileobj is None or not hasattr(fileobj, 'seek'):
        return False
    position = fileobj.tell()
    try:
        start = fileobj.read(4096)
    finally:
        fileobj.seek(position)
    if isinstance(start, bytes):
        start = start.decode('utf-8', errors='replace')
    return _kind(start) is not None


def _check_classes(classes, name, what):
    bad = ~np.isin(classes, (1, 2, 3, 4))
    if bad.any():
        values = sorted(set(classes[bad].tolist()))[:10]
        msg = f'{name}: {what} must be classes 1-4, found {values}'
        raise ValueError(msg)


def _read_predictions(text, name):
    try:
        raw = ascii.read(text, format='csv', fast_reader=False)
    except Exception as exc:  # astropy raises several types for malformed CSV
        msg = f'{name} is not a StarcNet predictions.csv: {exc}'
        raise ValueError(msg) from exc
    if tuple(raw.colnames) != _CSV_HEADER:
        msg = (f'{name} is not a StarcNet predictions.csv: its columns are {raw.colnames}, '
               f'expected {list(_CSV_HEADER)}')
        raise ValueError(msg)
    for column in ('Id', 'X', 'Y', 'Prediction'):
        if raw[column].dtype.kind not in 'iu' or np.ma.is_masked(raw[column]):
            msg = f'{name}: column {column} must hold integers in every row'
            raise ValueError(msg)
    out = QTable()
    out['galaxy'] = np.char.lower(np.char.strip(np.asarray(raw['Galaxy'], dtype=str)))
    out['id'] = np.asarray(raw['Id'], dtype=np.int64)
    out['x'] = np.asarray(raw['X'], dtype=float) - 1 + STARCNET_POSITION_ERROR
    out['y'] = np.asarray(raw['Y'], dtype=float) - 1 + STARCNET_POSITION_ERROR
    out['class'] = np.asarray(raw['Prediction'], dtype=np.int64)
    _check_classes(np.asarray(out['class']), name, 'Prediction')
    return out, {'galaxy': 'Galaxy', 'id': 'Id', 'x': 'X', 'y': 'Y', 'class': 'Prediction'}


def _read_tab(text, name):
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _TAB_ROW.match(line)
        if match is None:
            msg = (f'{name}, line {number}: not a StarcNet row "id X Y class [p1 - p2 - p3 - '
                   f'p4]": {line[:80]!r}')
            raise ValueError(msg)
        rows.append(match.groups())
    values = np.array(rows, dtype=object)
    out = QTable()
    out['id'] = values[:, 0].astype(np.int64)
    out['x'] = values[:, 1].astype(float) - 1 + STARCNET_POSITION_ERROR
    out['y'] = values[:, 2].astype(float) - 1 + STARCNET_POSITION_ERROR
    out['class'] = values[:, 3].astype(np.int64)
    _check_classes(np.asarray(out['class']), name, 'the class column (4th)')
    for k in range(4):
        out[f'prob_{k + 1}'] = values[:, 4 + k].astype(float)
    return out, {'id': 'column 1', 'x': 'column 2 (X)', 'y': 'column 3 (Y)',
                 'class': 'column 4', 'prob_1': 'column 5, first probability',
                 'prob_2': 'column 5, second', 'prob_3': 'column 5, third',
                 'prob_4': 'column 5, fourth'}


def read_starcnet(path, *, galaxy=None):
    """
    Read a StarcNet ``predictions.csv`` or ``<galaxy>.tab`` into a `~astropy.table.QTable`.

    Parameters
    ----------
    path : str, path-like or file-like
        The StarcNet output.
    galaxy : str, optional
        Keep only the rows of this LEGUS field (``predictions.csv`` may
        hold several); default all rows. For a ``.tab`` file it names the
        field when the file name does not.

    Returns
    -------
    table : `~astropy.table.QTable`
        The rows in file order, with ``galaxy`` (``predictions.csv``),
        ``id`` (LEGUS id), ``x``/``y`` (0-based, ``X − 0.5``: see the
        module description), ``class`` (1-4) and, from ``.tab`` files,
        ``prob_1`` … ``prob_4``. ``meta``: ``file``, ``format``
        (``'starcnet-predictions'`` or ``'starcnet-tab'``), ``galaxy`` (when
        the rows are of one field), ``galaxies``, ``pixel_frame`` (``'LEGUS
        <galaxy>'``: the positions are on the LEGUS mosaic of the field),
        ``pixel_origin``, ``position_error``, ``class_column`` and
        ``original_names``.

    Raises
    ------
    ValueError
        If the file is not a StarcNet output (the message says what was
        expected), a class is outside 1-4, or ``galaxy`` has no rows.

    Examples
    --------
    >>> import io
    >>> from astropy.table import QTable
    >>> import astro_clusterclass.io  # registers format='starcnet'
    >>> text = 'Galaxy,Id,X,Y,Prediction\\nngc3344,1,2422,921,4\\nngc3344,2,4736,6402,4\\n'
    >>> tbl = QTable.read(io.StringIO(text), format='starcnet')
    >>> tbl['galaxy', 'id', 'x', 'y', 'class'].pprint()
     galaxy  id   x      y    class
    ------- --- ------ ------ -----
    ngc3344   1 2421.5  920.5     4
    ngc3344   2 4735.5 6401.5     4
    """
    text, name = _text(path)
    if os.path.basename(name) == 'contents':  # a file of astropy's download cache
        name = cached_url_name(name) or name
    kind = _kind(text)
    if kind is None:
        msg = (f'{os.path.basename(name)} is not a StarcNet output: expected a CSV with the '
               f'header {",".join(_CSV_HEADER)} or tab-separated rows "id X Y class [p1 - p2 - '
               f'p3 - p4]"')
        raise ValueError(msg)
    if kind == 'predictions':
        out, original = _read_predictions(text, os.path.basename(name))
    else:
        out, original = _read_tab(text, os.path.basename(name))
        stem = os.path.splitext(os.path.basename(name))[0].lower()
        field = galaxy.lower() if galaxy is not None else \
            (stem if stem and not stem.startswith('<') else None)
        out.add_column(np.full(len(out), field or '', dtype=f'U{max(len(field or ""), 1)}'),
                       name='galaxy', index=0)
        original['galaxy'] = 'the file name'
    galaxies = sorted(set(out['galaxy'].tolist()) - {''})
    if galaxy is not None and kind == 'predictions':
        keep = out['galaxy'] == galaxy.lower()
        if not keep.any():
            msg = (f'galaxy={galaxy!r}: {os.path.basename(name)} has no rows of this field; '
                   f'its fields are {galaxies}')
            raise ValueError(msg)
        out = out[keep]
        galaxies = [galaxy.lower()]
    out.meta['file'] = os.path.basename(name)
    out.meta['format'] = f'starcnet-{kind}'
    out.meta['galaxies'] = galaxies
    out.meta['galaxy'] = galaxies[0] if len(galaxies) == 1 else None
    out.meta['pixel_frame'] = f'LEGUS {galaxies[0]}' if len(galaxies) == 1 else None
    out.meta['pixel_origin'] = ('x, y are 0-based: X - 0.5, Y - 0.5, the middle of the pixel '
                                'that the truncated 1-based LEGUS position X, Y stands for')
    out.meta['position_error'] = STARCNET_POSITION_ERROR
    out.meta['class_column'] = 'class'
    out.meta['class_columns'] = {'class': 'StarcNet class (1-4)'}
    out.meta['original_names'] = original
    return out


def _register():
    # Priority above astropy's ascii formats, which claim .csv files by name.
    if 'starcnet' not in registry.get_formats(Table)['Format']:
        registry.register_reader('starcnet', Table, read_starcnet, priority=1)
        # The registry looks priorities up for the exact class read into.
        registry.register_reader('starcnet', QTable, read_starcnet, priority=1)
        registry.register_identifier('starcnet', Table, _identify)


_register()
