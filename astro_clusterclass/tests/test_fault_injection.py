"""
Fault injection across the package: damaged images, absurd numbers, full disks,
read-only folders and writers killed at any moment.

The rule every case checks: it ends in a clear error (naming the file, the
HDU or the parameter) or in a flagged row; nothing already written is
damaged; nothing is silently wrong. The damaged files are real files the
tests write and then cut, flip or replace. Checkpoints, resume files, chunk
files and catalogues have their own fault tests beside their code
(``models/tests/test_checkpoint_faults.py``,
``training/tests/test_resume_faults.py``, ``distributed/tests/test_store.py``
and ``test_distributed.py``, ``io/tests/test_io_faults.py``).
"""

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astro_clusterclass import BANDS, load_images, make_cutouts
from astro_clusterclass.classify import classify_table
from astro_clusterclass.conftest import gaussian_field
from astro_clusterclass.cutouts import CutoutFlag, iter_cutouts
from astro_clusterclass._utils.files import TEMPORARY_MARK
from astro_clusterclass.images import LazyImage
from astro_clusterclass.preprocessing import StampTransform

SHAPE = (200, 240)

#: The bundled model warns that it was trained on simulations; these tests are
#: about files and numbers, not about the model.
SIMULATED_ONLY = pytest.mark.filterwarnings('ignore:models .* were trained on simulated')


# ----------------------------------------------------------------------------
# FITS images: scaled, compressed, damaged
# ----------------------------------------------------------------------------

def _write_bands(folder, kind, *, checksum=False):
    """The gaussian field as five FITS files stored as ``kind``; paths and the float arrays."""
    paths, arrays = [], []
    for hdu in gaussian_field(SHAPE):
        band = hdu.header['FILTER']
        data = hdu.data * 1000.0 + 500.0
        if kind == 'plain':
            image = fits.ImageHDU(data.astype(np.float32), header=hdu.header, name='SCI')
        elif kind == 'scaled':       # BITPIX 16 with BSCALE/BZERO
            image = fits.ImageHDU(data.astype(np.float32), header=hdu.header, name='SCI')
            image.scale('int16', bscale=0.05, bzero=1000.0)
        elif kind == 'unsigned':     # uint16 counts: BITPIX 16, BZERO 32768
            image = fits.ImageHDU(np.round(data).astype(np.uint16), header=hdu.header,
                                  name='SCI')
        elif kind == 'blank':        # integers with BLANK pixels
            counts = np.round(data).astype(np.int32)
            counts[100, 120] = -99
            image = fits.ImageHDU(counts, header=hdu.header, name='SCI')
            image.header['BLANK'] = -99
        elif kind == 'compressed':   # tile-compressed (fpack)
            image = fits.CompImageHDU(data.astype(np.float32), header=hdu.header, name='SCI')
        else:  # pragma: no cover
            raise ValueError(kind)
        path = os.path.join(folder, f'{kind}_{band}.fits')
        fits.HDUList([fits.PrimaryHDU(), image]).writeto(path, checksum=checksum)
        paths.append(path)
        with fits.open(path) as hdul:   # astropy's own full read, scaling applied
            arrays.append(np.array(hdul[1].data, dtype=np.float64))
    return paths, arrays


def _positions(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-20, SHAPE[1] + 20, n), rng.uniform(-20, SHAPE[0] + 20, n)


@pytest.mark.parametrize('kind', ['scaled', 'unsigned', 'blank', 'compressed'])
def test_images_astropy_cannot_memory_map_are_read_strip_by_strip(tmp_path, kind):
    paths, arrays = _write_bands(tmp_path, kind)
    with load_images(paths) as images:
        for band, array, reference in zip(BANDS, images.data, arrays):
            assert isinstance(array, LazyImage), band
            assert array.shape == SHAPE and array.path.endswith(f'{kind}_{band}.fits')
            np.testing.assert_array_equal(np.asarray(array, dtype=np.float64), reference)
            np.testing.assert_array_equal(array[17:19], reference[17:19])
        x, y = _positions()
        stamps = make_cutouts(images, (x, y), size=15)
        expected = make_cutouts({b: a.astype(np.float32) for b, a in zip(BANDS, arrays)},
                                (x, y), size=15)
        np.testing.assert_array_equal(stamps.data, expected.data)
        np.testing.assert_array_equal(stamps.flags, expected.flags)
        # Chunk by chunk (one strip each) gives the same stamps.
        for start, chunk in iter_cutouts(images, (x, y), size=15, chunk_size=37):
            np.testing.assert_array_equal(chunk.data, expected.data[start:start + len(chunk)])
    if kind == 'blank':   # BLANK pixels are NaN, and the stamp around one is flagged
        assert np.isnan(arrays[0][100, 120])
        with load_images(paths) as images:
            one = make_cutouts(images, ([120.0], [100.0]), size=5)
        assert one.flags[0] & CutoutFlag.NONFINITE


def test_plain_images_stay_memory_mapped(tmp_path):
    paths, _ = _write_bands(tmp_path, 'plain')
    with load_images(paths) as images:
        assert all(isinstance(array, np.ndarray) for array in images.data)
        assert all(isinstance(array.base, (np.memmap, np.ndarray)) for array in images.data)


@SIMULATED_ONLY
def test_classify_table_on_scaled_integers_equals_float_arrays(tmp_path):
    paths, arrays = _write_bands(tmp_path, 'scaled')
    x, y = _positions(60, seed=3)
    tbl = QTable({'x': x, 'y': y})
    options = dict(precision='fp32', device='cpu', progress=False)
    from_files = classify_table(tbl, paths, **options)
    from_arrays = classify_table(tbl, {b: a.astype(np.float32) for b, a in zip(BANDS, arrays)},
                                 **options)
    for name in ('class_flag', 'class_mode', 'prob_1', 'prob_4'):
        np.testing.assert_array_equal(np.ma.filled(from_files[name], -1),
                                      np.ma.filled(from_arrays[name], -1))


def _damage_one(paths, how):
    """Damage the F555W file; returns it."""
    path = paths[3]
    with open(path, 'rb') as fh:
        raw = bytearray(fh.read())
    with fits.open(path) as hdul:
        data_start = hdul[1].fileinfo()['datLoc']
    if how == 'cut in the pixels':
        raw = raw[:data_start + (len(raw) - data_start) // 2]
    elif how == 'cut after the header':
        raw = raw[:data_start + 10]
    elif how == 'cut in the header':
        raw = raw[:2880 + 1000]
    elif how == 'cut to 100 bytes':
        raw = raw[:100]
    elif how == 'empty':
        raw = b''
    elif how == 'XTENSION damaged':
        raw[2880 + 5] = 0x01
    elif how == 'text file':
        raw = b'x y\n1 2\n' * 500
    else:  # pragma: no cover
        raise ValueError(how)
    with open(path, 'wb') as fh:
        fh.write(bytes(raw))
    return path


@pytest.mark.parametrize('kind', ['plain', 'scaled', 'compressed'])
@pytest.mark.parametrize('how, match', [
    ('cut in the pixels', r'HDU 1 \(\w+\): the file is truncated'),
    ('cut after the header', r'HDU 1 \(\w+\): the file is truncated'),
    ('cut in the header', r'bytes that are no readable HDU \(a truncated or damaged header\)'),
    ('cut to 100 bytes', 'is not a readable FITS file'),
    ('empty', 'is not a readable FITS file'),
    ('XTENSION damaged', r"1: an unrecognised header starting with 'XTENS\\x01ON'"),
    ('text file', 'is not a readable FITS file'),
])
def test_damaged_image_names_file_and_hdu(tmp_path, kind, how, match):
    paths, _ = _write_bands(tmp_path, kind)
    path = _damage_one(paths, how)
    with pytest.raises(ValueError, match=match) as exc:
        load_images(paths)
    assert str(exc.value).startswith(f'image 3: {path!r}')


def test_flipped_pixel_bit_caught_by_the_checksums_when_asked(tmp_path):
    paths, arrays = _write_bands(tmp_path, 'plain', checksum=True)
    with open(paths[1], 'rb') as fh:
        raw = bytearray(fh.read())
    raw[-5000] ^= 0x10
    with open(paths[1], 'wb') as fh:
        fh.write(bytes(raw))
    images = load_images(paths)   # memory-mapped, not read: the change is not seen
    assert not np.array_equal(images['F336W'], arrays[1])
    images.close()
    with pytest.raises(ValueError, match=r"image 1: .*F336W.fits', HDU 1 \(SCI\): the "
                                         r'DATASUM \(pixels\) check failed'):
        load_images(paths, checksum=True)
    intact, _ = _write_bands(tmp_path / '..', 'plain', checksum=True)
    load_images(intact, checksum=True).close()


def test_other_unreadable_images(tmp_path, small_field_files):
    paths = list(small_field_files)
    table = tmp_path / 'table.fits'
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column('a', 'E', array=[1.0])])]).writeto(table)
    with pytest.raises(ValueError, match=r"holds no readable 2-D image: its HDUs are 0: no "
                                         r"data 'PRIMARY'; 1: table"):
        load_images(paths[:4] + [str(table)])
    folder = tmp_path / 'folder.fits'
    folder.mkdir()
    with pytest.raises(ValueError, match='is not a readable FITS file'):
        load_images(paths[:4] + [str(folder)])
    with fits.open(paths[2]) as hdul:
        hdul[1].header['CTYPE1'] = 'RA---XXX'
        hdul.writeto(tmp_path / 'badwcs.fits')
    with pytest.raises(ValueError, match=r"badwcs.fits', HDU 1 \(SCI\): its WCS keywords are "
                                         r'invalid'):
        load_images(paths[:2] + [str(tmp_path / 'badwcs.fits')] + paths[3:])


# ----------------------------------------------------------------------------
# Absurd numbers: positions, sizes
# ----------------------------------------------------------------------------

ABSURD = [np.inf, -np.inf, np.nan, 1e20, -1e20, 1e300, -1e300, 2.0 ** 63, -2.0 ** 63,
          2.0 ** 53 + 2, -0.0, 5e-324, -5e-324, 1e-310, 239.4999, 239.5, -0.5, -0.5000001,
          199.49, 199.5, 1e15 + 0.5]


def _on_image(value, n):
    """Independent: exact integer arithmetic of Python floats, no numpy casts."""
    if not math.isfinite(value):
        return False
    return 0 <= math.floor(value + 0.5) < n


@pytest.fixture(scope='module')
def band_arrays():
    return {hdu.header['FILTER']: hdu.data for hdu in gaussian_field(SHAPE)}


def test_absurd_positions_are_flagged_never_an_error(band_arrays):
    values = np.array(ABSURD)
    xs = np.concatenate([values, np.full(len(values), 100.0)])
    ys = np.concatenate([np.full(len(values), 100.0), values])
    stamps = make_cutouts(band_arrays, (xs, ys), size=8)
    assert len(stamps) == len(xs)   # no row lost
    expected_on = np.array([_on_image(x, SHAPE[1]) and _on_image(y, SHAPE[0])
                            for x, y in zip(xs, ys)])
    off = (stamps.flags & CutoutFlag.OFF_IMAGE) > 0
    np.testing.assert_array_equal(off, ~expected_on)
    assert np.all(stamps.flags[off] & CutoutFlag.EDGE)
    far = ~np.isfinite(xs) | ~np.isfinite(ys) | (np.abs(xs) > 1e6) | (np.abs(ys) > 1e6)
    assert far.sum() == 22 and np.all(stamps.data[far] == 0)   # padding only
    # The corners agree with the transform the engine crops with (no overflow, no drift).
    cx, cy = StampTransform(8).corners(xs, ys)
    np.testing.assert_array_equal(stamps.x0, cx)
    np.testing.assert_array_equal(stamps.y0, cy)


@SIMULATED_ONLY
def test_absurd_positions_in_classify_table(band_arrays):
    n = len(ABSURD)
    tbl = QTable({'id': np.arange(2 * n), 'x': np.concatenate([ABSURD, np.full(n, 100.0)]),
                  'y': np.concatenate([np.full(n, 80.0), ABSURD])})
    options = dict(precision='fp32', device='cpu', progress=False)
    out = classify_table(tbl, band_arrays, **options)
    assert len(out) == len(tbl) and list(out['id']) == list(tbl['id'])
    off = (np.asarray(out['class_flag']) & CutoutFlag.OFF_IMAGE) > 0
    expected = [not _on_image(v, SHAPE[1]) for v in ABSURD] + \
        [not _on_image(v, SHAPE[0]) for v in ABSURD]
    np.testing.assert_array_equal(off, expected)
    assert np.all(np.ma.getmaskarray(out['class_mode'])[off])   # flagged, not classified
    # Even when asked to classify padding-only stamps, the crop stays consistent.
    everything = classify_table(tbl, band_arrays, skip_flags=CutoutFlag.NONE, **options)
    assert not np.any(np.ma.getmaskarray(everything['class_mode']))


@pytest.mark.parametrize('size, match', [
    (0, 'size must be an integer >= 1'), (-5, 'size must be an integer >= 1'),
    (2.5, 'size must be an integer'), (True, 'size must be an integer'),
    (10 ** 6, r'size=1000000: 2 stamps .* GiB, more than this machine can hold'),
    (10 ** 12, 'more than this machine can hold'),
])
def test_absurd_sizes_are_named(band_arrays, size, match):
    with pytest.raises(ValueError, match=match):
        make_cutouts(band_arrays, ([10.0, 20.0], [10.0, 20.0]), size=size)


def test_absurd_chunk_size_is_named(band_arrays):
    with pytest.raises(ValueError, match='chunk_size must be a positive integer'):
        next(iter_cutouts(band_arrays, ([10.0], [10.0]), chunk_size=0))


# ----------------------------------------------------------------------------
# Full disks, read-only folders, killed writers
# ----------------------------------------------------------------------------

#: Writers of the package, as code defining ``write(target)`` in a child process:
#: each writes ``target`` (which exists already, with other content) with
#: overwrite=True.
_WRITERS = {
    'checkpoint': textwrap.dedent("""
        import torch
        from astro_clusterclass.models import get_model, save_checkpoint
        torch.manual_seed(1)
        model = get_model('compactnet', cutout_size=32)

        def write(target):
            save_checkpoint(model, target, overwrite=True)
    """),
    'cutout files': textwrap.dedent("""
        import os, numpy as np
        from astro_clusterclass import make_cutouts
        from astro_clusterclass.io import write_cutout_fits
        arrays = {b: np.ones((300, 300), np.float32) for b in
                  ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
        stamps = make_cutouts(arrays, ([150.0], [150.0]), size=299)

        def write(target):
            write_cutout_fits(stamps, os.path.dirname(target), prefix='cutout_',
                              overwrite=True)
    """),
    'regions': textwrap.dedent("""
        import numpy as np
        from astropy.table import QTable
        from astro_clusterclass.ds9 import write_ds9_regions
        n = 20000
        tbl = QTable({'x': np.arange(n, dtype=float), 'y': np.arange(n, dtype=float),
                      'class': np.ones(n, int)})

        def write(target):
            write_ds9_regions(tbl, target, class_column='class', overwrite=True)
    """),
    'training resume file': textwrap.dedent("""
        from astro_clusterclass.models import get_model
        from astro_clusterclass.training import TrainingConfig
        from astro_clusterclass.training._loop import TrainingLoop
        loop = TrainingLoop(get_model('compactnet', cutout_size=32), TrainingConfig(),
                            resume_key={})

        def write(target):
            loop.save(target, 5)
    """),
}

#: The file each writer writes in its folder.
_TARGETS = {'checkpoint': 'model.safetensors', 'cutout files': 'cutout_0.fits',
            'regions': 'candidates.reg', 'training resume file': 'run.resume.pt'}

_CHILD = textwrap.dedent("""
    import json, os, resource, signal, sys, tempfile
    target, limit, user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    exec(sys.stdin.read())
    # A first write where nothing stops it imports whatever the writer imports lazily.
    write(os.path.join(tempfile.mkdtemp(), os.path.basename(target)))
    if limit >= 0:   # a full disk: writes beyond `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    if user >= 0:    # root writes anywhere: drop to an unprivileged user
        os.setgid(user)
        os.setuid(user)
    try:
        write(target)
    except Exception as exc:
        notes = ' '.join(getattr(exc, '__notes__', []))
        print(json.dumps({'error': type(exc).__name__, 'oserror': isinstance(exc, OSError),
                          'message': f'{exc} {notes}'}))
    else:
        print(json.dumps({'error': None}))
""")


def _sha256(path):
    with open(path, 'rb') as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _run_child(writer, target, *, limit=-1, user=-1, home=None):
    env = dict(os.environ, HOME=home or os.environ.get('HOME', '/tmp'))
    result = subprocess.run([sys.executable, '-c', _CHILD, str(target), str(limit), str(user)],
                            input=_WRITERS[writer], capture_output=True, text=True, env=env,
                            timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
    assert lines, result.stderr[-3000:]
    return json.loads(lines[-1])


@pytest.mark.parametrize('writer', list(_WRITERS))
@pytest.mark.parametrize('limit', [0, 3000])
def test_full_disk_leaves_the_previous_file(tmp_path, writer, limit):
    target = tmp_path / _TARGETS[writer]
    target.write_bytes(b'the previous version\n' * 10)
    before = _sha256(target)
    result = _run_child(writer, target, limit=limit)
    assert result['oserror'], result
    assert 'File too large' in result['message'] and str(target) in result['message']
    assert _sha256(target) == before
    assert sorted(os.listdir(tmp_path)) == [target.name]   # no temporary left behind


def _unprivileged_folder():
    """A world-readable folder and the user to write from (None: this user)."""
    folder = tempfile.mkdtemp(prefix='readonly-')
    os.chmod(folder, 0o755)
    user = 65534 if os.geteuid() == 0 else -1   # nobody
    return folder, user


@pytest.mark.parametrize('writer', list(_WRITERS))
def test_read_only_folder_is_named_and_nothing_changes(writer):
    folder, user = _unprivileged_folder()
    home = tempfile.mkdtemp(prefix='home-')
    os.chmod(home, 0o777)
    try:
        target = os.path.join(folder, _TARGETS[writer])
        with open(target, 'wb') as fh:
            fh.write(b'the previous version\n')
        os.chmod(target, 0o444)
        os.chmod(folder, 0o555)
        if user < 0 and os.access(folder, os.W_OK):  # pragma: no cover
            pytest.skip('this user can write to read-only folders')
        before = _sha256(target)
        result = _run_child(writer, target, user=user, home=home)
        assert result['error'] == 'PermissionError', result
        assert f'cannot write {target!r}' in result['message']
        assert 'is not writable' in result['message']
        assert _sha256(target) == before and os.listdir(folder) == [_TARGETS[writer]]
    finally:
        os.chmod(folder, 0o755)
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)


_LOOP = textwrap.dedent("""
    import os, sys, torch
    from astro_clusterclass.models import get_model, save_checkpoint
    folder = sys.argv[1]
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(get_model('compactnet', cutout_size=32))
        # The two versions the loop alternates between, for the parent to compare.
        save_checkpoint(models[-1], os.path.join(folder, f'reference_{seed}.safetensors'))
    print('ready', flush=True)
    seed = 0
    while True:
        save_checkpoint(models[seed % 2], os.path.join(folder, 'model.safetensors'),
                        overwrite=True)
        seed += 1
""")


def test_checkpoint_writer_killed_at_any_moment(tmp_path):
    """Frozen or killed at many moments of repeated saves: the file always loads, as a whole."""
    from astro_clusterclass.models import load_model, sha256_file
    target = tmp_path / 'model.safetensors'
    writer = subprocess.Popen([sys.executable, '-c', _LOOP, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == 'ready'
        digests = {sha256_file(tmp_path / f'reference_{seed}.safetensors') for seed in (0, 1)}
        deadline = time.monotonic() + 60
        while not target.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        seen = set()
        for delay in (0.0, 0.003, 0.011, 0.023, 0.05, 0.1, 0.2, 0.3):
            time.sleep(delay)
            writer.send_signal(signal.SIGSTOP)   # frozen mid-write, as when killed
            seen.add(load_model(target).meta['sha256'])
            writer.send_signal(signal.SIGCONT)
        assert seen <= digests
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert load_model(target).meta['sha256'] in digests
    leftovers = [p.name for p in tmp_path.iterdir()
                 if p.name not in ('model.safetensors', 'reference_0.safetensors',
                                   'reference_1.safetensors')]
    assert all(TEMPORARY_MARK in name for name in leftovers), leftovers   # ours only
