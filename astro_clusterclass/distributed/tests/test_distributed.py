"""
Tests of astro_clusterclass.distributed on a local Dask cluster of two worker processes.

A run gives the table of classify_table, loads the models once per worker,
survives a worker killed in the middle, and a resumed run recomputes only
the chunks that are missing.
"""

import logging
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from astropy.table import QTable

from astro_clusterclass.classify import classify_table
from astro_clusterclass.cli import main
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model, save_checkpoint

distributed = pytest.importorskip('distributed')

from astro_clusterclass.distributed import (_store, _worker,  # noqa: E402
                                            classify_catalog_dask, classify_jobs)

#: Options shared by the Dask runs and the local reference runs.
COMMON = {'precision': 'fp32', 'device': 'cpu', 'progress': False,
          'return_probabilities': True}

#: Meta entries that must equal those of classify_table (the others are
#: provenance and timing).
SAME_META = ('models', 'device', 'precision', 'cutout_size', 'n_classified')


@pytest.fixture(scope='module')
def client():
    # Processes, as on a real cluster; one torch thread each (the nannies
    # set OMP_NUM_THREADS=1). The scheduler's HTTP server (started even
    # without a dashboard) gets a free local port: 8787 may be taken.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address='127.0.0.1:0',
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Two random-weight checkpoints of different stamp sizes."""
    folder = tmp_path_factory.mktemp('models')
    paths = []
    for seed, size in ((0, 32), (1, 24)):
        torch.manual_seed(seed)
        path = str(folder / f'compact_{seed}.safetensors')
        save_checkpoint(get_model('compactnet', cutout_size=size, widths=(8, 16)), path)
        paths.append(path)
    return paths


def _written(shape, n, seed, folder):
    field = make_cluster_field(shape, n, seed=seed)
    paths = field.write(folder)
    return field.candidates, {band: paths[band] for band in field.images.bands}


@pytest.fixture(scope='module')
def field(tmp_path_factory):
    """A 512 px field of 150 candidates, shuffled, with one NaN and one off-image row."""
    tbl, images = _written((512, 512), 150, 1, tmp_path_factory.mktemp('field'))
    tbl = tbl[np.random.default_rng(0).permutation(len(tbl))]
    tbl['x'][3] = np.nan
    tbl['x'][7] = -50.0
    return tbl, images


@pytest.fixture(scope='module')
def local(field, models):
    tbl, images = field
    return classify_table(tbl, images, models=models, **COMMON)


def assert_same_table(out, ref):
    """Same columns, rows and classes as ``ref``; probabilities to rounding."""
    assert out.colnames == ref.colnames and len(out) == len(ref)
    for name in ref.colnames:
        a, b = out[name], ref[name]
        if name == 'coord':
            np.testing.assert_array_equal(a.ra.deg, b.ra.deg)
        elif name.startswith('prob_'):
            np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            np.testing.assert_allclose(np.ma.filled(a, 0), np.ma.filled(b, 0), atol=1e-6)
        elif name in ('class_mean', 'class_median', 'class_std', 'class_quality'):
            np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            np.testing.assert_allclose(np.ma.filled(a, 0), np.ma.filled(b, 0), atol=1e-6)
        else:  # input columns, flags, classes: identical, masks included
            np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            np.testing.assert_array_equal(np.ma.filled(a, -1), np.ma.filled(b, -1))
    for key in SAME_META:
        assert out.meta['classification'][key] == ref.meta['classification'][key], key


def _cache(client):
    return {addr: info for addr, info in client.run(_worker.cache_info).items()}


def test_catalog_equals_classify_table(client, field, models, local, tmp_path):
    tbl, images = field
    before = _cache(client)
    out = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                models=models, chunk_size=32, stream_size=16, **COMMON)
    assert_same_table(out, local)
    assert out.meta['classification']['function'] == 'classify_catalog_dask'
    n_classified = local.meta['classification']['n_classified']
    assert out.meta['classification']['n_classified'] == n_classified < len(tbl)
    n_chunks = math.ceil(len(tbl) / 32)
    info = out.meta['classification']['dask']
    assert (info['n_chunks'], info['chunks_computed'], info['chunks_reused']) == (n_chunks,
                                                                                  n_chunks, 0)
    assert sorted(p.name for p in tmp_path.glob('chunk_*.fits')) == [
        _store.chunk_name(i) for i in range(n_chunks)]
    manifest = _store.read_manifest(str(tmp_path))
    assert manifest['status'] == 'complete' and manifest['n_rows'] == len(tbl)
    # Chunks are strips of the mosaic: their y ranges follow each other.
    ranges = [c['y_range'] for c in manifest['chunks']]
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    # Models loaded at most once per worker process, then reused by every task.
    after = _cache(client)
    loads = [after[a]['loads'] - before.get(a, {'loads': 0})['loads'] for a in after]
    hits = [after[a]['hits'] - before.get(a, {'hits': 0})['hits'] for a in after]
    assert max(loads) <= 1 and sum(loads) + sum(hits) == n_chunks + 1   # + the first load
    assert sum(hits) >= n_chunks - 1


def test_jobs_equal_classify_table(client, models, tmp_path_factory):
    folder = tmp_path_factory.mktemp('galaxies')
    jobs = {f'ngc{seed}': _written((256, 256), 25 + 5 * seed, seed, folder / str(seed))
            for seed in range(4)}
    out = classify_jobs(jobs, client=client, output_dir=folder / 'runs', models=models,
                        chunk_size=16, **COMMON)
    assert list(out) == list(jobs)
    for name, (tbl, images) in jobs.items():
        assert_same_table(out[name], classify_table(tbl, images, models=models, **COMMON))
        assert out[name].meta['classification']['dask']['n_chunks'] == math.ceil(len(tbl) / 16)
        assert (folder / 'runs' / name / _store.MANIFEST).exists()
    # A sequence of jobs: a list back, folders job_000, ...
    pairs = [jobs['ngc0'], jobs['ngc1']]
    listed = classify_jobs(pairs, client=client, output_dir=folder / 'listed', models=models,
                           chunk_size=64, **COMMON)
    assert isinstance(listed, list) and len(listed) == 2
    assert_same_table(listed[1], out['ngc1'])
    assert (folder / 'listed' / 'job_001' / _store.MANIFEST).exists()


def _chunk_state(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob('chunk_*')}


def test_resume_recomputes_only_missing_chunks(client, field, models, local, tmp_path):
    tbl, images = field
    first = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                  models=models, chunk_size=16, **COMMON)
    n_chunks = first.meta['classification']['dask']['n_chunks']
    assert n_chunks == 10
    # A run that died: two chunk files never written, one half-written temporary.
    for index in (1, 7):
        (tmp_path / _store.chunk_name(index)).unlink()
    leftover = tmp_path / '.chunk_000001.fits.0123abcd.5a5a5a5a.tmp'
    leftover.write_bytes(b'SIMPLE  =')
    hour_ago = time.time() - 3600
    os.utime(leftover, (hour_ago, hour_ago))  # its writer died long ago
    kept = _chunk_state(tmp_path)
    again = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                  models=models, chunk_size=16, **COMMON)
    info = again.meta['classification']['dask']
    assert info['computed'] == [1, 7]
    assert (info['chunks_computed'], info['chunks_reused']) == (2, n_chunks - 2)
    assert {k: v for k, v in _chunk_state(tmp_path).items() if k in kept} == kept  # untouched
    assert not list(tmp_path.glob('.*.tmp'))
    assert_same_table(again, local)
    for name in first.colnames:
        if name != 'coord':  # the same chunk files: bit for bit the same results
            np.testing.assert_array_equal(np.ma.filled(again[name], -1),
                                          np.ma.filled(first[name], -1))
    # Nothing missing: nothing computed, no model loaded.
    before = _cache(client)
    third = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                  models=models, chunk_size=16, **COMMON)
    assert third.meta['classification']['dask']['chunks_computed'] == 0
    assert _cache(client) == before
    assert_same_table(third, local)


def _wait_idle(client, timeout=30):
    """Wait until no worker executes a task (cancelled tasks run to their end)."""
    deadline = time.monotonic() + timeout
    while any(client.run(lambda dask_worker: dask_worker.state.executing_count).values()):
        assert time.monotonic() < deadline, 'workers still busy'
        time.sleep(0.1)


def test_failed_run_resumed(client, field, models, local, tmp_path):
    tbl, images = field
    # A folder where chunk 4's file must go: that task fails when it writes.
    (tmp_path / _store.chunk_name(4)).mkdir(parents=True)
    with pytest.raises(IsADirectoryError) as info:
        classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path, models=models,
                              chunk_size=16, **COMMON)
    assert 'run again with resume=True' in ''.join(info.value.__notes__)
    _wait_idle(client)
    (tmp_path / _store.chunk_name(4)).rmdir()
    written = {p.name for p in tmp_path.glob('chunk_*.fits')}
    missing = [i for i in range(10) if _store.chunk_name(i) not in written]
    assert 4 in missing
    out = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                models=models, chunk_size=16, **COMMON)
    assert out.meta['classification']['dask']['computed'] == missing
    assert out.meta['classification']['dask']['chunks_reused'] == 10 - len(missing)
    assert_same_table(out, local)


def test_changed_inputs_refused(client, field, models, tmp_path):
    tbl, images = field
    small = tbl[:40]
    classify_catalog_dask(small, images, client=client, output_dir=tmp_path, models=models,
                          chunk_size=16, **COMMON)
    moved = small.copy()
    moved['x'][5] += 0.5
    with pytest.raises(ValueError, match='inputs changed since the manifest.*candidate pos'):
        classify_catalog_dask(moved, images, client=client, output_dir=tmp_path,
                              models=models, chunk_size=16, **COMMON)
    with pytest.raises(ValueError, match=r'the models \(their SHA-256 differ\)'):
        classify_catalog_dask(small, images, client=client, output_dir=tmp_path,
                              models=models[:1], chunk_size=16, **COMMON)
    with pytest.raises(ValueError, match='chunk_size=16 then, 8 now'):
        classify_catalog_dask(small, images, client=client, output_dir=tmp_path,
                              models=models, chunk_size=8, **COMMON)
    with pytest.raises(FileExistsError, match='already holds a run.*resume=True'):
        classify_catalog_dask(small, images, client=client, output_dir=tmp_path,
                              models=models, chunk_size=16, resume=False, **COMMON)
    # overwrite=True starts afresh with the new inputs.
    out = classify_catalog_dask(moved, images, client=client, output_dir=tmp_path,
                                models=models, chunk_size=8, overwrite=True, **COMMON)
    assert out.meta['classification']['dask']['chunks_computed'] == 5
    assert len(list(tmp_path.glob('chunk_*.fits'))) == 5


def test_bad_inputs(client, field, models, local, tmp_path):
    tbl, images = field
    arrays = {band: np.zeros((8, 8), dtype=np.float32) for band in images}
    run = classify_catalog_dask
    with pytest.raises(TypeError, match='images must be file names'):
        run(tbl, arrays, client=client, output_dir=tmp_path, models=models)
    with pytest.raises(TypeError, match='modules are not shipped'):
        run(tbl, images, client=client, output_dir=tmp_path,
            models=get_model('compactnet', cutout_size=16))
    with pytest.raises(ValueError, match='chunk_size must be a positive integer'):
        run(tbl, images, client=client, output_dir=tmp_path, models=models, chunk_size=0)
    with pytest.raises(ValueError, match="precision='fp8' is not one of"):
        run(tbl, images, client=client, output_dir=tmp_path, models=models, precision='fp8')
    with pytest.raises(ValueError, match="device='gpu0' is not a torch device"):
        run(tbl, images, client=client, output_dir=tmp_path, models=models, device='gpu0')
    with pytest.raises(TypeError, match='client must be a distributed.Client'):
        run(tbl, images, client='tcp://127.0.0.1:1', output_dir=tmp_path, models=models)
    with pytest.raises(ValueError, match="unknown model 'resnet50'"):
        run(tbl, images, client=client, output_dir=tmp_path, models='resnet50')
    with pytest.raises(ValueError, match="already has the columns .*'class_flag'"):
        run(local, images, client=client, output_dir=tmp_path, models=models)
    with pytest.raises(ValueError, match='jobs is empty'):
        classify_jobs({}, client=client, output_dir=tmp_path, models=models)
    with pytest.raises(ValueError, match="name '../up' is not a portable folder name"):
        classify_jobs({'../up': (tbl, images)}, client=client, output_dir=tmp_path,
                      models=models)
    with pytest.raises(TypeError, match=r"jobs\['a'\] must be a pair"):
        classify_jobs({'a': tbl}, client=client, output_dir=tmp_path, models=models)


def test_sky_positions_and_empty_table(client, field, models, tmp_path):
    tbl, images = field
    sky = QTable({'coord': tbl['coord'][:60]})   # positions through the images' WCS
    out = classify_catalog_dask(sky, images, client=client, output_dir=tmp_path / 'sky',
                                models=models, chunk_size=32, **COMMON)
    assert_same_table(out, classify_table(sky, images, models=models, **COMMON))
    empty = QTable({'x': np.array([], float), 'y': np.array([], float)})
    out = classify_catalog_dask(empty, images, client=client, output_dir=tmp_path / 'empty',
                                models=models, **COMMON)
    assert len(out) == 0 and out.meta['classification']['dask']['n_chunks'] == 0
    assert_same_table(out, classify_table(empty, images, models=models, **COMMON))


def test_calibration_and_checks_as_classify_table(client, field, models, local, tmp_path):
    from astro_clusterclass.calibration import fit_calibration

    tbl, images = field
    labelled = local.copy()
    labelled['class'] = np.random.default_rng(1).integers(1, 5, len(labelled))
    cal = fit_calibration(labelled, method='vector')
    ref = classify_table(tbl, images, models=models, calibration=cal, **COMMON)
    run = tmp_path / 'run'
    out = classify_catalog_dask(tbl, images, client=client, output_dir=run, models=models,
                                chunk_size=64, calibration=cal, **COMMON)
    assert_same_table(out, ref)
    assert 'prob_raw_1' in out.colnames
    for key in ('calibration', 'n_nonfinite_probabilities', 'training_domain'):
        assert out.meta['classification'][key] == ref.meta['classification'][key], key
    assert out.meta['classification']['training_domain']['images_simulated']
    # The chunks hold uncalibrated probabilities: the same run without calibration
    # reuses every chunk and gives the calibrated run's raw probabilities.
    raw = classify_catalog_dask(tbl, images, client=client, output_dir=run, models=models,
                                chunk_size=64, **COMMON)
    assert raw.meta['classification']['dask']['chunks_computed'] == 0
    for k in (1, 2, 3, 4):
        np.testing.assert_array_equal(raw[f'prob_{k}'].filled(-1), out[f'prob_raw_{k}'].filled(-1))
    assert not np.allclose(raw['prob_1'].filled(0), out['prob_1'].filled(0))
    # A catalog of another mosaic is refused before anything is written, as by classify_table.
    far = tbl.copy()
    far.remove_column('coord')
    far['x'] += 1e5
    with pytest.raises(ValueError, match='none of the 150 candidates falls on the images'):
        classify_catalog_dask(far, images, client=client, output_dir=tmp_path / 'far',
                              models=models, **COMMON)
    assert not (tmp_path / 'far').exists()


def test_dask_is_optional(field, models, tmp_path, monkeypatch):
    code = ('import sys, astro_clusterclass, astro_clusterclass.classify, '
            'astro_clusterclass.distributed, astro_clusterclass.cli; '
            'print(sorted({m.split(".")[0] for m in sys.modules} & {"dask", "distributed"}))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == '[]'
    monkeypatch.setitem(sys.modules, 'distributed', None)  # as if not installed
    tbl, images = field
    with pytest.raises(ImportError, match=r"pip install 'astro_clusterclass\[dask\]'"):
        classify_catalog_dask(tbl, images, output_dir=tmp_path, models=models)


def test_cli_on_a_scheduler(client, field, models, local, tmp_path, capsys):
    tbl, images = field
    catalog = tmp_path / 'candidates.ecsv'
    tbl.write(catalog)
    output = tmp_path / 'classified.ecsv'
    argv = ['classify', str(catalog), *images.values(), '-o', str(output), '-m', *models,
            '--precision', 'fp32', '--device', 'cpu', '--probabilities', '--no-progress',
            '--dask-scheduler', client.scheduler.address, '--task-size', '64']
    assert main(argv) == 0
    assert '3 chunks computed, 0 reused' in capsys.readouterr().out
    out = QTable.read(output)
    for name in ('class_flag', 'class_compactnet_1', 'class_compactnet_2', 'class_mode'):
        np.testing.assert_array_equal(np.ma.filled(out[name], -1),
                                      np.ma.filled(local[name], -1))
    assert (tmp_path / 'classified.ecsv.chunks' / _store.MANIFEST).exists()
    # Run again: everything is reused.
    assert main(argv + ['--overwrite']) == 0
    assert '0 chunks computed, 3 reused' in capsys.readouterr().out


def test_killed_worker_run_completes(client, field, models, local, tmp_path):
    """A worker process dies at the start of chunk 2; the run still completes, once per row."""
    tbl, images = field
    marker = str(tmp_path / 'killed')

    class KillOnce(distributed.WorkerPlugin):
        # Defined here so that it is pickled by value for the workers.
        name = 'kill-once'

        def __init__(self, marker):
            self.marker = marker

        def transition(self, key, start, finish, **kwargs):
            if finish == 'executing' and '-chunk-000002-' in str(key):
                try:
                    fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    return  # killed once already
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os._exit(1)

    client.register_plugin(KillOnce(marker))
    try:
        out = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path / 'run',
                                    models=models, chunk_size=16, **COMMON)
    finally:
        client.unregister_worker_plugin('kill-once')
    with open(marker) as fh:
        killed = int(fh.read())
    client.wait_for_workers(2, timeout=60)
    assert killed not in client.run(os.getpid).values()     # the nanny started a new one
    assert out.meta['classification']['dask']['chunks_computed'] == 10
    assert_same_table(out, local)
    # Every row is in exactly one chunk file.
    rows = np.concatenate([_store.read_chunk(str(path))['rows']
                           for path in sorted((tmp_path / 'run').glob('chunk_*.fits'))])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(tbl)))


def _flip(path, offset_from_data, mask=0x40):
    from astropy.io import fits
    with fits.open(path) as hdul:
        start = hdul[1].fileinfo()['datLoc']
    raw = bytearray(path.read_bytes())
    raw[start + offset_from_data] ^= mask
    path.write_bytes(bytes(raw))


def test_damaged_chunks_are_computed_again(client, field, models, local, tmp_path):
    """A flipped bit, a cut inside the data, garbage and a lost checksum: each chunk recomputed."""
    from astropy.io import fits
    tbl, images = field
    first = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                  models=models, chunk_size=16, **COMMON)
    chunk = {i: tmp_path / _store.chunk_name(i) for i in range(10)}
    # Chunk 2: one bit of one probability, a change astropy reads without complaint.
    before = fits.getdata(chunk[2], 1)['prob'].copy()
    _flip(chunk[2], 8 + 1 + 1 + 4 * 3)
    assert not np.array_equal(fits.getdata(chunk[2], 1)['prob'], before)
    # Chunk 5: cut inside its data (the header, with the right RUNKEY, is intact).
    with fits.open(chunk[5]) as hdul:
        start = hdul[1].fileinfo()['datLoc']
    chunk[5].write_bytes(chunk[5].read_bytes()[:start + 100])
    assert _store.chunk_header(str(chunk[5]))['RUNKEY'] == _store.chunk_header(
        str(chunk[0]))['RUNKEY']
    # Chunk 6: not FITS at all; chunk 8: written without checksums.
    chunk[6].write_bytes(b'\0' * 4096)
    with fits.open(chunk[8]) as hdul:
        plain = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(hdul[1].data,
                                                                  header=hdul[1].header)])
        for hdu in plain:
            for key in ('CHECKSUM', 'DATASUM'):
                hdu.header.remove(key, ignore_missing=True)
        plain.writeto(tmp_path / 'plain.fits')
    os.replace(tmp_path / 'plain.fits', chunk[8])
    kept = _chunk_state(tmp_path)
    with pytest.warns(UserWarning) as caught:
        again = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path,
                                      models=models, chunk_size=16, **COMMON)
    messages = sorted(str(w.message) for w in caught if 'is damaged' in str(w.message))
    assert len(messages) == 4
    for index, reason in ((2, 'DATASUM'), (5, 'truncated'), (6, 'cannot be read'),
                          (8, 'no DATASUM')):
        assert any(str(chunk[index]) in m and reason in m and f'chunk {index} again' in m
                   for m in messages), (index, messages)
    info = again.meta['classification']['dask']
    assert info['computed'] == [2, 5, 6, 8] and info['chunks_reused'] == 6
    assert_same_table(again, local)
    for name in first.colnames:
        if name != 'coord':
            np.testing.assert_array_equal(np.ma.filled(again[name], -1),
                                          np.ma.filled(first[name], -1))
    unchanged = {k: v for k, v in _chunk_state(tmp_path).items() if k in kept}
    assert sorted(k for k in kept if unchanged[k] != kept[k]) == [_store.chunk_name(i)
                                                                  for i in (2, 5, 6, 8)]


def _blocked(path):
    """A worker plugin that holds every chunk task until ``path`` exists."""

    class Hold(distributed.WorkerPlugin):
        name = 'hold-chunks'

        def __init__(self, release):
            self.release = release

        def transition(self, key, start, finish, **kwargs):
            if finish == 'executing' and '-chunk-' in str(key):
                deadline = time.monotonic() + 60
                while not os.path.exists(self.release) and time.monotonic() < deadline:
                    time.sleep(0.05)

    return Hold(str(path))


def test_concurrent_runs_on_one_folder(client, field, models, local, tmp_path):
    """Forced interleaving: run B starts while run A is computing; B is refused, A completes."""
    import threading
    tbl, images = field
    release = tmp_path / 'release'
    folder = tmp_path / 'run'
    client.register_plugin(_blocked(release))
    results = {}

    def run_a():
        try:
            results['a'] = classify_catalog_dask(tbl, images, client=client,
                                                 output_dir=folder, models=models,
                                                 chunk_size=16, **COMMON)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            results['a'] = exc

    thread = threading.Thread(target=run_a)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while not (folder / _store.MANIFEST).exists():   # A holds the folder and computes
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        # Temporaries a writer of another run is producing right now, and one of a
        # writer that died an hour ago.
        live = folder / '.chunk_000009.fits.other001.0a0b.tmp'
        live.write_bytes(b'SIMPLE')
        dead = folder / '.chunk_000009.fits.other002.0a0b.tmp'
        dead.write_bytes(b'SIMPLE')
        os.utime(dead, (time.time() - 3600,) * 2)
        with pytest.raises(BlockingIOError, match=rf"output_dir '{folder}' is in use by "
                                                  rf"another run \(process {os.getpid()} "):
            classify_catalog_dask(tbl, images, client=client, output_dir=folder,
                                  models=models, chunk_size=16, **COMMON)
        with pytest.raises(BlockingIOError, match='in use by another run'):
            classify_jobs({'run': (tbl, images)}, client=client, output_dir=tmp_path,
                          models=models, chunk_size=16, **COMMON)
    finally:
        release.write_text('go')
        thread.join(120)
        client.unregister_worker_plugin('hold-chunks')
    out = results['a']
    assert not isinstance(out, BaseException), out
    assert out.meta['classification']['dask']['chunks_computed'] == 10
    assert_same_table(out, local)
    assert live.exists() and not dead.exists()
    # Now the folder is free: a resume reuses every chunk A wrote.
    again = classify_catalog_dask(tbl, images, client=client, output_dir=folder,
                                  models=models, chunk_size=16, **COMMON)
    assert again.meta['classification']['dask']['chunks_reused'] == 10
    assert_same_table(again, local)


@pytest.mark.slow
def test_large_field_equals_classify_table(client, models, tmp_path):
    """20 000 candidates on a 4000 x 4000 px mosaic (one to two minutes on two cores)."""
    tbl, images = _written((4000, 4000), 20000, 0, tmp_path / 'field')
    options = dict(COMMON, return_probabilities=False)
    local = classify_table(tbl, images, models=models, **options)
    out = classify_catalog_dask(tbl, images, client=client, output_dir=tmp_path / 'run',
                                models=models, **options)
    assert out.meta['classification']['dask']['n_chunks'] == 3
    assert_same_table(out, local)
