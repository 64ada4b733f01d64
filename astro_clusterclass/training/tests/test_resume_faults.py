"""
Fault injection on training resume files and ensemble members.

A resume file that is truncated, has a flipped bit, is not a zip file or
lacks entries ends in a CheckpointError (one line, naming the file and
saying how to start again), never in a resumed run with wrong weights.
A damaged member checkpoint of an ensemble is trained again, identically.
"""

import io
import os
import struct
import zipfile

import numpy as np
import pytest
import torch

from astro_clusterclass._utils.errors import CheckpointError, DamagedFileWarning
from astro_clusterclass.models import load_model
from astro_clusterclass.training import TrainingSet, train_ensemble, train_model

TINY = {'widths': [4, 8]}


def _stamps(n_per_class=6, side=17, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([1, 2, 3, 4], n_per_class)
    stamps = rng.normal(0, 1, size=(len(labels), 5, side, side)).astype(np.float32)
    stamps[:, :, side // 2, side // 2] += labels[:, None] * 10
    return stamps, labels


class _Stop(Exception):
    pass


def _train(stamps, labels, **kwargs):
    options = dict(architecture='compactnet', model_config=TINY, n_batches=12, lr=3e-3,
                   progress=False, seed=3, batch_size=8)
    options.update(kwargs)
    return train_model(stamps, labels, **options)


@pytest.fixture(scope='module')
def interrupted(tmp_path_factory):
    """A resume file written at batch 7 of 12, its bytes, and the uninterrupted result."""
    stamps, labels = _stamps()
    full = _train(stamps, labels)
    path = tmp_path_factory.mktemp('resume') / 'run.resume.pt'

    def stop(batch, loss, acc):
        if batch == 6:
            raise _Stop

    with pytest.raises(_Stop):
        _train(stamps, labels, checkpoint=path, callback=stop)
    return stamps, labels, path.read_bytes(), full


def _member(raw, name):
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return next(i for i in archive.infolist() if i.filename.endswith(name))


def _flip_in_member(raw, name):
    info = _member(raw, name)
    lengths = raw[info.header_offset + 26:info.header_offset + 30]
    start = info.header_offset + 30 + sum(struct.unpack('<HH', lengths))  # local header
    data = bytearray(raw)
    data[start + info.compress_size // 2] ^= 0x08
    return bytes(data)


def test_intact_resume_file_resumes_exactly(interrupted, tmp_path):
    stamps, labels, raw, full = interrupted
    path = tmp_path / 'run.resume.pt'
    path.write_bytes(raw)
    resumed = _train(stamps, labels, checkpoint=path)
    assert resumed.model.meta['training']['resumed_at_batch'] == 7
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('damage', ['empty', 'first bytes', 'half', 'all but the last byte',
                                    'flipped bit in the weights', 'flipped bit in the index',
                                    'not a zip file'])
def test_damaged_resume_file(interrupted, tmp_path, damage):
    stamps, labels, raw, _ = interrupted
    tensors = [i.filename for i in zipfile.ZipFile(io.BytesIO(raw)).infolist()
               if '/data/' in i.filename]
    damaged = {'empty': b'', 'first bytes': raw[:10], 'half': raw[:len(raw) // 2],
               'all but the last byte': raw[:-1],
               'flipped bit in the weights': _flip_in_member(raw, tensors[0].split('/', 1)[1]),
               'flipped bit in the index': _flip_in_member(raw, 'data.pkl'),
               'not a zip file': b'hello, this is text\n' * 40}[damage]
    path = tmp_path / 'run.resume.pt'
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError, match='resume=False') as exc:
        _train(stamps, labels, checkpoint=path)
    text = str(exc.value)
    assert '\n' not in text and str(path) in text
    # The damaged file is left for the user to look at; resume=False starts again.
    assert path.read_bytes() == damaged
    result = _train(stamps, labels, checkpoint=path, resume=False)
    assert result.model.meta['training']['resumed_at_batch'] is None


def test_resume_file_with_missing_or_inconsistent_entries(interrupted, tmp_path):
    stamps, labels, raw, _ = interrupted
    state = torch.load(io.BytesIO(raw), weights_only=True)
    path = tmp_path / 'run.resume.pt'
    for change, match in ((lambda s: s.pop('optimizer'), "lacks or garbles 'optimizer'"),
                          (lambda s: s.update(batch=11), 'batch 11 of 12 with \\[7\\] history'),
                          (lambda s: s.update(format='other'), 'not a training resume file'),
                          (lambda s: s['model'].pop(next(iter(s['model']))),
                           'do not fit the model')):
        broken = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
        change(broken)
        torch.save(broken, path)
        with pytest.raises(CheckpointError, match=match):
            _train(stamps, labels, checkpoint=path)


def test_damaged_ensemble_member_is_trained_again(tmp_path):
    stamps, labels = _stamps()
    ts = TrainingSet.from_arrays(stamps, labels)
    options = dict(output_dir=tmp_path, architectures={'compactnet': 2}, n_batches=6,
                   lr=3e-3, model_config=TINY, progress=False, seed=5, cutout_size=17,
                   batch_size=8)
    paths, first = train_ensemble(ts, **options)
    weights = [load_model(p).state_dict() for p in paths]
    intact = os.path.getmtime(paths[0])
    with open(paths[1], 'r+b') as fh:
        fh.truncate(os.path.getsize(paths[1]) // 2)
    with pytest.warns(DamagedFileWarning, match=r'compactnet_02\.safetensors.*training member '
                                                r'2 \(compactnet, seed 6\) again'):
        again, second = train_ensemble(ts, **options)
    assert again == paths and os.path.getmtime(paths[0]) == intact
    retrained = load_model(paths[1]).state_dict()
    assert all(torch.equal(weights[1][k], retrained[k]) for k in retrained)
    assert second.accuracy == first.accuracy
