"""
What a Dask run keeps on disk: the manifest and one FITS file per chunk.

Every file is written under a temporary name in the same folder and then
renamed (`os.replace`, atomic on POSIX file systems): a file that exists
is complete, whatever was killed when. A chunk file holds, for its rows
(numbers in the input table), the stamp flags, whether each row was
classified and every model's class probabilities; its header names the
chunk and the run (``RUNKEY``) it belongs to.
"""

import contextlib
import datetime
import glob
import json
import os
import uuid

import numpy as np
from astropy.io import fits
from astropy.table import Table

__all__ = ['MANIFEST', 'FORMAT', 'atomic_write', 'chunk_name', 'write_chunk',
           'chunk_header', 'read_chunk', 'read_manifest', 'write_manifest',
           'remove_run', 'remove_temporaries']

#: File name of the manifest inside the output folder.
MANIFEST = 'manifest.json'

#: Layout version written into manifests.
FORMAT = 'astro_clusterclass.distributed/1'

#: Header keywords of a chunk file → meaning.
_KEYWORDS = {'CHUNK': 'chunk number', 'RUNKEY': 'SHA-256 of the run fingerprint',
             'NROWS': 'rows in this chunk', 'NDONE': 'rows classified',
             'DEVICE': 'torch device', 'PRECISN': 'compute precision',
             'SECONDS': 'classification time on the worker', 'WORKER': 'host:pid'}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def atomic_write(path, write):
    """
    Call ``write(temporary_path)`` and move the result to ``path`` atomically.

    The temporary file lies next to ``path`` (same file system) and is
    synced before the rename, so ``path`` is either absent or complete.
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f'.{name}.{uuid.uuid4().hex}.tmp')
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
                worker):
    """Write one chunk's results (atomically)."""
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
    atomic_write(path, lambda tmp: fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp))


def chunk_header(path):
    """The header keywords of a chunk file, or None if it is absent or unreadable."""
    try:
        header = fits.getheader(path, 1)
        return {key: header[key] for key in _KEYWORDS}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def read_chunk(path):
    """
    Rows, flags, classified mask, probabilities and header of a chunk file.

    Raises
    ------
    ValueError
        If the file is missing or unreadable.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            data, header = hdul[1].data, hdul[1].header
            out = {'rows': np.array(data['row'], dtype=np.int64),
                   'flags': np.array(data['class_flag'], dtype=np.uint8),
                   'done': np.array(data['classified'], dtype=bool),
                   'probs': np.array(data['prob'], dtype=np.float32),
                   'header': {key: header[key] for key in _KEYWORDS}}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        msg = (f'chunk file {path!r} is missing or unreadable ({exc}); delete it and run '
               f'again with resume=True to recompute it')
        raise ValueError(msg) from exc
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
               f'overwrite=True to start afresh')
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
            os.remove(path)


def remove_temporaries(directory):
    """Delete temporary files left by writers that were killed."""
    for path in glob.glob(os.path.join(glob.escape(directory), '.*.tmp')):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
