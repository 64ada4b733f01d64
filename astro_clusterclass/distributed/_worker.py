"""
What runs on the Dask workers: a per-process cache of prepared models and the chunk task.

A worker process keeps the last `~astro_clusterclass.classify.Ensemble` it
used (keyed by its spec — each model's source and SHA-256 —, the device and
the precision), so the models are loaded and prepared once per worker process,
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

from ..classify import Ensemble, resolve_device, resolve_precision
from ..cutouts import CutoutFlag
from ..images import load_images
from ._store import write_chunk

__all__ = ['prepared_ensemble', 'model_metas', 'classify_chunk', 'cache_info']

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
    zeroes on first touch, and classifying slows down markedly (see
    ``benchmarks/bench_dask.py`` and docs/scaling.rst). Setting the mmap threshold restores
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


def prepared_ensemble(spec, device, precision):
    """
    The `~astro_clusterclass.classify.Ensemble` of ``spec`` in this worker process.

    Loaded on first use and kept for the following tasks (one ensemble at a
    time: the PHANGS ensemble alone needs GBs); every model's SHA-256 is
    checked against the spec when it is loaded.
    """
    dev = resolve_device(device)
    precision_used, _ = resolve_precision(precision, dev)
    key = (tuple((r.source, r.sha256) for r in spec.references), str(dev), precision_used)
    with _LOCK:
        ensemble = _CACHE.get(key)
        if ensemble is not None:
            _STATS['hits'] += 1
            return ensemble
        _CACHE.clear()
        ensemble = Ensemble.from_spec(spec, device=dev, precision=precision_used)
        _CACHE[key] = ensemble
        _STATS['loads'] += 1
    return ensemble


def model_metas(spec, device, precision, torch_threads=None):
    """Load (and cache) the models; their metadata, device and precision."""
    _set_threads(torch_threads)
    ensemble = prepared_ensemble(spec, device, precision)
    return {'metas': [dict(meta) for meta in ensemble.metas], 'device': str(ensemble.device),
            'precision': ensemble.precision}


def classify_chunk(task):
    """
    Classify one chunk and write its file; returns a short summary.

    ``task`` holds the chunk's row numbers and positions, the image file
    names, the ensemble spec and the options (see ``_run._submit``). The
    images are opened here, memory-mapped, and closed at the end, so the
    task reads only the strip of the mosaics its stamps touch.
    """
    _set_threads(task['torch_threads'])
    started = time.perf_counter()
    ensemble = prepared_ensemble(task['spec'], task['device'], task['precision'])
    ready = time.perf_counter()
    with load_images(task['images'], bands=task['bands']) as images:
        flags, probs, done = ensemble.classify_positions(
            images, task['x'], task['y'], batch_size=task['batch_size'],
            chunk_size=task['stream_size'], skip_flags=CutoutFlag(task['skip']),
            release_pages=True)
    seconds = time.perf_counter() - ready
    write_chunk(task['path'], index=task['index'], key=task['key'], rows=task['rows'],
                flags=flags, probs=probs, done=done, device=ensemble.device,
                precision=ensemble.precision, seconds=seconds,
                worker=f'{socket.gethostname()}:{os.getpid()}',
                run_id=task.get('run_id', 'worker'))
    return {'job': task['job'], 'index': task['index'], 'n_rows': len(task['rows']),
            'n_classified': int(done.sum()), 'seconds': seconds,
            'models_s': ready - started, 'pid': os.getpid()}


def cache_info():
    """Model loads and cache hits of this worker process (``client.run(cache_info)``)."""
    with _LOCK:
        return {'loads': _STATS['loads'], 'hits': _STATS['hits'], 'cached': len(_CACHE),
                'pid': os.getpid()}
