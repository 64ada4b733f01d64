"""Tests of checkpoint writing and safe, checked loading."""

import json
import pickle

import pytest
import safetensors.torch
import torch
from astropy.config.paths import set_temp_cache

from astro_clusterclass.bands import BANDS
from astro_clusterclass.models import (CompactNet_Weights, Weights, WeightsEnum,
                                       default_weights, get_model,
                                       load_checkpoint, load_model, save_checkpoint,
                                       sha256_file)
from astro_clusterclass.models import _api
from astro_clusterclass.models._checkpoint import META_KEY


@pytest.fixture
def model():
    torch.manual_seed(0)
    return get_model('compactnet', cutout_size=32, widths=(8, 16))


@pytest.fixture
def checkpoint(tmp_path, model):
    path = tmp_path / 'model.safetensors'
    digest = save_checkpoint(model, path, meta={'training': {'seed': 0, 'batches': 10},
                                                'metrics': {'accuracy': 0.5}})
    return path, digest


def _write_raw(path, model, **meta_changes):
    """A safetensors checkpoint with arbitrary metadata (bypassing the checks)."""
    meta = {k: v for k, v in model.meta.items() if k not in ('sha256', 'weights')}
    meta.update(meta_changes)
    safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                str(path), metadata={META_KEY: json.dumps(meta)})
    return path


def test_round_trip(checkpoint, model):
    path, digest = checkpoint
    assert digest == sha256_file(path) and len(digest) == 64
    loaded = load_model(path, sha256=digest)
    assert not loaded.training
    assert loaded.meta['sha256'] == digest
    assert loaded.meta['source'] == str(path)
    assert loaded.meta['training'] == {'seed': 0, 'batches': 10}
    assert loaded.meta['config']['widths'] == [8, 16]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    x = torch.randn(2, 5, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    # A hash prefix of >= 8 digits is accepted, as torchvision does.
    load_model(path, sha256=digest[:8])


def test_save_refuses_overwrite_and_bad_meta(checkpoint, model, tmp_path):
    path, _ = checkpoint
    with pytest.raises(FileExistsError, match='overwrite=True'):
        save_checkpoint(model, path)
    with pytest.raises(ValueError, match='JSON-serialisable'):
        save_checkpoint(model, tmp_path / 'x.safetensors', meta={'training': {'f': object()}})
    with pytest.raises(ValueError, match='has no .meta'):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / 'y.safetensors')


def test_hash_mismatch(checkpoint):
    path, digest = checkpoint
    wrong = ('0' if digest[0] != '0' else '1') + digest[1:]
    with pytest.raises(ValueError, match='sha256 mismatch'):
        load_model(path, sha256=wrong)
    with pytest.raises(ValueError, match='sha256 mismatch'):
        load_checkpoint(path, sha256='abc')  # too short to mean anything


def test_other_bands_refused(tmp_path, model):
    path = _write_raw(tmp_path / 'bands.safetensors', model, bands=list(reversed(BANDS)))
    with pytest.raises(ValueError, match='made for bands .*F814W.*provides'):
        load_model(path)
    path = _write_raw(tmp_path / 'three.safetensors', model, bands=['F438W', 'F555W', 'F814W'])
    with pytest.raises(ValueError, match='made for bands'):
        load_model(path)


def test_other_cutout_size_and_classes_refused(checkpoint, tmp_path):
    path, _ = checkpoint
    with pytest.raises(ValueError, match='cutout size 32, expected 64'):
        load_model(path, cutout_size=64)
    three = get_model('compactnet', num_classes=3, widths=(8, 16))
    save_checkpoint(three, tmp_path / 'three.safetensors')
    with pytest.raises(ValueError, match=r'classes \[0, 1, 2\], expected \[1, 2, 3, 4\]'):
        load_model(tmp_path / 'three.safetensors', categories=[1, 2, 3, 4])


def test_record_mismatch_refused(checkpoint):
    path, digest = checkpoint
    meta = json.loads(json.dumps(load_model(path).meta))
    for key, value, match in (('cutout_size', 48, 'cutout size 32, expected 48'),
                              ('categories', [1, 2], 'classes'),
                              ('normalization', {'method': 'none'}, 'normalization')):
        record = Weights(url=str(path), sha256=digest, meta={**meta, key: value})
        with pytest.raises(ValueError, match=match):
            load_model(record)
    good = Weights(url=str(path), sha256=digest, meta=meta)
    assert load_model(good).meta['sha256'] == digest
    with pytest.raises(ValueError, match='lacks the keys'):
        Weights(url=str(path), sha256=digest, meta={'architecture': 'compactnet'})


class _Exploit:
    executed = False

    def __reduce__(self):
        return (_mark_executed, ())


def _mark_executed():
    _Exploit.executed = True
    return {}


def test_pickled_code_refused(tmp_path, model):
    path = tmp_path / 'evil.pt'
    torch.save({'state_dict': model.state_dict(), 'meta': _Exploit()}, path)
    with pytest.raises(ValueError, match='refused: it contains pickled Python objects'):
        load_model(path)
    assert not _Exploit.executed
    legacy = tmp_path / 'legacy.pkl'
    with open(legacy, 'wb') as fh:
        pickle.dump({'state_dict': {}, 'meta': _Exploit()}, fh)
    with pytest.raises(ValueError, match='legacy pickle files are refused'):
        load_model(legacy)
    assert not _Exploit.executed


def test_plain_torch_checkpoint_with_meta_loads(tmp_path, model):
    path = tmp_path / 'plain.pt'
    meta = {k: v for k, v in model.meta.items() if k not in ('sha256', 'weights')}
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, path)
    loaded = load_model(path)
    assert loaded.meta['sha256'] == sha256_file(path)
    torch.save(model.state_dict(), tmp_path / 'bare.pt')
    with pytest.raises(ValueError, match='without astro_clusterclass metadata'):
        load_model(tmp_path / 'bare.pt')


def test_strict_keys(tmp_path, model):
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state.pop('fc.bias')
    meta = {k: v for k, v in model.meta.items() if k not in ('sha256', 'weights')}
    path = tmp_path / 'missing.safetensors'
    safetensors.torch.save_file(state, str(path), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(ValueError, match='(?s)do not match the architecture.*fc.bias'):
        load_model(path)
    safetensors.torch.save_file({'w': torch.zeros(2)}, str(tmp_path / 'nometa.safetensors'))
    with pytest.raises(ValueError, match='no astro_clusterclass metadata'):
        load_model(tmp_path / 'nometa.safetensors')


def test_url_through_astropy_cache(checkpoint, tmp_path):
    path, digest = checkpoint
    with set_temp_cache(tmp_path / 'cache'):
        loaded = load_model(path.as_uri(), sha256=digest)
        assert loaded.meta['source'] == path.as_uri()
        with pytest.raises(ValueError, match='clear_download_cache'):
            load_model(path.as_uri(), sha256='f' * 64)


def test_unknown_source_lists_registered(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model 'resnet50'.*\['compactnet', "
                                         r"'resnet18', 'starcnet', 'vgg19_bn'\]"):
        load_model('resnet50')
    with pytest.raises(ValueError, match='has no trained weights yet'):
        load_model('resnet18')
    with pytest.raises(ConnectionError, match='cannot download checkpoint'):
        load_model(tmp_path.as_uri() + '/none.safetensors')
    with pytest.raises(ValueError, match='unknown model'):
        load_model(str(tmp_path / 'none.safetensors'))
    with pytest.raises(TypeError, match='cannot load a model from int'):
        load_model(3)


def test_bundled_default_model():
    weights = default_weights()
    assert weights is CompactNet_Weights.DEFAULT is CompactNet_Weights.SIM_V1
    # The file shipped with the package matches its record, and says what it was trained on.
    assert sha256_file(weights.location) == weights.sha256
    model = load_model('compactnet')
    assert model.meta['sha256'] == weights.sha256 and model.meta['cutout_size'] == 32
    assert 'Simulations only' in model.meta['training']['data']['description']
    assert model.meta['metrics']['heldout_fields']['seed1000_10Mpc']['cluster_accuracy'] > 0.9


def test_no_default_installed(monkeypatch):
    monkeypatch.setattr(_api, '_WEIGHT_ENUMS', {k: (None if k == 'compactnet' else v)
                                                for k, v in _api._WEIGHT_ENUMS.items()})
    with pytest.raises(ValueError, match='no default model is installed'):
        default_weights()


def test_registered_default_weights(checkpoint, monkeypatch):
    path, digest = checkpoint
    meta = {k: v for k, v in load_model(path).meta.items() if k not in ('sha256', 'source')}

    class Test_Weights(WeightsEnum):
        SIM_V1 = Weights(url=path.as_uri(), sha256=digest, meta=meta)
        DEFAULT = SIM_V1

    monkeypatch.setitem(_api._WEIGHT_ENUMS, 'compactnet', Test_Weights)
    assert default_weights() is Test_Weights.SIM_V1
    assert Test_Weights.verify('DEFAULT') is Test_Weights.SIM_V1
    model = get_model('compactnet', weights='DEFAULT')
    assert model.meta['weights'] == 'Test_Weights.SIM_V1' and model.meta['sha256'] == digest
    assert load_model('Test_Weights.DEFAULT').meta['sha256'] == digest
    assert load_model('compactnet').meta['weights'] == 'Test_Weights.SIM_V1'
    with pytest.raises(ValueError, match='cutout_size=64 conflicts'):
        get_model('compactnet', weights='DEFAULT', cutout_size=64)
    with pytest.raises(ValueError, match='num_classes=3 conflicts'):
        get_model('compactnet', weights='DEFAULT', num_classes=3)
    assert Test_Weights.SIM_V1.transforms()(torch.ones(1, 5, 33, 33)).shape == (1, 5, 32, 32)
