"""
The plan of a Dask run: what its inputs are and how the candidates are cut into chunks.

Everything here runs on the client. Models are turned into sources the
workers can load themselves (files, URLs, registered weights) and hashed;
images must be FITS file names, which the workers open memory-mapped;
positions, images, models and the options that decide the results are
fingerprinted, so that a resumed run can prove it continues the same work.
"""

import hashlib
import json
import os
from collections.abc import Mapping
from urllib.parse import urlparse

import numpy as np
from torch import nn

from ..models import (Weights, WeightsEnum, default_weights, get_model_weights, get_weight,
                      list_models, load_model, sha256_file)
from ..models._checkpoint import _fetch

__all__ = ['model_specs', 'image_files', 'file_fingerprint', 'positions_sha256',
           'rows_sha256', 'chunk_plan', 'run_key']

_URL_SCHEMES = ('http', 'https', 'ftp', 'file')


def _registered(text):
    """The weights enum member a registry name stands for (as `load_model` resolves it)."""
    if '.' in text and os.sep not in text:
        try:
            return get_weight(text)
        except ValueError:
            pass
    if text.lower() in list_models():
        enum = get_model_weights(text)
        if 'DEFAULT' in enum.__members__:
            return enum.DEFAULT
    # Not resolvable: load_model raises the registry's own error (unknown
    # name with the list of known ones, or no trained weights yet).
    load_model(text)
    msg = f'models: cannot resolve {text!r} to registered weights'  # pragma: no cover
    raise ValueError(msg)  # pragma: no cover


def _model_spec(source):
    """``(loadable, identity)`` of one model source; identity: ``{'source', 'sha256'}``."""
    if isinstance(source, nn.Module):
        msg = ('models: Dask workers load the models themselves and modules are not '
               'shipped to them; save the model with astro_clusterclass.models.'
               'save_checkpoint and pass the file (or a URL or a registered weights name)')
        raise TypeError(msg)
    if isinstance(source, WeightsEnum):
        name = f'{type(source).__name__}.{source.name}'
        # The name travels (workers resolve it in their own registry) and
        # the hash proves both sides mean the same file.
        return name, {'source': name, 'sha256': source.sha256}
    if isinstance(source, Weights):
        return source, {'source': source.url, 'sha256': source.sha256}
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if urlparse(text).scheme in _URL_SCHEMES:
            return text, {'source': text, 'sha256': sha256_file(_fetch(text, False))}
        if os.path.exists(text):
            path = os.path.abspath(text)
            return path, {'source': path, 'sha256': sha256_file(path)}
        record = _registered(text)
        name = f'{type(record).__name__}.{record.name}'
        return name, {'source': name, 'sha256': record.sha256}
    msg = (f'models: cannot load a model from {type(source).__name__}; give checkpoint '
           f'files or URLs or registered weights names')
    raise TypeError(msg)


def model_specs(models):
    """
    Loadable sources and identities of the models, in order.

    Parameters
    ----------
    models : model source or list of them, or None
        As for `~astro_clusterclass.classify.classify_table`, except that
        modules are refused (workers cannot receive them).

    Returns
    -------
    loadables : list
        What each worker passes to `~astro_clusterclass.models.load_model`:
        absolute file paths, URLs, weights names or `Weights` records.
    identities : list of dict
        ``{'source': str, 'sha256': str}`` of each model (files and URLs are
        hashed here; registered weights carry their hash).
    """
    if models is None:
        sources = [default_weights()]
    elif isinstance(models, (list, tuple)):
        if not models:
            msg = 'models is empty; give at least one model'
            raise ValueError(msg)
        sources = list(models)
    else:
        sources = [models]
    specs = [_model_spec(source) for source in sources]
    return [s[0] for s in specs], [s[1] for s in specs]


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
