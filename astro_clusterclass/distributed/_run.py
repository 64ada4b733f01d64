"""
Classifying catalogues on a Dask cluster: the client side.

The client plans the work (positions, chunks, fingerprints), writes the
manifest, submits one task per missing chunk and combines the chunk files
into the table `~astro_clusterclass.classify.classify_table` would return.
The workers do the reading and the classifying (``_worker``) and write
the chunk files themselves, so results never travel through the scheduler
and survive the client.
"""

import contextlib
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Mapping

import numpy as np
from tqdm.auto import tqdm

from .._utils.errors import DamagedFileWarning
from .._utils.validation import non_negative_int, positive_int
from ..classes import CLASSES
from ..classify import DEFAULT_SKIP_FLAGS, ClassFlag, Ensemble, EnsembleSpec, check_options
from ..cutouts import CutoutFlag
from ..images import load_images
from ..tables import check_on_image, check_table, pixel_positions, provenance
from . import _plan, _store, _worker
from ._dask import import_distributed, resolve_client

__all__ = ['classify_catalog_dask', 'classify_jobs']

# The examples start a (threads-only) Dask cluster.
__doctest_requires__ = {('classify_catalog_dask', 'classify_jobs'): ['distributed']}

#: Job names become folder names: keep them portable.
_JOB_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*$')


def _options(*, chunk_size, stream_size, batch_size, device, precision, skip_flags,
             torch_threads, retries):
    """Validated options: those of `classify_table` (its own checks) plus the Dask ones."""
    base = check_options(batch_size=batch_size, chunk_size=stream_size, skip_flags=skip_flags,
                         device=device, precision=precision)
    return {'chunk_size': positive_int(chunk_size, 'chunk_size'),
            'stream_size': base['chunk_size'], 'batch_size': base['batch_size'],
            'skip': base['skip_flags'], 'device': base['device'],
            'precision': base['precision'],
            'torch_threads': (None if torch_threads is None
                              else positive_int(torch_threads, 'torch_threads')),
            'retries': non_negative_int(retries, 'retries')}


def _changes(old, new, path):
    """Message saying how a run's inputs differ from those of its manifest."""
    what = []
    if (old.get('n_rows'), old.get('positions')) != (new['n_rows'], new['positions']):
        what.append(f'the candidate positions ({old.get("n_rows")} rows then, '
                    f'{new["n_rows"]} now, or other x/y values or row order)')
    if old.get('images') != new['images']:
        what.append('the images (file contents or bands)')
    if old.get('models') != new['models']:
        what.append('the models (their SHA-256 differ)')
    old_options = old.get('options', {})
    for name, value in new['options'].items():
        if old_options.get(name) != value:
            what.append(f'{name}={old_options.get(name)!r} then, {value!r} now')
    msg = (f'output_dir: the inputs changed since the manifest {path!r} was written: '
           f'{"; ".join(what) or "its fingerprint differs"}. Resume with the same inputs, '
           f'pass overwrite=True to start afresh, or use another output_dir')
    return msg


def _prepare_job(name, tbl, images, directory, *, bands, columns, spec, opts, parameter):
    """Positions, plan and fingerprint of one job (the output folder is not read)."""
    check_table(tbl, parameter=parameter)
    files = _plan.image_files(images)
    with load_images(files, bands=bands) as opened:
        x, y = pixel_positions(tbl, wcs=opened.wcs, columns=columns)
        check_on_image(x, y, opened.shape)  # a catalog of another mosaic is an error
    labelled = files.items() if isinstance(files, Mapping) else enumerate(files)
    options = {'chunk_size': opts['chunk_size'], 'device': opts['device'],
               'precision': opts['precision'], 'skip_flags': int(opts['skip']),
               'bands': list(bands) if bands is not None else None}
    fingerprint = {'n_rows': len(x), 'positions': _plan.positions_sha256(x, y),
                   'images': [[label, _plan.file_fingerprint(path)] for label, path in labelled],
                   'models': [ref.sha256 for ref in spec.references],
                   'options': options}
    key = _plan.run_key(fingerprint)
    plan = _plan.chunk_plan(y, opts['chunk_size'])
    return {'name': name, 'tbl': tbl, 'dir': directory, 'files': files, 'x': x, 'y': y,
            'plan': plan, 'key': key, 'fingerprint': fingerprint, 'clear': False,
            'manifest': None, 'missing': list(range(len(plan))), 'reused': {}}


def _scan_job(state, *, resume, overwrite, n_models):
    """
    What the output folder already holds: the manifest and the chunks to reuse.

    Runs under the folder's lock. A chunk is reused when its file belongs to
    this run and chunk, holds the planned rows and passes its checksums; its
    contents are kept for combining. A damaged or truncated chunk file is
    computed again, with a warning naming it.
    """
    directory = state['dir']
    manifest = _store.read_manifest(directory)
    if manifest is not None:
        path = os.path.join(directory, _store.MANIFEST)
        if overwrite:
            manifest, state['clear'] = None, True
        elif not resume:
            msg = (f'output_dir: {directory!r} already holds a run ({path}); pass resume=True '
                   f'to continue it or overwrite=True to start afresh')
            raise FileExistsError(msg)
        elif manifest.get('key') != state['key']:
            raise ValueError(_changes(manifest.get('fingerprint', {}), state['fingerprint'],
                                      path))
    elif overwrite:
        state['clear'] = True
    state['manifest'] = manifest
    if state['clear']:
        return
    missing, reused = [], {}
    for index, rows in enumerate(state['plan']):
        path = os.path.join(directory, _store.chunk_name(index))
        contents, problem = _store.check_chunk(path, key=state['key'], index=index, rows=rows,
                                               n_models=n_models, n_classes=len(CLASSES))
        if contents is not None:
            reused[index] = contents
            continue
        if problem is not None:
            warnings.warn(f'chunk file {path!r} is damaged ({problem}); computing chunk '
                          f'{index} again', DamagedFileWarning, stacklevel=4)
        missing.append(index)
    state['missing'], state['reused'] = missing, reused


def _manifest(state, metas, device, precision):
    """The manifest of a job before its chunks are computed."""
    chunks = []
    for index, rows in enumerate(state['plan']):
        ys = state['y'][rows]
        ys = ys[np.isfinite(ys)]
        chunks.append({'index': index, 'file': _store.chunk_name(index), 'n_rows': len(rows),
                       'rows_sha256': _plan.rows_sha256(rows),
                       'y_range': [float(ys.min()), float(ys.max())] if ys.size else None})
    files = state['files']
    manifest = {'key': state['key'], 'fingerprint': state['fingerprint'],
                'images': dict(files) if isinstance(files, Mapping) else list(files),
                'n_rows': len(state['x']), 'chunks': chunks, 'models': metas,
                'device': device, 'precision': precision, 'status': 'running'}
    if state['manifest'] is not None:
        manifest['created'] = state['manifest'].get('created')
    return manifest


def _submit(client, state, opts, spec, bands, run_id):
    """One task per missing chunk of a job; their futures."""
    common = {'job': state['name'], 'key': state['key'], 'images': state['files'],
              'run_id': run_id,
              'bands': bands, 'spec': spec,
              'device': opts['device'], 'precision': opts['precision'],
              'batch_size': opts['batch_size'], 'stream_size': opts['stream_size'],
              'skip': int(opts['skip']), 'torch_threads': opts['torch_threads']}
    futures = []
    for index in state['missing']:
        rows = state['plan'][index]
        task = dict(common, index=index, rows=rows, x=state['x'][rows], y=state['y'][rows],
                    path=os.path.join(state['dir'], _store.chunk_name(index)))
        key = f'clusterclass-{state["key"][:12]}-chunk-{index:06d}-{run_id}'
        futures.append(client.submit(_worker.classify_chunk, task, key=key, pure=False,
                                     retries=opts['retries']))
    return futures


def _combine(state, n_models):
    """
    Read every chunk file of a job back into arrays in input-row order.

    Each file must belong to this run and chunk and hold exactly the rows
    planned for it; afterwards every row must have been seen exactly once.
    """
    n, k = len(state['x']), len(CLASSES)
    flags = np.zeros(n, dtype=np.uint8)
    probs = np.full((n, n_models, k), np.nan, dtype=np.float32)
    done = np.zeros(n, dtype=bool)
    seen = np.zeros(n, dtype=np.int64)
    devices, precisions = set(), set()
    for index, rows in enumerate(state['plan']):
        path = os.path.join(state['dir'], _store.chunk_name(index))
        chunk = state['reused'].pop(index, None) or _store.read_chunk(path)
        head = chunk['header']
        if (head['RUNKEY'], head['CHUNK']) != (state['key'], index):
            msg = (f'chunk file {path!r} belongs to another run or chunk (RUNKEY '
                   f'{head["RUNKEY"][:12]}..., CHUNK {head["CHUNK"]}); run again with '
                   f'resume=True to compute it again')
            raise ValueError(msg)
        if not np.array_equal(chunk['rows'], rows):
            msg = (f'chunk file {path!r} does not hold the rows planned for chunk {index}; '
                   f'run again with resume=True to compute it again')
            raise ValueError(msg)
        if chunk['probs'].shape != (len(rows), n_models, k):
            msg = (f'chunk file {path!r} holds probabilities of shape '
                   f'{chunk["probs"].shape[1:]}, expected {(n_models, k)}')
            raise ValueError(msg)
        flags[rows] = chunk['flags']
        probs[rows] = chunk['probs']
        done[rows] = chunk['done']
        np.add.at(seen, chunk['rows'], 1)
        devices.add(head['DEVICE'])
        precisions.add(head['PRECISN'])
    lost, twice = np.flatnonzero(seen == 0), np.flatnonzero(seen > 1)
    if lost.size or twice.size:  # pragma: no cover - the checks above make it impossible
        msg = (f'combining {state["dir"]!r}: {lost.size} rows missing (first '
               f'{lost[:5].tolist()}) and {twice.size} rows present twice (first '
               f'{twice[:5].tolist()})')
        raise RuntimeError(msg)
    return flags, probs, done, devices, precisions


def _run(jobs, *, function, client, models, bands, columns, opts, resume, overwrite,
         return_probabilities, progress, calibration=None):
    """Classify ``[(name, tbl, images, directory, parameter)]``; the tables, in order."""
    distributed = import_distributed()
    started = time.perf_counter()
    spec = EnsembleSpec.from_models(models)
    states = [_prepare_job(name, tbl, images, directory, bands=bands, columns=columns,
                           spec=spec, opts=opts, parameter=parameter)
              for name, tbl, images, directory, parameter in jobs]
    with contextlib.ExitStack() as locks:
        # One run at a time per folder, from reading what it holds to combining.
        for state in states:
            if os.path.isdir(state['dir']):
                state['locked'] = locks.enter_context(_store.run_lock(state['dir']))
                _scan_job(state, resume=resume, overwrite=overwrite,
                          n_models=len(spec.references))
        # Everything is validated: only now change the output folders.
        for state in states:
            if state['clear']:
                _store.remove_run(state['dir'])
            if 'locked' not in state:
                os.makedirs(state['dir'], exist_ok=True)
                state['locked'] = locks.enter_context(_store.run_lock(state['dir']))
                _scan_job(state, resume=resume, overwrite=overwrite,
                          n_models=len(spec.references))
        return _compute(states, jobs, function=function, client=client, spec=spec,
                        bands=bands, columns=columns, opts=opts, resume=resume,
                        overwrite=overwrite, return_probabilities=return_probabilities,
                        progress=progress, distributed=distributed, started=started,
                        calibration=calibration)


def _compute(states, jobs, *, function, client, spec, bands, columns, opts, resume, overwrite,
             return_probabilities, progress, distributed, started, calibration):
    """Submit the missing chunks of every job, then combine each job (folders locked)."""
    run_id = uuid.uuid4().hex[:8]

    prepared = time.perf_counter()
    known = [s['manifest'] for s in states if s['manifest'] is not None]
    if all(not s['missing'] and s['manifest'] is not None for s in states) and known:
        # Nothing to compute: the manifests know the models.
        metas, device, precision = known[0]['models'], known[0]['device'], known[0]['precision']
    else:
        # One worker loads the models first: bad models fail here, before any
        # chunk is submitted, and that worker keeps them for its chunks.
        info = client.submit(_worker.model_metas, spec, opts['device'],
                             opts['precision'], opts['torch_threads'], pure=False,
                             key=f'clusterclass-models-{run_id}').result()
        metas = json.loads(json.dumps(info['metas'], default=str))  # as stored in manifests
        device, precision = info['device'], info['precision']
    ensemble = Ensemble.from_metadata(metas, device=device, precision=precision, spec=spec)
    # Chunks hold each member's probabilities: calibration is applied when combining, so a
    # run resumed with another calibration reuses them.
    calibrator, calibration_meta = ensemble.calibration(calibration)
    for state, job in zip(states, jobs):
        ensemble.check_columns(state['tbl'], return_probabilities=return_probabilities,
                               calibrated=calibrator is not None, parameter=job[4])
        with load_images(state['files'], bands=bands) as opened:
            state['domain'] = ensemble.check_training_domain(opened)
    for state in states:
        state['manifest'] = _store.write_manifest(state['dir'],
                                                  _manifest(state, metas, device, precision))
    models_s = time.perf_counter() - prepared

    computing = time.perf_counter()
    futures = [future for state in states
               for future in _submit(client, state, opts, spec, bands, run_id)]
    summaries = []
    total = sum(len(s['plan'][i]) for s in states for i in s['missing'])
    with tqdm(total=total, unit='cand', desc='classify (dask)', disable=not progress) as bar:
        try:
            for future in distributed.as_completed(futures):
                summaries.append(future.result())
                bar.update(summaries[-1]['n_rows'])
        except BaseException as exc:
            client.cancel(futures)
            if isinstance(exc, Exception):
                exc.add_note('The chunks already finished are kept; run again with '
                             'resume=True to compute only the others.')
            raise
    classify_s = time.perf_counter() - computing

    tables = []
    for state, job in zip(states, jobs):
        combining = time.perf_counter()
        flags, probs, done, devices, precisions = _combine(state, len(metas))
        out = ensemble.results_table(state['tbl'], flags, probs, done,
                                     return_probabilities=return_probabilities,
                                     calibration=calibrator)
        mine = [s for s in summaries if s['job'] == state['name']]
        step = provenance(function, {
            'chunk_size': opts['chunk_size'], 'stream_size': opts['stream_size'],
            'batch_size': opts['batch_size'], 'device': opts['device'],
            'precision': opts['precision'], 'return_probabilities': return_probabilities,
            'skip_flags': CutoutFlag.describe(opts['skip']), 'columns': columns,
            'models': [ref.source for ref in spec.references],
            'output_dir': state['dir'], 'resume': resume, 'overwrite': overwrite,
            'retries': opts['retries'], 'torch_threads': opts['torch_threads'],
            'scheduler': client.scheduler.address,
            'calibration': (None if calibration is None else calibration
                            if isinstance(calibration, str) else repr(calibration))})
        step.update({
            'models': ensemble.models_meta(),
            'device': ', '.join(sorted(devices)) or device,
            'precision': ', '.join(sorted(precisions)) or precision,
            'cutout_size': ensemble.stamp_size, 'n_classified': int(done.sum()),
            'calibration': calibration_meta,
            'n_nonfinite_probabilities': int(np.count_nonzero(
                flags & np.uint8(ClassFlag.NONFINITE_PROBABILITY))),
            'training_domain': state['domain'],
            'timing': {'models_s': round(models_s, 3), 'classify_s': round(classify_s, 3),
                       'combine_s': round(time.perf_counter() - combining, 3),
                       'total_s': round(time.perf_counter() - started, 3)},
            'dask': {'output_dir': state['dir'], 'n_chunks': len(state['plan']),
                     'chunks_computed': len(state['missing']),
                     'chunks_reused': len(state['plan']) - len(state['missing']),
                     'computed': list(state['missing']),
                     'worker_s': round(sum(s['seconds'] for s in mine), 3),
                     'worker_pids': sorted({s['pid'] for s in mine})}})
        out.meta['classification'] = step
        manifest = dict(state['manifest'], status='complete', n_classified=int(done.sum()))
        _store.write_manifest(state['dir'], manifest)
        # Temporaries of writers that died (this run's or earlier runs'); never
        # those of a writer still at work.
        _store.remove_temporaries(state['dir'], run_id=run_id, started=state['locked'])
        tables.append(out)
    return tables


def classify_catalog_dask(tbl, images, *, output_dir, client=None, models=None, bands=None,
                          chunk_size=8192, stream_size=1024, batch_size=32, device='auto',
                          precision='auto', return_probabilities=False,
                          skip_flags=DEFAULT_SKIP_FLAGS, columns=None, calibration=None,
                          resume=True, overwrite=False, retries=0, torch_threads=None,
                          progress=True):
    """
    Classify a (large) catalogue on a Dask cluster, chunk by chunk, resumably.

    The candidates are sorted by y and cut into chunks of ``chunk_size``:
    each chunk covers a horizontal strip of the mosaic, so its task reads
    only that part of the memory-mapped FITS files, which every worker
    opens itself. Each worker loads and prepares the models once and keeps
    them for all its tasks. Every task writes its results to a file of
    ``output_dir`` (written atomically, with FITS checksums); a manifest
    records the inputs. A run that was interrupted is continued by calling
    again with the same inputs: only the missing chunks are computed, and
    a chunk file found damaged or truncated is computed again (with a
    warning naming it) rather than reused. One run at a time works on an
    ``output_dir``: a second one is refused while the first holds it. The
    result is the table `~astro_clusterclass.classify.classify_table`
    returns for the same inputs.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates, as for `~astro_clusterclass.classify.classify_table`.
        Not modified.
    images : sequence or mapping of str or path-like
        The five band images as FITS file names (a sequence, with the bands
        read from the headers or given by ``bands``, or a mapping band →
        file name). Workers open the files themselves, so they must see
        the same files (a shared file system); arrays, HDUs and
        `~astro_clusterclass.images.BandImages` are refused.
    output_dir : str or path-like
        Folder of the chunk files and of ``manifest.json`` (created).
    client : ``distributed.Client``, optional
        The cluster to use. Default: the current client
        (``distributed.get_client()``).
    models : model source or list of them, optional
        Checkpoint files or URLs, registered weights names,
        `~astro_clusterclass.models.Weights` records or members of a weights
        enum (default: the installed
        default model). Workers load them themselves: modules are not
        shipped (save them with
        `~astro_clusterclass.models.save_checkpoint`). Files are hashed
        here and each worker checks that it loaded the same file.
    bands : sequence of str, optional
        Bands of the images when they are a sequence whose headers do not
        say (as for `~astro_clusterclass.load_images`).
    chunk_size : int, optional
        Candidates per task and per chunk file. A multiple of
        ``stream_size`` makes the batches the same as those of
        ``classify_table`` with ``chunk_size=stream_size``.
    stream_size : int, optional
        Candidates whose stamps a worker cuts and holds at once (the
        ``chunk_size`` of ``classify_table``).
    batch_size, device, precision, return_probabilities, skip_flags, columns, calibration : optional
        As for `~astro_clusterclass.classify.classify_table`. ``device`` and
        ``precision`` are resolved on each worker (``'auto'`` uses a
        worker's GPU when it has one): pass them explicitly for
        identical results on mixed hardware.
    resume : bool, optional
        Continue the run found in ``output_dir`` (its inputs must be the
        same). With False, an existing run is an error.
    overwrite : bool, optional
        Delete a run found in ``output_dir`` and start afresh.
    retries : int, optional
        Times a task that raised an error is retried (a task whose worker
        died is rescheduled by Dask anyway).
    torch_threads : int, optional
        Threads of torch in each worker process. Default: left as the
        worker has it (Dask nannies set ``OMP_NUM_THREADS=1``: run one
        single-threaded worker process per core).
    progress : bool, optional
        Show a tqdm progress bar (candidates).

    Returns
    -------
    table : `~astropy.table.QTable`
        The table of `~astro_clusterclass.classify.classify_table`: same
        columns, rows in input order, same classes.
        ``meta['classification']`` differs in the provenance
        (``function``, ``arguments``, ``date``) and ``timing``, and adds
        ``dask``: ``output_dir``, ``n_chunks``,
        ``chunks_computed`` and ``chunks_reused`` (by this call),
        ``computed`` (their numbers), ``worker_s`` (seconds the workers
        spent classifying) and ``worker_pids``.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed.
    TypeError
        If the images are not file names or a model is a module.
    ValueError
        For invalid options, models or tables (as ``classify_table``), or
        when ``output_dir`` holds a run of other inputs (the message says
        which changed).
    FileExistsError
        If ``output_dir`` holds a run and ``resume`` is False.
    BlockingIOError
        If another run (any process, any host sharing the folder) is
        working on ``output_dir``; the message names it.

    Warns
    -----
    UserWarning
        For each chunk file found damaged or truncated (it is computed
        again).
    `~astropy.utils.exceptions.AstropyUserWarning`
        As `~astro_clusterclass.classify.classify_table`: when many
        positions fall off the images, and when a model trained on
        simulations classifies images that are not simulated.

    Notes
    -----
    A task that fails raises its error here after the other tasks are
    cancelled; the finished chunk files stay, so calling again with
    ``resume=True`` computes only the rest. See :doc:`/scaling`.

    Examples
    --------
    A cluster of one worker thread in this process, on local addresses only
    (real runs use worker processes, see :doc:`/scaling`):

    >>> import logging, os, tempfile, torch
    >>> from distributed import Client, LocalCluster
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.distributed import classify_catalog_dask
    >>> from astro_clusterclass.models import get_model, save_checkpoint
    >>> work = tempfile.mkdtemp()
    >>> field = make_cluster_field((256, 256), 30, seed=2)
    >>> paths = field.write(os.path.join(work, 'field'))
    >>> _ = torch.manual_seed(0)
    >>> checkpoint = os.path.join(work, 'compact.safetensors')
    >>> _ = save_checkpoint(get_model('compactnet', cutout_size=32), checkpoint)
    >>> cluster = LocalCluster(n_workers=1, processes=False, protocol='tcp', host='127.0.0.1',
    ...                        dashboard_address='127.0.0.1:0', silence_logs=logging.ERROR)
    >>> with cluster, Client(cluster) as client:
    ...     out = classify_catalog_dask(
    ...         field.candidates, [paths[b] for b in field.images.bands], client=client,
    ...         output_dir=os.path.join(work, 'run'), models=checkpoint, chunk_size=8,
    ...         progress=False)
    >>> dask = out.meta['classification']['dask']
    >>> len(out), dask['n_chunks'], dask['chunks_computed']
    (30, 4, 4)
    >>> sorted(os.listdir(os.path.join(work, 'run')))[:3]   # the lock, then the chunks
    ['.clusterclass.lock', 'chunk_000000.fits', 'chunk_000001.fits']
    """
    opts = _options(chunk_size=chunk_size, stream_size=stream_size, batch_size=batch_size,
                    device=device, precision=precision, skip_flags=skip_flags,
                    torch_threads=torch_threads, retries=retries)
    client = resolve_client(client)
    directory = os.path.abspath(os.fspath(output_dir))
    [out] = _run([('catalog', tbl, images, directory, 'tbl')], function='classify_catalog_dask',
                 client=client, models=models, bands=bands, columns=columns, opts=opts,
                 resume=resume, overwrite=overwrite,
                 return_probabilities=return_probabilities, progress=progress,
                 calibration=calibration)
    return out


def classify_jobs(jobs, *, output_dir, client=None, models=None, bands=None, chunk_size=8192,
                  stream_size=1024, batch_size=32, device='auto', precision='auto',
                  return_probabilities=False, skip_flags=DEFAULT_SKIP_FLAGS, columns=None,
                  calibration=None, resume=True, overwrite=False, retries=0, torch_threads=None,
                  progress=True):
    """
    Classify many (catalogue, images) jobs — galaxies, fields — on a Dask cluster.

    The chunks of all jobs are submitted together, so that every worker
    stays busy until the last chunk, and each job is then combined as
    `classify_catalog_dask` does. Job ``name`` keeps its chunk files and
    manifest in ``output_dir/name`` and is resumed independently.

    Parameters
    ----------
    jobs : mapping or sequence
        ``name → (tbl, images)``, or a sequence of ``(tbl, images)`` pairs
        (then named ``job_000``, ``job_001``...). ``tbl`` and ``images`` are
        as for `classify_catalog_dask`; names are folder names (letters,
        digits, ``._+-``).
    output_dir : str or path-like
        Parent folder of the jobs' folders.
    client, models, bands, chunk_size, stream_size, batch_size, device, precision : optional
        As for `classify_catalog_dask`, the same for every job.
    return_probabilities, skip_flags, columns, calibration, resume, overwrite, retries : optional
        As for `classify_catalog_dask`.
    torch_threads, progress : optional
        As for `classify_catalog_dask`.

    Returns
    -------
    tables : dict or list of `~astropy.table.QTable`
        The classified table of each job (``name → table`` when ``jobs`` is
        a mapping, else a list in the order of ``jobs``).

    Raises
    ------
    ImportError, TypeError, ValueError, FileExistsError, BlockingIOError
        As `classify_catalog_dask`; also for an empty ``jobs``, malformed
        jobs or bad names.

    Examples
    --------
    Two simulated galaxies on a cluster of one worker thread in this process
    (real runs use worker processes, see :doc:`/scaling`):

    >>> import logging, os, tempfile, torch
    >>> from distributed import Client, LocalCluster
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.distributed import classify_jobs
    >>> from astro_clusterclass.models import get_model, save_checkpoint
    >>> work = tempfile.mkdtemp()
    >>> _ = torch.manual_seed(0)
    >>> checkpoint = os.path.join(work, 'compact.safetensors')
    >>> _ = save_checkpoint(get_model('compactnet', cutout_size=32), checkpoint)
    >>> jobs = {}
    >>> for seed in (1, 2):
    ...     field = make_cluster_field((256, 256), 20, seed=seed)
    ...     paths = field.write(os.path.join(work, f'galaxy{seed}'))
    ...     jobs[f'galaxy{seed}'] = (field.candidates, [paths[b] for b in field.images.bands])
    >>> cluster = LocalCluster(n_workers=1, processes=False, protocol='tcp', host='127.0.0.1',
    ...                        dashboard_address='127.0.0.1:0', silence_logs=logging.ERROR)
    >>> with cluster, Client(cluster) as client:
    ...     tables = classify_jobs(jobs, client=client, output_dir=os.path.join(work, 'runs'),
    ...                            models=checkpoint, chunk_size=8, progress=False)
    >>> {name: len(tbl) for name, tbl in tables.items()}
    {'galaxy1': 20, 'galaxy2': 20}
    >>> sorted(os.listdir(os.path.join(work, 'runs')))
    ['galaxy1', 'galaxy2']
    """
    opts = _options(chunk_size=chunk_size, stream_size=stream_size, batch_size=batch_size,
                    device=device, precision=precision, skip_flags=skip_flags,
                    torch_threads=torch_threads, retries=retries)
    if isinstance(jobs, Mapping):
        named = list(jobs.items())
    elif isinstance(jobs, (list, tuple)):
        named = [(f'job_{i:03d}', job) for i, job in enumerate(jobs)]
    else:
        msg = (f'jobs must be a mapping name → (tbl, images) or a sequence of (tbl, images), '
               f'got {type(jobs).__name__}')
        raise TypeError(msg)
    if not named:
        msg = 'jobs is empty; give at least one (tbl, images) job'
        raise ValueError(msg)
    parent = os.path.abspath(os.fspath(output_dir))
    expanded = []
    for name, job in named:
        if not isinstance(name, str) or not _JOB_NAME.match(name):
            msg = (f'jobs: name {name!r} is not a portable folder name (letters, digits and '
                   f'._+-, not starting with a punctuation mark)')
            raise ValueError(msg)
        if not isinstance(job, (list, tuple)) or len(job) != 2:
            msg = f'jobs[{name!r}] must be a pair (tbl, images), got {type(job).__name__}'
            raise TypeError(msg)
        expanded.append((name, job[0], job[1], os.path.join(parent, name),
                         f'jobs[{name!r}] table'))
    client = resolve_client(client)
    tables = _run(expanded, function='classify_jobs', client=client, models=models,
                  bands=bands, columns=columns, opts=opts, resume=resume, overwrite=overwrite,
                  return_probabilities=return_probabilities, progress=progress,
                  calibration=calibration)
    if isinstance(jobs, Mapping):
        return dict(zip(jobs.keys(), tables))
    return tables
