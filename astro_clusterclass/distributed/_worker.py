"""
What runs on the Dask workers: a per-process cache of prepared models and the chunk task.

A worker process keeps the inference copies of the last set of models it
used (keyed by each model's source and SHA-256, the device and the
precision), so the models are loaded and prepared once per worker process,
not once per task. A worker that dies takes its cache with it; the one
that replaces it loads the models again on its first task.
"""

import ctypes
import ctypes.util
import os
import socket
import sys
import threading
import time

import torch

from ..classify import (PRECISIONS, _classify_positions, _page_maps, _prepare_models,
                        resolve_device, resolve_precision)
from ..cutouts import CutoutFlag
from ..images import load_images
from ._store import write_chunk

__all__ = ['prepared_models', 'model_metas', 'classify_chunk', 'cache_info']

# One lock per process: worker threads wait for a load in progress
# instead of loading the same models twice.
_LOCK = threading.Lock()
_CACHE = {}
_STATS = {'loads': 0, 'hits': 0}

#: glibc's largest dynamic mmap threshold on 64-bit systems (its default cap).
_MMAP_THRESHOLD = 32 * 2 ** 20
_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)
_MALLOC_TUNED = []


def _tune_malloc():
    """
    Serve allocations below 32 MiB from the heap again, as glibc does by default.

    Dask nannies start workers with ``MALLOC_TRIM_THRESHOLD_`` set, and any
    fixed malloc threshold switches off glibc's dynamic mmap threshold:
    every tensor over 128 KiB then becomes a fresh mmap that the kernel
    zeroes on first touch, and classifying is about 1.5x slower (measured
    with ``benchmarks/bench_dask.py``). Setting the mmap threshold restores
    the speed and keeps the trim threshold (memory still goes back to the
    OS). Once per process; nothing when the user set
    ``MALLOC_MMAP_THRESHOLD_`` or outside Linux/glibc.
    """
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED.append(True)
    if (not sys.platform.startswith('linux') or 'MALLOC_MMAP_THRESHOLD_' in os.environ
            or 'MALLOC_TRIM_THRESHOLD_' not in os.environ):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: leave malloc alone
        pass


def _set_threads(torch_threads):
    _tune_malloc()
    if torch_threads is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)


def prepared_models(loadables, identities, device, precision):
    """
    The prepared models of this worker process, loaded on first use.

    Returns
    -------
    entries : list of dict
        As made by ``classify._prepare_models``.
    dev : `torch.device`
    precision : str
        The resolved precision (``'fp32'`` or ``'bf16'``).
    """
    dev = resolve_device(device)
    precision_used, dtype = resolve_precision(precision, dev)
    key = (tuple((i['source'], i['sha256']) for i in identities), str(dev), precision_used)
    with _LOCK:
        entries = _CACHE.get(key)
        if entries is not None:
            _STATS['hits'] += 1
            return entries, dev, precision_used
        # One set of models at a time: the PHANGS ensemble alone needs GBs.
        _CACHE.clear()
        entries = _prepare_models(list(loadables), dev, dtype)
        for entry, identity in zip(entries, identities):
            have = entry['meta'].get('sha256')
            if have != identity['sha256']:
                msg = (f'models: {identity["source"]!r} loaded on worker '
                       f'{socket.gethostname()} has sha256 {have}, but the client hashed '
                       f'{identity["sha256"]}; workers must see the same files as the client')
                raise ValueError(msg)
        _CACHE[key] = entries
        _STATS['loads'] += 1
    return entries, dev, precision_used


def model_metas(loadables, identities, device, precision, torch_threads=None):
    """Load (and cache) the models; their metadata, device and precision."""
    _set_threads(torch_threads)
    entries, dev, precision_used = prepared_models(loadables, identities, device, precision)
    return {'metas': [dict(entry['meta']) for entry in entries], 'device': str(dev),
            'precision': precision_used}


def classify_chunk(task):
    """
    Classify one chunk and write its file; returns a short summary.

    ``task`` holds the chunk's row numbers and positions, the image file
    names, the model sources and the options (see ``_run._task``). The
    images are opened here, memory-mapped, and closed at the end, so the
    task reads only the strip of the mosaics its stamps touch.
    """
    _set_threads(task['torch_threads'])
    started = time.perf_counter()
    entries, dev, precision_used = prepared_models(task['models'], task['identities'],
                                                   task['device'], task['precision'])
    ready = time.perf_counter()
    with load_images(task['images'], bands=task['bands']) as images:
        flags, probs, done = _classify_positions(
            images, task['x'], task['y'], entries, dev=dev, dtype=PRECISIONS[precision_used],
            batch_size=task['batch_size'], chunk_size=task['stream_size'],
            skip=CutoutFlag(task['skip']), maps=_page_maps(images, owned=True))
    seconds = time.perf_counter() - ready
    write_chunk(task['path'], index=task['index'], key=task['key'], rows=task['rows'],
                flags=flags, probs=probs, done=done, device=dev, precision=precision_used,
                seconds=seconds, worker=f'{socket.gethostname()}:{os.getpid()}')
    return {'job': task['job'], 'index': task['index'], 'n_rows': len(task['rows']),
            'n_classified': int(done.sum()), 'seconds': seconds,
            'models_s': ready - started, 'pid': os.getpid()}


def cache_info():
    """Model loads and cache hits of this worker process (``client.run(cache_info)``)."""
    with _LOCK:
        return {'loads': _STATS['loads'], 'hits': _STATS['hits'], 'cached': len(_CACHE),
                'pid': os.getpid()}
