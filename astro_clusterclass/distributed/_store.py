"""
What a Dask run keeps on disk: the manifest and one FITS file per chunk.

Every file is written under a temporary name in the same folder and then
renamed (`os.replace`, atomic on POSIX file systems): a file that exists
is complete, whatever was killed when. Temporary names carry the id of
the run that writes them. A chunk file holds, for its rows (numbers in the
input table), the stamp flags, whether each row was classified and every
model's class probabilities; its header names the chunk and the run
(``RUNKEY``) it belongs to, and every HDU carries FITS ``CHECKSUM`` and
``DATASUM``, so that a damaged or truncated chunk file is recognised
(`check_chunk`) and computed again rather than reused.

One run at a time works on a folder: the client holds an exclusive lock
on its lock file (`run_lock`) from planning to combining; another run
asking for the same folder is refused with a message naming the holder.
"""

import contextlib
import datetime
import glob
import json
import os
import time
import uuid
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from .._utils.locks import exclusive_lock

__all__ = ['MANIFEST', 'LOCK', 'FORMAT', 'atomic_write', 'chunk_name', 'write_chunk',
           'chunk_header', 'check_chunk', 'read_chunk', 'read_manifest', 'write_manifest',
           'remove_run', 'remove_temporaries', 'run_lock', 'STALE_AFTER_S']

#: File name of the manifest inside the output folder.
MANIFEST = 'manifest.json'

#: File name of the lock file inside the output folder.
LOCK = '.clusterclass.lock'

#: A temporary file of another run not modified for this long before a run
#: started is left over by a writer that died, and is removed when the run ends.
#: (File system clocks can lag the process clock by a few milliseconds.)
STALE_AFTER_S = 2.0

#: Layout version written into manifests.
FORMAT = 'astro_clusterclass.distributed/1'

#: Header keywords of a chunk file → meaning.
_KEYWORDS = {'CHUNK': 'chunk number', 'RUNKEY': 'SHA-256 of the run fingerprint',
             'NROWS': 'rows in this chunk', 'NDONE': 'rows classified',
             'DEVICE': 'torch device', 'PRECISN': 'compute precision',
             'SECONDS': 'classification time on the worker', 'WORKER': 'host:pid'}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def atomic_write(path, write, *, run_id='client'):
    """
    Call ``write(temporary_path)`` and move the result to ``path`` atomically.

    The temporary file lies next to ``path`` (same file system), is named
    ``.<name>.<run_id>.<random>.tmp`` and is synced before the rename, so
    ``path`` is either absent or complete.
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f'.{name}.{run_id}.{uuid.uuid4().hex}.tmp')
    try:
        write(tmp)
        with open(tmp, 'rb') as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def chunk_name(index):
    """File name of chunk ``index``."""
    return f'chunk_{index:06d}.fits'


def write_chunk(path, *, index, key, rows, flags, probs, done, device, precision, seconds,
                worker, run_id='client'):
    """Write one chunk's results (atomically, with FITS CHECKSUM and DATASUM)."""
    tbl = Table({'row': np.asarray(rows, dtype=np.int64),
                 'class_flag': np.asarray(flags, dtype=np.uint8),
                 'classified': np.asarray(done, dtype=bool),
                 'prob': np.asarray(probs, dtype=np.float32)})
    values = {'CHUNK': int(index), 'RUNKEY': key, 'NROWS': len(tbl),
              'NDONE': int(np.sum(done)), 'DEVICE': str(device), 'PRECISN': precision,
              'SECONDS': round(float(seconds), 3), 'WORKER': worker}
    hdu = fits.table_to_hdu(tbl)
    for keyword, value in values.items():
        # RUNKEY fills its card: no room for a comment.
        hdu.header[keyword] = (value, '' if keyword == 'RUNKEY' else _KEYWORDS[keyword])
    atomic_write(path, lambda tmp: fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(
        tmp, checksum=True), run_id=run_id)


def chunk_header(path):
    """
    The header keywords of a chunk file, or None if it is absent or unreadable.

    Only the header is read: a chunk whose data are damaged or cut still
    has one. `check_chunk` decides whether a chunk can be reused.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', AstropyUserWarning)  # truncated: only the header
            header = fits.getheader(path, 1)
        return {key: header[key] for key in _KEYWORDS}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _read_verified(path):
    """
    The contents of a chunk file, or a sentence saying why it cannot be used.

    Returns ``(contents, None)`` or ``(None, problem)``; ``problem`` is
    ``'missing'`` for an absent file.
    """
    if not os.path.isfile(path):
        # Absent, or something else in its place (writing it will say what).
        return None, 'missing'
    try:
        with warnings.catch_warnings():
            # A truncated file is reported as a problem, not as astropy's warning.
            warnings.simplefilter('ignore', AstropyUserWarning)
            with fits.open(path, memmap=False) as hdul:
                if len(hdul) != 2:
                    return None, f'it has {len(hdul)} HDUs instead of 2 (truncated?)'
                for index, hdu in enumerate(hdul):
                    for label, result in (('DATASUM', hdu.verify_datasum()),
                                          ('CHECKSUM', hdu.verify_checksum())):
                        if result == 0:
                            return None, f'HDU {index} fails its {label} check (damaged)'
                        if result == 2:
                            return None, f'HDU {index} has no {label} (it cannot be verified)'
                data, header = hdul[1].data, hdul[1].header
                out = {'rows': np.array(data['row'], dtype=np.int64),
                       'flags': np.array(data['class_flag'], dtype=np.uint8),
                       'done': np.array(data['classified'], dtype=bool),
                       'probs': np.array(data['prob'], dtype=np.float32),
                       'header': {key: header[key] for key in _KEYWORDS}}
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError,
            fits.VerifyError) as exc:
        return None, f'it cannot be read ({" ".join(str(exc).split())}; truncated?)'
    return out, None


def check_chunk(path, *, key, index, rows, n_models, n_classes):
    """
    Whether a chunk file can be reused: ``(contents, problem)``.

    ``contents`` is the data of a file that belongs to this run (``key``)
    and chunk, holds exactly ``rows`` and passes its checksums; otherwise it
    is None and ``problem`` says why: None for a file that is absent or
    belongs to another run or chunk (computed again silently), a sentence
    for a damaged one (computed again with a warning).
    """
    out, problem = _read_verified(path)
    if problem == 'missing':
        return None, None
    if problem is not None:
        return None, problem
    head = out['header']
    if (head['RUNKEY'], head['CHUNK'], head['NROWS']) != (key, index, len(rows)):
        return None, None
    if not np.array_equal(out['rows'], rows):
        return None, 'it does not hold the rows planned for its chunk'
    if out['probs'].shape != (len(rows), n_models, n_classes):
        return None, (f'it holds probabilities of shape {out["probs"].shape[1:]}, expected '
                      f'{(n_models, n_classes)}')
    return out, None


def read_chunk(path):
    """
    Rows, flags, classified mask, probabilities and header of a chunk file.

    Raises
    ------
    ValueError
        If the file is missing, unreadable, truncated or fails its checksums.
    """
    out, problem = _read_verified(path)
    if problem == 'missing':
        msg = f'chunk file {path!r} is missing; run again with resume=True to compute it'
        raise ValueError(msg)
    if problem is not None:
        msg = (f'chunk file {path!r} is unusable: {problem}; run again with resume=True to '
               f'compute it again')
        raise ValueError(msg)
    return out


def read_manifest(directory):
    """The manifest of the run in ``directory`` (dict), or None if there is none."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        msg = (f'output_dir: the manifest {path!r} is unreadable ({exc}); pass '
               f'overwrite=True to start afresh, or delete the manifest to resume from the '
               f'chunk files (each carries its run key and checksums)')
        raise ValueError(msg) from exc
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        msg = (f'output_dir: {path!r} is not a manifest of this version ({FORMAT}); pass '
               f'overwrite=True to start afresh or use another output_dir')
        raise ValueError(msg)
    return manifest


def write_manifest(directory, manifest):
    """Write the manifest of ``directory`` (atomically), stamping ``updated``."""
    manifest = dict(manifest, format=FORMAT, updated=_now())
    manifest.setdefault('created', manifest['updated'])
    text = json.dumps(manifest, indent=1, sort_keys=True)

    def write(tmp):
        with open(tmp, 'w') as fh:
            fh.write(text)

    atomic_write(os.path.join(directory, MANIFEST), write)
    return manifest


def remove_run(directory):
    """Delete the manifest, chunk files and temporaries of a run in ``directory``."""
    patterns = (MANIFEST, 'chunk_[0-9]*.fits', '.*.tmp')
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(directory), pattern)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def remove_temporaries(directory, *, run_id=None, started=None):
    """
    Delete temporary files left by writers that were killed.

    Removed are the temporaries of run ``run_id`` (its own writers are all
    finished when it ends) and those of other runs not modified since
    `STALE_AFTER_S` seconds before ``started`` (a `time.time` value, the
    moment this run took the folder's lock), whose writers are gone. A
    temporary file still being written by another process is left alone.
    With neither given, every temporary file is removed.
    """
    for path in glob.glob(os.path.join(glob.escape(directory), '.*.tmp')):
        if run_id is None and started is None:
            remove = True
        elif run_id is not None and f'.{run_id}.' in os.path.basename(path):
            remove = True
        else:
            try:
                remove = started is not None and \
                    os.stat(path).st_mtime < started - STALE_AFTER_S
            except FileNotFoundError:
                continue
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


@contextlib.contextmanager
def run_lock(directory):
    """
    Hold the exclusive lock of the output folder ``directory`` (it must exist).

    Yields the `time.time` at which the lock was taken.

    Raises
    ------
    BlockingIOError
        If another run holds it; the message names that run's host and
        process and says to wait or use another ``output_dir``.
    """
    with exclusive_lock(os.path.join(directory, LOCK), what=f'output_dir {directory!r}'):
        yield time.time()
