"""
Classifying candidate tables with one model or an ensemble.

`classify_table` streams the candidates through the models chunk by
chunk: stamps are cut for one chunk at a time
(`~astro_clusterclass.cutouts.iter_cutouts`), normalised on the compute
device, and every model runs over the chunk in batches; nothing loops over
candidates in Python.
Candidates are processed in order of their y position, so that each
chunk reads one strip of the (memory-mapped) mosaic, and every input row
comes back, in input order. Rows whose stamp cannot be trusted
(edge, off the image, non-finite pixels, a missing band; see
``skip_flags``) are not classified: their flag says why and their
classification columns are masked. `astro_clusterclass.distributed` runs
the same classification over a Dask cluster.
"""

import mmap
import os
import time

import numpy as np
import torch
from astropy.table import MaskedColumn, QTable
from tqdm.auto import tqdm

from ._utils.validation import positive_int
from .classes import CLASSES
from .cutouts import CutoutFlag, iter_cutouts
from .ensemble import consolidate
from .images import BandImages, load_images
from .models import default_weights, load_model, prepare_for_inference
from .preprocessing import StampNormalization
from .tables import check_table, pixel_positions, provenance

__all__ = ['classify_table', 'DEFAULT_SKIP_FLAGS', 'resolve_device', 'resolve_precision']

#: Stamps with any of these flags are not classified by default.
DEFAULT_SKIP_FLAGS = (CutoutFlag.EDGE | CutoutFlag.OFF_IMAGE | CutoutFlag.NONFINITE
                      | CutoutFlag.MISSING_BAND)

#: Accepted ``precision`` values → torch dtype (``'auto'`` is resolved first).
PRECISIONS = {'fp32': torch.float32, 'bf16': torch.bfloat16}


def resolve_device(device):
    """
    The `torch.device` meant by ``device``.

    ``'auto'`` is the first CUDA GPU when one is present, else the CPU.

    Examples
    --------
    >>> from astro_clusterclass.classify import resolve_device
    >>> resolve_device('cpu')
    device(type='cpu')
    >>> resolve_device('auto').type in ('cpu', 'cuda')
    True
    """
    if isinstance(device, str) and device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        msg = f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'"
        raise ValueError(msg) from exc
    if dev.type == 'cuda' and not torch.cuda.is_available():
        msg = f'device={device!r} but no CUDA GPU is available'
        raise ValueError(msg)
    return dev


def _native_cpu_bf16():
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX)."""
    cpu = torch.cpu
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision, device):
    """
    The compute dtype for ``precision`` on ``device``.

    ``'auto'`` gives bf16 where the hardware computes it natively (CUDA GPUs
    with bf16 support; CPUs with AVX512-BF16 or AMX) and fp32 elsewhere:
    without native support bf16 is emulated and slower than fp32. bf16
    changes classes of random-weight models for a small fraction of stamps
    (see the benchmark and docs/classification.rst); pass ``'fp32'`` for
    bit-for-bit reproducible fp32 results.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.classify import resolve_precision
    >>> resolve_precision('fp32', torch.device('cpu'))
    ('fp32', torch.float32)
    >>> resolve_precision('auto', torch.device('cpu'))[0] in ('fp32', 'bf16')
    True
    """
    if precision == 'auto':
        if device.type == 'cuda':
            native = torch.cuda.is_bf16_supported()
        else:
            native = device.type == 'cpu' and _native_cpu_bf16()
        precision = 'bf16' if native else 'fp32'
    if precision not in PRECISIONS:
        msg = f"precision={precision!r} is not one of 'auto', {', '.join(map(repr, PRECISIONS))}"
        raise ValueError(msg)
    return precision, PRECISIONS[precision]


def _as_list(models):
    if models is None:
        return [default_weights()]
    if isinstance(models, (list, tuple)):
        if not models:
            msg = 'models is empty; give at least one model'
            raise ValueError(msg)
        return list(models)
    return [models]


def _labels(metas):
    """Column labels: the architecture, numbered when it occurs several times."""
    archs = [meta['architecture'] for meta in metas]
    seen, labels = {}, []
    for arch in archs:
        seen[arch] = seen.get(arch, 0) + 1
        labels.append(f'{arch}_{seen[arch]}' if archs.count(arch) > 1 else arch)
    return labels


def _load_size(source):
    """Rough bytes a source needs while loading (orders the loading, largest first)."""
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        return os.path.getsize(source)
    return 0


def _prepare_models(sources, device, dtype):
    """
    Load each model, make its inference copy and drop the original at once.

    Large checkpoints load first, while few inference copies are resident,
    which lowers the peak memory; entries come back in the order of ``sources``.
    """
    order = sorted(range(len(sources)), key=lambda i: -_load_size(sources[i]))
    entries = [None] * len(sources)
    for index in order:
        source = sources[index]
        model = load_model(source, categories=CLASSES)
        if model.meta.get('inference'):
            msg = ('models: got an inference copy (from prepare_for_inference); pass the '
                   'original model, its checkpoint or its registry name')
            raise ValueError(msg)
        size = int(model.meta['cutout_size'])
        norm = StampNormalization.from_dict(model.meta['normalization'])
        module = prepare_for_inference(model, input_size=size, device=device, dtype=dtype,
                                       channels_last=True)
        del model  # large unfolded weights are freed before the next model loads
        entries[index] = {'module': module, 'size': size, 'norm': norm, 'meta': module.meta}
    return entries


#: Mapped image bytes above which pages are released after every chunk.
_RELEASE_ABOVE = 256 * 2 ** 20


def _backing_mmap(array):
    """The `mmap.mmap` an array views, or None."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, 'base', None)
    return None


def _release_pages(maps):
    """
    Drop the image pages read so far from this process's memory.

    FITS files are memory-mapped; every page a stamp touched would stay in
    the process (and in its RSS) until the end. The pages stay in the OS
    page cache, so the next chunk re-reads them cheaply. Only used on maps
    of files that `classify_table` opened itself (nobody else can have
    written to them).
    """
    for mm in maps:
        mm.madvise(mmap.MADV_DONTNEED)


def _run_chunk(stamps, entries, size, batch_size, device, dtype):
    """Probabilities ``(n, M, K)`` of all models for one chunk of stamps."""
    n = stamps.shape[0]
    out = torch.empty((n, len(entries), len(CLASSES)), dtype=torch.float32)
    stamps = stamps.to(device, non_blocking=True)
    groups = {}
    for j, entry in enumerate(entries):
        groups.setdefault((entry['size'], repr(entry['norm'])), []).append(j)
    for (crop, _), members in groups.items():
        # Central crop: stamp pixel size//2 stays the centre (cutouts convention).
        lo = size // 2 - crop // 2
        norm = entries[members[0]]['norm']
        x = torch.empty((n, stamps.shape[1], crop, crop), dtype=dtype, device=device,
                        memory_format=torch.channels_last)
        # Normalise a few batches at a time: its temporaries are several
        # times the stamps' size.
        step = 8 * batch_size
        for b in range(0, n, step):
            x[b:b + step] = norm.apply(stamps[b:b + step, :, lo:lo + crop, lo:lo + crop].float())
        for j in members:
            module = entries[j]['module']
            for b in range(0, n, batch_size):
                logits = module(x[b:b + batch_size])
                out[b:b + batch_size, j] = torch.softmax(logits.float(), dim=1).cpu()
    return out.numpy()


def classify_table(tbl, images, *, models=None, batch_size=32, device='auto',
                   precision='auto', progress=True, return_probabilities=False,
                   chunk_size=1024, skip_flags=DEFAULT_SKIP_FLAGS, columns=None):
    """
    Classify every candidate of a table with one model or an ensemble.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with 0-based pixel columns (``x``/``y`` or another pair
        of :data:`~astro_clusterclass.tables.PIXEL_COLUMN_PAIRS`) or a
        `~astropy.coordinates.SkyCoord` column (then the images need a WCS).
        Not modified.
    images : `~astro_clusterclass.images.BandImages` or input of `~astro_clusterclass.load_images`
        The five bands.
    models : model source or list of them, optional
        Each a registered weights or model name, a checkpoint file or URL,
        a `~astro_clusterclass.models.Weights` record or a model from
        `~astro_clusterclass.models.get_model` /
        `~astro_clusterclass.models.load_model` (see
        `~astro_clusterclass.models.load_model`). Default: the installed
        default model (`~astro_clusterclass.models.default_weights`). Every
        model must predict the classes 1-4.
    batch_size : int, optional
        Stamps per forward pass.
    device : str or `torch.device`, optional
        ``'auto'`` (a CUDA GPU when present, else the CPU), ``'cpu'``,
        ``'cuda'``...
    precision : {'auto', 'fp32', 'bf16'}, optional
        Compute precision (weights cast once); see
        `~astro_clusterclass.classify.resolve_precision`.
    progress : bool, optional
        Show a tqdm progress bar (candidates).
    return_probabilities : bool, optional
        Add each model's class probabilities.
    chunk_size : int, optional
        Candidates whose stamps are cut and held at once (memory is about
        ``chunk_size * 5 * S * S * 4`` bytes, twice over).
    skip_flags : `~astro_clusterclass.cutouts.CutoutFlag`, optional
        Stamps with any of these flags are not classified (masked results).
        Use ``CutoutFlag.OFF_IMAGE | CutoutFlag.MISSING_BAND`` to classify
        padded edge stamps too.
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`.

    Returns
    -------
    table : `~astropy.table.QTable`
        A new table: the input columns and rows, in order, then

        - ``class_flag`` (uint8): `~astro_clusterclass.cutouts.CutoutFlag`
          bits of the candidate's stamp (the largest stamp the models use);
          rows with a flag in ``skip_flags`` have masked results;
        - ``class_<label>`` (int, masked): each model's class; the label
          is the architecture, numbered when several models share it
          (``class_resnet18_1``...);
        - ``prob_<label>`` (float32 ``(N, 4)``, masked; only with
          ``return_probabilities``): each model's probabilities of classes 1-4;
        - ``class_mode``, ``class_mean``, ``class_median``, ``class_std``,
          ``class_quality``, ``n_models`` and ``prob_1`` ... ``prob_4``
          (mean probabilities): the ensemble consolidation of
          `~astro_clusterclass.ensemble.consolidate` (tie rule there).

        ``table.meta`` holds the provenance (date, versions, arguments) and
        ``models`` (label, architecture, weights name, sha256, source,
        cutout size, normalisation, init), ``device``, ``precision``,
        ``cutout_size``, ``n_classified`` and ``timing`` (seconds spent
        loading/preparing the models and classifying).

    Notes
    -----
    Memory: the models are loaded one at a time (largest first) and only
    their inference copies stay. When ``images`` are file names, the files
    are opened here, memory-mapped, and the pages read for each chunk are
    handed back to the operating system after it, so that the resident
    memory does not grow with the mosaic; images passed as arrays or HDUs
    are left alone.

    Raises
    ------
    ValueError
        If the table has no positions, a band is missing, a model cannot
        be loaded or is for other bands, sizes or classes, or an option is
        invalid; the message names the parameter.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.classify import classify_table
    >>> from astro_clusterclass.models import get_model
    >>> _ = torch.manual_seed(0)
    >>> model = get_model('compactnet', cutout_size=16)
    >>> rng = np.random.default_rng(0)
    >>> images = {b: rng.normal(size=(60, 60)).astype('f4')
    ...           for b in ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']}
    >>> tbl = QTable({'x': [30.0, 2.0, 40.0], 'y': [30.0, 2.0, 20.0]})
    >>> out = classify_table(tbl, images, models=model, progress=False)
    >>> out['class_flag'].tolist()  # the second stamp runs off the image
    [0, 1, 0]
    >>> out['class_mode'].mask.tolist()
    [False, True, False]
    >>> out['class_quality'].tolist()
    [1.0, None, 1.0]
    """
    check_table(tbl)
    batch_size = positive_int(batch_size, 'batch_size')
    chunk_size = positive_int(chunk_size, 'chunk_size')
    try:
        skip = CutoutFlag(int(skip_flags))
    except (TypeError, ValueError) as exc:
        msg = f'skip_flags must be CutoutFlag bits, got {skip_flags!r}'
        raise ValueError(msg) from exc
    dev = resolve_device(device)
    precision_used, dtype = resolve_precision(precision, dev)
    owned = not isinstance(images, BandImages)
    images = load_images(images)
    try:
        return _classify(tbl, images, owned, models=models, batch_size=batch_size, dev=dev,
                         dtype=dtype, precision=precision, precision_used=precision_used,
                         device=device, progress=progress,
                         return_probabilities=return_probabilities, chunk_size=chunk_size,
                         skip=skip, columns=columns)
    finally:
        if owned:
            images.close()  # files opened here are closed here


def _page_maps(images, owned):
    """
    Memory maps whose pages are released after every chunk, or an empty list.

    Only maps of files opened by the caller itself (``owned``), and only
    when they are large enough for their pages to matter.
    """
    if not owned or not hasattr(mmap, 'MADV_DONTNEED'):
        return []
    maps = [mm for mm in map(_backing_mmap, images.data) if mm is not None]
    return maps if sum(len(mm) for mm in maps) >= _RELEASE_ABOVE else []


def _result_names(labels, return_probabilities):
    """Names of the columns a classification adds, in order."""
    return (['class_flag'] + [f'class_{lb}' for lb in labels]
            + ([f'prob_{lb}' for lb in labels] if return_probabilities else [])
            + ['class_mode', 'class_mean', 'class_median', 'class_std',
               'class_quality', 'n_models'] + [f'prob_{k}' for k in CLASSES])


def _check_new_columns(tbl, labels, return_probabilities, *, parameter='tbl'):
    """Refuse a table that already has a column the classification adds."""
    clash = [name for name in _result_names(labels, return_probabilities)
             if name in tbl.colnames]
    if clash:
        msg = (f'{parameter} already has the columns {clash}; remove or rename them before '
               f'classifying again')
        raise ValueError(msg)


def _classify_positions(images, x, y, entries, *, dev, dtype, batch_size, chunk_size, skip,
                        maps=(), bar=None):
    """
    Flags ``(n,)``, probabilities ``(n, M, K)`` and classified mask ``(n,)`` of positions.

    The core of `classify_table`, also run by the Dask workers of
    `astro_clusterclass.distributed` on their part of a catalogue.
    Positions are processed in order of y (each chunk of ``chunk_size``
    reads one strip of the mosaic); results come back in input order.
    """
    n, m, k = len(x), len(entries), len(CLASSES)
    size = max(e['size'] for e in entries)
    probs = np.full((n, m, k), np.nan, dtype=np.float32)
    flags = np.zeros(n, dtype=np.uint8)
    done = np.zeros(n, dtype=bool)
    with torch.inference_mode():
        # Chunks follow the image rows (candidates sorted by y), so that
        # each chunk reads one strip of the mosaic; results go back to
        # the input order through ``order``.
        order = np.argsort(np.where(np.isfinite(y), y, np.inf), kind='stable')
        for start, cut in iter_cutouts(images, (x[order], y[order]), size=size,
                                       chunk_size=chunk_size):
            index = order[start:start + len(cut)]
            flags[index] = cut.flags
            rows = np.flatnonzero((cut.flags & np.uint8(skip)) == 0)
            if rows.size:
                stamps = torch.from_numpy(cut.data if rows.size == len(cut) else cut.data[rows])
                probs[index[rows]] = _run_chunk(stamps, entries, size, batch_size, dev, dtype)
                done[index[rows]] = True
            del cut
            _release_pages(maps)
            if bar is not None:
                bar.update(len(index))
    return flags, probs, done


def _results_table(tbl, flags, probs, done, labels, *, return_probabilities):
    """
    A copy of ``tbl`` with the classification columns of `classify_table`.

    ``probs`` holds NaN where ``done`` is False; ``meta`` is left to the caller.
    """
    out = QTable(tbl, copy=True)
    m, k = len(labels), len(CLASSES)
    categories = np.asarray(CLASSES)
    best = np.argmax(np.nan_to_num(probs, nan=-1.0), axis=2)
    classes = np.ma.MaskedArray(categories[best], mask=np.repeat(~done[:, None], m, axis=1))
    out['class_flag'] = flags
    out['class_flag'].description = 'CutoutFlag bits of the stamp; see skip_flags in meta'
    for j, label in enumerate(labels):
        out[f'class_{label}'] = MaskedColumn(classes[:, j].filled(0).astype(np.int64),
                                             mask=~done)
    if return_probabilities:
        for j, label in enumerate(labels):
            out[f'prob_{label}'] = MaskedColumn(np.nan_to_num(probs[:, j], nan=0.0),
                                                mask=np.repeat(~done[:, None], k, axis=1))
    for name, column in consolidate(classes, np.nan_to_num(probs, nan=0.0)).columns.items():
        out[name] = column
    return out


def _models_meta(labels, metas):
    """The ``meta['models']`` entries of a classified table."""
    return [{'label': label, 'architecture': meta['architecture'],
             'weights': meta.get('weights'), 'sha256': meta.get('sha256'),
             'source': meta.get('source'), 'cutout_size': meta['cutout_size'],
             'normalization': meta['normalization'], 'init': meta.get('init'),
             'num_params': meta['num_params']}
            for label, meta in zip(labels, metas)]


def _classify(tbl, images, owned, *, models, batch_size, dev, dtype, precision,
              precision_used, device, progress, return_probabilities, chunk_size, skip,
              columns):
    x, y = pixel_positions(tbl, wcs=images.wcs, columns=columns)
    maps = _page_maps(images, owned)
    started = time.perf_counter()
    entries = _prepare_models(_as_list(models), dev, dtype)
    prepared = time.perf_counter()
    metas = [e['meta'] for e in entries]
    labels = _labels(metas)
    _check_new_columns(tbl, labels, return_probabilities)

    size = max(e['size'] for e in entries)
    with tqdm(total=len(tbl), unit='cand', desc='classify', disable=not progress) as bar:
        flags, probs, done = _classify_positions(
            images, x, y, entries, dev=dev, dtype=dtype, batch_size=batch_size,
            chunk_size=chunk_size, skip=skip, maps=maps, bar=bar)

    finished = time.perf_counter()
    out = _results_table(tbl, flags, probs, done, labels,
                         return_probabilities=return_probabilities)
    out.meta.update(provenance('classify_table', {
        'batch_size': batch_size, 'device': device, 'precision': precision,
        'return_probabilities': return_probabilities, 'chunk_size': chunk_size,
        'skip_flags': CutoutFlag.describe(skip), 'columns': columns,
        'models': [meta.get('weights') or meta.get('source') or meta['architecture']
                   for meta in metas]}))
    out.meta['models'] = _models_meta(labels, metas)
    out.meta['device'] = str(dev)
    out.meta['precision'] = precision_used
    out.meta['cutout_size'] = size
    out.meta['n_classified'] = int(done.sum())
    out.meta['timing'] = {'models_s': round(prepared - started, 3),
                          'classify_s': round(finished - prepared, 3)}
    return out
