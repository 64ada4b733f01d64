"""
The label database: SQLite (standard library), WAL mode, an append-only history.

Every label a reviewer gives, and every undo, is one row of the table
``history``, never changed nor deleted: triggers in the database refuse
``UPDATE`` and ``DELETE`` on it (and on the tables that describe the
catalog), whoever connects. A reviewer's current label of a candidate is
the latest row for that (candidate, reviewer); an undo appends a row
that restores the label the undone one replaced (or clears it).

Durability: the database runs in write-ahead-log mode with
``synchronous=FULL``, and every write is one ``BEGIN IMMEDIATE`` ...
``COMMIT`` transaction, so that `LabelStore.add_label` returns only once
SQLite has the label on disk: a process killed after that loses nothing,
and a power loss loses nothing as far as SQLite and the file system keep
their promises. Writers in several processes (two reviewers, two
browser tabs behind one server) wait for each other (``busy_timeout``)
instead of failing; readers never wait in WAL mode.

The database records the catalog it belongs to (``metadata``: its path,
row count, id column and a fingerprint of ids and positions) and its ids
(``candidates``), so that labels can be checked against the catalog
without it, and a database opened with another catalog is refused
(`CatalogMismatchError`).
"""

import datetime
import hashlib
import json
import numbers
import os
import pathlib
import sqlite3
import warnings

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from .._utils.validation import check_choice, check_int, positive_float
from ..classes import CLASSES, SUBCLASSES
from ..tables import check_table, pixel_positions, sky_coordinates

__all__ = ['LabelStore', 'CatalogMismatchError', 'SCHEMA_VERSION', 'MAX_REVIEWER_LENGTH',
           'MAX_COMMENT_LENGTH', 'catalog_fingerprint']

#: Version of the database layout, recorded in every database.
SCHEMA_VERSION = 1

#: Longest reviewer name accepted (characters).
MAX_REVIEWER_LENGTH = 64

#: Longest comment accepted (characters).
MAX_COMMENT_LENGTH = 2000

# Decimals of the positions in the fingerprint: fine enough to tell
# catalogs apart, coarse enough that float32/float64 and text formats agree.
_PIXEL_DECIMALS = 2
_DEGREE_DECIMALS = 7

_SUBCLASS_SQL = ', '.join(f"'{s}'" for s in SUBCLASSES)
_CLASS_SQL = ', '.join(str(k) for k in CLASSES)

_SCHEMA = [
    """
CREATE TABLE metadata (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""", """
CREATE TABLE candidates (
    candidate TEXT PRIMARY KEY,
    row INTEGER NOT NULL UNIQUE
) WITHOUT ROWID""", f"""
CREATE TABLE history (
    label_id INTEGER PRIMARY KEY,
    candidate TEXT NOT NULL REFERENCES candidates(candidate),
    reviewer TEXT NOT NULL CHECK (length(reviewer) BETWEEN 1 AND {MAX_REVIEWER_LENGTH}),
    class INTEGER CHECK (class IS NULL OR class IN ({_CLASS_SQL})),
    subclass TEXT CHECK (subclass IS NULL OR (class = 4 AND subclass IN ({_SUBCLASS_SQL}))),
    comment TEXT NOT NULL DEFAULT '' CHECK (length(comment) <= {MAX_COMMENT_LENGTH}),
    time TEXT NOT NULL,
    replaces INTEGER REFERENCES history(label_id),
    action TEXT NOT NULL CHECK (action IN ('label', 'undo')),
    CHECK (action = 'label' AND class IS NOT NULL OR action = 'undo' AND replaces IS NOT NULL)
)""",
    'CREATE INDEX history_candidate_reviewer ON history (candidate, reviewer, label_id)',
    'CREATE INDEX history_reviewer ON history (reviewer, label_id)',
    "CREATE INDEX history_replaces ON history (replaces) WHERE action = 'undo'",
]

_FROZEN = ('history', 'metadata', 'candidates')
_TRIGGERS = [
    f"CREATE TRIGGER {table}_no_{what} BEFORE {what.upper()} ON {table} BEGIN SELECT "
    f"RAISE(ABORT, '{table} is append-only: its rows cannot be {done}'); END"
    for table in _FROZEN for what, done in (('update', 'changed'), ('delete', 'deleted'))]

_COLUMNS = 'label_id, candidate, reviewer, class, subclass, comment, time, replaces, action'


class CatalogMismatchError(ValueError):
    """
    A label database opened with a catalog other than the one it belongs to.

    The message names the catalog the database records and the one given,
    with their row counts and fingerprints.

    Examples
    --------
    >>> from astro_clusterclass.review import CatalogMismatchError
    >>> issubclass(CatalogMismatchError, ValueError)
    True
    """


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds')


def _id_kind(column):
    """'int' or 'str': how the ids of ``column`` are given back."""
    kind = np.asarray(column).dtype.kind
    if kind in 'iu':
        return 'int'
    if kind in 'US':
        return 'str'
    if kind == 'O' and all(isinstance(v, str) for v in column):
        return 'str'
    msg = (f'id_column: the ids must be integers or strings, got a column of '
           f'{np.asarray(column).dtype}')
    raise ValueError(msg)


def _id_texts(tbl, id_column):
    """The ids of ``tbl`` as text (and their kind); errors name ``id_column``."""
    if not isinstance(id_column, str):
        msg = f'id_column must be a column name, got {type(id_column).__name__}'
        raise TypeError(msg)
    if id_column not in tbl.colnames:
        msg = (f'id_column: {id_column!r} is not a column of the catalog; the columns are '
               f'{tbl.colnames}')
        raise ValueError(msg)
    column = tbl[id_column]
    if np.any(np.ma.getmaskarray(np.ma.asarray(column))):
        msg = f'id_column: {id_column!r} has masked ids; every candidate needs an id'
        raise ValueError(msg)
    kind = _id_kind(column)
    values = np.asarray(column)
    texts = [str(int(v)) for v in values] if kind == 'int' else [str(v) for v in values]
    if len(set(texts)) != len(texts):
        seen, repeated = set(), []
        for t in texts:
            if t in seen and t not in repeated:
                repeated.append(t)
            seen.add(t)
        msg = (f'id_column: {id_column!r} must hold unique ids; repeated: {repeated[:10]}'
               + (' ...' if len(repeated) > 10 else ''))
        raise ValueError(msg)
    return texts, kind


def _positions_texts(tbl):
    """Formatted positions of ``tbl`` by kind: 0-based ``'pixel'`` and ICRS ``'sky'`` (degrees)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstropyUserWarning)
        try:
            x, y = pixel_positions(tbl, use='pixel')
        except (ValueError, TypeError, u.UnitsError):
            pass
        else:
            out['pixel'] = [f'{a:.{_PIXEL_DECIMALS}f},{b:.{_PIXEL_DECIMALS}f}'
                            for a, b in zip(x, y)]
        try:
            coords = sky_coordinates(tbl)  # None without sky positions
        except (ValueError, TypeError, u.UnitsError):
            coords = None
        if coords is not None:
            ra = np.atleast_1d(coords.icrs.ra.deg)
            dec = np.atleast_1d(coords.icrs.dec.deg)
            out['sky'] = [f'{a:.{_DEGREE_DECIMALS}f},{b:.{_DEGREE_DECIMALS}f}'
                          for a, b in zip(ra, dec)]
    return out


def _digest(texts, kind, positions=None):
    digest = hashlib.sha256()
    digest.update(f'{len(texts)} rows; positions: {kind}\n'.encode())
    for i, text in enumerate(texts):
        digest.update(text.encode('utf-8'))
        digest.update(b'\t')
        if positions is not None:
            digest.update(positions[i].encode())
        digest.update(b'\n')
    return f'sha256:{digest.hexdigest()}'


def _fingerprints(tbl, id_column):
    """Digests of the ids (``'ids'``) and of the ids with each kind of position."""
    texts, _ = _id_texts(tbl, id_column)
    out = {'ids': _digest(texts, 'none')}
    for kind, positions in _positions_texts(tbl).items():
        out[kind] = _digest(texts, kind, positions)
    return out


def _same_catalog(recorded, given):
    """Same ids in the same order, and the same positions of every kind both tables have."""
    if recorded['ids'] != given['ids']:
        return False
    shared = [k for k in ('pixel', 'sky') if k in recorded and k in given]
    if not shared:
        return not any(k in recorded for k in ('pixel', 'sky'))
    return all(recorded[k] == given[k] for k in shared)


def catalog_fingerprint(tbl, *, id_column='id'):
    """
    SHA-256 of a catalog's ids and positions, written as text.

    The positions are the 0-based pixel positions (rounded to 0.01 px)
    when the table has pixel columns, else the ICRS sky positions
    (rounded to 1e-7 degree), else none; the text does not depend on the
    file format nor on float32/float64, so the same catalog saved as ECSV,
    FITS or CSV has the same fingerprint, and rows in another order, other
    ids or moved positions give another one. (`LabelStore` records this
    digest, and one per kind of position the catalog has: a table to which
    pixel positions were added from its sky positions is still the same
    catalog.)

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The catalog.
    id_column : str, optional
        Column of the candidate ids (unique integers or strings).

    Returns
    -------
    fingerprint : str
        ``'sha256:<hex digest>'``.

    Raises
    ------
    ValueError
        If ``id_column`` is missing, masked or not unique.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import catalog_fingerprint
    >>> a = QTable({'id': [1, 2], 'x': [10.0, 20.0], 'y': [5.0, 6.0]})
    >>> b = QTable({'id': [1, 2], 'x': [10.0, 20.0], 'y': [5.0, 6.0]}, dtype=['i4', 'f4', 'f4'])
    >>> catalog_fingerprint(a) == catalog_fingerprint(b)
    True
    >>> a['x'][0] = 11.0
    >>> catalog_fingerprint(a) == catalog_fingerprint(b)
    False
    """
    check_table(tbl, parameter='catalog')
    found = _fingerprints(tbl, id_column)
    return found.get('pixel') or found.get('sky') or found['ids']


def _check_reviewer(reviewer):
    if not isinstance(reviewer, str):
        msg = f'reviewer must be a name (str), got {type(reviewer).__name__}'
        raise ValueError(msg)
    name = reviewer.strip()
    if not name:
        msg = 'reviewer must be a non-empty name'
        raise ValueError(msg)
    if len(name) > MAX_REVIEWER_LENGTH:
        msg = (f'reviewer must be at most {MAX_REVIEWER_LENGTH} characters, got '
               f'{len(name)}')
        raise ValueError(msg)
    if ',' in name:
        msg = f"reviewer must not contain ',' (exports join the names with commas), got {name!r}"
        raise ValueError(msg)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        msg = f'reviewer must not contain control characters, got {reviewer!r}'
        raise ValueError(msg)
    return name


def _check_label(label):
    try:
        return check_int(label, 'label', minimum=min(CLASSES), maximum=max(CLASSES))
    except ValueError:
        msg = (f'label must be one of the classes {list(CLASSES)} (an integer), got '
               f'{label!r}')
        raise ValueError(msg) from None


def _check_subclass(subclass, label):
    if subclass is None or (isinstance(subclass, str) and not subclass.strip()):
        return None
    if not isinstance(subclass, str):
        msg = (f'subclass must be None or one of {list(SUBCLASSES)} (a string), got '
               f'{subclass!r}')
        raise ValueError(msg)
    subclass = subclass.strip()
    check_choice(subclass, tuple(SUBCLASSES), 'subclass')
    if label != 4:
        msg = f'subclass {subclass!r} is a subclass of class 4, but label is {label}'
        raise ValueError(msg)
    return subclass


def _check_comment(comment):
    if comment is None:
        return ''
    if not isinstance(comment, str):
        msg = f'comment must be a string, got {type(comment).__name__}'
        raise ValueError(msg)
    if len(comment) > MAX_COMMENT_LENGTH:
        msg = f'comment must be at most {MAX_COMMENT_LENGTH} characters, got {len(comment)}'
        raise ValueError(msg)
    return comment


def _image_paths(images, image_paths):
    """The image file names to record (absolute), or [] when the images are in memory."""
    if image_paths is None and isinstance(images, (str, os.PathLike)):
        image_paths = [images]
    elif image_paths is None and isinstance(images, (list, tuple)) \
            and all(isinstance(p, (str, os.PathLike)) for p in images):
        image_paths = images
    if image_paths is None:
        return []
    if isinstance(image_paths, (str, os.PathLike)):
        image_paths = [image_paths]
    try:
        return [os.path.abspath(os.fspath(p)) for p in image_paths]
    except TypeError:
        msg = f'image_paths must be file names, got {image_paths!r}'
        raise TypeError(msg) from None


class LabelStore:
    """
    The labels of a catalog's candidates: a SQLite database with an append-only history.

    Parameters
    ----------
    path : str or path-like
        The database file. It is created when missing (``catalog`` is then
        needed); an existing one is opened, and checked against
        ``catalog`` when it is given.
    catalog : `~astropy.table.Table` or str or path-like, optional
        The candidate catalog (a table, or a file that `astropy.table.Table.read`
        reads; its name is then recorded as ``catalog_path``).
    images : optional
        The images the candidates are reviewed on: file names are recorded
        (in-memory images record nothing).
    catalog_path : str or path-like, optional
        The catalog's file, recorded (default: ``catalog`` when it is a
        file name, else ``catalog.meta['file']``).
    image_paths : sequence of str, optional
        The image files, recorded (default: from ``images``).
    id_column : str, optional
        Column of unique candidate ids (integers or strings).
    catalog_format : str, optional
        Format for reading ``catalog_path`` again (`export_labels`), when
        the extension does not tell.
    timeout : float, optional
        Seconds a write waits for another process's write to finish before
        failing (``busy_timeout``).

    Attributes
    ----------
    path : `pathlib.Path`
    info : dict
        What the database records: ``catalog_path``, ``catalog_format``,
        ``image_paths``, ``fingerprint`` (`catalog_fingerprint`),
        ``fingerprints`` (one per kind of position), ``n_rows``, ``id_column``,
        ``id_kind``, ``schema_version``, ``package_version``, ``created``.

    Raises
    ------
    CatalogMismatchError
        If the database belongs to another catalog than ``catalog``.
    FileNotFoundError
        If ``path`` does not exist and no ``catalog`` is given.
    ValueError
        If ``path`` is not a label database of this package (or of another
        schema version), or for a bad ``id_column``.

    Notes
    -----
    One connection per `LabelStore`, used from one thread. The database
    files are ``path`` and, while open, ``path-wal`` and ``path-shm``
    beside it; copy the database with ``sqlite3 path .backup`` or after
    `close`, not by copying ``path`` alone while it is in use.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.review import LabelStore
    >>> catalog = QTable({'id': [11, 12, 13], 'x': [5.0, 9.0, 14.0], 'y': [4.0, 8.0, 2.0]})
    >>> path = os.path.join(tempfile.mkdtemp(), 'labels.sqlite')
    >>> with LabelStore(path, catalog=catalog) as store:
    ...     first = store.add_label(12, reviewer='ann', label=1)
    ...     second = store.add_label(12, reviewer='ann', label=4, subclass='4.2')
    ...     second['replaces'] == first['label_id']
    ...     store.current(reviewer='ann')[12]['label']
    ...     store.undo(reviewer='ann')['label']
    True
    4
    1
    >>> with LabelStore(path) as store:   # later: the labels are there
    ...     [(r['action'], r['label']) for r in store.history()]
    [('label', 1), ('label', 4), ('undo', 1)]
    """

    def __init__(self, path, *, catalog=None, images=None, catalog_path=None, image_paths=None,
                 id_column='id', catalog_format=None, timeout=30.0):
        if not isinstance(path, (str, os.PathLike)):
            msg = f'path must be a file name, got {type(path).__name__}'
            raise TypeError(msg)
        self.path = pathlib.Path(path)
        self._timeout = positive_float(timeout, 'timeout')
        if isinstance(catalog, (str, os.PathLike)):
            if catalog_path is None:
                catalog_path = catalog
            kwargs = {'format': catalog_format} if catalog_format else {}
            catalog = Table.read(os.fspath(catalog), **kwargs)
        if catalog is not None:
            check_table(catalog, parameter='catalog')
            if catalog_path is None and isinstance(catalog.meta.get('file'), str):
                catalog_path = catalog.meta['file']
        exists = self.path.exists()
        # A new database's catalog is checked before anything is written.
        prepared = None if catalog is None or exists else self._prepare(catalog, id_column)
        if not exists and catalog is None:
            msg = (f'path: the label database {os.fspath(path)!r} does not exist; pass '
                   f'catalog= to create it')
            raise FileNotFoundError(msg)
        if not exists and not self.path.parent.is_dir():
            msg = (f'path: cannot create {os.fspath(path)!r}: the folder '
                   f'{os.fspath(self.path.parent)!r} does not exist')
            raise FileNotFoundError(msg)
        self._db = None
        self._db = self._connect(create=not exists)
        try:
            self.info = self._setup(catalog, prepared, images, catalog_path, image_paths,
                                    id_column, catalog_format)
        except BaseException:
            self.close()
            raise

    # -- connection and schema -------------------------------------------------------------

    def _connect(self, *, create):
        uri = f'{self.path.absolute().as_uri()}?mode={"rwc" if create else "rw"}'
        db = sqlite3.connect(uri, uri=True, timeout=self._timeout, isolation_level=None)
        try:
            db.execute(f'PRAGMA busy_timeout = {int(self._timeout * 1000)}')
            mode = db.execute('PRAGMA journal_mode = WAL').fetchone()[0]
        except sqlite3.DatabaseError as exc:
            db.close()
            msg = f'path: {os.fspath(self.path)!r} is not a label database ({exc})'
            raise ValueError(msg) from None
        if mode.lower() != 'wal':
            db.close()
            msg = (f'path: {os.fspath(self.path)!r} cannot be opened in WAL mode (journal '
                   f'mode {mode!r}); use a local file system')
            raise ValueError(msg)
        db.execute('PRAGMA synchronous = FULL')
        db.execute('PRAGMA foreign_keys = ON')
        return db

    def _setup(self, catalog, prepared, images, catalog_path, image_paths, id_column,
               catalog_format):
        db = self._db
        db.execute('BEGIN IMMEDIATE')
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
            if 'metadata' not in tables:
                if tables or catalog is None:
                    what = (f'holds other tables ({sorted(tables)})' if tables
                            else 'is empty and no catalog= was given to create it')
                    msg = f'path: {os.fspath(self.path)!r} is not a label database: it {what}'
                    raise ValueError(msg)
                info = self._create(prepared, len(catalog), images, catalog_path,
                                    image_paths, id_column, catalog_format)
            else:
                info = self._read_info()
            db.execute('COMMIT')
        except BaseException:
            db.execute('ROLLBACK')
            raise
        if info['schema_version'] != SCHEMA_VERSION:
            msg = (f"path: {os.fspath(self.path)!r} has the layout version "
                   f"{info['schema_version']}; this version of astro_clusterclass reads "
                   f"version {SCHEMA_VERSION}")
            raise ValueError(msg)
        if catalog is not None:
            if id_column != info['id_column']:
                msg = (f"id_column: {os.fspath(self.path)!r} identifies candidates by the "
                       f"column {info['id_column']!r}, not {id_column!r}")
                raise ValueError(msg)
            if prepared is None:
                prepared = self._prepare(catalog, id_column)
            self._check_catalog(info, catalog, prepared[2], catalog_path)
            paths = _image_paths(images, image_paths)
            recorded = [os.path.basename(p) for p in info['image_paths']]
            if paths and recorded and [os.path.basename(p) for p in paths] != recorded:
                warnings.warn(f"{os.fspath(self.path)!r} was made with the images "
                              f"{info['image_paths']}, not {paths}", AstropyUserWarning)
        return info

    def _create(self, prepared, n_rows, images, catalog_path, image_paths, id_column,
                catalog_format):
        from .._version import __version__

        texts, kind, fingerprints = prepared
        info = {
            'schema_version': SCHEMA_VERSION,
            'catalog_path': (os.path.abspath(os.fspath(catalog_path))
                             if catalog_path is not None else None),
            'catalog_format': catalog_format,
            'image_paths': _image_paths(images, image_paths),
            'fingerprint': (fingerprints.get('pixel') or fingerprints.get('sky')
                            or fingerprints['ids']),
            'fingerprints': fingerprints,
            'n_rows': n_rows,
            'id_column': id_column,
            'id_kind': kind,
            'package_version': __version__,
            'created': _now(),
        }
        db = self._db
        for statement in _SCHEMA + _TRIGGERS:  # not executescript: it would commit
            db.execute(statement)
        db.executemany('INSERT INTO metadata (key, value) VALUES (?, ?)',
                       [(k, json.dumps(v)) for k, v in info.items()])
        db.executemany('INSERT INTO candidates (candidate, row) VALUES (?, ?)',
                       ((t, i) for i, t in enumerate(texts)))
        return info

    def _read_info(self):
        return {k: json.loads(v) for k, v in self._db.execute('SELECT key, value FROM metadata')}

    @staticmethod
    def _prepare(catalog, id_column):
        """(ids as text, id kind, fingerprints) of ``catalog``."""
        check_table(catalog, parameter='catalog')
        return (*_id_texts(catalog, id_column), _fingerprints(catalog, id_column))

    def _check_catalog(self, info, catalog, given, catalog_path):
        if not _same_catalog(info['fingerprints'], given) or len(catalog) != info['n_rows']:
            name = (os.path.abspath(os.fspath(catalog_path)) if catalog_path is not None
                    else 'the given table')
            primary = given.get('pixel') or given.get('sky') or given['ids']
            msg = (f"{os.fspath(self.path)!r} holds the labels of the catalog "
                   f"{info['catalog_path'] or '(a table without a file)'} ({info['n_rows']} "
                   f"rows, {info['fingerprint'][:19]}...), not of {name} ({len(catalog)} rows, "
                   f"{primary[:19]}...): the ids or positions differ. Use another database "
                   f"file for this catalog, or open this one with its own catalog")
            raise CatalogMismatchError(msg)

    def check_catalog(self, catalog, *, catalog_path=None):
        """
        Raise `CatalogMismatchError` unless ``catalog`` is the catalog of this database.

        The ids must be the same, in the same order, and so must the
        positions of each kind (pixel, sky) that both the recorded and the
        given catalog have: pixel positions added to a catalog that had
        only sky positions leave it the same catalog.

        Parameters
        ----------
        catalog : `~astropy.table.Table`
        catalog_path : str or path-like, optional
            Its file, named in the message.
        """
        self._check_open()
        self._check_catalog(self.info, catalog, self._prepare(catalog, self.info['id_column'])[2],
                            catalog_path)

    # -- records ---------------------------------------------------------------------------

    def _candidate_key(self, candidate):
        """The text key of ``candidate``, checked against the catalog's ids."""
        if isinstance(candidate, (bool, np.bool_)):
            ok = False
        elif isinstance(candidate, numbers.Integral):
            ok, key = True, str(int(candidate))
        elif isinstance(candidate, str):
            ok, key = True, candidate
        else:
            ok = False
        if not ok:
            msg = (f'candidate must be an id of the catalog (an integer or a string), got '
                   f'{candidate!r}')
            raise ValueError(msg)
        found = self._db.execute('SELECT 1 FROM candidates WHERE candidate = ?',
                                 (key,)).fetchone()
        if found is None:
            msg = (f"candidate {candidate!r} is not an id of the catalog (column "
                   f"{self.info['id_column']!r}, {self.info['n_rows']} rows)")
            raise ValueError(msg)
        return key

    def _id(self, key):
        return int(key) if self.info['id_kind'] == 'int' else key

    def _record(self, row):
        label_id, candidate, reviewer, klass, subclass, comment, time, replaces, action = row
        return {'label_id': label_id, 'candidate': self._id(candidate), 'reviewer': reviewer,
                'label': klass, 'subclass': subclass, 'comment': comment, 'time': time,
                'replaces': replaces, 'action': action}

    def _write(self, function, *args):
        """Run ``function(*args)`` in one ``BEGIN IMMEDIATE`` transaction; committed on return."""
        db = self._check_open()
        db.execute('BEGIN IMMEDIATE')
        try:
            result = function(*args)
            db.execute('COMMIT')
        except BaseException:
            if db.in_transaction:
                db.execute('ROLLBACK')
            raise
        return result

    def _check_open(self):
        if self._db is None:
            msg = f'the label store {os.fspath(self.path)!r} is closed'
            raise ValueError(msg)
        return self._db

    def _latest(self, key, reviewer):
        return self._db.execute(
            f'SELECT {_COLUMNS} FROM history WHERE candidate = ? AND reviewer = ? '
            f'ORDER BY label_id DESC LIMIT 1', (key, reviewer)).fetchone()

    def _append(self, key, reviewer, klass, subclass, comment, replaces, action):
        cursor = self._db.execute(
            'INSERT INTO history (candidate, reviewer, class, subclass, comment, time, '
            'replaces, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            (key, reviewer, klass, subclass, comment, _now(), replaces, action))
        return self._db.execute(f'SELECT {_COLUMNS} FROM history WHERE label_id = ?',
                                (cursor.lastrowid,)).fetchone()

    # -- public API ------------------------------------------------------------------------

    def add_label(self, candidate, *, reviewer, label, subclass=None, comment=''):
        """
        Record ``reviewer``'s label of ``candidate``; committed to disk before it returns.

        Parameters
        ----------
        candidate : int or str
            The candidate's id (a value of the catalog's ``id_column``).
        reviewer : str
            Who labels (1 to :data:`MAX_REVIEWER_LENGTH` characters, no
            commas nor control characters; spaces around it are removed).
        label : int
            The class, one of `~astro_clusterclass.classes.CLASSES` (an
            integer: ``True``, ``'1'`` and ``1.0`` are refused).
        subclass : str, optional
            A class-4 subclass (`~astro_clusterclass.classes.SUBCLASSES`
            key such as ``'4.2'``), only with ``label=4``; ``''`` means none.
        comment : str, optional
            Free text, up to :data:`MAX_COMMENT_LENGTH` characters.

        Returns
        -------
        record : dict
            ``label_id``, ``candidate``, ``reviewer``, ``label``,
            ``subclass``, ``comment``, ``time`` (UTC, ISO 8601),
            ``replaces`` (the ``label_id`` of this reviewer's previous
            current label of the candidate, or None) and ``action``
            (``'label'``).

        Raises
        ------
        ValueError
            Naming the parameter, for an unknown candidate, an empty
            reviewer, a label outside the scheme, a subclass not in the
            scheme or with a class other than 4, or a long comment.
        sqlite3.OperationalError
            If another process holds the write lock for longer than the
            store's ``timeout``.
        """
        self._check_open()
        reviewer = _check_reviewer(reviewer)
        label = _check_label(label)
        subclass = _check_subclass(subclass, label)
        comment = _check_comment(comment)
        key = self._candidate_key(candidate)

        def write():
            previous = self._latest(key, reviewer)
            replaces = previous[0] if previous is not None and previous[3] is not None else None
            return self._append(key, reviewer, label, subclass, comment, replaces, 'label')

        return self._record(self._write(write))

    def undo(self, *, reviewer, candidate=None):
        """
        Undo ``reviewer``'s most recent label (on ``candidate``, when given) not yet undone.

        The undo is a new history row: it restores the label that the
        undone one replaced, or clears the candidate's label (``label``
        None) when it replaced nothing. Undoing again goes further back.

        Parameters
        ----------
        reviewer : str
        candidate : int or str, optional

        Returns
        -------
        record : dict or None
            The new current record (``action`` ``'undo'``; ``replaces``:
            the undone label's ``label_id``; ``label`` None when cleared),
            or None when there is nothing to undo.
        """
        self._check_open()
        reviewer = _check_reviewer(reviewer)
        key = None if candidate is None else self._candidate_key(candidate)

        def write():
            where = 'h.reviewer = ?' + (' AND h.candidate = ?' if key is not None else '')
            params = (reviewer,) if key is None else (reviewer, key)
            target = self._db.execute(
                f"SELECT h.label_id, h.candidate, h.replaces FROM history h WHERE {where} "
                f"AND h.action = 'label' AND NOT EXISTS (SELECT 1 FROM history u WHERE "
                f"u.action = 'undo' AND u.replaces = h.label_id) "
                f"ORDER BY h.label_id DESC LIMIT 1", params).fetchone()
            if target is None:
                return None
            undone, target_key, before = target
            if before is None:
                klass = subclass = None
                comment = ''
            else:
                klass, subclass, comment = self._db.execute(
                    'SELECT class, subclass, comment FROM history WHERE label_id = ?',
                    (before,)).fetchone()
            return self._append(target_key, reviewer, klass, subclass, comment, undone, 'undo')

        row = self._write(write)
        return None if row is None else self._record(row)

    def current(self, *, reviewer=None, candidates=None):
        """
        The current labels: the latest history row per (candidate, reviewer).

        Cleared labels (a first label undone) are left out.

        Parameters
        ----------
        reviewer : str, optional
            Only this reviewer's labels.
        candidates : sequence of int or str, optional
            Only these candidates (a quick look-up for a few).

        Returns
        -------
        labels : dict
            With ``reviewer``: candidate id → record (`add_label`'s
            dict); without: candidate id → list of the records of every
            reviewer who labels it (ordered by reviewer). Candidates come
            in catalog order.
        """
        db = self._check_open()
        params = []
        where = []
        if reviewer is not None:
            reviewer = _check_reviewer(reviewer)
            where.append('reviewer = ?')
            params.append(reviewer)
        if candidates is not None:
            if isinstance(candidates, (str, numbers.Integral)):
                candidates = [candidates]
            keys = [self._candidate_key(c) for c in candidates]
            if not keys:
                return {}
            where.append(f'candidate IN ({", ".join("?" * len(keys))})')
            params.extend(keys)
        condition = f'WHERE {" AND ".join(where)}' if where else ''
        columns = ', '.join(f'h.{c}' for c in _COLUMNS.split(', '))
        rows = db.execute(
            f'SELECT {columns} FROM history h JOIN candidates c ON c.candidate = h.candidate '
            f'WHERE h.label_id IN (SELECT MAX(label_id) FROM history {condition} GROUP BY '
            f'candidate, reviewer) AND h.class IS NOT NULL ORDER BY c.row, h.reviewer',
            params).fetchall()
        out = {}
        for row in rows:
            record = self._record(row)
            if reviewer is not None:
                out[record['candidate']] = record
            else:
                out.setdefault(record['candidate'], []).append(record)
        return out

    def history(self, *, candidate=None, reviewer=None):
        """
        Every history row (labels and undos), oldest first.

        Parameters
        ----------
        candidate : int or str, optional
            Only this candidate's rows.
        reviewer : str, optional
            Only this reviewer's rows.

        Returns
        -------
        records : list of dict
            `add_label`'s records, with ``action`` ``'label'`` or ``'undo'``.
        """
        db = self._check_open()
        where, params = [], []
        if candidate is not None:
            where.append('candidate = ?')
            params.append(self._candidate_key(candidate))
        if reviewer is not None:
            where.append('reviewer = ?')
            params.append(_check_reviewer(reviewer))
        condition = f'WHERE {" AND ".join(where)}' if where else ''
        return [self._record(r) for r in db.execute(
            f'SELECT {_COLUMNS} FROM history {condition} ORDER BY label_id', params)]

    def reviewers(self):
        """Sorted names of everyone who has labelled something."""
        db = self._check_open()
        return [r[0] for r in db.execute('SELECT DISTINCT reviewer FROM history '
                                         'ORDER BY reviewer')]

    def candidate_rows(self):
        """
        Candidate id → row index in the catalog, as recorded.

        Returns
        -------
        rows : dict
        """
        db = self._check_open()
        return {self._id(c): r for c, r in db.execute('SELECT candidate, row FROM candidates')}

    def n_labels(self):
        """Number of history rows (labels and undos)."""
        return self._check_open().execute('SELECT COUNT(*) FROM history').fetchone()[0]

    def close(self):
        """Close the connection (the data are already on disk)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = 'closed' if self._db is None else f"{self.info['n_rows']} candidates"
        return f'<LabelStore {os.fspath(self.path)!r} ({state})>'
