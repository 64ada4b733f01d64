"""The shared helpers behind the reliability rules: bounded pixels, errors, atomic writes, locks."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from astro_clusterclass._utils.errors import CheckpointError, one_line
from astro_clusterclass._utils.files import TEMPORARY_MARK, atomic_path
from astro_clusterclass._utils.integrity import content_digest, torch_zip_error
from astro_clusterclass._utils.locks import exclusive_lock
from astro_clusterclass._utils.pixels import FAR, center_pixels


def test_center_pixels_never_overflow():
    values = [0.5, 1.49, -0.5, -0.51, 1e20, -1e20, 1e300, -1e300, np.inf, -np.inf, np.nan,
              2.0 ** 63, -2.0 ** 63, 5e-324, -0.0, 4503599627370495.0]
    got = center_pixels(values)
    for value, pixel in zip(values, got.tolist()):
        if not math.isfinite(value):
            assert pixel == -int(FAR)
        else:   # Python's floor on floats is exact and unbounded
            assert pixel == max(-int(FAR), min(int(FAR), math.floor(value + 0.5))), value
    # Corners computed from the pixels stay representable.
    assert (got - 10 ** 6).min() > np.iinfo(np.int64).min
    assert (got + 10 ** 6).max() < np.iinfo(np.int64).max


def test_numpy_wraps_around_without_the_bound():
    # What the bound prevents: a huge position becomes a small (negative) index.
    with np.errstate(invalid='ignore'):
        wrapped = np.floor(np.array([1e20])).astype(np.int64)[0]
    assert wrapped < 0


def test_checkpoint_error_is_one_line():
    exc = CheckpointError('checkpoint a.pt:\n\tError(s) in loading\n  missing  keys')
    assert str(exc) == 'checkpoint a.pt: Error(s) in loading missing keys'
    assert isinstance(exc, ValueError)
    assert one_line('  a\n\nb\t c ') == 'a b c'


def test_atomic_path_names_the_target_on_failure(tmp_path):
    target = tmp_path / 'out.txt'
    target.write_text('previous')
    with pytest.raises(OSError, match='No space left') as exc:
        with atomic_path(target) as tmp:
            with open(tmp, 'w') as fh:
                fh.write('half')
            raise OSError(28, 'No space left on device')
    assert exc.value.__notes__ == [f"while writing '{target}', which was left as it was"]
    assert target.read_text() == 'previous' and os.listdir(tmp_path) == ['out.txt']
    with pytest.raises(FileNotFoundError, match=r"cannot write '.*missing/out.txt': the folder "
                                                r"'.*missing' does not exist"):
        with atomic_path(tmp_path / 'missing' / 'out.txt'):
            pass


_KILLED_WRITER = """
import os, signal, sys
from astro_clusterclass._utils.files import TEMPORARY_MARK, atomic_path
with atomic_path(sys.argv[1]) as tmp:
    # What safetensors does: a temporary of its own beside the file it writes.
    with open(os.path.join(os.path.dirname(tmp), '.tmpAbC123'), 'w') as fh:
        fh.write('half')
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_leaves_only_recognisable_temporaries(tmp_path):
    target = tmp_path / 'model.safetensors'
    target.write_text('previous')
    result = subprocess.run([sys.executable, '-c', _KILLED_WRITER, str(target)])
    assert result.returncode == -9
    assert target.read_text() == 'previous'
    leftovers = sorted(os.listdir(tmp_path))
    assert leftovers[1:] == ['model.safetensors']
    assert leftovers[0].startswith(f'.model.safetensors{TEMPORARY_MARK}')
    assert os.listdir(tmp_path / leftovers[0]) == ['.tmpAbC123']


def test_atomic_path_removes_its_temporary_folder(tmp_path):
    target = tmp_path / 'out.ecsv'
    with atomic_path(target) as tmp:
        assert os.path.basename(tmp) == 'out.ecsv'   # writers that read the extension
        assert TEMPORARY_MARK in os.path.basename(os.path.dirname(tmp))
        with open(tmp, 'w') as fh:
            fh.write('done')
        with open(os.path.join(os.path.dirname(tmp), '.tmp-of-the-writer'), 'w') as fh:
            fh.write('left by the writer')
    assert os.listdir(tmp_path) == ['out.ecsv'] and target.read_text() == 'done'


def test_lock_file_that_cannot_be_created(tmp_path):
    blocker = tmp_path / 'not-a-folder'
    blocker.write_text('a file where a folder should be')
    with pytest.raises(OSError, match=r"the demo: cannot create its lock file '.*not-a-folder/"
                                      r"\.lock'"):
        with exclusive_lock(blocker / '.lock', what='the demo'):
            pass


def test_lock_is_released_after_the_block(tmp_path):
    lock = tmp_path / '.lock'
    with exclusive_lock(lock, what='the demo'):
        with pytest.raises(BlockingIOError, match=rf'the demo is in use by another run '
                                                  rf'\(process {os.getpid()} on .*'):
            with exclusive_lock(lock, what='the demo'):
                pass
    with exclusive_lock(lock, what='the demo'):   # free again
        pass


def test_content_digest_sees_every_byte():
    import torch
    tensors = {'w': torch.arange(12, dtype=torch.float32).reshape(3, 4),
               'b': torch.zeros(2, dtype=torch.bfloat16), 'n': torch.tensor(7)}
    reference = content_digest('{"a": 1}', tensors)
    assert content_digest('{"a": 2}', tensors) != reference
    for name in tensors:
        changed = dict(tensors)
        flat = changed[name].clone().reshape(-1).view(torch.uint8)
        flat[-1] ^= 1
        changed[name] = flat.view(tensors[name].dtype).reshape(tensors[name].shape)
        assert content_digest('{"a": 1}', changed) != reference, name
    renamed = {('v' if k == 'w' else k): v for k, v in tensors.items()}
    assert content_digest('{"a": 1}', renamed) != reference
    reshaped = dict(tensors, w=tensors['w'].reshape(4, 3))
    assert content_digest('{"a": 1}', reshaped) != reference


def _member_data(raw, member):
    """Offset of a zip member's data: after its local header (name and extra field)."""
    import struct
    name, extra = struct.unpack('<HH', raw[member.header_offset + 26:member.header_offset + 30])
    return member.header_offset + 30 + name + extra


def test_torch_zip_error_finds_a_flipped_byte(tmp_path):
    import zipfile

    import torch
    path = tmp_path / 'state.pt'
    torch.save({'w': torch.arange(1000.0)}, path)
    assert torch_zip_error(path) is None
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist() if i.filename.endswith('data/0'))
    raw = bytearray(path.read_bytes())
    raw[_member_data(raw, member) + 17] ^= 1
    path.write_bytes(bytes(raw))
    assert 'fails its CRC-32 check' in torch_zip_error(path)
    assert torch.load(path, weights_only=True)['w'][4] != 4   # torch itself does not notice
