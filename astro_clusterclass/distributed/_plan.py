"""
The plan of a Dask run: what its inputs are and how the candidates are cut into chunks.

Everything here runs on the client. Models travel as an
`~astro_clusterclass.classify.EnsembleSpec` (files, URLs or registered
weights, with their hashes); images must be FITS file names, which the workers open memory-mapped;
positions, images, models and the options that decide the results are
fingerprinted, so that a resumed run can prove it continues the same work.
"""

import hashlib
import json
import os
from collections.abc import Mapping

import numpy as np

__all__ = ['image_files', 'file_fingerprint', 'positions_sha256',
           'rows_sha256', 'chunk_plan', 'run_key']


def image_files(images):
    """
    The five band images as absolute file names, in the form given.

    Raises
    ------
    TypeError
        If ``images`` is not a sequence or mapping of file names; workers
        open the files themselves, so arrays, HDUs and
        `~astro_clusterclass.images.BandImages` are refused.
    """
    if isinstance(images, Mapping):
        values = list(images.values())
    elif isinstance(images, (list, tuple)):
        values = list(images)
    else:
        msg = (f'images must be five FITS file names (a sequence, or a mapping band → file '
               f'name), got {type(images).__name__}')
        raise TypeError(msg)
    for value in values:
        if not isinstance(value, (str, os.PathLike)):
            msg = (f'images: Dask workers open the FITS files themselves, so the images must '
                   f'be file names (arrays, HDUs and BandImages are not shipped); got '
                   f'{type(value).__name__}. Write the bands to FITS files first (e.g. '
                   f'SimulatedField.write)')
            raise TypeError(msg)
    absolute = [os.path.abspath(os.fspath(value)) for value in values]
    if isinstance(images, Mapping):
        return dict(zip(images.keys(), absolute))
    return absolute


def file_fingerprint(path, *, block=2 ** 20):
    """
    Size and SHA-256 of the first and last ``block`` bytes of a file.

    Hashing whole mosaics would cost minutes; the ends hold the FITS
    headers and the last image rows, so a re-reduced or replaced image
    almost always changes the fingerprint.
    """
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        digest.update(fh.read(block))
        if size > block:
            fh.seek(max(block, size - block))
            digest.update(fh.read(block))
    return {'size': size, 'sha256_ends': digest.hexdigest()}


def positions_sha256(x, y):
    """SHA-256 of the pixel positions (float64, little-endian), in row order."""
    digest = hashlib.sha256()
    for values in (x, y):
        digest.update(np.ascontiguousarray(values, dtype='<f8').tobytes())
    return digest.hexdigest()


def rows_sha256(rows):
    """SHA-256 of a chunk's row numbers (int64, little-endian)."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype='<i8').tobytes()).hexdigest()


def chunk_plan(y, chunk_size):
    """
    Row numbers of each chunk: candidates sorted by y, ``chunk_size`` at a time.

    Each chunk covers a horizontal strip of the mosaic. FITS images are
    stored row by row, so a strip is one contiguous byte range of each
    band file: a task reads only its own part of the memory-mapped
    mosaics. Rows without a finite y (never read) come last. The order is
    that of `~astro_clusterclass.classify.classify_table`, so with
    ``chunk_size`` a multiple of its ``chunk_size`` both cut the same
    batches.
    """
    order = np.argsort(np.where(np.isfinite(y), y, np.inf), kind='stable')
    return [order[start:start + chunk_size] for start in range(0, len(order), chunk_size)]


def run_key(fingerprint):
    """SHA-256 of a fingerprint (canonical JSON): the identity of a run."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()
