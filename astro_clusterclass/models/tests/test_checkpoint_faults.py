"""
Fault injection on checkpoints: every damaged file ends in one CheckpointError, one line naming it.

The tests damage real checkpoints they write (truncation at many points,
flipped bits in the header, the metadata and the tensors, metadata that
is not JSON, tensors that do not fit, a file name whose hash prefix
differs) and check that loading never returns a model silently different
from the one saved.
"""

import json
import os
import shutil
import struct

import pytest
import safetensors.torch
import torch

from astro_clusterclass._utils.errors import CheckpointError
from astro_clusterclass.models import (get_model, load_checkpoint, load_model,
                                       read_checkpoint_meta, save_checkpoint, sha256_file)
from astro_clusterclass.models._checkpoint import DIGEST_KEY, META_KEY, name_hash


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    """A small checkpoint, its bytes and the length of its safetensors header."""
    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(4, 8))
    path = tmp_path_factory.mktemp('ckpt') / 'model.safetensors'
    digest = save_checkpoint(model, path)
    raw = path.read_bytes()
    (header_length,) = struct.unpack('<Q', raw[:8])
    return path, raw, header_length, digest, model


def _damaged(tmp_path, raw, name='model.safetensors'):
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


def _assert_one_line_naming(exc, path):
    text = str(exc.value)
    assert '\n' not in text and str(path) in text, text


def test_intact_checkpoint_loads_and_carries_a_digest(saved):
    path, raw, header_length, digest, model = saved
    header = json.loads(raw[8:8 + header_length])
    assert DIGEST_KEY in header['__metadata__']
    loaded = load_model(path, sha256=digest)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


@pytest.mark.parametrize('where', ['empty', 'length field', 'just the length', 'mid header',
                                   'end of header', 'first tensor byte', 'mid data',
                                   'last byte'])
def test_truncated_checkpoint(saved, tmp_path, where):
    path, raw, header_length, _, _ = saved
    cut = {'empty': 0, 'length field': 5, 'just the length': 8,
           'mid header': 8 + header_length // 2, 'end of header': 8 + header_length,
           'first tensor byte': 9 + header_length, 'mid data': (len(raw) + header_length) // 2,
           'last byte': len(raw) - 1}[where]
    bad = _damaged(tmp_path, raw[:cut])
    with pytest.raises(CheckpointError, match='truncated|damaged|empty') as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)


@pytest.mark.parametrize('region', ['length field', 'header', 'metadata text', 'tensor data',
                                    'last tensor byte'])
def test_flipped_bit(saved, tmp_path, region):
    path, raw, header_length, _, _ = saved
    header = raw[8:8 + header_length]
    offset = {'length field': 1, 'header': 8 + 2,
              'metadata text': 8 + header.index(b'cutout_size') + 3,
              'tensor data': 8 + header_length + (len(raw) - 8 - header_length) // 3,
              'last tensor byte': len(raw) - 1}[region]
    data = bytearray(raw)
    data[offset] ^= 0x04
    bad = _damaged(tmp_path, data)
    with pytest.raises(CheckpointError) as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)


def test_flipped_bit_in_tensor_data_would_load_silently_without_the_digest(saved, tmp_path):
    """The digest is what catches it: safetensors alone reads the changed tensor."""
    path, raw, header_length, _, _ = saved
    data = bytearray(raw)
    data[len(raw) - 3] ^= 0x40
    bad = _damaged(tmp_path, data)
    changed = safetensors.torch.load_file(str(bad))
    original = safetensors.torch.load_file(str(path))
    assert any(not torch.equal(changed[k], original[k]) for k in original)
    with pytest.raises(CheckpointError, match='differ from the digest'):
        load_checkpoint(bad)


def _rewrite(path, model, metadata):
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize('text, match', [
    ('{"architecture": "compactnet", ', 'not valid JSON'),
    ('[1, 2, 3]', 'JSON list, not an object'),
    ('"compactnet"', 'JSON str, not an object'),
])
def test_metadata_not_a_json_object(saved, tmp_path, text, match):
    model = saved[4]
    bad = _rewrite(tmp_path / 'meta.safetensors', model, {META_KEY: text})
    with pytest.raises(CheckpointError, match=match) as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint_meta(bad)


def test_metadata_missing_or_incomplete(saved, tmp_path):
    model = saved[4]
    bad = _rewrite(tmp_path / 'none.safetensors', model, {'format': 'pt'})
    with pytest.raises(CheckpointError, match='no astro_clusterclass metadata'):
        load_model(bad)
    meta = {k: v for k, v in model.meta.items() if k != 'categories'}
    bad = _rewrite(tmp_path / 'lacks.safetensors', model, {META_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError, match=r"lacks \['categories'\]") as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)
    meta = dict(model.meta, config={'widths': 'wide'})
    bad = _rewrite(tmp_path / 'config.safetensors', model, {META_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError) as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)


def test_tensors_that_do_not_fit(saved, tmp_path):
    model = saved[4]
    meta = json.dumps({k: v for k, v in model.meta.items() if k not in ('sha256', 'weights')})
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    wrong = dict(tensors)
    name = next(k for k in wrong if k.endswith('weight') and wrong[k].ndim == 4)
    wrong[name] = torch.zeros(wrong[name].shape[0] + 1, *wrong[name].shape[1:])
    wrong['extra.weight'] = torch.zeros(2)
    del wrong['fc.bias']
    bad = tmp_path / 'tensors.safetensors'
    safetensors.torch.save_file(wrong, str(bad), metadata={META_KEY: meta})
    with pytest.raises(CheckpointError, match='do not match the architecture') as exc:
        load_model(bad)
    text = str(exc.value)
    assert 'fc.bias' in text and 'extra.weight' in text and name in text
    _assert_one_line_naming(exc, bad)


def test_hash_prefix_in_the_file_name_is_checked(saved, tmp_path):
    path, _, _, digest, _ = saved
    good = tmp_path / f'model-{digest[:8]}.safetensors'
    shutil.copy(path, good)
    assert load_model(good).meta['sha256'] == digest
    wrong = ('1' if digest[0] == '0' else '0') + digest[1:8]
    bad = tmp_path / f'model-{wrong}.safetensors'
    shutil.copy(path, bad)
    with pytest.raises(CheckpointError, match=f'file name carries the hash prefix {wrong}') \
            as exc:
        load_model(bad)
    _assert_one_line_naming(exc, bad)
    # A date is not a hash: the file loads.
    dated = tmp_path / 'model-20240101.safetensors'
    shutil.copy(path, dated)
    assert name_hash(dated) is None and load_model(dated).meta['sha256'] == digest


def test_bundled_weights_name_carries_their_hash():
    from astro_clusterclass.models import default_weights
    weights = default_weights()
    assert name_hash(weights.location) == weights.sha256[:8]
    assert sha256_file(weights.location).startswith(name_hash(weights.location))


@pytest.fixture
def torch_file(tmp_path, saved):
    model = saved[4]
    meta = {k: v for k, v in model.meta.items() if k not in ('sha256', 'weights')}
    path = tmp_path / 'plain.pt'
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, path)
    return path


@pytest.mark.parametrize('damage', ['truncated', 'flipped bit in tensor data',
                                    'flipped bit in the pickled index'])
def test_damaged_torch_checkpoint(torch_file, damage):
    import zipfile
    raw = bytearray(torch_file.read_bytes())
    if damage == 'truncated':
        raw = raw[:len(raw) // 2]
    else:
        with zipfile.ZipFile(torch_file) as archive:
            member = next(i for i in archive.infolist()
                          if i.filename.endswith('data.pkl' if 'index' in damage else 'data/0'))
        local = member.header_offset
        name, extra = struct.unpack('<HH', raw[local + 26:local + 30])
        start = member.header_offset + 30 + name + extra   # the local header's lengths
        raw[start + member.compress_size // 2] ^= 0x10
    torch_file.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match='damaged') as exc:
        load_model(torch_file)
    _assert_one_line_naming(exc, torch_file)
    assert 'pickled Python objects' not in str(exc.value)


def test_checkpoint_errors_are_value_errors(saved, tmp_path):
    # Callers that caught ValueError before CheckpointError existed keep working.
    bad = _damaged(tmp_path, saved[1][:100])
    with pytest.raises(ValueError):
        load_model(bad)
    assert issubclass(CheckpointError, ValueError)


def test_failed_save_leaves_the_previous_checkpoint(saved, tmp_path, monkeypatch):
    path, raw, _, digest, model = saved
    target = tmp_path / 'keep.safetensors'
    target.write_bytes(raw)

    def full_disk(tensors, filename, metadata=None):
        with open(filename, 'wb') as fh:
            fh.write(b'\0' * 100)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(safetensors.torch, 'save_file', full_disk)
    with pytest.raises(OSError, match='No space left') as exc:
        save_checkpoint(model, target, overwrite=True)
    assert any(str(target) in note for note in exc.value.__notes__)
    assert sha256_file(target) == digest
    assert sorted(os.listdir(tmp_path)) == ['keep.safetensors']


def test_loaded_model_does_not_depend_on_the_file(saved, tmp_path):
    """A file cut or rewritten in place after loading neither changes the model nor crashes."""
    path, raw, _, _, model = saved
    copy = tmp_path / 'model.safetensors'
    copy.write_bytes(raw)
    loaded = load_model(copy)
    with open(copy, 'r+b') as fh:   # as `cp other.safetensors model.safetensors` would
        fh.write(b'\0' * len(raw))
        fh.truncate(100)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)   # no SIGBUS, same weights


def test_same_model_same_file(saved, tmp_path):
    """The hash identifies the weights: safetensors' random metadata order is sorted away."""
    model, digest = saved[4], saved[3]
    digests = {save_checkpoint(model, tmp_path / f'copy_{i}.safetensors') for i in range(6)}
    assert digests == {digest}
