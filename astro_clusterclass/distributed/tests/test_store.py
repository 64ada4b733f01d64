"""
The files of a Dask run, without a cluster: checksummed chunks, temporaries and the folder lock.

Chunk files are damaged in every way a disk or a killed writer can damage
them (a flipped bit in the header or the data, a cut anywhere, another
file in their place, an old file without checksums) and `check_chunk`
must refuse each with a reason; the lock must refuse a second process
and be free again when the holder is killed.
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from astro_clusterclass.distributed import _store

KEY = 'a' * 64
ROWS = np.array([5, 2, 9, 0], dtype=np.int64)


def _write(path, *, key=KEY, index=3, rows=ROWS, run_id='run00001'):
    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=(len(rows), 2)).astype('f4')
    _store.write_chunk(path, index=index, key=key, rows=rows,
                       flags=np.zeros(len(rows), np.uint8), probs=probs,
                       done=np.ones(len(rows), bool), device='cpu', precision='fp32',
                       seconds=1.0, worker='host:1', run_id=run_id)
    return probs


def _check(path, **kwargs):
    options = dict(key=KEY, index=3, rows=ROWS, n_models=2, n_classes=4)
    options.update(kwargs)
    return _store.check_chunk(str(path), **options)


def test_intact_chunk_is_reused_with_its_contents(tmp_path):
    path = tmp_path / _store.chunk_name(3)
    probs = _write(path)
    contents, problem = _check(path)
    assert problem is None
    np.testing.assert_array_equal(contents['rows'], ROWS)
    np.testing.assert_array_equal(contents['probs'], probs)
    with fits.open(path) as hdul:  # the checksums are there to be verified
        assert all('CHECKSUM' in hdu.header and 'DATASUM' in hdu.header for hdu in hdul)
    assert not list(tmp_path.glob('.*.tmp'))


def test_absent_or_other_runs_chunk_is_computed_silently(tmp_path):
    path = tmp_path / _store.chunk_name(3)
    assert _check(path) == (None, None)
    _write(path, key='b' * 64)
    assert _check(path) == (None, None)
    _write(path, index=4)
    assert _check(path) == (None, None)


def _data_start(path):
    with fits.open(path) as hdul:
        return hdul[1].fileinfo()['datLoc']


@pytest.mark.parametrize('damage, reason', [
    ('flip in the probabilities', 'HDU 1 fails its DATASUM check'),
    ('flip in the row numbers', 'HDU 1 fails its DATASUM check'),
    ('flip in the table header', 'HDU 1 fails its CHECKSUM check'),
    ('flip in the primary header', 'HDU 0 fails its CHECKSUM check'),
    ('cut inside the data', 'cannot be read|truncated'),
    ('cut after the table header', 'cannot be read|truncated'),
    ('cut inside the table header', 'HDUs instead of 2|cannot be read'),
    ('cut after the primary HDU', 'HDUs instead of 2'),
    ('empty', 'cannot be read'),
    ('text instead of FITS', 'cannot be read'),
])
def test_damaged_chunk_is_refused_with_a_reason(tmp_path, damage, reason):
    path = tmp_path / _store.chunk_name(3)
    _write(path)
    raw = bytearray(path.read_bytes())
    start = _data_start(path)
    if damage.startswith('flip'):
        offset = {'flip in the probabilities': start + 8 * 4 + 1 + 1 + 20,
                  'flip in the row numbers': start + 7,
                  'flip in the table header': bytes(raw).index(b"'host:1") + 2,
                  'flip in the primary header': bytes(raw).index(b'conforms to FITS') + 3}[damage]
        raw[offset] ^= 0x02
    elif damage.startswith('cut'):
        raw = raw[:{'cut inside the data': start + 20, 'cut after the table header': start,
                    'cut inside the table header': 2880 + 500,
                    'cut after the primary HDU': 2880}[damage]]
    elif damage == 'empty':
        raw = b''
    else:
        raw = b'not a FITS file\n' * 10
    path.write_bytes(bytes(raw))
    contents, problem = _check(path)
    assert contents is None and problem is not None
    assert re.search(reason, problem), problem
    with pytest.raises(ValueError, match='unusable.*resume=True'):
        _store.read_chunk(str(path))


def test_flipped_bit_changes_a_value_astropy_reads_without_complaint(tmp_path):
    """Without the checksums a flipped bit would be reused as a result."""
    path = tmp_path / _store.chunk_name(3)
    probs = _write(path)
    raw = bytearray(path.read_bytes())
    raw[_data_start(path) + 8 + 1 + 1] ^= 0x40   # a byte of the first probability
    path.write_bytes(bytes(raw))
    with fits.open(path) as hdul:
        read = np.array(hdul[1].data['prob'])
    assert not np.array_equal(read, probs)
    assert _check(path)[1] == 'HDU 1 fails its DATASUM check (damaged)'


def test_chunk_without_checksums_is_not_trusted(tmp_path):
    path = tmp_path / _store.chunk_name(3)
    _write(path)
    with fits.open(path) as hdul:
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(hdul[1].data,
                                                                 header=hdul[1].header)])
        for hdu in hdus:
            for key in ('CHECKSUM', 'DATASUM'):
                hdu.header.remove(key, ignore_missing=True)
        hdus.writeto(tmp_path / 'plain.fits')
    os.replace(tmp_path / 'plain.fits', path)
    assert _check(path)[1] == 'HDU 0 has no DATASUM (it cannot be verified)'


def test_chunk_with_other_rows_or_shapes_is_refused(tmp_path):
    path = tmp_path / _store.chunk_name(3)
    _write(path)
    assert _check(path, rows=ROWS[::-1])[1] == 'it does not hold the rows planned for its chunk'
    assert 'expected (3, 4)' in _check(path, n_models=3)[1]


def test_temporaries_of_live_writers_are_kept(tmp_path):
    started = time.time()
    names = {'mine': '.chunk_000001.fits.run00001.0a0b.tmp',
             'dead writer': '.chunk_000002.fits.run00002.0a0b.tmp',
             'live writer': '.chunk_000003.fits.run00003.0a0b.tmp'}
    for name in names.values():
        (tmp_path / name).write_bytes(b'SIMPLE')
    old = started - 3600
    os.utime(tmp_path / names['dead writer'], (old, old))
    os.utime(tmp_path / names['mine'], (old, old))
    (tmp_path / 'chunk_000000.fits').write_bytes(b'kept')
    _store.remove_temporaries(str(tmp_path), run_id='run00001', started=started)
    assert sorted(p.name for p in tmp_path.iterdir()) == [names['live writer'],
                                                          'chunk_000000.fits']
    _store.remove_temporaries(str(tmp_path))   # no run given: every temporary goes
    assert [p.name for p in tmp_path.iterdir()] == ['chunk_000000.fits']


_HOLD = """
import sys, time
from astro_clusterclass.distributed import _store
with _store.run_lock(sys.argv[1]):
    print('locked', flush=True)
    time.sleep(120)
"""


def test_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, '-c', _HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(BlockingIOError, match=rf'output_dir .* is in use by another run '
                                                  rf'\(process {holder.pid} on '):
            with _store.run_lock(str(tmp_path)):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)   # killed: no chance to clean up
        holder.wait()
        holder.stdout.close()
    with _store.run_lock(str(tmp_path)) as since:   # the kernel released the lock
        assert since <= time.time()
    assert (tmp_path / _store.LOCK).exists()


def test_lock_in_one_process_is_exclusive_too(tmp_path):
    with _store.run_lock(str(tmp_path)):
        with pytest.raises(BlockingIOError, match='in use by another run'):
            with _store.run_lock(str(tmp_path)):
                pass


def test_killed_writer_leaves_no_partial_chunk(tmp_path):
    """A writer killed at any moment leaves the chunk complete or absent, never half."""
    code = ('import sys, numpy as np\n'
            'from astro_clusterclass.distributed import _store\n'
            'rows = np.arange(200000)\n'
            'while True:\n'
            '    _store.write_chunk(sys.argv[1], index=0, key="k" * 64, rows=rows,\n'
            '        flags=np.zeros(len(rows), np.uint8), probs=np.ones((len(rows), 2, 4), "f4"),\n'
            '        done=np.ones(len(rows), bool), device="cpu", precision="fp32",\n'
            '        seconds=0.0, worker="w", run_id="killed01")\n'
            '    print("written", flush=True)\n')
    path = tmp_path / _store.chunk_name(0)
    for delay in (0.0, 0.05, 0.2, 0.5):
        writer = subprocess.Popen([sys.executable, '-c', code, str(path)],
                                  stdout=subprocess.PIPE, text=True)
        if delay:
            writer.stdout.readline()   # at least one complete file exists
            time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        if path.exists():
            contents, problem = _store.check_chunk(str(path), key='k' * 64, index=0,
                                                   rows=np.arange(200000), n_models=2,
                                                   n_classes=4)
            assert problem is None and contents is not None
    # What the killed writers left behind are temporaries, recognised by name.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != path.name]
    assert all(name.startswith('.') and name.endswith('.tmp') for name in leftovers)


@pytest.mark.parametrize('content, match', [
    (b'{"format": "astro_clusterclass.distributed/1", "key": "ab', 'is unreadable'),
    (b'\xff\xfe\x00garbage', 'is unreadable'),
    (b'[1, 2, 3]', 'is not a manifest of this version'),
    (b'{"format": "something else"}', 'is not a manifest of this version'),
])
def test_damaged_manifest_says_what_to_do(tmp_path, content, match):
    (tmp_path / _store.MANIFEST).write_bytes(content)
    with pytest.raises(ValueError, match=f'output_dir: .*manifest.json.* {match}.*'
                                         f'overwrite=True'):
        _store.read_manifest(str(tmp_path))


def test_manifest_writes_are_atomic(tmp_path):
    first = _store.write_manifest(str(tmp_path), {'key': 'k', 'chunks': []})
    assert _store.read_manifest(str(tmp_path))['key'] == 'k'
    with pytest.raises(TypeError):   # not JSON-serialisable: nothing is replaced
        _store.write_manifest(str(tmp_path), {'key': object()})
    assert _store.read_manifest(str(tmp_path)) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [_store.MANIFEST]
